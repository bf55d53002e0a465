"""The ETL writer: dissect.etl (an independent reader, test oracle only) reads what it writes."""

from __future__ import annotations

import struct
import uuid
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from tracemon.traces import open_trace
from tracemon.traces.etw import writer as W
from tracemon.traces.etw.packets import NDIS_GUID, VMSWITCH_GUID
from tracemon.traces.etw.xpress import compress, decompress
from tracemon.traces.index import KIND_PACKET

etl = pytest.importorskip("dissect.etl")

SW = ("7A3C1F02-5B4E-4D6A-9C8B-112233445566", "External")
NIC1 = ("0B1C2D3E-4F50-6172-8394-A5B6C7D8E9F0--4E5F6A7B-8C9D-0E1F-2A3B-4C5D6E7F8091", "Network Adapter")
NIC2 = ("1C2D3E4F-5061-7283-94A5-B6C7D8E9F0A1--5F6A7B8C-9D0E-1F2A-3B4C-5D6E7F809102", "Network Adapter")


def udp_frame(i: int) -> bytes:
    ip = bytes([0x45, 0, 0, 28, 0, i & 255, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2])
    return bytes.fromhex("00155d010203" "00155d040506" "0800") + ip + struct.pack(">HHHH", 50000 + i % 100, 53, 8, 0)


def write_sample(path: Path, *, compressed: bool, header32: bool = False, cpus: int = 3, n: int = 300,
                 perf_freq: int = 10_000_000) -> W.EtlWriter:
    with W.EtlWriter(path, compressed=compressed, buffer_size=4096, cpus=cpus, perf_freq=perf_freq) as w:
        t0 = w.start_ns
        W.vms_switch(w, 9, SW, ts_ns=t0 + 100)
        W.vms_port(w, 67, ("PORT-A", "Dynamic Ethernet Switch Port"), SW, ts_ns=t0 + 200)
        W.vms_nic_port(w, 232, NIC1, ("PORT-A", "Dynamic Ethernet Switch Port"), SW, ts_ns=t0 + 300)
        W.vms_vm(w, "web01", "4E5F6A7B-8C9D-0E1F-2A3B-4C5D6E7F8091", ts_ns=t0 + 400)
        for i in range(n):
            t = t0 + 10_000 + i * 7_300
            cpu = i % cpus
            W.vms_nbl(w, W.VM_NBL_RECEIVE, NIC1, SW, 0xFFFF_A000_1234_5600 + 0x100 * i, ts_ns=t, cpu=cpu,
                      header32=header32)
            W.vms_route(w, NIC1, NIC2, SW, 0xFFFF_A000_1234_5600 + 0x100 * i, ts_ns=t + 100, cpu=cpu, header32=header32)
            W.vms_nbl(w, W.VM_NBL_DELIVER, NIC2, SW, 0xFFFF_A000_1234_5600 + 0x100 * i, ts_ns=t + 200, cpu=cpu,
                      header32=header32)
            W.ndis_packet(w, udp_frame(i), miniport=6, lower=6, send=bool(i & 1), ts_ns=t + 300, cpu=cpu,
                          fragments=2 if i % 11 == 0 else 1)
            W.ndis_vmswitch_packet(w, udp_frame(i), miniport=6, lower=9, port_id=17, port_name="PORT-A",
                                   nic_name=NIC1[1], nic_type="Synthetic", send=False, destinations=[3],
                                   vlan=42, ts_ns=t + 400, cpu=(cpu + 1) % cpus, header32=header32)
            if i % 50 == 49:
                W.vms_drop(w, W.VM_NBL_INCOMING_DROP, NIC2, SW, 0xC0000001, ts_ns=t + 500, cpu=cpu)
    return w


def dissect_counts(path: Path) -> Counter[str]:
    out: Counter[str] = Counter()
    with open(path, "rb") as f:
        for rec in etl.ETL(f):
            h = rec.header
            name = type(h).__name__
            if name == "EventHeader":
                # dissect.etl reads EVENT_HEADER GUIDs big-endian (ETW.md §2.1): undo that
                guid = uuid.UUID(bytes_le=h.provider_id.bytes)
                out[f"{guid} id={h.header.Id}"] += 1
            else:
                out[f"{name}"] += 1
    return out


def our_counts(path: Path) -> Counter[str]:
    out: Counter[str] = Counter()
    with open_trace(path, use_cache=False) as tr:
        for i in range(len(tr)):
            rec = tr.reader.record(i)
            if rec.kind_name.startswith("SYSTEM"):
                out["SystemHeader"] += 1
            else:
                out[f"{rec.provider} id={rec.event_id}"] += 1
    return out


