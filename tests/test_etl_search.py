"""``contains`` and ``ContainsBin`` over ETL traces search the records in bulk (``etw/search.py``)
and give what decoding every event gives: events whose record is their FrameData, packets inside
records, packets assembled from several events, 802.11 packets whose Protected bit the reader
clears, in compressed and plain buffers."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
from tracemon.filters import compile_filter, preds
from tracemon.traces import open_trace
from tracemon.traces.etw import writer as W

SW = ("SW-GUID-1", "Contoso Switch")
NIC1 = ("NIC-GUID-1", "vm03 Network Adapter")
NIC2 = ("NIC-GUID-2", "vm04 Network Adapter")
MAC = bytes.fromhex("00155d010203")


def udp_frame(i: int, body: bytes) -> bytes:
    ip = bytes([0x45, 0, 0, 28 + len(body), 0, i & 255, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2])
    return (MAC + bytes.fromhex("00155d040506" "0800") + ip + struct.pack(">HHHH", 50000 + i, 53, 8 + len(body), 0)
            + body)


def wifi_frame(body: bytes) -> bytes:
    """An 802.11 data frame with the Protected bit set (0x41), as ndiscap logs decrypted frames."""
    return b"\x08\x41\x2c\x00" + MAC * 3 + b"\x10\x00" + b"\xaa\xaa\x03\x00\x00\x00\x08\x00" + body


@pytest.fixture(scope="module", params=[False, True], ids=["plain", "compressed"])
def trace_path(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("search") / "search.etl"
    with W.EtlWriter(path, compressed=request.param, buffer_size=4096, cpus=2) as w:
        t0 = w.start_ns
        W.vms_switch(w, 9, SW, ts_ns=t0 + 100)
        for i in range(120):
            t = t0 + 10_000 + i * 5_000
            body = b"hello Microsoft" if i % 7 == 0 else b"HELLO microsoft, again" if i % 13 == 0 else b"plain"
            W.vms_nbl(w, W.VM_NBL_RECEIVE, NIC1 if i % 2 else NIC2, SW, 0xFFFF_A000_0000_0000 + i, ts_ns=t,
                      cpu=i % 2)
            W.ndis_packet(w, udp_frame(i, body), miniport=6, lower=6, send=bool(i & 1), ts_ns=t + 100, cpu=i % 2,
                          fragments=3 if i % 11 == 0 else 1)
            if i % 10 == 0:
                W.ndis_packet(w, wifi_frame(body), miniport=7, lower=7, send=False, medium="wifi", ts_ns=t + 200,
                              cpu=i % 2)
    return path


EXPRESSIONS = [
    'contains "Microsoft"',  # any case, UTF-8 and UTF-16: the VmSwitch names are UTF-16
    'ContainsBin(FrameData, ASCII, "Microsoft")',
    'ContainsBin(FrameData, UNICODE, "vm03")',
    'contains "vm04 network"',
    'ContainsBin(FrameData, HEX, "08012c00")',  # the 802.11 header as shown: Protected cleared
    'ContainsBin(FrameData, HEX, "08412c00")',  # as the record holds it: not in any FrameData
    'ContainsBin(FrameData, HEX, "0035")',  # the port: crosses fragment boundaries of assembled packets
    'contains "plain" AND NetEvent.Header.Descriptor.Id == 1001',
    'contains $[00155d01]',
]


@pytest.mark.parametrize("expr", EXPRESSIONS)
def test_bulk_search_is_decoding_every_event(trace_path: Path, expr: str, monkeypatch: pytest.MonkeyPatch) -> None:
    trace = open_trace(trace_path, use_cache=False)
    cf = compile_filter(expr, trace=trace)
    got = cf.evaluate(trace)
    decoded = cf.last_stats.decoded
    with monkeypatch.context() as m:
        m.setattr(preds, "_buffer_search", lambda *a, **k: None)
        cf2 = compile_filter(expr, trace=trace)
        want = cf2.evaluate(trace)
        assert cf2.last_stats.decoded > 0
    assert got.tolist() == want.tolist()
    # only packets whose record holds a needle are decoded (and the packets assembled from several
    # events, and 802.11 packets whose record holds a needle with the Protected bit put back)
    packets = int(np.count_nonzero(trace.index.column("kind") & 1))
    assert decoded < packets


def test_the_search_decodes_only_what_the_records_cannot_tell(trace_path: Path) -> None:
    trace = open_trace(trace_path, use_cache=False)
    cf = compile_filter('ContainsBin(FrameData, UNICODE, "vm03")', trace=trace)
    got = cf.evaluate(trace)
    # the RECEIVE events on NIC1 match; only the 11 packets assembled from 3 events each are decoded
    assert got.sum() == 60 and cf.last_stats.decoded == 11
    wifi = compile_filter('ContainsBin(FrameData, HEX, "08012c00")', trace=trace)
    # found only by decoding: the 12 802.11 packets (and the 11 assembled ones again)
    assert wifi.evaluate(trace).sum() == 12 and wifi.last_stats.decoded == 12 + 11
    none = compile_filter('ContainsBin(FrameData, HEX, "08412c00")', trace=trace)
    assert none.evaluate(trace).sum() == 0
