"""Compiling a filter: syntax tree → predicate (``preds.py``), and evaluating it over a trace.

A predicate answers two ways.  ``vec`` answers a chunk of frames from the index columns with
three-valued logic (``tri.py``): conditions on protocols, ETW providers and events, event
header values, frame numbers and times, conversations (addresses, ports) and TCP flags are
known for (almost) every frame without decoding it.  ``test`` decides one decoded frame; it is
the definition of the semantics and runs only for the frames ``vec`` left unknown.

Semantics (FILTER_LANGUAGE.md §6): a bare name tests existence; comparisons match if *any*
instance matches (pair fields: either side); ``!=`` is ``NOT ==`` (true when the field is
missing); ordered comparisons on a missing field are false; text compares case-insensitively
(``==``, ``.Contains``); ``ContainsBin`` is byte-exact.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from ..traces.fields import FieldType, Registry
from . import ast as A
from .errors import FilterError, FilterWarning, warning_at
from .explain import DECODE, INDEX, Source, sources, summary
from .grammar import parse
from .indexed import Chunk, state_for
from .names import Resolver, default_registry
from .operands import (
    ArithOperand,
    ConstOperand,
    FieldOperand,
    FrameCtx,
    MultiOperand,
    NeverOperand,
    Operand,
    PseudoOperand,
    UnaryOperand,
)
from .preds import AndP, Const, Exists, FrameBytes, Leaf, NotP, OrP, Pred, Relation
from .values import MIRROR, AnyOf, Cmp, Contains, Test, TypeProblem, literal_accepts, make_test

CHUNK = 1 << 20


# -- compiling ----------------------------------------------------------------------------------

@lru_cache(maxsize=512)
def _parse_cached(text: str) -> A.Node | None:
    return parse(text)


@dataclass(slots=True)
class EvalStats:
    frames: int = 0
    decoded: int = 0
    matched: int = 0
    seconds: float = 0.0
    errors: int = 0
    first_error: str = ""
    cancelled: bool = False


class CompiledFilter:
    """A compiled filter: ``evaluate`` over a trace, ``matches`` for one frame."""

    def __init__(self, text: str, tree: A.Node | None, root: Pred, warnings: list[FilterWarning],
                 fields: set[str], canonical: str) -> None:
        self.text = text
        self.tree = tree
        self.root = root
        self.warnings = warnings
        self.fields = fields
        self.canonical = canonical
        self.uses_decode = not root.index_only
        self.last_stats = EvalStats()

    def __str__(self) -> str:
        return self.canonical

    def __repr__(self) -> str:
        return f"CompiledFilter({self.canonical!r})"

    @property
    def empty(self) -> bool:
        return self.tree is None

    def evaluate(self, trace: Any, start: int = 0, stop: int | None = None, *,
                 cancel: threading.Event | None = None,
                 progress: Callable[[int, int], None] | None = None) -> np.ndarray:
        """Match flags for rows ``start:stop``.  Index columns first; frames the index cannot
        decide are decoded.  When ``cancel`` is set the evaluation stops early and the frames not
        yet decided are False (``last_stats.cancelled``); callers that cancel drop the result."""
        t0 = time.perf_counter()
        total = len(trace.index)
        stop = total if stop is None else max(0, min(stop, total))
        start = max(0, min(start, stop))
        n = stop - start
        out = np.zeros(n, dtype=bool)
        stats = EvalStats(frames=n)
        self.last_stats = stats
        if self.tree is None:
            out[:] = True
            stats.matched = n
            return out
        state = state_for(trace)
        self._prepare_columns(trace)
        pending: list[np.ndarray] = []
        done = 0
        for s in range(start, stop, CHUNK):
            e = min(stop, s + CHUNK)
            ch = Chunk(trace, state, s, e, cancel)
            t = self.root.vec(ch)
            if cancel is not None and cancel.is_set():
                stats.cancelled = True
                return out
            if t is None:
                pending.append(np.arange(s, e))
            else:
                out[s - start : e - start] = t.val & t.known
                unknown = np.flatnonzero(~t.known)
                if len(unknown):
                    pending.append(unknown + s)
                done += (e - s) - len(unknown)
            if progress is not None:
                progress(done, n)
        rows = np.concatenate(pending) if pending else np.zeros(0, dtype=np.int64)
        root = self.root
        for k, i in enumerate(rows.tolist()):
            if k % 256 == 0:
                if cancel is not None and cancel.is_set():
                    stats.cancelled = True
                    break
                if progress is not None and k:
                    progress(done + k, n)
            try:
                out[i - start] = root.test(FrameCtx(trace, i))
            except Exception:  # noqa: BLE001 - one bad frame must not stop the filter
                try:  # once more: a reader's buffer cache may have been changed by another thread
                    out[i - start] = root.test(FrameCtx(trace, i))
                except Exception as e:  # noqa: BLE001
                    stats.errors += 1
                    if not stats.first_error:
                        stats.first_error = f"frame {i + 1}: {type(e).__name__}: {e}"
            stats.decoded += 1
        if progress is not None:
            progress(n, n)
        stats.matched = int(out.sum())
        stats.seconds = time.perf_counter() - t0
        return out

    def _prepare_columns(self, trace: Any) -> None:
        """Build the field columns this filter may ask for together (``TraceColumns.get_many``:
        the fields of one ETW provider read the trace once); one field is built when first asked."""
        fdefs = {f.name.lower(): f for f in _column_candidates(self.root)}
        if len(fdefs) < 2:
            return
        from ..traces.fieldcols import columns_for

        try:
            columns_for(trace).get_many(list(fdefs.values()))
        except TypeError:  # a trace object that cannot be weakly referenced
            pass

    def evaluate_by_decoding(self, trace: Any, start: int = 0, stop: int | None = None) -> np.ndarray:
        """The reference semantics: every frame decoded and tested (slow; for tests)."""
        stop = len(trace.index) if stop is None else stop
        if self.tree is None:
            return np.ones(stop - start, dtype=bool)
        return np.array([self.root.test(FrameCtx(trace, i)) for i in range(start, stop)], dtype=bool)

    def matches(self, trace: Any, i: int) -> bool:
        """Whether frame ``i`` (0-based) matches: from the index when it can tell, else by
        decoding the frame (kept in a small per-trace cache, so several colour rules testing the
        same row decode it once)."""
        if self.tree is None:
            return True
        state = state_for(trace)
        t = self.root.vec(Chunk(trace, state, i, i + 1))
        if t is not None and bool(t.known[0]):
            return bool(t.val[0])
        return bool(self.root.test(FrameCtx(trace, i, state)))

    def explain(self, trace: Any = None) -> list[str]:
        """How each condition is evaluated (for ``tracemon check``): from the index, from field
        columns (``traces/fieldcols.py``) or by decoding; with ``trace``, which fields have a
        field column there."""
        return [f"{what}: {summary(parts)}" for what, parts in self._leaf_sources(trace)]

    def sources(self, trace: Any = None) -> list[dict[str, Any]]:
        """``explain`` as data: each condition with the source of each of its fields."""
        return [{"condition": what, "fields": [p.as_dict() for p in parts]}
                for what, parts in self._leaf_sources(trace)]

    def _leaf_sources(self, trace: Any) -> list[tuple[str, list[Source]]]:
        return [_describe(leaf, trace) for leaf in self.root.leaves()]


def _column_candidates(root: Pred) -> list[Any]:
    """The fields of ``root``'s conditions that a field column could answer (no index column)."""
    return [f for leaf in root.leaves() for f in _operand_candidates(getattr(leaf, "operand", None))]


