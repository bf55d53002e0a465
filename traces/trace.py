"""``open_trace``: detect the format by magic bytes and give a ``Trace`` over a columnar index.

The scan runs in batches (``Trace.scan()`` yields progress) so a UI can show the first frames
while the rest of the file is read; ``Trace.load()`` runs it to the end.  A finished index is
cached (``cache.py``) and a second open of the same unchanged file skips the scan.
"""

from __future__ import annotations

import mmap
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Self

import numpy as np

from . import cache as _cache
from .errors import DamagedRecord, TraceError, TraceWarning
from .fields import REGISTRY, Registry
from .frame import Frame
from .index import KIND_NOTIME, MAX_DESCRIPTORS, ConversationTable, FrameIndex
from .keytable import KeyCache, cached_ids
from .layeroffs import UNKNOWN as UNKNOWN_LAYOUT
from .mapfile import _mapguard, map_file, take_early
from .origins import Interface, Provider
from .protocols import PACKET_PROTOCOL_NAMES

if TYPE_CHECKING:
    from .pipeline import Ahead
    from .timezone import CaptureZone


@dataclass(slots=True)
class Progress:
    frames: int
    done_bytes: int
    total_bytes: int
    finished: bool = False

    @property
    def fraction(self) -> float:
        return 1.0 if self.total_bytes <= 0 else min(1.0, self.done_bytes / self.total_bytes)


