"""IPv6: fixed header and the extension header chain (hop-by-hop, routing, fragment,
destination options, AH), shown inside the IPv6 layer as Netmon does.

As for IPv4, only the first fragment is dissected further; later ones are a ``Fragment`` payload.
"""

from __future__ import annotations

import struct

from ..fields import REGISTRY, FieldType
from ..frame import Field, Layer
from .core import ADDR_IP, ETHER_TYPES, IP_PROTOCOLS, Ctx, payload
from .names import IP_PROTOCOL_NAMES, ip_protocol_text
from .text import ip6_text, new

R = REGISTRY
IPV6 = R.protocol("IPv6", "Internet Protocol version 6")
VERSION = R.define("IPv6.Version", FieldType.UINT, "IP version (6)")
TRAFFIC_CLASS = R.define("IPv6.TrafficClass", FieldType.UINT, "Traffic class (DSCP and ECN)")
FLOW_LABEL = R.define("IPv6.FlowLabel", FieldType.UINT, "Flow label")
PAYLOAD_LENGTH = R.define("IPv6.PayloadLength", FieldType.UINT, "Bytes after the fixed 40-byte header")
NEXT_PROTOCOL = R.define("IPv6.NextProtocol", FieldType.UINT, "Next header after the fixed header",
                         enum=IP_PROTOCOL_NAMES)
HOP_LIMIT = R.define("IPv6.HopLimit", FieldType.UINT, "Hop limit")
SOURCE = R.define("IPv6.SourceAddress", FieldType.IPV6, "Source address")
DESTINATION = R.define("IPv6.DestinationAddress", FieldType.IPV6, "Destination address")
ADDRESS = R.define("IPv6.Address", FieldType.IPV6, "Source or destination address",
                   pair=("IPv6.SourceAddress", "IPv6.DestinationAddress"))

# extension headers: a node per header, with its own Next Header and length
HOP_BY_HOP = R.define("IPv6.HopByHopOptions", FieldType.PROTOCOL, "Hop-by-hop options header")
DEST_OPTIONS = R.define("IPv6.DestinationOptions", FieldType.PROTOCOL, "Destination options header")
ROUTING = R.define("IPv6.RoutingHeader", FieldType.PROTOCOL, "Routing header")
FRAGMENT = R.define("IPv6.FragmentHeader", FieldType.PROTOCOL, "Fragment header")
AUTH = R.define("IPv6.AuthenticationHeader", FieldType.PROTOCOL, "IPsec authentication header (AH)")
EXT_NEXT = R.define("IPv6.Extension.NextHeader", FieldType.UINT, "Next header after this extension header",
                    enum=IP_PROTOCOL_NAMES)
EXT_LENGTH = R.define("IPv6.Extension.Length", FieldType.UINT, "Length of this extension header in bytes")
OPTION = R.define("IPv6.Option", FieldType.PROTOCOL, "One hop-by-hop or destination option")
OPTION_NAMES = {0: "Pad1", 1: "PadN", 4: "Tunnel Encapsulation Limit", 5: "Router Alert", 194: "Jumbo Payload",
                201: "Home Address"}
OPTION_TYPE = R.define("IPv6.Option.Type", FieldType.UINT, "Option type", enum=OPTION_NAMES)
OPTION_LENGTH = R.define("IPv6.Option.Length", FieldType.UINT, "Option data length")
OPTION_DATA = R.define("IPv6.Option.Data", FieldType.BYTES, "Option data")
ROUTING_TYPE = R.define("IPv6.RoutingHeader.RoutingType", FieldType.UINT, "Routing type",
                        enum={0: "Source Route (deprecated)", 2: "Type 2 (Mobile IPv6)", 3: "RPL", 4: "Segment Routing"})
SEGMENTS_LEFT = R.define("IPv6.RoutingHeader.SegmentsLeft", FieldType.UINT, "Route segments still to visit")
ROUTING_ADDRESS = R.define("IPv6.RoutingHeader.Address", FieldType.IPV6, "An address of the route")
FRAG_OFFSET = R.define("IPv6.FragmentHeader.FragmentOffset", FieldType.UINT,
                       "Offset of this fragment's data in 8-byte units (the 13-bit field, as on the wire)")
