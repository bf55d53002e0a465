"""The pcapng reader's two-thread scan (``pcapng.PIPELINE``: a batch's packets walked on a second
thread while this one finds the next batch's blocks and classifies the batch before it) gives the
one-thread index: every column, conversation, interface and warning, over many small batches, on
multi-section and big-endian files, a damaged file, a scan stopped and resumed, and a failure on
the other thread."""

from __future__ import annotations

import gc
import threading
from pathlib import Path

import numpy as np
import pytest
from conftest import sample
from tracemon.traces import open_trace, pcapng
from tracemon.traces.trace import Trace

SAMPLES = ["pcapng/msprotod_MS-FASOD_Example2_Win2019v2004_X64_Win10v2004_X64_Domain.pcapng",
           "pcapng/chrissanders_arppoison.pcapng", "pcapng/pcapngtestgen_be_difficult_test202.pcapng",
           "pcapng/pcapngtestgen_le_advanced_test102.pcapng", "pcapng/chrissanders_ipv6_fragments.pcapng"]


def _small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pcapng, "FIRST_BATCH", 3)
    monkeypatch.setattr(pcapng, "BATCH", 7)


def _index(path: Path, monkeypatch: pytest.MonkeyPatch, pipeline: bool) -> tuple:
    with monkeypatch.context() as m:
        m.setattr(pcapng, "PIPELINE", pipeline)
        trace = open_trace(path, use_cache=False)
    cols = {name: arr.tolist() for name, arr in trace.index.columns().items()}
    tables = [(t.a, t.b, t.parent, t.proto) for t in (trace.eth_conversations, trace.ip_conversations,
                                                      trace.l4_conversations, trace.tunnel_conversations)]
    warnings = [(w.offset, w.cause, w.frames_kept) for w in trace.warnings]
    interfaces = [repr(i) for i in trace.interfaces]
    return cols, tables, warnings, interfaces, trace.layouts, trace.reader.comment_locs, trace.reader.position


@pytest.mark.parametrize("name", [*SAMPLES, "damaged"])
def test_the_two_thread_scan_is_the_one_thread_scan(name: str, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    path = sample(SAMPLES[0] if name == "damaged" else name)
    if name == "damaged":  # cut inside a block, far enough in for several batches before it
        data = path.read_bytes()
        path = tmp_path / "cut.pcapng"
        path.write_bytes(data[: len(data) * 2 // 3])
    _small_batches(monkeypatch)
    threaded = _index(path, monkeypatch, True)
    assert threaded == _index(path, monkeypatch, False)
    if name in ("damaged", SAMPLES[0]):
        assert len(threaded[0]["ts"]) > 30  # (several batches)
    if name == "damaged":
        assert threaded[2] and "truncated" in threaded[2][0][1]


def test_damage_anywhere_in_a_batch_keeps_the_same_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Cut at many places: inside a batch's blocks, and where a batch has just been completed
    (the damage then comes before the next batch's first row, with a batch still to classify)."""
    data = sample(SAMPLES[0]).read_bytes()
    _small_batches(monkeypatch)
    for k, cut in enumerate(range(len(data) // 4, len(data), len(data) // 23)):
        path = tmp_path / f"cut{k}.pcapng"
        path.write_bytes(data[:cut])
        assert _index(path, monkeypatch, True) == _index(path, monkeypatch, False), cut


def test_batches_are_walked_on_the_other_thread_in_order(monkeypatch: pytest.MonkeyPatch) -> None:
    _small_batches(monkeypatch)
    seen: list[tuple[str, int]] = []
    real = pcapng._walk_packets

    def walk(u8: np.ndarray, cols: object) -> object:
        seen.append((threading.current_thread().name, int(cols.data_off[0])))  # type: ignore[attr-defined]
        return real(u8, cols)  # type: ignore[arg-type]

    monkeypatch.setattr(pcapng, "_walk_packets", walk)
    open_trace(sample(SAMPLES[0]), use_cache=False)
    assert len(seen) > 10 and {name for name, _ in seen} == {"tracemon-pcap"}
    assert [at for _, at in seen] == sorted(at for _, at in seen)


def test_a_scan_stopped_and_resumed_is_the_whole_scan(monkeypatch: pytest.MonkeyPatch) -> None:
    _small_batches(monkeypatch)
    path = sample(SAMPLES[0])
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
    real = pcapng._walk_packets

    def failing(u8: np.ndarray, cols: object) -> object:
        calls.append(threading.current_thread().name)
        if len(calls) == 3:
            raise RuntimeError("walk failed")
        return real(u8, cols)  # type: ignore[arg-type]

    monkeypatch.setattr(pcapng, "_walk_packets", failing)
    with pytest.raises(RuntimeError, match="walk failed"):
        open_trace(sample(SAMPLES[0]), use_cache=False)
    assert all(name == "tracemon-pcap" for name in calls)
    gc.collect()  # (the failed trace's map, held by the traceback: not left for another test's count)