class Reader:
    """Base class of the format readers.

    A reader walks the file in ``scan()`` and yields index batches (``index.empty_batch`` dicts),
    raising ``DamagedRecord`` at the first damaged record (everything yielded before it is kept).
    ``frame(i)`` decodes index row ``i`` into a ``Frame``.  ``state()``/``restore()`` carry what
    the reader learned during the scan into the index cache.
    """

    format_name = "?"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Every reader's ``frame``/``raw``/``packet_offsets`` first checks that the mapped file did
        not shrink (``Trace.check_file``): touching a page past the new end would kill the process
        with SIGBUS instead of reporting the change."""
        super().__init_subclass__(**kwargs)
        for name in _GUARDED:
            fn = cls.__dict__.get(name)
            if fn is not None and not getattr(fn, "_guarded", False):
                setattr(cls, name, _guard(fn))

    def __init__(self, trace: Trace) -> None:
        self.trace = trace
        self.buf = trace.buf
        self.path = trace.path
        #: bytes consumed so far (progress)
        self.position = 0

    def scan(self) -> Iterator[dict[str, np.ndarray]]:
        raise NotImplementedError

    def frame(self, i: int) -> Frame:
        raise NotImplementedError

    def raw(self, i: int) -> bytes:
        """The bytes the hex pane shows for row ``i`` (the packet, or the whole event record)."""
        raise NotImplementedError

    def packet_offsets(self, rows: np.ndarray) -> np.ndarray | None:
        """File offsets in ``trace.buf`` where each row's packet bytes start (``length`` bytes
        long), for readers that keep packets in place; None when they are not (ETL buffers may
        be compressed).  Lets filters search and read packet bytes in bulk.  Rows that are not
        packets get some offset; callers mask them by ``kind``."""
        return None

    def finish(self) -> None:
        """Called once after the scan ends (ETL sorts by time here)."""

    def state(self) -> dict[str, Any]:
        return {}

    def restore(self, state: dict[str, Any]) -> None:
        pass


#: the Reader methods that read the mapped file on a caller's behalf
_GUARDED = ("frame", "raw", "packet_offsets")


def _guard(fn: Callable[..., Any]) -> Callable[..., Any]:
    import functools

    @functools.wraps(fn)
    def guarded(self: Reader, *args: Any, **kwargs: Any) -> Any:
        self.trace.check_file()
        return fn(self, *args, **kwargs)

    guarded._guarded = True  # type: ignore[attr-defined]
    return guarded


#: format name → reader module, in the order their magic bytes are tried; a module is imported
#: only when the formats before it did not match (opening a pcap never loads the ETL reader)
READER_MODULES: tuple[tuple[str, str, str], ...] = (
    ("pcap", "tracemon.traces.pcap", "PcapReader"),
    ("pcapng", "tracemon.traces.pcapng", "PcapngReader"),
    ("netmon", "tracemon.traces.netmon", "NetmonReader"),
    ("etl", "tracemon.traces.etw.reader", "EtlReader"),
)


def _readers() -> Iterator[tuple[str, Callable[[bytes], bool], Callable[[Trace], Reader]]]:
    import importlib

    for name, module_name, cls in READER_MODULES:
        module = importlib.import_module(module_name)
        yield name, module.detect, getattr(module, cls)


def _reader_for(head: bytes) -> tuple[str, Callable[[Trace], Reader]] | None:
    """The format whose magic ``head`` starts with, and its reader class."""
    for name, test, factory in _readers():
        if test(head):
            return name, factory
    return None


def detect_format(head: bytes) -> str | None:
    found = _reader_for(head)
    return found[0] if found is not None else None


#: bytes of the mapped file the scan reads before it gives their pages back
RELEASE_STEP = 32 << 20

#: decoded frames ``Trace.frame`` keeps (least recently used go first)
FRAME_CACHE_SIZE = 512


#: the largest file a one-shot command keeps mapped after its scan (``Trace._release_scanned``)
ONE_SHOT_MAPPED = 1 << 30
#: room the index reserves after the first batch, as a multiple of the frames the rest of the file
#: holds at the first batch's bytes per frame (more is only address space: untouched pages cost nothing)
RESERVE_SLACK = 1.125


class Trace:
    """An open trace file: index, interfaces, conversations, facts and lazy frame decoding."""

    def __init__(self, path: str | os.PathLike[str], *, registry: Registry | None = None) -> None:
        self.path = os.fspath(path)
        early = take_early(self.path)
        #: the record chain ``readahead`` walks for this file, for the reader to take (or None)
        self.records_ahead: Ahead | None = None
        if early is None:
            self._file, self.buf, self.size, self.mtime_ns = map_file(self.path)
            #: the mapping's address in ``_mapguard`` (0: not guarded)
            self._guarded = _mapguard.watch(self.buf) if _mapguard is not None else 0
        else:
            self._file, self.buf, self.size, self.mtime_ns = early.file, early.buf, early.size, early.mtime_ns
            self._guarded, self.records_ahead = early.guarded, early.records
        self.registry = (registry or REGISTRY).overlay()
        self.index = FrameIndex()
        self.interfaces: list[Interface] = []
        self.providers: list[Provider] = [Provider("", "", "")]  # code 0 = not ETW
        self.protocol_names: list[str] = list(PACKET_PROTOCOL_NAMES)
        #: ETW header values by the index's ``desc`` code: (family, version, channel, task,
        #: keywords); code 0 = not known
        self.descriptors: list[tuple[int, int, int, int, int]] = [(0, 0, 0, 0, 0)]
        #: layer offsets by the index's ``layout`` code: (L3, L4, payload) from the packet start
        #: (``layeroffs.py``); code 0 = not known
        self.layouts: list[tuple[int, int, int]] = [UNKNOWN_LAYOUT]
        self.eth_conversations = ConversationTable("eth")
        self.ip_conversations = ConversationTable("ip")
        self.l4_conversations = ConversationTable("l4")
        #: tunnels whose tenant conversations the three tables above hold (``tunnels.py``)
        self.tunnel_conversations = ConversationTable("tunnel")
        self.warnings: list[TraceWarning] = []
        self.facts: dict[str, Any] = {}
        #: the capture host's time zone when the file records it (ETL log header)
        self.time_zone: CaptureZone | None = None
        self.from_cache = False
        self.use_cache = True
        #: a command that reads the trace once and exits (``open_trace(one_shot=True)``)
        self.one_shot = False
        self.scan_seconds = 0.0
        self.complete = threading.Event()
        self._frame_cache: dict[int, Frame] = {}
        self._frame_cache_generation = 0
        #: the scan gives the file's pages back to the OS up to here (``_release_scanned``)
        self._released = 0
        self._span: tuple[int, int] | None = None
        self._codes: dict[str, tuple[list[Any], dict[Any, int]]] = {}
        self._frame_lock = threading.Lock()
        #: the reader's batches, kept so that a scan stopped early resumes where it stopped
        self._batches: Iterator[dict[str, np.ndarray]] | None = None
        head = bytes(self.buf[:128])
        found = _reader_for(head)
        if found is None:
            self.close()
            shown = head[:8].hex(" ")
            raise TraceError(self.path, f"unknown file format (first bytes {shown}); expected pcap, pcapng, "
                                        "Netmon .cap or ETL", 0)
        self.format, factory = found
        try:
            self.reader: Reader = factory(self)
        except BaseException:  # a header the reader refuses: do not leave the file mapped
            self.close()
            raise

    # -- scanning ---------------------------------------------------------------------------
    def scan(self, batch_seconds: float = 0.25, cancel: threading.Event | None = None) -> Iterator[Progress]:
        """Read the file, yielding progress about every ``batch_seconds``; safe to stop early
        (``cancel``, or leaving the loop): the next ``scan()`` or ``load()`` goes on from there."""
        if self.complete.is_set():
            yield Progress(len(self.index), self.size, self.size, True)
            return
        t0 = time.perf_counter()
        last = t0
        reader = self.reader
        if self._batches is None:
            self._batches = reader.scan()
        try:
            for batch in self._batches:
                first = not len(self.index)
                self.index.append(batch)
                if first:
                    self.reserve_rows(len(self.index), reader.position)
                self.check_file_during_scan()
                self._release_scanned(reader.position)
                now = time.perf_counter()
                if now - last >= batch_seconds:
                    last = now
                    yield Progress(len(self.index), reader.position, self.size)
                if cancel is not None and cancel.is_set():
                    return
        except DamagedRecord as e:
            self.warnings.append(TraceWarning(self.path, e.offset, e.cause, len(self.index)))
        reader.finish()
        self.index.trim()
        self._release_scanned(self.size)
        self.scan_seconds = time.perf_counter() - t0
        self.complete.set()
        if self.use_cache:
            _cache.store(self, behind=self.one_shot)
        yield Progress(len(self.index), self.size, self.size, True)

    def reserve_rows(self, rows: int, position: int) -> None:
        """Room in the index for the whole file, from the ``rows`` frames found in its first
        ``position`` bytes (as many frames again in the rest of it, and ``RESERVE_SLACK``)."""
        if 0 < position < self.size:
            self.index.reserve(int(rows * RESERVE_SLACK * self.size / position) + 1024)

    def _release_scanned(self, upto: int) -> None:
        """Give back the pages of the mapped file the scan has read past: they stay in the OS
        page cache (a later frame decode maps them again at no disk cost), but no longer count
        in this process's memory, which would otherwise grow by the whole file (a 1 M-frame,
        400 MB pcap kept ~430 MB of it resident after indexing).  A one-shot command keeps a
        file of up to ``ONE_SHOT_MAPPED`` bytes mapped: it reads the frames again to filter them
        and then exits, and faulting them in again cost more than its filter."""
        if self.one_shot and self.size <= ONE_SHOT_MAPPED:
            return
        buf = self.buf
        start = self._released
        upto = min(upto, self.size)
        if upto - start < RELEASE_STEP and upto < self.size:
            return
        page = mmap.PAGESIZE
        lo, hi = start - start % page, upto - upto % page if upto < self.size else upto
        if hi > lo and isinstance(buf, mmap.mmap) and hasattr(buf, "madvise"):
            try:
                buf.madvise(mmap.MADV_DONTNEED, lo, hi - lo)
            except (OSError, ValueError):
                return
            self._released = hi

    def release_pages(self) -> None:
        """Give every page of the mapped file back to the OS (after work that read across the
        whole file: a filter or a colour rule reading packet bytes).  Only this process's
        resident memory changes; the next read maps the page again from the page cache."""
        buf = self.buf
        if isinstance(buf, mmap.mmap) and hasattr(buf, "madvise") and self.size:
            try:
                buf.madvise(mmap.MADV_DONTNEED, 0, self.size)
            except (OSError, ValueError):
                pass

    def load(self, use_cache: bool = True) -> Trace:
        """Scan to the end (or restore the cached index of an unchanged file)."""
        if self.complete.is_set():
            return self
        self.use_cache = use_cache
        if use_cache and _cache.restore(self):
            return self
        for _ in self.scan():
            pass
        return self

    # -- access -----------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.index)

    def frame(self, i: int) -> Frame:
        """Decode frame ``i`` (0-based).  Small LRU: the UI asks for the same rows repeatedly.

        The cache is keyed by row, so it is emptied whenever the index is reordered (ETL's final
        time sort), and a decode that raced with a reorder is done again: the row it read may
        have been another record's by the time it finished (seqlock on ``order_generation``)."""
        index = self.index
        cache = self._frame_cache
        while True:
            gen = index.order_generation
            n = len(index)
            if not 0 <= i < n:
                raise IndexError(f"frame {i + 1} is not in this trace ({n} frames)")
            with self._frame_lock:  # the UI thread and filter/export workers share this cache
                if self._frame_cache_generation != gen:
                    cache.clear()
                    self._frame_cache_generation = gen
                cached = cache.pop(i, None)
                if cached is not None:
                    cache[i] = cached  # now the most recently used
                    return cached
            frame = self.reader.frame(i)
            with self._frame_lock:
                if index.order_generation != gen:
                    continue  # reordered while decoding: row i now names another record
                while len(cache) >= FRAME_CACHE_SIZE:
                    cache.pop(next(iter(cache)))
                cache[i] = frame
            return frame

    def raw(self, i: int) -> bytes:
        """The bytes of row ``i`` (read again, like ``frame``, if a reorder happened meanwhile)."""
        index = self.index
        while True:
            gen = index.order_generation
            data = self.reader.raw(i)
            if index.order_generation == gen:
                return data

    def check_file(self) -> None:
        """Raise ``TraceError`` when the file is now shorter than when it was opened (a capture
        still being written and restarted, a file truncated or rewritten in place): the pages past
        its new end are gone, and reading them would kill the process with SIGBUS.  A file that
        grew is fine: the mapping covers what was there.  One ``fstat``, so callers check before
        every access that may reach the end (readers do it in ``frame``/``raw``/``packet_offsets``)."""
        f = self._file
        if f is None or not self.size:
            return
        try:
            now = os.fstat(f.fileno()).st_size
        except (OSError, ValueError):  # closed under us: the mapping is gone too
            return
        if now >= self.size and self._guarded and _mapguard is not None and _mapguard.faults(self._guarded):
            now = -1  # shrank and grew back: what was read past the short end was zeros
        if now < 0:
            raise TraceError(self.path, "the file shrank while it was open and grew again; reads in between saw "
                                        "zeros where its end had been; open it again")
        if now < self.size:
            raise TraceError(self.path, f"the file shrank from {self.size} to {now} bytes while it was open "
                                        "(truncated or rewritten in place); open it again", now)

    def check_file_during_scan(self) -> None:
        """``check_file`` between batches, as damage: the scan stops and keeps what it read."""
        try:
            self.check_file()
        except TraceError as e:
            raise DamagedRecord(e.offset or 0, e.cause) from None

    def time_span(self) -> tuple[int, int] | None:
        """(first, last) timestamp of the frames that have one; computed once the scan is done."""
        span = self._span
        if span is not None:
            return span
        ts = self.index.ts
        ts = ts[(self.index.kind & KIND_NOTIME) == 0]
        span = (int(ts.min()), int(ts.max())) if len(ts) else None
        if self.complete.is_set():
            self._span = span
        return span

    @property
    def first_time_ns(self) -> int | None:
        """Time of the earliest frame that has a timestamp of its own."""
        span = self.time_span()
        return span[0] if span else None

    @property
    def last_time_ns(self) -> int | None:
        span = self.time_span()
        return span[1] if span else None

    def provider_code(self, guid: str, name: str, protocol: str) -> int:
        return _code(self, "providers", guid, lambda: Provider(guid, name, protocol), lambda p: p.guid)

    def protocol_code(self, name: str) -> int:
        return _code(self, "protocol_names", name, lambda: name, lambda x: x)

    def descriptor_codes(self, family: np.ndarray, version: np.ndarray, channel: np.ndarray, task: np.ndarray,
                         keyword: np.ndarray) -> np.ndarray:
        """The ``desc`` column for a batch of ETW records (one Python step per distinct
        combination, not per record).  Past ``MAX_DESCRIPTORS`` combinations new ones get code
        0, which filters treat as "decode the frame to know".

        The header fields are as wide as the record headers have them (family, version and
        channel a byte, task two).  Each record's combination becomes one u64 through two small
        ids (its family, version, channel and task packed; its keyword) and is looked up in key
        tables (``keytable``): combinations seen before cost a probe each, new ones are numbered
        as they first come.  (``np.unique`` over structured rows sorted them with a generic
        comparison: three quarters of a 1M-event ETL's index.)"""
        n = len(family)
        if n == 0:
            return np.zeros(0, dtype=np.uint16)
        f, v, c, t = (np.asarray(a).astype(dt).astype(np.uint64) for a, dt in
                      ((family, np.uint8), (version, np.uint16), (channel, np.uint8), (task, np.uint16)))
        kw = np.asarray(keyword).astype(np.uint64)
        seen = self.__dict__.get("_desc_keys")
        if seen is None or seen[0] is not self.descriptors:  # new, or the table was replaced
            seen = self.__dict__["_desc_keys"] = (self.descriptors, KeyCache(), KeyCache(), KeyCache(), {}, {})
        _, head_table, kw_table, desc_table, head_ids, kw_ids = seen
        head = (f << np.uint64(40)) | (v << np.uint64(24)) | (c << np.uint64(16)) | t
        hid = cached_ids(head_table, head, lambda new, _r: [head_ids.setdefault(k, len(head_ids)) for k in new.tolist()])
        kid = cached_ids(kw_table, kw, lambda new, _r: [kw_ids.setdefault(k, len(kw_ids)) for k in new.tolist()])
        key = (hid.astype(np.uint64) << np.uint64(32)) | kid.astype(np.uint64)  # (each id < 2**32: one per row at most)

        def make(_new: np.ndarray, rows: np.ndarray) -> list[int]:
            return [self._descriptor_code((int(f[r]), int(v[r]), int(c[r]), int(t[r]), int(kw[r])))
                    for r in rows.tolist()]

        return cached_ids(desc_table, key, make).astype(np.uint16)

    def _descriptor_code(self, key: tuple[int, ...]) -> int:
        """A combination's code; a new one gets 0 once the table is full (only combinations
        already numbered keep their code)."""
        if len(self.descriptors) <= MAX_DESCRIPTORS:
            return _code(self, "descriptors", key, lambda: key, lambda x: x)
        return self._codes.get("descriptors", ([], {}))[1].get(key, 0)

    def close(self) -> None:
        ahead = getattr(self, "records_ahead", None)
        if ahead is not None:  # (its walk holds the map: the map could not close under it)
            ahead.wait()
        if getattr(self, "_guarded", 0) and _mapguard is not None:
            _mapguard.unwatch(self._guarded)
            self._guarded = 0
        buf, self.buf = getattr(self, "buf", None), b""
        if isinstance(buf, mmap.mmap):
            try:
                buf.close()
            except BufferError:  # a memoryview still points into it; the GC closes it later
                pass
        f = getattr(self, "_file", None)
        if f is not None:
            f.close()
            self._file = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Trace {self.format} {self.path!r} frames={len(self)}>"


