"""Keys and trust (issue 11): typed-ahead keys land where the user meant them, the filter bar keeps
what was applied, quitting asks first, and the TUI's command line opens a trace as asked."""

from __future__ import annotations

import pytest
from conftest import sample
from textual import events
from textual.keys import _character_to_key
from tracemon.tui.app import TracemonApp
from tracemon.tui.screens.trace import TraceScreen
from tui_support import async_test, settle

PCAP = "pcap/tcpreplay_test.pcap"
BIG = (160, 50)
SMALL = (80, 24)


@pytest.fixture(autouse=True)
def _own_config(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))


def screen_of(app: TracemonApp) -> TraceScreen:
    for s in reversed(app.screen_stack):
        if isinstance(s, TraceScreen):
            return s
    raise AssertionError("no trace screen")


def burst(app: TracemonApp, *keys: str, text: str = "") -> None:
    """Queue keys as one terminal read delivers them: all at once, before any of them is handled.
    ``keys`` are key names ("slash", "enter"); ``text`` is typed character by character after them."""
    for key in keys:
        app.post_message(events.Key(key, {"slash": "/", "space": " "}.get(key)))
    for ch in text:
        app.post_message(events.Key(_character_to_key(ch), ch))


@async_test
async def test_keys_typed_right_after_slash_land_in_the_filter_bar():
    app = TracemonApp([str(sample(PCAP))])
    async with app.run_test(size=BIG) as pilot:
        await settle(app, pilot)
        screen = screen_of(app)
        before = (screen.frames.cursor, screen.time_mode, screen.view.reference, set(screen.view.marks))
        # "TCP.Port == 443": T, C, P would be commands (time mode, columns, presets) in the list
        burst(app, "slash", text="TCP.Port == 443")
        await settle(app, pilot)
        assert screen.filter_bar.value == "TCP.Port == 443"
        assert app.screen is screen, "a command opened a dialog"
        assert (screen.frames.cursor, screen.time_mode, screen.view.reference, set(screen.view.marks)) == before


@async_test
async def test_command_letters_and_slash_typed_in_the_bar_are_text():
    app = TracemonApp([str(sample(PCAP))])
    async with app.run_test(size=BIG) as pilot:
        await settle(app, pilot)
        screen = screen_of(app)
        # g p s c e are commands that open dialogs (priority bindings): in the bar they are letters
        text = 'IPv4.Address == 172.16.11.12 AND Property.x == "g/p s/c e"'
        burst(app, "slash", text=text)
        await settle(app, pilot)
        assert app.screen is screen
        assert screen.filter_bar.value == text


@async_test
async def test_keys_typed_ahead_of_a_dialog_wait_for_it():
    app = TracemonApp([str(sample(PCAP))])
    async with app.run_test(size=BIG) as pilot:
        await settle(app, pilot)
        screen = screen_of(app)
        burst(app, "g", "1", "5", "0", "enter")  # go to frame 150, typed in one burst
        await settle(app, pilot)
        assert app.screen is screen
        assert screen.frames.frame == 149
        burst(app, "slash", text="TCP.Port == 443")
        burst(app, "enter")
        await settle(app, pilot)
        assert screen.filter_text == "TCP.Port == 443" and len(screen.view) == 9
