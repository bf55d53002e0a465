"""The ETW event header's fields answered from the index, and the table of every fast field.

The index keeps per event its provider, event id, level, opcode, process and thread id, and a
code (``desc``) into ``Trace.descriptors``, the distinct (header family, version, channel, task,
keyword) combinations the trace holds.  ``NetEvent.Header.*`` conditions are decided from those
columns: an event whose header family lacks a field does not have it, and the few events the
index could not number (past ``MAX_DESCRIPTORS``) are decoded.  ``FAST_FIELDS`` maps registry
names (lower case) to the fast fields here and in ``indexed.py``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..traces.index import (
    FAMILY_CLASSIC,
    FAMILY_EVENT,
    FAMILY_MESSAGE,
    FAMILY_PERFINFO,
    FAMILY_SYSTEM,
    KIND_EVENT,
    PID_UNKNOWN,
)
from ..traces.protocols import MASK
from .indexed import (
    _FLAG_BITS,
    Chunk,
    ConvEndpoint,
    FastField,
    PacketColumn,
    TcpFlag,
    TunnelNetwork,
)
from .tri import Tri
from .values import Test


@dataclass(slots=True)
class EventColumn(FastField):
    """An ETW header value kept in the index (event id, level, opcode, process id).

    ``unknown_value``: the column's value for events whose header lacks the field (system and
    WPP records have no level; perfinfo and WPP records may have no process id).
    """

    column: str
    unknown_value: int | None = None

    def _parts(self, ch: Chunk) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        ev = ch.events
        vals = ch.col(self.column)
        sure = ev if self.unknown_value is None else ev & (vals != self.unknown_value)
        return ev, vals, sure

    def test(self, ch: Chunk, test: Test) -> Tri | None:
        ev, vals, sure = self._parts(ch)
        r = test.np(vals)
        if r is None:
            return None
        return Tri(r & sure, ~ev | sure)

    def exists(self, ch: Chunk) -> Tri:
        ev, _, sure = self._parts(ch)
        return Tri(sure, ~ev | sure)

    def values(self, trace: Any, limit: int) -> list[Any]:
        idx = trace.index
        ev = (idx.column("kind") & KIND_EVENT) != 0
        vals = np.unique(idx.column(self.column)[ev])
        if self.unknown_value is not None:
            vals = vals[vals != self.unknown_value]
        return [int(v) for v in vals[:limit]]


class _Descriptors:
    """``trace.descriptors`` as arrays (family and the four values), indexed by the ``desc`` code."""

    def __init__(self, table: list[tuple[int, int, int, int, int]]) -> None:
        self.n = len(table)
        cols = list(zip(*(table or [(0, 0, 0, 0, 0)]), strict=True))  # row 0 is always "not known"
        self.family = np.array(cols[0], dtype=np.uint8)
        self.parts = [self.family, np.array(cols[1], dtype=np.uint16), np.array(cols[2], dtype=np.uint8),
                      np.array(cols[3], dtype=np.uint16), np.array(cols[4], dtype=np.uint64)]


def descriptors(ch: Chunk) -> _Descriptors:
    table = getattr(ch.trace, "descriptors", ())
    st = ch.state
    with st.lock:
        got = st.objects.get("descriptors")
        if got is None or got.n != len(table):
            got = st.objects["descriptors"] = _Descriptors(list(table))
        return got


@dataclass(slots=True)
class HeaderField(FastField):
    """A ``NetEvent.Header.*`` value of ETW events, from an index column or the descriptor table.

    Which header families have the field mirrors ``etw.reader.netevent_layer`` (the decoded
    definition): WPP messages carry a thread and process id only when they logged them, so for
    ``by_pid`` fields their presence follows the ``pid`` column.  Events whose descriptor code is 0
    (a Netmon frame too short for its header, more combinations than the table numbers) are
    decoded.
    """

    families: tuple[int, ...]
    column: str = ""  # an index column; "" = the descriptor table's ``part``
    part: int = 0  # 1 version, 2 channel, 3 task, 4 keywords
    by_pid: bool = False

    def _parts(self, ch: Chunk) -> tuple[np.ndarray, np.ndarray, np.ndarray, _Descriptors]:
        table = descriptors(ch)
        ev = ch.events
        desc = ch.col("desc").astype(np.int64)
        desc = np.where(desc < table.n, desc, 0)  # codes added after our snapshot: not known
        sure = ev & (desc != 0)
        fam = table.family[desc]
        present = np.isin(fam, self.families) & sure
        if self.by_pid:
            present |= (fam == FAMILY_MESSAGE) & (ch.col("pid") != PID_UNKNOWN) & sure
        return desc, present, sure, table

    def test(self, ch: Chunk, test: Test) -> Tri | None:
        desc, present, sure, table = self._parts(ch)
        if self.column:
            r = test.np(ch.col(self.column))
        else:
            per_code = test.np(table.parts[self.part])
            r = per_code[desc] if per_code is not None else None
        if r is None:
            return None
        return Tri(r & present, ~ch.events | sure)

    def exists(self, ch: Chunk) -> Tri:
        _, present, sure, _ = self._parts(ch)
        return Tri(present, ~ch.events | sure)

    def values(self, trace: Any, limit: int) -> list[Any]:
        if self.column:
            vals = np.unique(trace.index.column(self.column)[(trace.index.column("kind") & KIND_EVENT) != 0])
        else:
            table = _Descriptors(list(getattr(trace, "descriptors", ())))
            vals = np.unique(table.parts[self.part][np.isin(table.family, self.families)])
        return [int(v) for v in vals[:limit]]


@dataclass(slots=True)
class ProviderField(FastField):
    """``NetEvent.Header.ProviderId``: the GUID of the event's provider code (index column
    ``provider``), each test made once per provider of the trace.  WPP messages name a provider
    only when they logged one, and code 0 (providers past the reader's limit) names none, so
    those frames, and events whose header family is not known, are decoded."""

    def _parts(self, ch: Chunk) -> tuple[np.ndarray, np.ndarray]:
        table = descriptors(ch)
        desc = ch.col("desc").astype(np.int64)
        desc = np.where(desc < table.n, desc, 0)
        prov = ch.col("provider").astype(np.int64)
        guids = self._guids(ch)
        prov = np.where(prov < len(guids), prov, 0)  # codes added after our snapshot: not known
        named = np.array([g is not None for g in guids], dtype=bool)
        sure = ch.events & (desc != 0) & named[prov] & (table.family[desc] != FAMILY_MESSAGE)
        return prov, sure

    @staticmethod
    def _guids(ch: Chunk) -> list[uuid.UUID | None]:
        def make() -> list[uuid.UUID | None]:
            out: list[uuid.UUID | None] = []
            for code, p in enumerate(getattr(ch.trace, "providers", ())):
                try:
                    out.append(uuid.UUID(p.guid.strip("{}")) if code and p.guid else None)
                except ValueError:  # (a provider named without a GUID)
                    out.append(None)
            return out or [None]

        return ch.memo(("provider_guids", len(getattr(ch.trace, "providers", ()))), make)

    def test(self, ch: Chunk, test: Test) -> Tri | None:
        prov, sure = self._parts(ch)
        per_code = np.array([g is not None and bool(test.py(g)) for g in self._guids(ch)], dtype=bool)
        return Tri(per_code[prov] & sure, ~ch.events | sure)

    def exists(self, ch: Chunk) -> Tri:
        _, sure = self._parts(ch)
        return Tri(sure.copy(), ~ch.events | sure)

    def values(self, trace: Any, limit: int) -> list[Any]:
        return [uuid.UUID(p.guid.strip("{}")) for c, p in enumerate(trace.providers) if c and p.guid][:limit]


_WITH_DESCRIPTOR = (FAMILY_EVENT,)
_WITH_VERSION = (FAMILY_EVENT, FAMILY_SYSTEM, FAMILY_PERFINFO, FAMILY_CLASSIC)
_WITH_THREAD = (FAMILY_EVENT, FAMILY_SYSTEM, FAMILY_CLASSIC)

FAST_FIELDS: dict[str, FastField] = {
    "ethernet.sourceaddress": ConvEndpoint("eth", "src", "Ethernet"),
    "ethernet.destinationaddress": ConvEndpoint("eth", "dst", "Ethernet"),
    "ethernet.destinationaddress.group": ConvEndpoint("eth", "dst", "Ethernet", bit=40),
    "ipv4.sourceaddress": ConvEndpoint("ip", "src", "IPv4", 4),
    "ipv4.destinationaddress": ConvEndpoint("ip", "dst", "IPv4", 4),
    "ipv6.sourceaddress": ConvEndpoint("ip", "src", "IPv6", 6),
    "ipv6.destinationaddress": ConvEndpoint("ip", "dst", "IPv6", 6),
    "tcp.srcport": ConvEndpoint("l4", "src", "TCP", 6),
    "tcp.dstport": ConvEndpoint("l4", "dst", "TCP", 6),
    "udp.srcport": ConvEndpoint("l4", "src", "UDP", 17),
    "udp.dstport": ConvEndpoint("l4", "dst", "UDP", 17),
    **{f"tcp.flags.{name}": TcpFlag(bit) for name, bit in _FLAG_BITS.items()},
    "vxlan.vni": TunnelNetwork("VXLAN"),
    "nvgre.virtualsubnetid": TunnelNetwork("NVGRE"),
    "geneve.vni": TunnelNetwork("Geneve"),
    "netevent.header.descriptor.id": EventColumn("event_id"),
    "netevent.header.descriptor.level": HeaderField((FAMILY_EVENT, FAMILY_CLASSIC), "level"),
    "netevent.header.descriptor.opcode": HeaderField(_WITH_VERSION, "opcode"),
    "netevent.header.descriptor.version": HeaderField(_WITH_VERSION, part=1),
    "netevent.header.descriptor.channel": HeaderField(_WITH_DESCRIPTOR, part=2),
    "netevent.header.descriptor.task": HeaderField(_WITH_DESCRIPTOR, part=3),
    "netevent.header.descriptor.keyword": HeaderField(_WITH_DESCRIPTOR, part=4),
    "netevent.header.providerid": ProviderField(),
    "netevent.header.processid": HeaderField(_WITH_THREAD, "pid", by_pid=True),
    "netevent.header.threadid": HeaderField(_WITH_THREAD, "tid", by_pid=True),
    "frame.framenumber": PacketColumn("frame_number"),
    "frame.capturedframelength": PacketColumn("length"),
    "frame.timestamp": PacketColumn("ts"),
    "frame.interface": PacketColumn("iface"),
}
# The protocol presence bits must exist for the conversation fields above.
for _ff in FAST_FIELDS.values():
    if isinstance(_ff, ConvEndpoint):
        assert _ff.protocol in MASK, _ff.protocol

