"""Geneve (RFC 8926, UDP 6081): the tunnel Azure and newer Hyper-V network virtualization hosts use
beside VXLAN.  A fixed 8-byte header (version, option length, OAM and critical bits, the payload's
EtherType, a 24-bit VNI), then options (class, type, length, data), then the tenant's frame —
normally Ethernet (0x6558), dissected in full like VXLAN's.
"""

from __future__ import annotations

from ..fields import REGISTRY, FieldType
from .core import ETHER_TYPES, UDP_PORTS, Ctx, payload
from .ethernet import ethertype_text
from .vxlan import enter_tenant

R = REGISTRY
GENEVE = R.protocol("Geneve", "Generic Network Virtualization Encapsulation (RFC 8926), UDP 6081")
VERSION = R.define("Geneve.Version", FieldType.UINT, "Version (0)")
OPT_LEN = R.define("Geneve.OptionsLength", FieldType.UINT, "Length of the options in 4-byte words")
OAM = R.define("Geneve.Flags.OAM", FieldType.BOOL, "O: a control (OAM) packet, not tenant data")
CRITICAL = R.define("Geneve.Flags.Critical", FieldType.BOOL, "C: critical options are present")
PROTOCOL = R.define("Geneve.ProtocolType", FieldType.UINT, "EtherType of the payload (0x6558: Ethernet)")
VNI = R.define("Geneve.VNI", FieldType.UINT, "Virtual network identifier (the tenant's virtual network)")
OPTION = R.define("Geneve.Option", FieldType.PROTOCOL, "One option (class, type, length, data)")
OPT_CLASS = R.define("Geneve.Option.Class", FieldType.UINT, "Option class (who defines the type)")
OPT_TYPE = R.define("Geneve.Option.Type", FieldType.UINT, "Option type (the high bit: critical)")
OPT_LENGTH = R.define("Geneve.Option.Length", FieldType.UINT, "Length of the option data in 4-byte words")
OPT_DATA = R.define("Geneve.Option.Data", FieldType.BYTES, "Option data")

HEADER = 8
#: EtherType of bridged Ethernet, the payload the vectorised classifier reads
TRANSPARENT_ETHERNET = 0x6558


def dissect_geneve(ctx: Ctx, off: int, end: int) -> None:
    d = ctx.data
    if end - off < HEADER:
        ctx.header_missing(GENEVE, off, end, f"{end - off} bytes, a Geneve header needs {HEADER}", short=True)
        return
    version, words = d[off] >> 6, d[off] & 0x3F
    oam, critical = d[off + 1] >> 7, (d[off + 1] >> 6) & 1
    proto = (d[off + 2] << 8) | d[off + 3]
    vni = int.from_bytes(d[off + 4 : off + 7], "big")
    size = HEADER + 4 * words
    layer = ctx.layer(GENEVE, f"VNI = {vni}, Protocol = {ethertype_text(proto)}" + (", OAM" if oam else ""),
                      off, min(size, end - off))
    add = layer.add
    add(VERSION, version, off, 1, bits=(0, 2))
    add(OPT_LEN, words, off, 1, bits=(2, 6), display=f"{words} ({4 * words} bytes)")
    add(OAM, oam, off + 1, 1, bits=(0, 1))
    add(CRITICAL, critical, off + 1, 1, bits=(1, 1))
    add(PROTOCOL, proto, off + 2, 2, display=ethertype_text(proto))
    add(VNI, vni, off + 4, 3)
    if version != 0:  # read on as version 0, as Wireshark does, and say so
        ctx.malformed(layer, f"version {version}, only 0 is defined")
    if size > end - off:
        ctx.short(layer, f"{4 * words} bytes of options, {end - off - HEADER} captured")
        payload(ctx, off + HEADER, end)
        return
    p, stop = off + HEADER, off + size
    while p < stop:
        if stop - p < 4:
            ctx.malformed(layer, f"{stop - p} bytes left for an option, its header needs 4")
            break
        cls, typ, length = (d[p] << 8) | d[p + 1], d[p + 2], d[p + 3] & 0x1F
        n = 4 + 4 * length
        if n > stop - p:
            ctx.malformed(layer, f"option of {n} bytes at offset {p}, {stop - p} left in the options")
            break
        opt = add(OPTION, True, p, n, display=f"Class = 0x{cls:04X}, Type = 0x{typ:02X}, Length = {4 * length}")
        opt.add(OPT_CLASS, cls, p, 2, display=f"0x{cls:04X}")
        opt.add(OPT_TYPE, typ, p + 2, 1, display=f"0x{typ:02X}" + (" (critical)" if typ & 0x80 else ""))
        opt.add(OPT_LENGTH, length, p + 3, 1, bits=(3, 5), display=f"{length} ({4 * length} bytes)")
        if length:
            opt.add(OPT_DATA, d[p + 4 : p + n], p + 4, n - 4)
        p += n
    enter_tenant(ctx)
    ctx.next(ETHER_TYPES, proto, stop, end)


UDP_PORTS[6081] = dissect_geneve
