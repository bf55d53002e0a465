"""Dictionary encoding of byte strings, for text field columns (``fieldcols.py``).

A builder gathers where each frame's string lies in some byte array; ``encode_bytes`` turns
those spans into a code per frame and a table of the distinct strings, converting only the
distinct ones to Python text.  Strings are told apart by a 64-bit hash of their bytes and length
(in C, ``etw/_xpress.c``; without the extension by hashing the rows of a zero-padded matrix of
them), every string checked against the first one with its hash, so a collision can never merge
two different strings.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from . import gather

#: strings longer than this are left to decoding (a padded matrix of them would not pay)
MAX_TEXT_BYTES = 512


try:  # span hashing in C (``etw/_xpress.c``); the padded-matrix row hash below is the fallback
    from .etw._xpress import span_hashes as _span_hashes
    from .etw._xpress import spans_equal as _spans_equal
except ImportError:  # pragma: no cover - depends on the build
    _span_hashes = _spans_equal = None


class Tables:
    """One table of distinct texts from the tables of several steps of a build (each step encodes
    its rows alone, so its temporaries stay bounded): ``add`` maps a step's codes to the merged
    table's."""

    def __init__(self) -> None:
        self._known: dict[str, int] = {}

    def add(self, codes: np.ndarray, present: np.ndarray, table: list[str]) -> np.ndarray:
        """``codes`` into ``table`` as codes into the merged table (0 where not ``present``)."""
        remap = np.array([self._known.setdefault(t, len(self._known)) for t in table] + [0], dtype=np.int32)
        return remap[np.where(present, codes, len(table))]

    @property
    def table(self) -> list[str]:
        return list(self._known)


def encode_bytes(u8: np.ndarray, start: np.ndarray, length: np.ndarray,
                 to_text: Callable[[bytes], str], native: bool = True) -> tuple[np.ndarray, list[str], np.ndarray]:
    """Dictionary-encode the byte strings ``u8[start:start+length]`` (one per row).

    Returns (codes into the table, table of distinct texts, rows too long to encode).  Each string
    is hashed to 64 bits with its length (in C; without the extension, or ``native=False``, the
    strings are gathered into a zero-padded matrix whose rows are hashed); rows sharing a hash
    are checked against the first of them, and only the distinct strings become Python text.
    """
    n = len(start)
    too_long = length > MAX_TEXT_BYTES
    if n == 0:
        return np.zeros(0, dtype=np.int32), [], too_long
    length = np.where(too_long, 0, length).astype(np.int64)
    if native and _span_hashes is not None:
        got = _encode_native(u8, np.ascontiguousarray(start, dtype=np.int64), length, to_text)
        if got is not None:
            return got[0], got[1], too_long
    width = max(1, int(length.max()))
    width = (width + 7) & ~7
    codes = np.empty(n, dtype=np.int32)
    texts: dict[str, int] = {}
    table: list[str] = []
    step = max(1, (64 << 20) // (width + 8))  # bound the padded matrix to ~64 MB
    cols = np.arange(width, dtype=np.int64)
    for a in range(0, n, step):
        b = min(n, a + step)
        st, ln = start[a:b].astype(np.int64), length[a:b]
        mat = np.zeros((b - a, width + 8), dtype=np.uint8)
        mat[:, :width] = rows_at(u8, st, width)
        mat[:, :width] *= cols[None, :] < ln[:, None]
        mat[:, width:] = ln.astype("<u8").view(np.uint8).reshape(-1, 8)
        first, inv = unique_rows(mat)
        local = np.empty(len(first), dtype=np.int32)
        for j, f in enumerate(first.tolist()):
            local[j] = _code(texts, table, to_text(bytes(mat[f, : int(ln[f])])))
        codes[a:b] = local[inv.reshape(-1)]
    return codes, table, too_long


def _code(texts: dict[str, int], table: list[str], text: str) -> int:
    code = texts.get(text)
    if code is None:
        code = texts[text] = len(table)
        table.append(text)
    return code


def encode_rows(u8: np.ndarray, rows: np.ndarray, start: np.ndarray, length: np.ndarray, n: int,
                to_text: Callable[[bytes], str]) -> tuple[np.ndarray, list[str], np.ndarray]:
    """``encode_bytes`` for ``rows`` of ``n`` (their strings ``u8[start:start+length]``, one per row of
    ``rows``): the codes of all ``n`` rows (0 where none), the table, and the rows whose string is
    too long to encode (a builder leaves those to decoding)."""
    c, table, too_long = encode_bytes(u8, start, length, to_text)
    codes = np.zeros(n, dtype=np.int32)
    codes[rows] = c
    return codes, table, rows[too_long]


def _encode_native(u8: np.ndarray, start: np.ndarray, length: np.ndarray,
                   to_text: Callable[[bytes], str]) -> tuple[np.ndarray, list[str]] | None:
    """``encode_bytes`` by C span hashes; None when a span lies outside ``u8`` or two different
    strings share a hash (the matrix path decides then)."""
    h = np.empty(len(start), dtype=np.uint64)
    try:
        _span_hashes(u8, start, length, h)  # type: ignore[misc]
    except ValueError:
        return None
    _, first, inv = np.unique(h, return_index=True, return_inverse=True)
    inv = inv.reshape(-1)
    rep = first[inv]
    same = np.empty(len(start), dtype=np.uint8)
    _spans_equal(u8, start, np.ascontiguousarray(start[rep]), length, same)  # type: ignore[misc]
    if not (same.all() and np.array_equal(length, length[rep])):
        return None
    texts: dict[str, int] = {}
    table: list[str] = []
    local = np.array([_code(texts, table, to_text(bytes(u8[s : s + k])))
                      for s, k in zip(start[first].tolist(), length[first].tolist(), strict=True)], dtype=np.int32)
    return local[inv], table


def rows_at(u8: np.ndarray, start: np.ndarray, width: int) -> np.ndarray:
    """``u8[start[k]:start[k]+width]`` as the rows of a matrix (zeros past the end of ``u8``;
    a negative start reads from 0): one copy per row in C (``gather.rows_at``)."""
    return gather.rows_at(u8, start, width, pad=True)


_MIX = np.uint64(0x9E3779B97F4A7C15)


def _row_hashes(words: np.ndarray) -> np.ndarray:
    """A 64-bit hash of each row of a (rows, k) uint64 matrix."""
    h = np.zeros(len(words), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for k in range(words.shape[1]):
            h = (h ^ words[:, k]) * _MIX
            h ^= h >> np.uint64(29)
    return h


def unique_rows(mat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(first row of each distinct row, distinct index of every row) of a uint8 matrix whose
    width is a multiple of 8.  Rows are hashed to 64 bits (sorting integers is far faster than
    sorting wide rows) and each row is compared with its hash's first row; should two different
    rows ever share a hash, the exact sort of whole rows decides instead (and then the distinct
    rows come in the order their bytes sort)."""
    words = np.ascontiguousarray(mat).view("<u8")
    _, first, inv = np.unique(_row_hashes(words), return_index=True, return_inverse=True)
    inv = inv.reshape(-1)
    if np.array_equal(words, words[first[inv]]):
        return first, inv
    rows = np.ascontiguousarray(mat).view(f"V{mat.shape[1]}").reshape(-1)
    _, first, inv = np.unique(rows, return_index=True, return_inverse=True)
    return first, inv.reshape(-1)
