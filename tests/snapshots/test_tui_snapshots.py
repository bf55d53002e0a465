"""SVG snapshots of the main screens at 80×24 and 160×50 in each theme (pytest-textual-snapshot).

Deterministic: a fixed sample, times shown in UTC from the trace, the scan finished before the
picture is taken, cursor blink off, each test with its own config dir.  Update after a deliberate
change with ``pytest tests/snapshots --snapshot-update`` and look at the SVGs before committing.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
from conftest import sample
from textual.widgets import Input
from tracemon.tui.app import TracemonApp
from tracemon.tui.config import THEMES
from tui_support import settle

PCAP = "pcap/tcpreplay_test.pcap"
SIZES = ((80, 24), (160, 50))


@pytest.fixture(autouse=True)
def _own_config(monkeypatch):
    """A fresh config dir at a fixed path (the help screen shows the config file's path)."""
    base = Path(tempfile.gettempdir()) / "tracemon-snapshot-home"
    shutil.rmtree(base, ignore_errors=True)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(base / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(base / "data"))
    yield
    shutil.rmtree(base, ignore_errors=True)


async def _ready(pilot) -> None:
    app = pilot.app
    await settle(app, pilot)
    for widget in app.query(Input):
        widget.cursor_blink = False
    await settle(app, pilot)


@pytest.mark.parametrize("theme", THEMES)
@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_main_screen(snap_compare, theme, size):
    app = TracemonApp([str(sample(PCAP))], theme=theme)
    assert snap_compare(app, terminal_size=size, press=["down", "down"], run_before=_ready)


def test_filter_error_160x50(snap_compare):
    async def typo(pilot) -> None:
        await _ready(pilot)
        await pilot.press("slash")
        for ch in "IPv4.Adress == 10.0.0.1":
            await pilot.press("space" if ch == " " else ch)
        await _ready(pilot)
        pilot.app.screen.frames.focus()  # no text cursor in the picture (its blink phase varies)
        await _ready(pilot)

    app = TracemonApp([str(sample(PCAP))], theme="tracemon-dark")
    assert snap_compare(app, terminal_size=(160, 50), run_before=typo)


def test_details_expanded_and_hex_linked_160x50(snap_compare):
    async def expand(pilot) -> None:
        await _ready(pilot)
        details = pilot.app.screen.details
        details.focus()
        ipv4 = next(n for n in details.root.children if n.data.title == "IPv4")
        ipv4.expand()
        await _ready(pilot)
        details.move_cursor(next(n for n in ipv4.children if n.data.title == "SourceAddress"))
        await _ready(pilot)

    app = TracemonApp([str(sample(PCAP))], theme="tracemon-light")
    assert snap_compare(app, terminal_size=(160, 50), run_before=expand)


def test_demo_trace_160x50(snap_compare):
    app = TracemonApp([], theme="tracemon-dark")
    assert snap_compare(app, terminal_size=(160, 50), run_before=_ready)


def test_help_80x24(snap_compare):
    app = TracemonApp([str(sample(PCAP))], theme="tracemon-dark")
    assert snap_compare(app, terminal_size=(80, 24), press=["f1"], run_before=_ready)
