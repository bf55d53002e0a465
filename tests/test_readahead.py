"""``traces.readahead``: a pcap file's records, or a pcapng file's first run of packet blocks,
found on a thread before its ``Trace`` exists (a one-shot command's imports) give the index the
reader's own walk gives: every column, conversation and warning, whatever part of the file the
walk ahead covered, on damaged files; and the map is taken over, or closed, never left open."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from conftest import sample
from test_dissect_synthetic import write_pcap
from test_scan_pipeline import PCAPNG_SAMPLES, READERS, _index, _small_batches
from tracemon.traces import cache, chains, mapfile, open_trace, pcap, pcapng, readahead
from tracemon.traces.trace import Trace

pytestmark = pytest.mark.skipif(chains.pcap_ahead(b"\xd4\xc3\xb2\xa1" + bytes(20), 1) is None,
                                reason="the C record walk (_scan.c) was not built")


def _frames() -> list[bytes]:
    from test_tunnels import tunnel_trace_frames

    return tunnel_trace_frames() * 4  # (several batches of ``_small_batches``)


def _zero_length_inside(tmp_path: Path) -> Path:
    """A pcap whose 41st record announces zero bytes: damage the C walk stops before."""
    path = tmp_path / "zero.pcap"
    write_pcap(path, 1, _frames())
    data = bytearray(path.read_bytes())
    pos = pcap.HEADER
    for _ in range(40):
        pos += pcap.RECORD + struct.unpack_from("<I", data, pos + 8)[0]
    struct.pack_into("<II", data, pos + 8, 0, 0)
    path.write_bytes(bytes(data))
    return path


def _big_endian_ns(tmp_path: Path) -> Path:
    path = tmp_path / "be.pcap"
    with open(path, "wb") as f:
        f.write(struct.pack(">IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, 262144, 1))
        f.writelines(struct.pack(">IIII", 1_700_000_000 + i, 7 * i, len(d), len(d)) + d
                     for i, d in enumerate(_frames()))
    return path


def _case(case: str, tmp_path: Path) -> Path:
    if case == "sample":
        return sample("pcap/tcpreplay_test.pcap")
    if case == "tunnels":
        path = tmp_path / "tunnels.pcap"
        write_pcap(path, 1, _frames())
        return path
    if case == "zero-length":
        return _zero_length_inside(tmp_path)
    if case == "big-endian-ns":
        return _big_endian_ns(tmp_path)
    data = sample("pcap/tcpreplay_test.pcap").read_bytes()  # "truncated": cut inside a record
    path = tmp_path / "cut.pcap"
    path.write_bytes(data[: len(data) * 2 // 3])
    return path


def _read_ahead_index(path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple:
    readahead.start(str(path))
    early = mapfile._early.get(os.path.abspath(path))
    assert early is not None and early.records is not None
    early.records.wait()  # (the walk done before the trace opens, as during a command's imports)
    walks: list[int] = []
    real = pcap.PcapReader._walk

    def walk(self: pcap.PcapReader, pos: int, *rest: int) -> object:
        walks.append(pos)
        return real(self, pos, *rest)

    with monkeypatch.context() as m:
        m.setattr(pcap.PcapReader, "_walk", walk)
        got = _index(path, monkeypatch, True)
    assert not mapfile._early  # taken over by the trace
    return got, walks


@pytest.mark.parametrize("case", ["sample", "tunnels", "zero-length", "big-endian-ns", "truncated"])
@pytest.mark.parametrize("limit", [1 << 20, 13])
def test_records_read_ahead_give_the_same_index(case: str, limit: int, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    path = _case(case, tmp_path)
    _small_batches(monkeypatch, pcap)
    monkeypatch.setattr(readahead, "READ_AHEAD", limit)
    own = _index(path, monkeypatch, True)
    ahead, walks = _read_ahead_index(path, monkeypatch)
    assert ahead == own
    assert ahead == _index(path, monkeypatch, False)
    assert len(own[0]["ts"]) > 20
    rows = len(own[0]["ts"])
    if case in ("sample", "tunnels", "big-endian-ns") and limit > rows:
        assert walks == []  # every record came from the walk ahead
    else:  # the reader walked on from where the walk ahead stopped
        assert walks and walks[0] > pcap.HEADER
    if case in ("zero-length", "truncated"):
        assert own[2] and ("zero length" in own[2][0][1] or "truncated" in own[2][0][1])


@pytest.mark.parametrize("case", ["several-batches", *PCAPNG_SAMPLES, "cut", "second-section"])
@pytest.mark.parametrize("limit", [1 << 20, 13])
def test_a_pcapng_run_read_ahead_gives_the_same_index(case: str, limit: int, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    name = READERS["pcapng"][2] if case in ("several-batches", "cut", "second-section") else case
    path = sample(name)
    data = path.read_bytes()
    if case == "cut":  # inside a packet block, batches in
        path = tmp_path / "cut.pcapng"
        path.write_bytes(data[: len(data) * 2 // 3])
    elif case == "second-section":  # the file again after itself: a second section header mid-file
        path = tmp_path / "twice.pcapng"
        path.write_bytes(data + data)
    _small_batches(monkeypatch, pcapng)
    monkeypatch.setattr(readahead, "READ_AHEAD", limit)
    own = _index(path, monkeypatch, True)
    real = pcapng._native_epbs

    def indexed(read_ahead: bool) -> tuple[tuple, list[int]]:
        """The index, and the positions the scan asked the C walk about."""
        asked: list[int] = []

        def counted(buf: object, pos: int, *rest: object) -> object:
            asked.append(pos)
            return real(buf, pos, *rest)

        with monkeypatch.context() as m:
            m.setattr(pcapng, "_native_epbs", counted)  # the reader's walk
            m.setattr(chains, "pcapng_epbs", counted)  # the walk ahead
            if read_ahead:
                readahead.start(str(path))
                early = mapfile._early.get(os.path.abspath(path))
                assert early is not None and early.records is not None
                early.records.wait()
            got = _index(path, monkeypatch, True)
        assert not mapfile._early
        return got, asked

    ahead, asked_ahead = indexed(True)
    assert ahead == own and ahead == _index(path, monkeypatch, False)
    _, asked_own = indexed(False)
    # the walk ahead (its first call) answered the scan's calls inside its run: the scan asked less
    first_run = asked_ahead[0]
    assert first_run not in asked_ahead[1:] and first_run in asked_own
    assert len(asked_ahead) - 1 < len(asked_own)


@pytest.mark.parametrize("module", [pcap, pcapng])
def test_a_reader_without_its_c_walk_still_takes_the_same_index(module: object, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The reader's own walk in Python (its C walk not built), the records read ahead or not."""
    path = sample("pcap/tcpreplay_test.pcap" if module is pcap else READERS["pcapng"][2])
    _small_batches(monkeypatch, module)  # type: ignore[arg-type]
    monkeypatch.setattr(module, "_native_records" if module is pcap else "_native_epbs", None)
    own = _index(path, monkeypatch, True)
    readahead.start(str(path))
    assert mapfile._early and _index(path, monkeypatch, True) == own
    assert not mapfile._early


