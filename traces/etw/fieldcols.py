"""Field columns of ETW event fields (``traces/fieldcols.py``), without per-record Python.

Per (event id, version, pointer size) the schema fixes the layout of a template up to its
first variable-length field, so a field before it is one gather over all records of the event.
Fields after strings are walked for all records at once: counted strings by their length field,
NUL-terminated ones (UTF-16 or ANSI) by a terminator search per record — ``_xpress.terminated_
lengths`` in C, or the NumPy search (every NUL (pair) found once, each string's end a
``searchsorted`` from its start) that is its fallback and reference.

Records come from ETL files (``bulk.record_chunks``: chunks of bounded size, each compressed
buffer inflated once per build) or from Netmon captures' NetEvent frames (``netevent.py``: the
same EVENT_HEADER payloads behind Netmon's 89-byte header).  All the fields of one provider that
a filter names are built in one pass (``EtwPlan.batch``).

What this does not follow (counted arrays, structs, SIDs, lengths from other fields,
TraceLogging events, classic NetEvents, records with a template other than the one the field
belongs to) leaves the frame in the DECODE state, so filters decode it exactly as before; the
decoder (``decode.decode_event`` through ``payload.Template``) is the definition the columns are
tested against.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..dictcode import encode_bytes
from ..fieldcols import CODE_ABSENT, CODE_DECODE, DECODE, PRESENT, FieldColumn, checkpoint
from ..fields import FieldDef, FieldType
from ..index import FAMILY_EVENT
from .naming import event_node, ident, schema_protocol
from .records import EVENT_HEADER32, EVENT_HEADER64, FLAG_EXTENDED_INFO
from .schema import SCALAR_SIZE, STORE, EventSchema, FieldSpec, ProviderSchema, field_type

_INT_DTYPES = {"Int8": "i1", "UInt8": "u1", "Int16": "<i2", "UInt16": "<u2", "Int32": "<i4", "UInt32": "<u4",
               "HexInt32": "<u4", "Int64": "<i8", "UInt64": "<u8", "HexInt64": "<u8", "Boolean": "<u4",
               "Float": "<f4", "Double": "<f8"}
_STRINGS = ("UnicodeString", "AnsiString")
TL_SCHEMA_ITEM = 11  # EVENT_HEADER_EXT_TYPE_EVENT_SCHEMA_TL: a TraceLogging event


@dataclass(slots=True, frozen=True)
class _Layout:
    """How to reach one field: the specs before it and the field itself."""

    before: tuple[FieldSpec, ...]
    target: FieldSpec

    def value_dtype(self, ptr: int) -> str | None:
        """The wire dtype of a numeric target as the decoder reads it (None: text)."""
        t, out = self.target.type, self.target.out
        if t in _STRINGS:
            return None
        if t == "Pointer":
            return "<u4" if ptr == 4 else "<u8"
        dt = _INT_DTYPES[t]
        if out == "IPv4" and dt in ("<u4", "<i4"):
            return ">u4"
        if out == "Port" and dt in ("<u2", "<i2"):
            return ">u2"
        return dt


#: integer types whose values the walk keeps for later length references (``payload._resolve``)
_PLAIN_INTS = frozenset({"Int8", "UInt8", "Int16", "UInt16", "Int32", "UInt32", "HexInt32", "Int64", "UInt64",
                         "HexInt64"})


def _step_ok(s: FieldSpec, ints: set[str]) -> bool:
    """A field the walk can pass: a scalar, or a string/binary whose length is fixed, taken from
    an earlier integer field (``ints``), or (strings) ended by a NUL."""
    if s.count is not None or s.fields:
        return False
    if s.type in _STRINGS or s.type == "Binary":
        if isinstance(s.length, str):
            return s.length in ints
        return isinstance(s.length, int) or (s.length is None and s.type in _STRINGS)
    return s.type in SCALAR_SIZE  # (GUID, FILETIME … are passed over; only reading them is not done here)


def layout(ev: EventSchema, leaf: str) -> _Layout | None:
    """The layout of top-level field ``leaf`` of ``ev`` when the walk can reach and read it."""
    ints: set[str] = set()
    for k, s in enumerate(ev.fields):
        if not _step_ok(s, ints):
            return None
        if ident(s.name).lower() == leaf.lower():
            if s.type not in _STRINGS and s.type not in _INT_DTYPES and s.type != "Pointer":
                return None
            return _Layout(tuple(ev.fields[:k]), s)
        if s.type in _PLAIN_INTS and not s.out and s.map is None:
            ints.add(s.name)
    return None


@dataclass(slots=True)
class _Target:
    trace: Any
    fdef: FieldDef
    schema: ProviderSchema
    guid: uuid.UUID
    event_ids: tuple[int, ...]
    codes: tuple[int, ...]


def _event_ids(trace: Any, fdef: FieldDef) -> tuple[FieldDef, tuple[int, ...]] | None:
    parent = fdef.name.rsplit(".", 1)[0] if "." in fdef.name else ""
    pdef = trace.registry.get(parent) if parent else None
    meta = pdef.meta if pdef is not None else None
    if not meta or not meta.get("provider") or pdef.type is not FieldType.PROTOCOL:
        return None
    ids = meta.get("event_ids", meta.get("event_id"))
    if isinstance(ids, int):
        return pdef, (ids,)
    if isinstance(ids, (list, tuple)) and ids:
        return pdef, tuple(int(x) for x in ids)
    return None


def plan_etw(trace: Any, fdef: FieldDef) -> tuple[str, Any] | None:
    """A plan for an ETW event field of an ETL trace (or a Netmon capture's NetEvent frames)
    whose schema lets the walk reach it."""
    if getattr(trace, "format", "") not in ("etl", "netmon") or fdef.type is FieldType.PROTOCOL:
        return None
    got = _event_ids(trace, fdef)
    if got is None:
        return None
    pdef, ids = got
    guid = uuid.UUID(str(pdef.meta["provider"]).strip("{}"))  # type: ignore[index]
    schema = STORE.get(guid)
    if schema is None:
        return None
    want = guid
    codes = tuple(c for c, p in enumerate(trace.providers) if c and p.guid and _same(p.guid, want))
    if not codes:
        return None
    leaf = fdef.name.rsplit(".", 1)[1]
    reachable = [ev for ev in schema.events.values() if ev.id in ids and layout(ev, leaf) is not None]
    if not reachable:
        return None
    target = _Target(trace, fdef, schema, guid, ids, codes)
    fingerprint = repr([(ev.id, ev.version, ev.symbol, ev.fields) for ev in sorted(
        (e for e in schema.events.values() if e.id in ids), key=lambda e: (e.id, e.version))])
    key = f"etw|{guid}|{schema.origin}|" + hashlib.sha256(fingerprint.encode()).hexdigest()[:16]
    return key, EtwPlan(target)


class EtwPlan:
    """The build of one ETW field column; plans of one provider in one trace build together
    (``batch``), reading the records once for all of them."""

    def __init__(self, target: _Target) -> None:
        self.target = target
        self.group = ("etw", id(target.trace), target.guid)

    def __call__(self) -> FieldColumn:
        return build_many([self.target])[0]

    @staticmethod
    def batch(plans: list[EtwPlan]) -> list[FieldColumn]:
        return build_many([p.target for p in plans])


def _same(a: str, b: uuid.UUID) -> bool:
    try:
        return uuid.UUID(a.strip("{}")) == b
    except ValueError:
        return False


def build(t: _Target, native: bool = True) -> FieldColumn:
    """The column of one target (``native=False``: the NumPy paths only, the reference)."""
    return build_many([t], native=native)[0]


class _Out:
    """One target's column while it is built: a state byte per frame, and the values or codes."""

    def __init__(self, t: _Target, n: int) -> None:
        self.t = t
        self.leaf = t.fdef.name.rsplit(".", 1)[1]
        self.parent = t.fdef.name.rsplit(".", 1)[0].lower()
        self.reg_def = t.trace.registry.get(t.fdef.name)
        self.ids = np.array(t.event_ids, dtype=np.int64)
        self.state = np.zeros(n, dtype=np.uint8)  # ABSENT
        self.plans: dict[tuple[int, int, int], Any] = {}
        self.text: bool | None = None
        self.codes: np.ndarray | None = None
        self.table: list[str] = []
        self.texts: dict[str, int] = {}
        self.values: np.ndarray | None = None
        self.dtype = self._dtype()

    def _dtype(self) -> np.dtype | None:
        """The value type over every event and pointer size the target can have (None: text)."""
        dts = []
        for ev in self.t.schema.events.values():
            lay = layout(ev, self.leaf) if ev.id in self.t.event_ids else None
            if lay is None:
                continue
            for p in (4, 8):
                dt = lay.value_dtype(p)
                if dt is None:
                    return None
                dts.append(np.dtype("u1") if lay.target.type == "Boolean" or lay.target.out == "Boolean"
                           else np.dtype(dt).newbyteorder("="))
        return np.result_type(*dts) if dts else np.dtype(np.uint8)

    def plan(self, proto: str, e: int, v: int, p: int) -> Any:
        """What to do with records of event ``e`` version ``v`` and pointer size ``p``: None
        (the field is absent there), "decode", or the layout to walk."""
        key = (e, v, p)
        if key not in self.plans:
            got: Any = None
            ev = self.t.schema.event(e, v) if e in self.t.event_ids else None
            if ev is not None and f"{proto}.{event_node(ev)}".lower() == self.parent:
                lay = layout(ev, self.leaf)
                if lay is None:
                    if any(ident(s.name).lower() == self.leaf.lower() for s in ev.fields):
                        got = "decode"  # the field is there but the walk cannot reach it
                elif self.reg_def is not None and self.reg_def.type is field_type(lay.target):
                    got = lay  # (else the decoder keeps such values away from filters)
            self.plans[key] = got
        return self.plans[key]


def build_many(targets: list[_Target], native: bool = True) -> list[FieldColumn]:
    """The columns of ``targets`` (fields of one provider in one trace), reading every record of
    their events once, chunk by chunk (``bulk.record_chunks``: bounded memory)."""

    t0 = targets[0]
    trace = t0.trace
    idx = trace.index
    n = len(idx)
    prov = idx.column("provider")
    eid = idx.column("event_id")
    all_ids = sorted({i for t in targets for i in t.event_ids})
    rows = np.flatnonzero(np.isin(prov, t0.codes) & np.isin(eid, all_ids))
    outs = [_Out(t, n) for t in targets]
    proto = schema_protocol(t0.schema)
    # the header facts of each row from the descriptor table (family, version)
    table = np.array(trace.descriptors or [(0, 0, 0, 0, 0)], dtype=np.uint64)
    desc = idx.column("desc")[rows].astype(np.int64)
    desc = np.where(desc < len(table), desc, 0)
    family = table[desc, 0].astype(np.int64)
    version = table[desc, 1].astype(np.int64)
    is_ev = (desc != 0) & (family == FAMILY_EVENT)
    row_eid = eid[rows].astype(np.int64)
    for o in outs:
        o.state[rows[~is_ev & np.isin(row_eid, o.ids)]] = DECODE
    rows_ev, ver_ev, eid_ev = rows[is_ev], version[is_ev], row_eid[is_ev]
    if len(rows_ev):
        chunks = _netmon_chunks(trace, rows_ev) if trace.format == "netmon" else _etl_chunks(trace, rows_ev, native)
        done = 0
        for sel, recs in chunks:
            _chunk(outs, proto, rows_ev[sel], eid_ev[sel], ver_ev[sel], recs, native)
            done += len(sel)
            checkpoint(done, len(rows_ev))  # a watcher sees how far it got, and may stop it
    return [_finish(o, n) for o in outs]


@dataclass(slots=True)
class _Records:
    """A chunk of event records in one array: each record's payload is ``u8[payload:end]``, its
    pointer size ``ptr``; ``undecided`` records (damaged, another header, TraceLogging, classic)
    are left to the decoder, the rest are walked."""

    u8: np.ndarray
    payload: np.ndarray
    end: np.ndarray
    ptr: np.ndarray
    undecided: np.ndarray


def _etl_chunks(trace: Any, rows: np.ndarray, native: bool) -> Iterator[tuple[np.ndarray, _Records]]:
    """ETL event records (``bulk.record_chunks``): EVENT_HEADER32/64, extended items skipped."""
    from .bulk import record_chunks

    for ch in record_chunks(trace.reader, rows, native=native):
        u8, start, length = ch.blob, ch.start, ch.length
        end = start + length
        last = max(len(u8) - 1, 0)
        htype = u8[np.minimum(start + 2, last)].astype(np.int64) if len(u8) else np.zeros(len(start), np.int64)
        ptr = np.where(htype == EVENT_HEADER32, 4, 8)
        ok = ~ch.bad & ((htype == EVENT_HEADER32) | (htype == EVENT_HEADER64)) & (length >= 0x50)
        payload, tl = _payload_start(u8, start, end, ok)
        yield ch.sel, _Records(u8, payload, end, ptr, ~ok | tl)


#: NetEvent frames per chunk (Netmon captures are not compressed: one gather each)
NETMON_CHUNK = 1 << 16


def _netmon_chunks(trace: Any, rows: np.ndarray) -> Iterator[tuple[np.ndarray, _Records]]:
    """Netmon NetEvent frames (``netevent.py``): the 89-byte header, extended items while they fit
    (at most ``MAX_EXTENDED_ITEMS``), then ``UserDataLength`` bytes cut to the frame, as
    ``netevent.parse_header`` reads them."""
    from ..netevent import FLAG_32_BIT_HEADER, FLAG_CLASSIC_HEADER, HEADER_SIZE, MAX_EXTENDED_ITEMS
    from .bulk import _spans

    reader = trace.reader
    src = np.frombuffer(reader.buf, dtype=np.uint8)
    loc = trace.index.column("loc")
    lens = trace.index.column("length")
    for a in range(0, len(rows), NETMON_CHUNK):
        sel = np.arange(a, min(len(rows), a + NETMON_CHUNK))
        r = rows[sel]
        at = loc[r].astype(np.int64) + reader.hdr_len
        length = lens[r].astype(np.int64)
        fits = at + length <= len(src)
        length = np.where(fits, length, 0)
        u8 = _spans(src, at, length)
        start = np.concatenate([[0], np.cumsum(length)[:-1]]).astype(np.int64)
        end = start + length
        ok = length >= HEADER_SIZE

        def u16(pos: np.ndarray, u8: np.ndarray = u8) -> np.ndarray:
            p = np.clip(pos, 0, max(len(u8) - 2, 0))
            return u8[p].astype(np.int64) | (u8[p + 1].astype(np.int64) << 8) if len(u8) > 1 else np.zeros(len(pos),
                                                                                                          np.int64)

        flags = u16(start + 4)
        ok &= (flags & FLAG_CLASSIC_HEADER) == 0
        ptr = np.where(flags & FLAG_32_BIT_HEADER, 4, 8)
        count = np.where(ok, np.minimum(u16(start + 84), MAX_EXTENDED_ITEMS), 0)
        user_len = u16(start + 86)
        pos = start + HEADER_SIZE
        tl = np.zeros(len(r), dtype=bool)
        active = np.flatnonzero(count > 0)
        for k in range(MAX_EXTENDED_ITEMS):
            if not len(active):
                break
            p = pos[active]
            fit = p + 8 <= end[active]
            size = u16(p + 6)
            fit &= p + 8 + size <= end[active]
            active, p, size = active[fit], p[fit], size[fit]
            tl[active] |= u16(p + 2) == TL_SCHEMA_ITEM
            pos[active] = p + 8 + size
            active = active[count[active] > k + 1]
        end = pos + np.clip(np.minimum(user_len, end - pos), 0, None)
        yield sel, _Records(u8, np.minimum(pos, end), end, ptr, ~ok | tl)


def _chunk(outs: list[_Out], proto: str, rows: np.ndarray, eids: np.ndarray, vers: np.ndarray, recs: _Records,
           native: bool) -> None:
    """Walk one chunk of records for every target."""
    u8, payload, end, ptr = recs.u8, recs.payload, recs.end, recs.ptr
    ok = ~recs.undecided
    for o in outs:
        o.state[rows[recs.undecided & np.isin(eids, o.ids)]] = DECODE
    walker = _Walker(u8, native=native)
    keys = (eids << 16) | (vers << 8) | ptr
    for key in np.unique(keys[ok]).tolist():
        e, v, p = key >> 16, (key >> 8) & 0xFF, key & 0xFF
        sel = np.flatnonzero(ok & (keys == key))
        memo: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, np.ndarray]]] = {}
        for o in outs:
            lay = o.plan(proto, e, v, p)
            if lay is None:
                continue
            if lay == "decode":
                o.state[rows[sel]] = DECODE
                continue
            pos, short, unsure, scope = walker.walk_memo(memo, lay.before, payload[sel], end[sel], p)
            o.state[rows[sel[unsure]]] = DECODE
            live = ~short & ~unsure
            dt = lay.value_dtype(p)
            if dt is None:
                s_at, s_len, s_short, s_unsure = walker.string(lay.target, pos, end[sel], scope)
                o.state[rows[sel[live & s_unsure]]] = DECODE
                got = live & ~s_short & ~s_unsure
                _add_text(o, u8, rows[sel[got]], s_at[got], s_len[got], lay.target.type == "UnicodeString")
            else:
                size = np.dtype(dt).itemsize
                got = live & (pos + size <= end[sel])
                vals = walker.read(pos[got], dt)
                if lay.target.type == "Boolean" or lay.target.out == "Boolean":
                    vals = (vals != 0).astype(np.uint8)
                if o.values is None:
                    o.values = np.zeros(len(o.state), dtype=o.dtype or np.uint8)
                o.values[rows[sel[got]]] = vals
                o.state[rows[sel[got]]] = PRESENT


