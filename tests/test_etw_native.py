"""The ETW index's C loops (``etw/_records.c``) against the Python they replace: the record chain of
the buffers (``records._walk_python``) and the Hyper-V switch's packet events
(``packets._ndis_1003``, one record at a time), on crafted and damaged records and on whole traces."""

from __future__ import annotations

import struct
import uuid
from pathlib import Path

import numpy as np
import pytest
from conftest import sample
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tracemon.traces import dictcode, open_trace
from tracemon.traces.etw import packetrows, packets, reader, records
from tracemon.traces.etw.records import BUFFER_HEADER, EVENT_HEADER_LAYOUT, BufferSpan
from tracemon.traces.etw.writer import EtlWriter, ndis_packet, ndis_vmswitch_packet, pktmon_packet

pytestmark = pytest.mark.skipif(records._native_walk is None or packetrows._native_vmswitch is None,
                                reason="the ETW C extension (_records.c) was not built")

NDIS = packets.NDIS_GUID
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# -- the record chain --------------------------------------------------------------------------

def _event(payload: bytes, header32: bool = False, size: int | None = None) -> bytes:
    n = 0x50 + len(payload) if size is None else size
    hdr = EVENT_HEADER_LAYOUT.pack(n & 0xFFFF, 0x12 if header32 else 0x13, 0xC0, 0, 0, 1, 4, 0, NDIS.bytes_le, 1001,
                                   0, 0, 4, 0, 0, 0, 0, 0, bytes(16))
    return hdr + payload


def _system(payload: bytes, size: int | None = None) -> bytes:
    """A SYSTEM64 record: its size is the u16 at +4 (``records.Kind.size_at``)."""
    n = 0x20 + len(payload) if size is None else size
    return struct.pack("<HBBHH", 2, 0x02, 0xC0, n & 0xFFFF, 0x0A01) + bytes(0x18) + payload


def _buffer(records_: list[bytes]) -> bytes:
    body = b"".join(r + b"\0" * (-len(r) & 7) for r in records_)
    return bytes(BUFFER_HEADER) + body


def _both(blob: bytes, spans: list[BufferSpan]) -> None:
    native = records.walk(blob, spans)
    python = records._walk_python(blob, spans)
    assert list(native[0]) == python[0]
    assert native[1] == python[1]
    assert native[2] == python[2]


def _spans(buffers: list[bytes], caps: list[int | None], cuts: list[int]) -> tuple[bytes, list[BufferSpan]]:
    blob, spans, pos = b"", [], 0
    for k, (buf, cap, cut) in enumerate(zip(buffers, caps, cuts, strict=True)):
        end = max(pos, pos + len(buf) - cut)
        spans.append(BufferSpan(10 + k, pos, end, k, cap))
        blob += buf + b"\0" * (-len(buf) & 7)
        pos = len(blob)
    return blob + bytes(8), spans


def test_each_way_a_buffer_ends_is_told_the_same() -> None:
    good = [_event(b"x" * 5), _system(b"y" * 9), _event(b"", header32=True)]
    cases = [
        good,
        good + [b"\xff\xff\xff\xff" + bytes(12), _event(b"after the padding")],  # padding: the records end
        good + [struct.pack("<I", 0x12345678) + bytes(12)],  # an unknown marker
        good + [_event(b"", size=0x20)],  # a size under the event header's
        good + [_system(b"", size=0x10)],  # a system record under its header's
    ]
    for recs in cases:
        blob, spans = _spans([_buffer(recs)], [None], [0])
        _both(blob, spans)
    blob, spans = _spans([_buffer(good)], [None], [8])  # the last record overruns the filled bytes
    _both(blob, spans)
    assert "overruns" in records.walk(blob, spans)[2][0][2]
    blob, spans = _spans([_buffer(good * 3)], [4], [0])  # more records than the buffer may hold
    _both(blob, spans)
    assert records.walk(blob, spans)[1] == [4] and "more than 4 records" in records.walk(blob, spans)[2][0][2]
    blob, spans = _spans([_buffer(good), _buffer([]), _buffer(good[::-1])], [None, None, 2], [0, 0, 0])
    _both(blob, spans)


