"""A field shown as a list column, read from its field column (``fieldcols.py``) instead of
decoding every shown or sorted frame.

A field column holds one value per frame (or says "absent" or "decode this one"), so the cell
text — what ``ColumnFormatter.text`` gives the decoded frame — is made once per distinct value,
and sorting a million frames is an array sort: text columns sort their distinct values once and
then the per-frame codes.  Frames the column leaves to decoding are decoded, as before.

The text of a value is the registry's display text (``display_value``).  Before a column is
used its texts are compared with decoded frames on a sample of rows; where the decoder shows the
field another way (an NTSTATUS name, an address in hex) each distinct value's text is taken from
one decoded frame that holds it instead.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from .fieldcols import CODE_DECODE, DECODE, PRESENT, FieldColumn, columns_for
from .fields import FieldType
from .frame import display_value

if TYPE_CHECKING:
    from .fields import FieldDef
    from .trace import Trace

#: rows per distinct value (and in all) decoded to check a column's texts before using them
CHECK_ROWS = 24
_INTS = frozenset({FieldType.UINT, FieldType.INT})


def sort_key(text: str) -> tuple[int, float, str]:
    """How a cell sorts: numbers as numbers, everything else case-insensitively; empty cells last."""
    if not text:
        return (2, 0.0, "")
    head = text.split(" ", 1)[0].replace(",", "")
    try:
        return (0, float(head), text.lower())
    except ValueError:
        return (1, 0.0, text.lower())


class FieldTexts:
    """The cell texts of one field over the whole trace, from its field column.

    A value's text is the registry's ``display_value``; ``by_frame``: the decoder shows this
    field another way (an NTSTATUS name, hex), so the text of each distinct value is taken from
    one decoded frame that holds it (only the distinct values a list shows or a sort needs)."""

    def __init__(self, trace: Trace, fdef: FieldDef, col: FieldColumn,
                 decoded: Callable[[int], str], by_frame: bool = False) -> None:
        self.trace = trace
        self.fdef = fdef
        self.col = col
        self.decoded = decoded
        self.by_frame = by_frame
        #: integer columns whose text is the number itself (sorted by value, no text per value)
        self.plain = (not by_frame and not col.is_text and fdef.type in _INTS and fdef.enum is None
                      and col.values is not None and col.values.dtype.kind in "iu")
        self._memo: dict[Any, str] = {}
        self._lock = threading.Lock()

    def _value_text(self, v: Any, row: int) -> str:
        """The text of value ``v`` (a table code for text columns), held by frame ``row``."""
        t = self._memo.get(v)
        if t is None:
            if self.by_frame:
                t = self.decoded(row)
            else:
                t = display_value(self.fdef, self.col.table[v] if self.col.is_text else v)
            with self._lock:
                if len(self._memo) > 65536 and not self.col.is_text:
                    self._memo.clear()
                self._memo[v] = t
        return t

    def text(self, i: int) -> str | None:
        """The cell text of frame ``i``, or None when the frame must be decoded for it."""
        col = self.col
        if i >= len(col):
            return None
        if col.codes is not None:
            c = int(col.codes[i])
            return self._value_text(c, i) if c >= 0 else None if c == CODE_DECODE else ""
        s, v = col.cell(i)
        if s != PRESENT:
            return None if s == DECODE else ""
        return self._value_text(v, i)

    def ranks(self, rows: np.ndarray) -> np.ndarray | None:
        """An int64 rank per row of ``rows`` such that ordering by rank (stable) orders the rows as
        their texts' ``sort_key`` would.  None when the texts would cost a decode for most rows
        (``by_frame`` with nearly as many distinct values as rows: decoding is no slower)."""
        col = self.col
        rows = rows.astype(np.int64, copy=False)
        n_rows = len(rows)
        if col.codes is not None:
            codes = np.asarray(col.codes[rows])
            if self.by_frame:
                distinct, first = np.unique(codes, return_index=True)
                if len(distinct) > max(BY_FRAME_MIN, n_rows // 8):
                    return None
                for c, k in zip(distinct.tolist(), first.tolist(), strict=True):
                    if c >= 0:
                        self._value_text(c, int(rows[k]))
            slots = [sort_key(self._value_text(c, -1)) if (not self.by_frame or c in self._memo) else (2, 0.0, "")
                     for c in range(len(col.table))]  # the distinct values, once
            per = np.where(codes >= 0, codes, len(slots)).astype(np.int64)
            dec = np.flatnonzero(codes == CODE_DECODE)
            keys_cls = np.array([k[0] for k in slots] + [2], dtype=np.int8)
            keys_num = np.array([k[1] for k in slots] + [0.0], dtype=np.float64)
            keys_txt: list[str] = [k[2] for k in slots] + [""]
        else:
            state = col.states_of(rows)
            vals = np.asarray(col.values[rows])  # type: ignore[index]
            present = np.flatnonzero(state == PRESENT)
            uniq, first, inv = np.unique(vals[present], return_index=True, return_inverse=True)
            if self.by_frame and len(uniq) > max(BY_FRAME_MIN, n_rows // 8):
                return None
            per = np.full(n_rows, len(uniq), dtype=np.int64)  # absent: the empty cell
            per[present] = inv.reshape(-1)
            dec = np.flatnonzero(state == DECODE)
            if self.plain:
                keys_cls = np.zeros(len(uniq) + 1, dtype=np.int8)
                keys_num = np.append(uniq.astype(np.float64), 0.0)
                keys_cls[-1] = 2
                keys_txt = [""] * (len(uniq) + 1)  # filled below where a decoded row ties
            else:
                at = rows[present[first]].tolist()
                slots = [sort_key(self._value_text(v, r)) for v, r in zip(uniq.tolist(), at, strict=True)]
                keys_cls = np.array([k[0] for k in slots] + [2], dtype=np.int8)
                keys_num = np.array([k[1] for k in slots] + [0.0], dtype=np.float64)
                keys_txt = [k[2] for k in slots] + [""]
        base = len(keys_txt)
        extra = [sort_key(self.decoded(int(rows[k]))) for k in dec.tolist()]
        if extra:
            per[dec] = base + np.arange(len(extra))
            ex_num = np.array([k[1] for k in extra], dtype=np.float64)
            if col.codes is None and self.plain:
                # a plain number's text matters only where a decoded row has the same number
                for j in np.flatnonzero(np.isin(keys_num[:-1], ex_num)).tolist():
                    keys_txt[j] = str(uniq[j].item()).lower()
            keys_cls = np.append(keys_cls, np.array([k[0] for k in extra], dtype=np.int8))
            keys_num = np.append(keys_num, ex_num)
            keys_txt += [k[2] for k in extra]
        _, txt_rank = np.unique(np.array(keys_txt, dtype=object), return_inverse=True)
        txt_rank = txt_rank.reshape(-1)
        order = np.lexsort((txt_rank, keys_num, keys_cls))
        # equal keys share a rank, so a stable sort keeps their frame order
        c, f, t = keys_cls[order], keys_num[order], txt_rank[order]
        new = np.ones(len(order), dtype=bool)
        new[1:] = (c[1:] != c[:-1]) | (f[1:] != f[:-1]) | (t[1:] != t[:-1])
        rank = np.empty(len(order), dtype=np.int64)
        rank[order] = np.cumsum(new) - 1
        return rank[per]


#: distinct values always worth one decode each (a sort by frame-taken texts)
BY_FRAME_MIN = 4096


def field_texts(trace: Trace, name: str, *, build: bool = True,
                decoded: Callable[[int], str] | None = None) -> FieldTexts | None:
    """The texts of field ``name`` from its field column, or None: not a field, no builder knows it
    or not built yet (``build=False``).  ``decoded`` (by default ``decoder``) is the reference
    the column's texts are checked against on a sample; where they differ, texts come from it."""
    fdef = trace.registry.get(name)
    if fdef is None or fdef.type is FieldType.PROTOCOL:
        return None
    try:
        cols = columns_for(trace)
    except TypeError:
        return None
    if not build and not cols.built(fdef):
        return None
    col = cols.get(fdef)
    if col is None:
        return None
    with _LOCK:
        known = _checked.setdefault(trace, {}).get(fdef.name)
    if known is not None and known[0] is col:
        return known[1]
    decode = decoded or decoder(trace, fdef.name)
    texts = FieldTexts(trace, fdef, col, decode)
    if not _agrees(texts, decode):
        texts = FieldTexts(trace, fdef, col, decode, by_frame=True)
    with _LOCK:
        _checked[trace][fdef.name] = (col, texts)
    return texts


