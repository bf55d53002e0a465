"""IEEE 802.11 (Netmon's ``WiFi``) and the radiotap header in front of it.

Data frames (plain, QoS, 4-address) continue into LLC/SNAP and the EtherType table unless the
Protected bit says the body is encrypted (and the body does not start with an LLC/SNAP header:
see ``_clear_llc``).  Management frames show their SSID when they carry
one; control frames have only addresses.  Address fields follow the ToDS/FromDS table of
IEEE 802.11-2020 §9.3.2.1: ``ReceiverAddress`` is always address 1, ``TransmitterAddress``
address 2; ``DestinationAddress``, ``SourceAddress`` and ``BSSID`` are given where the frame
says which address is which.
"""

from __future__ import annotations

import struct

from ..fields import REGISTRY, FieldType
from ..frame import Layer, mac_text
from .core import (
    ADDR_MAC,
    LINK_TYPES,
    LINKTYPE_IEEE802_11,
    LINKTYPE_IEEE802_11_RADIOTAP,
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

RADIOTAP = R.protocol("Radiotap", "Radiotap capture header (radio information)")
RT_VERSION = R.define("Radiotap.Version", FieldType.UINT, "Header revision (0)")
RT_LENGTH = R.define("Radiotap.Length", FieldType.UINT, "Header length in bytes")
RT_PRESENT = R.define("Radiotap.Present", FieldType.UINT, "First presence bitmap")
RT_TSFT = R.define("Radiotap.TSFT", FieldType.UINT, "MAC timestamp in µs")
RT_FLAGS = R.define("Radiotap.Flags", FieldType.UINT, "Frame flags")
RT_FLAG_FCS = R.define("Radiotap.Flags.FCS", FieldType.BOOL, "Frame ends with a 4-byte FCS")
RT_FLAG_BAD_FCS = R.define("Radiotap.Flags.BadFCS", FieldType.BOOL, "FCS check failed")
RT_RATE = R.define("Radiotap.DataRate", FieldType.UINT, "Legacy data rate in 500 kb/s units")
RT_FREQ = R.define("Radiotap.ChannelFrequency", FieldType.UINT, "Channel frequency in MHz")
RT_CHANNEL_FLAGS = R.define("Radiotap.ChannelFlags", FieldType.UINT, "Channel flags")
RT_SIGNAL = R.define("Radiotap.AntennaSignal", FieldType.INT, "Antenna signal in dBm")
RT_NOISE = R.define("Radiotap.AntennaNoise", FieldType.INT, "Antenna noise in dBm")
RT_ANTENNA = R.define("Radiotap.Antenna", FieldType.UINT, "Antenna index")
RT_MCS = R.define("Radiotap.MCSIndex", FieldType.UINT, "HT MCS index")

_RT_HEAD = struct.Struct("<BBHI")
#: radiotap field number → (alignment, size); fields must be read in order, so stop at an unknown one
_RT_FIELDS = {
    0: (8, 8), 1: (1, 1), 2: (1, 1), 3: (2, 4), 4: (1, 2), 5: (1, 1), 6: (1, 1), 7: (2, 2), 8: (2, 2),
    9: (2, 2), 10: (1, 1), 11: (1, 1), 12: (1, 1), 13: (1, 1), 14: (2, 2), 15: (2, 2), 16: (1, 1),
    17: (1, 1), 18: (4, 8), 19: (1, 3), 20: (4, 8), 21: (2, 12), 22: (8, 12), 23: (2, 12), 24: (2, 12),
    25: (2, 6), 26: (1, 1), 27: (2, 4),
}
RT_FLAG_HAS_FCS = 0x10


def dissect_radiotap(ctx: Ctx, off: int, end: int) -> None:
    d = ctx.data
    avail = end - off
    if avail < 8:
        ctx.header_missing(RADIOTAP, off, end, f"{avail} bytes, a radiotap header needs 8")
        return
    version, _pad, length, present = _RT_HEAD.unpack_from(d, off)
    layer = ctx.layer(RADIOTAP, "", off, min(length, avail))
    add = layer.add
    add(RT_VERSION, version, off, 1)
    add(RT_LENGTH, length, off + 2, 2)
    add(RT_PRESENT, present, off + 4, 4, display=f"0x{present:08X}")
    if length < 8 or length > avail:
        ctx.malformed(layer, f"header length {length} with {avail} bytes captured")
        payload(ctx, off + 8, end)
        return
    hdr_end = off + length
    # further presence words follow while bit 31 is set; the fields come after all of them
    p = off + 8
    word = present
    while word & 0x80000000:
        if p + 4 > hdr_end:
            ctx.malformed(layer, "presence bitmaps run past the header")
            payload(ctx, hdr_end, end)
            return
        word = int.from_bytes(d[p : p + 4], "little")
        p += 4
    flags = 0
    parts: list[str] = []
    for bit in range(28):
        if not present & (1 << bit):
            continue
        spec = _RT_FIELDS.get(bit)
        if spec is None:
            break
        align, size = spec
        p = off + (p - off + align - 1) // align * align  # alignment is relative to the header start
        if p + size > hdr_end:
            ctx.malformed(layer, f"field {bit} runs past the header")
            break
        if bit == 0:
            add(RT_TSFT, int.from_bytes(d[p : p + 8], "little"), p, 8)
        elif bit == 1:
            flags = d[p]
            f = add(RT_FLAGS, flags, p, 1, display=f"0x{flags:02X}")
            f.add(RT_FLAG_FCS, (flags >> 4) & 1, p, 1, bits=(3, 1))
            f.add(RT_FLAG_BAD_FCS, (flags >> 6) & 1, p, 1, bits=(1, 1))
        elif bit == 2:
            add(RT_RATE, d[p], p, 1, display=f"{d[p] / 2:g} Mb/s")
            parts.append(f"Rate = {d[p] / 2:g} Mb/s")
        elif bit == 3:
            freq = int.from_bytes(d[p : p + 2], "little")
            add(RT_FREQ, freq, p, 2, display=f"{freq} MHz")
            cflags = int.from_bytes(d[p + 2 : p + 4], "little")
            add(RT_CHANNEL_FLAGS, cflags, p + 2, 2, display=f"0x{cflags:04X}")
            parts.insert(0, f"Channel = {freq} MHz")
        elif bit in (5, 6):
            v = d[p] - 256 if d[p] > 127 else d[p]
            add(RT_SIGNAL if bit == 5 else RT_NOISE, v, p, 1, display=f"{v} dBm")
            if bit == 5:
                parts.append(f"Signal = {v} dBm")
        elif bit == 11:
            add(RT_ANTENNA, d[p], p, 1)
        elif bit == 19 and d[p] & 0x02:  # MCS index known
            add(RT_MCS, d[p + 2], p + 2, 1)
            parts.append(f"MCS = {d[p + 2]}")
        p += size
    ctx.set_summary(layer, ", ".join(parts) if parts else f"Length = {length}")
    if flags & RT_FLAG_HAS_FCS:
        ctx.notes["wifi_fcs"] = True
    ctx.call(dissect_80211, hdr_end, end)


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
        ssid = _ssid(d, layer, subtype, pos, end)
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


#: fixed fields before the information elements of management frames that carry an SSID
_MGMT_FIXED = {0: 4, 2: 10, 4: 0, 5: 12, 8: 12}


def _ssid(d: bytes, layer: Layer, subtype: int, pos: int, end: int) -> str | None:
    fixed = _MGMT_FIXED.get(subtype)
    if fixed is None:
        return None
    p = pos + fixed
    if p + 2 <= end and d[p] == 0 and p + 2 + d[p + 1] <= end:
        raw = d[p + 2 : p + 2 + d[p + 1]]
        ssid = raw.decode("utf-8", "backslashreplace")
        layer.add(SSID, ssid, p + 2, len(raw), display=ssid if ssid else "<Broadcast>")
        return ssid
    return None


LINK_TYPES[LINKTYPE_IEEE802_11] = dissect_80211
LINK_TYPES[LINKTYPE_IEEE802_11_RADIOTAP] = dissect_radiotap
