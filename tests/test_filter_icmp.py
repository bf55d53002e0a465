"""Address and port filters over ICMP: pings hold one IP header, so the index answers them; an
error message quoting the packet that caused it holds two (the quote's addresses and ports count,
as in Netmon and Wireshark), so it is decoded.  Both must select what decoding selects."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from test_dissect_synthetic import write_pcap
from tracemon.filters import compile_filter
from tracemon.traces import open_trace
from tracemon.traces.craft import checksum, ethernet, ipv4, udp

A, B, ROUTER, FAR = "10.0.0.1", "10.0.0.2", "10.0.0.9", "10.0.0.77"
MAC_A, MAC_B = "020000000001", "020000000002"


def _icmp(kind: int, code: int, rest: bytes, body: bytes) -> bytes:
    msg = struct.pack("!BBH", kind, code, 0) + rest + body
    return msg[:2] + struct.pack("!H", checksum(msg)) + msg[4:]


def _frames() -> list[bytes]:
    out = []
    for seq in range(4):  # pings both ways
        out.append(ethernet(MAC_A, MAC_B, 0x0800, ipv4(A, B, 1, _icmp(8, 0, struct.pack("!HH", 7, seq), b"x" * 32), seq)))
        out.append(ethernet(MAC_B, MAC_A, 0x0800, ipv4(B, A, 1, _icmp(0, 0, struct.pack("!HH", 7, seq), b"x" * 32), seq)))
    # a port unreachable from the router, quoting A's DNS query to FAR
    quoted = ipv4(A, FAR, 17, udp(A, FAR, 5000, 53, b"\x12\x34" + bytes(10)), 99)[:28]
    out.append(ethernet(MAC_B, MAC_A, 0x0800, ipv4(ROUTER, A, 1, _icmp(3, 3, bytes(4), quoted), 100)))
    out.append(ethernet(MAC_A, MAC_B, 0x0800, ipv4(A, FAR, 17, udp(A, FAR, 5000, 53, b"\x12\x34" + bytes(10)), 101)))
    return out


@pytest.fixture(scope="module")
def trace(tmp_path_factory: pytest.TempPathFactory):
    path = tmp_path_factory.mktemp("icmp") / "icmp.pcap"
    write_pcap(path, 1, _frames())
    return open_trace(path, use_cache=False)


@pytest.mark.parametrize("expr", [f"IPv4.Address == {B}", f"IPv4.Address == {FAR}", f"IPv4.SourceAddress == {A}",
                                  f"IPv4.DestinationAddress == {A}", f"!(IPv4.Address == {B})", "UDP.Port == 53",
                                  "IPv4.Address in 10.0.0.0/30 AND ICMP", "Ethernet.SourceAddress == 02-00-00-00-00-02"])
def test_icmp_frames_select_what_decoding_selects(trace, expr: str) -> None:
    cf = compile_filter(expr, trace=trace)
    fast = cf.evaluate(trace)
    assert fast.tolist() == cf.evaluate_by_decoding(trace).tolist(), expr
    assert cf.last_stats.decoded <= 1, (expr, cf.last_stats.decoded)  # the quoting error only


def test_the_quoted_packet_counts(trace) -> None:
    cf = compile_filter(f"IPv4.Address == {FAR}", trace=trace)
    assert np.flatnonzero(cf.evaluate(trace)).tolist() == [8, 9]  # the error (by its quote) and the query
