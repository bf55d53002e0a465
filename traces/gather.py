"""Gather fixed-size integers at many unaligned file offsets at once.

"Read a u32 at each of these 200,000 offsets" is one byte gather per byte of the value into a
(rows × width) array that NumPy then reads as the integer type: a handful of array operations
instead of a Python loop (and faster than indexing one view of the buffer per alignment).  Positions are
clipped into the buffer: callers check bounds themselves and ignore values read for rows that
fail them.
"""

from __future__ import annotations

import numpy as np

try:  # the row copy in C (``_scan.c``), built at install time when a compiler is there
    from ._scan import gather_rows as _native_rows
except ImportError:  # pragma: no cover - exercised where no compiler was available
    _native_rows = None


def rows_at(u8: np.ndarray, pos: np.ndarray, width: int, *, pad: bool = False) -> np.ndarray:
    """The ``width`` bytes at each position (rows × width, uint8; a negative position reads from
    0).  A row that would run past the buffer is moved back into it (callers check bounds and
    ignore such rows; a buffer shorter than ``width`` gives zeros), or with ``pad`` holds the
    bytes up to the end and then zeros."""
    pos = np.ascontiguousarray(pos, dtype=np.int64)
    if _native_rows is not None and u8.flags.c_contiguous:
        return np.frombuffer(_native_rows(u8, pos, width, pad), dtype=np.uint8).reshape(len(pos), width)
    return rows_at_numpy(u8, pos, width, pad=pad)


def rows_at_numpy(u8: np.ndarray, pos: np.ndarray, width: int, *, pad: bool = False) -> np.ndarray:
    """``rows_at`` in NumPy: the fallback, and the reference the C copy is tested against."""
    size = len(u8)
    if pad:  # zeros past the end: read from a copy of the tail with ``width`` zeros after it
        start = np.maximum(np.asarray(pos, dtype=np.int64), 0)
        late = start > size - width
        out = rows_at_numpy(u8, np.minimum(start, max(0, size - width)), width) if size >= width \
            else np.zeros((len(start), width), dtype=np.uint8)
        if late.any():
            base = max(0, size - width)
            tail = np.concatenate([u8[base:], np.zeros(width, dtype=np.uint8)])
            out[late] = rows_at_numpy(tail, np.minimum(start[late] - base, len(tail) - width), width)
        return out
    if size < width:
        return np.zeros((len(pos), width), dtype=np.uint8)
    start = np.clip(np.asarray(pos, dtype=np.int64), 0, size - width)
    out = np.empty((len(pos), width), dtype=np.uint8)
    for k in range(width):  # one gather per byte column: no rows × width index temporary
        out[:, k] = u8[start + k]
    return out


class Gather:
    def __init__(self, buf: object) -> None:
        self.u8 = np.frombuffer(buf, dtype=np.uint8)  # type: ignore[call-overload]
        self.size = len(self.u8)

    def read(self, pos: np.ndarray, dtype: str) -> np.ndarray:
        """The ``dtype`` value (e.g. ``'<u4'``, ``'>u2'``) at each position, as int64."""
        width = np.dtype(dtype).itemsize
        pos = np.clip(np.asarray(pos, dtype=np.int64), 0, max(0, self.size - width))
        if width == 1:
            return self.u8[pos].astype(np.int64)
        if width == 2:  # two byte gathers beat the alignment split for 16-bit values
            hi, lo = self.u8[pos].astype(np.int64), self.u8[pos + 1].astype(np.int64)
            return (hi << 8) | lo if dtype[0] == ">" else (lo << 8) | hi
        if self.size < width:
            return np.zeros(len(pos), dtype=np.int64)
        # wider values: rows of ``width`` bytes (one copy each in C, or one gather per byte), read
        # as ``dtype`` (far faster than gathering from one view per alignment of the buffer)
        return rows_at(self.u8, pos, width).view(dtype).ravel().astype(np.int64)

    def byte(self, pos: np.ndarray) -> np.ndarray:
        return self.read(pos, "u1")

    def be16(self, pos: np.ndarray) -> np.ndarray:
        return self.read(pos, ">u2")

    def be32(self, pos: np.ndarray) -> np.ndarray:
        return self.read(pos, ">u4")
