"""Packets inside ETW events: where the frame bytes are, on which interface, in which direction.

Follows microsoft/etl2pcapng (``src/main.c``, ETW.md §3.3):

* NDIS-PacketCapture 1001 (``MiniportIfIndex, LowerIfIndex, FragmentSize, Fragment``) and 1003
  (VMSwitch port capture: three NUL-terminated UTF-16 names and a destination list before the
  fragment, then the NBL's OOB ``NetBufferListInfo[]`` array: entry 4 = 802.1Q info, entry 8 =
  RSS hash).  The medium and direction are keyword bits of each event: 0x10000 → 802.11
  (LINKTYPE 105; ndiscap logs decrypted frames, so the Protected bit is cleared), 0x200 → raw IP
  (101), else Ethernet; 0x100000000 send, 0x200000000 receive.  Before Windows 8.1 a packet may
  span several events: PacketStart (0x40000000) … PacketEnd (0x80000000).
* 1002 carries a ``DOT11_EXTSTA_RECV_CONTEXT`` (Wi-Fi receive info) for the *next* packet.
* PktMon 160 (packet) / 170 (dropped packet): fixed fields, then ``LoggedPayloadSize`` bytes;
  PacketType 1/2/3 = Ethernet/802.11/IP; DirTag 3 = Rx, 4 = Tx (checked against ``pktmon
  format`` output of the sample capture); interfaces are PktMon components (event 20 names them).

Everything here reads bytes only (no numpy, no dissectors): the scan workers import it.
"""

from __future__ import annotations

import struct
import uuid
from dataclasses import dataclass, field
from typing import Any

NDIS_GUID = uuid.UUID("2ed6006e-4729-4609-b423-3ee7bcd678ef")
PKTMON_GUID = uuid.UUID("4d4f80d9-c8bd-4d73-bb5b-19c90402c5ac")
VMSWITCH_GUID = uuid.UUID("67dc0d66-3695-47c0-9642-33f76f7bd7ad")

KW_WIRELESS_WAN = 0x200
KW_NATIVE_802_11 = 0x10000
KW_VMSWITCH = 0x1000000
KW_TRUNCATED = 0x2000000
KW_PACKET_START = 0x40000000
KW_PACKET_END = 0x80000000
KW_SEND = 0x100000000
KW_RECEIVE = 0x200000000

NDIS_FRAGMENT = 1001
NDIS_METADATA = 1002
NDIS_VMSWITCH_FRAGMENT = 1003
PKTMON_COMPONENT = 20
PKTMON_PACKET = 160
PKTMON_DROP = 170

LINK_ETHERNET = 1
LINK_RAW = 101
LINK_80211 = 105

SEND = 1
RECEIVE = 2
DIRECTION_TEXT = {SEND: "Outbound", RECEIVE: "Inbound"}

#: NDIS keyword bit → medium, the first that is set wins (etl2pcapng); Ethernet when none is.
#: ``ndis_link`` reads one keyword, the index pass (``packetrows.packet_rows``) a column of them.
NDIS_LINK_BITS = ((KW_NATIVE_802_11, LINK_80211), (KW_WIRELESS_WAN, LINK_RAW))
#: NDIS keyword bit → direction, the same way
NDIS_DIRECTION_BITS = ((KW_SEND, SEND), (KW_RECEIVE, RECEIVE))

#: PktMon PacketType → link type (other types carry no frame we dissect)
PKTMON_LINKS = {1: LINK_ETHERNET, 2: LINK_80211, 3: LINK_RAW}
PKTMON_TYPES = {0: "Unknown", 1: "Ethernet", 2: "WiFi", 3: "IP", 4: "HTTP", 5: "TCP", 6: "UDP", 7: "ARP",
                8: "ICMP", 9: "ESP", 10: "AH", 11: "L4Payload"}
#: DirTag values; 3/4 verified against ``pktmon format`` text, 1/2 by the same enum's order (inferred)
PKTMON_DIRS = {1: ("In", RECEIVE), 2: ("Out", SEND), 3: ("Rx", RECEIVE), 4: ("Tx", SEND)}
DOT11_PHY_TYPES = ("Unknown", "Fhss", "Dsss", "IrBaseband", "802.11a", "802.11b", "802.11g", "802.11n",
                   "802.11ac", "802.11ad", "802.11ax")