@pytest.mark.parametrize("compressed", [False, True], ids=["plain", "compressed"])
@pytest.mark.parametrize("header32", [False, True], ids=["64bit", "32bit"])
def test_dissect_etl_reads_what_we_write(tmp_path: Path, compressed: bool, header32: bool) -> None:
    path = tmp_path / "w.etl"
    w = write_sample(path, compressed=compressed, header32=header32)
    theirs = dissect_counts(path)
    assert sum(theirs.values()) == w.events + 1  # + the log header event
    assert theirs == our_counts(path)
    assert theirs[f"{VMSWITCH_GUID} id=57"] == 300


def test_compressed_and_plain_files_index_alike(tmp_path: Path) -> None:
    write_sample(tmp_path / "a.etl", compressed=False)
    write_sample(tmp_path / "b.etl", compressed=True)
    with open_trace(tmp_path / "a.etl", use_cache=False) as a, open_trace(tmp_path / "b.etl", use_cache=False) as b:
        assert b.facts["compressed_buffers"] > 0
        assert len(a) == len(b)
        for col in ("ts", "provider", "event_id", "kind", "iface", "dirflags", "protos", "l4_conv", "pid", "length"):
            assert np.array_equal(getattr(a.index, col), getattr(b.index, col)), col
        assert [i.name for i in a.interfaces] == [i.name for i in b.interfaces]
        assert a.raw(len(a) - 1) == b.raw(len(b) - 1)


def test_timestamps_survive_a_qpc_clock(tmp_path: Path) -> None:
    path = tmp_path / "q.etl"
    w = write_sample(path, compressed=False, perf_freq=3_579_545, n=40)
    with open_trace(path, use_cache=False) as tr:
        ts = tr.index.ts
        assert int(ts[0]) == w.start_ns  # the log header event
        # every event was written at t0 + 100 ns steps; a 3.58 MHz clock keeps them within a tick
        tick = 1_000_000_000 / 3_579_545
        want = sorted([w.start_ns + d for d in (100, 200, 300, 400)]
                      + [w.start_ns + 10_000 + i * 7_300 + k * 100 for i in range(40) for k in range(5)]
                      + [w.start_ns + 10_000 + i * 7_300 + 300 for i in range(40) if i % 11 == 0])
        assert len(want) == len(ts) - 1
        assert np.max(np.abs(ts[1:] - np.array(want))) <= tick + 100


def test_events_decode_back_to_what_was_written(tmp_path: Path) -> None:
    path = tmp_path / "r.etl"
    write_sample(path, compressed=True, header32=True, n=12)
    with open_trace(path, use_cache=False) as tr:
        recs = [tr.reader.record(i) for i in range(len(tr))]
        route = next(r for r in recs if r.provider == VMSWITCH_GUID and r.event_id == W.VM_NBL_ROUTE)
        assert route.pointer_size == 4 and route.kind_name == "EVENT_HEADER32"
        p = route.payload
        n = struct.unpack_from("<I", p)[0]
        assert p[4 : 4 + 2 * n].decode("utf-16-le") == NIC1[0]
        assert struct.unpack_from("<I", p, len(p) - 4)[0] == 0x1234_5600  # the low half of the pointer
        pkt_rows = np.flatnonzero(tr.index.kind & KIND_PACKET)
        frames = [tr.frame(int(r)) for r in pkt_rows]
        ndis = [f for f in frames if f.meta.get("SourcePortId") is None]
        assert all(f.data == udp_frame(0)[:12] + f.data[12:] for f in ndis)
        multi = [f for f in ndis if f.meta.get("Fragments") == 2]
        assert len(multi) == 2  # i = 0 and 11 were split over two events
        assert {f.data for f in multi} == {udp_frame(0), udp_frame(11)}
        vnic = [f for f in frames if f.meta.get("SourcePortId") == 17]
        assert vnic and all(f.meta["VlanId"] == 42 for f in vnic)
        assert tr.interfaces[vnic[0].interface].name == "vNIC:Synthetic:PORT-A:9:42"
        assert any(r.provider == NDIS_GUID for r in recs)


def test_compressor_round_trips() -> None:
    rng = np.random.default_rng(7)
    cases = [b"", b"a", b"abc" * 1000, bytes(70000), rng.integers(0, 256, 5000, dtype=np.uint8).tobytes(),
             (b"x" * 300 + rng.integers(0, 4, 3000, dtype=np.uint8).tobytes()) * 5]
    for data in cases:
        assert decompress(compress(data), len(data)) == data
