"""Operands of conditions: registry fields, pseudo-fields, constants and arithmetic.

Every operand answers two ways: ``values(fc)`` on one decoded frame (the definition: all
instances of the field, pair fields giving both sides), and, where the index can tell, the
vectorised ``test_vec``/``exists_vec``/``possible`` over a chunk of frames.  A vectorised answer
may leave frames unknown (``tri.Tri.known`` False); those are decoded.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..traces.fields import FieldDef, FieldType
from . import tri as T
from .indexed import Chunk, FastField, Presence, decoder
from .tri import Tri
from .values import Test


class FrameCtx:
    """One frame being tested on the decoding path: the frame is decoded on first use."""

    __slots__ = ("_frame", "_raw", "cache", "i", "trace")

    def __init__(self, trace: Any, i: int, cache: Any = None) -> None:
        self.trace = trace
        self.i = i
        self.cache = cache  # a TraceState whose small frame LRU to use (single-frame matching)
        self._frame: Any = None
        self._raw: bytes | None = None

    @property
    def frame(self) -> Any:
        if self._frame is None:
            if self.cache is not None:
                self._frame = self.cache.frame(self.trace, self.i)
            else:
                self._frame = decoder(self.trace)(self.i)
        return self._frame

    @property
    def raw(self) -> bytes:
        if self._raw is None:
            self._raw = bytes(self.trace.raw(self.i))
        return self._raw


class Operand:
    type: FieldType = FieldType.UINT
    label: str = ""
    enum: Any = None
    #: the vectorised answers leave no frame unknown
    index_only: bool = False

    @property
    def names(self) -> set[str]:
        return {self.label}

    def values(self, fc: FrameCtx) -> list[Any]:
        raise NotImplementedError

    def test_vec(self, ch: Chunk, test: Test) -> Tri | None:
        return T.absent_false(None, self.possible(ch), ch.n)

    def exists_vec(self, ch: Chunk) -> Tri | None:
        p = self.possible(ch)
        return None if p is None else Tri(np.zeros(ch.n, dtype=bool), ~p)

    def possible(self, ch: Chunk) -> np.ndarray | None:
        """False where the operand is certainly absent (None: no idea)."""
        return None

    def sample_values(self, trace: Any, limit: int) -> list[Any]:
        """Values seen in the trace, for autocomplete (cheap ones only)."""
        return []


@dataclass(eq=False)
class FieldOperand(Operand):
    """A name from the field registry (a protocol, event, field or pair field)."""

    fdef: FieldDef
    presence: Presence | None = None
    fast: FastField | None = None
    parts: list[FieldOperand] = field(default_factory=list)  # the two sides of a pair field

    def __post_init__(self) -> None:
        self.type = self.fdef.type
        self.label = self.fdef.name
        self.enum = self.fdef.enum
        if self.parts:
            self.index_only = all(p.index_only for p in self.parts)
        else:
            p = self.presence
            self.index_only = bool(self.fdef.type is FieldType.PROTOCOL and p is not None and p.exact
                                   and not p.by_version)

    @property
    def names(self) -> set[str]:
        out = {self.fdef.name}
        for p in self.parts:
            out |= p.names
        return out

    def values(self, fc: FrameCtx) -> list[Any]:
        return [f.value for f in fc.frame.fields(self.fdef.name)]

    def possible(self, ch: Chunk) -> np.ndarray | None:
        if self.parts:
            ps = [p.possible(ch) for p in self.parts]
            if any(p is None for p in ps):
                return None
            out = ps[0].copy()  # type: ignore[union-attr]
            for p in ps[1:]:
                out |= p  # type: ignore[operator]
            return out
        return self.presence.possible(ch) if self.presence is not None else None

    def test_vec(self, ch: Chunk, test: Test) -> Tri | None:
        if self.parts:
            acc: Tri | None = None
            for i, p in enumerate(self.parts):
                t = p.test_vec(ch, test)
                acc = t if i == 0 else T.or3(acc, t, ch.n)
            return acc
        t = self.fast.test(ch, test) if self.fast is not None else self._column_test(ch, test)
        return T.absent_false(t, self.possible(ch), ch.n)

    def _column_test(self, ch: Chunk, test: Test) -> Tri | None:
        """The test over the field's column (``traces/fieldcols.py``), built on first use."""
        col = ch.field_column(self.fdef)
        if col is None:
            return None
        m, known = col.match(ch.start, ch.stop, test.py, test.np)
        return Tri(m, known)

    def exists_vec(self, ch: Chunk) -> Tri | None:
        if self.parts:
            acc: Tri | None = None
            for i, p in enumerate(self.parts):
                t = p.exists_vec(ch)
                acc = t if i == 0 else T.or3(acc, t, ch.n)
            return acc
        if self.fast is not None:
            return T.absent_false(self.fast.exists(ch), self.possible(ch), ch.n)
        col = ch.field_column(self.fdef) if self.fdef.type is not FieldType.PROTOCOL else None
        if col is not None:
            return T.absent_false(Tri(*col.present(ch.start, ch.stop)), self.possible(ch), ch.n)
        if self.presence is not None:
            return self.presence.exists(ch)
        return None

    def sample_values(self, trace: Any, limit: int) -> list[Any]:
        if self.parts:
            out: list[Any] = []
            for p in self.parts:
                out += [v for v in p.sample_values(trace, limit) if v not in out]
            return sorted(out)[:limit]
        if self.fast is not None:
            return self.fast.values(trace, limit)
        from ..traces.fieldcols import columns_for

        try:
            col = columns_for(trace).peek(self.fdef)  # a column already built; never built for this
        except TypeError:
            return []
        return sorted(col.table)[:limit] if col is not None and col.is_text else []


