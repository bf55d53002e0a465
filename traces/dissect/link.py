"""Link layers without a MAC header: Linux cooked (SLL, SLL2), BSD NULL/loopback and raw IP.

Each hands its payload to the EtherType table, so IPv4/IPv6/ARP behave exactly as after
Ethernet.  Raw IP has no header of its own and therefore no layer.
"""

from __future__ import annotations

import struct

from ..fields import REGISTRY, FieldType
from ..frame import Layer, mac_text
from .core import (
    ADDR_MAC,
    ETHER_TYPES,
    IP_VERSION_ETHER_TYPES,
    LINK_TYPES,
    LINKTYPE_IPV4,
    LINKTYPE_IPV6,
    LINKTYPE_LINUX_SLL,
    LINKTYPE_LINUX_SLL2,
    LINKTYPE_LOOP,
    LINKTYPE_NULL,
    LINKTYPE_RAW,
    LINKTYPE_RAW_12,
    LINKTYPE_RAW_14,
    Ctx,
    payload,
)
from .ethernet import dissect_llc, ethertype_text

R = REGISTRY
SLL_PACKET_TYPES = {0: "Unicast to us", 1: "Broadcast", 2: "Multicast", 3: "Unicast to another host",
                    4: "Sent by us"}
SLL = R.protocol("SLL", "Linux cooked capture header (SLL / SLL2)")
SLL_PACKET_TYPE = R.define("SLL.PacketType", FieldType.UINT, "Who the packet was for (0 to us … 4 sent by us)",
                           enum=SLL_PACKET_TYPES)
SLL_HATYPE = R.define("SLL.HardwareType", FieldType.UINT, "ARPHRD_* type of the link-layer address")
SLL_ADDR_LEN = R.define("SLL.AddressLength", FieldType.UINT, "Length of the link-layer address")
SLL_SOURCE = R.define("SLL.SourceAddress", FieldType.MAC, "Sender's MAC address (6-byte addresses)")
SLL_LINK_ADDR = R.define("SLL.LinkAddress", FieldType.BYTES, "Sender's link-layer address (other lengths)")
SLL_PROTOCOL = R.define("SLL.Protocol", FieldType.UINT, "EtherType (or Linux ETH_P_* value) of the payload")
SLL_IFINDEX = R.define("SLL.InterfaceIndex", FieldType.UINT, "Capturing interface index (SLL2)")

LOOPBACK = R.protocol("Loopback", "BSD NULL / OpenBSD loopback header (address family)")
AF_NAMES = {2: "IPv4", 24: "IPv6", 28: "IPv6", 30: "IPv6", 7: "OSI", 23: "IPX"}
LOOPBACK_FAMILY = R.define("Loopback.Family", FieldType.UINT, "Address family of the payload (AF_*)",
                           enum=AF_NAMES)

ETH_P_802_2 = 0x0004  # 802.2 LLC header follows
ARPHRD_NETLINK = 824

_SLL = struct.Struct("!HHH8sH")
_SLL2 = struct.Struct("!HHIHBB8s")


def _sll_address(ctx: Ctx, layer: Layer, off: int, alen: int) -> str:
    if alen == 6:
        v = int.from_bytes(ctx.data[off : off + 6], "big")
        layer.add(SLL_SOURCE, v, off, 6)
        return mac_text(v)
    n = min(alen, 8)
    if n:
        layer.add(SLL_LINK_ADDR, ctx.data[off : off + n], off, n)
    return ""


def _sll_next(ctx: Ctx, proto: int, hatype: int, off: int, end: int) -> None:
    if hatype == ARPHRD_NETLINK:
        payload(ctx, off, end)
    elif proto == ETH_P_802_2:
        ctx.call(dissect_llc, off, end)
    elif proto >= 0x0600:
        ctx.next(ETHER_TYPES, proto, off, end)
    else:  # other Linux ETH_P_* values (0x0001 Novell raw 802.3 …): no dissector
        payload(ctx, off, end)


def dissect_sll(ctx: Ctx, off: int, end: int) -> None:
    if end - off < 16:
        ctx.header_missing(SLL, off, end, f"{end - off} bytes, an SLL header needs 16")
        return
    ptype, hatype, alen, _addr, proto = _SLL.unpack_from(ctx.data, off)
    layer = ctx.layer(SLL, "", off, 16)
    add = layer.add
    add(SLL_PACKET_TYPE, ptype, off, 2)
    add(SLL_HATYPE, hatype, off + 2, 2)
    add(SLL_ADDR_LEN, alen, off + 4, 2)
    src = _sll_address(ctx, layer, off + 6, alen)
    add(SLL_PROTOCOL, proto, off + 14, 2, display=ethertype_text(proto))
    _sll_summary(ctx, layer, ptype, proto, src)
    _sll_next(ctx, proto, hatype, off + 16, end)


