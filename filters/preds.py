"""The predicates a filter compiles to, and the byte search they share.

A predicate answers two ways.  ``vec`` answers a chunk of frames from the index columns with
three-valued logic (``tri.py``), None where it cannot; ``test`` decides one decoded frame, is
the definition of the semantics, and runs only for the frames ``vec`` left unknown.  ``Leaf``
compares operands (``operands.py``) with a test (``values.py``); ``Exists`` is a bare name;
``Relation`` compares two fields of the same frame; ``FrameBytes`` searches the frame's bytes;
``NotP``/``AndP``/``OrP`` combine.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from ..traces.bytesearch import rows_holding
from . import tri as T
from .indexed import Chunk, packet_offsets
from .operands import FrameCtx, Operand
from .tri import Tri
from .values import OPS, Test

# -- predicates -------------------------------------------------------------------------------

class Pred:
    index_only = False

    def vec(self, ch: Chunk) -> Tri | None:
        return None

    def test(self, fc: FrameCtx) -> bool:
        raise NotImplementedError

    def leaves(self) -> list[Pred]:
        return [self]


@dataclass(eq=False)
class Leaf(Pred):
    """``operand <test>`` for any instance of the operand."""

    operand: Operand
    check: Test

    def __post_init__(self) -> None:
        self.index_only = self.operand.index_only

    def vec(self, ch: Chunk) -> Tri | None:
        return self.operand.test_vec(ch, self.check)

    def test(self, fc: FrameCtx) -> bool:
        py = self.check.py
        return any(py(v) for v in self.operand.values(fc))


@dataclass(eq=False)
class Exists(Pred):
    operand: Operand

    def __post_init__(self) -> None:
        self.index_only = self.operand.index_only

    def vec(self, ch: Chunk) -> Tri | None:
        return self.operand.exists_vec(ch)

    def test(self, fc: FrameCtx) -> bool:
        return bool(self.operand.values(fc))


@dataclass(eq=False)
class Relation(Pred):
    """``left op right`` between two operands that are not both literals (field vs field)."""

    left: Operand
    op: str
    right: Operand

    def vec(self, ch: Chunk) -> Tri | None:
        a, b = self.left.possible(ch), self.right.possible(ch)
        if a is None and b is None:
            return None
        present = a if b is None else b if a is None else a & b
        return Tri(np.zeros(ch.n, dtype=bool), ~present)

    def test(self, fc: FrameCtx) -> bool:
        fn = OPS[self.op]
        rights = [v.casefold() if isinstance(v, str) else v for v in self.right.values(fc)]
        for a in self.left.values(fc):
            if isinstance(a, str):
                a = a.casefold()
            for b in rights:
                try:
                    if fn(a, b):
                        return True
                except TypeError:
                    continue
        return False


@dataclass(eq=False)
class FrameBytes(Pred):
    """``ContainsBin(FrameData, …)`` / ``contains "…"``: a byte search in the raw frame."""

    needles: list[bytes]
    ignore_case: bool = False

    def __post_init__(self) -> None:
        flags = re.IGNORECASE if self.ignore_case else 0
        self._patterns = [re.compile(re.escape(n), flags) for n in self.needles]

    def vec(self, ch: Chunk) -> Tri | None:
        return _buffer_search(ch, self.needles, self.ignore_case)

    def test(self, fc: FrameCtx) -> bool:
        raw = fc.raw
        if self.ignore_case:
            return any(p.search(raw) is not None for p in self._patterns)
        return any(n in raw for n in self.needles)


@dataclass(eq=False)
class Const(Pred):
    value: bool

    def __post_init__(self) -> None:
        self.index_only = True

    def vec(self, ch: Chunk) -> Tri | None:
        return T.const(ch.n, self.value)

    def test(self, fc: FrameCtx) -> bool:
        return self.value


@dataclass(eq=False)
class NotP(Pred):
    operand: Pred

    def __post_init__(self) -> None:
        self.index_only = self.operand.index_only

    def vec(self, ch: Chunk) -> Tri | None:
        return T.not3(self.operand.vec(ch))

    def test(self, fc: FrameCtx) -> bool:
        return not self.operand.test(fc)

    def leaves(self) -> list[Pred]:
        return self.operand.leaves()


@dataclass(eq=False)
class _Junction(Pred):
    """AND or OR over ``items``, chunk by chunk: the three-valued results are joined in order
    until one settles the answer (``_settled``), then the rest are not asked."""

    items: list[Pred]

    def __post_init__(self) -> None:
        self.index_only = all(x.index_only for x in self.items)

    def vec(self, ch: Chunk) -> Tri | None:
        acc: Tri | None = None
        for n, x in enumerate(self.items):
            t = x.vec(ch)
            acc = t if n == 0 else self._join(acc, t, ch.n)
            if acc is not None and self._settled(acc):
                break
        return acc

    def leaves(self) -> list[Pred]:
        return [leaf for x in self.items for leaf in x.leaves()]

    @staticmethod
    def _join(a: Tri | None, b: Tri | None, n: int) -> Tri | None:
        raise NotImplementedError

    @staticmethod
    def _settled(acc: Tri) -> bool:
        raise NotImplementedError


class AndP(_Junction):
    _join = staticmethod(T.and3)

    @staticmethod
    def _settled(acc: Tri) -> bool:
        return not acc.val.any() and bool(acc.known.all())  # all false already

    def test(self, fc: FrameCtx) -> bool:
        return all(x.test(fc) for x in self.items)


class OrP(_Junction):
    _join = staticmethod(T.or3)

    @staticmethod
    def _settled(acc: Tri) -> bool:
        return bool(acc.val.all())  # all true already

    def test(self, fc: FrameCtx) -> bool:
        return any(x.test(fc) for x in self.items)


# -- the raw-bytes search over many frames at once --------------------------------------------

def _buffer_search(ch: Chunk, needles: list[bytes], ignore_case: bool) -> Tri | None:
    """Search the bytes of the chunk's frames at once (``traces/bytesearch.py``): a packet file's
    mapping where the reader keeps packets in place, an ETL trace's records (``etw/search.py``);
    None where neither holds (each frame is then searched by itself)."""
    if ch.n == 0:
        return None
    rows = np.arange(ch.start, ch.start + ch.n)
    loc = packet_offsets(ch.trace, rows)
    if loc is None:
        if getattr(ch.trace, "format", "") != "etl" or getattr(ch.trace.reader, "buffers", None) is None:
            return None
        from ..traces.etw.search import records_holding

        val, known = records_holding(ch.trace.reader, rows, needles, ignore_case)
        return Tri(val, known)
    found = rows_holding(ch.trace.buf, loc, ch.col("length"), needles, ignore_case)
    return None if found is None else T.exact(found)
