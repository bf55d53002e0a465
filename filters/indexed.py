"""Answering conditions from the index columns, without decoding frames.

The index (``traces/index.py``) keeps, per frame, a protocol presence mask, the ETW provider,
event id, level, opcode and process id, the TCP flags byte, and the Ethernet, IP and TCP/UDP
conversation of the frame with a direction bit per conversation.  ``packets.index_keys`` is the
definition of those columns from the dissected layers; the fast fields below (and the ETW header
fields of ``eventfields.py``) are its inverse:
``IPv4.SourceAddress`` is side A or B of the frame's IP conversation, depending on the
direction bit.

The index keeps only the *outermost* IP header and the first TCP/UDP header (none after an ICMP
error).  A frame whose mask shows ICMP, ICMPv6, GRE or MPLS, or both IPv4 and IPv6, or both
TCP and UDP, may hold more instances of a field (an ICMP error quotes the offending packet; a
tunnel carries a second header), and a filter field matches if *any* instance matches.  For such
frames the outer value can only prove a match; a non-match is left unknown and the frame is
decoded.  (Frames with nested IP headers carry the ``IPinIP`` flag; see ``MULTI_INSTANCE``.)

A tunnel frame the index sees through (VXLAN, NVGRE, Geneve: ``traces/tunnels.py``) holds the
tenant's conversations in its columns and the outer ones in its tunnel entry, so both instances
of each address and port, and the virtual network id, are answered here; only frames with more
headers than those two levels (``Nested``, ``IPinIP``, ICMP …) are decoded.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..traces.index import (
    DIR_ETH_REVERSED,
    DIR_IP_REVERSED,
    DIR_L4_REVERSED,
    KIND_EVENT,
    KIND_PACKET,
    OUTER_SHIFT,
)
from ..traces.protocols import CODE, FLAGS, MASK
from ..traces.tunnels import tunnels_of
from .tri import Tri
from .values import Test

#: protocols whose presence means a frame may carry a second IP / TCP / UDP / Ethernet header,
#: and flags (protocols.FLAGS) saying the same; names not in the mask are ignored.  ICMP and
#: ICMPv6 are not among them: an error message quoting a packet is indexed by the scalar path
#: (``fastwalk.ICMP_EMBEDDING``), which flags the quoted IP header as ``IPinIP``, and every
#: other message holds one IP header (pings no longer send address filters to decoding)
MULTI_INSTANCE = ("GRE", "MPLS", "IPinIP", "Nested", "Teredo", "VXLAN", "Geneve", "NVGRE", "ERSPAN")
#: of those, the ones a tunnel frame's two levels (tenant and outer) account for
TUNNEL_LEVELS = ("GRE", "VXLAN", "Geneve", "NVGRE")
_MULTI_BITS = 0
for _name in MULTI_INSTANCE:
    _MULTI_BITS |= MASK.get(_name, 0) | FLAGS.get(_name, 0)
_TUNNEL_MULTI_BITS = _MULTI_BITS
for _name in TUNNEL_LEVELS:
    _TUNNEL_MULTI_BITS &= ~MASK.get(_name, 0)
_V4V6 = MASK.get("IPv4", 0) | MASK.get("IPv6", 0)
_TCPUDP = MASK.get("TCP", 0) | MASK.get("UDP", 0)


# -- per-trace state -----------------------------------------------------------------------------

def decoder(trace: Any) -> Callable[[int], Any]:
    """How filters decode a frame: through the reader, not ``Trace.frame``, whose LRU is the UI's."""
    reader = getattr(trace, "reader", None)
    return reader.frame if reader is not None else trace.frame


class TraceState:
    """What filters learn about one trace and keep between evaluations (conversation endpoint
    arrays, computed properties).  Tables only grow, so arrays are extended, never rebuilt."""

    FRAMES = 64

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self._conv: dict[str, _ConvArrays] = {}
        self.objects: dict[str, Any] = {}
        self._frames: OrderedDict[int, Any] = OrderedDict()
        self._frames_lock = threading.Lock()

    def frame(self, trace: Any, i: int) -> Any:
        """Frame ``i`` from a small LRU, so colour rules testing one row decode it once."""
        with self._frames_lock:
            f = self._frames.get(i)
            if f is not None:
                self._frames.move_to_end(i)
                return f
        f = decoder(trace)(i)
        with self._frames_lock:
            self._frames[i] = f
            while len(self._frames) > self.FRAMES:
                self._frames.popitem(last=False)
        return f

    def conv(self, trace: Any, kind: str) -> _ConvArrays:
        table = getattr(trace, f"{kind}_conversations")
        with self.lock:
            arr = self._conv.get(kind)
            if arr is None:
                arr = self._conv[kind] = _ConvArrays()
            arr.extend(table)
            return arr


