"""The readers' two-thread scans (``pcap.PIPELINE``, ``pcapng.PIPELINE``, ``netmon.PIPELINE``: a
batch's packets walked on a second thread while this one finds the next batch and classifies the
one before it) give the one-thread index: every column, conversation, interface and warning,
over many small batches, on damaged files, a scan stopped and resumed, and a failure on the other
thread."""

from __future__ import annotations

import gc
import os
import struct
import threading
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from conftest import sample
from test_dissect_synthetic import write_pcap
from tracemon.traces import netmon, open_trace, pcap, pcapng
from tracemon.traces.trace import Trace

#: per reader: its module, the function the walker thread runs, and a sample of several batches
READERS: dict[str, tuple[ModuleType, str, str]] = {
    "pcap": (pcap, "walk_batch", "pcap/tcpreplay_test.pcap"),
    "pcapng": (pcapng, "_walk_packets",
               "pcapng/msprotod_MS-FASOD_Example2_Win2019v2004_X64_Win10v2004_X64_Domain.pcapng"),
    "netmon": (netmon, "_walk_packets", "netmon/DERIVED_tcpreplay_test.netmon2.cap"),
}
PCAPNG_SAMPLES = ["pcapng/chrissanders_arppoison.pcapng", "pcapng/pcapngtestgen_be_difficult_test202.pcapng",
                  "pcapng/pcapngtestgen_le_advanced_test102.pcapng", "pcapng/chrissanders_ipv6_fragments.pcapng"]
NETMON_SAMPLES = sorted(f"netmon/{p.name}" for p in sample(READERS["netmon"][2]).parent.glob("*.cap"))


def _small_batches(monkeypatch: pytest.MonkeyPatch, *modules: ModuleType) -> None:
    for module in modules or (pcap, pcapng, netmon):
        monkeypatch.setattr(module, "FIRST_BATCH", 3)
        monkeypatch.setattr(module, "BATCH", 7)


def _index(path: Path, monkeypatch: pytest.MonkeyPatch, pipeline: bool) -> tuple:
    with monkeypatch.context() as m:
        for module in (pcap, pcapng, netmon):
            m.setattr(module, "PIPELINE", pipeline)
        trace = open_trace(path, use_cache=False)
    cols = {name: arr.tolist() for name, arr in trace.index.columns().items()}
    tables = [(t.a, t.b, t.parent, t.proto) for t in (trace.eth_conversations, trace.ip_conversations,
                                                      trace.l4_conversations, trace.tunnel_conversations)]
    warnings = [(w.offset, w.cause, w.frames_kept) for w in trace.warnings]
    return (cols, tables, warnings, [repr(i) for i in trace.interfaces], trace.layouts, trace.protocol_names,
            trace.reader.position, getattr(trace.reader, "comment_locs", None))


def _cut(name: str, tmp_path: Path, keep: float) -> Path:
    """A copy of the sample cut inside a record, far enough in for several batches before it."""
    data = sample(name).read_bytes()
    path = tmp_path / f"cut{Path(name).suffix}"
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def _tunnels(tmp_path: Path) -> Path:
    from test_tunnels import tunnel_trace_frames

    path = tmp_path / "tunnels.pcap"
    write_pcap(path, 1, tunnel_trace_frames())
    return path


CASES = [*(f"{r}" for r in READERS), "pcap-tunnels", "pcap-damaged", "pcapng-damaged",
         *PCAPNG_SAMPLES, *NETMON_SAMPLES]


