"""Which records hold a byte string: one search over many records' bytes laid end to end.

``contains "…"`` and ``ContainsBin(FrameData, …)`` ask, for every frame, whether its bytes hold a
needle.  Asking frame by frame is a Python call each; here the bytes that hold many records (a
packet file's mapping, a chunk of inflated ETL records) are searched once, at C speed
(``bytes.find``, or ``bytes.lower`` a window at a time for any letter case), and each hit is given
to the record it lies in.  A hit counts only if it lies wholly inside one record, and every start
position is tried, so a hit straddling two records cannot hide one inside the next.
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: bytes lowered at a time for a search in any letter case
WINDOW = 16 << 20


def hits(buf: Any, lo: int, hi: int, needles: list[bytes], ignore_case: bool) -> list[np.ndarray]:
    """For each of ``needles``, every position in ``buf[lo:hi]`` where it starts (``buf``:
    anything with ``find`` and slicing to bytes, such as ``bytes`` or ``mmap``); ASCII letters in
    any case with ``ignore_case``, each window of the buffer lowered once for all the needles."""
    found: list[list[int]] = [[] for _ in needles]
    if not ignore_case:
        find = buf.find
        for needle, out in zip(needles, found, strict=True):
            pos = lo
            while True:
                at = find(needle, pos, hi)
                if at < 0:
                    break
                out.append(at)
                pos = at + 1
    else:  # bytes.lower folds ASCII letters only: as re.IGNORECASE does for a bytes pattern
        lows = [needle.lower() for needle in needles]
        longest = max((len(x) for x in lows), default=1)
        for ws in range(lo, hi, WINDOW):
            limit = min(hi, ws + WINDOW)
            piece = bytes(buf[ws : min(hi, limit + longest - 1)]).lower()
            for low, out in zip(lows, found, strict=True):
                at = piece.find(low)
                while 0 <= at and ws + at < limit:
                    out.append(ws + at)
                    at = piece.find(low, at + 1)
    return [np.array(x, dtype=np.int64) for x in found]


def rows_holding(buf: Any, start: np.ndarray, length: np.ndarray, needles: list[bytes],
                 ignore_case: bool) -> np.ndarray | None:
    """Per record ``buf[start[k] : start[k] + length[k]]``: does it hold any of ``needles``?
    None unless the records lie in ascending order without overlapping (the caller then asks
    record by record)."""
    n = len(start)
    found = np.zeros(n, dtype=bool)
    if n == 0:
        return found
    start = start.astype(np.int64)
    length = length.astype(np.int64)
    if n > 1 and not bool(np.all(start[1:] >= start[:-1] + length[:-1])):
        return None
    lo, hi = int(start[0]), int(start[-1] + length[-1])
    for needle, at in zip(needles, hits(buf, lo, hi, needles, ignore_case), strict=True):
        if not len(at):
            continue
        row = np.searchsorted(start, at, side="right") - 1
        safe = np.maximum(row, 0)
        inside = (row >= 0) & (at + len(needle) <= start[safe] + length[safe])
        found[row[inside]] = True
    return found
