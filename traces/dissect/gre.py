"""GRE (RFC 2784/2890, and the PPTP variant, version 1): flags, optional fields, then the
payload by its EtherType (0x6558 is bridged Ethernet)."""

from __future__ import annotations

from ..fields import REGISTRY, FieldType
from .core import ETHER_TYPES, IP_PROTOCOLS, Ctx, payload
from .ethernet import dissect_ethernet, ethertype_text
from .vxlan import nvgre

R = REGISTRY
GRE = R.protocol("GRE", "Generic Routing Encapsulation")
FLAGS = R.define("GRE.Flags", FieldType.UINT, "Flags and version word")
FLAG_CHECKSUM = R.define("GRE.Flags.ChecksumPresent", FieldType.BOOL, "Checksum field present (C)")
FLAG_KEY = R.define("GRE.Flags.KeyPresent", FieldType.BOOL, "Key field present (K)")
FLAG_SEQUENCE = R.define("GRE.Flags.SequencePresent", FieldType.BOOL, "Sequence number present (S)")
FLAG_ACK = R.define("GRE.Flags.AckPresent", FieldType.BOOL, "Acknowledgement number present (A, version 1)")
VERSION = R.define("GRE.Version", FieldType.UINT, "0 for GRE, 1 for PPTP's enhanced GRE")
PROTOCOL = R.define("GRE.ProtocolType", FieldType.UINT, "EtherType of the payload")
CHECKSUM = R.define("GRE.Checksum", FieldType.UINT, "Checksum")
KEY = R.define("GRE.Key", FieldType.UINT, "Key (version 0)")
PAYLOAD_LENGTH = R.define("GRE.PayloadLength", FieldType.UINT, "Payload length (version 1)")
CALL_ID = R.define("GRE.CallID", FieldType.UINT, "PPTP call id (version 1)")
SEQUENCE = R.define("GRE.SequenceNumber", FieldType.UINT, "Sequence number")
ACK = R.define("GRE.AcknowledgementNumber", FieldType.UINT, "Acknowledgement number (version 1)")


def dissect_gre(ctx: Ctx, off: int, end: int) -> None:
    d = ctx.data
    if end - off < 4:
        ctx.header_missing(GRE, off, end, "header shorter than 4 bytes", short=True)
        return
    flags = (d[off] << 8) | d[off + 1]
    proto = (d[off + 2] << 8) | d[off + 3]
    c, k, s, a = flags >> 15, (flags >> 13) & 1, (flags >> 12) & 1, (flags >> 7) & 1
    version = flags & 7
    size = 4 + 4 * (c or (flags >> 14) & 1) + 4 * k + 4 * s + 4 * (a if version == 1 else 0)
    layer = ctx.layer(GRE, f"Protocol = {ethertype_text(proto)}", off, min(size, end - off))
    add = layer.add
    fl = add(FLAGS, flags, off, 2, display=f"0x{flags:04X}")
    fl.add(FLAG_CHECKSUM, c, off, 1, bits=(0, 1))
    fl.add(FLAG_KEY, k, off, 1, bits=(2, 1))
    fl.add(FLAG_SEQUENCE, s, off, 1, bits=(3, 1))
    if version == 1:
        fl.add(FLAG_ACK, a, off + 1, 1, bits=(0, 1))
    add(VERSION, version, off + 1, 1, bits=(5, 3))
    add(PROTOCOL, proto, off + 2, 2, display=ethertype_text(proto))
    if size > end - off:
        ctx.short(layer, f"header of {size} bytes, {end - off} captured")
        payload(ctx, off + 4, end)
        return
    p = off + 4
    if c or (flags >> 14) & 1:
        add(CHECKSUM, (d[p] << 8) | d[p + 1], p, 2)
        p += 4
    if k:
        if version == 1:
            add(PAYLOAD_LENGTH, (d[p] << 8) | d[p + 1], p, 2)
            add(CALL_ID, (d[p + 2] << 8) | d[p + 3], p + 2, 2)
        else:
            key = int.from_bytes(d[p : p + 4], "big")
            add(KEY, key, p, 4, display=f"0x{key:08X}")
        p += 4
    if s:
        add(SEQUENCE, int.from_bytes(d[p : p + 4], "big"), p, 4)
        p += 4
    if version == 1 and a:
        add(ACK, int.from_bytes(d[p : p + 4], "big"), p, 4)
        p += 4
    if version == 0 and k and proto == 0x6558:  # NVGRE: the key is a virtual subnet id and flow id
        key_at = off + 4 + 4 * (c or (flags >> 14) & 1)
        ctx.call(lambda ctx_, o, e: nvgre(ctx_, key_at, o, e), p, end)
        return
    ctx.next(ETHER_TYPES, proto, p, end)


IP_PROTOCOLS[47] = dissect_gre
ETHER_TYPES[0x6558] = dissect_ethernet  # transparent Ethernet bridging (GRE/NVGRE)
