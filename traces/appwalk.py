"""Where the TCP payload of many frames starts, for the application field columns.

The HTTP and TLS column builders (``httpcols.py``, ``tlscols.py``) read their fields from the
TCP payload of the frames the index marks with their protocol.  This finds that payload for all
those frames at once, following the dissectors: Ethernet (one VLAN tag allowed), IPv4 (options
allowed, not a fragment; the datagram ends at TotalLength unless that is below the header
length, as TSO frames have it) or IPv6 without extension headers, then TCP (a data offset of at
least 20 that the segment holds).  It also says which dissector the payload goes to, by the
ports as ``udp.by_port`` chooses (the lower port first).

Frames outside that shape (tunnels and ICMP quotes, non-Ethernet links, ETL packet events whose
bytes are inside records) are not followed: their columns leave them to decoding.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .dissect import core as _core
from .fieldcols import rows_at
from .protocols import FLAGS, MASK

#: layers that put a second IP/TCP stack (or a quoted one) in a frame
_NESTED = ("ICMP", "ICMPv6", "GRE", "MPLS", "IPinIP", "VXLAN", "Geneve", "NVGRE", "Nested")
#: bytes read from the start of each frame for the headers (Ethernet + VLAN + IPv4 with options + TCP)
_HEAD = 18 + 60 + 60


@dataclass(slots=True)
class Payloads:
    """The frames carrying a protocol (``rows`` of the index) and, for those ``ok`` marks, where
    their TCP payload lies in the file (``start``, ``length``, the length up to the datagram's
    end or the capture's, whichever comes first) and which dissector the ports give it."""

    rows: np.ndarray
    ok: np.ndarray
    start: np.ndarray
    length: np.ndarray
    dissector: np.ndarray  # per row: the index into ``dissectors`` of its port's dissector, -1: none
    dissectors: list[Callable[..., None]]


def usable(trace: Any) -> bool:
    """Whether the trace's packet bytes are in its file as such (the builders read them there)."""
    reader = getattr(trace, "reader", None)
    if reader is None or getattr(trace, "buf", None) is None:
        return False
    return reader.packet_offsets(np.zeros(0, np.int64)) is not None


def tcp_payloads(trace: Any, protocol: str) -> Payloads:
    idx = trace.index
    protos = idx.column("protos")
    rows = np.flatnonzero((protos & np.uint64(MASK[protocol])) != 0)
    n = len(rows)
    nested = 0
    for name in _NESTED:
        nested |= (MASK[name] if name in MASK else FLAGS[name])
    links = np.array([i.link_type for i in trace.interfaces] or [0], dtype=np.int64)
    iface = idx.column("iface")[rows].astype(np.int64)
    ok = ((protos[rows] & np.uint64(nested)) == 0) & (links[np.minimum(iface, len(links) - 1)] == 1)
    ok &= (idx.column("kind")[rows] & 2) == 0
    base = np.asarray(trace.reader.packet_offsets(rows), dtype=np.int64)
    cap = idx.column("length")[rows].astype(np.int64)
    file = np.frombuffer(trace.buf, dtype=np.uint8)
    # the headers of every frame side by side (bytes past a frame's end belong to the next one:
    # every value kept is checked against the frame's captured length)
    head = rows_at(file, base, _HEAD) if n else np.zeros((0, _HEAD), dtype=np.uint8)
    flat = head.reshape(-1)
    row0 = np.arange(n, dtype=np.int64) * _HEAD

    def b(at: np.ndarray) -> np.ndarray:
        return flat[row0 + np.minimum(at, _HEAD - 1)].astype(np.int64)

    def be16(at: np.ndarray) -> np.ndarray:
        return (b(at) << 8) | b(at + 1)

    etype = be16(np.full(n, 12))
    vlan = etype == 0x8100
    etype = np.where(vlan, be16(np.full(n, 16)), etype)
    l3 = np.where(vlan, 18, 14)
    v4 = (etype == 0x0800) & (b(l3) >> 4 == 4)
    v6 = (etype == 0x86DD) & (b(l3) >> 4 == 6)
    ihl = (b(l3) & 15) * 4
    total = be16(l3 + 2)
    ok &= (v4 & (ihl >= 20) & (b(l3 + 9) == 6) & ((be16(l3 + 6) & 0x3FFF) == 0)) | (v6 & (b(l3 + 6) == 6))
    l4 = np.where(v4, l3 + ihl, l3 + 40)
    v6_len = be16(l3 + 4)
    ip_end = np.where(v4, np.where(total >= ihl, l3 + total, cap),
                      np.where(v6_len > 0, l3 + 40 + v6_len, cap))
    end = np.minimum(cap, ip_end)
    hl = (b(l4 + 12) >> 4) * 4
    ok &= (l4 + 20 <= end) & (hl >= 20) & (l4 + hl < end) & (l4 + hl <= _HEAD)
    sport, dport = be16(l4), be16(l4 + 2)
    table = _core.TCP_PORTS
    dissectors = sorted(set(table.values()), key=id)
    ids = {id(fn): k for k, fn in enumerate(dissectors)}
    by_port = np.full(65536, -1, dtype=np.int64)
    for port, fn in table.items():
        by_port[port] = ids[id(fn)]
    lo, hi = np.minimum(sport, dport), np.maximum(sport, dport)
    which = np.where(by_port[lo] >= 0, by_port[lo], by_port[hi])
    start = np.where(ok, base + l4 + hl, 0)
    length = np.where(ok, end - l4 - hl, 0)
    return Payloads(rows, ok, start, length, which, dissectors)


def claimed_by(p: Payloads, fn: Callable[..., None]) -> np.ndarray:
    """Rows whose ports give their payload to ``fn``."""
    k = next((i for i, d in enumerate(p.dissectors) if d is fn), -2)
    return p.dissector == k


def unclaimed(p: Payloads) -> np.ndarray:
    """Rows no port claims (the payload tests decide)."""
    return p.dissector < 0


def joined(buf: Any, start: np.ndarray, length: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The byte strings ``buf[start:start+length]`` one after another, and where each begins."""
    mv = memoryview(buf)
    cat = b"".join([mv[a : a + n] for a, n in zip(start.tolist(), length.tolist())])
    at = np.zeros(len(start), dtype=np.int64)
    if len(start) > 1:
        np.cumsum(length[:-1], out=at[1:])
    return np.frombuffer(cat, dtype=np.uint8), at
