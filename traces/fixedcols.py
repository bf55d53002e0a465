"""Field columns of fields at a fixed position inside their layer: one gather per field.

The index keeps where L3 and L4 start in every common frame (``layeroffs.py``), so a field such
as ``IPv4.TimeToLive`` (byte 8 of the IPv4 header) or ``TCP.Window`` (bytes 14–15 of the TCP
header) is read for all frames carrying its layer at once: the layer offset from the frame's
layout code, plus the field's position, plus where the frame's bytes lie in the file, then one
gather of one to six bytes, a shift and a mask.

``fixedfields.FIXED`` lists every registry field at such a position, with the byte range and
bits its dissector gives the field.  A frame is read only when the index vouches for its shape:
the vectorised classifier walked its headers, or the general path found every fixed field of
the layer where and as the table says (a layout code); no protocol in its mask can bring a
second instance of the layer (tunnels, ICMP errors, IP in IP); and the field lies inside the
captured bytes.  Packets stored in the file as such (pcap, pcapng, Netmon) are read from the
mapped file; ETW packet events from their records, read in bulk (``etw/bulk.py``; the layer
offsets of those rows count from the record's start).  Every other frame carrying the layer is left to decoding (state DECODE):
the column is never wrong, only sometimes incomplete.  ``tests/test_fixedcols.py`` holds every
column against the dissector's values on every sample and on crafted frames.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import layeroffs
from .fieldcols import ABSENT, DECODE, PRESENT, FieldColumn, checkpoint, register
from .fields import FieldDef
from .fixedfields import VERSION, Fixed, fixed
from .index import KIND_EVENT
from .protocols import MASK


@register
def plan_fixed(trace: Any, fdef: FieldDef) -> tuple[str, Any] | None:
    spec = fixed(fdef.name)
    if spec is None or spec.layer not in MASK:
        return None
    reader = getattr(trace, "reader", None)
    if reader is None or getattr(trace, "buf", None) is None:
        return None
    if reader.packet_offsets(np.zeros(0, np.int64)) is None and getattr(reader, "buffers", None) is None:
        return None  # neither packets in the file nor ETW records to read them from
    key = f"fixed|{VERSION}|{spec.layer}|{spec.level}|{spec.offset}|{spec.size}|{spec.bits}|{spec.scale}"
    return key, lambda: build(trace, fdef, spec)


#: index rows per step of a build (bounds the temporaries to a few MB whatever the trace's size)
STEP = 1 << 18


def build(trace: Any, fdef: FieldDef, spec: Fixed) -> FieldColumn:
    n = len(trace.index)
    state = np.full(n, ABSENT, dtype=np.uint8)
    values = np.zeros(n, dtype=spec.dtype)
    table = layeroffs.table_array(trace)
    u8 = np.frombuffer(trace.buf, dtype=np.uint8)
    for a in range(0, n, STEP):
        checkpoint(a, n)
        _fill(trace, spec, table, u8, a, min(n, a + STEP), values, state)
    return FieldColumn(fdef.name, values=values, state=state, how=f"gather at {spec.describe()}")


def _fill(trace: Any, spec: Fixed, table: np.ndarray, u8: np.ndarray, a: int, b: int, values: np.ndarray,
          state: np.ndarray) -> None:
    """Rows ``a:b`` of the column: ABSENT without the layer, PRESENT where the gather is sure,
    DECODE for the rest of the frames carrying the layer."""
    idx = trace.index
    protos = idx.column("protos")[a:b]
    rows = np.flatnonzero((protos & np.uint64(MASK[spec.layer])) != 0)
    if not len(rows):
        return
    state[a + rows] = DECODE
    code = idx.column("layout")[a:b][rows].astype(np.intp)
    code[code >= len(table)] = 0
    base = table[code, spec.level]
    start = base + spec.offset
    ok = (code != 0) & (base != layeroffs.NONE)
    ok &= start + spec.size <= idx.column("length")[a:b][rows]
    ok &= ~layeroffs.multi_instance(protos[rows])
    event = (idx.column("kind")[a:b][rows] & KIND_EVENT) != 0  # ETW packet events: in their records
    for in_record in (False, True):
        take = ok & (event == in_record)
        if take.any():
            sel, at = a + rows[take], start[take]
            if in_record:
                _records(trace, spec, sel, at, values, state)
                continue
            src = _file(trace, u8, sel, at, spec.size)
            if src is not None:
                _put(spec, src[0], src[1], src[2], values, state)


def _file(trace: Any, u8: np.ndarray, sel: np.ndarray, at: np.ndarray,
          size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(bytes, rows, positions) for packets stored in the file as such."""
    offs = trace.reader.packet_offsets(sel)
    if offs is None:
        return None
    at = np.asarray(offs, dtype=np.int64) + at
    inside = (at >= 0) & (at + size <= len(u8))
    return u8, sel[inside], at[inside]


def _records(trace: Any, spec: Fixed, sel: np.ndarray, at: np.ndarray, values: np.ndarray,
             state: np.ndarray) -> None:
    """ETW packet events: their records read in bulk, chunk by chunk (``etw/bulk.py``: compressed
    buffers inflated once each); a record that cannot be read stays DECODE."""
    if getattr(trace.reader, "buffers", None) is None:
        return
    from .etw.bulk import record_chunks

    for chunk in record_chunks(trace.reader, sel):
        k = chunk.sel
        inside = ~chunk.bad & (at[k] + spec.size <= chunk.length)
        _put(spec, chunk.blob, sel[k][inside], chunk.start[inside] + at[k][inside], values, state)


def _put(spec: Fixed, u8: np.ndarray, sel: np.ndarray, at: np.ndarray, values: np.ndarray,
         state: np.ndarray) -> None:
    """The field read big-endian at ``u8[at]`` for rows ``sel``: bits, scale, PRESENT."""
    raw = u8[at].astype(np.uint64)
    for k in range(1, spec.size):
        raw = (raw << np.uint64(8)) | u8[at + k]
    if spec.bits is not None:
        first, count = spec.bits
        raw = (raw >> np.uint64(8 * spec.size - first - count)) & np.uint64((1 << count) - 1)
    if spec.scale != 1:
        raw *= np.uint64(spec.scale)
    values[sel] = raw
    state[sel] = PRESENT
