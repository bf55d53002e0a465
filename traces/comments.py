"""Which frames carry a comment, known without decoding them.

Frame comments (pcapng ``opt_comment``, Netmon 2.x's comment table) are few and wanted fast: the
list marks commented frames and ``Frame.Comment`` filters find them among millions.  The readers
learn where comments are while they scan (pcapng: the offsets of the blocks with a comment
option; Netmon: the frame offsets its comment table names), so the rows are the index rows whose
``loc`` is one of those offsets: one binary search per row, once per trace, cached until the index grows.
"""

from __future__ import annotations

import struct
import threading
import weakref
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .trace import Trace

#: formats whose records never carry a comment
NO_COMMENTS = ("pcap", "etl")

_CACHE: weakref.WeakKeyDictionary[Any, tuple[tuple[int, int], np.ndarray]] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def comment_offsets(trace: Trace) -> list[int] | None:
    """File offsets (index ``loc`` values) of the records with a comment; None when the reader
    cannot tell without decoding (an unknown reader, an index cache written before it could)."""
    if trace.format in NO_COMMENTS:
        return []
    reader = trace.reader
    locs = getattr(reader, "comment_locs", None)
    if isinstance(locs, list):
        return locs
    table = getattr(reader, "comments", None)  # Netmon: frame offset → comments
    if isinstance(table, dict):
        return list(table)
    return None


def comment_rows(trace: Trace) -> np.ndarray | None:
    """Sorted row numbers of the frames with a comment (None: unknown, decode to find out)."""
    locs = comment_offsets(trace)
    if locs is None:
        return None
    n = len(trace.index)
    stamp = (n, len(locs))
    with _LOCK:
        hit = _CACHE.get(trace)
        if hit is not None and hit[0] == stamp:
            return hit[1]
    if not locs or not n:
        rows = np.zeros(0, dtype=np.int64)
    else:
        # a handful of offsets against millions of rows: binary search beats isin's sort of both
        loc = trace.index.loc[:n]
        wanted = np.array(sorted(set(locs)), dtype=np.uint64)  # (np.unique imports a module: 60 ms)
        at = np.minimum(np.searchsorted(wanted, loc), len(wanted) - 1)
        rows = np.flatnonzero(wanted[at] == loc)
    with _LOCK:
        _CACHE[trace] = (stamp, rows)
    return rows


_TITLES: weakref.WeakKeyDictionary[Any, dict[int, list[str]]] = weakref.WeakKeyDictionary()
#: where a Netmon 2.x header keeps the comment table's offset and length
_NETMON_COMMENT_TABLE = struct.Struct("<II")
_NETMON_COMMENT_TABLE_AT = 40


def comment_titles(trace: Trace, i: int) -> list[str] | None:
    """The titles of frame ``i``'s comments where the format gives a comment a title (Netmon 2.2+,
    whose comments the frame holds as "Title: text", which cannot be split back safely: titles
    hold ": " too); None for formats whose comments have no title."""
    reader = trace.reader
    if trace.format != "netmon" or (getattr(reader, "major", 0), getattr(reader, "minor", 0)) < (2, 2):
        return None
    with _LOCK:
        titles = _TITLES.get(trace)
    if titles is None:
        from .netmon_tables import read_comments

        buf = reader.buf
        off, length = _NETMON_COMMENT_TABLE.unpack_from(buf, _NETMON_COMMENT_TABLE_AT)
        table = read_comments(buf, off, length)
        titles = {loc: [c.title for c in entries] for loc, entries in table.by_offset.items()}
        with _LOCK:
            _TITLES[trace] = titles
    return list(titles.get(int(trace.index.loc[i]), []))


def comment_mask(trace: Trace, start: int, stop: int) -> np.ndarray | None:
    """Rows ``start:stop`` as a bool mask, True where the frame has a comment (None: unknown)."""
    rows = comment_rows(trace)
    if rows is None:
        return None
    mask = np.zeros(max(0, stop - start), dtype=bool)
    lo, hi = np.searchsorted(rows, [start, stop])
    mask[rows[lo:hi] - start] = True
    return mask


def has_comment(trace: Trace, i: int) -> bool | None:
    """Whether row ``i`` has a comment (None: unknown)."""
    rows = comment_rows(trace)
    if rows is None:
        return None
    k = int(np.searchsorted(rows, i))
    return k < len(rows) and int(rows[k]) == i
