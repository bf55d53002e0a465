"""The columnar frame index: what the first pass over a file keeps for every frame.

One NumPy array per column, never one Python object per frame.  Readers append batches (dicts of
arrays) while a UI reads the first ``len(index)`` rows; arrays grow by doubling and are swapped in
before the length is published, and every read takes the length before the arrays, so a reader
thread never sees a half-written row.

Columns (64 bytes a frame):

=========  ======  ============================================================================
loc        uint64  reader-specific locator (file offset of the record; ETL: buffer << 32 | offset)
length     uint32  captured bytes of the frame (packets) or of the event record (ETW)
ts         int64   timestamp, ns since 1970-01-01 UTC
iface      uint16  interface number (``Trace.interfaces``)
kind       uint8   KIND_PACKET / KIND_EVENT bits
tcpflags   uint8   TCP flags byte of the (outermost) TCP header
dirflags   uint8   DIR_* bits: which side of each conversation the frame's source is
level      uint8   ETW level
protos     uint64  presence bit mask of packet protocols (``protocols.BIT``)
top        uint16  code of the Protocol Name column (``Trace.protocol_names``)
provider   uint16  ETW provider code (``Trace.providers``), 0 = not an ETW event
event_id   uint16  ETW event id
opcode     uint8   ETW opcode
eth_conv   uint32  Ethernet conversation id (0 = none)
ip_conv    uint32  IPv4/IPv6 conversation id (0 = none)
l4_conv    uint32  TCP/UDP conversation id (0 = none)
pid        uint32  process id (ETW events; 0xFFFFFFFF = unknown)
tid        uint32  thread id (ETW events; 0xFFFFFFFF = unknown)
desc       uint16  ETW header code (``Trace.descriptors``): the record's header family and the
                   descriptor values the columns above do not hold (version, channel, task,
                   keywords); 0 = not known (not an event, or more distinct values than fit)
layout     uint8   layer offsets code (``Trace.layouts``): where L3, L4 and the application
                   payload start in the frame's bytes (``traces/layeroffs.py``); 0 = not known
=========  ======  ============================================================================

The descriptor values live in a per-trace table because a trace has few distinct combinations
(hundreds) but 8-byte keywords in every row would break the 64-bytes-a-frame budget.  The layer
offsets are kept the same way: a trace has a few dozen distinct (L3, L4, payload) triples, so a
byte per frame numbers them where three offsets would take three or more.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

import numpy as np

COLUMNS: dict[str, np.dtype] = {
    "loc": np.dtype(np.uint64),
    "length": np.dtype(np.uint32),
    "ts": np.dtype(np.int64),
    "iface": np.dtype(np.uint16),
    "kind": np.dtype(np.uint8),
    "tcpflags": np.dtype(np.uint8),
    "dirflags": np.dtype(np.uint8),
    "level": np.dtype(np.uint8),
    "protos": np.dtype(np.uint64),
    "top": np.dtype(np.uint16),
    "provider": np.dtype(np.uint16),
    "event_id": np.dtype(np.uint16),
    "opcode": np.dtype(np.uint8),
    "eth_conv": np.dtype(np.uint32),
    "ip_conv": np.dtype(np.uint32),
    "l4_conv": np.dtype(np.uint32),
    "pid": np.dtype(np.uint32),
    "tid": np.dtype(np.uint32),
    "desc": np.dtype(np.uint16),
    "layout": np.dtype(np.uint8),
}

KIND_PACKET = 1
KIND_EVENT = 2  # an ETW event; an ETW event carrying a packet has both bits
KIND_NOTIME = 4  # the record has no timestamp of its own (pcapng SPB, custom blocks); ts repeats the previous

DIR_ETH_REVERSED = 1  # the frame's source MAC is side B of its Ethernet conversation
DIR_IP_REVERSED = 2  # the frame's source address is side B of its IP conversation
DIR_L4_REVERSED = 4  # the frame's source port endpoint is side B of its TCP/UDP conversation
DIR_SEND = 8  # ETW packet: send path (outbound)
DIR_RECEIVE = 16  # ETW packet: receive path (inbound)
#: a tunnel frame (``tunnels.py``): the DIR_ETH/IP/L4 bits above describe the tenant's
#: conversations; these describe the outer ones its tunnel entry names
DIR_OUTER_ETH_REVERSED = 32
DIR_OUTER_IP_REVERSED = 64
DIR_OUTER_L4_REVERSED = 128
#: DIR_X_REVERSED << OUTER_SHIFT == DIR_OUTER_X_REVERSED
OUTER_SHIFT = 5

PID_UNKNOWN = 0xFFFFFFFF
#: columns whose default (a row a reader did not fill) is "unknown", not 0
UNKNOWN_DEFAULTS = {"pid": PID_UNKNOWN, "tid": PID_UNKNOWN}

#: ETW record header families (``Trace.descriptors`` rows); which header fields a family has
#: decides where a ``NetEvent.Header.*`` field exists at all
FAMILY_EVENT = 1  # EVENT_HEADER (manifest, TraceLogging, Netmon NetEvent frames)
FAMILY_SYSTEM = 2  # SYSTEM_TRACE_HEADER (kernel)
FAMILY_PERFINFO = 3  # PERFINFO_TRACE_HEADER
FAMILY_CLASSIC = 4  # EVENT_TRACE_HEADER (MOF, instance)
FAMILY_MESSAGE = 5  # WPP message
FAMILY_NAMES = {"event": FAMILY_EVENT, "system": FAMILY_SYSTEM, "perfinfo": FAMILY_PERFINFO,
                "classic": FAMILY_CLASSIC, "message": FAMILY_MESSAGE}
#: the most distinct descriptors a trace numbers (the 16-bit ``desc`` column); rows past it get 0
MAX_DESCRIPTORS = 0xFFFF

BYTES_PER_FRAME = sum(dt.itemsize for dt in COLUMNS.values())


def empty_batch(n: int) -> dict[str, np.ndarray]:
    """A zeroed batch of ``n`` rows (pid and tid default to unknown)."""
    batch = {name: np.zeros(n, dtype=dt) for name, dt in COLUMNS.items()}
    for name, value in UNKNOWN_DEFAULTS.items():
        batch[name].fill(value)
    return batch


class FrameIndex:
    """Growable columns; ``len()`` is the number of complete rows."""

    def __init__(self, capacity: int = 1024) -> None:
        self._cols: dict[str, np.ndarray] = {n: np.zeros(capacity, dtype=dt) for n, dt in COLUMNS.items()}
        self._n = 0
        #: rows from here on in the memory of ``_cols`` are its first zeros: no ``slots`` gave them out
        self._zeros_from = 0
        self._lock = threading.Lock()
        #: bumped by every ``reorder``: whatever is keyed by row number (decoded frames, rendered
        #: rows, filter masks, marks) was made for another order when it has changed
        self.order_generation = 0
        #: ``moved[old_row]`` is the row a frame moved to in the last ``reorder`` (None: never moved)
        self.moved: np.ndarray | None = None

    @classmethod
    def from_columns(cls, cols: Mapping[str, np.ndarray]) -> FrameIndex:
        idx = cls(0)
        n = len(cols["ts"])
        idx._cols = {name: np.asarray(cols[name], dtype=dt) for name, dt in COLUMNS.items()}
        for name, arr in idx._cols.items():
            if len(arr) != n:
                raise ValueError(f"index column {name} has {len(arr)} rows, expected {n}")
        idx._n = n
        return idx

    def __len__(self) -> int:
        return self._n

    # Reads take ``_n`` first: ``append`` swaps grown arrays in before it publishes a larger
    # ``_n``, so the arrays read after it hold every row it counts (the other order could pair
    # the old, smaller arrays with the new length: rows missing, or zeros never written).
    def __getattr__(self, name: str) -> np.ndarray:
        d = self.__dict__
        n = d.get("_n", 0)
        cols = d.get("_cols")
        if cols is not None and name in cols:
            return cols[name][:n]
        raise AttributeError(name)

    def column(self, name: str) -> np.ndarray:
        n = self._n
        return self._cols[name][:n]

    def row(self, i: int, *names: str) -> tuple[int, ...]:
        """Several columns of one row read from one set of arrays, so a concurrent ``reorder``
        (ETL's final time sort) can never pair one row's offset with another row's length."""
        cols = self._cols
        return tuple(int(cols[name][i]) for name in names)

    def columns(self) -> dict[str, np.ndarray]:
        n = self._n
        return {name: arr[:n] for name, arr in self._cols.items()}

    @property
    def nbytes(self) -> int:
        n = self._n
        return sum(arr[:n].nbytes for arr in self._cols.values())

    def slots(self, first: int, m: int) -> dict[str, np.ndarray]:
        """An ``empty_batch(m)`` for rows ``first`` onward, in the index's own memory when its
        capacity holds them: a reader that fills it there saves ``append`` the copy (which then
        only counts the rows, if they still come next and the memory was not replaced by a
        ``reserve`` meanwhile).  A reader preparing a batch ahead (another thread) may call it."""
        with self._lock:
            cols = self._cols
            if first < self._n or first + m > len(cols["ts"]):
                return empty_batch(m)
            # (an earlier batch may have been prepared here, a batch that was not appended)
            clean = first >= self._zeros_from
            self._zeros_from = max(self._zeros_from, first + m)
        batch = {name: arr[first : first + m] for name, arr in cols.items()}
        for name, arr in batch.items():
            value = UNKNOWN_DEFAULTS.get(name, 0)
            if value or not clean:  # (zeros need no writing: a column no reader writes stays untouched)
                arr.fill(value)
        return batch

    def _in_place(self, batch: Mapping[str, np.ndarray], n: int, m: int) -> bool:
        """Whether ``batch`` is the ``slots`` of rows ``n`` to ``n + m`` of the current memory."""
        cols = self._cols
        if n + m > len(cols["ts"]) or len(batch) != len(cols):
            return False
        for name, arr in cols.items():
            got = batch.get(name)
            if got is None or got.base is not arr or got.ctypes.data != arr[n:].ctypes.data or len(got) != m:
                return False
        return True

    def append(self, batch: Mapping[str, np.ndarray]) -> None:
        m = len(batch["ts"])
        if m == 0:
            return
        with self._lock:
            n = self._n
            need = n + m
            if self._in_place(batch, n, m):  # written where it belongs (``slots``)
                self._n = need
                return
            cap = len(self._cols["ts"])
            if need > cap:
                self._grow(max(need, cap * 2, 1024))
            for name, arr in self._cols.items():
                src = batch.get(name)
                if src is not None:
                    arr[n:need] = src
                elif name in UNKNOWN_DEFAULTS:
                    arr[n:need] = UNKNOWN_DEFAULTS[name]
                else:
                    arr[n:need] = 0
            self._n = need

    def reserve(self, rows: int) -> None:
        """Room for ``rows`` rows in all, at once: an index grown by doubling writes every row
        again at each step, into memory it touches for the first time (a scan that knows how
        many frames are coming reserves them)."""
        with self._lock:
            if rows > len(self._cols["ts"]):
                self._grow(rows)

    def _grow(self, capacity: int) -> None:
        """New memory of ``capacity`` rows holding the rows there are (the lock held)."""
        n = self._n
        grown = {}
        for name, arr in self._cols.items():
            new = np.zeros(capacity, dtype=arr.dtype)  # (pages never written are never touched)
            new[:n] = arr[:n]
            grown[name] = new
        self._cols = grown
        self._zeros_from = n

    def reorder(self, order: np.ndarray) -> None:
        """Permute all rows (ETL: merge per-CPU buffers into time order)."""
        with self._lock:
            n = self._n
            order = np.asarray(order)
            if len(order) != n:
                raise ValueError(f"reorder needs {n} positions, got {len(order)}")
            moved = np.empty(n, dtype=np.int64)
            moved[order] = np.arange(n, dtype=np.int64)
            self._cols = {name: arr[:n][order] for name, arr in self._cols.items()}
            self.moved = moved
            self.order_generation += 1

    def remap(self, rows: np.ndarray, since: int) -> np.ndarray:
        """Rows numbered in the order of generation ``since``, renumbered for the current order.
        Only the last reorder is remembered (a trace reorders once, at the end of its scan)."""
        moved = self.moved
        if since == self.order_generation or moved is None:
            return rows
        if since != self.order_generation - 1:
            raise ValueError(f"rows from order generation {since} cannot be renumbered "
                             f"(now {self.order_generation})")
        rows = np.asarray(rows, dtype=np.int64)
        inside = (rows >= 0) & (rows < len(moved))
        out = rows.copy()
        out[inside] = moved[rows[inside]]
        return out

    def trim(self) -> None:
        """Drop spare capacity once the scan is complete."""
        with self._lock:
            n = self._n
            self._cols = {name: np.ascontiguousarray(arr[:n]) for name, arr in self._cols.items()}


class ConversationTable:
    """Direction-independent conversations: key → id (1-based) plus the two endpoints.

    ``kind`` is ``"eth"`` (endpoints are MAC ints), ``"ip"`` (endpoints are address ints, the
    family 4/6 in ``proto``) or ``"l4"`` (endpoints are ports; ``parent`` is the IP conversation
    id and ``proto`` 6/17).  A tenant's conversation inside a tunnel has a ``parent`` (0
    elsewhere): an ``ip`` one its virtual network's ``tunnels.network_key``, an ``eth`` one the
    frame's tunnel entry.  ``"tunnel"`` entries (``tunnels.py``) are one tunnel's outer conversations: ``a`` the
    virtual network id (VNI, VSID), ``b`` the outer Ethernet conversation << 32 | the outer
    TCP/UDP one, ``parent`` the outer IP conversation, ``proto`` the tunnel's protocol code.
    The key of a conversation follows from its columns, so a table restored from the index cache
    rebuilds its key dictionary only if something is interned.
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.a: list[Any] = [None]
        self.b: list[Any] = [None]
        self.parent: list[int] = [0]
        self.proto: list[int] = [0]
        self._keys: dict[object, int] | None = {}
        #: ids from here on were appended by ``append_new`` and are not in ``_keys`` yet
        self._unkeyed = 1
        #: conversations that came through ``intern``/``intern_many`` (or a restored table): keys the
        #: index's C passes may not know (``append_new``)
        self.interned = 0

    def _key(self, cid: int) -> object:
        parent = self.parent[cid]
        if self.kind == "eth":
            return (self.a[cid], self.b[cid], parent) if parent else (self.a[cid], self.b[cid])
        if self.kind == "ip":
            return (self.proto[cid], self.a[cid], self.b[cid], parent) if parent else (
                self.proto[cid], self.a[cid], self.b[cid])
        return (parent, self.proto[cid], self.a[cid], self.b[cid])

    @property
    def keys(self) -> dict[object, int]:
        if self._keys is None:
            self._keys = {self._key(cid): cid for cid in range(1, len(self.a))}
        elif self._unkeyed < len(self.a):
            self._keys.update((self._key(cid), cid) for cid in range(self._unkeyed, len(self.a)))
        self._unkeyed = len(self.a)
        return self._keys

    def intern(self, key: object, a: object, b: object, parent: int = 0, proto: int = 0) -> int:
        keys = self.keys
        cid = keys.get(key)
        if cid is None:
            cid = len(self.a)
            keys[key] = cid
            self.a.append(a)
            self.b.append(b)
            self.parent.append(parent)
            self.proto.append(proto)
            self._unkeyed = cid + 1
            self.interned += 1
        return cid

    def append_new(self, a: list, b: list, parent: list | None = None, proto: list | None = None) -> list[int]:
        """Append conversations the caller knows are new to the table and distinct (the index's C
        passes, whose tables hold every key of this one while ``interned`` is 0): their ids, in
        order.  Their keys join ``keys`` when it is next read (a count never reads it)."""
        n = len(a)
        start = len(self.a)
        self.a.extend(a)
        self.b.extend(b)
        self.parent.extend(parent if parent else [0] * n)
        self.proto.extend(proto if proto else [0] * n)
        return list(range(start, start + n))

    def intern_many(self, keys: list, a: list, b: list, parent: list | None = None,
                    proto: list | None = None) -> list[int]:
        """``intern`` for many keys at once (the vectorised classifier's path)."""
        known = self.keys
        ids = list(map(known.get, keys))
        n = len(keys)
        if n and ids.count(None) == n:  # all new (the usual case): appended whole, if no key repeats
            start = len(self.a)
            known.update(zip(keys, range(start, start + n)))
            if len(known) == start - 1 + n:
                self.a.extend(a)
                self.b.extend(b)
                self.parent.extend(parent if parent else [0] * n)
                self.proto.extend(proto if proto else [0] * n)
                self._unkeyed = len(self.a)
                self.interned += n
                return list(range(start, start + n))
            for key in keys:  # a key came twice: undone, and interned one by one below
                known.pop(key, None)
        if None in ids:  # new ones: ``intern`` inlined (a big trace interns millions)
            col_a, col_b, col_parent, col_proto = self.a, self.b, self.parent, self.proto
            for n, cid in enumerate(ids):
                if cid is not None:
                    continue
                key = keys[n]
                cid = known.get(key)  # (a key may come twice in one call)
                if cid is None:
                    cid = known[key] = len(col_a)
                    col_a.append(a[n])
                    col_b.append(b[n])
                    col_parent.append(parent[n] if parent else 0)
                    col_proto.append(proto[n] if proto else 0)
                    self.interned += 1
                ids[n] = cid
            self._unkeyed = len(col_a)
        return ids  # type: ignore[return-value]

    def __len__(self) -> int:
        return len(self.a) - 1

    # -- the index cache: columns as arrays (128-bit addresses as two u64 halves) ---------------
    def to_arrays(self) -> dict[str, np.ndarray]:
        mask = (1 << 64) - 1
        out: dict[str, np.ndarray] = {}
        for name, values in (("a", self.a[1:]), ("b", self.b[1:])):
            try:  # all below 2**64 (MACs, IPv4 addresses, ports): one conversion
                out[f"{name}_lo"] = np.array(values, dtype=np.uint64)
                out[f"{name}_hi"] = np.zeros(len(values), dtype=np.uint64)
                continue
            except (OverflowError, TypeError, ValueError):  # IPv6 addresses among them
                pass
            ints = np.array([int(v) for v in values], dtype=object)  # (the halves in C, per item)
            out[f"{name}_lo"] = (ints & mask).astype(np.uint64)
            out[f"{name}_hi"] = (ints >> 64).astype(np.uint64)
        out["parent"] = np.array(self.parent[1:], dtype=np.uint32)
        out["proto"] = np.array(self.proto[1:], dtype=np.uint16)
        return out

    @classmethod
    def from_arrays(cls, kind: str, cols: Mapping[str, np.ndarray]) -> ConversationTable:
        t = cls(kind)
        for name in ("a", "b"):
            lo = cols[f"{name}_lo"].tolist()
            hi = cols[f"{name}_hi"]
            values = [(h << 64) | v for h, v in zip(hi.tolist(), lo, strict=True)] if hi.any() else lo
            getattr(t, name).extend(values)
        t.parent.extend(cols["parent"].tolist())
        t.proto.extend(cols["proto"].tolist())
        if not len(t.a) == len(t.b) == len(t.parent) == len(t.proto):
            raise ValueError(f"{kind} conversation columns differ in length")
        t._keys = None  # rebuilt on the first intern, if one ever comes
        t.interned = len(t)  # (no C pass has seen them)
        return t