def decoder(trace: Trace, name: str) -> Callable[[int], str]:
    """The text of field ``name`` in a decoded frame, as every list shows it."""
    from .columns import ColumnFormatter, resolve

    fmt, column = ColumnFormatter(trace), resolve(name, trace)
    return lambda i: fmt.text(column, i)


#: per trace, field name → (the column checked, its texts or None when they disagreed)
_checked: weakref.WeakKeyDictionary[Any, dict[str, tuple[FieldColumn, FieldTexts]]] = \
    weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def _agrees(texts: FieldTexts, decoded: Callable[[int], str]) -> bool:
    """Whether the column's texts equal the decoded frames' on up to CHECK_ROWS rows that hold a
    value (one per distinct value first), so a display the registry does not know is never shown."""
    col = texts.col
    n = len(col)
    if col.codes is not None:
        _, first = np.unique(np.asarray(col.codes), return_index=True)
        sample = [int(i) for i in first.tolist() if int(col.codes[i]) >= 0]
    else:
        present = np.flatnonzero(col.states() == PRESENT)
        _, first = np.unique(np.asarray(col.values)[present], return_index=True)  # type: ignore[index]
        sample = present[first].tolist()
    if len(sample) > CHECK_ROWS:
        sample = [sample[k] for k in np.linspace(0, len(sample) - 1, CHECK_ROWS).astype(int).tolist()]
    for i in sample[:CHECK_ROWS]:
        if i >= n:
            continue
        try:
            want = decoded(i)
        except Exception:  # noqa: BLE001, S112 - a frame that does not decode proves nothing
            continue
        if texts.text(i) != want:
            return False
    return True
