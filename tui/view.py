"""Which frames the list shows, in which order: display filter × conversation scope × sort.

The displayed set is an array of frame indices (``uint32`` for up to 4 G frames), or ``None``
for "every frame in file order" so that an unfiltered 10 M-frame trace costs no memory here and
grows as the scan appends frames.  Everything is NumPy over index columns; decoding happens
only for sorting by a decoded column (in a worker, with progress).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from tracemon.traces.coltext import sort_key

from . import columns as _columns

if TYPE_CHECKING:
    from tracemon.traces.coltext import FieldTexts
    from tracemon.traces.fieldcols import BuildProgress
    from tracemon.traces.trace import Trace

Progress = Callable[[int, int], None]


def building_note(name: str, fraction: float | None) -> str:
    """The status text while a field column is built the first time."""
    return f"building column {name}…" + (f" {fraction:.0%}" if fraction is not None else "")


@dataclass(frozen=True, slots=True)
class Sort:
    key: str  # a Column.key
    descending: bool = False


class FrameView:
    """The rows of the frame list (positions → frame indices) and the per-view state a session
    keeps (``tui/session.py``): filter, preset, columns, time mode, sort, marks and reference.
    The trace screen only wires widgets to it."""

    def __init__(self, trace: Trace) -> None:
        self.trace = trace
        self.rows: np.ndarray | None = None
        self.sort: Sort | None = None
        self.marks: set[int] = set()
        self.reference: int | None = None
        self.filter_text = ""
        self.preset = ""
        #: the column keys shown, in order
        self.columns: list[str] = []
        self.time_mode = "utc"
        #: field columns shown from their field columns (``traces/coltext.py``), by column key
        self.texts: dict[str, FieldTexts] = {}
        #: bumped on every change; caches of rendered rows key on it
        self.generation = 0
        self._first: tuple[int, int] = (-1, 0)

    # -- size and lookup --------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.trace) if self.rows is None else len(self.rows)

    @property
    def identity(self) -> bool:
        return self.rows is None

    @property
    def in_frame_order(self) -> bool:
        return self.sort is None or (self.sort.key == "number" and not self.sort.descending)

    def frame_at(self, pos: int) -> int:
        return pos if self.rows is None else int(self.rows[pos])

    def position_of(self, frame: int) -> int | None:
        """Position of frame index ``frame`` in the list, or None when it is not displayed."""
        n = len(self)
        if self.rows is None:
            return frame if 0 <= frame < n else None
        if self.in_frame_order:
            pos = int(np.searchsorted(self.rows, frame))
            return pos if pos < n and int(self.rows[pos]) == frame else None
        hits = np.flatnonzero(self.rows == frame)
        return int(hits[0]) if len(hits) else None

    def position_near(self, frame: int) -> int:
        """The displayed position of ``frame`` or of the first displayed frame after it."""
        n = len(self)
        if n == 0:
            return 0
        exact = self.position_of(frame)
        if exact is not None:
            return exact
        if self.rows is None:
            return min(max(frame, 0), n - 1)
        if self.in_frame_order:
            return min(int(np.searchsorted(self.rows, frame)), n - 1)
        after = np.flatnonzero(self.rows >= frame)
        return int(after[np.argmin(self.rows[after])]) if len(after) else n - 1

    def previous_frame(self, pos: int) -> int | None:
        return self.frame_at(pos - 1) if pos > 0 else None

    @property
    def first_ns(self) -> int:
        """The trace's first timestamp, recomputed only when more frames were indexed."""
        n = len(self.trace)
        if self._first[0] != n:
            self._first = (n, _columns.first_time(self.trace))
        return self._first[1]

    def row_context(self, pos: int, time_mode: str) -> _columns.RowContext:
        ctx = _columns.context(self.trace, time_mode, self.reference, self.previous_frame(pos), self.first_ns)
        ctx.texts = self.texts
        return ctx

    def displayed(self) -> np.ndarray:
        """The displayed frame indices as an array (materialised for identity views)."""
        if self.rows is None:
            return np.arange(len(self.trace), dtype=np.uint32)
        return self.rows

    def set_rows(self, rows: np.ndarray | None, sort: Sort | None) -> None:
        self.rows = rows
        self.sort = sort
        self.generation += 1

    def touch(self) -> None:
        self.generation += 1

    def renumber(self, since: int) -> None:
        """The trace's rows were reordered (ETL's final time sort) after generation ``since`` of
        the index order: frames kept by row number (marks, the reference) follow their records.
        The rows themselves are rebuilt by the screen."""
        index = self.trace.index
        if self.marks:
            self.marks = set(index.remap(np.fromiter(self.marks, dtype=np.int64), since).tolist())
        if self.reference is not None:
            self.reference = int(index.remap(np.array([self.reference]), since)[0])
        self.generation += 1

    # -- marks ------------------------------------------------------------------------------
    def toggle_mark(self, frame: int) -> bool:
        if frame in self.marks:
            self.marks.discard(frame)
            marked = False
        else:
            self.marks.add(frame)
            marked = True
        self.generation += 1
        return marked

    def next_mark(self, pos: int, step: int) -> int | None:
        """Position of the next (step=1) or previous (step=-1) displayed mark from ``pos``."""
        positions = sorted(p for p in (self.position_of(m) for m in self.marks) if p is not None)
        if step > 0:
            after = [p for p in positions if p > pos]
            return after[0] if after else None
        before = [p for p in positions if p < pos]
        return before[-1] if before else None