FRAG_MORE = R.define("IPv6.FragmentHeader.MoreFragments", FieldType.BOOL, "More fragments follow")
FRAG_ID = R.define("IPv6.FragmentHeader.Identification", FieldType.UINT, "Identifies the fragments of a packet")
AH_SPI = R.define("IPv6.AuthenticationHeader.SPI", FieldType.UINT, "Security parameters index")
AH_SEQUENCE = R.define("IPv6.AuthenticationHeader.SequenceNumber", FieldType.UINT, "Anti-replay sequence number")
AH_ICV = R.define("IPv6.AuthenticationHeader.ICV", FieldType.BYTES, "Integrity check value")

_HEADER = struct.Struct("!IHBB")
_EXT_NODES = {0: HOP_BY_HOP, 43: ROUTING, 44: FRAGMENT, 60: DEST_OPTIONS, 51: AUTH}
MAX_EXTENSIONS = 16  # a longer chain is garbage; stop instead of walking it


def address(d: bytes, o: int) -> int:
    """The IPv6 address at ``d[o : o + 16]`` as an int."""
    return int.from_bytes(d[o : o + 16], "big")


def dissect_ipv6(ctx: Ctx, off: int, end: int) -> None:
    d = ctx.data
    avail = end - off
    if avail < 40:
        layer = ctx.header_missing(IPV6, off, end, f"{avail} bytes, an IPv6 header needs 40", short=True)
        if avail >= 1:
            layer.add(VERSION, d[off] >> 4, off, 1, bits=(0, 4))
        return
    vtf, plen, nxt, hlim = _HEADER.unpack_from(d, off)
    src_b, dst_b = d[off + 8 : off + 24], d[off + 24 : off + 40]
    src_text, dst_text = ip6_text(src_b), ip6_text(dst_b)
    layer = ctx.layer(IPV6, "", off, 40)
    add = layer.add
    tc = (vtf >> 20) & 0xFF
    flow = vtf & 0xFFFFF
    nxt_name = IP_PROTOCOL_NAMES.get(nxt)
    layer.fields += (
        new(VERSION, vtf >> 28, str(vtf >> 28), off, 1, (0, 4)),
        new(TRAFFIC_CLASS, tc, f"0x{tc:02X}", off, 2, (4, 8)),
        new(FLOW_LABEL, flow, f"0x{flow:05X}", off + 1, 3, (4, 20)),
        new(PAYLOAD_LENGTH, plen, str(plen), off + 4, 2),
        new(NEXT_PROTOCOL, nxt, f"{nxt} ({nxt_name})" if nxt_name else str(nxt), off + 6, 1),
        new(HOP_LIMIT, hlim, str(hlim), off + 7, 1),
        new(SOURCE, int.from_bytes(src_b, "big"), src_text, off + 8, 16),
        new(DESTINATION, int.from_bytes(dst_b, "big"), dst_text, off + 24, 16),
    )
    ctx.addresses(src_text, dst_text, ADDR_IP)
    notes = ctx.notes
    notes["ip_src"], notes["ip_dst"] = src_text, dst_text
    if vtf >> 28 != 6:
        ctx.malformed(layer, f"version {vtf >> 28} in an IPv6 header")
        payload(ctx, off + 40, end)
        return
    data_end = min(end, off + 40 + plen) if plen else end  # 0: jumbogram (or TSO); use what is there
    if off + 40 + plen > end:
        notes["cut"] = True  # the capture (snaplen, an ICMPv6 quote) has less than the packet
    pos = off + 40
    frag_off = 0
    more = 0
    for _ in range(MAX_EXTENSIONS):
        node_def = _EXT_NODES.get(nxt)
        if node_def is None:
            break
        if data_end - pos < 8:
            ctx.short(layer, f"{ip_protocol_text(nxt)} header cut short")
            payload(ctx, pos, data_end)
            return
        hdr_next = d[pos]
        size = 8 if nxt == 44 else (d[pos + 1] + 2) * 4 if nxt == 51 else (d[pos + 1] + 1) * 8
        if pos + size > data_end:
            ctx.short(layer, f"{ip_protocol_text(nxt)} header of {size} bytes overruns the packet")
            payload(ctx, pos, data_end)
            return
        node = add(node_def, True, pos, size, display=f"{size} bytes")
        node.add(EXT_NEXT, hdr_next, pos, 1)
        node.add(EXT_LENGTH, size, pos + 1, 1)
        if nxt in (0, 60):
            _options(ctx, layer, node, pos + 2, pos + size)
        elif nxt == 43:
            _routing(d, node, pos, size)
        elif nxt == 44:
            fo = int.from_bytes(d[pos + 2 : pos + 4], "big")
            frag_off, more = fo & 0xFFF8, fo & 1
            node.add(FRAG_OFFSET, fo >> 3, pos + 2, 2, display=f"{fo >> 3} ({frag_off} bytes)", bits=(0, 13))
            node.add(FRAG_MORE, more, pos + 3, 1, bits=(7, 1))
            ident = int.from_bytes(d[pos + 4 : pos + 8], "big")
            node.add(FRAG_ID, ident, pos + 4, 4, display=f"0x{ident:08X}")
        else:  # AH
            node.add(AH_SPI, int.from_bytes(d[pos + 4 : pos + 8], "big"), pos + 4, 4)
            if size >= 12:
                node.add(AH_SEQUENCE, int.from_bytes(d[pos + 8 : pos + 12], "big"), pos + 8, 4)
            if size > 12:
                node.add(AH_ICV, d[pos + 12 : pos + size], pos + 12, size - 12)
        nxt = hdr_next
        pos += size
    layer.length = pos - off
    notes["l4_len"] = (off + 40 + plen - pos) if plen else (data_end - pos)
    summary = f"Next Protocol = {ip_protocol_text(nxt)}, Payload Length = {plen}"
    if frag_off or more:
        summary += f", Fragment Offset = {frag_off}" + (", More Fragments" if more else "")
    ctx.set_summary(layer, summary)
    if _EXT_NODES.get(nxt) is not None:
        ctx.malformed(layer, f"more than {MAX_EXTENSIONS} extension headers")
        payload(ctx, pos, data_end)
    elif frag_off:
        payload(ctx, pos, data_end, "Fragment")
    elif nxt == 59:  # No Next Header
        payload(ctx, pos, data_end)
    else:
        ctx.next(IP_PROTOCOLS, nxt, pos, data_end)