_STATES: weakref.WeakKeyDictionary[Any, TraceState] = weakref.WeakKeyDictionary()
_STATES_LOCK = threading.Lock()


def state_for(trace: Any) -> TraceState:
    with _STATES_LOCK:
        st = _STATES.get(trace)
        if st is None:
            st = _STATES[trace] = TraceState()
        return st


class _ConvArrays:
    """A conversation table's endpoints as arrays (row 0 is "no conversation")."""

    def __init__(self) -> None:
        self.n = 0
        self.a: list[Any] = []
        self.b: list[Any] = []
        self.proto = np.zeros(0, dtype=np.int64)
        self.parent = np.zeros(0, dtype=np.int64)
        self.a64 = np.zeros(0, dtype=np.uint64)
        self.b64 = np.zeros(0, dtype=np.uint64)
        self.small = np.zeros(0, dtype=bool)  # both endpoints fit in 64 bits

    def extend(self, table: Any) -> None:
        n = min(len(table.a), len(table.b), len(table.proto), len(table.parent))
        if n <= self.n:
            return
        a = list(table.a[self.n : n])
        b = list(table.b[self.n : n])
        pr = np.array(table.proto[self.n : n], dtype=np.int64)
        self.parent = np.concatenate([self.parent, np.array(table.parent[self.n : n], dtype=np.int64)])
        a64 = np.array([_u64(x) for x in a], dtype=np.uint64)
        b64 = np.array([_u64(x) for x in b], dtype=np.uint64)
        small = np.array([_fits(x) and _fits(y) for x, y in zip(a, b, strict=True)], dtype=bool)
        self.a.extend(a)
        self.b.extend(b)
        self.proto = np.concatenate([self.proto, pr])
        self.a64 = np.concatenate([self.a64, a64])
        self.b64 = np.concatenate([self.b64, b64])
        self.small = np.concatenate([self.small, small])
        self.n = n

    def match(self, side: str, test: Test, rows: np.ndarray | None = None) -> np.ndarray:
        """``test`` applied to endpoint ``side`` ("a"/"b") of every conversation."""
        vals = self.a64 if side == "a" else self.b64
        objs = self.a if side == "a" else self.b
        out = np.zeros(self.n, dtype=bool)
        vec = test.np(vals)
        todo = np.arange(self.n) if rows is None else rows
        if vec is not None:
            out = vec & self.small
            todo = todo[~self.small[todo]]
        py = test.py
        for r in todo.tolist():
            v = objs[r]
            if v is not None and py(v):
                out[r] = True
        out[0:1] = False
        return out


def _u64(v: Any) -> int:
    return v if isinstance(v, int) and 0 <= v < 2**64 else 0


def _fits(v: Any) -> bool:
    return isinstance(v, int) and 0 <= v < 2**64


# -- a range of frames being evaluated ------------------------------------------------------