# -- computing the displayed rows (run in workers) ------------------------------------------

def combine(n: int, filter_mask: np.ndarray | None, scope_mask: np.ndarray | None) -> np.ndarray | None:
    """Frame indices passing both masks (``None`` = all ``n`` frames, no copy)."""
    if filter_mask is None and scope_mask is None:
        return None
    if filter_mask is None:
        mask = scope_mask[:n]
    elif scope_mask is None:
        mask = filter_mask[:n]
    else:
        m = min(n, len(filter_mask), len(scope_mask))
        mask = filter_mask[:m] & scope_mask[:m]
    return np.flatnonzero(mask).astype(np.uint32)



def sort_rows(trace: Trace, rows: np.ndarray | None, sort: Sort | None, *,
              cancel: threading.Event | None = None, progress: Progress | None = None,
              building: BuildProgress | None = None) -> np.ndarray | None:
    """Order ``rows`` (``None`` = all frames) by a column; stable, so ties keep frame order.

    Index columns sort with one NumPy argsort; a field with a field column sorts its ranks
    (``traces/coltext.py``: built first if need be, reported to ``building``); other columns
    decode each displayed frame (reporting progress).  Returns ``None`` via ``cancel`` being
    set — callers check it.
    """
    if sort is None or (sort.key == "number" and not sort.descending):
        return rows
    base = rows if rows is not None else np.arange(len(trace), dtype=np.uint32)
    idx = trace.index
    sign = -1 if sort.descending else 1
    if sort.key == "number":
        return base[::-1].astype(np.uint32)
    if sort.key in ("time", "offset"):
        key = idx.ts[base].astype(np.int64)
    elif sort.key == "delta":
        ts = idx.ts[base].astype(np.int64)
        key = np.diff(ts, prepend=ts[:1])
    elif sort.key == "process":
        key = idx.pid[base].astype(np.int64)
    elif sort.key == "protocol":
        names = trace.protocol_names
        rank = np.empty(len(names), dtype=np.int64)
        rank[np.argsort(np.array([n.lower() for n in names], dtype=object), kind="stable")] = np.arange(len(names))
        key = rank[idx.top[base]]
    else:
        col = _columns.column(sort.key, trace)
        ranks = _field_ranks(trace, col, base, cancel, building)
        if cancel is not None and cancel.is_set():
            return None
        if ranks is None:
            return _sort_decoded(trace, col, base, sort, cancel, progress)
        key = ranks
    order = np.argsort(key * sign, kind="stable")
    return base[order].astype(np.uint32)


def _field_ranks(trace: Trace, col: _columns.Column, base: np.ndarray, cancel: threading.Event | None,
                 building: BuildProgress | None) -> np.ndarray | None:
    """Sort ranks of a field column's rows from its field column, or None (none can be built)."""
    if col.field is None:
        return None
    from tracemon.traces import fieldcols
    from tracemon.traces.coltext import field_texts

    ctx = _columns.context(trace, "utc", None, None)
    with fieldcols.watching(building, cancel):
        texts = field_texts(trace, col.key, decoded=lambda i: _cell_text(trace, col, i, ctx))
    if texts is None or (cancel is not None and cancel.is_set()):
        return None
    return texts.ranks(base)


def _cell_text(trace: Trace, col: _columns.Column, i: int, ctx: _columns.RowContext) -> str:
    frame, _ = _columns.decode(trace, i)
    return _columns.cell(col, trace, i, frame, ctx)


def _sort_decoded(trace: Trace, col: _columns.Column, base: np.ndarray, sort: Sort,
                  cancel: threading.Event | None, progress: Progress | None) -> np.ndarray | None:
    keys = []
    total = len(base)
    ctx = _columns.context(trace, "utc", None, None)
    for k, i in enumerate(base):
        if k % 4096 == 0:
            if cancel is not None and cancel.is_set():
                return None
            if progress is not None:
                progress(k, total)
        keys.append(_sort_key(_cell_text(trace, col, int(i), ctx)))
    if progress is not None:
        progress(total, total)
    order = sorted(range(total), key=keys.__getitem__, reverse=sort.descending)
    return base[np.array(order, dtype=np.int64)].astype(np.uint32)


_sort_key = sort_key  # the list's cell order (``traces/coltext.py``)


def find_in(cf: Any, trace: Trace, rows: np.ndarray | None, ordered: bool, lo: int, hi: int, *,
            first: bool) -> int | None:
    """Position in ``[lo, hi)`` of the first (or last) displayed frame matching filter ``cf``.

    In frame order the positions map to one frame range, evaluated in one go (index columns,
    vectorised); a list sorted by another column asks frame by frame."""
    from . import filter_api

    if hi <= lo:
        return None
    if rows is None:
        hits = np.flatnonzero(filter_api.evaluate_range(cf, trace, lo, hi)) + lo
    elif ordered:
        frames = rows[lo:hi].astype(np.int64)
        start, stop = int(frames[0]), int(frames[-1]) + 1
        mask = filter_api.evaluate_range(cf, trace, start, stop)
        hits = np.flatnonzero(mask[frames - start]) + lo
    else:
        hits = np.array([lo + k for k, i in enumerate(rows[lo:hi]) if cf.matches(trace, int(i))], dtype=np.int64)
    if not len(hits):
        return None
    return int(hits[0] if first else hits[-1])