def _options(ctx: Ctx, layer: Layer, node: Field, off: int, end: int) -> None:
    d = ctx.data
    while off < end:
        kind = d[off]
        if kind == 0:  # Pad1 is a single byte
            opt = node.add(OPTION, True, off, 1, display="Pad1")
            opt.add(OPTION_TYPE, 0, off, 1)
            off += 1
            continue
        if off + 2 > end or off + 2 + d[off + 1] > end:
            ctx.malformed(layer, f"option {kind} overruns its header")
            return
        n = d[off + 1]
        opt = node.add(OPTION, True, off, n + 2, display=OPTION_NAMES.get(kind, f"Option {kind}"))
        opt.add(OPTION_TYPE, kind, off, 1)
        opt.add(OPTION_LENGTH, n, off + 1, 1)
        if n:
            opt.add(OPTION_DATA, d[off + 2 : off + 2 + n], off + 2, n)
        off += n + 2


def _routing(d: bytes, node: Field, pos: int, size: int) -> None:
    rtype = d[pos + 2]
    node.add(ROUTING_TYPE, rtype, pos + 2, 1)
    node.add(SEGMENTS_LEFT, d[pos + 3], pos + 3, 1)
    if rtype in (0, 2, 4):  # these carry plain 16-byte addresses after 4 more bytes
        a = pos + 8
        # segment routing: "last entry" counts the segments; TLVs may follow them
        count = d[pos + 4] + 1 if rtype == 4 else (size - 8) // 16
        for _ in range(count):
            if a + 16 > pos + size:
                break
            node.add(ROUTING_ADDRESS, address(d, a), a, 16)
            a += 16


ETHER_TYPES[0x86DD] = dissect_ipv6
IP_PROTOCOLS[41] = dissect_ipv6  # IPv6 in IP
