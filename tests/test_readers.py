"""pcap / pcapng / Netmon readers: structure, facts, cache, and every kind of bad input."""

from __future__ import annotations

import os
import shutil
import struct
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import sample, samples
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tracemon.traces import TraceError, open_trace
from tracemon.traces.index import BYTES_PER_FRAME, KIND_NOTIME
from work import count_lines

PACKET_FILES = samples("pcap") + samples("pcapng") + samples("netmon")


def test_index_is_compact() -> None:
    assert BYTES_PER_FRAME <= 64


def test_format_is_detected_by_magic_not_extension(tmp_path: Path) -> None:
    src = sample("pcapng/chrissanders_http_ip4and6.pcapng")
    disguised = tmp_path / "capture.pcap"
    shutil.copy(src, disguised)
    trace = open_trace(disguised)
    assert trace.format == "pcapng"
    assert len(trace) == 20


def test_pcap_big_endian_and_nanoseconds(tmp_path: Path) -> None:
    frame = bytes.fromhex("ffffffffffff0011223344550806") + bytes(28)
    for endian, magic, frac, scale in (("<", 0xA1B2C3D4, 123456, 1000), (">", 0xA1B2C3D4, 654321, 1000),
                                       ("<", 0xA1B23C4D, 987654321, 1), (">", 0xA1B23C4D, 5, 1)):
        path = tmp_path / f"t{endian == '>'}{scale}.pcap"
        hdr = struct.pack(endian + "IHHiIII", magic, 2, 4, 0, 0, 65535, 1)
        rec = struct.pack(endian + "IIII", 1_600_000_000, frac, len(frame), len(frame)) + frame
        path.write_bytes(hdr + rec + rec)
        trace = open_trace(path, use_cache=False)
        assert len(trace) == 2
        assert int(trace.index.ts[0]) == 1_600_000_000 * 1_000_000_000 + frac * scale
        assert trace.frame(1).data == frame


def test_netmon_matches_the_pcap_it_was_converted_from() -> None:
    a = open_trace(sample("netmon/DERIVED_tcpreplay_test.netmon2.cap"))
    b = open_trace(sample("pcap/tcpreplay_test.pcap"))
    assert len(a) == len(b) == 179
    np.testing.assert_array_equal(a.index.ts, b.index.ts)
    np.testing.assert_array_equal(a.index.protos, b.index.protos)
    assert [a.raw(i) for i in range(len(a))] == [b.raw(i) for i in range(len(b))]


def test_pcapng_sections_interfaces_and_records() -> None:
    for name in ("pcapngtestgen_le_difficult_test202.pcapng", "pcapngtestgen_be_difficult_test202.pcapng"):
        trace = open_trace(sample(f"pcapng/{name}"))
        # 8 packets + 3 custom blocks, in file order, as Wireshark lists them
        assert len(trace) == 11
        assert [trace.frame(i).kind for i in range(11)] == (
            ["record"] + ["packet"] * 5 + ["record"] + ["packet"] * 2 + ["record", "packet"])
        assert len(trace.interfaces) == 5
        assert trace.interfaces[1].link_type == 0 and trace.interfaces[1].name == "null1"
        assert len(trace.facts["sections"]) == 3
        assert trace.facts["sections"][0]["comments"] == ["test202 SHB-0"]
        assert trace.facts["sections"][0]["shb_hardware"] == "Apple MBP"
        # simple packet blocks carry no timestamp: flagged, and kept out of the time span
        notime = [i + 1 for i in range(11) if trace.index.kind[i] & KIND_NOTIME]
        assert notime == [1, 5, 7, 8, 10]
        assert trace.first_time_ns == 1340954905298858000