#: the fixed fields of PktMon 160/170 before the payload bytes: PktGroupId, PktNumber,
#: AppearanceCount, DirTag, PacketType, ComponentId, EdgeId, FilterId, DropReason, DropLocation,
#: OriginalPayloadSize, LoggedPayloadSize
PKTMON_PACKET_LAYOUT = struct.Struct("<QHHHHHHHIIHH")


@dataclass(slots=True)
class PacketInfo:
    """Where one packet (or fragment) is inside its record, and how to file it."""

    #: offset and length of the fragment bytes, relative to the start of the record
    start: int
    length: int
    link_type: int
    direction: int  # 0, SEND or RECEIVE
    #: interface identity: ("ndis", lower_ifindex, link) / ("vnic", lower, port_id, vlan) /
    #: ("pktmon", component_id, link)
    iface: tuple[Any, ...]
    miniport: int = 0
    first: bool = True  # PacketStart (single-event packets have both)
    last: bool = True  # PacketEnd
    original_length: int = 0
    #: shown in Frame.meta (ifIndex, port/NIC names, VLAN, direction, component, drop reason …)
    meta: dict[str, Any] = field(default_factory=dict)
    #: clear the 802.11 Protected bit before dissection (ndiscap logs decrypted frames)
    clear_protected: bool = False


def utf16_nul(data: bytes, pos: int, end: int) -> int:
    """Where the NUL that ends a UTF-16LE string at ``pos`` is (-1: none before ``end``)."""
    i = data.find(b"\0\0", pos, end)
    while i >= 0 and (i - pos) & 1:  # a NUL pair straddling two characters: keep looking
        i = data.find(b"\0\0", i + 1, end)
    return i


def utf16z(data: bytes | memoryview, pos: int, end: int) -> tuple[str, int]:
    """A NUL-terminated UTF-16LE string at ``pos``; returns it and the position after the NUL."""
    if not isinstance(data, bytes):
        data = bytes(data[:end])
    i = utf16_nul(data, pos, end)
    if i < 0:
        return data[pos:end].decode("utf-16-le", "replace"), end
    return data[pos:i].decode("utf-16-le", "replace"), i + 2


def ndis_direction(keyword: int) -> int:
    for bit, direction in NDIS_DIRECTION_BITS:
        if keyword & bit:
            return direction
    return 0


def ndis_link(keyword: int) -> int:
    for bit, link in NDIS_LINK_BITS:
        if keyword & bit:
            return link
    return LINK_ETHERNET


def ndis_bounds(keyword: int) -> tuple[bool, bool]:
    """(first, last): PacketStart / PacketEnd of a multi-event packet; an event with neither bit
    is a whole packet (Windows 8.1 and later)."""
    if not keyword & (KW_PACKET_START | KW_PACKET_END):
        return True, True
    return bool(keyword & KW_PACKET_START), bool(keyword & KW_PACKET_END)


def locate(provider: uuid.UUID, event_id: int, keyword: int, rec: bytes | memoryview, payload_at: int,
           pointer_size: int = 8, detail: bool = True) -> PacketInfo | None:
    """The packet in a packet-carrying event, or None (not a packet event, or too damaged to say).

    ``detail=False`` (the index pass) skips what only the frame view shows (``meta``).
    """
    end = len(rec)
    if provider == NDIS_GUID:
        if event_id == NDIS_FRAGMENT:
            return _ndis_1001(keyword, rec, payload_at, end)
        if event_id == NDIS_VMSWITCH_FRAGMENT:
            return _ndis_1003(keyword, rec, payload_at, end, pointer_size, detail)
    elif provider == PKTMON_GUID and event_id in (PKTMON_PACKET, PKTMON_DROP):
        return _pktmon(event_id, rec, payload_at, end)
    return None


def _finish_ndis(info: PacketInfo, keyword: int, detail: bool = True) -> PacketInfo:
    """What the keyword says of an NDIS packet event (``detail``: also the frame view's meta)."""
    info.first, info.last = ndis_bounds(keyword)
    info.direction = ndis_direction(keyword)
    info.clear_protected = info.link_type == LINK_80211
    if detail:
        if info.direction:
            info.meta["Direction"] = DIRECTION_TEXT[info.direction]
        if keyword & KW_TRUNCATED:
            info.meta["Truncated"] = True
    return info


