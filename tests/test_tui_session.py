"""Sessions: quitting loses nothing, reopening the file offers it back, --resume applies it
(issue 11)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from conftest import sample
from tracemon.tui.app import TracemonApp
from tracemon.tui.screens.trace import TraceScreen
from tracemon.tui.session import SessionStore
from tracemon.tui.startup import StartOptions
from tui_support import async_test, settle


@pytest.fixture
def pcap(tmp_path: Path) -> Path:
    p = tmp_path / "t.pcap"
    shutil.copy(sample("pcap/tcpreplay_test.pcap"), p)
    return p


def _screen(app: TracemonApp) -> TraceScreen:
    s = app.screen
    assert isinstance(s, TraceScreen)
    return s


async def _set_up_and_quit(path: Path) -> None:
    app = TracemonApp([str(path)])
    async with app.run_test(size=(160, 50)) as pilot:
        await settle(app, pilot)
        screen = _screen(app)
        screen.filter_bar.set_text("TCP.Port == 80", apply=True)
        await settle(app, pilot)
        screen.frames.focus()
        await pilot.press("home", "down", "down", "m", "down")
        await pilot.press("t")  # time mode: local
        await settle(app, pilot)
        assert screen.filter_text == "TCP.Port == 80" and len(screen.view.marks) == 1
        await pilot.press("q", "y")
        await settle(app, pilot)


@async_test
async def test_quitting_keeps_the_session_and_reopening_offers_it(pcap: Path) -> None:
    await _set_up_and_quit(pcap)
    saved = SessionStore().load(str(pcap))
    assert saved is not None and saved.filter == "TCP.Port == 80" and len(saved.marks) == 1
    app = TracemonApp([str(pcap)])
    async with app.run_test(size=(160, 50)) as pilot:
        await settle(app, pilot)
        screen = _screen(app)
        assert screen.filter_text == "" and not screen.view.marks  # offered, not imposed
        assert screen.offered_session is not None
        await pilot.press("ctrl+r")
        await settle(app, pilot)
        assert screen.filter_text == "TCP.Port == 80"
        assert screen.view.marks == set(saved.marks)
        assert screen.frames.frame == saved.frame
        assert screen.time_mode == saved.time_mode


@async_test
async def test_resume_on_the_command_line_applies_it_at_once(pcap: Path) -> None:
    await _set_up_and_quit(pcap)
    saved = SessionStore().load(str(pcap))
    app = TracemonApp([str(pcap)], start=StartOptions(resume=True))
    async with app.run_test(size=(160, 50)) as pilot:
        await settle(app, pilot)
        screen = _screen(app)
        assert screen.filter_text == "TCP.Port == 80" and screen.view.marks == set(saved.marks)
        assert screen.frames.frame == saved.frame


@async_test
async def test_a_changed_file_gets_its_filter_back_but_no_frame_numbers(pcap: Path) -> None:
    await _set_up_and_quit(pcap)
    st = pcap.stat()
    os.utime(pcap, ns=(st.st_atime_ns, st.st_mtime_ns + 10_000_000_000))  # rewritten since
    app = TracemonApp([str(pcap)], start=StartOptions(resume=True))
    async with app.run_test(size=(160, 50)) as pilot:
        await settle(app, pilot)
        screen = _screen(app)
        assert screen.filter_text == "TCP.Port == 80" and not screen.view.marks


@async_test
async def test_opening_without_resuming_then_quitting_keeps_the_old_session(pcap: Path) -> None:
    await _set_up_and_quit(pcap)
    app = TracemonApp([str(pcap)])
    async with app.run_test(size=(160, 50)) as pilot:
        await settle(app, pilot)
        await pilot.press("q", "y")
        await settle(app, pilot)
    saved = SessionStore().load(str(pcap))
    assert saved is not None and saved.filter == "TCP.Port == 80"


@async_test
async def test_the_demo_trace_keeps_no_session() -> None:
    app = TracemonApp([])
    async with app.run_test(size=(160, 50)) as pilot:
        await settle(app, pilot)
        screen = _screen(app)
        screen.filter_bar.set_text("ARP", apply=True)
        await settle(app, pilot)
        path = screen.trace.path
        await pilot.press("ctrl+q")
        await settle(app, pilot)
    assert SessionStore().load(path) is None
