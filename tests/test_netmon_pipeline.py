"""The Netmon reader's two-thread scan (``netmon.PIPELINE``: a batch's packets walked on a second
thread while this one reads the next batch from the frame table and classifies the batch before
it) gives the one-thread index: every column, conversation, interface and warning, over many small
batches, on Microsoft's Netmon 2.3 captures, a file with damaged frame-table entries, a scan
stopped and resumed, and a failure on the other thread."""

from __future__ import annotations

import gc
import struct
import threading
from pathlib import Path

import numpy as np
import pytest
from conftest import sample
from tracemon.traces import netmon, open_trace
from tracemon.traces.trace import Trace

SAMPLES = sorted(p.name for p in sample("netmon/DERIVED_tcpreplay_test.netmon2.cap").parent.glob("*.cap"))


def _small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(netmon, "FIRST_BATCH", 3)
    monkeypatch.setattr(netmon, "BATCH", 7)


def _index(path: Path, monkeypatch: pytest.MonkeyPatch, pipeline: bool) -> tuple:
    with monkeypatch.context() as m:
        m.setattr(netmon, "PIPELINE", pipeline)
        trace = open_trace(path, use_cache=False)
    cols = {name: arr.tolist() for name, arr in trace.index.columns().items()}
    tables = [(t.a, t.b, t.parent, t.proto) for t in (trace.eth_conversations, trace.ip_conversations,
                                                      trace.l4_conversations, trace.tunnel_conversations)]
    warnings = [(w.offset, w.cause, w.frames_kept) for w in trace.warnings]
    return (cols, tables, warnings, [repr(i) for i in trace.interfaces], trace.layouts, trace.protocol_names,
            trace.reader.position)


@pytest.mark.parametrize("name", SAMPLES)
def test_the_two_thread_scan_is_the_one_thread_scan(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    _small_batches(monkeypatch)
    threaded = _index(sample(f"netmon/{name}"), monkeypatch, True)
    assert threaded == _index(sample(f"netmon/{name}"), monkeypatch, False)
    assert len(threaded[0]["ts"]) > 20  # (several batches)


def test_damaged_table_entries_are_skipped_alike(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = bytearray(sample("netmon/DERIVED_tcpreplay_test.netmon2.cap").read_bytes())
    table_at, table_len = struct.unpack_from("<II", data, 24)  # FrameTableOffset, FrameTableLength
    for k in (5, 6, 40, 41, 42, 100):  # entries pointing outside the file, in several batches
        if 4 * k < table_len:
            struct.pack_into("<I", data, table_at + 4 * k, len(data) + 1000 + k)
    path = tmp_path / "damaged.cap"
    path.write_bytes(bytes(data))
    _small_batches(monkeypatch)
    threaded = _index(path, monkeypatch, True)
    assert threaded == _index(path, monkeypatch, False)
    assert threaded[2] and "frame table entry 5" in threaded[2][-1][1]


def test_a_scan_stopped_and_resumed_is_the_whole_scan(monkeypatch: pytest.MonkeyPatch) -> None:
    _small_batches(monkeypatch)
    path = sample("netmon/DERIVED_tcpreplay_test.netmon2.cap")
    whole = _index(path, monkeypatch, True)
    trace = Trace(path)
    stop = threading.Event()
    for _ in trace.scan(batch_seconds=0, cancel=stop):
        stop.set()  # after the first batch: the reader keeps its next batch walked, waiting
    assert 0 < len(trace.index) < len(whole[0]["ts"])
    trace.use_cache = False
    trace.load(use_cache=False)
    assert {name: arr.tolist() for name, arr in trace.index.columns().items()} == whole[0]
    trace.close()


def test_a_failure_on_the_other_thread_reaches_the_scan(monkeypatch: pytest.MonkeyPatch) -> None:
    _small_batches(monkeypatch)
    calls: list[str] = []
    real = netmon._walk_packets

    def failing(u8: np.ndarray, *args: object) -> object:
        calls.append(threading.current_thread().name)
        if len(calls) == 3:
            raise RuntimeError("walk failed")
        return real(u8, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(netmon, "_walk_packets", failing)
    with pytest.raises(RuntimeError, match="walk failed"):
        open_trace(sample("netmon/DERIVED_tcpreplay_test.netmon2.cap"), use_cache=False)
    assert all(name == "tracemon-pcap" for name in calls)
    gc.collect()  # (the failed trace's map, held by the traceback: not left for another test's count)