class Chunk:
    """Rows ``start:stop`` of a trace's index, with lazily sliced columns."""

    def __init__(self, trace: Any, state: TraceState, start: int, stop: int,
                 cancel: threading.Event | None = None) -> None:
        self.trace = trace
        self.state = state
        self.start = start
        self.stop = stop
        self.n = stop - start
        #: set when the evaluation is abandoned (long per-trace analyses stop early)
        self.cancel = cancel
        self._cols: dict[str, np.ndarray] = {}
        self._memo: dict[object, Any] = {}

    def col(self, name: str) -> np.ndarray:
        arr = self._cols.get(name)
        if arr is None:
            arr = self._cols[name] = self.trace.index.column(name)[self.start : self.stop]
        return arr

    def memo(self, key: object, make: Callable[[], Any]) -> Any:
        if key not in self._memo:
            self._memo[key] = make()
        return self._memo[key]

    def field_column(self, fdef: Any) -> Any:
        """The field column of ``fdef`` (``traces.fieldcols``; built there on first use), or None."""
        key = ("fieldcol", fdef.name.lower())
        if key not in self._memo:
            from ..traces.fieldcols import columns_for

            try:
                self._memo[key] = columns_for(self.trace).get(fdef)
            except TypeError:  # a trace object that cannot be weakly referenced
                self._memo[key] = None
        return self._memo[key]

    def has(self, mask: int) -> np.ndarray:
        return self.memo(("has", mask), lambda: (self.col("protos") & np.uint64(mask)) != 0)

    @property
    def multi(self) -> np.ndarray:
        """Frames that may hold more instances of an IP/TCP/UDP/Ethernet field than the index
        describes (for a tunnel frame: than its tenant's and its outer conversations)."""
        def make() -> np.ndarray:
            p = self.col("protos")
            out = (p & np.uint64(_MULTI_BITS)) != 0 if _MULTI_BITS else np.zeros(self.n, dtype=bool)
            if _V4V6:
                out |= (p & np.uint64(_V4V6)) == np.uint64(_V4V6)
            if _TCPUDP:
                out |= (p & np.uint64(_TCPUDP)) == np.uint64(_TCPUDP)
            tun = self.tunnel != 0
            if tun.any():
                out[tun] = (p[tun] & np.uint64(_TUNNEL_MULTI_BITS)) != 0
            return out
        return self.memo("multi", make)

    @property
    def tunnel(self) -> np.ndarray:
        """Per frame, the tunnel entry whose tenant frame the index columns describe (0: none)."""
        def make() -> np.ndarray:
            if getattr(self.trace, "tunnel_conversations", None) is None:
                return np.zeros(self.n, dtype=np.int64)
            tunnels = self.state.conv(self.trace, "tunnel")
            return tunnels_of(self.state.conv(self.trace, "eth").parent, tunnels.n, self.col("eth_conv"))
        return self.memo("tunnel", make)

    @property
    def events(self) -> np.ndarray:
        return self.memo("events", lambda: (self.col("kind") & KIND_EVENT) != 0)

    @property
    def packets(self) -> np.ndarray:
        """Frames read from a packet file (not ETW events carrying a packet)."""
        return self.memo("packets", lambda: (self.col("kind") & (KIND_PACKET | KIND_EVENT)) == KIND_PACKET)


# -- fast fields: registry names answered from index columns --------------------------------

class FastField:
    """A registry field whose outermost value (and presence) the index knows."""

    def test(self, ch: Chunk, test: Test) -> Tri | None:
        raise NotImplementedError

    def exists(self, ch: Chunk) -> Tri | None:
        raise NotImplementedError

    def values(self, trace: Any, limit: int) -> list[Any]:
        """Distinct values seen in the trace (for autocomplete), or [] when not cheap."""
        return []


_CONV_COLUMNS = {"eth": ("eth_conv", DIR_ETH_REVERSED), "ip": ("ip_conv", DIR_IP_REVERSED),
                 "l4": ("l4_conv", DIR_L4_REVERSED)}


@dataclass(slots=True)
class ConvEndpoint(FastField):
    """One endpoint of the frame's Ethernet / IP / TCP-UDP conversation."""

    kind: str  # "eth", "ip", "l4"
    side: str  # "src" or "dst"
    protocol: str  # the presence bit: "Ethernet", "IPv4", "IPv6", "TCP", "UDP"
    family: int = 0  # ip: 4/6, l4: 6/17 (the table's proto column); 0 = any
    bit: int = -1  # >= 0: the field is this bit of the endpoint (Ethernet group bit)

    def _instances(self, ch: Chunk) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """(conversation id, usable, reversed) per frame: the index's conversation, and for tunnel
        frames the outer one of the tunnel entry."""
        col, dirbit = _CONV_COLUMNS[self.kind]
        arrays = ch.state.conv(ch.trace, self.kind)
        present = ch.has(MASK[self.protocol])
        out = []
        for conv, rev in ((ch.col(col).astype(np.int64), (ch.col("dirflags") & dirbit) != 0), *_outer(ch, self.kind)):
            conv = np.where(conv < arrays.n, conv, 0)  # rows added after our snapshot: not known
            ok = (conv != 0) & present
            if self.family:
                ok &= arrays.proto[conv] == self.family
            out.append((conv, ok, rev))
        return out

    def test(self, ch: Chunk, test: Test) -> Tri:
        arrays = ch.state.conv(ch.trace, self.kind)
        if self.bit >= 0:
            test = _BitOf(test, self.bit)
        rows = np.flatnonzero(arrays.proto == self.family) if self.family else None
        ma = arrays.match("a", test, rows)
        mb = arrays.match("b", test, rows)
        m = np.zeros(ch.n, dtype=bool)
        usable = np.zeros(ch.n, dtype=bool)
        for conv, ok, rev in self._instances(ch):
            if self.side == "src":
                m |= np.where(rev, mb[conv], ma[conv]) & ok
            else:
                m |= np.where(rev, ma[conv], mb[conv]) & ok
            usable |= ok
        present = ch.has(MASK[self.protocol])
        known = ~present | m | (usable & ~ch.multi)
        return Tri(m, known)

    def exists(self, ch: Chunk) -> Tri:
        usable = np.zeros(ch.n, dtype=bool)
        for _, ok, _ in self._instances(ch):
            usable |= ok
        present = ch.has(MASK[self.protocol])
        return Tri(usable, ~present | usable)

    def values(self, trace: Any, limit: int) -> list[Any]:
        if self.bit >= 0:
            return [0, 1]
        arrays = state_for(trace).conv(trace, self.kind)
        out: set[Any] = set()
        for r in range(1, arrays.n):
            if self.family and arrays.proto[r] != self.family:
                continue
            out.add(arrays.a[r])
            out.add(arrays.b[r])
            if len(out) >= limit:
                break
        return sorted(x for x in out if x is not None)


