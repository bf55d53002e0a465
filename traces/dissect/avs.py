"""The AVS WLAN capture header (LINKTYPE_IEEE802_11_AVS, 163) in front of an 802.11 frame.

linux-wlan-ng's successor to the Prism header, and what some Prism-link (119) captures hold
instead of it: a big-endian magic cookie 0x8021100v (v = header revision 1 or 2), the header
length, 64-bit MAC and host times, PHY type, channel (a channel number below 256, else a
frequency: MHz below 10000, kHz above), data rate, antenna, priority, signal and noise in the
unit the SSI type names, preamble and encoding; revision 2 adds a receive sequence number,
dropped-frame count and the receiver address.  The 802.11 frame starts at the header length.
Field for field as Wireshark's wlancap dissector reads it (rates in bits per second).
"""

from __future__ import annotations

import struct

from ..fields import REGISTRY, FieldType
from ..frame import mac_text
from .core import LINK_TYPE_NAMES, LINK_TYPES, Ctx, payload
from .wifi import dissect_80211

R = REGISTRY
LINKTYPE_IEEE802_11_AVS = 163
MAGIC_BASE = 0x80211000
PHY_TYPES = {1: "FHSS 802.11 '97", 2: "DSSS 802.11 '97", 3: "IR Baseband", 4: "DSSS 802.11b", 5: "PBCC 802.11b",
             6: "OFDM 802.11g", 7: "PBCC 802.11g", 8: "OFDM 802.11a", 9: "DSSS-OFDM 802.11g"}
SSI_TYPES = {0: "None", 1: "Normalized RSSI", 2: "dBm", 3: "Raw RSSI"}
SSI_NORM_RSSI, SSI_DBM, SSI_RAW_RSSI = 1, 2, 3

AVS = R.protocol("AVS", "AVS WLAN capture header (radio information)")
VERSION = R.define("AVS.Version", FieldType.UINT, "Header revision (the magic cookie minus 0x80211000)")
LENGTH = R.define("AVS.Length", FieldType.UINT, "Header length in bytes")
MACTIME = R.define("AVS.MacTime", FieldType.UINT, "MAC (TSF) timestamp, µs")
HOSTTIME = R.define("AVS.HostTime", FieldType.UINT, "Host timestamp")
PHYTYPE = R.define("AVS.PhyType", FieldType.UINT, "PHY type", enum=PHY_TYPES)
HOP_SET = R.define("AVS.HopSet", FieldType.UINT, "FHSS hop set")
HOP_PATTERN = R.define("AVS.HopPattern", FieldType.UINT, "FHSS hop pattern")
HOP_INDEX = R.define("AVS.HopIndex", FieldType.UINT, "FHSS hop index")
CHANNEL = R.define("AVS.Channel", FieldType.UINT, "Channel number (values below 256)")
FREQUENCY = R.define("AVS.ChannelFrequency", FieldType.UINT, "Channel frequency (MHz below 10000, else kHz)")
RATE = R.define("AVS.DataRate", FieldType.UINT, "Data rate in bits per second")
ANTENNA = R.define("AVS.Antenna", FieldType.UINT, "Antenna")
PRIORITY = R.define("AVS.Priority", FieldType.UINT, "Priority")
SSI_TYPE = R.define("AVS.SSIType", FieldType.UINT, "Unit of the signal and noise values", enum=SSI_TYPES)
SIGNAL_DBM = R.define("AVS.SignalDBm", FieldType.INT, "Antenna signal in dBm (SSI type 2)")
NOISE_DBM = R.define("AVS.NoiseDBm", FieldType.INT, "Antenna noise in dBm (SSI type 2)")
SIGNAL_RSSI = R.define("AVS.SignalRSSI", FieldType.UINT, "Antenna signal as normalized (1) or raw (3) RSSI")
NOISE_RSSI = R.define("AVS.NoiseRSSI", FieldType.UINT, "Antenna noise as normalized (1) or raw (3) RSSI")
PREAMBLE = R.define("AVS.Preamble", FieldType.UINT, "Preamble (1 short, 2 long)")
ENCODING = R.define("AVS.Encoding", FieldType.UINT, "Encoding type")
SEQUENCE = R.define("AVS.Sequence", FieldType.UINT, "Receive sequence number (revision 2)")
DROPS = R.define("AVS.Drops", FieldType.UINT, "Frames known to be dropped (revision 2)")
RECEIVER = R.define("AVS.ReceiverAddress", FieldType.MAC, "Receiver address (revision 2)")