def test_nothing_is_read_ahead_for_a_cached_trace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACEMON_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("TRACEMON_CACHE_MIN_BYTES", "0")
    monkeypatch.delenv("TRACEMON_NO_CACHE", raising=False)
    path = tmp_path / "t.pcap"
    write_pcap(path, 1, _frames())
    readahead.start(str(path))  # not cached yet: read ahead, and taken by the trace
    first = open_trace(path)
    assert first.records_ahead is None and not first.from_cache and not mapfile._early
    st = os.stat(path)
    assert cache.holds(str(path), st.st_size, st.st_mtime_ns, "pcap")
    first.close()
    readahead.start(str(path))
    assert mapfile.take_early(str(path)) is None
    again = open_trace(path)
    assert again.from_cache and len(again) == len(first.index)
    again.close()


def test_other_files_are_left_to_their_reader(tmp_path: Path) -> None:
    netmon = min(sample(READERS["netmon"][2]).parent.glob("*.cap"))
    for path in (netmon, tmp_path / "missing.pcap", tmp_path):
        readahead.start(str(path))
        assert mapfile.take_early(str(path)) is None
    empty = tmp_path / "empty.pcap"
    empty.write_bytes(b"")
    readahead.start(str(empty))
    assert not mapfile._early


def test_a_map_no_trace_took_is_closed(tmp_path: Path) -> None:
    path = tmp_path / "t.pcap"
    write_pcap(path, 1, _frames())
    readahead.start(str(path))
    readahead.start(str(path))  # (a second start leaves the first)
    early = mapfile._early[os.path.abspath(path)]
    assert early.records is not None
    early.records.wait()
    mapfile.discard_early()
    assert early.buf.closed and early.file.closed and not mapfile._early
    assert mapfile.take_early(str(path)) is None