def _ndis_1001(keyword: int, rec: bytes | memoryview, p: int, end: int) -> PacketInfo | None:
    if p + 12 > end:
        return None
    mini, lower, size = struct.unpack_from("<III", rec, p)
    start = p + 12
    length = min(size, end - start)
    link = ndis_link(keyword)
    meta: dict[str, Any] = {"MiniportIfIndex": mini, "LowerIfIndex": lower}
    if length < size:
        meta["FragmentSize"] = f"{size} (only {length} bytes in the record)"
    info = PacketInfo(start, length, link, 0, ("ndis", lower, link), mini, meta=meta)
    return _finish_ndis(info, keyword)


def _ndis_1003(keyword: int, rec: bytes | memoryview, p: int, end: int, ptr: int, detail: bool = True
               ) -> PacketInfo | None:
    if p + 12 > end:
        return None
    mini, lower, port = struct.unpack_from("<III", rec, p)
    pos = p + 12
    port_name, pos = utf16z(rec, pos, end)
    nic_name, pos = utf16z(rec, pos, end)
    nic_type, pos = utf16z(rec, pos, end)
    if pos + 4 > end:
        return None
    dcount = struct.unpack_from("<I", rec, pos)[0]
    pos += 4
    # the manifest declares Destination as win:Double[count] (8 bytes each); accept 4-byte
    # elements when only that layout makes the rest of the event fit exactly
    chosen = None
    for elem in (8, 4):
        q = pos + dcount * elem
        if q + 4 > end:
            continue
        fsize = struct.unpack_from("<I", rec, q)[0]
        r = q + 4 + fsize
        if r + 4 <= end and r + 4 + struct.unpack_from("<I", rec, r)[0] == end:
            chosen = (q, fsize)
            break
        if chosen is None and r <= end:
            chosen = (q, fsize)
    if chosen is None:
        return None
    q, fsize = chosen
    start = q + 4
    length = min(fsize, end - start)
    vlan = 0
    rss = None
    oob_at = start + fsize
    if oob_at + 4 <= end:
        oob_size = struct.unpack_from("<I", rec, oob_at)[0]
        oob = bytes(rec[oob_at + 4 : min(end, oob_at + 4 + oob_size)])
        fmt = "<Q" if ptr == 8 else "<I"
        if len(oob) >= 5 * ptr:
            vlan = (struct.unpack_from(fmt, oob, 4 * ptr)[0] >> 4) & 0xFFF
        if len(oob) >= 9 * ptr:
            rss = struct.unpack_from(fmt, oob, 8 * ptr)[0] & 0xFFFFFFFF
    link = ndis_link(keyword)
    key = ("vnic", lower, port, vlan, nic_type, port_name)
    if not detail:
        return _finish_ndis(PacketInfo(start, length, link, 0, key, mini), keyword, detail=False)
    meta: dict[str, Any] = {"MiniportIfIndex": mini, "LowerIfIndex": lower, "SourcePortId": port,
                            "SourcePortName": port_name, "SourceNicName": nic_name,
                            "SourceNicType": nic_type, "VlanId": vlan, "DestinationCount": dcount}
    if rss is not None:
        meta["HashValue"] = f"{rss:08x}"
    info = PacketInfo(start, length, link, 0, key, mini, meta=meta)
    return _finish_ndis(info, keyword)


#: EtherTypes that betray an Ethernet II frame logged with PktMon's Wi-Fi packet type
ETHERNET_TYPES = (0x0800, 0x86DD, 0x0806, 0x8100)


def wifi_is_ethernet(fc: int, ethertype: int) -> bool:
    """PktMon types some components' frames (pacer.sys, seen in the VPN sample) as Wi-Fi although
    they are Ethernet II: a first byte that would be an 802.11 frame of the reserved "extension"
    type (3), followed by a common EtherType at byte 12, is read as Ethernet.  pktmon's own text
    output calls these "unknown 802.11 frame type"."""
    return (fc >> 2) & 3 == 3 and ethertype in ETHERNET_TYPES


