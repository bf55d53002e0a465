"""Many event records' bytes at once, for field columns (``etw/fieldcols.py``).

``EtlReader.record(i)`` reads one record through a small LRU of inflated buffers: right for the
details pane, far too slow for every record of an event.  Here the records of many index rows
are copied into contiguous arrays, buffer by buffer, in chunks of about ``CHUNK_BYTES`` record
bytes, so memory stays bounded however large the trace is: a builder walks one chunk while the
next is being read.  Compressed buffers are inflated once each per pass into a scratch area and
only the wanted records kept — by ``_xpress.extract_records`` (C, the GIL released, the chunk
split between two threads) or, when the extension is not built, by the NumPy path below (the
reference the C routine is tested against).  A record whose bounds do not fit its buffer, or
whose buffer is cut off or does not inflate, is flagged ``bad``, never read outside it.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from .records import BufferError_, BufferInfo, buffer_bytes

try:
    from ._xpress import extract_records as _native_extract
except ImportError:  # pragma: no cover - depends on the build
    _native_extract = None

#: record bytes per chunk: what one step of a column build holds at once
CHUNK_BYTES = 16 << 20


@dataclass(slots=True)
class RecordChunk:
    """Records ``rows[sel]`` of the caller's rows: record k is ``blob[start[k]:start[k]+length[k]]``;
    ``bad`` records (bounds outside their buffer, a buffer that does not inflate) have length 0."""

    sel: np.ndarray
    blob: np.ndarray
    start: np.ndarray
    length: np.ndarray
    bad: np.ndarray


def _spans(u8: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """``u8[starts[k]:starts[k]+lengths[k]]`` for every k, concatenated (one gather)."""
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=np.uint8)
    out_at = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    idx = np.repeat(starts - out_at, lengths) + np.arange(total, dtype=np.int64)
    return u8[idx]


def extract_numpy(src: Any, infos: list[BufferInfo], offs: list[np.ndarray], lens: list[np.ndarray]) -> tuple[
        np.ndarray, list[bool]]:
    """Inflate ``infos`` one by one and keep the records at ``offs``/``lens`` of each (the path
    without the C extension, and the reference for ``_xpress.extract_records``)."""
    parts: list[np.ndarray] = []
    good: list[bool] = []
    for info, o, ln in zip(infos, offs, lens, strict=True):
        try:
            data = np.frombuffer(buffer_bytes(src, info), dtype=np.uint8)
        except BufferError_:
            parts.append(np.zeros(int(ln.sum()), dtype=np.uint8))
            good.append(False)
            continue
        if len(o) and int((o + ln).max()) > len(data):
            parts.append(np.zeros(int(ln.sum()), dtype=np.uint8))
            good.append(False)
            continue
        parts.append(_spans(data, o, ln))
        good.append(True)
    blob = np.concatenate(parts) if parts else np.zeros(0, dtype=np.uint8)
    return blob, good


def record_chunks(reader: Any, rows: np.ndarray, chunk_bytes: int = CHUNK_BYTES,
                  native: bool = True) -> Iterator[RecordChunk]:
    """The records of index ``rows`` in chunks of whole buffers (each at most about ``chunk_bytes``
    of records, one buffer's records at least); every row is in exactly one chunk."""
    idx = reader.trace.index
    rows = np.asarray(rows, dtype=np.int64)
    loc = idx.column("loc")[rows].astype(np.uint64)
    length = idx.column("length")[rows].astype(np.int64)
    number = (loc >> np.uint64(32)).astype(np.int64)
    off = (loc & np.uint64(0xFFFFFFFF)).astype(np.int64)
    buffers = reader.buffers
    bad = number >= len(buffers)
    number = np.where(bad, 0, number)
    filled = np.array([min(b.disk_size, b.filled) if not b.compressed else b.filled for b in buffers] or [0],
                      dtype=np.int64)
    bad |= (off + length > filled[number]) | (length <= 0)
    length = np.where(bad, 0, length)
    if not len(rows):
        return
    order = np.argsort(number, kind="stable")  # buffer by buffer, records in index order within
    nums, first, counts = np.unique(number[order], return_index=True, return_counts=True)
    before = np.concatenate([[0], np.cumsum(length[order])[:-1]])[first]  # record bytes before each buffer
    cut = np.flatnonzero(np.diff(before // max(1, chunk_bytes)) != 0) + 1
    groups = np.split(np.arange(len(nums)), cut)
    extract = _extract_native if (native and _native_extract is not None) else _extract_numpy
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="etw-records") as pool:
        def submit(g: np.ndarray) -> tuple[np.ndarray, list[Any]]:
            a, b = int(first[g[0]]), int(first[g[-1]] + counts[g[-1]])
            sel = order[a:b]
            return sel, extract(pool, reader, buffers, nums[g], counts[g], off[sel], length[sel])

        pending = submit(groups[0])
        for k in range(len(groups)):
            sel, futures = pending
            if k + 1 < len(groups):
                pending = submit(groups[k + 1])  # read the next chunk while this one is walked
            blob, start, ln, failed = _collect(futures)
            yield RecordChunk(sel, blob, start, np.where(failed | bad[sel], 0, ln), failed | bad[sel])


def _collect(futures: list[Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    parts = [f.result() for f in futures]
    if len(parts) == 1:
        return parts[0]
    blob, start, ln, failed = parts[0]
    for b2, s2, l2, f2 in parts[1:]:
        start = np.concatenate([start, s2 + len(blob)])
        blob = np.concatenate([blob, b2])
        ln = np.concatenate([ln, l2])
        failed = np.concatenate([failed, f2])
    return blob, start, ln, failed


def _extract_native(pool: ThreadPoolExecutor, reader: Any, buffers: list[BufferInfo], nums: np.ndarray,
                    counts: np.ndarray, off: np.ndarray, length: np.ndarray) -> list[Future]:
    """Two jobs (halves of the chunk's buffers by size on disk) for ``_xpress.extract_records``,
    writing into one array; the second job's result carries it."""
    disk = np.array([buffers[k].disk_size for k in nums.tolist()], dtype=np.int64)
    half = int(np.searchsorted(np.cumsum(disk), disk.sum() / 2)) + 1 if len(nums) > 1 else len(nums)
    half = min(half, len(nums))
    rec_at = np.concatenate([[0], np.cumsum(counts)])
    dst = np.concatenate([[0], np.cumsum(length)[:-1]]).astype(np.int64)
    out = np.empty(int(length.sum()), dtype=np.uint8)
    recs = np.ascontiguousarray(np.stack([off, length, dst], axis=1), dtype=np.int64)
    futures = []
    for a, b in ((0, half), (half, len(nums))):
        if a == b:
            continue
        ra, rb = int(rec_at[a]), int(rec_at[b])
        futures.append(pool.submit(_native_job, reader.buf, [buffers[k] for k in nums[a:b].tolist()],
                                   rec_at[a : b + 1] - ra, recs[ra:rb], out))
    return [_Joined(futures, out, dst, length)]


class _Joined:
    """The futures of one chunk's jobs as one result (blob, start, length, failed)."""

    def __init__(self, futures: list[Future], out: np.ndarray, dst: np.ndarray, length: np.ndarray) -> None:
        self.futures, self.out, self.dst, self.length = futures, out, dst, length

    def result(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        failed = np.concatenate([f.result() for f in self.futures]) if self.futures else np.zeros(0, dtype=bool)
        return self.out, self.dst, self.length, failed


def _native_job(src: Any, infos: list[BufferInfo], rec_start: np.ndarray, recs: np.ndarray,
                out: np.ndarray) -> np.ndarray:
    bufs = np.array([(i.file_offset, i.disk_size, i.filled, int(i.compressed)) for i in infos], dtype=np.int64)
    status = np.frombuffer(_native_extract(src, bufs, np.ascontiguousarray(rec_start, dtype=np.int64),
                                           np.ascontiguousarray(recs), out), dtype=np.uint8)
    return np.repeat(status != 0, np.diff(rec_start))


def _extract_numpy(pool: ThreadPoolExecutor, reader: Any, buffers: list[BufferInfo], nums: np.ndarray,
                   counts: np.ndarray, off: np.ndarray, length: np.ndarray) -> list[Any]:
    rec_at = np.concatenate([[0], np.cumsum(counts)])
    infos = [buffers[k] for k in nums.tolist()]
    offs = [off[rec_at[j] : rec_at[j + 1]] for j in range(len(nums))]
    lens = [length[rec_at[j] : rec_at[j + 1]] for j in range(len(nums))]

    def job() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        blob, good = extract_numpy(reader.buf, infos, offs, lens)
        failed = np.repeat(~np.array(good, dtype=bool), counts) if len(counts) else np.zeros(0, dtype=bool)
        dst = np.concatenate([[0], np.cumsum(length)[:-1]]).astype(np.int64)
        return blob, dst, length.copy(), failed

    return [pool.submit(job)]
