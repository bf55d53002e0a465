"""IPv4: header, options and the fragment rule.

Only a first fragment (offset 0) is dissected further, as tshark does with reassembly off;
later fragments become a ``Fragment`` payload.  The same dissector decodes the IPv4 header
quoted inside ICMP errors (``ctx.notes["in_error"]``), where a short quote is normal, not damage.
"""

from __future__ import annotations

import struct

from ..fields import REGISTRY, FieldType
from ..frame import Layer
from .core import ADDR_IP, ETHER_TYPES, IP_PROTOCOLS, Ctx, payload
from .names import IP_PROTOCOL_NAMES
from .text import ip4_text, new

R = REGISTRY
IPV4 = R.protocol("IPv4", "Internet Protocol version 4")
VERSION = R.define("IPv4.Version", FieldType.UINT, "IP version (4)")
HEADER_LENGTH = R.define("IPv4.HeaderLength", FieldType.UINT, "Header length in bytes (IHL × 4)")
DS_FIELD = R.define("IPv4.DifferentiatedServices", FieldType.UINT, "Differentiated services byte (DSCP and ECN)")
DSCP = R.define("IPv4.DifferentiatedServices.DSCP", FieldType.UINT, "Differentiated services code point")
ECN = R.define("IPv4.DifferentiatedServices.ECN", FieldType.UINT, "Explicit congestion notification",
               enum={0: "Not-ECT", 1: "ECT(1)", 2: "ECT(0)", 3: "CE"})
TOTAL_LENGTH = R.define("IPv4.TotalLength", FieldType.UINT, "Length of header and data in bytes")
IDENTIFICATION = R.define("IPv4.Identification", FieldType.UINT, "Identifies the fragments of one datagram")
FLAGS = R.define("IPv4.Flags", FieldType.UINT, "The three flag bits (reserved, DF, MF)")
FLAG_RESERVED = R.define("IPv4.Flags.Reserved", FieldType.BOOL, "Reserved flag (must be 0)")
FLAG_DF = R.define("IPv4.Flags.DontFragment", FieldType.BOOL, "Don't fragment")
FLAG_MF = R.define("IPv4.Flags.MoreFragments", FieldType.BOOL, "More fragments follow")
FRAGMENT_OFFSET = R.define("IPv4.FragmentOffset", FieldType.UINT,
                           "Offset of this fragment's data in 8-byte units (the 13-bit field, as on the wire)")
TTL = R.define("IPv4.TimeToLive", FieldType.UINT, "Time to live (hop limit)")
R.alias("IPv4.TTL", "IPv4.TimeToLive")
NEXT_PROTOCOL = R.define("IPv4.NextProtocol", FieldType.UINT, "Protocol of the payload", enum=IP_PROTOCOL_NAMES)
CHECKSUM = R.define("IPv4.Checksum", FieldType.UINT, "Header checksum")
SOURCE = R.define("IPv4.SourceAddress", FieldType.IPV4, "Source address")
DESTINATION = R.define("IPv4.DestinationAddress", FieldType.IPV4, "Destination address")
ADDRESS = R.define("IPv4.Address", FieldType.IPV4, "Source or destination address",
                   pair=("IPv4.SourceAddress", "IPv4.DestinationAddress"))
OPTIONS = R.define("IPv4.Options", FieldType.PROTOCOL, "Header options")
OPTION_NAMES = {0: "End of Options List", 1: "No Operation", 7: "Record Route", 68: "Timestamp",
                130: "Security", 131: "Loose Source Route", 136: "Stream ID", 137: "Strict Source Route",
                148: "Router Alert"}
OPTION = R.define("IPv4.Option", FieldType.PROTOCOL, "One header option")
OPTION_TYPE = R.define("IPv4.Option.Type", FieldType.UINT, "Option type (copied flag, class, number)",
                       enum=OPTION_NAMES)
OPTION_LENGTH = R.define("IPv4.Option.Length", FieldType.UINT, "Option length including type and length bytes")
OPTION_DATA = R.define("IPv4.Option.Data", FieldType.BYTES, "Option data")

_HEADER = struct.Struct("!BBHHHBBHII")
_BIT = ("0", "1")
_ECN_TEXT = tuple(f"{v} ({ECN.enum[v]})" for v in range(4))  # type: ignore[index]