def _add_text(o: _Out, u8: np.ndarray, rows: np.ndarray, at: np.ndarray, ln: np.ndarray, wide: bool) -> None:
    if o.codes is None:
        o.codes = np.full(len(o.state), CODE_ABSENT, dtype=np.int32)
    c, tab, too_long = encode_bytes(u8, at, ln, _wide_text if wide else _ansi_text)
    remap = np.array([_intern(o, s) for s in tab] + [0], dtype=np.int32)
    o.codes[rows] = np.where(too_long, CODE_DECODE, remap[np.where(too_long, len(tab), c)])


def _intern(o: _Out, s: str) -> int:
    code = o.texts.get(s)
    if code is None:
        code = o.texts[s] = len(o.table)
        o.table.append(s)
    return code


def _finish(o: _Out, n: int) -> FieldColumn:
    how = "ETW template walk over the event's records"
    name = o.t.fdef.name
    if o.dtype is None:  # text
        codes = o.codes if o.codes is not None else np.full(n, CODE_ABSENT, dtype=np.int32)
        codes[o.state == DECODE] = CODE_DECODE
        return FieldColumn(name, codes=codes, table=o.table, how=how)
    values = o.values if o.values is not None else np.zeros(n, dtype=o.dtype)
    return FieldColumn(name, values=values, state=o.state, how=how)