_V1 = struct.Struct(">IIQQIIIIIIIIII")  # 64 bytes: magic … encoding
_V2_TAIL = struct.Struct(">II6s")


def is_avs(d: bytes, off: int, end: int) -> bool:
    return end - off >= 4 and int.from_bytes(d[off : off + 4], "big") in (MAGIC_BASE + 1, MAGIC_BASE + 2)


def dissect_avs(ctx: Ctx, off: int, end: int) -> None:
    d = ctx.data
    if end - off < 8:
        ctx.header_missing(AVS, off, end, f"{end - off} bytes, an AVS header needs 8")
        return
    magic, length = struct.unpack_from(">II", d, off)
    version = magic - MAGIC_BASE
    layer = ctx.layer(AVS, "", off, min(length, end - off))
    layer.add(VERSION, version, off, 4)
    layer.add(LENGTH, length, off + 4, 4)
    need = _V1.size + (_V2_TAIL.size + 2 if version == 2 else 0)
    if length < 8 or off + length > end:
        ctx.malformed(layer, f"header length {length} with {end - off} bytes captured")
        payload(ctx, off + 8, end)
        return
    if version not in (1, 2):  # an unknown revision: its length still says where 802.11 starts
        ctx.set_summary(layer, f"Revision {version}, Length = {length}")
        ctx.call(dissect_80211, off + length, end)
        return
    if length < need:
        ctx.malformed(layer, f"header length {length}, revision {version} needs {need}")
        payload(ctx, off + 8, end)
        return
    (_magic, _len, mactime, hosttime, phy, channel, rate, antenna, priority, ssi, signal, noise, preamble,
     encoding) = _V1.unpack_from(d, off)
    add = layer.add
    add(MACTIME, mactime, off + 8, 8)
    add(HOSTTIME, hosttime, off + 16, 8)
    add(PHYTYPE, phy, off + 24, 4)
    p = off + 28
    parts: list[str] = []
    if phy == 1:
        add(HOP_SET, d[p], p, 1)
        add(HOP_PATTERN, d[p + 1], p + 1, 1)
        add(HOP_INDEX, d[p + 2], p + 2, 1)
    elif channel < 256:
        add(CHANNEL, channel, p, 4)
        parts.append(f"Channel = {channel}")
    else:
        unit = "MHz" if channel < 10000 else "kHz"
        add(FREQUENCY, channel, p, 4, display=f"{channel} {unit}")
        parts.append(f"Channel = {channel} {unit}")
    bps = rate * 100000 if rate < 100000 else rate  # 100 kb/s units, or already b/s
    text = f"{bps // 1_000_000}.{5 if bps % 1_000_000 > 500_000 else 0} Mb/s"
    add(RATE, bps, off + 32, 4, display=text)
    parts.append(f"Rate = {text}")
    add(ANTENNA, antenna, off + 36, 4)
    add(PRIORITY, priority, off + 40, 4)
    add(SSI_TYPE, ssi, off + 44, 4)
    if ssi == SSI_DBM:
        dbm = signal - (1 << 32) if signal & 0x80000000 else signal
        add(SIGNAL_DBM, dbm, off + 48, 4, display=f"{dbm} dBm")
        parts.append(f"Signal = {dbm} dBm")
    elif ssi in (SSI_NORM_RSSI, SSI_RAW_RSSI):
        add(SIGNAL_RSSI, signal, off + 48, 4)
    if noise != 0xFFFFFFFF:  # "not known"
        if ssi == SSI_DBM:
            dbm = noise - (1 << 32) if noise & 0x80000000 else noise
            add(NOISE_DBM, dbm, off + 52, 4, display=f"{dbm} dBm")
        elif ssi in (SSI_NORM_RSSI, SSI_RAW_RSSI):
            add(NOISE_RSSI, noise, off + 52, 4)
    add(PREAMBLE, preamble, off + 56, 4)
    add(ENCODING, encoding, off + 60, 4)
    if version == 2:
        seq, drops, receiver = _V2_TAIL.unpack_from(d, off + 64)
        add(SEQUENCE, seq, off + 64, 4)
        add(DROPS, drops, off + 68, 4)
        ra = int.from_bytes(receiver, "big")
        add(RECEIVER, ra, off + 72, 6, display=mac_text(ra))
    ctx.set_summary(layer, ", ".join(parts))
    ctx.call(dissect_80211, off + length, end)


LINK_TYPES[LINKTYPE_IEEE802_11_AVS] = dissect_avs
LINK_TYPE_NAMES[LINKTYPE_IEEE802_11_AVS] = "IEEE 802.11 + AVS"
