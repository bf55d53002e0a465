"""ICMP (IPv4): echo, timestamps, address masks and the error messages with the packet they quote.

Error messages quote the offending IPv4 header and the first bytes of its payload; like tshark
we dissect that quote as IPv4 + TCP/UDP layers (so ``IPv4.SourceAddress`` has two values in such
a frame) while the frame's Protocol Name and Description stay ICMP's.
"""

from __future__ import annotations

import struct

from ..fields import REGISTRY, FieldDef, FieldType
from ..frame import Layer, ipv4_text
from .core import IP_PROTOCOLS, Ctx, Dissector, payload
from .ipv4 import dissect_ipv4
from .text import new

R = REGISTRY
TYPE_NAMES = {
    0: "Echo Reply", 3: "Destination Unreachable", 4: "Source Quench", 5: "Redirect", 8: "Echo Request",
    9: "Router Advertisement", 10: "Router Solicitation", 11: "Time Exceeded", 12: "Parameter Problem",
    13: "Timestamp Request", 14: "Timestamp Reply", 15: "Information Request", 16: "Information Reply",
    17: "Address Mask Request", 18: "Address Mask Reply",
}
UNREACHABLE_CODES = {
    0: "Network Unreachable", 1: "Host Unreachable", 2: "Protocol Unreachable", 3: "Port Unreachable",
    4: "Fragmentation Needed and DF Set", 5: "Source Route Failed", 6: "Destination Network Unknown",
    7: "Destination Host Unknown", 8: "Source Host Isolated", 9: "Network Administratively Prohibited",
    10: "Host Administratively Prohibited", 11: "Network Unreachable for TOS", 12: "Host Unreachable for TOS",
    13: "Communication Administratively Prohibited", 14: "Host Precedence Violation",
    15: "Precedence Cutoff in Effect",
}
CODE_NAMES = {
    3: UNREACHABLE_CODES,
    5: {0: "Redirect for Network", 1: "Redirect for Host", 2: "Redirect for TOS and Network",
        3: "Redirect for TOS and Host"},
    11: {0: "Time to Live Exceeded in Transit", 1: "Fragment Reassembly Time Exceeded"},
    12: {0: "Pointer Indicates the Error", 1: "Missing a Required Option", 2: "Bad Length"},
}
ERROR_TYPES = frozenset((3, 4, 5, 11, 12))

ICMP = R.protocol("ICMP", "Internet Control Message Protocol")
TYPE = R.define("ICMP.Type", FieldType.UINT, "Message type", enum=TYPE_NAMES)
CODE = R.define("ICMP.Code", FieldType.UINT, "Message code (meaning depends on the type)")
CHECKSUM = R.define("ICMP.Checksum", FieldType.UINT, "Checksum of the ICMP message")
IDENTIFIER = R.define("ICMP.Identifier", FieldType.UINT, "Echo/timestamp identifier")
SEQUENCE = R.define("ICMP.SequenceNumber", FieldType.UINT, "Echo/timestamp sequence number")
UNUSED = R.define("ICMP.Unused", FieldType.UINT, "Unused word of an error message")
NEXT_HOP_MTU = R.define("ICMP.NextHopMTU", FieldType.UINT, "MTU of the next hop (Fragmentation Needed)")
GATEWAY = R.define("ICMP.GatewayAddress", FieldType.IPV4, "Gateway to use instead (Redirect)")
POINTER = R.define("ICMP.Pointer", FieldType.UINT, "Offset of the bad byte (Parameter Problem)")
ORIGINATE = R.define("ICMP.OriginateTimestamp", FieldType.UINT, "Originate timestamp (ms since midnight UT)")
RECEIVE = R.define("ICMP.ReceiveTimestamp", FieldType.UINT, "Receive timestamp (ms since midnight UT)")
TRANSMIT = R.define("ICMP.TransmitTimestamp", FieldType.UINT, "Transmit timestamp (ms since midnight UT)")
ADDRESS_MASK = R.define("ICMP.AddressMask", FieldType.IPV4, "Address mask")
ERROR_PACKET = R.define("ICMP.ErrorPacket", FieldType.PROTOCOL,
                        "The quoted IPv4 packet of an error message (dissected as layers after ICMP)")

_HEAD = struct.Struct("!BBH")
_WORDS = struct.Struct("!HH")
_TS = struct.Struct("!III")


