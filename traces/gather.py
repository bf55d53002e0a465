"""Gather fixed-size integers at many unaligned file offsets at once.

NumPy can only view a buffer as u16/u32/u64 from an offset that is a multiple of the item size;
keeping one view per alignment and indexing the right one turns "read a u32 at each of these
200,000 offsets" into a handful of gathers instead of a byte-by-byte reassembly.  Positions are
clipped into the buffer: callers check bounds themselves and ignore values read for rows that
fail them.
"""

from __future__ import annotations

import numpy as np


class Gather:
    def __init__(self, buf: object) -> None:
        self.u8 = np.frombuffer(buf, dtype=np.uint8)  # type: ignore[call-overload]
        self.size = len(self.u8)
        self._views: dict[tuple[str, int], np.ndarray] = {}

    def _view(self, dtype: str, k: int) -> np.ndarray:
        key = (dtype, k)
        v = self._views.get(key)
        if v is None:
            width = np.dtype(dtype).itemsize
            count = max(0, (self.size - k) // width)
            v = np.frombuffer(self.u8.data, dtype=dtype, count=count, offset=k) if count else np.zeros(1, dtype)
            self._views[key] = v
        return v

    def read(self, pos: np.ndarray, dtype: str) -> np.ndarray:
        """The ``dtype`` value (e.g. ``'<u4'``, ``'>u2'``) at each position, as int64."""
        width = np.dtype(dtype).itemsize
        pos = np.clip(np.asarray(pos, dtype=np.int64), 0, max(0, self.size - width))
        if width == 1:
            return self.u8[pos].astype(np.int64)
        if width == 2:  # two byte gathers beat the alignment split for 16-bit values
            hi, lo = self.u8[pos].astype(np.int64), self.u8[pos + 1].astype(np.int64)
            return (hi << 8) | lo if dtype[0] == ">" else (lo << 8) | hi
        out = np.empty(len(pos), dtype=np.int64)
        rem = pos % width
        for k in range(width):
            sel = np.flatnonzero(rem == k)
            if len(sel):
                out[sel] = self._view(dtype, k)[(pos[sel] - k) // width]
        return out

    def be16(self, pos: np.ndarray) -> np.ndarray:
        return self.read(pos, ">u2")

    def be32(self, pos: np.ndarray) -> np.ndarray:
        return self.read(pos, ">u4")
