"""The radiotap header (LINKTYPE_IEEE802_11_RADIOTAP, 127) in front of an 802.11 frame.

The header is a chain of 32-bit presence words (bit 31: another word follows) and then the
fields they announce, each aligned to its natural size relative to the header start.  Bits 29
and 30 of a word switch the *next* word's namespace: 29 back to the radiotap namespace (field
numbers start again at 0: multi-antenna drivers repeat AntennaSignal/Antenna this way), 30 to a
vendor namespace, whose 6-byte header (OUI, sub-namespace, skip length) sits among the fields
and whose data is skipped as a whole.  A word with neither bit continues the numbering (+32).
A field whose number we do not know ends the decoding: its size, and so every later field's
position, is unknown (https://www.radiotap.org/, as Wireshark and Linux read it).
"""

from __future__ import annotations

import struct

from ..fields import REGISTRY, FieldType
from ..frame import Layer
from .core import LINK_TYPES, LINKTYPE_IEEE802_11_RADIOTAP, Ctx, payload
from .wifi import dissect_80211

R = REGISTRY
RADIOTAP = R.protocol("Radiotap", "Radiotap capture header (radio information)")
RT_VERSION = R.define("Radiotap.Version", FieldType.UINT, "Header revision (0)")
RT_LENGTH = R.define("Radiotap.Length", FieldType.UINT, "Header length in bytes")
RT_PRESENT = R.define("Radiotap.Present", FieldType.UINT, "Presence bitmap (one per presence word, in order)")
RT_TSFT = R.define("Radiotap.TSFT", FieldType.UINT, "MAC timestamp in µs")
RT_FLAGS = R.define("Radiotap.Flags", FieldType.UINT, "Frame flags")
RT_FLAG_FCS = R.define("Radiotap.Flags.FCS", FieldType.BOOL, "Frame ends with a 4-byte FCS")
RT_FLAG_BAD_FCS = R.define("Radiotap.Flags.BadFCS", FieldType.BOOL, "FCS check failed")
RT_RATE = R.define("Radiotap.DataRate", FieldType.UINT, "Legacy data rate in 500 kb/s units")
RT_FREQ = R.define("Radiotap.ChannelFrequency", FieldType.UINT, "Channel frequency in MHz")
RT_CHANNEL_FLAGS = R.define("Radiotap.ChannelFlags", FieldType.UINT, "Channel flags")
RT_SIGNAL = R.define("Radiotap.AntennaSignal", FieldType.INT, "Antenna signal in dBm (one per antenna)")
RT_NOISE = R.define("Radiotap.AntennaNoise", FieldType.INT, "Antenna noise in dBm")
RT_ANTENNA = R.define("Radiotap.Antenna", FieldType.UINT, "Antenna index")
RT_MCS = R.define("Radiotap.MCSIndex", FieldType.UINT, "HT MCS index")
RT_VENDOR = R.define("Radiotap.VendorNamespace", FieldType.BYTES, "Vendor namespace header")
RT_VENDOR_OUI = R.define("Radiotap.VendorNamespace.OUI", FieldType.UINT, "Vendor OUI of the namespace")
RT_VENDOR_SUBNS = R.define("Radiotap.VendorNamespace.SubNamespace", FieldType.UINT, "Vendor sub-namespace")
RT_VENDOR_LEN = R.define("Radiotap.VendorNamespace.SkipLength", FieldType.UINT,
                         "Bytes of vendor data that follow the header")

_RT_HEAD = struct.Struct("<BBHI")
#: radiotap field number → (alignment, size)
_RT_FIELDS = {
    0: (8, 8), 1: (1, 1), 2: (1, 1), 3: (2, 4), 4: (1, 2), 5: (1, 1), 6: (1, 1), 7: (2, 2), 8: (2, 2),
    9: (2, 2), 10: (1, 1), 11: (1, 1), 12: (1, 1), 13: (1, 1), 14: (2, 2), 15: (2, 2), 16: (1, 1),
    17: (1, 1), 18: (4, 8), 19: (1, 3), 20: (4, 8), 21: (2, 12), 22: (8, 12), 23: (2, 12), 24: (2, 12),
    25: (2, 6), 26: (1, 1), 27: (2, 4),
}
RT_FLAG_HAS_FCS = 0x10
BIT_RADIOTAP_NS, BIT_VENDOR_NS, BIT_EXT = 29, 30, 31
#: presence words a header may have before we call it damaged (the header length bounds it too)
MAX_WORDS = 64


