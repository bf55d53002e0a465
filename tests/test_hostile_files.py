"""Hostile traces and hostile state (issue 12, items 2, 4, 5, 6, 7 and 14).

A trace is attacker-controlled input, and the index cache is state that rots or goes stale:
no file may claim memory it does not hold, and no cache entry may answer for a file it does not
describe or stop the program.  Memory bounds are measured as the peak RSS of a fresh process
(``RUSAGE_CHILDREN`` of a wrapper), never in this one.
"""

from __future__ import annotations

import json
import os
import signal
import struct
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path

import numpy as np
import pytest
from conftest import sample, samples
from hostile_files import (
    epb,
    etl_bomb,
    frame_bytes,
    idb,
    pcapng_empty_sections,
    pcapng_unknown_blocks,
    shb,
    small_etl,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tracemon.traces import TraceError, cache, open_trace
from tracemon.traces.etw.buffers import MAX_INFLATE_RATIO, MIN_RECORD_ALLOWANCE
from tracemon.traces.pcapng import MAX_BLOCK_WARNINGS, MAX_SECTION_FACTS

# -- peak memory of a fresh process --------------------------------------------------------------
#: runs the script given as argv[1] in a child and reports the child's exit and peak RSS
_WRAPPER = textwrap.dedent("""
    import json, resource, subprocess, sys
    r = subprocess.run([sys.executable, "-c", sys.argv[1], *sys.argv[2:]], capture_output=True, text=True)
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(json.dumps({"rc": r.returncode, "out": r.stdout, "err": r.stderr[-3000:], "peak_mb": peak / 1024}))
""")

#: opens argv[1] with a 2 GiB address-space ceiling (so a regression fails fast instead of
#: swapping a shared machine) and prints what it found
_OPEN = textwrap.dedent("""
    import json, resource, sys
    resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))
    from tracemon.traces import open_trace
    t = open_trace(sys.argv[1], use_cache=False)
    print(json.dumps({"frames": len(t), "warnings": [w.message for w in t.warnings]}))
""")


#: opens argv[1] like ``_OPEN`` and then decodes one frame of every ETL buffer
_BROWSE = _OPEN.replace("print(", """rows = {}
for i, loc in enumerate(t.index.loc.tolist()):
    rows.setdefault(loc >> 32, i)
for i in rows.values():
    t.frame(i)
print(""")


def _peak(path: Path, script: str = _OPEN) -> tuple[dict, float]:
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
    r = subprocess.run([sys.executable, "-c", _WRAPPER, script, str(path)], capture_output=True, text=True,
                       env=env, timeout=600, check=True)
    report = json.loads(r.stdout)
    assert report["rc"] == 0, report["err"]
    return json.loads(report["out"]), report["peak_mb"]


# -- item 2: the ETL decompression bomb -----------------------------------------------------------
def test_etl_bomb_buffers_are_refused_and_memory_stays_bounded(tmp_path: Path) -> None:
    # two 102-byte buffers that each claim 16 MiB of 16-byte records (2 M index rows, ~700 MB
    # before the fix); the log header declares 64 KiB buffers
    bomb = etl_bomb(tmp_path / "bomb.etl", 2, claim=1 << 24)
    assert bomb.stat().st_size < 1300
    found, peak_mb = _peak(bomb)
    assert found["frames"] <= 1  # the log header event
    refused = [w for w in found["warnings"] if "it is skipped" in w]
    assert len(refused) == 2
    assert "compressed buffer 1 (file offset 1024)" in refused[0] and "65536-byte buffers" in refused[0]
    assert peak_mb < 250, f"peak RSS {peak_mb:.0f} MB"


def test_etl_bomb_declaring_huge_session_buffers_is_refused_by_ratio(tmp_path: Path) -> None:
    bomb = etl_bomb(tmp_path / "ratio.etl", 3, claim=1 << 24, session=1 << 26)
    with open_trace(bomb, use_cache=False) as t:
        assert len(t) <= 1
        causes = [w.cause for w in t.warnings]
    assert sum(f"more than {MAX_INFLATE_RATIO}x" in c for c in causes) == 3


def test_records_are_bounded_by_what_the_compressed_bytes_can_encode(tmp_path: Path) -> None:
    # under the ratio limit (padding), inside the declared session size: 256 Ki records claimed
    claim = 1 << 22
    pad = claim // MAX_INFLATE_RATIO
    bomb = etl_bomb(tmp_path / "many.etl", 1, claim=claim, session=1 << 26, pad=pad)
    packed = bomb.stat().st_size - 1024 - 0x48
    with open_trace(bomb, use_cache=False) as t:
        assert len(t) <= 1 + MIN_RECORD_ALLOWANCE + packed < claim // 16 // 50
        assert any("compressed bytes can encode" in w.cause and "buffer 1 (file offset 1024)" in w.message
                   for w in t.warnings)
        t.frame(len(t) - 1)


def test_inflated_buffers_kept_for_browsing_are_bounded_in_bytes(tmp_path: Path) -> None:
    # a header declaring 64 MiB buffers, sixteen 32 KiB buffers inflating to 32 MiB each (under the
    # ratio limit; their rows capped): browsing one frame of each kept all sixteen (647 MB peak; now 230)
    claim = 1 << 25
    bomb = etl_bomb(tmp_path / "lru.etl", 16, claim=claim, session=1 << 26, pad=claim // MAX_INFLATE_RATIO)
    found, peak_mb = _peak(bomb, _BROWSE)
    assert found["frames"] > 16 * (claim // MAX_INFLATE_RATIO)
    assert peak_mb < 330, f"peak RSS {peak_mb:.0f} MB"


@pytest.mark.parametrize("path", [p for p in samples("etl", ".etl")], ids=lambda p: p.name)
def test_real_etl_files_are_never_refused(path: Path) -> None:
    with open_trace(path, use_cache=False) as t:
        assert not [w for w in t.warnings if "it is skipped" in w.cause or "can encode" in w.cause]


def test_a_compressed_file_of_our_writer_is_read_whole(tmp_path: Path) -> None:
    with open_trace(small_etl(tmp_path / "ok.etl"), use_cache=False) as t:
        assert len(t) == 301 and not t.warnings


# -- item 2: pcapng per-section state -------------------------------------------------------------
def test_empty_pcapng_sections_cost_no_memory(tmp_path: Path) -> None:
    # 250,000 empty section headers (7 MB) took ~140 MB of per-section state before the fix
    p = pcapng_empty_sections(tmp_path / "sections.pcapng", 250_000)
    found, peak_mb = _peak(p)
    assert found["frames"] == 2 and not found["warnings"]
    assert peak_mb < 110, f"peak RSS {peak_mb:.0f} MB"


def test_pcapng_sections_between_empty_ones_keep_their_packets(tmp_path: Path) -> None:
    p = pcapng_empty_sections(tmp_path / "s.pcapng", 3000)
    with open_trace(p, use_cache=False) as t:
        assert [t.raw(i) for i in range(len(t))] == [frame_bytes(1), frame_bytes(2)]
        assert t.index.ts.tolist() == [1_000_000, 2_000_000]
        assert len(t.reader.sections) <= 3
        assert t.facts["section_count"] == 3000 and len(t.facts["sections"]) == MAX_SECTION_FACTS


# -- item 14: pcapng blocks of unknown type ----------------------------------------------------------
def test_a_pcapng_block_of_unknown_type_is_reported(tmp_path: Path) -> None:
    # an EPB whose type lost a bit (6 -> 0x00000106) and a local-use block
    p = pcapng_unknown_blocks(tmp_path / "u.pcapng", [0x00000106, 0x80000001])
    with open_trace(p, use_cache=False) as t:
        assert len(t) == 2
        causes = [(w.offset, w.cause) for w in t.warnings]
    at = 28 + 20 + 92  # SHB, IDB, the first EPB
    assert causes[0][0] == at and "unknown type 0x00000106" in causes[0][1]
    assert causes[1][0] == at + 20 and "0x80000001 (a local-use type)" in causes[1][1]
    assert t.facts["unknown_blocks"] == 2


def test_many_unknown_blocks_are_counted_not_each_reported(tmp_path: Path) -> None:
    p = pcapng_unknown_blocks(tmp_path / "many.pcapng", [0x77] * 500)
    with open_trace(p, use_cache=False) as t:
        assert len(t) == 2 and t.facts["unknown_blocks"] == 500
        assert len(t.warnings) == MAX_BLOCK_WARNINGS and "only counted" in t.warnings[-1].cause


# -- item 4: a damaged cache entry ---------------------------------------------------------------------
def _damage(entry: Path, how: str) -> None:
    if how == "empty-npy":
        (entry / "ts.npy").write_bytes(b"")
    elif how == "truncated-npy":
        data = (entry / "loc.npy").read_bytes()
        (entry / "loc.npy").write_bytes(data[: len(data) // 2])
    elif how == "truncated-table":
        data = (entry / "conv_ip.npy").read_bytes()
        (entry / "conv_ip.npy").write_bytes(data[: len(data) // 2])
    elif how == "bit-rot":  # one bit of one frame's offset, the file keeps its length
        data = bytearray((entry / "loc.npy").read_bytes())
        data[-8 * 5] ^= 0x10
        (entry / "loc.npy").write_bytes(bytes(data))
    elif how == "no-manifest":  # a write that never finished
        (entry / cache.MANIFEST).unlink()
    elif how == "empty-state":
        (entry / "state.json").write_bytes(b"")
    elif how == "unknown-checksum":  # recorded by an algorithm this build does not have
        manifest = json.loads((entry / cache.MANIFEST).read_text("utf-8"))
        manifest["checksum"] = "sha3-crc"
        (entry / cache.MANIFEST).write_text(json.dumps(manifest), "utf-8")


@pytest.mark.parametrize("how", ["empty-npy", "truncated-npy", "truncated-table", "bit-rot", "no-manifest",
                                 "empty-state", "unknown-checksum"])
def test_a_damaged_cache_entry_is_dropped_and_the_trace_indexed_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str) -> None:
    monkeypatch.setenv("TRACEMON_CACHE_MIN_BYTES", "0")
    monkeypatch.setenv("TRACEMON_CACHE_DIR", str(tmp_path / "cache"))
    src = tmp_path / "t.pcap"
    src.write_bytes(sample("pcap/tcpreplay_test.pcap").read_bytes())
    fresh = open_trace(src)
    entry = cache.cache_root() / cache.key_for(fresh)
    assert (entry / cache.MANIFEST).is_file()
    _damage(entry, how)
    again = open_trace(src)
    assert not again.from_cache and len(again) == len(fresh)
    np.testing.assert_array_equal(again.index.loc, fresh.index.loc)
    assert "damaged index cache entry" in again.facts["cache_error"]
    assert any(w.path == str(entry) and "indexed again" in w.cause for w in again.warnings)
    third = open_trace(src)  # stored again, and the cache warning is not part of it
    assert third.from_cache and [w.path for w in third.warnings] == [str(src)] * len(third.warnings)


def test_an_entry_checked_by_crc32_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An entry a build without ``_checksum.c`` wrote (zlib's CRC-32, named in its manifest) is
    checked by that algorithm and used."""
    monkeypatch.setenv("TRACEMON_CACHE_MIN_BYTES", "0")
    monkeypatch.setenv("TRACEMON_CACHE_DIR", str(tmp_path / "cache"))
    src = tmp_path / "t.pcap"
    src.write_bytes(sample("pcap/tcpreplay_test.pcap").read_bytes())
    with monkeypatch.context() as m:
        m.setattr(cache, "CHECKSUM", "crc32")
        fresh = open_trace(src)
    entry = cache.cache_root() / cache.key_for(fresh)
    manifest = json.loads((entry / cache.MANIFEST).read_text("utf-8"))
    assert manifest["checksum"] == "crc32"
    assert manifest["files"]["loc.npy"][1] == zlib.crc32((entry / "loc.npy").read_bytes())
    again = open_trace(src)
    assert again.from_cache and len(again) == len(fresh)


# -- item 5: a trace rewritten with the same size and mtime --------------------------------------------
def test_a_trace_rewritten_with_the_same_size_and_mtime_is_indexed_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACEMON_CACHE_MIN_BYTES", "0")
    src = tmp_path / "t.pcapng"
    blocks = [epb(frame_bytes(k), 1000 * (k + 1)) for k in range(20)]
    src.write_bytes(shb() + idb() + b"".join(blocks))
    first = open_trace(src)
    assert len(first) == 20
    st = src.stat()
    # the same size and mtime, other frames
    other = [epb(frame_bytes(100 + k), 5000 * (k + 1)) for k in range(20)]
    src.write_bytes(shb() + idb() + b"".join(other))
    os.utime(src, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert src.stat().st_size == st.st_size and src.stat().st_mtime_ns == st.st_mtime_ns
    second = open_trace(src)
    assert not second.from_cache
    assert second.raw(0) == frame_bytes(100) and second.index.ts[0] == 5_000_000
    assert "other contents" in second.facts["cache_error"]
    assert open_trace(src).from_cache


def test_the_fingerprint_reads_both_ends_of_the_trace(tmp_path: Path) -> None:
    a = tmp_path / "a.bin"
    a.write_bytes(bytes(300_000))
    b = tmp_path / "b.bin"
    b.write_bytes(bytes(299_999) + b"\x01")

    class T:
        def __init__(self, p: Path) -> None:
            self._file = open(p, "rb")  # noqa: SIM115
            self.size, self.mtime_ns, self.path = p.stat().st_size, 0, str(p)

    fa, fb = cache.fingerprint(T(a)), cache.fingerprint(T(b))
    assert fa["ends_sha256"] != fb["ends_sha256"]


# -- item 7: interrupted cache writes ------------------------------------------------------------------
def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_temporary_directories_of_interrupted_writes_are_removed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACEMON_CACHE_MIN_BYTES", "0")
    monkeypatch.setenv("TRACEMON_CACHE_DIR", str(tmp_path / "cache"))
    root = cache.cache_root()
    root.mkdir(parents=True)
    dead = root / f".tmp-{_dead_pid()}-abc"  # its writer was killed (SIGKILL, SIGTERM, power cut)
    live = root / f".tmp-{os.getppid()}-def"  # another tracemon still writing
    old_style = root / ".tmp-xyz"  # no pid in the name, older than this process
    for d in (dead, live, old_style):
        d.mkdir()
        (d / "ts.npy").write_bytes(b"half")
    os.utime(old_style, (1_000_000_000, 1_000_000_000))
    open_trace(sample("pcap/tcpreplay_test.pcap"))  # any cache write cleans up first
    assert not dead.exists() and not old_style.exists() and live.exists()


def test_ctrl_c_during_a_cache_write_leaves_no_temporary_directory(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACEMON_CACHE_MIN_BYTES", "0")
    monkeypatch.setenv("TRACEMON_CACHE_DIR", str(tmp_path / "cache"))

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(cache, "_write_manifest", interrupted)  # (every file written but the manifest)
    with pytest.raises(KeyboardInterrupt):
        open_trace(sample("pcap/tcpreplay_test.pcap"))
    assert not list((tmp_path / "cache").iterdir())


@pytest.mark.parametrize("one_shot", [False, True])
def test_an_entry_that_cannot_be_taken_leaves_the_open_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                            one_shot: bool) -> None:
    """What an entry holds is taken when the scan completes (before any thread writes it): a
    failure there is the cache's, noted, never the open's."""
    monkeypatch.setenv("TRACEMON_CACHE_MIN_BYTES", "0")
    monkeypatch.setenv("TRACEMON_CACHE_DIR", str(tmp_path / "cache"))

    def unwritable(*args: object, **kwargs: object) -> None:
        raise TypeError("a table that cannot be written")

    monkeypatch.setattr(cache, "_records", unwritable)
    trace = open_trace(sample("pcap/tcpreplay_test.pcap"), one_shot=one_shot)
    assert len(trace) and "cannot be written" in trace.facts["cache_error"]
    assert not (tmp_path / "cache").exists()


def test_sigterm_during_a_cache_write_is_cleaned_up_by_the_next_start(tmp_path: Path) -> None:
    # a child stops itself with SIGTERM half-way through writing its entry
    script = textwrap.dedent("""
        import os, signal, sys
        from tracemon.traces import cache, open_trace
        def manifest(*a, **k):  # every file written but the manifest
            os.kill(os.getpid(), signal.SIGTERM)
        cache._write_manifest = manifest
        open_trace(sys.argv[1])
    """)
    env = {**os.environ, "TRACEMON_CACHE_MIN_BYTES": "0", "TRACEMON_CACHE_DIR": str(tmp_path / "cache")}
    src = sample("pcap/tcpreplay_test.pcap")
    r = subprocess.run([sys.executable, "-c", script, str(src)], env=env, capture_output=True, timeout=120,
                       check=False)
    assert r.returncode == -signal.SIGTERM
    assert [p.name[:5] for p in (tmp_path / "cache").iterdir()] == [".tmp-"]
    reopen = "import sys; from tracemon.traces import open_trace; print(open_trace(sys.argv[1]).from_cache)"
    r = subprocess.run([sys.executable, "-c", reopen, str(src)], env=env, capture_output=True, text=True,
                       timeout=120, check=True)
    assert r.stdout.strip() == "False"
    assert not [p for p in (tmp_path / "cache").iterdir() if p.name.startswith(".tmp-")]


# -- item 6: a trace that shrinks while open -------------------------------------------------------------
_SHRINK = textwrap.dedent("""
    import os, sys
    from tracemon.traces import TraceError, open_trace
    t = open_trace(sys.argv[1], use_cache=False)
    n = len(t)
    os.truncate(sys.argv[1], os.path.getsize(sys.argv[1]) // 3)
    try:
        for i in range(n):
            t.frame(i)
            t.raw(i)
    except TraceError as e:
        print("error:", e)
    else:
        print("read every frame")
""")


@pytest.mark.parametrize("make", ["pcap", "pcapng", "netmon", "etl"])
def test_a_trace_that_shrinks_while_open_is_reported_not_a_crash(tmp_path: Path, make: str) -> None:
    if make == "etl":
        p = small_etl(tmp_path / "t.etl", 3000, compressed=False)
    else:
        src = {"pcap": "pcap/tcpreplay_test.pcap", "pcapng": "pcapng/chrissanders_arppoison.pcapng",
               "netmon": "netmon/DERIVED_tcpreplay_test.netmon2.cap"}[make]
        p = tmp_path / Path(src).name
        p.write_bytes(sample(src).read_bytes())
    r = subprocess.run([sys.executable, "-c", _SHRINK, str(p)], capture_output=True, text=True, timeout=120,
                       check=False)
    assert r.returncode == 0, (r.returncode, r.stderr[-2000:])  # -7 was SIGBUS
    assert "error:" in r.stdout and "shrank from" in r.stdout, r.stdout


_RACE = textwrap.dedent("""
    import os, sys
    import numpy as np
    from tracemon.traces import TraceError, open_trace
    t = open_trace(sys.argv[1], use_cache=False)
    os.truncate(sys.argv[1], 1000)
    # reads that no size check precedes (the race after a check, a bulk NumPy gather)
    tail = bytes(t.buf[-16:])
    total = int(np.frombuffer(t.buf, dtype=np.uint8)[-20000:].sum())
    try:
        t.check_file()
    except TraceError as e:
        print("zeros" if tail == bytes(16) and total == 0 else "data", "then error:", e)
    t.close()
""")


def test_reads_racing_a_shrinking_file_see_zeros_and_the_next_check_reports_it(tmp_path: Path) -> None:
    from tracemon.traces import trace

    if trace._mapguard is None:
        pytest.skip("the SIGBUS safety net (_mapguard.c) was not built (no compiler)")
    p = tmp_path / "t.pcapng"
    p.write_bytes(sample("pcapng/chrissanders_arppoison.pcapng").read_bytes())
    r = subprocess.run([sys.executable, "-c", _RACE, str(p)], capture_output=True, text=True, timeout=120,
                       check=False)
    assert r.returncode == 0, (r.returncode, r.stderr[-2000:])  # -7 was SIGBUS
    assert r.stdout.startswith("zeros then error:") and "shrank from 67860 to 1000" in r.stdout, r.stdout


def test_a_trace_that_shrinks_during_the_scan_keeps_what_was_read(tmp_path: Path) -> None:
    p = tmp_path / "t.pcapng"
    p.write_bytes(sample("pcapng/chrissanders_arppoison.pcapng").read_bytes())
    t = open_trace(p, load=False, use_cache=False)
    os.truncate(p, p.stat().st_size // 2)
    for _ in t.scan():
        pass
    assert t.complete.is_set() and "shrank from" in t.warnings[-1].cause
    with pytest.raises(TraceError, match="shrank"):
        t.reader.packet_offsets(np.arange(len(t)))


# -- every reader, fuzzed with the crafted files as seeds ---------------------------------------------------
def _seeds(tmp: Path) -> list[bytes]:
    seeds = [
        etl_bomb(tmp / "bomb.etl", 2, claim=1 << 20).read_bytes(),
        etl_bomb(tmp / "many.etl", 1, claim=1 << 18, session=1 << 26, pad=300).read_bytes(),
        small_etl(tmp / "small.etl", 120).read_bytes(),
        pcapng_empty_sections(tmp / "sections.pcapng", 40).read_bytes(),
        pcapng_unknown_blocks(tmp / "unknown.pcapng", [0x106, 0x80000001, 0x77]).read_bytes(),
    ]
    for rel in ("pcap/tcpreplay_test.pcap", "netmon/DERIVED_tcpreplay_test.netmon2.cap"):
        path = sample(rel)
        seeds.append(path.read_bytes()[:6000])  # a pcap and a Netmon file cut short
    return seeds


@pytest.fixture(scope="module")
def seeds(tmp_path_factory: pytest.TempPathFactory) -> list[bytes]:
    return _seeds(tmp_path_factory.mktemp("seeds"))


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzz_mutated_hostile_files(seeds: list[bytes], tmp_path_factory: pytest.TempPathFactory,
                                    data: st.DataObject) -> None:
    raw = bytearray(data.draw(st.sampled_from(seeds), label="seed"))
    for _ in range(data.draw(st.integers(1, 8), label="mutations")):
        kind = data.draw(st.sampled_from(["byte", "u32", "cut"]))
        pos = data.draw(st.integers(0, len(raw) - 5))
        if kind == "byte":
            raw[pos] = data.draw(st.integers(0, 255))
        elif kind == "u32":
            raw[pos : pos + 4] = struct.pack("<I", data.draw(st.sampled_from([0, 0x48, 0xFFFF, 0xFFFFFFFF,
                                                                             1 << 20, 1 << 26])))
        else:
            del raw[max(pos, 64) :]
    p = tmp_path_factory.mktemp("fuzz") / "hostile.bin"
    p.write_bytes(bytes(raw))
    try:
        t = open_trace(p, use_cache=False)
    except TraceError:
        return
    with t:
        assert len(t) < 200_000  # no seed holds more than a few thousand records
        for i in list(range(min(len(t), 10))) + list(range(max(0, len(t) - 3), len(t))):
            try:
                t.frame(i)
            except TraceError:
                pass
