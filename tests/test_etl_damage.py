"""Damaged ETL files: every problem is reported with its buffer and offset, what came before is kept."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from conftest import samples
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tracemon.traces import TraceError, open_trace
from tracemon.traces.etw import writer as W

SW = ("SW-GUID", "External")
NIC = ("NIC-GUID", "web01 Network Adapter")


def _write(path: Path, *, compressed: bool, n: int = 200, cpus: int = 2) -> Path:
    with W.EtlWriter(path, compressed=compressed, buffer_size=2048, cpus=cpus) as w:
        for i in range(n):
            W.vms_nbl(w, W.VM_NBL_RECEIVE, NIC, SW, 0x1000 + i, ts_ns=w.start_ns + 1000 * (i + 1), cpu=i % cpus)
    return path


def buffer_chain(data: bytes) -> list[tuple[int, int, int, int]]:
    """(file offset, BufferSize, FilledBytes, flags) of every buffer, read here without the reader."""
    out, off = [], 0
    while off + 0x48 <= len(data):
        size, = struct.unpack_from("<I", data, off)
        filled, flags = struct.unpack_from("<IH", data, off + 0x30)
        if size == 0:
            break
        out.append((off, size, filled, flags))
        off += size
    return out


def _buffers(path: Path) -> list[tuple[int, int, int, int]]:
    return buffer_chain(path.read_bytes())


def _patch(path: Path, off: int, value: bytes) -> None:
    data = bytearray(path.read_bytes())
    data[off : off + len(value)] = value
    path.write_bytes(bytes(data))


def _open(path: Path):
    return open_trace(path, use_cache=False)


def test_truncated_file_keeps_the_complete_buffers(tmp_path: Path) -> None:
    p = _write(tmp_path / "t.etl", compressed=False)
    whole = len(_open(p))
    bufs = _buffers(p)
    cut = bufs[-1][0] + 300
    p.write_bytes(p.read_bytes()[:cut])
    with _open(p) as tr:
        assert 0 < len(tr) < whole
        w = [x for x in tr.warnings if "past the end" in x.cause]
        assert w and w[0].offset == bufs[-1][0] and f"buffer {len(bufs) - 1}" in w[0].cause


def test_buffer_size_zero_stops_the_chain_with_a_warning(tmp_path: Path) -> None:
    p = _write(tmp_path / "z.etl", compressed=True)
    bufs = _buffers(p)
    k = 3
    _patch(p, bufs[k][0], b"\0\0\0\0")
    with _open(p) as tr:
        w = [x for x in tr.warnings if f"buffer {k}:" in x.cause]
        assert w and w[0].offset == bufs[k][0] and "buffer size 0" in w[0].cause
        assert w[0].frames_kept == len(tr) > 0


def test_buffer_size_past_the_end(tmp_path: Path) -> None:
    p = _write(tmp_path / "e.etl", compressed=False)
    bufs = _buffers(p)
    _patch(p, bufs[2][0], struct.pack("<I", 1 << 30))
    with _open(p) as tr:
        w = [x for x in tr.warnings if "runs past the end" in x.cause]
        assert w and w[0].offset == bufs[2][0]
        assert len(tr) > 0


def test_record_overrunning_its_buffer_skips_the_rest_of_that_buffer_only(tmp_path: Path) -> None:
    p = _write(tmp_path / "r.etl", compressed=False)
    whole = len(_open(p))
    bufs = _buffers(p)
    off = bufs[1][0] + 0x48 + 0x50 * 0  # first record of buffer 1 (records are 8-aligned)
    rec_size, = struct.unpack_from("<H", p.read_bytes(), off)
    second = off + ((rec_size + 7) & ~7)
    _patch(p, second, struct.pack("<H", 0xFFF0))
    with _open(p) as tr:
        w = [x for x in tr.warnings if "overruns" in x.cause]
        assert len(w) == 1 and "buffer 1 " in w[0].cause and f"offset {second - bufs[1][0]}" in w[0].cause
        lost = (bufs[1][2] - (second - bufs[1][0])) // ((rec_size + 7) & ~7)
        assert len(tr) == whole - lost  # the other buffers are all there


def test_unknown_header_type(tmp_path: Path) -> None:
    p = _write(tmp_path / "u.etl", compressed=False)
    bufs = _buffers(p)
    _patch(p, bufs[2][0] + 0x48 + 2, b"\x77")
    with _open(p) as tr:
        w = [x for x in tr.warnings if "unknown record header" in x.cause]
        assert len(w) == 1 and "buffer 2 " in w[0].cause and "offset 72" in w[0].cause
        assert len(tr) > 0


def test_corrupt_compressed_buffer(tmp_path: Path) -> None:
    p = _write(tmp_path / "c.etl", compressed=True)
    whole = len(_open(p))
    bufs = _buffers(p)
    k = 2
    assert bufs[k][3] & 0x40
    # a match reaching before the start of the output, right at the beginning of the stream
    _patch(p, bufs[k][0] + 0x48, struct.pack("<IH", 0xFFFFFFFF, 0xFFF8))
    with _open(p) as tr:
        w = [x for x in tr.warnings if "does not inflate" in x.cause]
        assert len(w) == 1 and f"buffer {k} " in w[0].cause and w[0].offset == bufs[k][0]
        assert 0 < len(tr) < whole
        for i in range(len(tr)):  # every kept row still decodes
            tr.frame(i)


def test_compressed_buffer_filled_below_its_header(tmp_path: Path) -> None:
    p = _write(tmp_path / "f.etl", compressed=True)
    whole = len(_open(p))
    bufs = _buffers(p)
    k = 2
    assert bufs[k][3] & 0x40
    _patch(p, bufs[k][0] + 0x30, struct.pack("<I", 0x10))  # FilledBytes 16 < the 0x48-byte header
    with _open(p) as tr:
        w = [x for x in tr.warnings if "does not inflate" in x.cause]
        assert len(w) == 1 and f"buffer {k} " in w[0].cause and "out of range" in w[0].cause
        assert 0 < len(tr) < whole


@pytest.mark.parametrize("ext_type", range(1, 19))
def test_extended_items_shorter_than_their_type_still_show(tmp_path: Path, ext_type: int) -> None:
    p = tmp_path / "x.etl"
    with W.EtlWriter(p, compressed=False, buffer_size=2048, cpus=1) as w:
        for size in (0, 4, 8, 12, 15):
            W.vms_nbl(w, W.VM_NBL_RECEIVE, NIC, SW, 0x1000, ts_ns=w.start_ns + 1000 * (size + 1),
                      extended=[(ext_type, bytes(range(size)))])
    with _open(p) as tr:
        assert len(tr) == 6 and not tr.warnings
        for i in range(1, len(tr)):
            frame = tr.frame(i)
            items = [f for f in frame.layers[1].fields if f.label.startswith("ExtendedData (")]
            assert len(items) == 1


def test_a_new_provider_guid_in_every_record_stops_at_the_provider_limit(tmp_path: Path) -> None:
    import uuid

    from tracemon.traces.etw.reader import MAX_PROVIDERS

    p = tmp_path / "g.etl"
    n = MAX_PROVIDERS + 500
    with W.EtlWriter(p, compressed=False, buffer_size=64 * 1024, cpus=1) as w:
        for i in range(n):
            w.event(uuid.UUID(int=i * 7919 + 12345), 1, b"x", ts_ns=w.start_ns + i + 1)
    with _open(p) as tr:
        assert len(tr) == n + 1  # every record is indexed
        w = [x for x in tr.warnings if "distinct provider GUIDs" in x.cause]
        assert len(w) == 1
        assert len(tr.providers) == MAX_PROVIDERS + 1  # code 0 = no provider
        assert int(tr.index.provider.max()) == MAX_PROVIDERS
        assert int((tr.index.provider == 0).sum()) == n + 1 - MAX_PROVIDERS
        assert tr.frame(len(tr) - 1).description.startswith("ETW_")  # still decoded by its GUID


def test_packets_beyond_the_interface_limit_stay_events(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import numpy as np
    from tracemon.traces.etw import reader
    from tracemon.traces.index import KIND_PACKET

    monkeypatch.setattr(reader, "MAX_INTERFACES", 8)
    p = tmp_path / "i.etl"
    frame = bytes.fromhex("00155d010203" "00155d040506" "0806") + bytes(28)
    with W.EtlWriter(p, compressed=False, buffer_size=64 * 1024, cpus=1) as w:
        for i in range(20):  # a new LowerIfIndex in every packet event
            W.ndis_packet(w, frame, miniport=7, lower=100 + i, send=True, ts_ns=w.start_ns + i + 1)
    with _open(p) as tr:
        assert len(tr) == 21 and len(tr.interfaces) == 8
        packets = np.flatnonzero(tr.index.kind & KIND_PACKET)
        assert len(packets) == 8 and sorted(int(tr.index.iface[r]) for r in packets) == list(range(8))
        assert len([x for x in tr.warnings if "more than 8 interfaces" in x.cause]) == 1
        for i in range(len(tr)):
            tr.frame(i)


def test_not_an_etl_or_cut_in_the_header(tmp_path: Path) -> None:
    p = _write(tmp_path / "h.etl", compressed=False)
    p.write_bytes(p.read_bytes()[:200])
    with pytest.raises(TraceError):
        _open(p)


# -- fuzz: mutated samples never crash or hang ------------------------------------------------------------
SMALL = [p for p in samples("etl", ".etl") if p.stat().st_size <= 130_000]


@pytest.mark.skipif(not SMALL, reason="no small ETL samples")
@settings(max_examples=60, deadline=5000, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzz_mutated_samples(tmp_path_factory: pytest.TempPathFactory, data: st.DataObject) -> None:
    src = data.draw(st.sampled_from(SMALL), label="sample")
    raw = bytearray(src.read_bytes())
    for _ in range(data.draw(st.integers(1, 12), label="mutations")):
        kind = data.draw(st.sampled_from(["byte", "u32", "cut"]))
        pos = data.draw(st.integers(0, len(raw) - 5))
        if kind == "byte":
            raw[pos] = data.draw(st.integers(0, 255))
        elif kind == "u32":
            raw[pos : pos + 4] = struct.pack("<I", data.draw(st.sampled_from([0, 0x48, 0xFFFF, 0xFFFFFFFF, 1 << 20])))
        else:
            del raw[max(pos, 0x200) :]
    p = tmp_path_factory.mktemp("fuzz") / src.name
    p.write_bytes(bytes(raw))
    try:
        tr = _open(p)
    except TraceError:
        return
    with tr:
        for i in list(range(min(len(tr), 20))) + list(range(max(0, len(tr) - 5), len(tr))):
            try:
                tr.frame(i)
            except TraceError:
                pass


@pytest.mark.parametrize("cut", range(0x178, 0x180))
def test_a_log_header_cut_inside_its_last_fields_is_a_trace_error(tmp_path: Path, cut: int) -> None:
    """Sizes between the first size check and the end of the header's tail fields raised
    struct.error (found by the hostile-files fuzz test)."""
    p = _write(tmp_path / "t.etl", compressed=False, n=4)
    p.write_bytes(p.read_bytes()[:cut])
    with pytest.raises(TraceError):
        open_trace(p, use_cache=False)