def _wide_text(raw: bytes) -> str:
    return raw.decode("utf-16-le", "replace").rstrip("\x00")


def _ansi_text(raw: bytes) -> str:
    try:
        s = raw.decode("utf-8")
    except UnicodeDecodeError:
        s = raw.decode("cp1252", "replace")
    return s.rstrip("\x00")


def _payload_start(u8: np.ndarray, start: np.ndarray, end: np.ndarray, ok: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where each record's payload starts (after its extended items, ``records.parse_extended``),
    and which records are TraceLogging events (their schema is in an item, not the manifest)."""
    last = len(u8) - 1
    flags = u8[np.minimum(start + 4, last)].astype(np.int64) | (u8[np.minimum(start + 5, last)].astype(np.int64) << 8)
    pos = start + 0x50
    tl = np.zeros(len(start), dtype=bool)
    active = np.flatnonzero(ok & ((flags & FLAG_EXTENDED_INFO) != 0))
    for _ in range(64):
        if not len(active):
            break
        p = pos[active]
        fits = p + 8 <= end[active]
        active, p = active[fits], p[fits]
        if not len(active):
            break

        def u16(at: np.ndarray) -> np.ndarray:
            return u8[np.minimum(at, last)].astype(np.int64) | (u8[np.minimum(at + 1, last)].astype(np.int64) << 8)

        item_size, ext_type, linkage, data_size = u16(p), u16(p + 2), u16(p + 4), u16(p + 6)
        tl[active] |= ext_type == TL_SCHEMA_ITEM
        step = np.where(item_size >= 8, item_size, 8 + ((data_size + 7) & ~7))
        pos[active] = np.minimum(p + step, end[active])
        active = active[(linkage & 1) != 0]
    return np.minimum(pos, end), tl


try:  # the terminator search in C (``_xpress.c``); the NumPy search below is the fallback and reference
    from ._xpress import terminated_lengths as _native_lengths
except ImportError:  # pragma: no cover - depends on the build
    _native_lengths = None


class _Walker:
    """Vectorised steps over fields in gathered record bytes."""

    def __init__(self, u8: np.ndarray, native: bool = True) -> None:
        self.u8 = u8
        self.native = native and _native_lengths is not None
        self._nul8: np.ndarray | None = None
        self._nul16: tuple[np.ndarray, np.ndarray] | None = None

    def nul8(self) -> np.ndarray:
        if self._nul8 is None:
            self._nul8 = np.flatnonzero(self.u8 == 0)
        return self._nul8

    def nul16(self) -> tuple[np.ndarray, np.ndarray]:
        """Positions of NUL pairs starting at even / odd offsets."""
        if self._nul16 is None:
            u8 = self.u8
            pairs = np.flatnonzero((u8[:-1] == 0) & (u8[1:] == 0)) if len(u8) > 1 else np.zeros(0, np.int64)
            self._nul16 = (pairs[(pairs & 1) == 0], pairs[(pairs & 1) == 1])
        return self._nul16

    def _next(self, arr: np.ndarray, pos: np.ndarray) -> np.ndarray:
        j = np.searchsorted(arr, pos)
        big = np.iinfo(np.int64).max // 2
        return np.where(j < len(arr), arr[np.minimum(j, max(len(arr) - 1, 0))] if len(arr) else big, big)

    def terminator(self, pos: np.ndarray, end: np.ndarray, wide: bool) -> np.ndarray:
        """Where the NUL (pair, at an even distance) after each ``pos`` starts, below ``end``
        (a UTF-16 NUL must fit: ``k + 2 <= end``); -1 where there is none."""
        pos = np.ascontiguousarray(pos, dtype=np.int64)
        end = np.ascontiguousarray(end, dtype=np.int64)
        if self.native:
            out = np.empty(len(pos), dtype=np.int64)
            _native_lengths(self.u8, pos, end, out, wide)  # type: ignore[misc]
            return np.where(out >= 0, pos + out, -1)
        if wide:
            even, odd = self.nul16()
            k = np.where((pos & 1) == 0, self._next(even, pos), self._next(odd, pos))
            return np.where(k + 2 <= end, k, -1)
        k = self._next(self.nul8(), pos)
        return np.where(k < end, k, -1)

    def string(self, spec: FieldSpec, pos: np.ndarray, end: np.ndarray, scope: dict[str, np.ndarray]) -> tuple[
            np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """A string at each ``pos``: (start, byte length, short, unsure).

        ``short``: the payload ends before the string (the decoder stops: absent).  ``unsure``: no
        terminator before the end (the decoder takes the rest; left to it).
        """
        wide = spec.type == "UnicodeString"
        if spec.length is not None:  # characters: fixed or from an earlier field
            chars = np.full(len(pos), spec.length, dtype=np.int64) if isinstance(spec.length, int) else \
                np.maximum(scope[spec.length], 0)
            nbytes = chars * (2 if wide else 1)
            short = nbytes > end - pos
            return pos, np.where(short, 0, nbytes), short, np.zeros(len(pos), dtype=bool)
        k = self.terminator(pos, end, wide)
        found = k >= 0
        short = ~found & ((end - pos < 2) if wide else (pos >= end))
        unsure = ~found & ~short
        return pos, np.where(found, k - pos, 0), short, unsure

    def walk_memo(self, memo: dict[int, Any], before: tuple[FieldSpec, ...], pos: np.ndarray, end: np.ndarray,
                  ptr: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        """``walk`` resumed from the longest prefix of ``before`` already walked (``memo``: the
        walks of one record group, keyed by how many fields they passed)."""
        k = len(before)
        if k not in memo:
            have = max((j for j in memo if j <= k), default=None)
            if have is None:
                state = (pos.copy(), np.zeros(len(pos), dtype=bool), np.zeros(len(pos), dtype=bool), {})
                have = 0
            else:
                p0, s0, u0, sc0 = memo[have]
                state = (p0.copy(), s0.copy(), u0.copy(), dict(sc0))
            memo[k] = self.walk(before[have:], end, ptr, *state)
        return memo[k]

    def walk(self, specs: tuple[FieldSpec, ...], end: np.ndarray, ptr: int, pos: np.ndarray, short: np.ndarray,
             unsure: np.ndarray, scope: dict[str, np.ndarray]) -> tuple[
            np.ndarray, np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        """Positions after ``specs`` from ``pos``; rows where the payload ends inside them (short),
        or a string has no terminator (unsure); the integers read (for later lengths)."""
        for s in specs:
            if s.type in _STRINGS:
                at, ln, sh, un = self.string(s, pos, end, scope)
                short |= sh
                unsure |= un
                nul = 0 if s.length is not None else (2 if s.type == "UnicodeString" else 1)
                pos = np.where(sh, pos, at + ln + nul)
            elif s.type == "Binary":
                size = np.full(len(pos), s.length, np.int64) if isinstance(s.length, int) else \
                    np.maximum(scope[s.length], 0)  # type: ignore[index]
                short |= pos + size > end
                pos = pos + size
            else:
                size = ptr if s.type == "Pointer" else SCALAR_SIZE[s.type]
                fits = pos + size <= end
                if s.type in _PLAIN_INTS:
                    vals = np.zeros(len(pos), dtype=np.int64)
                    raw = self.read(pos[fits], _INT_DTYPES[s.type])
                    if raw.dtype == np.uint64:  # beyond int64: a length no payload can hold
                        raw = np.minimum(raw, np.uint64(1 << 40))
                    vals[fits] = raw.astype(np.int64)
                    scope[s.name] = vals
                short |= ~fits
                pos = pos + size
        return pos, short, unsure & ~short, scope

    def read(self, pos: np.ndarray, dt: str) -> np.ndarray:
        """The values of type ``dt`` at byte positions ``pos`` (any alignment): one gather from
        each of ``size`` shifted views of the bytes, no index matrix."""
        t = np.dtype(dt)
        size = t.itemsize
        out = np.empty(len(pos), dtype=t.newbyteorder("="))
        if not len(pos):
            return out
        u8 = self.u8
        phase = pos % size
        for k in range(size):
            sel = np.flatnonzero(phase == k) if size > 1 else np.arange(len(pos))
            if not len(sel):
                continue
            view = u8[k : k + (len(u8) - k) // size * size].view(t)
            out[sel] = view[(pos[sel] - k) // size]
        return out


__all__ = ["build", "layout", "plan_etw"]