def dissect_sll2(ctx: Ctx, off: int, end: int) -> None:
    if end - off < 20:
        ctx.header_missing(SLL, off, end, f"{end - off} bytes, an SLL2 header needs 20")
        return
    proto, _reserved, ifindex, hatype, ptype, alen, _addr = _SLL2.unpack_from(ctx.data, off)
    layer = ctx.layer(SLL, "", off, 20, label="SLL2")
    add = layer.add
    add(SLL_PROTOCOL, proto, off, 2, display=ethertype_text(proto))
    add(SLL_IFINDEX, ifindex, off + 4, 4)
    add(SLL_HATYPE, hatype, off + 8, 2)
    add(SLL_PACKET_TYPE, ptype, off + 10, 1)
    add(SLL_ADDR_LEN, alen, off + 11, 1)
    src = _sll_address(ctx, layer, off + 12, alen)
    _sll_summary(ctx, layer, ptype, proto, src)
    _sll_next(ctx, proto, hatype, off + 20, end)


def _sll_summary(ctx: Ctx, layer: Layer, ptype: int, proto: int, src: str) -> None:
    text = f"{SLL_PACKET_TYPES.get(ptype, f'Packet type {ptype}')}, Protocol = {ethertype_text(proto)}"
    if src:
        text += f", SourceAddress:{src}"
        ctx.addresses(src, "", ADDR_MAC)
    ctx.set_summary(layer, text)


def _loopback(ctx: Ctx, off: int, end: int, host_order: bool) -> None:
    """The 4-byte address family header of BSD NULL (``host_order``) and OpenBSD LOOP links."""
    if end - off < 4:
        ctx.header_missing(LOOPBACK, off, end, "header shorter than 4 bytes")
        return
    raw = ctx.data[off : off + 4]
    family = int.from_bytes(raw, "little" if host_order else "big")
    if family & 0xFFFF0000:  # a big-endian host wrote it: the small value sits in the last bytes
        family = int.from_bytes(raw, "big")
    layer = ctx.layer(LOOPBACK, f"Family = {AF_NAMES.get(family, family)}", off, 4)
    layer.add(LOOPBACK_FAMILY, family, off, 4)
    if family == 2:
        ctx.next(ETHER_TYPES, 0x0800, off + 4, end)
    elif family in (24, 28, 30):
        ctx.next(ETHER_TYPES, 0x86DD, off + 4, end)
    else:
        payload(ctx, off + 4, end)


def dissect_null(ctx: Ctx, off: int, end: int) -> None:
    """LINKTYPE_NULL: the family is in the *capturing* host's byte order, so guess it as tshark does."""
    _loopback(ctx, off, end, host_order=True)


def dissect_loop(ctx: Ctx, off: int, end: int) -> None:
    """LINKTYPE_LOOP (OpenBSD): the family is always in network byte order."""
    _loopback(ctx, off, end, host_order=False)


def dissect_raw(ctx: Ctx, off: int, end: int) -> None:
    """Raw IP: the version nibble says IPv4 or IPv6."""
    etype = IP_VERSION_ETHER_TYPES.get(ctx.data[off] >> 4) if off < end else None
    if etype is None:
        payload(ctx, off, end)
    else:
        ctx.next(ETHER_TYPES, etype, off, end)


def dissect_raw_ipv4(ctx: Ctx, off: int, end: int) -> None:
    ctx.next(ETHER_TYPES, 0x0800, off, end)


def dissect_raw_ipv6(ctx: Ctx, off: int, end: int) -> None:
    ctx.next(ETHER_TYPES, 0x86DD, off, end)


LINK_TYPES[LINKTYPE_LINUX_SLL] = dissect_sll
LINK_TYPES[LINKTYPE_LINUX_SLL2] = dissect_sll2
LINK_TYPES[LINKTYPE_NULL] = dissect_null
LINK_TYPES[LINKTYPE_LOOP] = dissect_loop
for _lt in (LINKTYPE_RAW, LINKTYPE_RAW_12, LINKTYPE_RAW_14):
    LINK_TYPES[_lt] = dissect_raw
LINK_TYPES[LINKTYPE_IPV4] = dissect_raw_ipv4
LINK_TYPES[LINKTYPE_IPV6] = dissect_raw_ipv6
