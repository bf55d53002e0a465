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
captured bytes.  Every other frame carrying the layer is left to decoding (state DECODE):
the column is never wrong, only sometimes incomplete.  ``tests/test_fixedcols.py`` holds every
column against the dissector's values on every sample and on crafted frames.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import layeroffs
from .fieldcols import ABSENT, DECODE, PRESENT, FieldColumn, register
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
    if reader is None or getattr(trace, "buf", None) is None or reader.packet_offsets(np.zeros(0, np.int64)) is None:
        return None
    key = f"fixed|{VERSION}|{spec.layer}|{spec.level}|{spec.offset}|{spec.size}|{spec.bits}|{spec.scale}"
    return key, lambda: build(trace, fdef, spec)


def build(trace: Any, fdef: FieldDef, spec: Fixed) -> FieldColumn:
    idx = trace.index
    n = len(idx)
    protos = idx.column("protos")
    state = np.full(n, ABSENT, dtype=np.uint8)
    values = np.zeros(n, dtype=spec.dtype)
    rows = np.flatnonzero((protos & np.uint64(MASK[spec.layer])) != 0)
    how = f"gather at {spec.describe()}"
    if not len(rows):
        return FieldColumn(fdef.name, values=values, state=state, how=how)
    state[rows] = DECODE
    table = layeroffs.table_array(trace)
    code = idx.column("layout")[rows].astype(np.intp)
    code[code >= len(table)] = 0
    start = table[code, spec.level] + spec.offset
    ok = (code != 0) & (table[code, spec.level] != layeroffs.NONE)
    ok &= (idx.column("kind")[rows] & KIND_EVENT) == 0  # ETW packet events: bytes inside records
    ok &= start + spec.size <= idx.column("length")[rows]
    ok &= ~layeroffs.multi_instance(protos[rows])
    sel = rows[ok]
    if not len(sel):
        return FieldColumn(fdef.name, values=values, state=state, how=how)
    u8 = np.frombuffer(trace.buf, dtype=np.uint8)
    at = np.asarray(trace.reader.packet_offsets(sel), dtype=np.int64) + start[ok]
    inside = (at >= 0) & (at + spec.size <= len(u8))
    sel, at = sel[inside], at[inside]
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
    return FieldColumn(fdef.name, values=values, state=state, how=how)
