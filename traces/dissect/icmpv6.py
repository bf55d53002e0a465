"""ICMPv6: echo, error messages (with the quoted IPv6 packet), MLD and Neighbor Discovery
(router/neighbor solicitation and advertisement, redirect) with their options."""

from __future__ import annotations

import struct

from ..fields import REGISTRY, FieldType
from ..frame import Field, Layer, ipv6_text, mac_text
from .core import IP_PROTOCOLS, Ctx, payload
from .icmp import quoted_packet
from .ipv6 import address, dissect_ipv6

R = REGISTRY
TYPE_NAMES = {
    1: "Destination Unreachable", 2: "Packet Too Big", 3: "Time Exceeded", 4: "Parameter Problem",
    128: "Echo Request", 129: "Echo Reply", 130: "Multicast Listener Query", 131: "Multicast Listener Report",
    132: "Multicast Listener Done", 133: "Router Solicitation", 134: "Router Advertisement",
    135: "Neighbor Solicitation", 136: "Neighbor Advertisement", 137: "Redirect",
    143: "Multicast Listener Report v2",
}
CODE_NAMES = {
    1: {0: "No route to destination", 1: "Administratively prohibited", 2: "Beyond scope of source address",
        3: "Address unreachable", 4: "Port unreachable", 5: "Source address failed ingress/egress policy",
        6: "Reject route to destination"},
    3: {0: "Hop limit exceeded in transit", 1: "Fragment reassembly time exceeded"},
    4: {0: "Erroneous header field", 1: "Unrecognized Next Header type", 2: "Unrecognized IPv6 option"},
}
OPTION_NAMES = {1: "Source Link-Layer Address", 2: "Target Link-Layer Address", 3: "Prefix Information",
                4: "Redirected Header", 5: "MTU", 25: "Recursive DNS Server", 31: "DNS Search List"}

ICMPV6 = R.protocol("ICMPv6", "Internet Control Message Protocol for IPv6")
TYPE = R.define("ICMPv6.Type", FieldType.UINT, "Message type", enum=TYPE_NAMES)
CODE = R.define("ICMPv6.Code", FieldType.UINT, "Message code (meaning depends on the type)")
CHECKSUM = R.define("ICMPv6.Checksum", FieldType.UINT, "Checksum")
IDENTIFIER = R.define("ICMPv6.Identifier", FieldType.UINT, "Echo identifier")
SEQUENCE = R.define("ICMPv6.SequenceNumber", FieldType.UINT, "Echo sequence number")
MTU = R.define("ICMPv6.MTU", FieldType.UINT, "MTU of the next hop (Packet Too Big)")
POINTER = R.define("ICMPv6.Pointer", FieldType.UINT, "Offset of the bad byte (Parameter Problem)")
UNUSED = R.define("ICMPv6.Unused", FieldType.UINT, "Unused word of an error message")
ERROR_PACKET = R.define("ICMPv6.ErrorPacket", FieldType.PROTOCOL,
                        "The quoted IPv6 packet of an error message (dissected as layers after ICMPv6)")
