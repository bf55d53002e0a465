"""Field columns: a registry field extracted once for every frame and kept like an index column.

The index holds what the first pass can afford for every frame; a filter naming any other field
would decode frame by frame.  Here a field is extracted on first use by a builder that knows its
layout (ETW templates: ``etw/fieldcols.py``; DNS names: ``dnscols.py``; HTTP request and
response lines and Host: ``httpcols.py``; TLS SNI: ``tlscols.py``; SMB2 tree and file names:
``smb2cols.py``; packet header fields at fixed positions in their layer: ``fixedcols.py``) with
array operations,
and kept:

* numbers as an array of the field's width, absence and "decode" marked by two values no frame
  holds (sentinels), so a column costs its width per frame (≤ 8 bytes);
* text dictionary-encoded: a code per frame (int8/16/32, the narrowest the table fits: ≤ 4
  bytes) into a table of distinct values, so a test runs once per distinct value and maps back
  with one array operation.

Every frame is in one of three states: the field is absent, present with exactly the kept value,
or *decode* — the builder could not be sure (a second instance, a layout it does not follow, a
damaged record), so a filter decodes that frame as before.  A column is therefore never wrong,
only sometimes incomplete; ``tests/test_fieldcols.py`` holds every column against the dissector.

Columns are built only for a finished scan, kept per trace, and written beside the index cache
entry (``cache.field_column_dir``, files of layout ``COLUMN_FORMAT``) so a reopened trace
memory-maps them.  ``filters/`` only asks (``columns_for(trace).get(fdef)``, or ``get_many`` for
all the fields of a filter: builders that share a group, the fields of one ETW provider, then
read the trace once); it never builds anything itself.

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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .checksum import ALGORITHM as CHECKSUM
from .checksum import file_checksum
from .dictcode import MAX_TEXT_BYTES, encode_bytes, rows_at  # noqa: F401 — builders import them from here
from .fields import FieldDef

ABSENT, PRESENT, DECODE = 0, 1, 2
#: text codes below 0: the field is absent / the frame must be decoded
CODE_ABSENT, CODE_DECODE = -1, -2
#: the layout of the cached files (``save``/``load``); a cached column of another layout is built again
COLUMN_FORMAT = 3


class FieldColumn:
    """One field over rows ``0:len(self)`` of the index.

    Numbers: ``values`` (the field's own width, one per frame).  Where the field is absent or left
    to decoding, ``values`` holds one of two *sentinels* — bit patterns no present value has
    (``sentinels`` = (absent, decode), compared as unsigned integers of the value's width) — so a
    column costs exactly its width per frame.  Only when every pattern of a narrow width is a
    real value (a 1- or 2-byte field over ≥ 255 / 65,535 frames) is a state byte per frame kept
    instead (at most 5 bytes a frame with it).  ``states(start, stop)`` / ``present`` answer
    either way; ``state`` materialises the whole state array (ABSENT / PRESENT / DECODE).

    Text: ``codes`` (int8 / int16 / int32, the narrowest the table fits; ``CODE_ABSENT`` /
    ``CODE_DECODE`` below 0) into ``table``.

    Builders pass ``values`` with a ``state`` array (or ``codes`` with a ``table``); the
    constructor folds the state into sentinels and narrows the codes (``fold=False``: kept as
    given, for columns read back from the cache).
    """

    __slots__ = ("_state", "codes", "how", "name", "sentinels", "table", "values")

    def __init__(self, name: str, values: np.ndarray | None = None, state: np.ndarray | None = None,
                 codes: np.ndarray | None = None, table: list[str] | None = None, how: str = "", *,
                 sentinels: tuple[int, int] | None = None, fold: bool = True) -> None:
        self.name = name
        self.values = values
        self.codes = codes
        self.table: list[str] = table if table is not None else []
        #: what built it, for ``tracemon check`` and the benchmarks
        self.how = how
        self.sentinels = sentinels
        self._state = state
        if codes is not None and not isinstance(codes, np.memmap):
            self.codes = narrow_codes(codes, len(self.table))
        if values is not None and state is not None and sentinels is None and fold:
            self._fold(np.asarray(state))

    def __repr__(self) -> str:
        kind = f"text, {len(self.table)} distinct" if self.is_text else str(getattr(self.values, "dtype", "?"))
        return f"FieldColumn({self.name!r}, {len(self)} rows, {kind}, {self.how!r})"

    @property
    def is_text(self) -> bool:
        return self.codes is not None

    def __len__(self) -> int:
        arr = self.codes if self.codes is not None else self.values
        return 0 if arr is None else len(arr)

    @property
    def nbytes(self) -> int:
        arrays = (self.values, self._state, self.codes)
        return sum(a.nbytes for a in arrays if a is not None) + sum(len(t) for t in self.table)

    def _bits(self) -> np.ndarray:
        v = self.values
        assert v is not None
        return v.view(f"u{v.dtype.itemsize}")

    def _fold(self, state: np.ndarray) -> None:
        """Replace the state array by two sentinel values where two bit patterns are free."""
        v = self.values
        assert v is not None
        if v.dtype == np.bool_:
            v = v.astype(np.uint8)
        if not v.flags.writeable or not v.flags.c_contiguous:
            v = np.ascontiguousarray(v).copy()
        self.values = v
        bits = self._bits()
        free = free_patterns(bits[state == PRESENT], 2, v.dtype.itemsize)
        if free is None:
            self._state = np.ascontiguousarray(state, dtype=np.uint8)
            return
        absent, decode = free
        bits[state != PRESENT] = absent
        bits[state == DECODE] = decode
        self.sentinels = (absent, decode)
        self._state = None

    def states(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """ABSENT / PRESENT / DECODE of rows ``start:stop`` (numbers and text alike)."""
        stop = len(self) if stop is None else min(stop, len(self))
        return self._states(slice(start, stop))

    def states_of(self, rows: np.ndarray) -> np.ndarray:
        """ABSENT / PRESENT / DECODE of the given rows (each inside the column)."""
        return self._states(np.asarray(rows, dtype=np.int64))

    def _states(self, at: slice | np.ndarray) -> np.ndarray:
        if self.codes is not None:
            c = np.asarray(self.codes[at])
            return np.where(c >= 0, PRESENT, np.where(c == CODE_DECODE, DECODE, ABSENT)).astype(np.uint8)
        if self._state is not None:
            return np.asarray(self._state[at], dtype=np.uint8)
        absent, decode = self.sentinels  # type: ignore[misc]
        b = self._bits()[at]
        return np.where(b == decode, DECODE, np.where(b == absent, ABSENT, PRESENT)).astype(np.uint8)

    def cell(self, row: int) -> tuple[int, Any]:
        """(ABSENT / PRESENT / DECODE, the value or None) of one row: what a frame list cell shows."""
        st = int(self.states(row, row + 1)[0]) if 0 <= row < len(self) else DECODE
        if st != PRESENT:
            return st, None
        if self.codes is not None:
            return st, self.table[int(self.codes[row])]
        return st, self.values[row].item()  # type: ignore[index]

    @property
    def state(self) -> np.ndarray:
        """The state of every row (a new array each time: use ``states(start, stop)``,
        ``states_of(rows)`` or ``cell(row)`` for part of it)."""
        return self.states()

    @property
    def stored_state(self) -> np.ndarray | None:
        """The kept state array of a numeric column without sentinels (for the cache), else None."""
        return self._state

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
            elif self._state is not None:
                s = self._state[start : start + have]
                present[:have] = s == PRESENT
                known[:have] = s != DECODE
            else:
                absent, decode = self.sentinels  # type: ignore[misc]
                b = self._bits()[start : start + have]
                known[:have] = b != decode
                present[:have] = known[:have] & (b != absent)
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
            vals = vals[present[:have]]
            uniq, inv = np.unique(vals, return_inverse=True)
            ok = np.array([bool(py(v)) for v in uniq.tolist()], dtype=bool)
            out[:have][present[:have]] = ok[inv.reshape(-1)]
            return out, known
        out[:have] = r
        return out & present, known


def narrow_codes(codes: np.ndarray, table_size: int) -> np.ndarray:
    """Text codes in the narrowest signed type that holds the table's codes and the two below 0."""
    dt = np.int8 if table_size <= 127 else np.int16 if table_size <= 32767 else np.int32
    return codes if codes.dtype == dt else codes.astype(dt)


def free_patterns(bits: np.ndarray, k: int, width: int) -> tuple[int, ...] | None:
    """``k`` unsigned values of ``width`` bytes that are not in ``bits`` (None: fewer are free).
    Above the largest or below the smallest value first (no sort); else the first gaps."""
    top = (1 << (8 * width)) - 1
    if not len(bits):
        return tuple(range(k))
    hi, lo = int(bits.max()), int(bits.min())
    if top - hi >= k:
        return tuple(range(hi + 1, hi + 1 + k))
    if lo >= k:
        return tuple(range(lo - k, lo))
    u = np.unique(bits)
    out: list[int] = list(range(lo)) + list(range(hi + 1, top + 1))
    gaps = np.flatnonzero(np.diff(u) > 1)
    for g in gaps.tolist():
        a, b = int(u[g]) + 1, int(u[g + 1])
        out.extend(range(a, min(b, a + k)))
        if len(out) >= k:
            break
    return tuple(out[:k]) if len(out) >= k else None


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
        from . import dnscols, fixedcols, httpcols, smb2cols, tlscols  # noqa: F401 — each registers itself

        register(_etw_planner)
        _builtins_loaded = True
    return _PLANNERS


def _etw_planner(trace: Any, fdef: FieldDef) -> tuple[str, Plan] | None:
    """ETW event fields (``etw/fieldcols.py``, which brings the schema store): imported only for
    traces that can hold ETW events, so a pcap's first field filter does not pay for it."""
    if getattr(trace, "format", "") not in ("etl", "netmon"):
        return None
    from .etw.fieldcols import plan_etw

    return plan_etw(trace, fdef)


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

    def get_many(self, fdefs: list[FieldDef]) -> dict[str, FieldColumn | None]:
        """The columns of ``fdefs`` (by lower-case name), those not built yet built together:
        plans that share a ``group`` (the fields of one ETW provider) and have a ``batch`` build
        read the trace once for all of them.  Watched like ``get``; a watcher that gives up gets
        {} and nothing of the unfinished build is kept."""
        trace = self._trace()
        complete = getattr(trace, "complete", None)
        if trace is None or complete is None or not complete.is_set():
            return {}
        watch = _watch()
        if not self._acquire(watch):
            return {}
        try:
            todo: dict[object, list[tuple[FieldDef, str, Plan]]] = {}
            for fdef in fdefs:
                key = fdef.name.lower()
                if key in self._cols:
                    continue
                got = plan(trace, fdef)
                if got is None:
                    self._cols[key] = None
                    continue
                col = self._cached(trace, fdef, got[0])
                if col is not None:
                    self._cols[key] = col
                    continue
                todo.setdefault(getattr(got[1], "group", id(got[1])), []).append((fdef, *got))
            own = watch if watch is not None else _Watch(None, None)
            for items in todo.values():
                batch = getattr(items[0][2], "batch", None)
                label = ", ".join(f.name for f, _, _ in items)
                try:
                    cols = self._run(own, watch, label, lambda items=items, batch=batch: (
                        batch([b for _, _, b in items]) if batch is not None and len(items) > 1 else
                        [b() for _, _, b in items]))
                except BuildCancelled:
                    return {}  # nothing kept: the next use builds it again
                except (ValueError, IndexError, OSError, KeyError) as e:  # decode frame by frame instead
                    for fdef, _, _ in items:
                        self.problems[fdef.name] = f"{type(e).__name__}: {e}"
                        self._cols[fdef.name.lower()] = None
                    continue
                for (fdef, ckey, _), col in zip(items, cols, strict=True):
                    self._store(trace, fdef, ckey, col)
                    self._cols[fdef.name.lower()] = col
            return {f.name.lower(): self._cols.get(f.name.lower()) for f in fdefs}
        finally:
            self._lock.release()

    def _run(self, own: _Watch, watch: _Watch | None, label: str, build: Callable[[], Any]) -> Any:
        """``build()`` with its checkpoints reporting to ``own`` (and ``self.building``)."""
        own.name = label
        _WATCH.current = own
        outer = own.progress

        def progress(name: str, fraction: float | None) -> None:
            self.building = (name, fraction)
            if outer is not None:
                outer(name, fraction)

        own.progress = progress
        try:
            progress(label, None)
            return build()
        finally:
            own.progress = outer
            self.building = None
            _WATCH.current = watch

    @staticmethod
    def _where(trace: Any, fdef: FieldDef, ckey: str) -> tuple[Path | None, str]:
        from . import cache

        fname = hashlib.sha256(f"{COLUMN_FORMAT}|{fdef.name.lower()}|{ckey}".encode()).hexdigest()[:24]
        return cache.field_column_dir(trace), fname

    def _cached(self, trace: Any, fdef: FieldDef, ckey: str) -> FieldColumn | None:
        folder, fname = self._where(trace, fdef, ckey)
        return load(folder, fname, len(trace.index)) if folder is not None else None

    def _store(self, trace: Any, fdef: FieldDef, ckey: str, col: FieldColumn | None) -> None:
        if col is None:
            return
        from . import cache

        def put() -> None:  # (once the trace's index entry is there: a one-shot command writes it meanwhile)
            folder, fname = self._where(trace, fdef, ckey)
            if folder is not None:
                save(folder, fname, col)

        cache.after_stored(trace, put)

    def _build(self, trace: Any, fdef: FieldDef, watch: _Watch) -> FieldColumn | None:
        got = plan(trace, fdef)
        if got is None:
            return None
        ckey, build = got
        col = self._cached(trace, fdef, ckey)
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
        self._store(trace, fdef, ckey, col)
        return col


_ALL: weakref.WeakKeyDictionary[Any, TraceColumns] = weakref.WeakKeyDictionary()
_ALL_LOCK = threading.Lock()


def columns_for(trace: Any) -> TraceColumns:
    with _ALL_LOCK:
        tc = _ALL.get(trace)
        if tc is None:
            tc = _ALL[trace] = TraceColumns(trace)
        return tc


# -- the cache beside the index -----------------------------------------------------------------

def save(folder: Path, fname: str, col: FieldColumn) -> None:
    """Write a column (failures never fail the filter: the column simply is not cached)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        arrays = {k: a for k, a in (("values", col.values), ("state", col.stored_state), ("codes", col.codes))
                  if a is not None}
        for k, arr in arrays.items():
            tmp = folder / f".{fname}.{k}.tmp.npy"
            np.save(tmp, np.ascontiguousarray(arr))
            tmp.replace(folder / f"{fname}.{k}.npy")
        meta = {"format": COLUMN_FORMAT, "name": col.name, "arrays": sorted(arrays), "table": col.table,
                "how": col.how, "sentinels": list(col.sentinels) if col.sentinels is not None else None,
                "checksum": CHECKSUM,
                "checksums": {k: file_checksum(folder / f"{fname}.{k}.npy", CHECKSUM) for k in arrays}}
        tmp = folder / f".{fname}.json.tmp"
        tmp.write_text(json.dumps(meta), "utf-8")
        tmp.replace(folder / f"{fname}.json")  # last: a column without its json never loads
    except (OSError, ValueError, TypeError):
        pass


def load(folder: Path, fname: str, rows: int) -> FieldColumn | None:
    """A cached column memory-mapped, or None when there is none, it is of another layout, it
    does not fit the index or a file does not match the checksum written with it (a column must
    never answer wrongly)."""
    meta_file = folder / f"{fname}.json"
    if not meta_file.is_file():
        return None
    try:
        meta = json.loads(meta_file.read_text("utf-8"))
        if meta.get("format") != COLUMN_FORMAT:
            return None
        arrays: dict[str, np.ndarray] = {}
        for k in meta["arrays"]:
            if k not in ("values", "state", "codes"):
                return None
            path = folder / f"{fname}.{k}.npy"
            if file_checksum(path, meta["checksum"]) != int(meta["checksums"][k]):
                return None  # damaged: built again
            arrays[k] = np.load(path, mmap_mode="r")
        sent = meta.get("sentinels")
        sentinels = (int(sent[0]), int(sent[1])) if sent is not None else None
        col = FieldColumn(str(meta["name"]), values=arrays.get("values"), state=arrays.get("state"),
                          codes=arrays.get("codes"), table=[str(t) for t in meta["table"]],
                          how=str(meta.get("how", "")), sentinels=sentinels, fold=False)
        if len(col) != rows:
            return None
        if col.codes is not None:
            if col.codes.dtype.kind != "i" or (len(col.codes) and int(col.codes.max()) >= len(col.table)):
                return None
            return col
        if col.values is None or (sentinels is None) == (col.stored_state is None):
            return None  # a number needs exactly one of sentinels and a state array
        if col.stored_state is not None and len(col.stored_state) != rows:
            return None
        return col
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        return None