@dataclass(eq=False)
class MultiOperand(Operand):
    """A ``*Address`` wildcard: the union of the instances of several fields."""

    members: list[Operand]
    text: str = ""

    def __post_init__(self) -> None:
        self.label = self.text
        self.type = self.members[0].type if self.members else FieldType.UINT
        self.index_only = all(m.index_only for m in self.members)

    @property
    def names(self) -> set[str]:
        out: set[str] = set()
        for m in self.members:
            out |= m.names
        return out

    def values(self, fc: FrameCtx) -> list[Any]:
        out: list[Any] = []
        for m in self.members:
            out += m.values(fc)
        return out

    def possible(self, ch: Chunk) -> np.ndarray | None:
        acc = np.zeros(ch.n, dtype=bool)
        for m in self.members:
            p = m.possible(ch)
            if p is None:
                return None
            acc |= p
        return acc

    def test_vec(self, ch: Chunk, test: Test) -> Tri | None:
        acc: Tri | None = T.const(ch.n, False)
        for m in self.members:
            acc = T.or3(acc, m.test_vec(ch, test), ch.n)
        return acc

    def exists_vec(self, ch: Chunk) -> Tri | None:
        acc: Tri | None = T.const(ch.n, False)
        for m in self.members:
            acc = T.or3(acc, m.exists_vec(ch), ch.n)
        return acc


@dataclass(eq=False)
class NeverOperand(Operand):
    """A name that cannot occur in this trace (an ETW provider no schema or trace knows)."""

    text: str = ""
    ftype: FieldType = FieldType.PROTOCOL

    def __post_init__(self) -> None:
        self.label = self.text
        self.type = self.ftype
        self.index_only = True

    def values(self, fc: FrameCtx) -> list[Any]:
        return []

    def possible(self, ch: Chunk) -> np.ndarray | None:
        return np.zeros(ch.n, dtype=bool)