TARGET = R.define("ICMPv6.TargetAddress", FieldType.IPV6, "Target address (neighbor discovery, redirect)")
REDIRECT_DEST = R.define("ICMPv6.DestinationAddress", FieldType.IPV6, "Destination being redirected")
CUR_HOP_LIMIT = R.define("ICMPv6.CurHopLimit", FieldType.UINT, "Hop limit hosts should use (RA)")
FLAGS = R.define("ICMPv6.Flags", FieldType.UINT, "Flags byte (RA: M, O; NA: R, S, O)")
FLAG_MANAGED = R.define("ICMPv6.Flags.Managed", FieldType.BOOL, "Managed address configuration (RA)")
FLAG_OTHER = R.define("ICMPv6.Flags.Other", FieldType.BOOL, "Other configuration (RA)")
FLAG_ROUTER = R.define("ICMPv6.Flags.Router", FieldType.BOOL, "Sender is a router (NA)")
FLAG_SOLICITED = R.define("ICMPv6.Flags.Solicited", FieldType.BOOL, "Answer to a solicitation (NA)")
FLAG_OVERRIDE = R.define("ICMPv6.Flags.Override", FieldType.BOOL, "Override the cached link-layer address (NA)")
ROUTER_LIFETIME = R.define("ICMPv6.RouterLifetime", FieldType.UINT, "Router lifetime in seconds (RA)")
REACHABLE_TIME = R.define("ICMPv6.ReachableTime", FieldType.UINT, "Reachable time in ms (RA)")
RETRANS_TIMER = R.define("ICMPv6.RetransTimer", FieldType.UINT, "Retransmission timer in ms (RA)")
MAX_RESPONSE = R.define("ICMPv6.MaxResponseDelay", FieldType.UINT, "Maximum response delay in ms (MLD)")
MULTICAST = R.define("ICMPv6.MulticastAddress", FieldType.IPV6, "Multicast address (MLD)")
RECORD_COUNT = R.define("ICMPv6.NumberOfRecords", FieldType.UINT, "Multicast address records (MLDv2 report)")
OPTION = R.define("ICMPv6.Option", FieldType.PROTOCOL, "One neighbor discovery option")
OPTION_TYPE = R.define("ICMPv6.Option.Type", FieldType.UINT, "Option type", enum=OPTION_NAMES)
OPTION_LENGTH = R.define("ICMPv6.Option.Length", FieldType.UINT, "Option length in bytes")
OPT_SOURCE_LLA = R.define("ICMPv6.Option.SourceLinkLayerAddress", FieldType.MAC, "Sender's link-layer address")
OPT_TARGET_LLA = R.define("ICMPv6.Option.TargetLinkLayerAddress", FieldType.MAC, "Target's link-layer address")
OPT_PREFIX_LENGTH = R.define("ICMPv6.Option.PrefixLength", FieldType.UINT, "Prefix length in bits")
OPT_ON_LINK = R.define("ICMPv6.Option.OnLink", FieldType.BOOL, "Prefix is on-link (L flag)")
OPT_AUTONOMOUS = R.define("ICMPv6.Option.Autonomous", FieldType.BOOL, "Use for address autoconfiguration (A flag)")
OPT_VALID = R.define("ICMPv6.Option.ValidLifetime", FieldType.UINT, "Valid lifetime in seconds")
OPT_PREFERRED = R.define("ICMPv6.Option.PreferredLifetime", FieldType.UINT, "Preferred lifetime in seconds")
OPT_PREFIX = R.define("ICMPv6.Option.Prefix", FieldType.IPV6, "Prefix")
OPT_MTU = R.define("ICMPv6.Option.MTU", FieldType.UINT, "Link MTU")
OPT_LIFETIME = R.define("ICMPv6.Option.Lifetime", FieldType.UINT, "Lifetime in seconds (RDNSS)")
OPT_DNS = R.define("ICMPv6.Option.RecursiveDnsServer", FieldType.IPV6, "Recursive DNS server")
OPT_DATA = R.define("ICMPv6.Option.Data", FieldType.BYTES, "Option data")

_HEAD = struct.Struct("!BBH")
_RA = struct.Struct("!BBHII")
_PREFIX = struct.Struct("!BBIII")
#: first option offset after the fixed part of each ND message
_ND_FIXED = {133: 8, 134: 16, 135: 24, 136: 24, 137: 40}
MAX_OPTIONS = 64