@SETTINGS
@given(st.lists(st.tuples(st.booleans(), st.binary(max_size=40)), min_size=1, max_size=12),
       st.lists(st.tuples(st.integers(0, 400), st.integers(0, 255)), max_size=6),
       st.one_of(st.none(), st.integers(0, 14)), st.integers(0, 24))
def test_damaged_buffers_chain_alike(recs: list[tuple[bool, bytes]], flips: list[tuple[int, int]], cap: int | None,
                                     cut: int) -> None:
    buf = bytearray(_buffer([_event(p) if ev else _system(p) for ev, p in recs]))
    for at, value in flips:  # markers, sizes and padding changed anywhere after the buffer header
        buf[BUFFER_HEADER + at % max(1, len(buf) - BUFFER_HEADER)] = value
    blob, spans = _spans([bytes(buf), bytes(buf)], [cap, None], [cut, 0])
    _both(blob, spans)


def test_a_buffer_outside_the_data_is_refused() -> None:
    with pytest.raises(ValueError, match="outside"):
        records.walk(bytes(64), [BufferSpan(1, 0, 128)])


# -- NDIS 1003 ------------------------------------------------------------------------------------

def _vmswitch_record(frame: bytes, names: tuple[str, str, str], dests: list[int], elem: int, vlan: int, ptr: int,
                     oob_words: int) -> bytes:
    utf16 = [(s + "\0").encode("utf-16-le") for s in names]
    oob = bytearray(oob_words * ptr)
    if oob_words >= 5:
        oob[4 * ptr : 5 * ptr] = ((vlan & 0xFFF) << 4).to_bytes(ptr, "little")
    payload = (struct.pack("<III", 7, 3, 12) + b"".join(utf16) + struct.pack("<I", len(dests))
               + b"".join(d.to_bytes(elem, "little") for d in dests) + struct.pack("<I", len(frame)) + frame
               + struct.pack("<I", len(oob)) + bytes(oob))
    return _event(payload, header32=ptr == 4)


def _located(recs: list[bytes], ptrs: list[int]) -> None:
    """``_records.ndis_vmswitch`` on each record against ``packets._ndis_1003``."""
    blob = b"".join(recs)
    starts = np.cumsum([0] + [len(r) for r in recs[:-1]]).astype(np.int64)
    ok, raw = packetrows._native_vmswitch(blob, starts, np.array([len(r) for r in recs], dtype=np.int64),
                                          np.array(ptrs, dtype=np.int64))
    fields = np.frombuffer(raw, dtype=np.int64).reshape(-1, 10)
    for rec, found, f, ptr in zip(recs, ok, fields, ptrs, strict=True):
        info = packets._ndis_1003(packets.KW_VMSWITCH, rec, 0x50, len(rec), ptr, detail=False)
        assert bool(found) == (info is not None)
        if info is None:
            continue
        _, lower, port, vlan, nic_type, port_name = info.iface
        assert (int(f[packetrows.V_START]), int(f[packetrows.V_LENGTH])) == (info.start, info.length)
        assert (int(f[packetrows.V_MINI]), int(f[packetrows.V_LOWER]), int(f[packetrows.V_PORT]),
                int(f[packetrows.V_VLAN])) == (info.miniport, lower, port, vlan)
        text = [rec[int(f[a]) : int(f[b])].decode("utf-16-le", "replace")
                for a, b in ((packetrows.V_NAME_AT, packetrows.V_NAME_END), (packetrows.V_TYPE_AT, packetrows.V_TYPE_END))]
        assert text == [port_name, nic_type]


