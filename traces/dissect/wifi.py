"""IEEE 802.11 (Netmon's ``WiFi``); the radio headers in front of it are in ``radiotap``/``prism``.

Data frames (plain, QoS, 4-address) continue into LLC/SNAP and the EtherType table unless the
Protected bit says the body is encrypted (and the body does not start with an LLC/SNAP header:
see ``_clear_llc``).  Management frames show their SSID when they carry
one; control frames have only addresses.  Address fields follow the ToDS/FromDS table of
IEEE 802.11-2020 §9.3.2.1: ``ReceiverAddress`` is always address 1, ``TransmitterAddress``
address 2; ``DestinationAddress``, ``SourceAddress`` and ``BSSID`` are given where the frame
says which address is which.
"""

from __future__ import annotations

from ..fields import REGISTRY, FieldType
from ..frame import Layer, mac_text
from .core import (
    ADDR_MAC,
    LINK_TYPES,
    LINKTYPE_IEEE802_11,
    Ctx,
    payload,
)
from .ethernet import dissect_llc, mac

R = REGISTRY
FRAME_TYPES = {0: "Management", 1: "Control", 2: "Data", 3: "Extension"}
SUBTYPES = {
    0: {0: "Association Request", 1: "Association Response", 2: "Reassociation Request",
        3: "Reassociation Response", 4: "Probe Request", 5: "Probe Response", 6: "Timing Advertisement",
        8: "Beacon", 9: "ATIM", 10: "Disassociation", 11: "Authentication", 12: "Deauthentication",
        13: "Action", 14: "Action No Ack"},
    1: {2: "Trigger", 4: "Beamforming Report Poll", 5: "VHT NDP Announcement", 7: "Control Wrapper",
        8: "Block Ack Request", 9: "Block Ack", 10: "PS-Poll", 11: "RTS", 12: "CTS", 13: "Ack", 14: "CF-End",
        15: "CF-End + CF-Ack"},
    2: {0: "Data", 1: "Data + CF-Ack", 2: "Data + CF-Poll", 3: "Data + CF-Ack + CF-Poll", 4: "Null Data",
        5: "CF-Ack", 6: "CF-Poll", 7: "CF-Ack + CF-Poll", 8: "QoS Data", 9: "QoS Data + CF-Ack",
        10: "QoS Data + CF-Poll", 11: "QoS Data + CF-Ack + CF-Poll", 12: "QoS Null", 14: "QoS CF-Poll",
        15: "QoS CF-Ack + CF-Poll"},
    3: {0: "DMG Beacon", 1: "S1G Beacon"},
}

WIFI = R.protocol("WiFi", "IEEE 802.11 MAC header")
FRAME_CONTROL = R.define("WiFi.FrameControl", FieldType.UINT, "Frame control word (little-endian)")
FC_VERSION = R.define("WiFi.FrameControl.ProtocolVersion", FieldType.UINT, "Protocol version (0)")
FC_TYPE = R.define("WiFi.FrameControl.Type", FieldType.UINT, "Frame type", enum=FRAME_TYPES)
FC_SUBTYPE = R.define("WiFi.FrameControl.Subtype", FieldType.UINT, "Frame subtype (meaning depends on the type)")
FC_TO_DS = R.define("WiFi.FrameControl.ToDS", FieldType.BOOL, "Frame goes to the distribution system")
FC_FROM_DS = R.define("WiFi.FrameControl.FromDS", FieldType.BOOL, "Frame comes from the distribution system")
FC_MORE_FRAG = R.define("WiFi.FrameControl.MoreFragments", FieldType.BOOL, "More fragments follow")
FC_RETRY = R.define("WiFi.FrameControl.Retry", FieldType.BOOL, "Retransmission")
FC_POWER = R.define("WiFi.FrameControl.PowerManagement", FieldType.BOOL, "Sender goes to power save mode")
FC_MORE_DATA = R.define("WiFi.FrameControl.MoreData", FieldType.BOOL, "More data buffered for the receiver")
FC_PROTECTED = R.define("WiFi.FrameControl.Protected", FieldType.BOOL, "Body is encrypted")
FC_ORDER = R.define("WiFi.FrameControl.Order", FieldType.BOOL, "+HTC: an HT control field is present")
DURATION = R.define("WiFi.Duration", FieldType.UINT, "Duration / ID")
RECEIVER = R.define("WiFi.ReceiverAddress", FieldType.MAC, "Receiver address (address 1)")
TRANSMITTER = R.define("WiFi.TransmitterAddress", FieldType.MAC, "Transmitter address (address 2)")
DESTINATION = R.define("WiFi.DestinationAddress", FieldType.MAC, "Final destination address")
SOURCE = R.define("WiFi.SourceAddress", FieldType.MAC, "Original source address")
ADDRESS = R.define("WiFi.Address", FieldType.MAC, "Source or destination address",
                   pair=("WiFi.SourceAddress", "WiFi.DestinationAddress"))
