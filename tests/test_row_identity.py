"""Row N always shows record N: details, summary, raw bytes and export agree with the index row,
before and after ETL's final time sort, with the decoded-frame cache warm (issue 8, item 4).

An ETL file holds one buffer per CPU at a time, so records leave the file out of time order and
the index is sorted once the scan ends.  A frame decoded during the scan (the UI shows the first
batch at once) was cached under its pre-sort row; these tests fail if such a frame ever answers
for the row after the sort.
"""

from __future__ import annotations

import struct
import threading
from pathlib import Path

import numpy as np
import pytest
from tracemon.traces import craft, open_trace
from tracemon.traces.etw import writer as W
from tracemon.traces.export import write_pcapng
from tracemon.traces.index import KIND_PACKET
from tracemon.traces.trace import Trace

N = 240


def _packet(seq: int) -> bytes:
    """A UDP datagram whose payload and source port carry ``seq`` (the record's true time rank)."""
    payload = b"SEQ" + struct.pack(">I", seq)
    return craft.ethernet("00155d000001", "00155d000002", 0x0800,
                          craft.ipv4("10.0.0.1", "10.0.0.2", 17,
                                     craft.udp("10.0.0.1", "10.0.0.2", 10000 + seq, 9000, payload), ident=seq))


def _seq(data: bytes) -> int | None:
    """The rank a packet record carries; None for the other records (the log header)."""
    at = data.rfind(b"SEQ")
    return None if at < 0 else struct.unpack_from(">I", data, at + 3)[0]


def _expected(trace: Trace) -> list[int | None]:
    """The rank each row must show: packets are rows 1…N in time order, after the log header."""
    kinds = trace.index.kind
    out: list[int | None] = []
    rank = 0
    for i in range(len(trace)):
        if kinds[i] & KIND_PACKET:
            out.append(rank)
            rank += 1
        else:
            out.append(None)
    assert rank == N
    return out


def _write(path: Path, *, compressed: bool) -> Path:
    """Two CPUs, small buffers: CPU 0 logs the even ranks, CPU 1 the odd ones, so the file holds
    runs of even then odd records and the index must be re-sorted at the end."""
    with W.EtlWriter(path, compressed=compressed, buffer_size=2048, cpus=2) as w:
        for seq in range(N):
            W.ndis_packet(w, _packet(seq), miniport=7, lower=7, send=bool(seq & 1),
                          ts_ns=w.start_ns + 1000 * (seq + 1), cpu=seq & 1)
    return path


def _check_rows(trace: Trace) -> None:
    ts = trace.index.ts
    assert bool(np.all(ts[1:] >= ts[:-1])), "rows are not in time order"
    for i, rank in enumerate(_expected(trace)):
        frame = trace.frame(i)
        assert frame.index == i
        assert frame.timestamp_ns == int(ts[i])
        assert _seq(frame.data) == rank, f"row {i} shows record {_seq(frame.data)}, not {rank}"
        assert _seq(trace.raw(i)) == rank
        if rank is not None:
            assert f"SrcPort = {10000 + rank}," in frame.description, frame.description


@pytest.mark.parametrize("compressed", [False, True])
def test_rows_decoded_during_the_scan_are_not_served_after_the_sort(tmp_path: Path, compressed: bool) -> None:
    path = _write(tmp_path / "t.etl", compressed=compressed)
    trace = open_trace(path, load=False, use_cache=False)
    with trace:
        scan = trace.scan(batch_seconds=0.0)
        first = next(scan)
        assert not first.finished and 0 < first.frames < N, "the test needs a scan in several batches"
        # what the UI does while the first batch is on screen: decode those rows (cache warm)
        early = [_seq(trace.frame(i).data) for i in range(first.frames)]
        # row i ends up holding rank i - 1 (after the log header): the first batch must not
        assert any(r is not None and r != i - 1 for i, r in enumerate(early)), "the file should need the sort"
        for _ in scan:
            pass
        assert len(trace) == N + 1
        _check_rows(trace)


def test_export_after_the_sort_writes_each_row_s_own_record(tmp_path: Path) -> None:
    path = _write(tmp_path / "t.etl", compressed=True)
    trace = open_trace(path, load=False, use_cache=False)
    with trace:
        scan = trace.scan(batch_seconds=0.0)
        first = next(scan)
        for i in range(first.frames):
            trace.frame(i)
        for _ in scan:
            pass
        out = tmp_path / "out.pcapng"
        write_pcapng(trace, np.arange(len(trace)), out)
    with open_trace(out, use_cache=False) as back:
        got = [_seq(back.raw(i)) for i in range(len(back))]
        assert [r for r in got if r is not None] == list(range(N))


def test_a_decode_racing_the_sort_is_done_again(tmp_path: Path) -> None:
    """A frame decoded from the pre-sort row, finishing after the sort, must not be cached or
    returned for the row's new occupant."""
    path = _write(tmp_path / "t.etl", compressed=False)
    trace = open_trace(path, load=False, use_cache=False)
    with trace:
        scan = trace.scan(batch_seconds=0.0)
        first = next(scan)
        before = [_seq(trace.raw(i)) for i in range(first.frames)]
        # a row whose occupant changes with the sort: the first batch is CPU 0's even ranks
        row = next(i for i, r in enumerate(before) if r is not None and r != i - 1)
        trace._frame_cache.clear()
        reader_frame = trace.reader.frame
        entered, release = threading.Event(), threading.Event()
        calls = []

        def slow_frame(i: int):
            frame = reader_frame(i)  # read from the row as it is now
            calls.append(i)
            if len(calls) == 1:
                entered.set()
                release.wait(10)  # the scan (and the sort) finish meanwhile
            return frame

        trace.reader.frame = slow_frame  # type: ignore[method-assign]
        got = []
        worker = threading.Thread(target=lambda: got.append(trace.frame(row)))
        worker.start()
        assert entered.wait(10)
        for _ in scan:
            pass
        release.set()
        worker.join(10)
        want = _expected(trace)[row]
        assert got and _seq(got[0].data) == want, "a frame decoded before the sort was returned after it"
        assert len(calls) == 2
        assert _seq(trace.frame(row).data) == want


def test_remap_renumbers_rows_held_across_the_sort(tmp_path: Path) -> None:
    """What a UI held by row number (marks, the reference, the selected frame) is renumbered."""
    path = _write(tmp_path / "t.etl", compressed=False)
    trace = open_trace(path, load=False, use_cache=False)
    with trace:
        scan = trace.scan(batch_seconds=0.0)
        first = next(scan)
        held = np.arange(first.frames)
        seqs = [_seq(trace.raw(i)) for i in held]
        for _ in scan:
            pass
        moved = trace.index.remap(held, since=0)
        assert [_seq(trace.raw(int(i))) for i in moved] == seqs