def _operand_candidates(operand: Any) -> list[Any]:
    ops = operand.members if isinstance(operand, MultiOperand) else [operand]
    return [part.fdef for op in ops if isinstance(op, FieldOperand) for part in (op.parts or [op])
            if part.fast is None and part.fdef.type is not FieldType.PROTOCOL]


def _describe(leaf: Pred, trace: Any = None) -> tuple[str, list[Source]]:
    if isinstance(leaf, Leaf):
        return f"{leaf.operand.label} {leaf.check.text()}", sources(leaf.operand, trace)
    if isinstance(leaf, Exists):
        return f"{leaf.operand.label} present", sources(leaf.operand, trace)
    if isinstance(leaf, Relation):
        parts = [Source(s.field, DECODE, "decoding") for s in
                 sources(leaf.left, trace) + sources(leaf.right, trace)]
        return f"{leaf.left.label} {leaf.op} {leaf.right.label}", parts
    if isinstance(leaf, FrameBytes):
        return ("frame bytes contain " + " or ".join(repr(n) for n in leaf.needles),
                [Source("FrameData", INDEX, "searching the file (packet files) or the event records in bulk (ETL); "
                        "decoding packet events whose record holds it, and frames neither reaches")])
    if isinstance(leaf, Const):
        return "always " + ("true" if leaf.value else "false"), []
    return type(leaf).__name__, [Source(type(leaf).__name__, DECODE, "decoding")]


