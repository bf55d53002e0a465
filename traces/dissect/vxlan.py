"""Network-virtualization tunnels Hyper-V hosts carry tenant traffic in: VXLAN (RFC 7348, UDP
4789) and NVGRE (RFC 7637: GRE whose key holds the virtual subnet id and a flow id, over bridged
Ethernet; the GRE dissector hands it here).  The inner Ethernet frame is dissected in full, so
``IPv4.Address``, ``TCP.Port`` and the rest match the tenant's addresses too (any instance matches),
and the Source/Destination columns show the tenant's addresses, as Netmon and Wireshark do.
"""

from __future__ import annotations

from ..fields import REGISTRY, FieldType
from .core import UDP_PORTS, Ctx
from .ethernet import dissect_ethernet

R = REGISTRY
VXLAN = R.protocol("VXLAN", "Virtual eXtensible LAN (RFC 7348), UDP 4789")
VX_FLAGS = R.define("VXLAN.Flags", FieldType.UINT, "Flags (0x08: the VNI is valid)")
VNI = R.define("VXLAN.VNI", FieldType.UINT, "VXLAN network identifier (the tenant's virtual network)")
NVGRE = R.protocol("NVGRE", "Network Virtualization using GRE (RFC 7637): the GRE key as VSID and flow id")
VSID = R.define("NVGRE.VirtualSubnetID", FieldType.UINT, "Virtual subnet id (the GRE key's upper 24 bits)")
FLOW_ID = R.define("NVGRE.FlowID", FieldType.UINT, "Flow id (the GRE key's low 8 bits)")
R.alias("NVGRE.VSID", "NVGRE.VirtualSubnetID")


def enter_tenant(ctx: Ctx) -> None:
    """What follows is the tenant's frame: its addresses take the Source/Destination columns (the
    innermost addresses win across a tunnel, unlike a quoted packet in an ICMP error)."""
    ctx.addr_level = 0


def dissect_vxlan(ctx: Ctx, off: int, end: int) -> None:
    d = ctx.data
    if end - off < 8:
        ctx.header_missing(VXLAN, off, end, f"{end - off} bytes, a VXLAN header needs 8", short=True)
        return
    vni = int.from_bytes(d[off + 4 : off + 7], "big")
    layer = ctx.layer(VXLAN, f"VNI = {vni}", off, 8)
    layer.add(VX_FLAGS, d[off], off, 1, display=f"0x{d[off]:02X}")
    layer.add(VNI, vni, off + 4, 3)
    enter_tenant(ctx)
    ctx.call(dissect_ethernet, off + 8, end)


def nvgre(ctx: Ctx, key_at: int, off: int, end: int) -> None:
    """The NVGRE layer for a GRE key at ``key_at``, then the inner Ethernet frame at ``off``."""
    d = ctx.data
    vsid, flow = int.from_bytes(d[key_at : key_at + 3], "big"), d[key_at + 3]
    layer = ctx.layer(NVGRE, f"VSID = {vsid}, FlowID = {flow}", key_at, 4)
    layer.add(VSID, vsid, key_at, 3)
    layer.add(FLOW_ID, flow, key_at + 3, 1)
    enter_tenant(ctx)
    ctx.call(dissect_ethernet, off, end)


UDP_PORTS[4789] = dissect_vxlan