@dataclass(eq=False)
class PseudoOperand(Operand):
    """A Netmon pseudo-field (``FrameVariable.*``, ``Property.*``, ``ProtocolName`` …).

    ``per_frame`` gives the values of one frame; ``column`` (optional) gives the values of a
    chunk as an integer array with a presence mask, computed from the index, so both paths agree
    by construction.  ``text_codes`` is for string pseudo-fields backed by a small code table
    (``ProtocolName`` = ``trace.protocol_names[top]``).
    """

    name: str
    ftype: FieldType
    per_frame: Callable[[FrameCtx], list[Any]]
    column: Callable[[Chunk], tuple[np.ndarray, np.ndarray]] | None = None
    text_codes: Callable[[Chunk], tuple[np.ndarray, list[str], np.ndarray]] | None = None
    possible_fn: Callable[[Chunk], np.ndarray] | None = None
    samples: Callable[[Any, int], list[Any]] | None = None

    def __post_init__(self) -> None:
        self.label = self.name
        self.type = self.ftype
        self.index_only = self.column is not None

    def values(self, fc: FrameCtx) -> list[Any]:
        return self.per_frame(fc)

    def possible(self, ch: Chunk) -> np.ndarray | None:
        if self.column is not None:
            return self.column(ch)[1]
        return self.possible_fn(ch) if self.possible_fn is not None else None

    def test_vec(self, ch: Chunk, test: Test) -> Tri | None:
        if self.column is not None:
            vals, present = self.column(ch)
            r = test.np(vals)
            if r is not None:
                return T.exact(r & present)
            return None
        if self.text_codes is not None:
            codes, names, sure = self.text_codes(ch)
            ok = np.array([test.py(n) for n in names], dtype=bool)
            return Tri(ok[codes] & sure, sure)
        return T.absent_false(None, self.possible(ch), ch.n)

    def exists_vec(self, ch: Chunk) -> Tri | None:
        if self.column is not None:
            return T.exact(self.column(ch)[1])
        if self.text_codes is not None:
            return T.const(ch.n, True)
        return super().exists_vec(ch)

    def sample_values(self, trace: Any, limit: int) -> list[Any]:
        return self.samples(trace, limit) if self.samples is not None else []


@dataclass(eq=False)
class ConstOperand(Operand):
    """A literal used as an operand of arithmetic or a field-to-field comparison."""

    value: Any
    ftype: FieldType = FieldType.UINT

    def __post_init__(self) -> None:
        self.type = self.ftype
        self.label = repr(self.value)
        self.index_only = True

    @property
    def names(self) -> set[str]:
        return set()

    def values(self, fc: FrameCtx) -> list[Any]:
        return [self.value]

    def possible(self, ch: Chunk) -> np.ndarray | None:
        return np.ones(ch.n, dtype=bool)


_ARITH: dict[str, Callable[[Any, Any], Any]] = {
    "+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv, "%": operator.mod,
    "&": operator.and_, "|": operator.or_, "^": operator.xor, "<<": operator.lshift, ">>": operator.rshift,
}
MAX_COMBINATIONS = 256


@dataclass(eq=False)
class ArithOperand(Operand):
    """``a + b``, ``Flags & 0x4`` … over every pair of instances (bounded)."""

    op: str
    left: Operand
    right: Operand

    def __post_init__(self) -> None:
        self.type = FieldType.FLOAT if self.op == "/" else FieldType.INT
        self.label = f"{self.left.label} {self.op} {self.right.label}"

    @property
    def names(self) -> set[str]:
        return self.left.names | self.right.names

    def values(self, fc: FrameCtx) -> list[Any]:
        fn = _ARITH[self.op]
        out: list[Any] = []
        for a in self.left.values(fc):
            for b in self.right.values(fc):
                if len(out) >= MAX_COMBINATIONS:
                    return out
                try:
                    out.append(fn(a, b))
                except (TypeError, ZeroDivisionError, ValueError, OverflowError):
                    continue
        return out

    def possible(self, ch: Chunk) -> np.ndarray | None:
        a, b = self.left.possible(ch), self.right.possible(ch)
        if a is None or b is None:
            return a if b is None else b
        return a & b


@dataclass(eq=False)
class UnaryOperand(Operand):
    op: str
    operand: Operand

    def __post_init__(self) -> None:
        self.type = FieldType.INT
        self.label = f"{self.op}{self.operand.label}"

    @property
    def names(self) -> set[str]:
        return self.operand.names

    def values(self, fc: FrameCtx) -> list[Any]:
        fn: Callable[[Any], Any] = operator.neg if self.op == "-" else operator.invert
        out = []
        for v in self.operand.values(fc):
            try:
                out.append(fn(v))
            except TypeError:
                continue
        return out

    def possible(self, ch: Chunk) -> np.ndarray | None:
        return self.operand.possible(ch)
