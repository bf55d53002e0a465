"""ETW field columns: the C and NumPy record paths, chunked builds, several fields in one pass,
Netmon NetEvent frames, and the compact column format (traces/fieldcols.py, etw/fieldcols.py,
etw/bulk.py).  The decoder is the definition (``test_fieldcols.check_columns``)."""

from __future__ import annotations

import json
import struct
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import samples
from netmon_craft import ARP, START_NS, UDP, Rec, netevent, write
from test_fieldcols import PROTO, VMS_FIELDS, _etw_fields, check_columns
from tracemon.filters import compile_filter
from tracemon.traces import open_trace
from tracemon.traces.etw import bulk
from tracemon.traces.etw import fieldcols as etwcols
from tracemon.traces.etw import writer as W
from tracemon.traces.fieldcols import (
    ABSENT,
    COLUMN_FORMAT,
    DECODE,
    PRESENT,
    FieldColumn,
    columns_for,
    free_patterns,
    plan,
)

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
native = pytest.mark.skipif(bulk._native_extract is None, reason="the C extension is not built")


pytestmark = pytest.mark.usefixtures("etw_names")


def _targets(trace, names: list[str]) -> list:
    out = []
    for name in names:
        got = plan(trace, trace.registry.get(name))
        if got is not None and isinstance(got[1], etwcols.EtwPlan):
            out.append(got[1].target)
    return out


def _same(a: FieldColumn, b: FieldColumn) -> None:
    assert a.is_text == b.is_text, a.name
    assert np.array_equal(a.states(), b.states()), a.name
    present = a.states() == PRESENT
    if a.is_text:
        assert [a.table[c] for c in a.codes[present]] == [b.table[c] for c in b.codes[present]], a.name
    else:
        assert np.array_equal(a.values[present], b.values[present]), a.name


def _all_paths_agree(trace, names: list[str]) -> int:
    """Each column built with the C routines, with the NumPy paths only, in tiny chunks and all
    fields together must be the same column; returns how many columns were compared."""
    targets = _targets(trace, names)
    together = etwcols.build_many(targets) if targets else []
    for t, joint in zip(targets, together, strict=True):
        alone = etwcols.build(t)
        _same(alone, joint)
        _same(alone, etwcols.build(t, native=False))
    return len(targets)


@native
@pytest.mark.parametrize("path", samples("etl", ".etl"), ids=lambda p: p.name)
def test_the_c_routines_and_the_numpy_paths_build_the_same_columns(path: Path) -> None:
    trace = open_trace(path, use_cache=False)
    _all_paths_agree(trace, _etw_fields(trace)[:60])


