"""Field columns: a registry field extracted once for every frame and kept like an index column.

The index holds what the first pass can afford for every frame; a filter naming any other field
would decode frame by frame.  Here a field is extracted on first use by a builder that knows its
layout (ETW templates: ``etw/fieldcols.py``; DNS names: ``dnscols.py``) with array operations,
and kept:

* numbers as an array of the field's width plus a state byte per frame;
* text dictionary-encoded: an int32 code per frame into a table of distinct values, so a test
  runs once per distinct value and maps back with one array operation.

Every frame is in one of three states: the field is absent, present with exactly the kept value,
or *decode* — the builder could not be sure (a second instance, a layout it does not follow, a
damaged record), so a filter decodes that frame as before.  A column is therefore never wrong,
only sometimes incomplete; ``tests/test_fieldcols.py`` holds every column against the dissector.

Columns are built only for a finished scan, kept per trace, and written beside the index cache
entry (``cache.field_column_dir``) so a reopened trace memory-maps them.  ``filters/`` only asks
(``columns_for(trace).get(fdef)``); it never builds anything itself.

A first build can take seconds on a big trace, so whoever waits for it may watch it
(``with watching(progress, cancel): ...`` around the call, in the waiting thread): it hears when
a build starts and how far it got, and can give up.  Builders say how far they got by calling
``checkpoint(done, total)`` between steps; that is optional (a builder that never calls it is
only reported as started and finished, and runs to its end).
"""

from __future__ import annotations

import hashlib
import json
import threading
import weakref
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .fields import FieldDef

ABSENT, PRESENT, DECODE = 0, 1, 2
#: text codes below 0: the field is absent / the frame must be decoded
CODE_ABSENT, CODE_DECODE = -1, -2