def _outer(ch: Chunk, kind: str) -> list[tuple[np.ndarray, np.ndarray]]:
    """For tunnel frames, (outer conversation id, reversed) of ``kind`` from the tunnel entry
    (``traces/tunnels.py``); [] when the chunk has none."""
    tid = ch.tunnel
    if not tid.any():
        return []
    def make() -> tuple[np.ndarray, np.ndarray]:
        tunnels = ch.state.conv(ch.trace, "tunnel")
        _, dirbit = _CONV_COLUMNS[kind]
        if kind == "ip":
            conv = tunnels.parent[tid]
        else:
            b = tunnels.b64[tid].astype(np.int64)
            conv = (b >> 32) if kind == "eth" else (b & 0xFFFFFFFF)
        conv = np.where(tid != 0, conv, 0)
        return conv, (ch.col("dirflags") & (dirbit << OUTER_SHIFT)) != 0
    return [ch.memo(("outer", kind), make)]


@dataclass(slots=True)
class _BitOf(Test):
    """``test`` applied to one bit of the value."""

    inner: Test
    bit: int

    def py(self, v: Any) -> bool:
        return isinstance(v, int) and self.inner.py((v >> self.bit) & 1)

    def np(self, arr: np.ndarray) -> np.ndarray | None:
        return self.inner.np((arr.astype(np.uint64) >> np.uint64(self.bit)) & np.uint64(1))

    def text(self) -> str:
        return self.inner.text()


@dataclass(slots=True)
class TcpFlag(FastField):
    """One bit of the outermost TCP header's flags byte (index column ``tcpflags``)."""

    bit: int

    def _outer(self, ch: Chunk) -> tuple[np.ndarray, np.ndarray]:
        tcp = ch.has(MASK["TCP"])
        flags = ch.col("tcpflags")
        # a flags byte of 0 is either a null segment or a header too short to have flags
        ok = tcp & (ch.col("l4_conv") != 0) & (flags != 0)
        return ok, ((flags & self.bit) != 0).astype(np.uint8)

    def test(self, ch: Chunk, test: Test) -> Tri | None:
        ok, value = self._outer(ch)
        r = test.np(value)
        if r is None:
            return None
        m = r & ok
        tcp = ch.has(MASK["TCP"])
        return Tri(m, ~tcp | (ok & (m | ~ch.multi)))

    def exists(self, ch: Chunk) -> Tri:
        ok, _ = self._outer(ch)
        tcp = ch.has(MASK["TCP"])
        return Tri(ok, ~tcp | ok)

    def values(self, trace: Any, limit: int) -> list[Any]:
        return [0, 1]


@dataclass(slots=True)
class TunnelNetwork(FastField):
    """The virtual network id (VNI, VSID) of a tunnel frame the index sees through: its tunnel
    entry's ``a`` (``traces/tunnels.py``)."""

    protocol: str  # "VXLAN", "NVGRE", "Geneve"

    def _parts(self, ch: Chunk) -> tuple[np.ndarray, np.ndarray, _ConvArrays]:
        tid = ch.tunnel
        tunnels = ch.state.conv(ch.trace, "tunnel") if tid.any() else _ConvArrays()
        ok = (tid != 0) & (tunnels.proto[tid] == CODE[self.protocol]) if tid.any() else np.zeros(ch.n, dtype=bool)
        return tid, ok, tunnels

    def test(self, ch: Chunk, test: Test) -> Tri | None:
        tid, ok, tunnels = self._parts(ch)
        m = tunnels.match("a", test)[tid] & ok if ok.any() else ok
        present = ch.has(MASK[self.protocol])
        return Tri(m, ~present | (ok & (m | ~ch.multi)))

    def exists(self, ch: Chunk) -> Tri:
        _, ok, _ = self._parts(ch)
        present = ch.has(MASK[self.protocol])
        return Tri(ok & present, ~present | ok)

    def values(self, trace: Any, limit: int) -> list[Any]:
        table = getattr(trace, "tunnel_conversations", None)
        if table is None:
            return []
        code = CODE[self.protocol]
        return sorted({a for a, p in zip(table.a[1:], table.proto[1:], strict=True) if p == code})[:limit]