@SETTINGS
@given(st.binary(max_size=80), st.lists(st.text(max_size=6), min_size=3, max_size=3),
       st.lists(st.integers(0, 2**32 - 1), max_size=3), st.sampled_from([8, 4]), st.integers(0, 4095),
       st.sampled_from([8, 4]), st.integers(0, 12), st.integers(0, 60), st.lists(st.tuples(st.integers(0, 300),
                                                                                           st.integers(0, 255)), max_size=4))
def test_switch_packet_events_are_located_alike(frame: bytes, names: list[str], dests: list[int], elem: int, vlan: int,
                                                ptr: int, oob_words: int, cut: int,
                                                flips: list[tuple[int, int]]) -> None:
    rec = bytearray(_vmswitch_record(frame, (names[0], names[1], names[2]), dests, elem, vlan, ptr, oob_words))
    for at, value in flips:  # counts, sizes and NULs changed in the payload
        rec[0x50 + at % max(1, len(rec) - 0x50)] = value
    whole = bytes(rec)
    _located([whole, whole[: max(0, len(whole) - cut)], whole[:0x5C], whole[:0x50]], [ptr] * 4)


def test_odd_names_and_the_element_size_of_the_destinations() -> None:
    recs = [
        _vmswitch_record(b"\x01" * 30, ("port", "nic", "type"), [5, 6], 8, 17, 8, 12),
        _vmswitch_record(b"\x01" * 30, ("port", "nic", "type"), [5, 6], 4, 17, 8, 12),  # 4-byte destinations
        _vmswitch_record(b"", ("", "", ""), [], 8, 0, 4, 9),
        _vmswitch_record(b"\x02" * 3, ("p" * 40, "n", "t"), [], 8, 4095, 8, 4),  # OOB too short for the VLAN
    ]
    odd = bytearray(recs[0])
    odd[0x5C + 1] = 0  # a NUL pair at an odd distance: not a terminator
    unterminated = _event(struct.pack("<III", 1, 2, 3) + "no end".encode("utf-16-le"))
    _located([*recs, bytes(odd), unterminated], [8, 8, 4, 8, 8, 8])


# -- whole traces -----------------------------------------------------------------------------------

def _open(path: Path, native: bool, monkeypatch: pytest.MonkeyPatch) -> object:
    with monkeypatch.context() as m:
        m.setattr(reader, "_start_pool", lambda: None)  # (the workers would not see the patch)
        if not native:
            m.setattr(records, "_native_walk", None)
            m.setattr(packetrows, "_native_vmswitch", None)
            m.setattr(packetrows, "_native_join", None)
        return open_trace(path, use_cache=False)


def _same_index(path: Path, monkeypatch: pytest.MonkeyPatch) -> int:
    a, b = _open(path, True, monkeypatch), _open(path, False, monkeypatch)
    for name, col in a.index.columns().items():
        assert np.array_equal(col, b.index.columns()[name]), name
    assert [repr(i) for i in a.interfaces] == [repr(i) for i in b.interfaces]
    assert [w.message for w in a.warnings] == [w.message for w in b.warnings]
    for table in ("eth_conversations", "ip_conversations", "l4_conversations"):
        assert len(getattr(a, table)) == len(getattr(b, table))
    return len(a.interfaces)


@pytest.mark.parametrize("name", ["etl/pktmon_vpn_20210601.etl", "etl/netsh_ndis_wifi_1pkt.etl",
                                  "etl/etlparser_ShutdownPerfDiagLogger.etl", "etl/perfview_gcevents.etl"])