@dataclass(slots=True)
class FieldColumn:
    """One field over rows ``0:len(self)`` of the index.

    Numbers: ``values`` (the field's own width) and ``state`` (ABSENT / PRESENT / DECODE).
    Text: ``codes`` (int32, ``CODE_ABSENT`` / ``CODE_DECODE`` below 0) into ``table``.
    """

    name: str
    values: np.ndarray | None = None
    state: np.ndarray | None = None
    codes: np.ndarray | None = None
    table: list[str] = field(default_factory=list)
    #: what built it, for ``tracemon check`` and the benchmarks
    how: str = ""

    @property
    def is_text(self) -> bool:
        return self.codes is not None

    def __len__(self) -> int:
        arr = self.codes if self.codes is not None else self.state
        return 0 if arr is None else len(arr)

    @property
    def nbytes(self) -> int:
        arrays = (self.values, self.state, self.codes)
        return sum(a.nbytes for a in arrays if a is not None) + sum(len(t) for t in self.table)

    def present(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        """(present, known) for rows ``start:stop``; rows past the column are unknown."""
        n = stop - start
        have = max(0, min(stop, len(self)) - start)
        present = np.zeros(n, dtype=bool)
        known = np.zeros(n, dtype=bool)
        if have:
            if self.codes is not None:
                c = self.codes[start : start + have]
                present[:have] = c >= 0
                known[:have] = c != CODE_DECODE
            else:
                s = self.state[start : start + have]  # type: ignore[index]
                present[:have] = s == PRESENT
                known[:have] = s != DECODE
        return present, known

    def match(self, start: int, stop: int, py: Callable[[Any], bool],
              vec: Callable[[np.ndarray], np.ndarray | None] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(matches, known) of a test on rows ``start:stop``: text tests run once per distinct
        value (``py``); numeric ones over the array (``vec``), else once per distinct number."""
        present, known = self.present(start, stop)
        have = max(0, min(stop, len(self)) - start)
        out = np.zeros(stop - start, dtype=bool)
        if not have:
            return out, known
        if self.codes is not None:
            ok = np.array([bool(py(v)) for v in self.table] + [False], dtype=bool)  # code -1/-2 → last
            c = self.codes[start : start + have]
            out[:have] = ok[np.where(c >= 0, c, len(self.table))]
            return out, known
        vals = self.values[start : start + have]  # type: ignore[index]
        r = vec(vals) if vec is not None else None
        if r is None:
            uniq, inv = np.unique(vals, return_inverse=True)
            ok = np.array([bool(py(v)) for v in uniq.tolist()], dtype=bool)
            r = ok[inv.reshape(-1)]
        out[:have] = r
        return out & present, known


# -- watching a build ----------------------------------------------------------------------------

#: told (field name, fraction done or None when not known yet) while a column is built
BuildProgress = Callable[[str, "float | None"], None]


class BuildCancelled(Exception):
    """Raised by ``checkpoint`` inside a builder when the thread waiting for it gave up."""


@dataclass(slots=True)
class _Watch:
    progress: BuildProgress | None
    cancel: threading.Event | None
    name: str = ""


_WATCH = threading.local()


@contextmanager
def watching(progress: BuildProgress | None = None, cancel: threading.Event | None = None) -> Iterator[None]:
    """Columns built in this thread inside the block report to ``progress``; setting ``cancel``
    stops a build at its next ``checkpoint`` (``get`` then answers None and keeps nothing)."""
    outer = getattr(_WATCH, "current", None)
    _WATCH.current = _Watch(progress, cancel)
    try:
        yield
    finally:
        _WATCH.current = outer


def _watch() -> _Watch | None:
    return getattr(_WATCH, "current", None)


def checkpoint(done: int, total: int) -> None:
    """For builders, between steps: report ``done`` of ``total`` to the thread's watcher, and stop
    (``BuildCancelled``) when it gave up.  Without a watcher this does nothing."""
    w = _watch()
    if w is None:
        return
    if w.cancel is not None and w.cancel.is_set():
        raise BuildCancelled(w.name)
    if w.progress is not None and total > 0:
        w.progress(w.name, min(1.0, max(0.0, done / total)))


def cancelled() -> bool:
    """Whether the thread's watcher gave up (for builders that would rather return than raise)."""
    w = _watch()
    return w is not None and w.cancel is not None and w.cancel.is_set()


# -- builders ------------------------------------------------------------------------------------

#: a builder answers whether it knows a field (``plan``) and builds its column for a trace
Plan = Callable[[], FieldColumn | None]
Planner = Callable[[Any, FieldDef], tuple[str, Plan] | None]
_PLANNERS: list[Planner] = []


def register(planner: Planner) -> Planner:
    """Add a builder: ``planner(trace, fdef)`` returns (cache key, build function) or None."""
    _PLANNERS.append(planner)
    return planner


_builtins_loaded = False


def _planners() -> list[Planner]:
    """Every builder: the built-in ones (loaded on first use, each registers itself) and any
    ``register()`` added, in either order."""
    global _builtins_loaded
    if not _builtins_loaded:
        from . import dnscols  # noqa: F401 — registers itself
        from .etw import fieldcols  # noqa: F401

        _builtins_loaded = True
    return _PLANNERS


def plan(trace: Any, fdef: FieldDef) -> tuple[str, Plan] | None:
    for planner in _planners():
        try:
            got = planner(trace, fdef)
        except (ValueError, KeyError, TypeError, IndexError, AttributeError):
            got = None
        if got is not None:
            return got
    return None


class TraceColumns:
    """The field columns of one trace: built once each, on first use, one build at a time."""

    def __init__(self, trace: Any) -> None:
        self._trace = weakref.ref(trace)
        self._cols: dict[str, FieldColumn | None] = {}
        self._lock = threading.Lock()
        #: field name → why it has no column (build errors), for ``tracemon check``
        self.problems: dict[str, str] = {}
        #: (field name, fraction or None) of the build running now, for threads waiting on it
        self.building: tuple[str, float | None] | None = None

    def can_build(self, fdef: FieldDef) -> bool:
        trace = self._trace()
        return trace is not None and plan(trace, fdef) is not None

    def peek(self, fdef: FieldDef) -> FieldColumn | None:
        """The column of ``fdef`` if it was built already (cheap: for autocomplete)."""
        return self._cols.get(fdef.name.lower())

    def built(self, fdef: FieldDef) -> bool:
        """Whether asking for ``fdef`` answers at once (built, cached as unbuildable, or no builder)."""
        return fdef.name.lower() in self._cols

    def get(self, fdef: FieldDef) -> FieldColumn | None:
        """The column of ``fdef`` (built now if needed), or None: no builder knows the field, the
        scan is not finished, or the thread's watcher (``watching``) gave up while it was built."""
        key = fdef.name.lower()
        col = self._cols.get(key, False)
        if col is not False:
            return col  # type: ignore[return-value]
        trace = self._trace()
        complete = getattr(trace, "complete", None)
        if trace is None or complete is None or not complete.is_set():
            return None
        watch = _watch()
        if not self._acquire(watch):
            return None
        try:
            col = self._cols.get(key, False)
            if col is not False:
                return col  # type: ignore[return-value]
            own = watch if watch is not None else _Watch(None, None)
            own.name = fdef.name
            _WATCH.current = own  # the builder's checkpoints report to it
            self.building = (fdef.name, None)
            try:
                col = self._build(trace, fdef, own)
            except BuildCancelled:
                return None  # nothing kept: the next use builds it again
            finally:
                self.building = None
                _WATCH.current = watch
            self._cols[key] = col
            return col
        finally:
            self._lock.release()

    def _acquire(self, watch: _Watch | None) -> bool:
        """Take the build lock; while another thread builds, pass its progress on to this thread's
        watcher and give up when the watcher does."""
        if watch is None or (watch.cancel is None and watch.progress is None):
            self._lock.acquire()
            return True
        while not self._lock.acquire(timeout=0.05):
            if watch.cancel is not None and watch.cancel.is_set():
                return False
            other = self.building
            if other is not None and watch.progress is not None:
                watch.progress(*other)
        return True

    def _build(self, trace: Any, fdef: FieldDef, watch: _Watch) -> FieldColumn | None:
        got = plan(trace, fdef)
        if got is None:
            return None
        ckey, build = got
        from . import cache

        folder = cache.field_column_dir(trace)
        fname = hashlib.sha256(f"{fdef.name.lower()}|{ckey}".encode()).hexdigest()[:24]
        if folder is not None:
            col = load(folder, fname, len(trace.index))
            if col is not None:
                return col
        outer = watch.progress

        def progress(name: str, fraction: float | None) -> None:
            self.building = (name, fraction)
            if outer is not None:
                outer(name, fraction)

        watch.progress = progress
        progress(fdef.name, None)
        try:
            col = build()
        except BuildCancelled:
            raise
        except (ValueError, IndexError, OSError, KeyError) as e:  # decode frame by frame instead
            self.problems[fdef.name] = f"{type(e).__name__}: {e}"
            return None
        finally:
            watch.progress = outer
        if col is not None and folder is not None:
            save(folder, fname, col)
        return col


_ALL: weakref.WeakKeyDictionary[Any, TraceColumns] = weakref.WeakKeyDictionary()
_ALL_LOCK = threading.Lock()


def columns_for(trace: Any) -> TraceColumns:
    with _ALL_LOCK:
        tc = _ALL.get(trace)
        if tc is None:
            tc = _ALL[trace] = TraceColumns(trace)
        return tc


# -- text: dictionary encoding of byte strings ---------------------------------------------------

#: strings longer than this are left to decoding (a padded matrix of them would not pay)
MAX_TEXT_BYTES = 512


def encode_bytes(u8: np.ndarray, start: np.ndarray, length: np.ndarray,
                 to_text: Callable[[bytes], str]) -> tuple[np.ndarray, list[str], np.ndarray]:
    """Dictionary-encode the byte strings ``u8[start:start+length]`` (one per row).

    Returns (codes into the table, table of distinct texts, rows too long to encode).  The
    strings are gathered into one zero-padded matrix and made unique as whole rows (with their
    length, so trailing zeros stay distinct); only the distinct strings become Python text.
    """
    n = len(start)
    too_long = length > MAX_TEXT_BYTES
    if n == 0:
        return np.zeros(0, dtype=np.int32), [], too_long
    length = np.where(too_long, 0, length).astype(np.int64)
    width = max(1, int(length.max()))
    width = (width + 7) & ~7
    codes = np.empty(n, dtype=np.int32)
    texts: dict[str, int] = {}
    table: list[str] = []
    step = max(1, (64 << 20) // (width + 8))  # bound the padded matrix to ~64 MB
    cols = np.arange(width, dtype=np.int64)
    for a in range(0, n, step):
        checkpoint(a, n)
        b = min(n, a + step)
        st, ln = start[a:b].astype(np.int64), length[a:b]
        mat = np.zeros((b - a, width + 8), dtype=np.uint8)
        mat[:, :width] = rows_at(u8, st, width)
        mat[:, :width] *= cols[None, :] < ln[:, None]
        mat[:, width:] = ln.astype("<u8").view(np.uint8).reshape(-1, 8)
        first, inv = _unique_rows(mat)
        local = np.empty(len(first), dtype=np.int32)
        for j, f in enumerate(first.tolist()):
            raw = bytes(mat[f, : int(ln[f])])
            text = to_text(raw)
            code = texts.get(text)
            if code is None:
                code = texts[text] = len(table)
                table.append(text)
            local[j] = code
        codes[a:b] = local[inv.reshape(-1)]
    return codes, table, too_long


def rows_at(u8: np.ndarray, start: np.ndarray, width: int) -> np.ndarray:
    """``u8[start[k]:start[k]+width]`` as the rows of a matrix (zeros past the end of ``u8``):
    one gather through a sliding-window view, no index matrix."""
    if len(u8) < width:
        u8 = np.concatenate([u8, np.zeros(width - len(u8), dtype=np.uint8)])
    limit = len(u8) - width
    out = sliding_window_view(u8, width)[np.clip(start, 0, limit)]
    for r in np.flatnonzero(start > limit).tolist():  # rows at the very end
        tail = u8[start[r] : start[r] + width]
        out[r] = 0
        out[r, : len(tail)] = tail
    return out


_MIX = np.uint64(0x9E3779B97F4A7C15)


def _unique_rows(mat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(first row of each distinct row, distinct index of every row) of a uint8 matrix whose
    width is a multiple of 8.  Rows are hashed to 64 bits (sorting integers is far faster than
    sorting wide rows) and each row is compared with its hash's first row; should two different
    rows ever share a hash, the exact sort of whole rows decides instead."""
    words = np.ascontiguousarray(mat).view("<u8")
    h = np.zeros(len(mat), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for k in range(words.shape[1]):
            h = (h ^ words[:, k]) * _MIX
            h ^= h >> np.uint64(29)
    _, first, inv = np.unique(h, return_index=True, return_inverse=True)
    inv = inv.reshape(-1)
    if np.array_equal(words, words[first[inv]]):
        return first, inv
    rows = np.ascontiguousarray(mat).view(f"V{mat.shape[1]}").reshape(-1)
    _, first, inv = np.unique(rows, return_index=True, return_inverse=True)
    return first, inv.reshape(-1)


# -- the cache beside the index -----------------------------------------------------------------

def save(folder: Path, fname: str, col: FieldColumn) -> None:
    """Write a column (failures never fail the filter: the column simply is not cached)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        arrays = {k: getattr(col, k) for k in ("values", "state", "codes") if getattr(col, k) is not None}
        for k, arr in arrays.items():
            tmp = folder / f".{fname}.{k}.tmp.npy"
            np.save(tmp, np.ascontiguousarray(arr))
            tmp.replace(folder / f"{fname}.{k}.npy")
        meta = {"name": col.name, "arrays": sorted(arrays), "table": col.table, "how": col.how,
                "crc32": {k: _crc(folder / f"{fname}.{k}.npy") for k in arrays}}
        tmp = folder / f".{fname}.json.tmp"
        tmp.write_text(json.dumps(meta), "utf-8")
        tmp.replace(folder / f"{fname}.json")  # last: a column without its json never loads
    except (OSError, ValueError, TypeError):
        pass


def _crc(path: Path) -> int:
    crc = 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            crc = zlib.crc32(chunk, crc)
    return crc


def load(folder: Path, fname: str, rows: int) -> FieldColumn | None:
    """A cached column memory-mapped, or None when there is none, it does not fit the index or a
    file does not match the checksum written with it (a column must never answer wrongly)."""
    meta_file = folder / f"{fname}.json"
    if not meta_file.is_file():
        return None
    try:
        meta = json.loads(meta_file.read_text("utf-8"))
        col = FieldColumn(str(meta["name"]), table=[str(t) for t in meta["table"]], how=str(meta.get("how", "")))
        for k in meta["arrays"]:
            if k not in ("values", "state", "codes"):
                return None
            path = folder / f"{fname}.{k}.npy"
            if _crc(path) != int(meta["crc32"][k]):
                return None  # damaged: built again
            setattr(col, k, np.load(path, mmap_mode="r"))
        if len(col) != rows or (col.codes is not None and len(col.codes) and int(col.codes.max()) >= len(col.table)):
            return None
        if col.codes is None and (col.values is None or col.state is None or len(col.values) != rows):
            return None
        return col
    except (OSError, ValueError, KeyError, TypeError):
        return None