@dataclass(slots=True)
class PacketColumn(FastField):
    """A ``Frame.*`` value of packet-file frames kept in the index (number, length, time,
    interface).  For ETW events that carry a packet the index describes the event record, so
    those frames are decoded."""

    column: str  # "frame_number" (1-based), "length", "ts", "iface"

    def _vals(self, ch: Chunk) -> np.ndarray:
        if self.column == "frame_number":
            return np.arange(ch.start + 1, ch.stop + 1, dtype=np.int64)
        return ch.col(self.column)

    def test(self, ch: Chunk, test: Test) -> Tri | None:
        r = test.np(self._vals(ch))
        if r is None:
            return None
        pk = ch.packets
        return Tri(r & pk, pk)

    def exists(self, ch: Chunk) -> Tri:
        pk = ch.packets
        return Tri(pk.copy(), pk)


# (the Netmon spellings, TCP.Flags.Reset …, are registry aliases of these names)
_FLAG_BITS = {"fin": 0x01, "syn": 0x02, "rst": 0x04, "psh": 0x08, "ack": 0x10, "urg": 0x20, "ece": 0x40, "cwr": 0x80}

#: registry names (lower case) the index answers, mirroring ``packets.index_keys``
# -- presence of protocols and ETW providers/events ----------------------------------------

def provider_codes(trace: Any, guid: str) -> list[int]:
    """The codes of ``trace.providers`` entries with this GUID (any spelling)."""
    want = guid.strip("{}").lower()
    return [c for c, p in enumerate(trace.providers) if c and p.guid and p.guid.strip("{}").lower() == want]



@dataclass(slots=True)
class Presence:
    """Where a registry name can exist: frames with a protocol bit, or of an ETW provider/event.

    ``exact``: the name *is* that node (a protocol or event), so presence is its existence.
    ``by_version``: the event node is named by id and version (``Event_56_V1``), which the index
    does not keep, so frames of the right id are unknown rather than known present.
    """

    mask: int = 0
    guid: str = ""
    event_ids: tuple[int, ...] = ()
    exact: bool = False
    by_version: bool = False
    #: (a field with a column, a value): the name exists only where that field may have that value
    #: (a TLS alert's fields only in a segment whose record may be an alert)
    within: tuple[str, int] | None = None

    def possible(self, ch: Chunk) -> np.ndarray:
        """False where the name is certainly absent."""
        if self.mask:
            m = ch.has(self.mask)
            return m & self._may_be_within(ch) if self.within is not None else m
        codes = ch.memo(("codes", self.guid), lambda: provider_codes(ch.trace, self.guid))
        prov = ch.col("provider")
        if not codes:
            m = np.zeros(ch.n, dtype=bool)
        elif len(codes) == 1:
            m = prov == codes[0]
        else:
            m = np.isin(prov, codes)
        if self.event_ids:
            ids = ch.col("event_id")
            m &= ids == self.event_ids[0] if len(self.event_ids) == 1 else np.isin(ids, self.event_ids)
        return m

    def _may_be_within(self, ch: Chunk) -> np.ndarray:
        name, value = self.within  # type: ignore[misc]

        def make() -> np.ndarray:
            fdef = ch.trace.registry.get(name)
            col = ch.field_column(fdef) if fdef is not None else None
            if col is None:
                return np.ones(ch.n, dtype=bool)
            present, known = col.present(ch.start, ch.stop)
            other, _ = col.match(ch.start, ch.stop, lambda v: v != value, lambda a: a != value)
            return ~((known & ~present) | other)

        # (every condition under the same node asks for the chunk: once)
        return ch.memo(("within", name.lower(), value), make)

    def exists(self, ch: Chunk) -> Tri:
        m = self.possible(ch)
        if self.exact and not self.by_version:
            return Tri(m, np.ones(ch.n, dtype=bool))
        return Tri(np.zeros(ch.n, dtype=bool), ~m)


def packet_offsets(trace: Any, rows: np.ndarray) -> np.ndarray | None:
    """Where each row's packet bytes start in ``trace.buf``, when the reader keeps them in place."""
    offsets = getattr(getattr(trace, "reader", None), "packet_offsets", None)
    if offsets is None or getattr(trace, "buf", None) is None:
        return None
    return offsets(rows)