@pytest.mark.parametrize("case", CASES)
def test_the_two_thread_scan_is_the_one_thread_scan(case: str, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    if case in READERS:
        path = sample(READERS[case][2])
    elif case == "pcap-tunnels":
        path = _tunnels(tmp_path)
    elif case.endswith("-damaged"):
        path = _cut(READERS[case.split("-")[0]][2], tmp_path, 2 / 3)
    else:
        path = sample(case)
    _small_batches(monkeypatch)
    threaded = _index(path, monkeypatch, True)
    assert threaded == _index(path, monkeypatch, False)
    if case in READERS or case.endswith("-damaged"):
        assert len(threaded[0]["ts"]) > 30  # (several batches)
    if case.endswith("-damaged"):
        assert threaded[2] and "truncated" in threaded[2][0][1]


def test_pcapng_damage_anywhere_in_a_batch_keeps_the_same_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Cut at many places: inside a batch's blocks, and where a batch has just been completed
    (the damage then comes before the next batch's first row, with a batch still to classify)."""
    data = sample(READERS["pcapng"][2]).read_bytes()
    _small_batches(monkeypatch)
    for k, cut in enumerate(range(len(data) // 4, len(data), len(data) // 23)):
        path = tmp_path / f"cut{k}.pcapng"
        path.write_bytes(data[:cut])
        assert _index(path, monkeypatch, True) == _index(path, monkeypatch, False), cut


def test_netmon_damaged_table_entries_are_skipped_alike(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = bytearray(sample(READERS["netmon"][2]).read_bytes())
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


@pytest.mark.parametrize("reader", list(READERS))
def test_a_scan_stopped_and_resumed_is_the_whole_scan(reader: str, monkeypatch: pytest.MonkeyPatch) -> None:
    _small_batches(monkeypatch)
    path = sample(READERS[reader][2])
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


@pytest.mark.parametrize("reader", list(READERS))
def test_a_failure_on_the_other_thread_reaches_the_scan(reader: str, monkeypatch: pytest.MonkeyPatch) -> None:
    module, walk_name, name = READERS[reader]
    _small_batches(monkeypatch)
    calls: list[str] = []
    real = getattr(module, walk_name)

    def failing(*args: object) -> object:
        calls.append(threading.current_thread().name)
        if len(calls) == 3:
            raise RuntimeError("walk failed")
        return real(*args)

    monkeypatch.setattr(module, walk_name, failing)
    with pytest.raises(RuntimeError, match="walk failed"):
        open_trace(sample(name), use_cache=False)
    assert len(calls) >= 3 and all(thread == "tracemon-pcap" for thread in calls)  # (a batch more may be walked)
    gc.collect()  # (the failed trace's map, held by the traceback: not left for another test's count)


def test_pcapng_batches_are_walked_in_order(monkeypatch: pytest.MonkeyPatch) -> None:
    _small_batches(monkeypatch)
    seen: list[int] = []
    real = pcapng._walk_packets

    def walk(u8: np.ndarray, o: np.ndarray, *rest: object) -> object:
        seen.append(int(o[0]))
        return real(u8, o, *rest)

    monkeypatch.setattr(pcapng, "_walk_packets", walk)
    open_trace(sample(READERS["pcapng"][2]), use_cache=False)
    assert len(seen) > 10 and seen == sorted(seen)


def _open_fds(path: Path) -> int:
    """This process's file descriptors open on ``path`` (other threads' fds come and go)."""
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            count += os.readlink(f"/proc/self/fd/{fd}") == os.path.realpath(path)
        except OSError:  # closed meanwhile
            pass
    return count


@pytest.mark.parametrize("reader", list(READERS))
def test_a_failed_scan_leaves_no_file_open(reader: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The trace a failed ``open_trace`` made is closed: its file at once, its map once the
    error's traceback (whose frames still read it) is gone."""
    module, walk_name, name = READERS[reader]
    _small_batches(monkeypatch)

    def failing(*args: object) -> object:
        raise RuntimeError("walk failed")

    monkeypatch.setattr(module, walk_name, failing)
    path = tmp_path / Path(name).name
    path.write_bytes(sample(name).read_bytes())
    for _ in range(3):
        with pytest.raises(RuntimeError):
            open_trace(path, use_cache=False)
    gc.collect()
    assert _open_fds(path) == 0
