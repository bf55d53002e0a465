"""Gather fixed-size integers at many unaligned file offsets at once.

"Read a u32 at each of these 200,000 offsets" is one byte gather per byte of the value into a
(rows × width) array that NumPy then reads as the integer type: a handful of array operations
instead of a Python loop (and faster than indexing one view of the buffer per alignment).  Positions are
clipped into the buffer: callers check bounds themselves and ignore values read for rows that
fail them.
"""

from __future__ import annotations

import numpy as np


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
        # wider values: one byte gather per byte into rows of ``width`` bytes, read as ``dtype``
        # (about three times faster than gathering from one view per alignment of the buffer)
        raw = np.empty((len(pos), width), dtype=np.uint8)
        u8 = self.u8
        for k in range(width):
            raw[:, k] = u8[pos + k]
        return raw.view(dtype).ravel().astype(np.int64)

    def be16(self, pos: np.ndarray) -> np.ndarray:
        return self.read(pos, ">u2")

    def be32(self, pos: np.ndarray) -> np.ndarray:
        return self.read(pos, ">u4")
