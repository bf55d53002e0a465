"""What fits on screen: ETW protocol names, the tree's counts, columns on narrow terminals
(issue 11, defects 5 and 6)."""

from __future__ import annotations

import pytest
from tracemon.tui.app import TracemonApp
from tracemon.tui.screens.trace import TraceScreen
from tracemon.tui.widgets.conversation_tree import ConversationTree
from tui_support import async_test, settle

BIG = (160, 50)
SMALL = (80, 24)
VMS = "VMSWITCH_MicrosoftWindowsHyperVVmSwitch"


@pytest.fixture(autouse=True)
def _own_config(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))


def screen_of(app: TracemonApp) -> TraceScreen:
    return next(s for s in reversed(app.screen_stack) if isinstance(s, TraceScreen))


def list_text(screen: TraceScreen) -> list[str]:
    frames = screen.frames
    return [frames.render_line(y).text for y in range(frames.size.height)]


def tree_text(tree: ConversationTree) -> list[str]:
    return [tree.render_line(y).text.rstrip() for y in range(tree.size.height)]


@async_test
async def test_etw_rows_show_the_short_protocol_name():
    app = TracemonApp([])  # the demo: VmSwitch events
    async with app.run_test(size=SMALL) as pilot:
        await settle(app, pilot)
        screen = screen_of(app)
        rows = [r for r in list_text(screen)[1:] if "VMSWITCH" in r]
        assert rows, list_text(screen)
        for r in rows:
            assert "VMSWITCH " in r and "VMSWITCH_" not in r, r
        # the full name stays in the details
        screen.frames.cursor = 1
        await settle(app, pilot)
        assert screen.details.frame.protocol_name == VMS


@async_test
async def test_tree_keeps_counts_and_ellipsises_long_provider_names():
    app = TracemonApp([])
    async with app.run_test(size=BIG) as pilot:
        await settle(app, pilot)
        screen = screen_of(app)
        tree = screen.query_one(ConversationTree)
        etw = next(n for n in tree.root.children if n.data.kind == "etw")
        etw.expand()
        await settle(app, pilot)
        lines = tree_text(tree)
        vms = next(line for line in lines if "VMSWITCH" in line)
        count = next(n.data.count for n in etw.children if n.data.label == VMS)
        assert vms.endswith(f"{count:,}") and "…" in vms, vms
        assert len(vms) <= tree.scrollable_content_region.width