def dissect_icmpv6(ctx: Ctx, off: int, end: int) -> None:
    d = ctx.data
    avail = end - off
    if avail < 4:
        ctx.header_missing(ICMPV6, off, end, f"{avail} bytes, an ICMPv6 header needs 4", short=True)
        return
    typ, code, csum = _HEAD.unpack_from(d, off)
    kind = TYPE_NAMES.get(typ, f"Type {typ}")
    layer = ctx.layer(ICMPV6, kind, off, min(8, avail))
    add = layer.add
    add(TYPE, typ, off, 1)
    code_name = CODE_NAMES.get(typ, {}).get(code)
    add(CODE, code, off + 1, 1, display=f"{code} ({code_name})" if code_name else str(code))
    add(CHECKSUM, csum, off + 2, 2, display=f"0x{csum:04X}")
    need = _ND_FIXED.get(typ, 24 if typ in (130, 131, 132) else 8)
    if avail < need:
        ctx.short(layer, f"{avail} bytes, a {kind} message needs {need}")
        payload(ctx, off + 4, end)
        return
    src, dst = ctx.notes.get("ip_src", "?"), ctx.notes.get("ip_dst", "?")
    if typ in (128, 129):
        ident, seq = struct.unpack_from("!HH", d, off + 4)
        add(IDENTIFIER, ident, off + 4, 2, display=f"0x{ident:04X} ({ident})")
        add(SEQUENCE, seq, off + 6, 2, display=f"0x{seq:04X} ({seq})")
        ctx.set_summary(layer, f"{kind}, From {src} To {dst}, Id = 0x{ident:04X}, Seq = {seq}")
        payload(ctx, off + 8, end)
        return
    if typ in (1, 2, 3, 4):
        word = int.from_bytes(d[off + 4 : off + 8], "big")
        text = f"{kind}, {code_name or f'Code {code}'}"
        if typ == 2:
            add(MTU, word, off + 4, 4)
            text = f"{kind}, MTU = {word}"
        elif typ == 4:
            add(POINTER, word, off + 4, 4)
            text += f", Pointer = {word}"
        else:
            add(UNUSED, word, off + 4, 4)
        ctx.set_summary(layer, f"{text}, From {src} To {dst}")
        quoted_packet(ctx, layer, ERROR_PACKET, dissect_ipv6, 6, 40, off + 8, end)
        return
    if typ in (130, 131, 132):
        delay = int.from_bytes(d[off + 4 : off + 6], "big")
        add(MAX_RESPONSE, delay, off + 4, 2)
        group = address(d, off + 8)
        add(MULTICAST, group, off + 8, 16)
        layer.length = 24
        ctx.set_summary(layer, f"{kind}, Multicast Address = {ipv6_text(group)}")
        payload(ctx, off + 24, end)
        return
    if typ == 143:
        count = int.from_bytes(d[off + 6 : off + 8], "big")
        add(RECORD_COUNT, count, off + 6, 2)
        _mldv2_records(ctx, layer, off + 8, end, count)
        return
    if typ in _ND_FIXED:
        _neighbor_discovery(ctx, layer, typ, off, end, kind)
        return
    layer.length = 4
    ctx.set_summary(layer, f"{kind}, From {src} To {dst}")
    payload(ctx, off + 4, end)


def _mldv2_records(ctx: Ctx, layer: Layer, pos: int, end: int, count: int) -> None:
    d = ctx.data
    groups = []
    for _ in range(count):
        if pos + 20 > end:
            ctx.short(layer, "multicast address record cut short")
            break
        aux, nsrc = d[pos + 1], int.from_bytes(d[pos + 2 : pos + 4], "big")
        size = 20 + 16 * nsrc + 4 * aux
        if pos + size > end:
            ctx.short(layer, "multicast address record cut short")
            break
        group = address(d, pos + 4)
        layer.add(MULTICAST, group, pos + 4, 16)
        groups.append(ipv6_text(group))
        pos += size
    layer.length = pos - layer.start
    ctx.set_summary(layer, f"Multicast Listener Report v2, Groups = {', '.join(groups[:4])}")
    payload(ctx, pos, end)


