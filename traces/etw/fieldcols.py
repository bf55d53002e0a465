"""Field columns of ETW event fields (``traces/fieldcols.py``), without per-record Python.

Per (event id, version, pointer size) the schema fixes the layout of a template up to its
first variable-length field, so a field before it is one gather over all records of the event.
NUL-terminated strings (the VmSwitch NIC and switch names are UTF-16 strings one after the
other) are walked for all records at once: the positions of every NUL (pair) in the gathered
record bytes are found once, and each string's end is a ``searchsorted`` from its start.

What this does not follow (counted arrays, structs, SIDs, lengths from other fields,
TraceLogging events, records with a template other than the one the field belongs to) leaves the
frame in the DECODE state, so filters decode it exactly as before; the decoder
(``decode.decode_event`` through ``payload.Template``) is the definition the columns are tested
against.  Record bytes come from ``bulk.record_bytes`` (compressed buffers are inflated in two
worker processes).
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..fieldcols import CODE_ABSENT, CODE_DECODE, DECODE, PRESENT, FieldColumn, encode_bytes, register
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


@register
def plan_etw(trace: Any, fdef: FieldDef) -> tuple[str, Any] | None:
    """A plan for an ETW event field of an ETL trace whose schema lets the walk reach it."""
    if getattr(trace, "format", "") != "etl" or fdef.type is FieldType.PROTOCOL:
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
    return key, lambda: build(target)


def _same(a: str, b: uuid.UUID) -> bool:
    try:
        return uuid.UUID(a.strip("{}")) == b
    except ValueError:
        return False


def build(t: _Target) -> FieldColumn:
    from .bulk import record_bytes

    trace, fdef = t.trace, t.fdef
    idx = trace.index
    n = len(idx)
    prov = idx.column("provider")
    eid = idx.column("event_id")
    mask = np.isin(prov, t.codes) & np.isin(eid, t.event_ids)
    rows = np.flatnonzero(mask)
    state = np.zeros(n, dtype=np.uint8)  # ABSENT
    leaf = fdef.name.rsplit(".", 1)[1]
    proto = schema_protocol(t.schema)
    parent = fdef.name.rsplit(".", 1)[0].lower()
    # the header facts of each row from the descriptor table (family, version)
    table = np.array(trace.descriptors or [(0, 0, 0, 0, 0)], dtype=np.uint64)
    desc = idx.column("desc")[rows].astype(np.int64)
    desc = np.where(desc < len(table), desc, 0)
    family = table[desc, 0].astype(np.int64)
    version = table[desc, 1].astype(np.int64)
    state[rows[(desc == 0) | (family != FAMILY_EVENT)]] = DECODE
    rows_ev = rows[(desc != 0) & (family == FAMILY_EVENT)]
    ver_ev = version[(desc != 0) & (family == FAMILY_EVENT)]
    blob, start, length, bad = record_bytes(trace.reader, rows_ev)
    state[rows_ev[bad]] = DECODE
    u8 = blob
    end = start + length
    htype = u8[np.minimum(start + 2, len(u8) - 1)].astype(np.int64)
    ptr = np.where(htype == EVENT_HEADER32, 4, 8)
    ok = ~bad & ((htype == EVENT_HEADER32) | (htype == EVENT_HEADER64)) & (length >= 0x50)
    state[rows_ev[~ok & ~bad]] = DECODE
    payload, tl = _payload_start(u8, start, end, ok)
    state[rows_ev[ok & tl]] = DECODE
    ok &= ~tl
    walker = _Walker(u8)
    text_parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, bool]] = []  # (rows, start, length, wide)
    num_parts: list[tuple[np.ndarray, np.ndarray]] = []
    eids = eid[rows_ev].astype(np.int64)
    groups = np.unique(np.stack([eids, ver_ev, ptr]), axis=1) if len(rows_ev) else np.zeros((3, 0), np.int64)
    for e, v, p in groups.T.tolist():
        sel = np.flatnonzero(ok & (eids == e) & (ver_ev == v) & (ptr == p))
        if not len(sel):
            continue
        ev = t.schema.event(e, v)
        if ev is None or f"{proto}.{event_node(ev)}".lower() != parent:
            continue  # decodes as another event node: the field is absent there
        spec_type = None
        lay = layout(ev, leaf)
        if lay is None:
            if any(ident(s.name).lower() == leaf.lower() for s in ev.fields):
                state[rows_ev[sel]] = DECODE  # the field is there but the walk cannot reach it
            continue
        spec_type = field_type(lay.target)
        reg_def = trace.registry.get(fdef.name)
        if reg_def is None or reg_def.type is not spec_type:
            continue  # the decoder keeps such values away from filters
        pos, short, unsure = walker.walk(lay.before, payload[sel], end[sel], p)
        state[rows_ev[sel[unsure]]] = DECODE
        live = ~short & ~unsure
        dt = lay.value_dtype(p)
        if dt is None:
            s_at, s_len, s_short, s_unsure = walker.string(lay.target, pos, end[sel], walker.scope)
            state[rows_ev[sel[live & s_unsure]]] = DECODE
            got = live & ~s_short & ~s_unsure
            text_parts.append((rows_ev[sel[got]], s_at[got], s_len[got], lay.target.type == "UnicodeString"))
        else:
            size = np.dtype(dt).itemsize
            got = live & (pos + size <= end[sel])
            vals = walker.read(pos[got], dt)
            if lay.target.type == "Boolean" or lay.target.out == "Boolean":
                vals = (vals != 0).astype(np.uint8)
            num_parts.append((rows_ev[sel[got]], vals))
    how = "ETW template walk over the event's records"
    if text_parts:
        codes = np.full(n, CODE_ABSENT, dtype=np.int32)
        codes[state == DECODE] = CODE_DECODE
        table_out: list[str] = []
        for prow, pst, pln, wide in text_parts:
            c, tab, too_long = encode_bytes(u8, pst, pln, _wide_text if wide else _ansi_text)
            remap = np.array([_intern(table_out, s) for s in tab] + [0], dtype=np.int32)
            codes[prow] = np.where(too_long, CODE_DECODE, remap[np.where(too_long, len(tab), c)])
        return FieldColumn(fdef.name, codes=codes, table=table_out, how=how)
    dtype = np.result_type(*[v.dtype for _, v in num_parts]) if num_parts else np.dtype(np.uint8)
    values = np.zeros(n, dtype=dtype)
    for prow, vals in num_parts:
        values[prow] = vals
        state[prow] = PRESENT
    return FieldColumn(fdef.name, values=values, state=state, how=how)


def _intern(table: list[str], s: str) -> int:
    try:
        return table.index(s)
    except ValueError:
        table.append(s)
        return len(table) - 1


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


class _Walker:
    """Vectorised steps over fields in gathered record bytes."""

    def __init__(self, u8: np.ndarray) -> None:
        self.u8 = u8
        self._nul8: np.ndarray | None = None
        self._nul16: tuple[np.ndarray, np.ndarray] | None = None
        #: integer values read by the last ``walk`` (for a target whose length refers to one)
        self.scope: dict[str, np.ndarray] = {}

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
        if wide:
            even, odd = self.nul16()
            k = np.where((pos & 1) == 0, self._next(even, pos), self._next(odd, pos))
            found = k + 2 <= end
            short = ~found & (end - pos < 2)
        else:
            k = self._next(self.nul8(), pos)
            found = k < end
            short = pos >= end
        unsure = ~found & ~short
        return pos, np.where(found, k - pos, 0), short, unsure

    def walk(self, before: tuple[FieldSpec, ...], pos: np.ndarray, end: np.ndarray, ptr: int) -> tuple[
            np.ndarray, np.ndarray, np.ndarray]:
        """Positions after ``before``; rows where the payload ends inside them (short), or a
        string has no terminator (unsure)."""
        pos = pos.copy()
        short = np.zeros(len(pos), dtype=bool)
        unsure = np.zeros(len(pos), dtype=bool)
        scope: dict[str, np.ndarray] = {}
        for s in before:
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
        self.scope = scope
        return pos, short, unsure & ~short

    def read(self, pos: np.ndarray, dt: str) -> np.ndarray:
        size = np.dtype(dt).itemsize
        if not len(pos):
            return np.zeros(0, dtype=np.dtype(dt).newbyteorder("="))
        mat = self.u8[pos[:, None] + np.arange(size)[None, :]]
        return np.ascontiguousarray(mat).view(dt).reshape(-1).astype(np.dtype(dt).newbyteorder("="))


__all__ = ["build", "layout", "plan_etw"]