def test_samples_index_alike(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    _same_index(sample(name), monkeypatch)


def test_switch_interfaces_are_numbered_as_the_records_come(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """1003 events located in C, and those with extended items or a name too long to encode one at
    a time, interleaved with 1001 and PktMon packets: the interfaces keep the numbers the
    one-at-a-time path gives."""
    frame = bytes.fromhex("ffffffffffff00155d0000010800") + bytes(20)
    path = tmp_path / "mixed.etl"
    w = EtlWriter(path, compressed=True)
    ts = 1_700_000_000_000_000_000
    for i in range(40):
        port = ("vm01", "vm02", "vm03")[i % 3] if i % 11 != 5 else "vm-" + "x" * 300  # (600 bytes of UTF-16)
        extended = [(1, uuid.uuid4().bytes)] if i % 7 == 3 else []
        ndis_vmswitch_packet(w, frame, miniport=1, lower=2 + i % 2, port_id=10 + i % 3, port_name=port,
                             nic_name=f"{port}-nic", nic_type="Synthetic", send=i % 2 == 0, vlan=i % 4,
                             ts_ns=ts + i, extended=extended)
        if i % 5 == 0:
            ndis_packet(w, frame, miniport=1, lower=9, send=True, ts_ns=ts + i)
        if i % 6 == 0:
            pktmon_packet(w, frame, group=i, component=5 + i % 2, send=True, ts_ns=ts + i)
    w.close()
    assert _same_index(path, monkeypatch) >= 8


# -- the batch's distinct values ------------------------------------------------------------------

@pytest.mark.parametrize("collide", [False, True])
def test_distinct_guids_are_numpys_unique_of_their_bytes(collide: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    if collide:  # every GUID one hash: the bytes decide
        monkeypatch.setattr(dictcode, "_row_hashes", lambda words: np.zeros(len(words), dtype=np.uint64))
    rng = np.random.default_rng(7)
    for trial in range(60):
        pool = rng.integers(0, 256, size=(int(rng.integers(1, 12)), 16), dtype=np.uint8)
        if trial % 2:
            pool[:, :8] = 0  # GUIDs alike in one half
        g = pool[rng.integers(0, len(pool), size=int(rng.integers(0, 300)))].reshape(-1, 16)
        want, first, inv = np.unique(g.view("V16").reshape(-1), return_index=True, return_inverse=True)
        got = records.distinct_guids(g)
        assert np.array_equal(got[0], want.view(np.uint8).reshape(-1, 16))
        assert np.array_equal(got[1], first) and np.array_equal(got[2], inv.reshape(-1))


@pytest.mark.parametrize("collide", [False, True])
def test_switch_interfaces_group_as_numpys_unique(collide: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """The switch interfaces' five int64 columns grouped as ``_vmswitch_part`` groups them."""
    if collide:  # every row one hash: the bytes decide
        monkeypatch.setattr(dictcode, "_row_hashes", lambda words: np.zeros(len(words), dtype=np.uint64))
    rng = np.random.default_rng(3)
    for size in (0, 1, 50, 2000):
        cols = np.stack([rng.integers(0, hi, size=size) for hi in (2**32, 5, 4096, 3, 2**20)], axis=1).astype(np.int64)
        first, inv = dictcode.unique_rows(cols.view(np.uint8))
        _, want_first, want_inv = np.unique(cols, axis=0, return_index=True, return_inverse=True)
        assert np.array_equal(cols[first][inv], cols)  # each row's index names a row like it
        assert sorted(first.tolist()) == sorted(want_first.tolist())  # the first of each, as many
        assert len(set(zip(inv.tolist(), want_inv.reshape(-1).tolist(), strict=True))) == len(first)


def test_packet_bytes_are_joined_alike(monkeypatch: pytest.MonkeyPatch) -> None:
    u8 = np.frombuffer(bytes(range(256)) * 4, dtype=np.uint8)
    src = np.array([0, 10, 1000, 5, 1023], dtype=np.int64)
    lens = np.array([3, 0, 24, 7, 1], dtype=np.int64)
    offset = np.concatenate(([0], np.cumsum(lens)[:-1])).astype(np.int64)
    native, join = packetrows._joined(u8, src, lens, offset), packetrows._native_join
    monkeypatch.setattr(packetrows, "_native_join", None)
    assert np.array_equal(native, packetrows._joined(u8, src, lens, offset))
    assert native.flags.writeable and len(native) == 35
    with pytest.raises(ValueError, match="outside"):
        join(u8, np.array([1020], dtype=np.int64), np.array([8], dtype=np.int64), np.empty(8, np.uint8))