def _neighbor_discovery(ctx: Ctx, layer: Layer, typ: int, off: int, end: int, kind: str) -> None:
    d = ctx.data
    add = layer.add
    text = kind
    if typ == 134:
        hop, flags, lifetime, reachable, retrans = _RA.unpack_from(d, off + 4)
        add(CUR_HOP_LIMIT, hop, off + 4, 1)
        f = add(FLAGS, flags, off + 5, 1, display=f"0x{flags:02X}")
        f.add(FLAG_MANAGED, flags >> 7, off + 5, 1, bits=(0, 1))
        f.add(FLAG_OTHER, (flags >> 6) & 1, off + 5, 1, bits=(1, 1))
        add(ROUTER_LIFETIME, lifetime, off + 6, 2)
        add(REACHABLE_TIME, reachable, off + 8, 4)
        add(RETRANS_TIMER, retrans, off + 12, 4)
        text += f", Router Lifetime = {lifetime} s"
    elif typ in (135, 136, 137):
        if typ == 136:
            flags = d[off + 4]
            f = add(FLAGS, flags, off + 4, 1, display=f"0x{flags:02X}")
            f.add(FLAG_ROUTER, flags >> 7, off + 4, 1, bits=(0, 1))
            f.add(FLAG_SOLICITED, (flags >> 6) & 1, off + 4, 1, bits=(1, 1))
            f.add(FLAG_OVERRIDE, (flags >> 5) & 1, off + 4, 1, bits=(2, 1))
        target = address(d, off + 8)
        add(TARGET, target, off + 8, 16)
        text += f", Target = {ipv6_text(target)}"
        if typ == 137:
            dest = address(d, off + 24)
            add(REDIRECT_DEST, dest, off + 24, 16)
            text += f", Destination = {ipv6_text(dest)}"
    pos = off + _ND_FIXED[typ]
    layer.length = end - off
    for _ in range(MAX_OPTIONS):
        if pos >= end:
            break
        if pos + 2 > end or d[pos + 1] == 0 or pos + d[pos + 1] * 8 > end:
            ctx.set_summary(layer, text)
            if pos + 2 <= end and d[pos + 1] == 0:
                ctx.malformed(layer, f"option at offset {pos} has length 0")
            else:
                ctx.short(layer, f"option at offset {pos} runs past the end")
            layer.length = pos - off
            payload(ctx, pos, end)
            return
        lla = _option(d, layer, pos)
        if lla:
            text += f", {lla}"
        pos += d[pos + 1] * 8
    ctx.set_summary(layer, text)
    layer.length = pos - off
    payload(ctx, pos, end)


def _option(d: bytes, layer: Layer, pos: int) -> str:
    otype, n = d[pos], d[pos + 1] * 8
    node: Field = layer.add(OPTION, True, pos, n, display=OPTION_NAMES.get(otype, f"Option {otype}"))
    node.add(OPTION_TYPE, otype, pos, 1)
    node.add(OPTION_LENGTH, n, pos + 1, 1, display=f"{n} bytes ({n // 8})")
    if otype in (1, 2) and n == 8:
        v = int.from_bytes(d[pos + 2 : pos + 8], "big")
        node.add(OPT_SOURCE_LLA if otype == 1 else OPT_TARGET_LLA, v, pos + 2, 6)
        return f"{'Source' if otype == 1 else 'Target'} Link-Layer Address = {mac_text(v)}"
    if otype == 3 and n == 32:
        plen, flags, valid, preferred, _ = _PREFIX.unpack_from(d, pos + 2)
        node.add(OPT_PREFIX_LENGTH, plen, pos + 2, 1)
        node.add(OPT_ON_LINK, flags >> 7, pos + 3, 1, bits=(0, 1))
        node.add(OPT_AUTONOMOUS, (flags >> 6) & 1, pos + 3, 1, bits=(1, 1))
        node.add(OPT_VALID, valid, pos + 4, 4)
        node.add(OPT_PREFERRED, preferred, pos + 8, 4)
        node.add(OPT_PREFIX, address(d, pos + 16), pos + 16, 16)
        return ""
    if otype == 5 and n == 8:
        node.add(OPT_MTU, int.from_bytes(d[pos + 4 : pos + 8], "big"), pos + 4, 4)
        return ""
    if otype == 25 and n >= 24:
        node.add(OPT_LIFETIME, int.from_bytes(d[pos + 4 : pos + 8], "big"), pos + 4, 4)
        a = pos + 8
        while a + 16 <= pos + n:
            node.add(OPT_DNS, address(d, a), a, 16)
            a += 16
        return ""
    if n > 2:
        node.add(OPT_DATA, d[pos + 2 : pos + n], pos + 2, n - 2)
    return ""


IP_PROTOCOLS[58] = dissect_icmpv6
