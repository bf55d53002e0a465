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


def hits(buf: Any, lo: int, hi: int, needle: bytes, ignore_case: bool) -> np.ndarray:
    """Every position in ``buf[lo:hi]`` where ``needle`` starts (``buf``: anything with ``find``
    and slicing to bytes, such as ``bytes`` or ``mmap``); ASCII letters in any case with
    ``ignore_case``."""
    found: list[int] = []
    size = len(needle)
    if not ignore_case:
        find = buf.find
        pos = lo
        while True:
            at = find(needle, pos, hi)
            if at < 0:
                break
            found.append(at)
            pos = at + 1
    else:  # bytes.lower folds ASCII letters only: as re.IGNORECASE does for a bytes pattern
        low = needle.lower()
        for ws in range(lo, hi, WINDOW):
            limit = min(hi, ws + WINDOW)
            piece = bytes(buf[ws : min(hi, limit + size - 1)]).lower()
            at = piece.find(low)
            while 0 <= at and ws + at < limit:
                found.append(ws + at)
                at = piece.find(low, at + 1)
    return np.array(found, dtype=np.int64)


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
    for needle in needles:
        at = hits(buf, lo, hi, needle, ignore_case)
        if not len(at):
            continue
        row = np.searchsorted(start, at, side="right") - 1
        safe = np.maximum(row, 0)
        inside = (row >= 0) & (at + len(needle) <= start[safe] + length[safe])
        found[row[inside]] = True
    return found
