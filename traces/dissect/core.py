"""The dissector framework: dispatch tables and the per-frame context dissectors write into.

A dissector is ``fn(ctx, off, end) -> None``: it reads ``ctx.data[off:end]``, appends a
``Layer`` with its fields (byte ranges relative to the frame), sets the summary columns it
knows, and hands the rest to the next dissector through a dispatch table.  Dissectors never
raise on short or malformed input: they add what they could read, mark the layer
``[Malformed]`` with ``ctx.malformed(...)`` (or, when the bytes simply ran out, ``ctx.short(...)``,
which says ``[Truncated]`` if the capture cut the packet) and stop.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from ..fields import REGISTRY, FieldDef, FieldType, Registry
from ..frame import Layer

Dissector = Callable[["Ctx", int, int], None]

#: pcap LINKTYPE_* value → dissector of the frame's first bytes
LINK_TYPES: dict[int, Dissector] = {}
#: EtherType → dissector (also used by SNAP, SLL, VLAN, MPLS pseudowires …)
ETHER_TYPES: dict[int, Dissector] = {}
#: IP protocol number → dissector (IPv4 protocol / IPv6 next header)
IP_PROTOCOLS: dict[int, Dissector] = {}
#: well-known UDP / TCP ports → application dissector (tried for the lower port first)
UDP_PORTS: dict[int, Dissector] = {}
TCP_PORTS: dict[int, Dissector] = {}
#: (test, dissector) tried in order on TCP payload no port claims: ``test(data, off, end)`` says
#: whether the payload starts a message of that protocol (HTTP on any port).  The vectorised
#: classifier must make the same test (see fastclassify), so keep each test a prefix match.
TCP_HEURISTICS: list[tuple[Callable[[bytes, int, int], bool], Dissector]] = []



class History(Protocol):
    """What the earlier frames of a frame's TCP/UDP conversation said, for a protocol whose
    messages name things bound in other segments (an MSRPC response's opnum is its request's; a
    request's interface is named by a bind).  The trace that decodes the frame gives it
    (``traces/convmemory.py``); a frame dissected on its own has none."""

    def recall(self, name: str) -> object | None:
        """The state ``MEMORIES[name]`` built from this conversation's frames (None: not known)."""
        ...


@dataclass(frozen=True, slots=True)
class Memory:
    """A per-conversation state a dissector keeps across segments, built forward in frame order:
    ``new()`` makes it empty, ``add(state, row, ctx)`` adds one of the conversation's frames carrying
    ``protocol`` (``ctx`` dissected without history: its ``notes`` say what the dissector saw) and
    says False once the state is full.  ``wanted(raw)``, when given, says from the frame's bytes
    whether it can hold anything ``add`` keeps (frames it refuses are not dissected)."""

    protocol: str
    new: Callable[[], object]
    add: Callable[[object, int, Ctx], bool]
    wanted: Callable[[bytes], bool] | None = None


#: name → the per-conversation state a dissector asks ``Ctx.history`` for
MEMORIES: dict[str, Memory] = {}

MAX_DEPTH = 24  # tunnels and ICMP errors nest; bound the recursion

# ``Ctx.addr_level``: which kind of address fills the Source/Destination columns
ADDR_MAC = 1
ADDR_IP = 2

# pcap link types we name (LINKTYPE_* values from tcpdump.org/linktypes.html)
LINKTYPE_NULL = 0
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101
LINKTYPE_IEEE802_11 = 105
LINKTYPE_LOOP = 108
LINKTYPE_LINUX_SLL = 113
LINKTYPE_IEEE802_11_RADIOTAP = 127
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229
LINKTYPE_LINUX_SLL2 = 276
# DLT_RAW is 12 on most platforms and 14 on OpenBSD; both appear in pcap files
LINKTYPE_RAW_12 = 12
LINKTYPE_RAW_14 = 14

#: IP version (the first nibble of the header) → its EtherType, for links that only say "IP"
IP_VERSION_ETHER_TYPES = {4: 0x0800, 6: 0x86DD}

LINK_TYPE_NAMES = {
    LINKTYPE_NULL: "NULL/Loopback",
    LINKTYPE_ETHERNET: "Ethernet",
    LINKTYPE_RAW: "Raw IP",
    LINKTYPE_RAW_12: "Raw IP",
    LINKTYPE_RAW_14: "Raw IP",
    LINKTYPE_IEEE802_11: "IEEE 802.11",
    LINKTYPE_LOOP: "OpenBSD loopback",
    LINKTYPE_LINUX_SLL: "Linux cooked (SLL)",
    LINKTYPE_IEEE802_11_RADIOTAP: "IEEE 802.11 + radiotap",
    LINKTYPE_IPV4: "Raw IPv4",
    LINKTYPE_IPV6: "Raw IPv6",
    LINKTYPE_LINUX_SLL2: "Linux cooked v2 (SLL2)",
}


@dataclass(slots=True)
class Ctx:
    """What one frame's dissection accumulates."""

    data: bytes
    registry: Registry = REGISTRY
    layers: list[Layer] = field(default_factory=list)
    source: str = ""
    destination: str = ""
    #: set by the topmost layer that has something to say
    protocol_name: str = ""
    description: str = ""
    depth: int = 0
    #: the key the last ``next()`` dispatched on (a VLAN tag learns its TPID from it)
    dispatch_key: int = -1
    #: what ``source``/``destination`` hold: 0 nothing, ADDR_MAC, ADDR_IP (the outermost wins)
    addr_level: int = 0
    #: scratch space shared by layers (``"ip_src"``, ``"ip_dst"``, ``"l4_src_port"`` …)
    notes: dict[str, object] = field(default_factory=dict)
    #: id(layer) → its ``[Malformed: …]``/``[Truncated: …]`` tag, so that a summary set later keeps it
    problems: dict[int, str] | None = None
    #: the conversation's earlier frames (None: dissected on its own, or while building that state)
    history: History | None = None
    #: this frame's row in its trace (-1: not known)
    row: int = -1

    def layer(self, proto: FieldDef, summary: str, start: int, length: int, label: str = "") -> Layer:
        layer = Layer(proto, summary, start, length, label=label)
        self.layers.append(layer)
        self.protocol_name = proto.name
        self.description = f"{proto.name}:{summary}" if summary else proto.name
        return layer

    def header_missing(self, proto: FieldDef, off: int, end: int, why: str, *, short: bool = False) -> Layer:
        """A header that does not fit in ``off:end``: an empty layer, marked as ``short`` says
        (``ctx.short`` where a capture may have cut it, else ``ctx.malformed``), and the bytes
        kept as payload.  Returns the layer for the few fields that can still be read."""
        layer = self.layer(proto, "", off, max(0, end - off))
        (self.short if short else self.malformed)(layer, why)
        payload(self, off, end)
        return layer

    def addresses(self, source: str, destination: str, level: int) -> None:
        """Set the Source/Destination columns unless an outer layer of this level already did."""
        if level > self.addr_level:
            self.source, self.destination, self.addr_level = source, destination, level

    def set_summary(self, layer: Layer, summary: str) -> None:
        """Replace a layer's summary after its fields are known (and the Description if topmost)."""
        if self.problems is not None and id(layer) in self.problems:
            tag = self.problems[id(layer)]
            summary = f"{summary} {tag}" if summary else tag
        layer.summary = summary
        if self.layers and self.layers[-1] is layer:
            self.description = f"{layer.protocol.name}:{summary}" if summary else layer.protocol.name

    def malformed(self, layer: Layer, why: str) -> None:
        self._mark(layer, f"[Malformed: {why}]")

    def short(self, layer: Layer, why: str) -> None:
        """The bytes ended inside ``layer``: ``[Truncated]`` when the capture cut the packet short
        (an IP length said there was more, ``notes["cut"]``), else ``[Malformed]``."""
        if self.notes.get("cut"):
            self._mark(layer, f"[Truncated: {why}]")
        else:
            self._mark(layer, f"[Malformed: {why}]")

    def _mark(self, layer: Layer, tag: str) -> None:
        if self.problems is None:
            self.problems = {}
        if id(layer) in self.problems:  # keep the first cause; later ones follow from it
            return
        self.problems[id(layer)] = tag
        layer.summary = f"{layer.summary} {tag}" if layer.summary else tag
        if self.layers and self.layers[-1] is layer:
            self.description = f"{layer.protocol.name}:{layer.summary}"

    def next(self, table: dict[int, Dissector], key: int, off: int, end: int) -> bool:
        """Dispatch to ``table[key]``; raw payload when unknown.  Returns whether a dissector ran."""
        fn = table.get(key)
        if fn is None or self.depth >= MAX_DEPTH:
            payload(self, off, end)
            return False
        self.dispatch_key = key
        self.depth += 1
        try:
            fn(self, off, end)
        finally:
            self.depth -= 1
        return True

    def call(self, fn: Dissector, off: int, end: int) -> None:
        """Run ``fn`` one level deeper; raw payload instead when the nesting is too deep."""
        if self.depth >= MAX_DEPTH:
            payload(self, off, end)
            return
        self.depth += 1
        try:
            fn(self, off, end)
        finally:
            self.depth -= 1


PAYLOAD = REGISTRY.protocol("Payload", "Bytes no dissector claimed")
PAYLOAD_DATA = REGISTRY.define("Payload.Data", FieldType.BYTES, "The undissected bytes")
PAYLOAD_LENGTH = REGISTRY.define("Payload.Length", FieldType.UINT, "Number of undissected bytes")


def payload(ctx: Ctx, off: int, end: int, label: str = "") -> None:
    """The raw-payload layer for everything no dissector claims (nothing when empty).

    ``label`` names what the bytes are when known but not dissected (``Fragment``).
    """
    if end <= off:
        return
    n = end - off
    layer = Layer(PAYLOAD, f"{label}, {n} bytes" if label else f"{n} bytes", off, n, label=label)
    layer.add(PAYLOAD_LENGTH, n, off, 0)
    layer.add(PAYLOAD_DATA, ctx.data[off:end], off, n)
    # payload never becomes the Protocol Name: Netmon names the last protocol it recognised
    ctx.layers.append(layer)
    if not ctx.protocol_name:
        ctx.protocol_name = "Payload"
        ctx.description = f"Payload:{n} bytes"


def dissect_into(ctx: Ctx, link_type: int, off: int = 0, end: int | None = None) -> Ctx:
    end = len(ctx.data) if end is None else end
    ctx.next(LINK_TYPES, link_type, off, end)
    return ctx
