"""The Prism monitor-mode header (LINKTYPE_IEEE802_11_PRISM, 119) in front of an 802.11 frame.

linux-wlan-ng and HostAP drivers for Prism II cards (and later madwifi and Qualcomm drivers)
prepend 144 bytes: a message code, the message length, a 16-byte device name and ten
(DID, status, length, value) items.  Everything is in the capturing host's byte order, so the
message code (0x44, or 0x41 for the home.martin.cc DID numbering) tells which order it is; a
frame whose first word is neither is plain 802.11 without a header, as Wireshark reads it.  A
status of 0 means the driver supplied the value.  The 802.11 frame that follows has no FCS.
A frame that starts with the AVS magic cookie has an AVS header instead (``avs``).
"""

from __future__ import annotations

import struct

from ..fields import REGISTRY, FieldType
from ..frame import Layer
from .avs import dissect_avs, is_avs
from .core import LINK_TYPE_NAMES, LINK_TYPES, Ctx
from .wifi import dissect_80211

R = REGISTRY
LINKTYPE_IEEE802_11_PRISM = 119
HEADER_LENGTH = 144
MSGCODES = (0x44, 0x41)

PRISM = R.protocol("Prism", "Prism II monitor-mode capture header (radio information)")
MSGCODE = R.define("Prism.MessageCode", FieldType.UINT, "Message code (0x44 monitor frame, 0x41 older numbering)")
MSGLEN = R.define("Prism.MessageLength", FieldType.UINT, "Header length in bytes (144)")
DEVNAME = R.define("Prism.DeviceName", FieldType.STRING, "Capturing network device")
DID = R.define("Prism.DID", FieldType.UINT, "Item identifier (the DID says which value follows)")
STATUS = R.define("Prism.DID.Status", FieldType.UINT, "0 when the driver supplied the value, 1 when not",
                  enum={0: "Supplied", 1: "Not Supplied"})
LENGTH = R.define("Prism.DID.Length", FieldType.UINT, "Length of the value (4)")
HOSTTIME = R.define("Prism.HostTime", FieldType.UINT, "Host time in jiffies")
MACTIME = R.define("Prism.MacTime", FieldType.UINT, "Lower 32 bits of the MAC's TSF timer, µs")
CHANNEL = R.define("Prism.Channel", FieldType.UINT, "Channel number")
RSSI = R.define("Prism.RSSI", FieldType.INT, "Received signal strength")
SQ = R.define("Prism.SignalQuality", FieldType.UINT, "Signal quality")
SIGNAL = R.define("Prism.Signal", FieldType.INT, "Signal")
NOISE = R.define("Prism.Noise", FieldType.INT, "Noise")
RATE = R.define("Prism.DataRate", FieldType.UINT, "Data rate in 500 kb/s units")
ISTX = R.define("Prism.IsTx", FieldType.UINT, "Transmitted (1) or received (0) frame", enum={0: "Rx Packet",
                                                                                            1: "Tx Packet"})
FRMLEN = R.define("Prism.FrameLength", FieldType.UINT, "Length of the 802.11 frame that follows")
UNKNOWN = R.define("Prism.UnknownValue", FieldType.UINT, "Value of an item whose DID is not known")

#: DID → (field, title); the item number is the same in both numberings (0x000N0044 / 0x0000N041)
_ITEMS = {1: (HOSTTIME, "Host Time"), 2: (MACTIME, "Mac Time"), 3: (CHANNEL, "Channel"), 4: (RSSI, "RSSI"),
          5: (SQ, "SQ"), 6: (SIGNAL, "Signal"), 7: (NOISE, "Noise"), 8: (RATE, "Rate"), 9: (ISTX, "Is Tx"),
          10: (FRMLEN, "Frame Length")}


def _item_number(did: int) -> int:
    """1–10 for a known DID of either numbering, 0 otherwise."""
    if did & 0xFFFF == 0x0044 and 1 <= did >> 16 <= 10:
        return did >> 16
    if did & 0xFFFF0FFF == 0x00000041 and 1 <= (did >> 12) & 0xF <= 10:
        return (did >> 12) & 0xF
    return 0


def dissect_prism(ctx: Ctx, off: int, end: int) -> None:
    d = ctx.data
    if end - off < 4:
        ctx.call(dissect_80211, off, end)
        return
    if is_avs(d, off, end):  # some Prism-link captures carry the AVS header instead
        ctx.call(dissect_avs, off, end)
        return
    if int.from_bytes(d[off : off + 4], "big") in MSGCODES:
        e = ">"
    elif int.from_bytes(d[off : off + 4], "little") in MSGCODES:
        e = "<"
    else:  # no Prism header on this frame: plain 802.11 (Wireshark does the same)
        ctx.call(dissect_80211, off, end)
        return
    if end - off < HEADER_LENGTH:
        ctx.header_missing(PRISM, off, end, f"{end - off} bytes, a Prism header needs {HEADER_LENGTH}", short=True)
        return
    code, msglen = struct.unpack_from(e + "II", d, off)
    layer = ctx.layer(PRISM, "", off, HEADER_LENGTH)
    layer.add(MSGCODE, code, off, 4, display=f"0x{code:08X}")
    layer.add(MSGLEN, msglen, off + 4, 4)
    raw_name = d[off + 8 : off + 24].split(b"\0", 1)[0]
    devname = raw_name.decode("ascii", "backslashreplace")
    layer.add(DEVNAME, devname, off + 8, 16)
    parts = [f"Device = {devname}"] if devname else []
    item = struct.Struct(e + "IHHI")
    for p in range(off + 24, off + HEADER_LENGTH, 12):
        did, status, length, raw = item.unpack_from(d, p)
        _item(layer, parts, p, did, status, length, raw)
    ctx.set_summary(layer, ", ".join(parts))
    ctx.call(dissect_80211, off + HEADER_LENGTH, end)


def _item(layer: Layer, parts: list[str], p: int, did: int, status: int, length: int, raw: int) -> None:
    fdef, title = _ITEMS.get(_item_number(did), (UNKNOWN, f"Unknown 0x{did:X}"))
    node = layer.add(None, title, p, 12, display=title, label="DID")
    node.add(DID, did, p, 4, display=f"0x{did:08X}")
    node.add(STATUS, status, p + 4, 2)
    node.add(LENGTH, length, p + 6, 2)
    if status != 0:  # not supplied: the value bytes mean nothing
        return
    value = raw - (1 << 32) if fdef.type is FieldType.INT and raw & 0x80000000 else raw
    if fdef is RATE:
        text = f"{value / 2:g} Mb/s"
        parts.append(f"Rate = {text}")
    elif fdef is ISTX or fdef is UNKNOWN:
        text = None
    else:
        text = str(value)
        if fdef is CHANNEL:
            parts.append(f"Channel = {value}")
        elif fdef is SIGNAL:
            parts.append(f"Signal = {value}")
    node.add(fdef, value, p + 8, 4, display=text)


LINK_TYPES[LINKTYPE_IEEE802_11_PRISM] = dissect_prism
LINK_TYPE_NAMES[LINKTYPE_IEEE802_11_PRISM] = "IEEE 802.11 + Prism"