BSSID = R.define("WiFi.BSSID", FieldType.MAC, "Basic service set identifier")
SEQUENCE = R.define("WiFi.SequenceNumber", FieldType.UINT, "Sequence number")
FRAGMENT = R.define("WiFi.FragmentNumber", FieldType.UINT, "Fragment number")
QOS = R.define("WiFi.QoSControl", FieldType.UINT, "QoS control field (little-endian)")
QOS_TID = R.define("WiFi.QoSControl.TID", FieldType.UINT, "Traffic identifier (user priority)")
QOS_AMSDU = R.define("WiFi.QoSControl.AMSDUPresent", FieldType.BOOL, "Body is an A-MSDU")
HT_CONTROL = R.define("WiFi.HTControl", FieldType.UINT, "HT control field")
SSID = R.define("WiFi.SSID", FieldType.STRING, "Network name (beacon, probe, association)")
FCS = R.define("WiFi.FCS", FieldType.UINT, "Frame check sequence")
S1G_NEXT_TBTT = R.define("WiFi.FrameControl.NextTBTTPresent", FieldType.BOOL, "S1G beacon: Next TBTT field present")
S1G_COMPRESSED_SSID = R.define("WiFi.FrameControl.CompressedSSIDPresent", FieldType.BOOL,
                               "S1G beacon: Compressed SSID field present")
S1G_ANO = R.define("WiFi.FrameControl.ANOPresent", FieldType.BOOL, "S1G beacon: ANO field present")