class _Fields:
    """Walks the field area of one header: alignment, bounds and the values shown."""

    def __init__(self, ctx: Ctx, layer: Layer, start: int, p: int, end: int) -> None:
        self.ctx, self.layer, self.start, self.p, self.end = ctx, layer, start, p, end
        self.flags = 0
        self.parts: list[str] = []
        self.seen: set[str] = set()

    def align(self, align: int) -> None:
        self.p = self.start + (self.p - self.start + align - 1) // align * align

    def field(self, number: int) -> bool:
        """Decode radiotap field ``number`` at the cursor; False when decoding must stop."""
        spec = _RT_FIELDS.get(number)
        if spec is None:
            return False
        align, size = spec
        self.align(align)
        p = self.p
        if p + size > self.end:
            self.ctx.malformed(self.layer, f"field {number} runs past the header")
            return False
        self._show(number, p)
        self.p = p + size
        return True

    def _show(self, number: int, p: int) -> None:
        d, add, parts = self.ctx.data, self.layer.add, self.parts
        if number == 0:
            add(RT_TSFT, int.from_bytes(d[p : p + 8], "little"), p, 8)
        elif number == 1:
            self.flags = flags = d[p]
            f = add(RT_FLAGS, flags, p, 1, display=f"0x{flags:02X}")
            f.add(RT_FLAG_FCS, (flags >> 4) & 1, p, 1, bits=(3, 1))
            f.add(RT_FLAG_BAD_FCS, (flags >> 6) & 1, p, 1, bits=(1, 1))
        elif number == 2:
            add(RT_RATE, d[p], p, 1, display=f"{d[p] / 2:g} Mb/s")
            self._part("rate", f"Rate = {d[p] / 2:g} Mb/s")
        elif number == 3:
            freq = int.from_bytes(d[p : p + 2], "little")
            add(RT_FREQ, freq, p, 2, display=f"{freq} MHz")
            cflags = int.from_bytes(d[p + 2 : p + 4], "little")
            add(RT_CHANNEL_FLAGS, cflags, p + 2, 2, display=f"0x{cflags:04X}")
            if "channel" not in self.seen:
                self.seen.add("channel")
                parts.insert(0, f"Channel = {freq} MHz")
        elif number in (5, 6):
            v = d[p] - 256 if d[p] > 127 else d[p]
            add(RT_SIGNAL if number == 5 else RT_NOISE, v, p, 1, display=f"{v} dBm")
            if number == 5:
                self._part("signal", f"Signal = {v} dBm")
        elif number == 11:
            add(RT_ANTENNA, d[p], p, 1)
        elif number == 19 and d[p] & 0x02:  # MCS index known
            add(RT_MCS, d[p + 2], p + 2, 1)
            self._part("mcs", f"MCS = {d[p + 2]}")

    def _part(self, key: str, text: str) -> None:
        """A summary item, once (the first antenna's signal is the frame's)."""
        if key not in self.seen:
            self.seen.add(key)
            self.parts.append(text)

    def vendor(self) -> int | None:
        """The vendor namespace header at the cursor; returns where its data ends (None: damaged)."""
        self.align(2)
        p = self.p
        if p + 6 > self.end:
            self.ctx.malformed(self.layer, "vendor namespace runs past the header")
            return None
        d = self.ctx.data
        oui = int.from_bytes(d[p : p + 3], "big")
        skip = int.from_bytes(d[p + 4 : p + 6], "little")
        node = self.layer.add(RT_VENDOR, d[p : p + 6], p, 6,
                              display=f"OUI {oui:06X}, sub-namespace {d[p + 3]}, {skip} bytes")
        node.add(RT_VENDOR_OUI, oui, p, 3, display=f"0x{oui:06X}")
        node.add(RT_VENDOR_SUBNS, d[p + 3], p + 3, 1)
        node.add(RT_VENDOR_LEN, skip, p + 4, 2)
        self.p = p + 6
        return self.p + skip


def dissect_radiotap(ctx: Ctx, off: int, end: int) -> None:
    d = ctx.data
    avail = end - off
    if avail < 8:
        ctx.header_missing(RADIOTAP, off, end, f"{avail} bytes, a radiotap header needs 8")
        return
    version, _pad, length, _present = _RT_HEAD.unpack_from(d, off)
    layer = ctx.layer(RADIOTAP, "", off, min(length, avail))
    layer.add(RT_VERSION, version, off, 1)
    layer.add(RT_LENGTH, length, off + 2, 2)
    if length < 8 or length > avail:
        ctx.malformed(layer, f"header length {length} with {avail} bytes captured")
        payload(ctx, off + 8, end)
        return
    hdr_end = off + length
    words = _presence_words(ctx, layer, off + 4, hdr_end)
    if words is None:
        payload(ctx, hdr_end, end)
        return
    walk = _Fields(ctx, layer, off, off + 4 + 4 * len(words), hdr_end)
    _walk(walk, words)
    ctx.set_summary(layer, ", ".join(walk.parts) if walk.parts else f"Length = {length}")
    if walk.flags & RT_FLAG_HAS_FCS:
        ctx.notes["wifi_fcs"] = True
    ctx.call(dissect_80211, hdr_end, end)


def _presence_words(ctx: Ctx, layer: Layer, p: int, hdr_end: int) -> list[int] | None:
    d = ctx.data
    words: list[int] = []
    while True:
        if p + 4 > hdr_end or len(words) >= MAX_WORDS:
            ctx.malformed(layer, "presence bitmaps run past the header")
            return None
        word = int.from_bytes(d[p : p + 4], "little")
        layer.add(RT_PRESENT, word, p, 4, display=f"0x{word:08X}")
        words.append(word)
        p += 4
        if not word >> BIT_EXT & 1:
            return words


def _walk(walk: _Fields, words: list[int]) -> None:
    """Decode the fields of every presence word, following the namespace switches."""
    base = 0  # radiotap field number of bit 0 of this word
    vendor_end: int | None = None  # set while the word is in a vendor namespace
    for word in words:
        if vendor_end is None:
            for bit in range(BIT_RADIOTAP_NS):
                if word >> bit & 1 and not walk.field(base + bit):
                    return
        if word >> BIT_RADIOTAP_NS & 1:
            if vendor_end is not None:
                walk.p, vendor_end = vendor_end, None
            base = 0
        elif word >> BIT_VENDOR_NS & 1:
            if vendor_end is not None:  # vendor to vendor: the first one's data ends here
                walk.p = vendor_end
            vendor_end = walk.vendor()
            if vendor_end is None:
                return
            base = 0
        else:
            base += 32


LINK_TYPES[LINKTYPE_IEEE802_11_RADIOTAP] = dissect_radiotap
