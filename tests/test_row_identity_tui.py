"""The TUI after ETL's final time sort: every row, the details, the selection and the marks
belong to the record they showed or name (issue 8, item 4), with rows rendered and frames
decoded while the scan was still running."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from test_row_identity import _seq, _write
from tracemon.traces.trace import Trace
from tracemon.tui.app import TracemonApp
from tracemon.tui.screens.trace import TraceScreen
from tui_support import async_test, settle


@pytest.fixture
def gate(monkeypatch):
    """Holds every scan after its first batch until the test opens the gate."""
    opened = threading.Event()
    first = threading.Event()
    scan = Trace.scan

    def gated(self, *args, **kwargs):
        it = scan(self, *args, **kwargs)
        for progress in it:
            yield progress
            if not progress.finished and not opened.is_set():
                first.set()
                opened.wait(30)
    monkeypatch.setattr(Trace, "scan", gated)
    return first, opened


def _rows(screen: TraceScreen) -> list[str]:
    frames = screen.frames
    return [frames.render_line(y).text for y in range(1, frames.size.height)]


@async_test
async def test_rows_details_and_marks_follow_their_records_through_the_sort(tmp_path: Path, gate) -> None:
    first, opened = gate
    path = _write(tmp_path / "t.etl", compressed=True)
    app = TracemonApp([str(path)])
    async with app.run_test(size=(160, 50)) as pilot:
        for _ in range(200):
            await pilot.pause(0.05)
            if first.is_set() and isinstance(app.screen, TraceScreen) and len(app.screen.trace):
                break
        screen = app.screen
        assert isinstance(screen, TraceScreen)
        trace = screen.trace
        assert not trace.complete.is_set()
        await pilot.pause(0.1)
        # before the sort: go to the 4th row, mark it, let the details show it; rows get rendered
        screen.frames.focus()
        await pilot.press("home", "down", "down", "down", "m")
        await pilot.pause(0.3)
        marked = screen.frames.frame
        assert marked is not None
        record = _seq(trace.raw(marked))
        assert record is not None
        before = _rows(screen)
        assert any(line.strip() for line in before)
        opened.set()
        for _ in range(200):
            await pilot.pause(0.05)
            if trace.complete.is_set():
                break
        await settle(app, pilot)
        # the selection and the mark follow the record
        assert _seq(trace.raw(screen.frames.frame)) == record
        assert {_seq(trace.raw(m)) for m in screen.view.marks} == {record}
        # the details pane shows that record
        shown = screen.details.frame
        assert shown is not None and _seq(shown.data) == record
        # every visible row is its own record's
        lines = _rows(screen)
        top = int(screen.frames.scroll_y)
        for y, line in enumerate(lines):
            pos = top + y
            if pos >= len(screen.view):
                break
            i = screen.view.frame_at(pos)
            assert line.split()[1 if line.startswith(("●", "R")) else 0] == str(i + 1) or str(i + 1) in line.split()
            rank = _seq(trace.raw(i))
            if rank is not None:  # the record's own source port is on its row
                assert f"SrcPort = {10000 + rank}," in line, f"row {i + 1} shows {line!r}, its record is {rank}"