def dissect_80211(ctx: Ctx, off: int, end: int) -> None:
    d = ctx.data
    if ctx.notes.pop("wifi_fcs", False) and end - off >= 4 + 10:
        fcs_at = end - 4
        end = fcs_at
    else:
        fcs_at = -1
    avail = end - off
    if avail < 10:
        ctx.header_missing(WIFI, off, end, f"{avail} bytes, an 802.11 header needs at least 10")
        return
    fc0, fc1 = d[off], d[off + 1]
    ftype, subtype = (fc0 >> 2) & 3, fc0 >> 4
    to_ds, from_ds, protected, order = fc1 & 1, (fc1 >> 1) & 1, (fc1 >> 6) & 1, fc1 >> 7
    kind = SUBTYPES.get(ftype, {}).get(subtype, f"{FRAME_TYPES[ftype]} subtype {subtype}")
    layer = ctx.layer(WIFI, kind, off, avail)
    add = layer.add
    fc = fc0 | (fc1 << 8)
    f = add(FRAME_CONTROL, fc, off, 2, display=f"0x{fc:04X}")
    f.add(FC_VERSION, fc0 & 3, off, 1, bits=(6, 2))
    f.add(FC_TYPE, ftype, off, 1, bits=(4, 2))
    f.add(FC_SUBTYPE, subtype, off, 1, display=f"{subtype} ({kind})", bits=(0, 4))
    if (ftype, subtype) != (3, 1):  # an S1G beacon's second byte holds other flags (below)
        for fdef, bit in ((FC_TO_DS, 0), (FC_FROM_DS, 1), (FC_MORE_FRAG, 2), (FC_RETRY, 3), (FC_POWER, 4),
                          (FC_MORE_DATA, 5), (FC_PROTECTED, 6), (FC_ORDER, 7)):
            f.add(fdef, (fc1 >> bit) & 1, off + 1, 1, bits=(7 - bit, 1))
    add(DURATION, d[off + 2] | (d[off + 3] << 8), off + 2, 2)
    a1 = mac(d, off + 4)
    add(RECEIVER, a1, off + 4, 6)
    if fcs_at >= 0:
        fcs = int.from_bytes(d[fcs_at : fcs_at + 4], "little")
        add(FCS, fcs, fcs_at, 4, display=f"0x{fcs:08X}")
    if ftype == 1:
        _control(ctx, layer, subtype, off, end, a1)
        return
    if ftype == 3:
        _extension(ctx, layer, subtype, off, end, a1)
        return
    if avail < 24:
        ctx.malformed(layer, f"{avail} bytes, this 802.11 header needs 24")
        payload(ctx, off + 10, end)
        return
    a2, a3 = mac(d, off + 10), mac(d, off + 16)
    add(TRANSMITTER, a2, off + 10, 6)
    seqctl = d[off + 22] | (d[off + 23] << 8)
    pos = off + 24
    a4 = None
    if ftype == 2 and to_ds and from_ds:
        if avail < 30:
            ctx.malformed(layer, "4-address header cut short")
            payload(ctx, off + 24, end)
            return
        a4 = mac(d, pos)
        pos += 6
    # (destination, source, bssid) with the offsets their bytes sit at
    if ftype != 2 or (not to_ds and not from_ds):
        da, sa, bssid = (a1, off + 4), (a2, off + 10), (a3, off + 16)
    elif to_ds and not from_ds:
        da, sa, bssid = (a3, off + 16), (a2, off + 10), (a1, off + 4)
    elif from_ds and not to_ds:
        da, sa, bssid = (a1, off + 4), (a3, off + 16), (a2, off + 10)
    else:
        da, sa, bssid = (a3, off + 16), (a4 or 0, off + 24), None
    add(DESTINATION, da[0], da[1], 6)
    add(SOURCE, sa[0], sa[1], 6)
    if bssid is not None:
        add(BSSID, bssid[0], bssid[1], 6)
    add(SEQUENCE, seqctl >> 4, off + 22, 2)  # little-endian: the 12 bits are not contiguous on the wire
    add(FRAGMENT, seqctl & 15, off + 22, 1, bits=(4, 4))
    ctx.addresses(mac_text(sa[0]), mac_text(da[0]), ADDR_MAC)
    amsdu = 0
    if ftype == 2 and subtype & 8:  # QoS
        if pos + 2 > end:
            ctx.malformed(layer, "QoS control cut short")
            payload(ctx, pos, end)
            return
        qos = d[pos] | (d[pos + 1] << 8)
        q = add(QOS, qos, pos, 2, display=f"0x{qos:04X}")
        q.add(QOS_TID, qos & 15, pos, 1, bits=(4, 4))
        amsdu = (qos >> 7) & 1
        q.add(QOS_AMSDU, amsdu, pos, 1, bits=(0, 1))
        pos += 2
    if order and (ftype == 0 or (ftype == 2 and subtype & 8)):
        if pos + 4 > end:
            ctx.malformed(layer, "HT control cut short")
            payload(ctx, pos, end)
            return
        add(HT_CONTROL, int.from_bytes(d[pos : pos + 4], "little"), pos, 4)
        pos += 4
    layer.length = pos - off
    summary = f"{kind}, SA = {mac_text(sa[0])}, DA = {mac_text(da[0])}, SN = {seqctl >> 4}"
    if protected and not (ftype == 2 and _clear_llc(d, pos, end)):
        ctx.set_summary(layer, summary + ", Protected")
        payload(ctx, pos, end, "Encrypted")
        return
    if protected:
        summary += ", Protected bit set but the body is in clear"
    if ftype == 0:
        ssid = _mgmt_ssid(d, layer, subtype, pos, end)
        ctx.set_summary(layer, summary + (f", SSID = {ssid}" if ssid is not None else ""))
        payload(ctx, pos, end)
        return
    ctx.set_summary(layer, summary)
    if ftype == 2 and not subtype & 4 and not amsdu and seqctl & 15 == 0 and not fc1 & 4:
        ctx.call(dissect_llc, pos, end)
    else:
        payload(ctx, pos, end)


def _clear_llc(d: bytes, pos: int, end: int) -> bool:
    """Whether a body starts with an LLC/SNAP header (RFC 1042 or 802.1H bridge tunnel).

    Windows (NDIS, pktmon) logs frames after decryption with the Protected bit still set; their
    body then starts with AA-AA-03-00-00-00/F8, which no encrypted body can: the third byte of a
    CCMP/GCMP header is reserved (0) and a WEP/TKIP IV followed by those three bytes has odds of
    1 in 2^40.
    """
    return end - pos >= 8 and d[pos : pos + 3] == b"\xaa\xaa\x03" and d[pos + 3 : pos + 6] in (b"\0\0\0", b"\0\0\xf8")