def test_a_map_whose_walk_goes_on_is_closed_after_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A command that fails before it opens its trace is not held up by the walk ahead (a large
    file on a slow disk): the map is closed on a thread of its own once the walk is over."""
    path = tmp_path / "t.pcap"
    write_pcap(path, 1, _frames())
    go = threading.Event()
    real = chains.pcap_ahead

    def held(buf: object, limit: int) -> object:
        fn, args = real(buf, limit)

        def walk(*a: object) -> object:
            go.wait()
            return fn(*a)

        return walk, args

    monkeypatch.setattr(chains, "pcap_ahead", held)
    readahead.start(str(path))
    early = mapfile._early[os.path.abspath(path)]
    returned = threading.Event()
    threading.Thread(target=lambda: (mapfile.discard_early(), returned.set()), daemon=True).start()
    held_up = not returned.wait(60)  # (set at once; the limit only keeps a failure from hanging)
    go.set()
    assert not held_up, "discard_early waited for the walk"
    assert not mapfile._early
    for t in threading.enumerate():
        if t.name == "tracemon-readahead-close":
            t.join()
    assert early.buf.closed and early.file.closed


def test_a_trace_closed_before_its_scan_closes_the_map(tmp_path: Path) -> None:
    path = tmp_path / "t.pcap"
    write_pcap(path, 1, _frames())
    readahead.start(str(path))
    trace = Trace(path)
    buf = trace.buf
    assert trace.records_ahead is not None
    trace.close()  # waits for the walk ahead, which holds the map
    assert buf.closed and trace._file is None


def test_a_one_shot_command_reads_ahead(tmp_path: Path) -> None:
    """``tracemon count`` as the console script runs it (``cli.main``, the collector off while the
    modules load): the trace it opens takes what was read ahead, and counts what the reader's own
    walk counts."""
    path = tmp_path / "t.pcap"
    write_pcap(path, 1, _frames())
    code = (
        "import sys\n"
        "from tracemon.traces import trace\n"
        "from tracemon.tui import cli\n"
        "real, taken = trace.take_early, []\n"
        "def spy(path):\n"
        "    early = real(path)\n"
        "    taken.append(early is not None and early.records is not None)\n"
        "    return early\n"
        "trace.take_early = spy\n"
        f"code = cli.main(['count', {str(path)!r}, 'UDP'])\n"
        "print(taken, code)\n"
    )
    env = {**os.environ, "TRACEMON_NO_CACHE": "1"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    trace = open_trace(path, use_cache=False)
    from tracemon.filters import compile_filter

    expected = int(compile_filter("UDP", trace=trace).evaluate(trace).sum())
    assert expected > 0
    assert out.stdout.split() == [str(expected), "[True]", "0"]

