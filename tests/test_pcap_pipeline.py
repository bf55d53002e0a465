"""The pcap reader's two-thread scan (``pcap.PIPELINE``: the next batch walked on a second thread
while this one classifies) gives the one-thread index: every column, conversation and warning,
over many small batches, a damaged file, a scan stopped and resumed, and a failure on the other
thread."""

from __future__ import annotations

import gc
import os
import threading
from pathlib import Path

import numpy as np
import pytest
from conftest import sample
from test_dissect_synthetic import write_pcap
from tracemon.traces import open_trace, pcap
from tracemon.traces.trace import Trace


def _small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pcap, "FIRST_BATCH", 3)
    monkeypatch.setattr(pcap, "BATCH", 7)


def _index(path: Path, monkeypatch: pytest.MonkeyPatch, pipeline: bool) -> tuple:
    with monkeypatch.context() as m:
        m.setattr(pcap, "PIPELINE", pipeline)
        trace = open_trace(path, use_cache=False)
    cols = {name: arr.tolist() for name, arr in trace.index.columns().items()}
    tables = [(t.a, t.b, t.parent, t.proto) for t in (trace.eth_conversations, trace.ip_conversations,
                                                      trace.l4_conversations, trace.tunnel_conversations)]
    warnings = [(w.offset, w.cause, w.frames_kept) for w in trace.warnings]
    return cols, tables, warnings, trace.layouts


def _tunnels(tmp_path: Path) -> Path:
    from test_tunnels import tunnel_trace_frames

    path = tmp_path / "tunnels.pcap"
    write_pcap(path, 1, tunnel_trace_frames())
    return path


@pytest.mark.parametrize("name", ["pcap/tcpreplay_test.pcap", "tunnels", "damaged"])
def test_the_two_thread_scan_is_the_one_thread_scan(name: str, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    if name == "tunnels":
        path = _tunnels(tmp_path)
    else:
        path = sample("pcap/tcpreplay_test.pcap")
        if name == "damaged":  # cut inside a record, far enough in for several batches before it
            data = path.read_bytes()
            path = tmp_path / "cut.pcap"
            path.write_bytes(data[: len(data) * 2 // 3])
    _small_batches(monkeypatch)
    threaded = _index(path, monkeypatch, True)
    assert threaded == _index(path, monkeypatch, False)
    assert len(threaded[0]["ts"]) > (10 if name == "tunnels" else 30)  # (several batches)
    if name == "damaged":
        assert threaded[2] and "truncated" in threaded[2][0][1]


def test_a_scan_stopped_and_resumed_is_the_whole_scan(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _small_batches(monkeypatch)
    path = sample("pcap/tcpreplay_test.pcap")
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
    calls = []
    real = pcap.walk_batch

    def failing(u8: np.ndarray, batch: dict, link: int) -> object:
        calls.append(threading.current_thread().name)
        if len(calls) == 3:
            raise RuntimeError("walk failed")
        return real(u8, batch, link)

    monkeypatch.setattr(pcap, "walk_batch", failing)
    with pytest.raises(RuntimeError, match="walk failed"):
        open_trace(sample("pcap/tcpreplay_test.pcap"), use_cache=False)
    assert all(name == "tracemon-pcap" for name in calls)
    gc.collect()  # (the failed trace's map, held by the traceback: not left for another test's count)


def _open_fds(path: Path) -> int:
    """This process's file descriptors open on ``path`` (other threads' fds come and go)."""
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            count += os.readlink(f"/proc/self/fd/{fd}") == os.path.realpath(path)
        except OSError:  # closed meanwhile
            pass
    return count


def test_a_failed_scan_leaves_no_file_open(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The trace a failed ``open_trace`` made is closed: its file at once, its map once the
    error's traceback (whose frames still read it) is gone."""
    _small_batches(monkeypatch)

    def failing(*args: object) -> object:
        raise RuntimeError("walk failed")

    monkeypatch.setattr(pcap, "walk_batch", failing)
    path = tmp_path / "t.pcap"
    path.write_bytes(sample("pcap/tcpreplay_test.pcap").read_bytes())
    for _ in range(3):
        with pytest.raises(RuntimeError):
            open_trace(path, use_cache=False)
    gc.collect()
    assert _open_fds(path) == 0
