"""Three-valued (Kleene) logic over NumPy arrays: true, false, or not known from the index.

The index answers most conditions for most frames; where it cannot (a frame with an ICMP error
inside, a protocol without a presence bit) the condition is *unknown* for that frame.  AND, OR
and NOT combine such answers exactly (false AND unknown is false), and only the frames whose
final answer is unknown are decoded.  ``None`` stands for "unknown everywhere".
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class Tri(NamedTuple):
    val: np.ndarray  # bool; meaningful where ``known``
    known: np.ndarray  # bool


def const(n: int, value: bool) -> Tri:
    return Tri(np.full(n, value, dtype=bool), np.ones(n, dtype=bool))


def exact(val: np.ndarray) -> Tri:
    return Tri(np.asarray(val, dtype=bool), np.ones(len(val), dtype=bool))


def absent_false(t: Tri | None, present: np.ndarray | None, n: int) -> Tri | None:
    """Where the operand is known to be absent the condition is known false."""
    if present is None:
        return t
    if t is None:
        return Tri(np.zeros(n, dtype=bool), ~present)
    known = t.known | ~present
    return Tri(t.val & present, known)


def and3(a: Tri | None, b: Tri | None, n: int) -> Tri | None:
    if a is None and b is None:
        return None
    if a is None:
        return Tri(b.val & b.known, b.known & ~b.val)  # type: ignore[union-attr]
    if b is None:
        return Tri(a.val & a.known, a.known & ~a.val)
    av, ak, bv, bk = a.val, a.known, b.val, b.known
    val = av & bv & ak & bk
    known = (ak & bk) | (ak & ~av) | (bk & ~bv)
    return Tri(val, known)


def or3(a: Tri | None, b: Tri | None, n: int) -> Tri | None:
    if a is None and b is None:
        return None
    if a is None:
        return Tri(b.val & b.known, b.known & b.val)  # type: ignore[union-attr]
    if b is None:
        return Tri(a.val & a.known, a.known & a.val)
    at = a.val & a.known
    bt = b.val & b.known
    val = at | bt
    known = (a.known & b.known) | at | bt
    return Tri(val, known)


def not3(a: Tri | None) -> Tri | None:
    if a is None:
        return None
    return Tri(~a.val & a.known, a.known)