def dissect_ipv4(ctx: Ctx, off: int, end: int) -> None:
    d = ctx.data
    avail = end - off
    if avail < 20:
        layer = ctx.header_missing(IPV4, off, end, f"{avail} bytes, an IPv4 header needs 20", short=True)
        if avail >= 1:
            layer.add(VERSION, d[off] >> 4, off, 1, bits=(0, 4))
        return
    vhl, tos, total, ident, frag, ttl, proto, csum, src, dst = _HEADER.unpack_from(d, off)
    hl = (vhl & 15) * 4
    layer = ctx.layer(IPV4, "", off, min(max(hl, 20), avail))
    put = layer.fields.append
    put(new(VERSION, vhl >> 4, str(vhl >> 4), off, 1, (0, 4)))
    put(new(HEADER_LENGTH, hl, f"{hl} bytes ({vhl & 15})", off, 1, (4, 4)))
    ds = new(DS_FIELD, tos, f"0x{tos:02X}", off + 1, 1)
    ds.children += (new(DSCP, tos >> 2, str(tos >> 2), off + 1, 1, (0, 6)),
                    new(ECN, tos & 3, _ECN_TEXT[tos & 3], off + 1, 1, (6, 2)))
    put(ds)
    put(new(TOTAL_LENGTH, total, str(total), off + 2, 2))
    put(new(IDENTIFICATION, ident, f"0x{ident:04X} ({ident})", off + 4, 2))
    flags = frag >> 13
    frag_units = frag & 0x1FFF
    frag_off = frag_units * 8
    more = flags & 1
    fl = new(FLAGS, flags, f"0x{flags:X}", off + 6, 1, (0, 3))
    fl.children += (new(FLAG_RESERVED, flags >> 2, _BIT[flags >> 2], off + 6, 1, (0, 1)),
                    new(FLAG_DF, (flags >> 1) & 1, _BIT[(flags >> 1) & 1], off + 6, 1, (1, 1)),
                    new(FLAG_MF, more, _BIT[more], off + 6, 1, (2, 1)))
    put(fl)
    put(new(FRAGMENT_OFFSET, frag_units, f"{frag_units} ({frag_off} bytes)", off + 6, 2, (3, 13)))
    put(new(TTL, ttl, str(ttl), off + 8, 1))
    proto_name = IP_PROTOCOL_NAMES.get(proto)
    proto_text = proto_name or str(proto)
    put(new(NEXT_PROTOCOL, proto, f"{proto} ({proto_name})" if proto_name else proto_text, off + 9, 1))
    put(new(CHECKSUM, csum, f"0x{csum:04X}", off + 10, 2))
    src_text, dst_text = ip4_text(d[off + 12 : off + 16]), ip4_text(d[off + 16 : off + 20])
    put(new(SOURCE, src, src_text, off + 12, 4))
    put(new(DESTINATION, dst, dst_text, off + 16, 4))
    ctx.addresses(src_text, dst_text, ADDR_IP)
    notes = ctx.notes
    notes["ip_src"], notes["ip_dst"] = src_text, dst_text
    summary = (f"Src = {src_text}, Dest = {dst_text}, Next Protocol = {proto_text}, "
               f"Packet ID = {ident}, Total IP Length = {total}")
    if more or frag_off:
        summary += f", Fragment Offset = {frag_off}" + (", More Fragments" if more else "")
    ctx.set_summary(layer, summary)

    problem = ""
    if vhl >> 4 != 4:
        problem = f"version {vhl >> 4} in an IPv4 header"
    elif hl < 20:
        problem = f"header length {hl} is less than 20"
    elif hl > avail:
        problem = f"header length {hl} but only {avail} bytes"
    if problem:
        ctx.malformed(layer, problem)
        payload(ctx, off + min(20, avail), end)
        return
    if hl > 20:
        _options(ctx, layer, off + 20, off + hl)
    # the datagram ends at TotalLength (Ethernet padding follows); a shorter capture is truncated
    data_end = end
    if total >= hl:
        if off + total < end:
            data_end = off + total
        elif off + total > end:
            notes["cut"] = True  # the capture (snaplen, an ICMP quote) has less than the datagram
        notes["l4_len"] = total - hl
    else:
        notes["l4_len"] = avail - hl  # TSO frames carry 0 here; use what was captured
        if total != 0:
            ctx.malformed(layer, f"total length {total} is less than the header length {hl}")
    if frag_off:
        payload(ctx, off + hl, data_end, "Fragment")
        return
    ctx.next(IP_PROTOCOLS, proto, off + hl, data_end)


def _options(ctx: Ctx, layer: Layer, off: int, end: int) -> None:
    d = ctx.data
    node = layer.add(OPTIONS, True, off, end - off, display=f"{end - off} bytes")
    while off < end:
        kind = d[off]
        if kind in (0, 1):
            opt = node.add(OPTION, True, off, 1, display=OPTION_NAMES[kind])
            opt.add(OPTION_TYPE, kind, off, 1)
            off += 1
            if kind == 0:
                break
            continue
        if off + 2 > end or d[off + 1] < 2 or off + d[off + 1] > end:
            ctx.malformed(layer, f"option {kind} at offset {off} overruns the header")
            return
        n = d[off + 1]
        opt = node.add(OPTION, True, off, n, display=OPTION_NAMES.get(kind, f"Option {kind}"))
        opt.add(OPTION_TYPE, kind, off, 1)
        opt.add(OPTION_LENGTH, n, off + 1, 1)
        if n > 2:
            opt.add(OPTION_DATA, d[off + 2 : off + n], off + 2, n - 2)
        off += n


ETHER_TYPES[0x0800] = dissect_ipv4
IP_PROTOCOLS[4] = dissect_ipv4  # IP in IP