def quoted_packet(ctx: Ctx, layer: Layer, node: FieldDef, dissector: Dissector, version: int, header: int,
                  off: int, end: int) -> None:
    """The packet an error message quotes at ``off:end``: dissected as layers under a ``node``
    field of the error's layer when it starts with an IPv``version`` header of ``header`` bytes,
    else payload.  The error stays the frame's Protocol Name."""
    if end - off < header or ctx.data[off] >> 4 != version:
        payload(ctx, off, end)
        return
    layer.add(node, True, off, end - off, display=f"{end - off} bytes")
    name, desc = ctx.protocol_name, ctx.description
    notes = ctx.notes
    notes["in_error"] = int(notes.get("in_error", 0)) + 1  # type: ignore[call-overload]
    try:
        ctx.call(dissector, off, end)
    finally:
        notes["in_error"] = int(notes["in_error"]) - 1  # type: ignore[call-overload]
    ctx.protocol_name, ctx.description = name, desc


def dissect_icmp(ctx: Ctx, off: int, end: int) -> None:
    d = ctx.data
    avail = end - off
    if avail < 4:
        ctx.header_missing(ICMP, off, end, f"{avail} bytes, an ICMP header needs 4", short=True)
        return
    typ, code, csum = _HEAD.unpack_from(d, off)
    layer = ctx.layer(ICMP, "", off, min(8, avail))
    add = layer.add
    type_name = TYPE_NAMES.get(typ)
    code_name = CODE_NAMES.get(typ, {}).get(code)
    layer.fields += (new(TYPE, typ, f"{typ} ({type_name})" if type_name else str(typ), off, 1),
                     new(CODE, code, f"{code} ({code_name})" if code_name else str(code), off + 1, 1),
                     new(CHECKSUM, csum, f"0x{csum:04X}", off + 2, 2))
    kind = type_name or f"Type {typ}"
    src, dst = ctx.notes.get("ip_src", "?"), ctx.notes.get("ip_dst", "?")
    summary = f"{kind} Message"
    if avail < 8:
        ctx.set_summary(layer, summary)
        ctx.short(layer, f"{avail} bytes, this message needs at least 8")
        payload(ctx, off + 4, end)
        return
    body = off + 8
    if typ in (0, 8, 13, 14, 15, 16, 17, 18):
        ident, seq = _WORDS.unpack_from(d, off + 4)
        layer.fields += (new(IDENTIFIER, ident, f"0x{ident:04X} ({ident})", off + 4, 2),
                         new(SEQUENCE, seq, f"0x{seq:04X} ({seq})", off + 6, 2))
        if typ in (13, 14) and avail >= 20:
            o, r, t = _TS.unpack_from(d, body)
            add(ORIGINATE, o, body, 4)
            add(RECEIVE, r, body + 4, 4)
            add(TRANSMIT, t, body + 8, 4)
            layer.length = 20
            body += 12
        elif typ in (17, 18) and avail >= 12:
            add(ADDRESS_MASK, int.from_bytes(d[body : body + 4], "big"), body, 4)
            layer.length = 12
            body += 4
        ctx.set_summary(layer, f"{summary}, From {src} To {dst}")
        payload(ctx, body, end)
        return
    if typ not in ERROR_TYPES:
        ctx.set_summary(layer, f"{summary}, From {src} To {dst}")
        payload(ctx, off + 4, end)
        layer.length = 4
        return
    if typ == 5:
        gw = int.from_bytes(d[off + 4 : off + 8], "big")
        add(GATEWAY, gw, off + 4, 4)
        summary += f", {code_name or code}, Gateway = {ipv4_text(gw)}"
    elif typ == 12:
        add(POINTER, d[off + 4], off + 4, 1)
        summary += f", {code_name or code}, Pointer = {d[off + 4]}"
    elif typ == 3 and code == 4:
        mtu = int.from_bytes(d[off + 6 : off + 8], "big")
        add(NEXT_HOP_MTU, mtu, off + 6, 2)
        summary += f", {code_name}, Next-Hop MTU = {mtu}"
    else:
        add(UNUSED, int.from_bytes(d[off + 4 : off + 8], "big"), off + 4, 4)
        summary += f", {code_name or code}"
    ctx.set_summary(layer, f"{summary}, From {src} To {dst}")
    quoted_packet(ctx, layer, ERROR_PACKET, dissect_ipv4, 4, 20, body, end)


IP_PROTOCOLS[1] = dissect_icmp