def compile_filter(text: str, registry: Registry | None = None, trace: Any = None) -> CompiledFilter:
    """Compile Netmon filter text.  Raises FilterError with position, expectation and hints."""
    if not isinstance(text, str):
        raise TypeError("filter text must be a str")
    tree = _parse_cached(text)
    reg = default_registry(registry, trace)
    warnings: list[FilterWarning] = []
    comp = _Compiler(text, reg, trace, warnings)
    if tree is None:
        return CompiledFilter(text, None, Const(True), warnings, set(), "")
    warnings.extend(_quote_warnings(text))
    root = comp.condition(tree)
    canonical = A.to_text(tree, comp.rename)
    return CompiledFilter(text, tree, root, warnings, comp.fields, canonical)


def _quote_warnings(text: str) -> list[FilterWarning]:
    from .lexer import normalise_quotes

    _, spans = normalise_quotes(text)
    return [warning_at(text, s, e - s, "typographic quotes “…” were read as plain quotes",
                       "type plain \" or ' quotes") for s, e in spans]


_BOOL_WORDS = {"true": 1, "false": 0}


class _Compiler:
    def __init__(self, text: str, registry: Registry, trace: Any, warnings: list[FilterWarning]) -> None:
        self.text = text
        self.resolver = Resolver(registry, trace, text, warnings)
        self.warnings = warnings
        self.fields: set[str] = set()
        self._names: dict[int, str] = {}
        self._guards: frozenset[str] | set[str] = frozenset()

    def rename(self, node: A.Node) -> str | None:
        return self._names.get(id(node))

    # -- conditions ---------------------------------------------------------------------------
    def condition(self, node: A.Node) -> Pred:
        if isinstance(node, A.Or):
            return OrP([self.condition(x) for x in node.items])
        if isinstance(node, A.And):
            # "IPv4 AND IPv4.Address != x" needs no hint about frames without IPv4
            saved = self._guards
            self._guards = saved | {".".join(x.parts).lower() for x in node.items if isinstance(x, A.Path)}
            try:
                return AndP([self.condition(x) for x in node.items])
            finally:
                self._guards = saved
        if isinstance(node, A.Not):
            inner = node.operand
            if isinstance(inner, (A.Compare, A.InList, A.ContainsOp)) and not inner.paren:
                word = "NOT" if node.word else "!"
                self.warn(node, f"{word} applies to the whole comparison: it means {word}({A.to_text(inner)})",
                          f"write {word}(…) to make that explicit")
            return NotP(self.condition(inner))
        if isinstance(node, A.Compare):
            return self.compare(node)
        if isinstance(node, A.InList):
            return self.in_list(node)
        if isinstance(node, A.ContainsOp):
            return self.contains(node)
        if isinstance(node, A.Call):
            return self.call(node)
        if isinstance(node, (A.Path, A.Wildcard)):
            return self.exists(node)
        if isinstance(node, A.Literal):
            raise self.error(node, f"the value {A.literal_text(node)} alone is not a condition",
                             hints=["compare a field with it, e.g. IPv4.Address == 10.0.0.1"])
        raise self.error(node, f"{A.to_text(node)} is a value, not a condition",
                         hints=["compare it with something: (… ) == 0"])

    def exists(self, node: A.Path | A.Wildcard) -> Pred:
        op = self.operand(node)
        if isinstance(op, PseudoOperand) and op.type is FieldType.BOOL:
            return Leaf(op, Cmp("==", 1, "1"))  # Property.TCPSynRetransmit alone: the property is set
        if op.type is FieldType.BOOL and isinstance(op, FieldOperand):
            self.warn(node, f"{op.label} alone is true for every frame that has the field, set or not",
                      f"write {op.label} == 1 to test the flag")
        return Exists(op)

    def compare(self, node: A.Compare) -> Pred:
        op, left, right = node.op, node.left, node.right
        if node.written == "=":
            self.warnings.append(warning_at(self.text, node.op_start, 1, "a single = was read as ==",
                                            "write == to compare"))
        right = self._bool_word(right)
        left = self._bool_word(left)
        if isinstance(left, A.Literal) and not isinstance(right, A.Literal):
            left, right, op = right, left, MIRROR[op]
        if isinstance(right, A.Literal) and not isinstance(left, A.Literal):
            lit = right
            operand = self.operand(left, lit)
            if operand.type is FieldType.PROTOCOL:
                raise self.error(left, f"{operand.label} is a protocol or event, not a value",
                                 hints=[f"use it alone as a condition: {operand.label}"])
            check = self.make_test("==" if op in ("!=", "~=") else op, lit, operand)
            eq: Pred = Leaf(operand, check)
            if op == "!=":
                if isinstance(operand, FieldOperand) and operand.fdef.pair and \
                        operand.fdef.protocol.lower() not in self._guards:
                    self.warn(node, f"{A.to_text(node)} is true when neither side equals "
                                    f"{A.literal_text(lit)}, and for frames without {operand.fdef.protocol}",
                              f"to keep only {operand.fdef.protocol} frames: {operand.fdef.protocol} AND "
                              f"{A.to_text(node)}")
                return NotP(eq)
            if op == "~=":
                return AndP([Exists(operand), NotP(eq)])
            return eq
        lo = self.value_operand(left)
        ro = self.value_operand(right)
        rel_op = "==" if op in ("!=", "~=") else op
        rel: Pred = Relation(lo, rel_op, ro)
        if op == "!=":
            return NotP(rel)
        if op == "~=":
            return AndP([Exists(lo), NotP(rel)])
        return rel

    def in_list(self, node: A.InList) -> Pred:
        items = [self._bool_word(x) for x in node.items]
        for x in items:
            if not isinstance(x, A.Literal):
                raise self.error(x, "the items of an in-list must be values, not names",
                                 hints=["write IPv4.Address in [10.0.0.1, 10.0.0.2]"])
        lits = [x for x in items if isinstance(x, A.Literal)]
        operand = self.operand(node.left, lits[0] if lits else None)
        tests = [self.make_test("in", lit, operand) for lit in lits]
        return Leaf(operand, tests[0] if len(tests) == 1 else AnyOf(tests))

    def contains(self, node: A.ContainsOp) -> Pred:
        needle = node.needle
        if not isinstance(needle, A.Literal) or needle.kind not in ("string", "bytes"):
            raise self.error(needle, "contains needs a \"string\" or $[hex bytes]")
        if node.left is None:
            if needle.kind == "bytes":
                return FrameBytes([bytes(needle.value)])  # type: ignore[arg-type]
            s = str(needle.value)
            return FrameBytes(_text_encodings(s), ignore_case=True)
        operand = self.operand(node.left)
        return self._contains_on(node.left, operand, needle)

    def call(self, node: A.Call) -> Pred:
        name = node.name.lower()
        if node.target is not None and name == "contains":
            operand = self.operand(node.target)
            if len(node.args) != 1 or not isinstance(node.args[0], A.Literal):
                raise self.error(node, f"{node.name} takes one \"string\": Field.Contains(\"text\")")
            return self._contains_on(node.target, operand, node.args[0])
        if node.target is None and name == "containsbin":
            return self.contains_bin(node)
        what = f"{A.to_text(node.target)}.{node.name}" if node.target is not None else node.name
        raise self.error(node, f"unknown function {what}(…)",
                         hints=['functions: ContainsBin(FrameData, ASCII|UNICODE|HEX, "…"), <field>.Contains("…")'])

    def contains_bin(self, node: A.Call) -> Pred:
        usage = ["ContainsBin(FrameData, ASCII, \"text\")", "ContainsBin(FrameData, UNICODE, \"text\")",
                 "ContainsBin(FrameData, HEX, \"0d0a\")"]
        if len(node.args) != 3:
            raise self.error(node, f"ContainsBin takes three arguments, not {len(node.args)}", expected=usage)
        where, enc, needle = node.args
        if not isinstance(enc, A.Path) or len(enc.parts) != 1:
            raise self.error(enc, "the second argument of ContainsBin is ASCII, UNICODE or HEX", expected=usage)
        if not isinstance(needle, A.Literal) or needle.kind not in ("string", "bytes"):
            raise self.error(needle, "the third argument of ContainsBin is a \"string\"", expected=usage)
        kind = enc.parts[0].upper()
        if kind not in ("ASCII", "UNICODE", "UTF16", "UTF8", "HEX"):
            raise self.error(enc, f"{enc.parts[0]} is not an encoding ContainsBin knows", expected=usage)
        self._names[id(enc)] = kind
        text = needle.value
        try:
            if needle.kind == "bytes":
                data = bytes(text)  # type: ignore[arg-type]
            elif kind == "ASCII":
                data = str(text).encode("ascii")
            elif kind in ("UNICODE", "UTF16"):
                data = str(text).encode("utf-16-le")
            elif kind == "UTF8":
                data = str(text).encode("utf-8")
            else:
                data = bytes.fromhex(re.sub(r"[\s:-]", "", str(text)))
        except UnicodeEncodeError:
            raise self.error(needle, "ASCII search text must be plain ASCII",
                             hints=["use UNICODE for UTF-16 text"]) from None
        except ValueError:
            raise self.error(needle, f"{needle.text} is not hex bytes", hints=['write HEX, "0d0a"']) from None
        if not data:
            raise self.error(needle, "ContainsBin needs at least one byte to search for")
        if isinstance(where, A.Path) and ".".join(where.parts).lower() == "framedata":
            self._names[id(where)] = "FrameData"
            self.fields.add("FrameData")
            return FrameBytes([data])
        operand = self.operand(where)
        if operand.type is not FieldType.BYTES:
            raise self.error(where, f"ContainsBin searches bytes; {operand.label} is not a byte field",
                             hints=["search the whole frame: ContainsBin(FrameData, ASCII, \"…\")"])
        return Leaf(operand, Contains(data))

    # -- operands ---------------------------------------------------------------------------
    def operand(self, node: A.Node, lit: A.Literal | None = None) -> Operand:
        if isinstance(node, A.Path):
            op = self.resolver.path(node)
        elif isinstance(node, A.Wildcard):
            accepts = (lambda f: literal_accepts(lit, f)) if lit is not None else None
            op = self.resolver.wildcard(node, accepts)
        else:
            return self.value_operand(node)
        if not isinstance(op, NeverOperand) and not isinstance(op, MultiOperand):
            self._names[id(node)] = op.label
        self.fields |= op.names
        return op

    def value_operand(self, node: A.Node) -> Operand:
        node = self._bool_word(node)
        if isinstance(node, A.Literal):
            if node.kind in ("subnet4", "subnet6"):
                raise self.error(node, "a subnet can only be compared with an address field")
            value = int(bool(node.value)) if node.kind == "bool" else node.value
            ftype = {"string": FieldType.STRING, "ipv4": FieldType.IPV4, "ipv6": FieldType.IPV6,
                     "mac": FieldType.MAC, "guid": FieldType.GUID, "bytes": FieldType.BYTES,
                     "float": FieldType.FLOAT, "time": FieldType.TIME}.get(node.kind, FieldType.UINT)
            return ConstOperand(value, ftype)
        if isinstance(node, A.Arith):
            return ArithOperand(node.op, self.value_operand(node.left), self.value_operand(node.right))
        if isinstance(node, A.Unary):
            return UnaryOperand(node.op, self.value_operand(node.operand))
        if isinstance(node, (A.Path, A.Wildcard)):
            op = self.operand(node)
            if op.type is FieldType.PROTOCOL:
                raise self.error(node, f"{op.label} is a protocol or event, not a value",
                                 hints=[f"use it alone as a condition: {op.label}"])
            return op
        raise self.error(node, f"{A.to_text(node)} is a condition, not a value")

    def make_test(self, op: str, lit: A.Literal, operand: Operand) -> Test:
        try:
            return make_test(op, lit, operand.type, operand.enum, operand.label)
        except TypeProblem as e:
            raise self.error(lit, str(e), hints=[e.hint] if e.hint else None) from None

    def _contains_on(self, where: A.Node, operand: Operand, needle: A.Node) -> Pred:
        if not isinstance(needle, A.Literal) or needle.kind not in ("string", "bytes"):
            raise self.error(needle, "Contains needs a \"string\"")
        if operand.type not in (FieldType.STRING, FieldType.BYTES):
            raise self.error(where, f"{operand.label} is not text, so it cannot contain a string",
                             hints=["Contains works on text fields such as DNS.QRecord.QuestionName and Description"])
        value = needle.value
        if needle.kind == "bytes":
            return Leaf(operand, Contains(bytes(value)))  # type: ignore[arg-type]
        return Leaf(operand, Contains(str(value)))

    def _bool_word(self, node: A.Node) -> A.Node:
        """``true``/``false`` (Message Analyzer) are 1/0 where no field has that name."""
        if isinstance(node, A.Path) and len(node.parts) == 1 and node.parts[0].lower() in _BOOL_WORDS \
                and self.resolver.registry.get(node.parts[0]) is None:
            v = _BOOL_WORDS[node.parts[0].lower()]
            return A.Literal("int", v, str(v), start=node.start, end=node.end)
        return node

    def warn(self, node: A.Node, message: str, hint: str = "") -> None:
        self.resolver.warn(node, message, hint)

    def error(self, node: A.Node, message: str, **kw: Any) -> FilterError:
        return self.resolver.error(node, message, **kw)


def _text_encodings(s: str) -> list[bytes]:
    """Message Analyzer's ``contains "…"`` searches every encoding; we search UTF-8 and UTF-16LE."""
    out = [s.encode("utf-8")]
    wide = s.encode("utf-16-le")
    if wide not in out:
        out.append(wide)
    return out
