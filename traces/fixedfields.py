"""Registry fields at a fixed position inside their layer, and the check that a frame's layers
are where the index says.

``FIXED`` lists every registry field whose bytes sit at the same place in every full header of
its layer, with the byte range and bits its dissector (``dissect/ipv4.py``, ``ipv6.py``,
``arp.py``, ``tcp.py``, ``udp.py``, ``icmp.py``, ``icmpv6.py``) gives it.  ``layer_offsets``
is how the index's general path (``packets.index_keys``) decides which layer offsets a decoded
frame may keep: a layer counts only when the frame has one instance of it and the dissector put
every fixed field of it exactly there, with the value its bytes give.  Field columns
(``fixedcols.py``) then read those fields for all frames with one gather each.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .frame import Layer

@dataclass(frozen=True, slots=True)
class Fixed:
    """A field at bytes ``offset:offset+size`` of its layer; the value is ``bits`` (first bit from
    the most significant, count) of those bytes read big-endian, times ``scale``."""

    layer: str
    level: int  # 0: the layer starts at L3; 1: at L4
    offset: int
    size: int
    bits: tuple[int, int] | None = None
    scale: int = 1

    @property
    def dtype(self) -> np.dtype:
        width = self.bits[1] if self.bits is not None else 8 * self.size
        top = ((1 << width) - 1) * self.scale
        for dt in (np.uint8, np.uint16, np.uint32, np.uint64):
            if top <= np.iinfo(dt).max:
                return np.dtype(dt)
        raise ValueError(f"{self} does not fit 64 bits")

    def describe(self) -> str:
        where = f"byte {self.offset}" if self.size == 1 else f"bytes {self.offset}-{self.offset + self.size - 1}"
        if self.bits is not None:
            where += f" bits {self.bits[0]}-{self.bits[0] + self.bits[1] - 1}"
        return f"{where} of {self.layer}"


def _table() -> dict[str, Fixed]:
    L3, L4 = 0, 1
    out: dict[str, Fixed] = {}

    def put(layer: str, level: int, fields: list[tuple[Any, ...]]) -> None:
        for name, *rest in fields:
            out[f"{layer}.{name}".lower()] = Fixed(layer, level, *rest)

    # dissect/ipv4.py: the 20-byte header (options come after every fixed field)
    put("IPv4", L3, [("Version", 0, 1, (0, 4)), ("HeaderLength", 0, 1, (4, 4), 4),
                     ("DifferentiatedServices", 1, 1), ("DifferentiatedServices.DSCP", 1, 1, (0, 6)),
                     ("DifferentiatedServices.ECN", 1, 1, (6, 2)), ("TotalLength", 2, 2),
                     ("Identification", 4, 2), ("Flags", 6, 1, (0, 3)), ("Flags.Reserved", 6, 1, (0, 1)),
                     ("Flags.DontFragment", 6, 1, (1, 1)), ("Flags.MoreFragments", 6, 1, (2, 1)),
                     ("FragmentOffset", 6, 2, (3, 13)), ("TimeToLive", 8, 1), ("NextProtocol", 9, 1),
                     ("Checksum", 10, 2), ("SourceAddress", 12, 4), ("DestinationAddress", 16, 4)])
    # dissect/ipv6.py: the fixed 40-byte header (extension headers follow it)
    put("IPv6", L3, [("Version", 0, 1, (0, 4)), ("TrafficClass", 0, 2, (4, 8)), ("FlowLabel", 1, 3, (4, 20)),
                     ("PayloadLength", 4, 2), ("NextProtocol", 6, 1), ("HopLimit", 7, 1)])
    # dissect/arp.py: Ethernet/IPv4 ARP (the only shape the index classifies)
    put("ARP", L3, [("HardwareType", 0, 2), ("ProtocolType", 2, 2), ("HardwareAddressLength", 4, 1),
                    ("ProtocolAddressLength", 5, 1), ("Operation", 6, 2), ("SenderMacAddress", 8, 6),
                    ("SenderIPAddress", 14, 4), ("TargetMacAddress", 18, 6), ("TargetIPAddress", 24, 4)])
    # dissect/tcp.py: the 20-byte header (options come after every fixed field)
    put("TCP", L4, [("SrcPort", 0, 2), ("DstPort", 2, 2), ("SequenceNumber", 4, 4),
                    ("AcknowledgementNumber", 8, 4), ("DataOffset", 12, 1, (0, 4)), ("Flags", 12, 2, (4, 12)),
                    ("Flags.Reserved", 12, 1, (4, 3)), ("Flags.NS", 12, 1, (7, 1)), ("Flags.Cwr", 13, 1, (0, 1)),
                    ("Flags.Ece", 13, 1, (1, 1)), ("Flags.Urg", 13, 1, (2, 1)), ("Flags.Ack", 13, 1, (3, 1)),
                    ("Flags.Psh", 13, 1, (4, 1)), ("Flags.Rst", 13, 1, (5, 1)), ("Flags.Syn", 13, 1, (6, 1)),
                    ("Flags.Fin", 13, 1, (7, 1)), ("Window", 14, 2), ("Checksum", 16, 2),
                    ("UrgentPointer", 18, 2)])
    # dissect/udp.py
    put("UDP", L4, [("SrcPort", 0, 2), ("DstPort", 2, 2), ("TotalLength", 4, 2), ("Checksum", 6, 2)])
    # dissect/icmp.py, icmpv6.py: the 4 bytes every message has (the rest depends on the type)
    for proto in ("ICMP", "ICMPv6"):
        put(proto, L4, [("Type", 0, 1), ("Code", 1, 1), ("Checksum", 2, 2)])
    return out


#: lower-case field name → its fixed position
FIXED: dict[str, Fixed] = _table()
#: bumped when a position or the rule for trusting a frame changes (cached columns are rebuilt)
VERSION = 1
#: fields at a fixed place that are not gathered, and why
NOT_GATHERED = {
    "ipv6.sourceaddress": "128 bits do not fit a numeric column; the index's IP conversations hold it",
    "ipv6.destinationaddress": "128 bits do not fit a numeric column; the index's IP conversations hold it",
}
#: layer name → its fixed fields (lower-case name, position)
BY_LAYER: dict[str, list[tuple[str, Fixed]]] = {}
for _key, _spec in FIXED.items():
    BY_LAYER.setdefault(_spec.layer, []).append((_key, _spec))
L3_LAYERS = ("IPv4", "IPv6", "ARP")
L4_LAYERS = ("TCP", "UDP", "ICMP", "ICMPv6")
#: layers after which the application payload starts (the layer's own bytes are its header)
PAYLOAD_AFTER = ("TCP", "UDP")


def fixed(name: str) -> Fixed | None:
    """Where field ``name`` lies inside its layer, when that is fixed."""
    return FIXED.get(name.lower())


def layer_offsets(layers: Sequence[Layer], data: bytes) -> tuple[int, int, int]:
    """(L3, L4, payload) start of a decoded frame; -1 for a layer it does not have or that a
    field column may not read (a second instance, a field elsewhere or with another value)."""
    seen: dict[str, int] = {}
    for layer in layers:
        name = layer.protocol.name
        if name in BY_LAYER:
            seen[name] = seen.get(name, 0) + 1
    l3 = l4 = pay = -1
    for layer in layers:
        name = layer.protocol.name
        if seen.get(name) != 1 or not vouches(layer, data):
            continue
        if name in L3_LAYERS and l3 < 0:
            l3 = layer.start
        elif name in L4_LAYERS and l4 < 0:
            l4 = layer.start
            if name in PAYLOAD_AFTER:
                pay = layer.start + layer.length
    return l3, l4, pay


def vouches(layer: Layer, data: bytes) -> bool:
    """Every fixed field of ``layer`` once, at its place, with the value its bytes give.

    The general path asks this for every frame it dissects, so it looks fields up by their
    declared name (no lower-casing) and walks the field tree without generators."""
    specs = _by_name().get(layer.protocol.name)
    if specs is None:
        return False
    base = layer.start
    found: set[str] = set()
    todo = list(layer.fields)
    for f in todo:  # grows while it is walked: children after their parent
        if f.children:
            todo.extend(f.children)
        fdef = f.fdef
        if fdef is None:
            continue
        spec = specs.get(fdef.name)
        if spec is None:
            continue
        offset, size, shift, mask, scale = spec
        at = f.start
        if at != base + offset or f.length != size or fdef.name in found or at + size > len(data):
            return False
        if ((int.from_bytes(data[at : at + size], "big") >> shift) & mask) * scale != f.value:
            return False
        found.add(fdef.name)
    return len(found) == len(specs)


_BY_NAME: dict[str, dict[str, tuple[int, int, int, int, int]]] = {}


def _by_name() -> dict[str, dict[str, tuple[int, int, int, int, int]]]:
    """layer name → {field name as declared → (offset, size, shift, mask, scale)}, built once the
    dissectors have declared their fields (``Fixed.value`` unrolled for the general path)."""
    if not _BY_NAME:
        from .fields import REGISTRY

        for key, spec in FIXED.items():
            fdef = REGISTRY.get(key)
            if fdef is None:
                continue
            first, count = spec.bits if spec.bits is not None else (0, 8 * spec.size)
            _BY_NAME.setdefault(spec.layer, {})[fdef.name] = (
                spec.offset, spec.size, 8 * spec.size - first - count, (1 << count) - 1, spec.scale)
    return _BY_NAME
