"""UDP, and the well-known-port dispatch that TCP shares."""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence

from ..fields import REGISTRY, FieldType
from .core import IP_PROTOCOLS, UDP_PORTS, Ctx, Dissector, payload
from .names import port_text
from .text import new

R = REGISTRY
UDP = R.protocol("UDP", "User Datagram Protocol")
SRC_PORT = R.define("UDP.SrcPort", FieldType.UINT, "Source port")
DST_PORT = R.define("UDP.DstPort", FieldType.UINT, "Destination port")
PORT = R.define("UDP.Port", FieldType.UINT, "Source or destination port", pair=("UDP.SrcPort", "UDP.DstPort"))
TOTAL_LENGTH = R.define("UDP.TotalLength", FieldType.UINT, "Length of header and data in bytes")
CHECKSUM = R.define("UDP.Checksum", FieldType.UINT, "Checksum (0: none)")

_HEADER = struct.Struct("!HHHH")


def by_port(ctx: Ctx, table: dict[int, Dissector], sport: int, dport: int, off: int, end: int,
            heuristics: Sequence[tuple[Callable[[bytes, int, int], bool], Dissector]] = ()) -> None:
    """Hand the payload to the application dissector of the lower well-known port, else the other,
    else the first of ``heuristics`` whose test the payload passes."""
    if off >= end:
        return
    lo, hi = (sport, dport) if sport <= dport else (dport, sport)
    fn = table.get(lo) or table.get(hi)
    if fn is None:
        for test, dissector in heuristics:
            if test(ctx.data, off, end):
                fn = dissector
                break
    if fn is None:
        payload(ctx, off, end)
    else:
        ctx.call(fn, off, end)


def dissect_udp(ctx: Ctx, off: int, end: int) -> None:
    avail = end - off
    if avail < 8:
        layer = ctx.layer(UDP, "", off, max(0, avail))
        if avail >= 4:
            sport, dport = struct.unpack_from("!HH", ctx.data, off)
            layer.add(SRC_PORT, sport, off, 2)
            layer.add(DST_PORT, dport, off + 2, 2)
        if not ctx.notes.get("in_error"):
            ctx.short(layer, f"{avail} bytes, a UDP header needs 8")
        payload(ctx, off, end)
        return
    sport, dport, length, csum = _HEADER.unpack_from(ctx.data, off)
    layer = ctx.layer(UDP, f"SrcPort = {port_text(sport)}, DstPort = {port_text(dport)}, Length = {length}", off, 8)
    layer.fields += (new(SRC_PORT, sport, str(sport), off, 2), new(DST_PORT, dport, str(dport), off + 2, 2),
                     new(TOTAL_LENGTH, length, str(length), off + 4, 2),
                     new(CHECKSUM, csum, f"0x{csum:04X}", off + 6, 2))
    if length < 8:
        if length != 0:  # 0 is legal for IPv6 jumbograms
            ctx.malformed(layer, f"length {length} is less than the 8-byte header")
    elif off + length < end:
        end = off + length
    by_port(ctx, UDP_PORTS, sport, dport, off + 8, end)


IP_PROTOCOLS[17] = dissect_udp
