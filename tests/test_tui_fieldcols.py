"""The TUI over field columns (traces/fieldcols.py): a filter, a shown column, a sort or a colour
rule that names a field reads its field column, and the first build of one shows its progress
and stops when the user moves on.

Builds are held by a test builder that waits on an event the test sets, so every step is driven
by events, not by time.
"""

from __future__ import annotations

import sys
import threading
import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from tracemon.traces import fieldcols
from tracemon.traces.coltext import sort_key
from tracemon.traces.fieldcols import ABSENT, DECODE, PRESENT, FieldColumn, columns_for
from tracemon.tui import columns as _columns
from tracemon.tui.app import TracemonApp
from tracemon.tui.screens.trace import TraceScreen
from tui_support import async_test, settle, write_udp_pcap

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

FIELD = "IPv4.Identification"
QNAME = "DNS.QRecord.QuestionName"


@pytest.fixture(scope="module")
def udp_pcap(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_udp_pcap(tmp_path_factory.mktemp("udp") / "udp.pcap", 3000)


@pytest.fixture(scope="module")
def dns_pcap(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from gen_traces import write_pcap

    return write_pcap(tmp_path_factory.mktemp("dns") / "dns.pcap", 3000)


class Gate:
    """A builder for FIELD that reports progress and then waits until the test opens it; its
    column is what decoding every frame gives (so answers are right once it is let through)."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.waiting = threading.Event()
        self.cancelled = threading.Event()
        self.key = f"gate|{uuid.uuid4()}"

    def plan(self, trace: Any, fdef: Any) -> tuple[str, Any] | None:
        if fdef.name.lower() != FIELD.lower():
            return None
        return self.key, lambda: self.build(trace, fdef)

    def build(self, trace: Any, fdef: Any) -> FieldColumn:
        n = len(trace)
        values = np.zeros(n, dtype=np.uint32)
        state = np.full(n, ABSENT, dtype=np.uint8)
        for i in range(n):
            found = trace.frame(i).fields(fdef.name)
            if len(found) == 1:
                values[i], state[i] = found[0].value, PRESENT
            elif found:
                state[i] = DECODE
        try:
            fieldcols.checkpoint(1, 4)
            self.waiting.set()
            while not self.release.wait(0.01):  # a builder's step, polled for the stop
                fieldcols.checkpoint(1, 4)
        except fieldcols.BuildCancelled:
            self.cancelled.set()
            raise
        fieldcols.checkpoint(4, 4)
        return FieldColumn(fdef.name, values=values, state=state, how="test gate")


@pytest.fixture
def gate(monkeypatch: pytest.MonkeyPatch) -> Gate:
    g = Gate()
    monkeypatch.setattr(fieldcols, "_PLANNERS", [g.plan, *fieldcols._planners()])
    return g


def screen_of(app: TracemonApp) -> TraceScreen:
    screen = app.screen
    assert isinstance(screen, TraceScreen)
    return screen


def status_text(screen: TraceScreen) -> str:
    return screen.status.render().plain


async def until(pilot: Any, check: Any, rounds: int = 1200) -> bool:
    """Pause until ``check()`` holds (a bound, not a budget: a loaded machine is slow)."""
    for _ in range(rounds):
        if check():
            return True
        await pilot.pause(0.05)
    return bool(check())


def decoded_texts(trace: Any, key: str) -> list[str]:
    col = _columns.column(key, trace)
    ctx = _columns.context(trace, "utc", None, None)
    return [_columns.cell(col, trace, i, trace.frame(i), ctx) for i in range(len(trace))]


@async_test
async def test_a_filter_shows_the_build_of_its_field_column_then_applies(udp_pcap: Path, gate: Gate) -> None:
    app = TracemonApp([str(udp_pcap)])
    async with app.run_test(size=(160, 50)) as pilot:
        await settle(app, pilot)
        screen = screen_of(app)
        screen.filter_bar.set_text(f"{FIELD} > 2000", apply=True)
        assert await until(pilot, gate.waiting.is_set)
        assert await until(pilot, lambda: f"building column {FIELD}… 25%" in status_text(screen))
        assert screen._filter_running
        gate.release.set()
        assert await until(pilot, lambda: not screen._filter_running)
        await settle(app, pilot)
        trace = screen.trace
        want = [i for i in range(len(trace)) if any(f.value > 2000 for f in trace.frame(i).fields(FIELD))]
        assert screen.view.displayed().tolist() == want and want
        assert columns_for(trace).peek(trace.registry.get(FIELD)) is not None
        assert "building" not in status_text(screen)


@async_test
async def test_editing_the_filter_stops_the_build_and_keeps_nothing(udp_pcap: Path, gate: Gate) -> None:
    app = TracemonApp([str(udp_pcap)])
    async with app.run_test(size=(160, 50)) as pilot:
        await settle(app, pilot)
        screen = screen_of(app)
        bar = screen.filter_bar
        bar.set_text(f"{FIELD} > 2000", apply=True)
        assert await until(pilot, lambda: "building column" in status_text(screen))
        bar.input.focus()
        await pilot.press("end", "space")  # a keystroke in the filter bar
        assert await until(pilot, gate.cancelled.is_set)
        assert await until(pilot, lambda: not screen._filter_running)
        assert "filter stopped" in status_text(screen)
        await settle(app, pilot)
        fdef = screen.trace.registry.get(FIELD)
        assert not columns_for(screen.trace).built(fdef)  # the next use builds it again
        assert len(screen.view) == len(screen.trace) and screen.filter_text == ""
        assert bar.value.endswith(" ")  # the keystroke landed in the bar
        # the note stays while other work runs (CI saw the rows rebuilt after more frames were read
        # wipe it), and goes when Esc puts the applied filter's text back
        screen.rebuild_rows()
        await settle(app, pilot)
        assert "filter stopped" in status_text(screen)
        await pilot.press("escape")
        await settle(app, pilot)
        assert "filter stopped" not in status_text(screen) and bar.value == ""


@async_test
async def test_a_shown_field_reads_its_column_after_showing_the_build(udp_pcap: Path, gate: Gate) -> None:
    app = TracemonApp([str(udp_pcap)])
    async with app.run_test(size=(160, 50)) as pilot:
        await settle(app, pilot)
        screen = screen_of(app)
        screen.set_columns([*screen.column_names, FIELD], persist=False)
        assert await until(pilot, lambda: f"building column {FIELD}" in status_text(screen))
        assert FIELD not in screen.view.texts
        gate.release.set()
        assert await until(pilot, lambda: FIELD in screen.view.texts)
        await settle(app, pilot)
        assert "building" not in status_text(screen)
        trace = screen.trace
        want = decoded_texts(trace, FIELD)
        texts = screen.view.texts[FIELD]
        assert [texts.text(i) for i in range(len(trace))] == want
        # the list's rows read the same as decoded ones
        cols = screen.frames.columns
        for pos in range(20):
            ctx = screen.view.row_context(pos, screen.time_mode)
            got = _columns.row_cells(cols, trace, pos, ctx)
            ctx.texts = {}
            assert got == _columns.row_cells(cols, trace, pos, ctx)


@pytest.mark.parametrize("descending", [False, True])
@async_test
async def test_sorting_by_a_text_column_is_an_array_sort_equal_to_the_decoded_sort(dns_pcap: Path,
                                                                                   descending: bool) -> None:
    app = TracemonApp([str(dns_pcap)])
    async with app.run_test(size=(160, 50)) as pilot:
        await settle(app, pilot)
        screen = screen_of(app)
        trace = screen.trace
        keys = [sort_key(t) for t in decoded_texts(trace, QNAME)]
        want = sorted(range(len(trace)), key=keys.__getitem__, reverse=descending)
        decodes = []
        frame = trace.frame
        trace.frame = lambda i: (decodes.append(i), frame(i))[1]  # type: ignore[method-assign]
        try:
            screen.set_columns([*screen.column_names, QNAME], persist=False)
            screen.sort_by(QNAME)
            if descending:
                await settle(app, pilot)
                screen.sort_by(QNAME)
            await settle(app, pilot)
        finally:
            del trace.frame
        assert screen.view.sort is not None and screen.view.sort.descending == descending
        assert screen.view.displayed().tolist() == want
        # the column answered: a few frames decoded to check its texts, not every frame
        assert columns_for(trace).peek(trace.registry.get(QNAME)) is not None
        assert len(set(decodes)) < len(trace) // 10


@async_test
async def test_a_colour_rule_on_a_field_is_a_mask_from_its_column(dns_pcap: Path) -> None:
    app = TracemonApp([str(dns_pcap)])
    async with app.run_test(size=(160, 50)) as pilot:
        await settle(app, pilot)
        screen = screen_of(app)
        trace = screen.trace
        preset = SimpleNamespace(name="hosts", expression=f'{QNAME}.Contains("host1")', color="#00ff00")
        app.presets.list = lambda: [preset]  # type: ignore[method-assign]
        screen.config.colour_rules = True
        screen.load_colour_rules()
        await settle(app, pilot)
        rules = screen.colour_rules
        assert [r.name for r in rules.rules] == ["hosts"]
        rule = rules.rules[0]
        assert rule.by_mask and [f.name for f in rule.columns] == [QNAME]
        want = [i for i, t in enumerate(decoded_texts(trace, QNAME)) if "host1" in t]
        assert np.flatnonzero(rules.masks[0]).tolist() == want and want
        assert [i for i in range(len(trace)) if rules.style(i) is rule.style] == want
        assert not rules.has_pending  # nothing left to decode per painted row


@async_test
async def test_an_etw_field_column_survives_a_restart_and_reads_its_column(tmp_path: Path) -> None:
    from bench_etl import write_trace
    from tracemon.filters.names import ensure_etw

    ensure_etw()
    etl = tmp_path / "vms.etl"
    write_trace(etl, 2000, compressed=True)
    switch = "VMSWITCH_MicrosoftWindowsHyperVVmSwitch.VM_NBL_ROUTE.SwitchName"
    app = TracemonApp([str(etl)])
    async with app.run_test(size=(160, 50)) as pilot:
        await settle(app, pilot)
        screen = screen_of(app)
        screen.set_columns([*screen.column_names, switch])  # as the Add-a-column picker does
        await settle(app, pilot)
        assert switch in screen.view.texts
    again = TracemonApp([str(etl)])
    async with again.run_test(size=(160, 50)) as pilot:
        await settle(again, pilot)
        screen = screen_of(again)
        assert screen.column_names[-1] == switch and not screen.notes  # no "column ignored" problem
        assert [type(s).__name__ for s in again.screen_stack][-1] == "TraceScreen"
        texts = screen.view.texts[switch]
        want = decoded_texts(screen.trace, switch)
        assert [texts.text(i) for i in range(len(want))] == want
        assert any(want)


@async_test
async def test_a_sort_shows_the_build_and_a_newer_request_stops_it(udp_pcap: Path, gate: Gate) -> None:
    app = TracemonApp([str(udp_pcap)])
    async with app.run_test(size=(160, 50)) as pilot:
        await settle(app, pilot)
        screen = screen_of(app)
        screen.set_columns([*screen.column_names, FIELD], persist=False)
        assert await until(pilot, gate.waiting.is_set)
        screen.sort_by(FIELD)  # waits for the same build, and says so
        assert await until(pilot, lambda: f"building column {FIELD}… 25%" in status_text(screen))
        screen.sort_by("protocol")  # a newer sort: the one waiting for the column stops
        screen.set_columns([c for c in screen.column_names if c != FIELD], persist=False)
        assert await until(pilot, gate.cancelled.is_set)  # nobody waits for it any more
        await settle(app, pilot)
        assert screen.view.sort is not None and screen.view.sort.key == "protocol"
        assert not columns_for(screen.trace).built(screen.trace.registry.get(FIELD))
        # asked again, it is built again, and the sort is the decoded one
        gate.release.set()
        screen.set_columns([*screen.column_names, FIELD], persist=False)
        screen.sort_by(FIELD)
        await settle(app, pilot)
        trace = screen.trace
        keys = [sort_key(t) for t in decoded_texts(trace, FIELD)]
        assert screen.view.displayed().tolist() == sorted(range(len(trace)), key=keys.__getitem__)
        assert "building" not in status_text(screen)
