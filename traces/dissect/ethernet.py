"""Ethernet II and IEEE 802.3 (with LLC/SNAP), and 802.1Q/802.1ad VLAN tags (stacked)."""

from __future__ import annotations

from ..fields import REGISTRY, FieldType
from .core import ADDR_MAC, ETHER_TYPES, LINK_TYPES, LINKTYPE_ETHERNET, Ctx, payload
from .text import mac_text, new

R = REGISTRY
ETHERNET = R.protocol("Ethernet", "Ethernet II / IEEE 802.3 frame")
ETH_DST = R.define("Ethernet.DestinationAddress", FieldType.MAC, "Destination MAC address")
ETH_SRC = R.define("Ethernet.SourceAddress", FieldType.MAC, "Source MAC address")
ETH_ADDR = R.define("Ethernet.Address", FieldType.MAC, "Source or destination MAC address",
                    pair=("Ethernet.SourceAddress", "Ethernet.DestinationAddress"))
ETH_TYPE = R.define("Ethernet.EtherType", FieldType.UINT, "EtherType of the payload (Ethernet II)")
ETH_LENGTH = R.define("Ethernet.Length", FieldType.UINT, "Payload length (IEEE 802.3 frames)")
ETH_DST_GROUP = R.define("Ethernet.DestinationAddress.Group", FieldType.BOOL,
                         "Destination is a group (multicast/broadcast) address")
ETH_BROADCAST = R.define("Ethernet.Broadcast", FieldType.BOOL, "Destination is FF-FF-FF-FF-FF-FF")

VLAN = R.protocol("VLAN", "IEEE 802.1Q / 802.1ad VLAN tag")
VLAN_PRIORITY = R.define("VLAN.Priority", FieldType.UINT, "802.1p user priority (PCP)")
VLAN_DEI = R.define("VLAN.DEI", FieldType.BOOL, "Drop eligible indicator")
VLAN_ID = R.define("VLAN.VlanId", FieldType.UINT, "VLAN identifier (12 bits)")
VLAN_TPID = R.define("VLAN.TPID", FieldType.UINT, "Tag protocol identifier (0x8100, 0x88A8 …)")
VLAN_TYPE = R.define("VLAN.EtherType", FieldType.UINT, "EtherType after the tag")

LLC = R.protocol("LLC", "IEEE 802.2 Logical Link Control")
LLC_DSAP = R.define("LLC.DSAP", FieldType.UINT, "Destination service access point")
LLC_SSAP = R.define("LLC.SSAP", FieldType.UINT, "Source service access point")
LLC_CONTROL = R.define("LLC.Control", FieldType.UINT, "Control field")
SNAP = R.protocol("SNAP", "Subnetwork Access Protocol header")
SNAP_OUI = R.define("SNAP.OrganizationCode", FieldType.UINT, "Organisationally unique identifier")
SNAP_TYPE = R.define("SNAP.EtherType", FieldType.UINT, "EtherType of the payload")

ETHER_TYPE_NAMES = {
    0x0800: "IPv4", 0x0806: "ARP", 0x86DD: "IPv6", 0x8100: "VLAN", 0x88A8: "VLAN (802.1ad)",
    0x8847: "MPLS", 0x8848: "MPLS multicast", 0x888E: "EAPOL", 0x88CC: "LLDP", 0x9000: "Loopback",
    0x8035: "RARP", 0x88E5: "MACsec", 0x8863: "PPPoE discovery", 0x8864: "PPPoE session",
    0x6558: "Transparent Ethernet Bridging",
}
VLAN_TPIDS = (0x8100, 0x88A8, 0x9100)


def u16(b: bytes, o: int) -> int:
    return (b[o] << 8) | b[o + 1]


def mac(b: bytes, o: int) -> int:
    """The MAC address at ``b[o : o + 6]`` as an int."""
    return int.from_bytes(b[o : o + 6], "big")


def ethertype_text(t: int) -> str:
    name = ETHER_TYPE_NAMES.get(t)
    return f"0x{t:04X} ({name})" if name else f"0x{t:04X}"