def _pktmon(event_id: int, rec: bytes | memoryview, p: int, end: int) -> PacketInfo | None:
    if p + PKTMON_PACKET_LAYOUT.size > end:
        return None
    (group, number, appearance, dirtag, ptype, comp, edge, filt, drop_reason, drop_loc, orig,
     logged) = PKTMON_PACKET_LAYOUT.unpack_from(rec, p)
    link = PKTMON_LINKS.get(ptype)
    if link is None:
        return None
    start = p + PKTMON_PACKET_LAYOUT.size
    length = min(logged, end - start)
    if link == LINK_80211 and length >= 14 and wifi_is_ethernet(rec[start], (rec[start + 12] << 8) | rec[start + 13]):
        link = LINK_ETHERNET
    dtext, direction = PKTMON_DIRS.get(dirtag, ("", 0))
    meta: dict[str, Any] = {"PktGroupId": group, "PktNumber": number, "AppearanceCount": appearance,
                            "Direction": dtext or str(dirtag), "PacketType": PKTMON_TYPES.get(ptype, str(ptype)),
                            "ComponentId": comp, "EdgeId": edge, "FilterId": filt}
    if event_id == PKTMON_DROP:
        meta["DropReason"] = drop_reason
        meta["DropLocation"] = f"0x{drop_loc:08X}"
    return PacketInfo(start, length, link, direction, ("pktmon", comp, link), 0, True, True,
                      max(orig, length), meta)


def wifi_metadata(rec: bytes | memoryview, p: int) -> dict[str, Any] | None:
    """NDIS 1002: the DOT11_EXTSTA_RECV_CONTEXT for the next packet (etl2pcapng's comment fields)."""
    end = len(rec)
    if p + 12 > end:
        return None
    size = struct.unpack_from("<I", rec, p + 8)[0]
    m = p + 12
    if size < 28 or m + size > end:
        return None
    flags, phy, freq, mpdus = struct.unpack_from("<IIIH", rec, m + 4)
    rssi = struct.unpack_from("<i", rec, m + 20)[0]
    rate = rec[m + 24]
    return {"ReceiveFlags": f"0x{flags:x}", "PhyType": DOT11_PHY_TYPES[phy] if phy < len(DOT11_PHY_TYPES) else
            "Unknown", "CenterFrequency": freq, "NumMPDUsReceived": mpdus, "RSSI": rssi, "DataRate": rate}


def pktmon_component(rec: bytes | memoryview, p: int) -> tuple[int, int, str, str] | None:
    """PktMon 20: (Id, Type, Name, Description) of a component."""
    end = len(rec)
    if p + 4 > end:
        return None
    cid, ctype = struct.unpack_from("<HH", rec, p)
    name, pos = utf16z(rec, p + 4, end)
    desc, _ = utf16z(rec, pos, end)
    return cid, ctype, name, desc


def interface_name(key: tuple[Any, ...], link: int, components: dict[int, tuple[str, str]]) -> tuple[str, str]:
    """etl2pcapng's interface name and description for an interface key."""
    kind = key[0]
    if kind == "vnic":
        _, lower, _port, vlan, nic_type, port_name = key
        return f"vNIC:{nic_type}:{port_name}:{lower}:{vlan}", (f"VlanID={vlan}" if vlan else "")
    if kind == "pktmon":
        name, desc = components.get(key[1], ("", ""))
        return name or f"pktmon:{key[1]}", desc
    lower = key[1]
    if link == LINK_80211:
        return f"wifi:{lower}", ""
    if link == LINK_RAW:
        return f"mbb:{lower}", ""
    return f"eth:{lower}:0", ""


def original_length(data: bytes, link: int, captured: int) -> int:
    """The on-the-wire length etl2pcapng infers from the IP header when ndiscap truncated the copy."""
    inferred = 0
    if link == LINK_ETHERNET and len(data) >= 14 + 20:
        etype = (data[12] << 8) | data[13]
        if etype == 0x0800:
            inferred = ((data[16] << 8) | data[17]) + 14
        elif etype == 0x86DD and len(data) >= 14 + 40:
            inferred = ((data[18] << 8) | data[19]) + 40 + 14
    elif link == LINK_RAW and len(data) >= 20:
        if data[0] >> 4 == 4:
            inferred = (data[2] << 8) | data[3]
        elif data[0] >> 4 == 6 and len(data) >= 40:
            inferred = ((data[4] << 8) | data[5]) + 40
    return max(captured, inferred)
