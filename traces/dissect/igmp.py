"""IGMP v1/v2/v3: queries, reports (v3 group records) and leaves."""

from __future__ import annotations

import struct

from ..fields import REGISTRY, FieldType
from ..frame import ipv4_text
from .core import IP_PROTOCOLS, Ctx

R = REGISTRY
TYPE_NAMES = {0x11: "Membership Query", 0x12: "Membership Report v1", 0x16: "Membership Report v2",
              0x17: "Leave Group", 0x22: "Membership Report v3"}
RECORD_TYPES = {1: "Mode Is Include", 2: "Mode Is Exclude", 3: "Change To Include Mode",
                4: "Change To Exclude Mode", 5: "Allow New Sources", 6: "Block Old Sources"}
IGMP = R.protocol("IGMP", "Internet Group Management Protocol")
VERSION = R.define("IGMP.Version", FieldType.UINT, "Protocol version (from the type and length)")
TYPE = R.define("IGMP.Type", FieldType.UINT, "Message type", enum=TYPE_NAMES)
MAX_RESPONSE = R.define("IGMP.MaxResponseTime", FieldType.UINT, "Maximum response time (1/10 s units)")
CHECKSUM = R.define("IGMP.Checksum", FieldType.UINT, "Checksum")
GROUP = R.define("IGMP.GroupAddress", FieldType.IPV4, "Multicast group address")
QRV = R.define("IGMP.QRV", FieldType.UINT, "Querier's robustness variable (v3 query)")
SUPPRESS = R.define("IGMP.SuppressRouterProcessing", FieldType.BOOL, "S flag (v3 query)")
QQIC = R.define("IGMP.QQIC", FieldType.UINT, "Querier's query interval code (v3 query)")
SOURCE_COUNT = R.define("IGMP.NumberOfSources", FieldType.UINT, "Number of source addresses")
SOURCE = R.define("IGMP.SourceAddress", FieldType.IPV4, "Source address")
RECORD_COUNT = R.define("IGMP.NumberOfGroupRecords", FieldType.UINT, "Number of group records (v3 report)")
RECORD = R.define("IGMP.GroupRecord", FieldType.PROTOCOL, "A group record (v3 report)")
RECORD_TYPE = R.define("IGMP.GroupRecord.RecordType", FieldType.UINT, "Record type", enum=RECORD_TYPES)
RECORD_AUX = R.define("IGMP.GroupRecord.AuxDataLength", FieldType.UINT, "Auxiliary data length in 32-bit words")

_HEAD = struct.Struct("!BBHI")


def dissect_igmp(ctx: Ctx, off: int, end: int) -> None:
    d = ctx.data
    avail = end - off
    if avail < 8:
        ctx.header_missing(IGMP, off, end, f"{avail} bytes, an IGMP message needs 8", short=True)
        return
    typ, mrt, csum, group = _HEAD.unpack_from(d, off)
    kind = TYPE_NAMES.get(typ, f"Type 0x{typ:02X}")
    if typ == 0x11:
        version = 3 if avail >= 12 else (2 if mrt else 1)
    else:
        version = {0x12: 1, 0x16: 2, 0x17: 2, 0x22: 3}.get(typ, 0)
    layer = ctx.layer(IGMP, "", off, 8)
    add = layer.add
    add(VERSION, version, -1, 0)
    add(TYPE, typ, off, 1, display=f"0x{typ:02X} ({kind})")
    add(CHECKSUM, csum, off + 2, 2, display=f"0x{csum:04X}")
    if typ == 0x22:
        count = int.from_bytes(d[off + 6 : off + 8], "big")
        add(RECORD_COUNT, count, off + 6, 2)
        pos = off + 8
        groups = []
        for _ in range(count):
            if pos + 8 > end:
                ctx.short(layer, "group record cut short")
                break
            rtype, aux, nsrc = d[pos], d[pos + 1], int.from_bytes(d[pos + 2 : pos + 4], "big")
            size = 8 + 4 * nsrc + 4 * aux
            if pos + size > end:
                ctx.short(layer, "group record cut short")
                break
            g = int.from_bytes(d[pos + 4 : pos + 8], "big")
            node = add(RECORD, True, pos, size, display=f"{RECORD_TYPES.get(rtype, rtype)}, {ipv4_text(g)}")
            node.add(RECORD_TYPE, rtype, pos, 1)
            node.add(RECORD_AUX, aux, pos + 1, 1)
            node.add(SOURCE_COUNT, nsrc, pos + 2, 2)
            node.add(GROUP, g, pos + 4, 4)
            for s in range(pos + 8, pos + 8 + 4 * nsrc, 4):
                node.add(SOURCE, int.from_bytes(d[s : s + 4], "big"), s, 4)
            groups.append(ipv4_text(g))
            pos += size
        layer.length = pos - off
        ctx.set_summary(layer, f"{kind}, Groups = {', '.join(groups[:4])}")
        return
    add(MAX_RESPONSE, mrt, off + 1, 1, display=f"{mrt} ({mrt / 10:g} s)")
    add(GROUP, group, off + 4, 4)
    summary = f"{kind}, Version = {version}, Group = {ipv4_text(group)}"
    if version == 3 and typ == 0x11:
        flags, qqic, nsrc = d[off + 8], d[off + 9], int.from_bytes(d[off + 10 : off + 12], "big")
        add(SUPPRESS, (flags >> 3) & 1, off + 8, 1, bits=(4, 1))
        add(QRV, flags & 7, off + 8, 1, bits=(5, 3))
        add(QQIC, qqic, off + 9, 1)
        add(SOURCE_COUNT, nsrc, off + 10, 2)
        pos = off + 12
        for _ in range(nsrc):
            if pos + 4 > end:
                ctx.short(layer, "source list cut short")
                break
            add(SOURCE, int.from_bytes(d[pos : pos + 4], "big"), pos, 4)
            pos += 4
        layer.length = pos - off
    ctx.set_summary(layer, summary)


IP_PROTOCOLS[2] = dissect_igmp