def dissect_ethernet(ctx: Ctx, off: int, end: int) -> None:
    d = ctx.data
    if end - off < 14:
        ctx.header_missing(ETHERNET, off, end, f"{end - off} bytes, an Ethernet header needs 14")
        return
    dst_b, src_b = d[off : off + 6], d[off + 6 : off + 12]
    dst, src, etype = int.from_bytes(dst_b, "big"), int.from_bytes(src_b, "big"), u16(d, off + 12)
    dst_t, src_t = mac_text(dst_b), mac_text(src_b)
    layer = ctx.layer(ETHERNET, "", off, 14)
    put = layer.fields.append
    put(new(ETH_DST, dst, dst_t, off, 6))
    put(new(ETH_SRC, src, src_t, off + 6, 6))
    group = d[off] & 1
    put(new(ETH_DST_GROUP, group, "1" if group else "0", off, 1, (7, 1)))
    if dst == 0xFFFFFFFFFFFF:
        put(new(ETH_BROADCAST, 1, "1", off, 6))
    ctx.addresses(src_t, dst_t, ADDR_MAC)
    if etype >= 0x0600:
        put(new(ETH_TYPE, etype, ethertype_text(etype), off + 12, 2))
        ctx.set_summary(layer, f"Etype = {ETHER_TYPE_NAMES.get(etype, f'0x{etype:04X}')}, "
                               f"DestinationAddress:{dst_t}, SourceAddress:{src_t}")
        ctx.next(ETHER_TYPES, etype, off + 14, end)
        return
    # IEEE 802.3: the type field is a length; the payload starts with an LLC header
    put(new(ETH_LENGTH, etype, str(etype), off + 12, 2))
    ctx.set_summary(layer, f"Length = {etype}, DestinationAddress:{dst_t}, SourceAddress:{src_t}")
    stop = min(end, off + 14 + etype) if etype else end
    ctx.call(dissect_llc, off + 14, stop)


def dissect_llc(ctx: Ctx, off: int, end: int) -> None:
    d = ctx.data
    if end - off < 3:
        payload(ctx, off, end)
        return
    dsap, ssap, control = d[off], d[off + 1], d[off + 2]
    # U-format frames have a 1-byte control field; I and S formats have 2
    clen = 1 if control & 3 == 3 else 2
    layer = ctx.layer(LLC, f"DSAP = 0x{dsap:02X}, SSAP = 0x{ssap:02X}", off, min(3 + clen - 1, end - off))
    layer.add(LLC_DSAP, dsap, off, 1, display=f"0x{dsap:02X}")
    layer.add(LLC_SSAP, ssap, off + 1, 1, display=f"0x{ssap:02X}")
    if end - off < 2 + clen:
        layer.add(LLC_CONTROL, control, off + 2, 1, display=f"0x{control:02X}")
        ctx.malformed(layer, "2-byte control field cut short")
        return
    control_value = control if clen == 1 else (control | (d[off + 3] << 8))
    layer.add(LLC_CONTROL, control_value, off + 2, clen, display=f"0x{control_value:02X}")
    body = off + 2 + clen
    if dsap == 0xAA and ssap == 0xAA and control == 0x03 and end - body >= 5:
        oui = int.from_bytes(d[body : body + 3], "big")
        etype = u16(d, body + 3)
        snap = ctx.layer(SNAP, f"EtherType = {ETHER_TYPE_NAMES.get(etype, f'0x{etype:04X}')}", body, 5)
        snap.add(SNAP_OUI, oui, body, 3, display=f"0x{oui:06X}")
        snap.add(SNAP_TYPE, etype, body + 3, 2, display=ethertype_text(etype))
        ctx.next(ETHER_TYPES, etype, body + 5, end)
        return
    payload(ctx, body, end)


def dissect_vlan(ctx: Ctx, off: int, end: int) -> None:
    d = ctx.data
    # the TPID is whatever EtherType led here; it sits just before the tag after Ethernet and
    # SNAP, but elsewhere after other link layers (SLL2 keeps it in its own header)
    tpid = ctx.dispatch_key if ctx.dispatch_key in VLAN_TPIDS else 0x8100
    tpid_at = off - 2 if off >= 2 and u16(d, off - 2) == tpid else -1
    if end - off < 4:
        ctx.header_missing(VLAN, off, end, "tag shorter than 4 bytes")
        return
    tci, etype = u16(d, off), u16(d, off + 2)
    vid = tci & 0x0FFF
    layer = ctx.layer(VLAN, f"VlanId = {vid}, Priority = {tci >> 13}", off, 4)
    layer.add(VLAN_TPID, tpid, tpid_at, 2 if tpid_at >= 0 else 0, display=f"0x{tpid:04X}")
    layer.add(VLAN_PRIORITY, tci >> 13, off, 1, bits=(0, 3))
    layer.add(VLAN_DEI, (tci >> 12) & 1, off, 1, bits=(3, 1))
    layer.add(VLAN_ID, vid, off, 2, bits=(4, 12))
    if etype >= 0x0600:
        layer.add(VLAN_TYPE, etype, off + 2, 2, display=ethertype_text(etype))
        ctx.next(ETHER_TYPES, etype, off + 4, end)
    else:
        layer.add(ETH_LENGTH, etype, off + 2, 2)
        ctx.call(dissect_llc, off + 4, end)


LINK_TYPES[LINKTYPE_ETHERNET] = dissect_ethernet
for _tpid in VLAN_TPIDS:
    ETHER_TYPES[_tpid] = dissect_vlan
