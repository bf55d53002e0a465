"""Many event records' bytes at once, for field columns (``etw/fieldcols.py``).

``EtlReader.record(i)`` reads one record through a small LRU of inflated buffers: right for the
details pane, far too slow for every record of an event.  Here the records of many index rows
are copied into one contiguous array, buffer by buffer: uncompressed buffers straight from the
mapped file with one fancy-indexing gather, compressed ones inflated once each — in two worker
processes when there is enough to inflate (like the index scan) — and only the wanted records
kept.  A record whose bounds do not fit its buffer is flagged, never read outside it.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from .records import BufferError_, BufferInfo, _source, buffer_bytes

#: compressed bytes per worker job
JOB_BYTES = 8 << 20
#: compressed bytes worth starting worker processes for
POOL_MIN_COMPRESSED = 4 << 20


def _spans(u8: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """``u8[starts[k]:starts[k]+lengths[k]]`` for every k, concatenated (one gather)."""
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=np.uint8)
    out_at = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    idx = np.repeat(starts - out_at, lengths) + np.arange(total, dtype=np.int64)
    return u8[idx]


def inflate_job(src: Any, infos: list[BufferInfo], offs: list[np.ndarray], lens: list[np.ndarray]) -> tuple[
        bytes, list[bool]]:
    """Inflate ``infos`` and keep the records at ``offs``/``lens`` of each (worker entry point)."""
    if isinstance(src, str):
        src = _source(src)
    parts: list[np.ndarray] = []
    good: list[bool] = []
    for info, o, ln in zip(infos, offs, lens, strict=True):
        try:
            data = np.frombuffer(buffer_bytes(src, info), dtype=np.uint8)
        except BufferError_:
            parts.append(np.zeros(int(ln.sum()), dtype=np.uint8))
            good.append(False)
            continue
        parts.append(_spans(data, o, ln))
        good.append(True)
    blob = np.concatenate(parts) if parts else np.zeros(0, dtype=np.uint8)
    return blob.tobytes(), good


def record_bytes(reader: Any, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(blob, start, length, bad) for index ``rows``: record k is ``blob[start[k]:start[k]+length[k]]``;
    ``bad`` rows (bounds outside their buffer, a buffer that does not inflate) have length 0."""
    idx = reader.trace.index
    n = len(rows)
    loc = idx.column("loc")[rows].astype(np.uint64)
    length = idx.column("length")[rows].astype(np.int64)
    number = (loc >> np.uint64(32)).astype(np.int64)
    off = (loc & np.uint64(0xFFFFFFFF)).astype(np.int64)
    buffers = reader.buffers
    bad = number >= len(buffers)
    number = np.where(bad, 0, number)
    filled = np.array([min(b.disk_size, b.filled) if not b.compressed else b.filled for b in buffers] or [0],
                      dtype=np.int64)
    compressed = np.array([b.compressed for b in buffers] or [False], dtype=bool)
    file_off = np.array([b.file_offset for b in buffers] or [0], dtype=np.int64)
    bad |= (off + length > filled[number]) | (length <= 0)
    length = np.where(bad, 0, length)
    order = np.argsort(number, kind="stable")  # buffer by buffer, records in index order within
    start = np.zeros(n, dtype=np.int64)
    parts: list[np.ndarray] = []
    pos = 0
    # uncompressed buffers: straight from the file
    plain = order[~compressed[number[order]]]
    if len(plain):
        u8 = np.frombuffer(reader.buf, dtype=np.uint8)
        absolute = file_off[number[plain]] + off[plain]
        ok = absolute + length[plain] <= len(u8)
        bad[plain[~ok]] = True
        length[plain[~ok]] = 0
        parts.append(_spans(u8, absolute, length[plain]))
        start[plain] = pos + np.concatenate([[0], np.cumsum(length[plain])[:-1]])
        pos += int(length[plain].sum())
    packed = order[compressed[number[order]]]
    if len(packed):
        nums, first = np.unique(number[packed], return_index=True)
        bounds = [*first.tolist(), len(packed)]
        jobs: list[tuple[list[BufferInfo], list[np.ndarray], list[np.ndarray], list[np.ndarray]]] = []
        cur: tuple[list[BufferInfo], list[np.ndarray], list[np.ndarray], list[np.ndarray]] = ([], [], [], [])
        acc = 0
        for j, num in enumerate(nums.tolist()):
            sel = packed[bounds[j] : bounds[j + 1]]
            info = buffers[num]
            cur[0].append(info)
            cur[1].append(off[sel])
            cur[2].append(length[sel])
            cur[3].append(sel)
            acc += info.disk_size
            if acc >= JOB_BYTES:
                jobs.append(cur)
                cur, acc = ([], [], [], []), 0
        if cur[0]:
            jobs.append(cur)
        total = sum(buffers[int(x)].disk_size for x in nums)
        for (blob, good), job in zip(_run(reader, jobs, total), jobs, strict=True):
            arr = np.frombuffer(blob, dtype=np.uint8)
            at = 0
            for ok_buf, sel, ln in zip(good, job[3], job[2], strict=True):
                start[sel] = pos + at + np.concatenate([[0], np.cumsum(ln)[:-1]])
                if not ok_buf:
                    bad[sel] = True
                at += int(ln.sum())
            parts.append(arr)
            pos += len(arr)
    blob = np.concatenate(parts) if parts else np.zeros(0, dtype=np.uint8)
    return blob, start, np.where(bad, 0, length), bad


def _run(reader: Any, jobs: list[Any], total: int) -> list[tuple[bytes, list[bool]]]:
    pool = None
    if len(jobs) > 1 and total >= POOL_MIN_COMPRESSED and (os.cpu_count() or 1) > 1:
        from .reader import _start_pool

        pool = _start_pool()
    if pool is None:
        return [inflate_job(reader.buf, j[0], j[1], j[2]) for j in jobs]
    try:
        futures = [pool.submit(inflate_job, reader.path, j[0], j[1], j[2]) for j in jobs]
        out = []
        for fut, j in zip(futures, jobs, strict=True):
            try:
                out.append(fut.result())
            except Exception:  # noqa: BLE001 — a worker that died: do its part here
                out.append(inflate_job(reader.buf, j[0], j[1], j[2]))
        return out
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