def _code(trace: Trace, table: str, key: Any, make: Callable[[], Any], key_of: Callable[[Any], Any]) -> int:
    """The position of ``key`` in one of the trace's code tables, appending it when new.  A dict
    beside the list keeps this O(1) (an ETL file may name thousands of providers); it is rebuilt
    when the list was replaced (a cache restore) or grew behind its back."""
    values = getattr(trace, table)
    codes = trace._codes.get(table)
    if codes is None or codes[0] is not values or len(codes[1]) != len(values):
        codes = (values, {key_of(v): c for c, v in enumerate(values)})
        trace._codes[table] = codes
    code = codes[1].get(key)
    if code is None:
        values.append(make())
        code = codes[1][key] = len(values) - 1
    return code


def open_trace(path: str | os.PathLike[str], *, load: bool = True, use_cache: bool = True,
               registry: Registry | None = None, one_shot: bool = False) -> Trace:
    """Open a trace; with ``load=False`` the caller drives ``Trace.scan()`` (UI workers do).  A
    scan that fails (or Ctrl-C) closes the file before the error goes on: the caller never had
    the trace, so nothing else would.  ``one_shot``: for a command that reads the trace once and
    exits: a new index cache entry is written on a thread of its own while it goes on, and the
    pages of a file up to ``ONE_SHOT_MAPPED`` bytes stay mapped after the scan."""
    trace = Trace(path, registry=registry)
    trace.use_cache = use_cache
    trace.one_shot = one_shot
    try:
        if load:
            trace.load(use_cache=use_cache)
        elif use_cache:
            _cache.restore(trace)
    except BaseException:
        trace.close()
        raise
    return trace