def test_cached_reopen_skips_the_scan(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACEMON_CACHE_MIN_BYTES", "0")
    src = sample("pcapng/chrissanders_arppoison.pcapng")
    first = open_trace(src)
    assert not first.from_cache
    second = open_trace(src)
    assert second.from_cache
    for col, arr in first.index.columns().items():
        np.testing.assert_array_equal(arr, second.index.column(col), err_msg=col)
    assert second.frame(10).description == first.frame(10).description
    for table in ("eth_conversations", "ip_conversations", "l4_conversations"):
        a, b = getattr(first, table), getattr(second, table)
        assert (a.a, a.b, a.parent, a.proto) == (b.a, b.b, b.parent, b.proto), table
    # 128-bit IPv6 endpoints survive the cache too
    v6 = sample("pcapng/chrissanders_http_ip4and6.pcapng")
    fresh, cached = open_trace(v6), open_trace(v6)
    assert cached.from_cache and any(p == 6 for p in cached.ip_conversations.proto)
    assert cached.ip_conversations.a == fresh.ip_conversations.a
    ip = fresh.ip_conversations
    for cid in range(1, len(ip) + 1):  # the rebuilt key dictionary finds every conversation
        assert cached.ip_conversations.intern((ip.proto[cid], ip.a[cid], ip.b[cid]), 0, 0) == cid
    # a changed file is scanned again
    copy = tmp_path / "copy.pcapng"
    shutil.copy(src, copy)
    assert not open_trace(copy).from_cache
    time.sleep(0.01)
    copy.write_bytes(copy.read_bytes()[:-100])
    again = open_trace(copy)
    assert not again.from_cache and again.warnings


def test_columns_of_zeros_are_not_written_to_the_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    """A pcap's ETW columns (level, provider, event id …) are all zero: the cache entry leaves their
    files out and the restored index has them as zeros, every other column as written."""
    monkeypatch.setenv("TRACEMON_CACHE_MIN_BYTES", "0")
    from tracemon.traces import cache

    src = sample("pcapng/chrissanders_arppoison.pcapng")
    first = open_trace(src)
    entry = cache.cache_root() / cache.key_for(first)
    written = {p.stem for p in entry.glob("*.npy") if not p.stem.startswith("conv_")}
    zero = {name for name, arr in first.index.columns().items() if not arr.any()}
    assert {"level", "provider", "event_id"} <= zero and written == set(first.index.columns()) - zero
    second = open_trace(src)
    assert second.from_cache
    for col, arr in first.index.columns().items():
        got = second.index.column(col)
        assert got.dtype == arr.dtype and got.tolist() == arr.tolist(), col


def test_frame_cache_keeps_the_rows_in_use(tmp_path: Path) -> None:
    p = tmp_path / "many.pcap"
    p.write_bytes(_pcap_with([_rec(bytes([k % 256]) * 60) for k in range(600)]))
    trace = open_trace(p, use_cache=False)
    first, second = trace.frame(0), trace.frame(1)
    for i in range(2, 600):  # a row the UI keeps asking for stays decoded while others come and go
        trace.frame(i)
        assert trace.frame(0) is first
    assert trace.frame(1) is not second  # one not asked for again did go


def test_index_read_while_appended_never_shows_unwritten_rows() -> None:
    """A UI thread reads the index while the scan appends to it (and grows its arrays)."""
    import sys
    import threading

    from tracemon.traces.index import FrameIndex, empty_batch

    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible: make any bad interleaving likely
    try:
        seen_zero = 0
        for _ in range(500):
            idx = FrameIndex(4)
            stop = threading.Event()
            zeros: list[int] = []

            def reader(idx: FrameIndex = idx, stop: threading.Event = stop, zeros: list[int] = zeros) -> None:
                while not stop.is_set() and not zeros:
                    ts = idx.ts
                    if not ts.all():  # every appended row has ts > 0
                        zeros.append(len(ts))

            t = threading.Thread(target=reader)
            t.start()
            k = 1
            for size in (3, 3, 3, 7, 11, 21, 45, 90, 181, 363):  # each append past a doubling
                batch = empty_batch(size)
                batch["ts"][:] = np.arange(k, k + size)
                k += size
                idx.append(batch)
            stop.set()
            t.join()
            seen_zero += bool(zeros)
    finally:
        sys.setswitchinterval(switch)
    assert seen_zero == 0


def test_a_damaged_or_unwritable_cache_never_fails_the_open(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from tracemon.traces import cache
    from tracemon.traces.pcap import PcapReader

    monkeypatch.setenv("TRACEMON_CACHE_MIN_BYTES", "0")
    src = tmp_path / "t.pcap"
    shutil.copy(sample("pcap/tcpreplay_test.pcap"), src)
    # a reader state JSON cannot hold: no entry, no temporary directory left, the open succeeds
    monkeypatch.setattr(PcapReader, "state", lambda self: {"not json": object()}, raising=False)
    trace = open_trace(src)
    assert len(trace) == 179 and "could not write the index cache" in trace.facts["cache_error"]
    assert not any(cache.cache_root().glob(".tmp-*"))
    monkeypatch.undo()  # (also undoes conftest's isolation: keep this test out of the user's cache)
    monkeypatch.setenv("TRACEMON_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("TRACEMON_CACHE_MIN_BYTES", "0")
    # an entry whose state.json has the wrong shape is dropped and the file scanned again
    assert not open_trace(src).from_cache and open_trace(src).from_cache
    state_file = cache.cache_root() / cache.key_for(open_trace(src, load=False)) / "state.json"
    state = json.loads(state_file.read_text("utf-8"))
    state["facts"] = 5
    state_file.write_text(json.dumps(state), "utf-8")
    again = open_trace(src)
    assert not again.from_cache and len(again) == 179 and "damaged index cache entry" in again.facts["cache_error"]


def test_a_scan_stopped_early_goes_on_where_it_stopped(tmp_path: Path) -> None:
    import threading

    p = tmp_path / "batches.pcap"
    p.write_bytes(_pcap_with([_rec(k.to_bytes(4, "big") + bytes(56)) for k in range(10_000)]))  # several batches
    trace = open_trace(p, load=False, use_cache=False)
    cancel = threading.Event()
    cancel.set()
    list(trace.scan(batch_seconds=0.0, cancel=cancel))  # stops after the first batch
    first = len(trace)
    assert 0 < first < 10_000 and not trace.complete.is_set()
    for _ in trace.scan(batch_seconds=0.0):  # the consumer leaves the loop after one more batch
        break
    assert first < len(trace) <= 10_000 and not trace.complete.is_set()
    trace.load(use_cache=False)
    assert len(trace) == 10_000 and not trace.warnings
    assert [int.from_bytes(trace.raw(i)[:4], "big") for i in range(0, 10_000, 997)] == list(range(0, 10_000, 997))


# -- bad input ------------------------------------------------------------------------------

def _expect_open_error(path: Path, *needles: str) -> str:
    with pytest.raises(TraceError) as info:
        open_trace(path, use_cache=False)
    msg = str(info.value)
    assert str(path) in msg
    for n in needles:
        assert n in msg, msg
    assert "\n" not in msg
    return msg


def test_empty_file(tmp_path: Path) -> None:
    p = tmp_path / "empty.pcap"
    p.write_bytes(b"")
    _expect_open_error(p, "empty")


def test_directory(tmp_path: Path) -> None:
    _expect_open_error(tmp_path, "directory")


def test_missing_file(tmp_path: Path) -> None:
    _expect_open_error(tmp_path / "nope.etl", "no such file")


def test_wrong_magic(tmp_path: Path) -> None:
    p = tmp_path / "notes.pcap"
    p.write_bytes(b"hello, this is not a capture\n" * 10)
    _expect_open_error(p, "unknown file format", "offset 0")


def test_unreadable_file(tmp_path: Path) -> None:
    p = tmp_path / "secret.pcap"
    shutil.copy(sample("pcap/tcpreplay_test.pcap"), p)
    p.chmod(0)
    if os.geteuid() != 0:
        _expect_open_error(p, "permission denied")
        return
    # root reads anything: make open() fail the way it does for an ordinary user
    import builtins

    import tracemon.traces.mapfile as mapfile_module

    real_open = builtins.open

    def denied(file, *a, **kw):  # type: ignore[no-untyped-def]
        if str(file) == str(p):
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *a, **kw)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(mapfile_module, "open", denied, raising=False)
        _expect_open_error(p, "permission denied")


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc/self/fd")
def test_a_refused_header_leaves_no_file_open(tmp_path: Path) -> None:
    p = tmp_path / "short.pcap"
    p.write_bytes(b"\xd4\xc3\xb2\xa1" + bytes(10))
    for _ in range(5):
        _expect_open_error(p, "truncated pcap file header")
    open_on_it = [fd for fd in os.listdir("/proc/self/fd") if _points_to(fd, p)]  # (others' fds come and go)
    assert not open_on_it


def _points_to(fd: str, path: Path) -> bool:
    try:
        return os.readlink(f"/proc/self/fd/{fd}") == os.path.realpath(path)
    except OSError:  # closed meanwhile
        return False


def _truncated_copy(src: Path, tmp_path: Path, keep: int) -> Path:
    p = tmp_path / f"cut_{keep}_{src.name}"
    p.write_bytes(src.read_bytes()[:keep])
    return p


@pytest.mark.parametrize("path", PACKET_FILES, ids=lambda p: p.name)
def test_truncation_keeps_every_frame_before_the_damage(path: Path, tmp_path: Path) -> None:
    full = open_trace(path, use_cache=False)
    size = path.stat().st_size
    for keep in (size - 1, size * 2 // 3, size // 3):
        cut = _truncated_copy(path, tmp_path, keep)
        try:
            trace = open_trace(cut, use_cache=False)
        except TraceError as e:  # the header itself is gone
            assert str(cut) in str(e)
            continue
        assert len(trace) <= len(full)
        for i in range(len(trace)):
            assert trace.raw(i) == full.raw(i)
        if len(trace) < len(full):
            assert trace.warnings, "lost frames must be reported"
            w = trace.warnings[0]
            assert w.offset is not None and str(cut) in w.message and f"{len(trace)} frames" in w.message


def _pcap_with(records: list[bytes]) -> bytes:
    return struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1) + b"".join(records)


def _rec(data: bytes, caplen: int | None = None) -> bytes:
    n = len(data) if caplen is None else caplen
    return struct.pack("<IIII", 1, 0, n, len(data)) + data


def test_pcap_zero_and_huge_record_lengths(tmp_path: Path) -> None:
    good = _rec(bytes(60))
    p = tmp_path / "zero.pcap"
    p.write_bytes(_pcap_with([good, good, struct.pack("<IIII", 1, 0, 0, 0), good]))
    t = open_trace(p, use_cache=False)
    assert len(t) == 2 and "zero length" in t.warnings[0].cause and t.warnings[0].offset == 24 + 2 * 76
    p.write_bytes(_pcap_with([good, struct.pack("<IIII", 1, 0, 0xFFFFFFF0, 60) + bytes(60)]))
    t = open_trace(p, use_cache=False)
    assert len(t) == 1 and "larger than any packet" in t.warnings[0].cause


def _pcapng(blocks: list[bytes]) -> bytes:
    shb = struct.pack("<IIIHHq", 0x0A0D0D0A, 28, 0x1A2B3C4D, 1, 0, -1) + struct.pack("<I", 28)
    idb = struct.pack("<IIHHI", 1, 20, 1, 0, 0) + struct.pack("<I", 20)
    return shb + idb + b"".join(blocks)


def _epb(data: bytes, iface: int = 0) -> bytes:
    body = struct.pack("<IIIII", iface, 0, 1000, len(data), len(data)) + data + bytes((-len(data)) % 4)
    n = 12 + len(body)
    return struct.pack("<II", 6, n) + body + struct.pack("<I", n)


def test_pcapng_looping_and_bad_block_lengths(tmp_path: Path) -> None:
    p = tmp_path / "loop.pcapng"
    for bad, needle in ((struct.pack("<II", 6, 0) + bytes(8), "invalid block length 0"),
                        (struct.pack("<II", 6, 13) + bytes(8), "invalid block length 13"),
                        (struct.pack("<II", 6, 0x7FFFFFF0) + bytes(8), "larger than any block"),
                        (struct.pack("<II", 6, 1000) + bytes(100), "truncated"),
                        (_epb(bytes(64))[:-4] + struct.pack("<I", 99), "does not match the trailing length")):
        p.write_bytes(_pcapng([_epb(bytes(60)), _epb(bytes(61)), bad, _epb(bytes(62))]))
        # counted, not timed: ~3k Python lines (50k on the first open, with its imports); a walk
        # that steps byte by byte through a bogus length would be millions
        t, lines = count_lines(open_trace, p, use_cache=False)
        assert lines < 500_000, (needle, lines)
        assert len(t) == 2, needle
        assert needle in t.warnings[0].cause
        assert t.warnings[0].offset == 48 + len(_epb(bytes(60))) + len(_epb(bytes(61)))


def test_pcapng_undefined_interface(tmp_path: Path) -> None:
    data = bytes(60)
    body = struct.pack("<IIIII", 7, 0, 1000, len(data), len(data)) + data
    blk = struct.pack("<II", 6, 12 + len(body)) + body + struct.pack("<I", 12 + len(body))
    p = tmp_path / "iface.pcapng"
    p.write_bytes(_pcapng([_epb(data), blk]))
    t = open_trace(p, use_cache=False)
    assert len(t) == 1 and "interface 7" in t.warnings[0].cause


def _block(btype: int, body: bytes, endian: str = "<") -> bytes:
    n = 12 + len(body)
    return struct.pack(endian + "II", btype, n) + body + struct.pack(endian + "I", n)


def _idb_with(options: bytes) -> bytes:
    return _block(1, struct.pack("<HHI", 1, 0, 0) + options + struct.pack("<HH", 0, 0))


def _option(code: int, value: bytes) -> bytes:
    return struct.pack("<HH", code, len(value)) + value + bytes((-len(value)) % 4)


@pytest.mark.parametrize(("blocks", "kept", "needle"), [
    # packet blocks too short for their fixed fields, at the end of the file and before more blocks
    ([_block(2, b"")], 1, "packet (obsolete) block too short (12 bytes)"),
    ([_block(2, b""), _epb(bytes(60))], 1, "packet (obsolete) block too short (12 bytes)"),
    ([_block(3, b"")], 1, "simple packet block too short (12 bytes)"),
    # timestamp options (interface 1) of the wrong length or out of range: the frames still open
    ([_idb_with(_option(9, b"")), _epb(bytes(60), 1)], 2, None),
    ([_idb_with(_option(14, b"\xab\xcd\xef\x01")), _epb(bytes(60), 1)], 2, None),
    ([_idb_with(_option(9, b"\x7f")), _epb(bytes(60), 1)], 2, None),
    ([_idb_with(_option(9, b"\xff")), _epb(bytes(60), 1)], 2, None),
    ([_idb_with(_option(14, struct.pack("<q", 2**62))), _epb(bytes(60), 1)], 1, "outside the representable range"),
    # an epb_flags option of 2 bytes instead of 4: no direction
    ([_block(6, struct.pack("<IIIII", 0, 0, 1000, 60, 60) + bytes(60) + _option(2, b"\xab\xcd") + _option(0, b""))],
     2, None),
], ids=["opb-end", "opb-mid", "spb", "tsresol-empty", "tsoffset-short", "tsresol-1e-127", "tsresol-2^-127",
        "tsoffset-huge", "epb-flags-short"])
def test_pcapng_malformed_blocks_and_options(tmp_path: Path, blocks: list[bytes], kept: int,
                                             needle: str | None) -> None:
    p = tmp_path / "bad.pcapng"
    p.write_bytes(_pcapng([_epb(bytes(60)), *blocks]))
    t = open_trace(p, use_cache=False)
    assert len(t) == kept
    for i in range(len(t)):
        assert t.frame(i).description
    if needle is None:
        assert not t.warnings
    else:
        assert needle in t.warnings[0].cause


def test_pcapng_alternating_byte_order_sections(tmp_path: Path) -> None:
    # each section its own byte order, one interface and one packet: every block is read in its
    # section's order, however many sections there are
    out = b""
    for k in range(300):
        e = "<" if k % 2 else ">"
        shb = struct.pack(e + "IIIHHq", 0x0A0D0D0A, 28, 0x1A2B3C4D, 1, 0, -1) + struct.pack(e + "I", 28)
        idb = _block(1, struct.pack(e + "HHI", 1, 0, 0), e)
        data = bytes([k % 256]) * 60
        out += shb + idb + _block(6, struct.pack(e + "IIIII", 0, 0, 1000 + k, 60, 60) + data, e)
    p = tmp_path / "sections.pcapng"
    p.write_bytes(out)
    t = open_trace(p, use_cache=False)
    assert len(t) == 300 and not t.warnings
    assert t.index.ts.tolist() == [(1000 + k) * 1000 for k in range(300)]
    assert [t.raw(k)[0] for k in range(300)] == [k % 256 for k in range(300)]
    assert len(t.interfaces) == 300 and len(t.facts["sections"]) == 300


def test_netmon_frame_table_pointing_outside(tmp_path: Path) -> None:
    raw = bytearray(sample("netmon/DERIVED_tcpreplay_test.netmon2.cap").read_bytes())
    ft_off = struct.unpack_from("<I", raw, 4 + 20)[0]
    struct.pack_into("<I", raw, ft_off + 4 * 50, len(raw) + 1000)
    p = tmp_path / "bad.cap"
    p.write_bytes(bytes(raw))
    t = open_trace(p, use_cache=False)
    # table entries are independent: the bad one is skipped and reported, the others are kept
    full = open_trace(sample("netmon/DERIVED_tcpreplay_test.netmon2.cap"), use_cache=False)
    assert len(t) == len(full) - 1
    assert [t.raw(i) for i in range(len(t))] == [full.raw(i) for i in range(len(full)) if i != 50]
    assert "entry 50" in t.warnings[0].cause and "outside the file" in t.warnings[0].cause


# -- fuzz -------------------------------------------------------------------------------------

def _mutations() -> st.SearchStrategy:
    return st.lists(st.tuples(st.integers(0, 1 << 20), st.integers(0, 255)), min_size=1, max_size=12)


@pytest.mark.parametrize("path", PACKET_FILES[:4] + PACKET_FILES[-3:], ids=lambda p: p.name)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mutations=_mutations(), cut=st.integers(0, 100))
def test_fuzz_mutated_samples(path: Path, tmp_path: Path, mutations: list[tuple[int, int]], cut: int) -> None:
    data = bytearray(path.read_bytes())
    for pos, value in mutations:
        data[pos % len(data)] = value
    if cut < 30:
        data = data[: len(data) * (cut + 70) // 100]
    p = tmp_path / "fuzz.bin"
    p.write_bytes(bytes(data))
    try:
        trace = open_trace(p, use_cache=False)
    except TraceError:
        return
    for i in range(min(len(trace), 40)):
        frame = trace.frame(i)
        assert frame.description is not None