def _control(ctx: Ctx, layer: Layer, subtype: int, off: int, end: int, a1: int) -> None:
    d = ctx.data
    has_ta = subtype in (4, 5, 8, 9, 10, 11, 14, 15)
    if has_ta and end - off >= 16:
        a2 = mac(d, off + 10)
        layer.add(TRANSMITTER, a2, off + 10, 6)
        layer.length = 16
        ctx.addresses(mac_text(a2), mac_text(a1), ADDR_MAC)
        ctx.set_summary(layer, f"{layer.summary}, RA = {mac_text(a1)}, TA = {mac_text(a2)}")
        payload(ctx, off + 16, end)
    else:
        layer.length = 10
        ctx.addresses("", mac_text(a1), ADDR_MAC)
        ctx.set_summary(layer, f"{layer.summary}, RA = {mac_text(a1)}")
        payload(ctx, off + 10, end)


def _extension(ctx: Ctx, layer: Layer, subtype: int, off: int, end: int, a1: int) -> None:
    """Extension frames (type 3) have one address and no sequence control (802.11-2020 §9.3.4):
    a DMG beacon's is the BSSID, an S1G beacon's the sender's; the others are reserved."""
    d = ctx.data
    fc1 = d[off + 1]
    layer.length = 10
    summary = layer.summary
    if subtype == 0:
        layer.add(BSSID, a1, off + 4, 6)
        ctx.addresses("", mac_text(a1), ADDR_MAC)
        # timestamp 8, sector sweep 3, beacon interval 2, beacon interval control 6, DMG parameters 1
        ssid = _ssid(d, layer, 20, off + 10, end)
        summary += f", BSSID = {mac_text(a1)}"
    elif subtype == 1:
        for fdef, bit, what in ((S1G_NEXT_TBTT, 0, "Next TBTT"), (S1G_COMPRESSED_SSID, 1, "Compressed SSID"),
                                (S1G_ANO, 2, "ANO")):
            layer.fields[0].add(fdef, (fc1 >> bit) & 1, off + 1, 1, bits=(7 - bit, 1), label=f"{what} Present")
        layer.add(SOURCE, a1, off + 4, 6)
        ctx.addresses(mac_text(a1), "", ADDR_MAC)
        # timestamp 4, change sequence 1, then the optional fields the frame control announces
        fixed = 5 + (3 if fc1 & 1 else 0) + (4 if fc1 & 2 else 0) + (1 if fc1 & 4 else 0)
        ssid = _ssid(d, layer, fixed, off + 10, end)
        summary += f", SA = {mac_text(a1)}"
    else:
        ssid = None
        ctx.addresses("", mac_text(a1), ADDR_MAC)
        summary += f", RA = {mac_text(a1)}"
    ctx.set_summary(layer, summary + (f", SSID = {ssid}" if ssid is not None else ""))
    payload(ctx, off + 10, end)


#: fixed fields before the information elements of management frames that carry an SSID
_MGMT_FIXED = {0: 4, 2: 10, 4: 0, 5: 12, 8: 12}


def _mgmt_ssid(d: bytes, layer: Layer, subtype: int, pos: int, end: int) -> str | None:
    fixed = _MGMT_FIXED.get(subtype)
    return None if fixed is None else _ssid(d, layer, fixed, pos, end)


def _ssid(d: bytes, layer: Layer, fixed: int, pos: int, end: int) -> str | None:
    """The SSID element when it is the first element after ``fixed`` bytes of fixed fields."""
    p = pos + fixed
    if p + 2 <= end and d[p] == 0 and p + 2 + d[p + 1] <= end:
        raw = d[p + 2 : p + 2 + d[p + 1]]
        ssid = raw.decode("utf-8", "backslashreplace")
        layer.add(SSID, ssid, p + 2, len(raw), display=ssid if ssid else "<Broadcast>")
        return ssid
    return None


LINK_TYPES[LINKTYPE_IEEE802_11] = dissect_80211