@native
def test_chunks_of_any_size_build_the_same_columns(vms_etl: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    trace = open_trace(vms_etl, use_cache=False)
    whole = etwcols.build_many(_targets(trace, VMS_FIELDS))
    seen = []
    real = bulk.record_chunks

    def small(reader, rows, chunk_bytes=bulk.CHUNK_BYTES, native=True):
        for ch in real(reader, rows, 3000, native):  # a few buffers a chunk
            seen.append(len(ch.sel))
            yield ch

    monkeypatch.setattr(bulk, "record_chunks", small)
    parts = etwcols.build_many(_targets(trace, VMS_FIELDS))
    assert len(seen) > 3  # the records really came in several chunks
    for a, b in zip(whole, parts, strict=True):
        _same(a, b)


@native
def test_a_buffer_that_does_not_inflate_is_left_to_decoding(vms_etl: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    trace = open_trace(vms_etl, use_cache=False)  # indexed from the good file
    good = etwcols.build_many(_targets(trace, VMS_FIELDS))
    victim = next(b for b in trace.reader.buffers if b.compressed and b.number > 2)
    data = bytearray(trace.reader.buf)
    mid = victim.file_offset + 0x48 + 40
    data[mid : mid + 64] = b"\xff" * 64  # match offsets before the start of the output
    monkeypatch.setattr(trace.reader, "buf", bytes(data))  # the file damaged after indexing
    rows = np.arange(len(trace))
    in_victim = (trace.index.column("loc") >> np.uint64(32)).astype(np.int64) == victim.number
    assert in_victim.sum() > 10
    for flag in (True, False):
        bad = np.zeros(len(rows), dtype=bool)
        for ch in bulk.record_chunks(trace.reader, rows, native=flag):
            bad[ch.sel] = ch.bad
        assert bad[in_victim].all() and not bad[~in_victim].any(), flag
    for flag in (True, False):
        damaged = etwcols.build_many(_targets(trace, VMS_FIELDS), native=flag)
        for g, d in zip(good, damaged, strict=True):
            gs, ds = g.states(), d.states()
            carried = in_victim & (gs != ABSENT)
            assert (ds[carried] == DECODE).all(), g.name
            assert carried.any() or "DROP" in g.name  # (drops are rare: none in that buffer)
            assert np.array_equal(gs[~in_victim], ds[~in_victim]), g.name


@native
def test_terminated_lengths_match_the_numpy_search() -> None:
    rng = np.random.default_rng(5)
    u8 = rng.choice(np.array([0, 0, 1, 65, 200], dtype=np.uint8), size=5000)
    pos = rng.integers(0, 5000, size=2000)
    end = np.minimum(pos + rng.integers(0, 80, size=2000), 5000)
    for wide in (True, False):
        fast = etwcols._Walker(u8, native=True).terminator(pos, end, wide)
        slow = etwcols._Walker(u8, native=False).terminator(pos, end, wide)
        assert np.array_equal(fast, slow), wide
        assert (fast >= 0).any() and (fast < 0).any()


# -- Netmon NetEvent frames ------------------------------------------------------------------------

SWITCH = ("8F2A6C1E-4B3D-4E5F-9A0B-1C2D3E4F5A6B", "External")


def _nic(k: int) -> tuple[str, str]:
    return f"{k:08X}-0000-4000-8000-00155D0000{k:02X}", f"vm{k:02d} Network Adapter"


@pytest.fixture(scope="module")
def vms_cap(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """VmSwitch events in NetEvent frames among packets: 64- and 32-bit headers, extended items
    (one a TraceLogging schema: left to decoding), a frame cut inside its payload, a classic one."""
    recs: list[Rec] = []
    t = START_NS
    tl_item = struct.pack("<HHHH", 0, 11, 0, 4) + b"\x04\x00\x00\x00"
    sid_item = struct.pack("<HHHH", 0, 5, 0, 8) + bytes(8)
    for i in range(400):
        t += 1000
        src, dst = _nic(i % 7), _nic((i * 3 + 1) % 7)
        h32 = i % 5 == 0
        flags = 0x20 if h32 else 0x40
        if i % 4 == 0:
            payload = W.names(src, dst, SWITCH) + W.pointer(0xFFFF_C30F_4A20_0000 + 16 * i, h32)
            ext, count = (tl_item, 1) if i % 36 == 0 else (sid_item, 1) if i % 6 == 0 else (b"", 0)
            frame = netevent(W.VMSWITCH_GUID, W.VM_NBL_ROUTE, payload, pid=4, tid=8 + i, ts_ns=t,
                             flags=flags | (1 if count else 0), ext=ext, ext_count=count)
            if i % 44 == 0:
                frame = frame[:-7]  # cut inside the payload
            recs.append(Rec(frame, t, 0xFFE0))
        elif i % 4 == 1:
            frame = netevent(W.VMSWITCH_GUID, W.VM_NBL_RECEIVE, W.names(src, SWITCH) + W.pointer(i, h32),
                             pid=4, tid=9, ts_ns=t, flags=flags | (0x100 if i % 45 == 1 else 0))
            recs.append(Rec(frame, t, 0xFFE0))
        elif i % 4 == 2:
            payload = W.names(dst, SWITCH) + struct.pack("<I", 0xC000009A)
            recs.append(Rec(netevent(W.VMSWITCH_GUID, W.VM_NBL_INCOMING_DROP, payload, pid=4, tid=9, ts_ns=t,
                                     flags=flags), t, 0xFFE0))
        else:
            recs.append(Rec(ARP if i % 8 == 3 else UDP, t, 1))
    path = tmp_path_factory.mktemp("cap") / "vms.cap"
    write(path, recs)
    return path


def test_netmon_netevent_columns_match_the_decoder(vms_cap: Path) -> None:
    trace = open_trace(vms_cap, use_cache=False)
    answered = check_columns(trace, VMS_FIELDS)
    assert all(n >= len(trace) - 30 for n in answered.values()), answered  # only the odd frames decode
    route = columns_for(trace).get(trace.registry.get(f"{PROTO}.VM_NBL_ROUTE.DestNicFName"))
    assert {"vm01 Network Adapter", "vm04 Network Adapter"} <= set(route.table)
    assert (route.states() == DECODE).sum() >= 3  # TraceLogging item, cut frame


@native
def test_netmon_columns_are_the_same_without_the_c_routines(vms_cap: Path) -> None:
    trace = open_trace(vms_cap, use_cache=False)
    assert _all_paths_agree(trace, VMS_FIELDS) == len(VMS_FIELDS)


@pytest.mark.parametrize("expr", [
    f'{PROTO}.VM_NBL_ROUTE.DestNicFName.Contains("vm03")',
    f"{PROTO}.VM_NBL_INCOMING_DROP.DropReason == 0xC000009A",
    f"{PROTO}.VM_NBL_ROUTE.BufferAddress > 0xFFFFC30F4A200800",
    "NetEvent.Header.Descriptor.Level <= 4 AND NetEvent.Header.ThreadId > 100",
])
def test_filters_over_netmon_netevent_columns_select_what_decoding_selects(vms_cap: Path, expr: str) -> None:
    trace = open_trace(vms_cap, use_cache=False)
    cf = compile_filter(expr, trace=trace)
    fast = cf.evaluate(trace)
    assert fast.any()
    assert cf.last_stats.decoded <= 30, expr  # the frames the columns leave to decoding
    assert np.array_equal(fast, cf.evaluate_by_decoding(trace)), expr


# -- several fields in one pass --------------------------------------------------------------------

def test_a_filter_builds_the_fields_of_one_provider_in_one_pass(vms_etl: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real = bulk.record_chunks

    def counting(*a, **k):
        calls.append(1)
        yield from real(*a, **k)

    monkeypatch.setattr(bulk, "record_chunks", counting)
    trace = open_trace(vms_etl, use_cache=False)
    expr = (f'{PROTO}.VM_NBL_ROUTE.DestNicFName.Contains("vm03") AND {PROTO}.VM_NBL_ROUTE.SwitchName '
            f'AND {PROTO}.VM_NBL_ROUTE.BufferAddress > 0')
    cf = compile_filter(expr, trace=trace)
    fast = cf.evaluate(trace)
    assert len(calls) == 1 and cf.last_stats.decoded == 0
    assert np.array_equal(fast, cf.evaluate_by_decoding(trace))


# -- the compact format ------------------------------------------------------------------------------

def test_columns_cost_at_most_their_width_and_text_at_most_four_bytes(vms_etl: Path) -> None:
    trace = open_trace(vms_etl, use_cache=False)
    n = len(trace)
    for name in VMS_FIELDS:
        col = columns_for(trace).get(trace.registry.get(name))
        if col.is_text:
            table = sum(len(t) for t in col.table)
            assert col.codes.itemsize <= 4 and col.nbytes - table <= 4 * n, name
        else:
            assert col.nbytes <= col.values.itemsize * n <= 8 * n, name
            assert col.stored_state is None and col.sentinels is not None


def test_a_narrow_field_whose_every_value_occurs_keeps_a_state_byte() -> None:
    values = np.arange(600, dtype=np.uint8)  # every byte value, more than once
    state = np.full(600, PRESENT, dtype=np.uint8)
    state[[3, 300]] = ABSENT
    state[[7]] = DECODE
    col = FieldColumn("x", values=values, state=state)
    assert col.sentinels is None and col.stored_state is not None and col.nbytes == 2 * 600
    assert np.array_equal(col.states(), state)
    assert col.cell(263) == (PRESENT, 7) and col.cell(3) == (ABSENT, None) and col.cell(7) == (DECODE, None)
    m, known = col.match(0, 600, lambda v: v == 7, lambda a: a == 7)
    assert not known[7] and known[3] and m.sum() == 2  # rows 263 and 519 (row 7 is left to decoding)


def test_sentinels_never_hide_a_value() -> None:
    top = np.iinfo(np.uint64).max
    values = np.array([top, 0, 1, 5, top - 1, 2, 3], dtype=np.uint64)
    state = np.array([PRESENT] * 5 + [ABSENT, DECODE], dtype=np.uint8)
    col = FieldColumn("x", values=values.copy(), state=state)
    assert col.sentinels is not None and not set(col.sentinels) & {int(v) for v in values[:5]}
    assert np.array_equal(col.states(), state)
    assert np.array_equal(col.values[:5], values[:5])
    assert col.cell(0) == (PRESENT, int(top)) and col.cell(5) == (ABSENT, None) and col.cell(6) == (DECODE, None)
    floats = FieldColumn("f", values=np.array([np.nan, 1.5, -0.0]), state=np.array([PRESENT, ABSENT, PRESENT],
                                                                                     dtype=np.uint8))
    assert np.array_equal(floats.states(), [PRESENT, ABSENT, PRESENT])
    assert free_patterns(np.arange(256, dtype=np.uint8), 2, 1) is None
    assert free_patterns(np.array([0, 1, 2, 4, 6, 255], dtype=np.uint8), 2, 1) == (3, 5)


def test_text_codes_are_the_narrowest_type() -> None:
    small = FieldColumn("t", codes=np.array([0, -1, -2], dtype=np.int32), table=["a"])
    assert small.codes.dtype == np.int8
    assert [small.cell(k) for k in range(3)] == [(PRESENT, "a"), (ABSENT, None), (DECODE, None)]
    big = [str(k) for k in range(200)]
    assert FieldColumn("t", codes=np.array([199, -1], dtype=np.int32), table=big).codes.dtype == np.int16


def test_numeric_columns_reopen_mapped_and_an_older_format_is_built_again(
        vms_etl: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TRACEMON_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("TRACEMON_CACHE_MIN_BYTES", "0")
    name = f"{PROTO}.VM_NBL_ROUTE.BufferAddress"
    first = open_trace(vms_etl)
    col = columns_for(first).get(first.registry.get(name))
    again = open_trace(vms_etl)
    cached = columns_for(again).get(again.registry.get(name))
    assert isinstance(cached.values, np.memmap) and cached.sentinels == col.sentinels
    assert np.array_equal(cached.states(), col.states())
    (meta_file,) = (tmp_path / "cache").rglob(f"{next((tmp_path / 'cache').rglob('*.values.npy')).name[:24]}.json")
    meta = json.loads(meta_file.read_text())
    assert meta["format"] == COLUMN_FORMAT
    meta["format"] = 1
    meta_file.write_text(json.dumps(meta))
    third = open_trace(vms_etl)
    rebuilt = columns_for(third).get(third.registry.get(name))
    assert not isinstance(rebuilt.values, np.memmap)
    assert np.array_equal(rebuilt.states(), col.states())


def test_an_etw_build_reports_progress_and_stops_when_its_watcher_gives_up(vms_etl: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    from tracemon.traces import fieldcols

    real = bulk.record_chunks

    def small(reader, rows, chunk_bytes=bulk.CHUNK_BYTES, native=True):
        yield from real(reader, rows, 3000, native)  # several chunks, so several checkpoints

    monkeypatch.setattr(bulk, "record_chunks", small)
    trace = open_trace(vms_etl, use_cache=False)
    fdef = trace.registry.get(f"{PROTO}.VM_NBL_ROUTE.DestNicFName")
    seen: list[float | None] = []
    cancel = threading.Event()

    def progress(name: str, fraction: float | None) -> None:
        seen.append(fraction)
        if fraction is not None and fraction > 0.3:
            cancel.set()

    with fieldcols.watching(progress, cancel):
        assert columns_for(trace).get(fdef) is None  # given up: nothing kept
    fractions = [f for f in seen if f is not None]
    assert seen[0] is None and fractions and fractions[-1] < 1.0 and fractions == sorted(fractions)
    assert not columns_for(trace).built(fdef)
    with fieldcols.watching(lambda *_: None, threading.Event()):
        col = columns_for(trace).get(fdef)
    assert col is not None and col.is_text  # built in full the next time
