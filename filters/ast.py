"""The syntax tree of a filter, and the printer that writes it back as canonical text.

Nodes compare by meaning only (positions and the original spelling are ignored), so
``parse(print(parse(s))) == parse(s)`` is the round-trip property the tests check.
"""

from __future__ import annotations

import ipaddress
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from ..traces.frame import guid_text, mac_text
from .lexer import ARITH_PREC, escape


@dataclass(frozen=True, slots=True)
class Node:
    start: int = field(default=0, compare=False, kw_only=True)
    end: int = field(default=0, compare=False, kw_only=True)
    #: written inside parentheses (used by the ``!x == y`` lint)
    paren: bool = field(default=False, compare=False, kw_only=True)


@dataclass(frozen=True, slots=True)
class Path(Node):
    """A dotted name; ``rooted`` for a leading ``.`` (``.Protocol.TLS``)."""

    parts: tuple[str, ...]
    rooted: bool = field(default=False, compare=False)

    @property
    def text(self) -> str:
        return ".".join(self.parts)

    def __eq__(self, other: object) -> bool:  # names are case-insensitive
        return isinstance(other, Path) and tuple(p.lower() for p in self.parts) == tuple(
            p.lower() for p in other.parts)

    def __hash__(self) -> int:
        return hash(tuple(p.lower() for p in self.parts))


@dataclass(frozen=True, slots=True)
class Wildcard(Node):
    """Message Analyzer's ``*Address``: every field whose name ends with these parts."""

    parts: tuple[str, ...]

    @property
    def text(self) -> str:
        return "*" + ".".join(self.parts)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Wildcard) and tuple(p.lower() for p in self.parts) == tuple(
            p.lower() for p in other.parts)

    def __hash__(self) -> int:
        return hash(tuple(p.lower() for p in self.parts))


@dataclass(frozen=True, slots=True)
class Literal(Node):
    """``kind``: int float ipv4 ipv6 mac guid string bytes time subnet4 subnet6 bool."""

    kind: str
    value: object
    text: str = field(default="", compare=False)


@dataclass(frozen=True, slots=True)
class Call(Node):
    """``ContainsBin(FrameData, ASCII, "x")`` (``target`` None) or ``Field.Contains("x")``."""

    name: str
    args: tuple[Node, ...]
    target: Node | None = None

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Call) and self.name.lower() == other.name.lower()
                and self.args == other.args and self.target == other.target)

    def __hash__(self) -> int:
        return hash((self.name.lower(), self.args, self.target))


@dataclass(frozen=True, slots=True)
class Compare(Node):
    """``op`` is normalised: ``=`` → ``==`` and ``<>`` → ``!=`` (the spelling is kept in ``written``)."""

    op: str
    left: Node
    right: Node
    written: str = field(default="", compare=False)
    op_start: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class InList(Node):
    left: Node
    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class ContainsOp(Node):
    """``contains "x"`` (all frame bytes, ``left`` None) or ``Field contains "x"``."""

    left: Node | None
    needle: Node


@dataclass(frozen=True, slots=True)
class Not(Node):
    operand: Node
    word: bool = field(default=False, compare=False)  # NOT rather than !


@dataclass(frozen=True, slots=True)
class And(Node):
    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or(Node):
    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Arith(Node):
    """Arithmetic and bitwise operators (NPL/Message Analyzer; never seen in a Netmon filter)."""

    op: str
    left: Node
    right: Node


@dataclass(frozen=True, slots=True)
class Unary(Node):
    op: str  # "-" or "~"
    operand: Node


# -- printing -------------------------------------------------------------------------------

def precedence(node: Node) -> int:
    if isinstance(node, Or):
        return 1
    if isinstance(node, And):
        return 2
    if isinstance(node, Not):
        return 3
    if isinstance(node, (Compare, InList, ContainsOp)):
        return 4
    if isinstance(node, Arith):
        return ARITH_PREC[node.op]
    if isinstance(node, Unary):
        return 9
    return 10


def to_text(node: Node | None, rename: Callable[[Node], str | None] | None = None) -> str:
    """Canonical text: upper-case AND/OR, ``==``/``!=``, single spaces, minimal parentheses,
    except that a negated comparison is always parenthesised (``!(a == b)``).  ``rename`` may
    give the registry spelling of a name node."""
    if node is None:
        return ""
    return _Printer(rename).print(node)


class _Printer:
    def __init__(self, rename: Callable[[Node], str | None] | None) -> None:
        self.rename = rename

    def wrap(self, node: Node, min_prec: int) -> str:
        text = self.print(node)
        return f"({text})" if precedence(node) < min_prec else text

    def print(self, node: Node) -> str:
        if self.rename is not None and isinstance(node, (Path, Wildcard)):
            name = self.rename(node)
            if name is not None:
                return name
        return _print(node, self)


def _print(node: Node, pr: _Printer) -> str:
    if isinstance(node, Or):
        return " OR ".join(pr.wrap(x, 2) for x in node.items)
    if isinstance(node, And):
        return " AND ".join(pr.wrap(x, 3) for x in node.items)
    if isinstance(node, Not):
        inner = node.operand
        text = pr.print(inner)
        if precedence(inner) < 10 and not isinstance(inner, Not):
            text = f"({text})"
        return "!" + text
    if isinstance(node, Compare):
        return f"{pr.wrap(node.left, 5)} {node.op} {pr.wrap(node.right, 5)}"
    if isinstance(node, InList):
        return f"{pr.wrap(node.left, 5)} in [" + ", ".join(pr.print(x) for x in node.items) + "]"
    if isinstance(node, ContainsOp):
        needle = pr.print(node.needle)
        return f"contains {needle}" if node.left is None else f"{pr.wrap(node.left, 5)} contains {needle}"
    if isinstance(node, Arith):
        p = ARITH_PREC[node.op]
        # left-associative: the right operand needs parentheses at equal precedence
        return f"{pr.wrap(node.left, p)} {node.op} {pr.wrap(node.right, p + 1)}"
    if isinstance(node, Unary):
        return node.op + pr.wrap(node.operand, 9)
    if isinstance(node, Path):
        return node.text
    if isinstance(node, Wildcard):
        return node.text
    if isinstance(node, Call):
        args = ", ".join(pr.print(a) for a in node.args)
        if node.target is not None:
            return f"{pr.wrap(node.target, 10)}.{node.name}({args})"
        return f"{node.name}({args})"
    if isinstance(node, Literal):
        return literal_text(node)
    raise TypeError(f"cannot print {node!r}")


def literal_text(lit: Literal) -> str:
    k, v = lit.kind, lit.value
    if k == "string":
        return '"' + escape(str(v)) + '"'
    if k == "int":
        text = lit.text
        return text if text and not text.startswith("-") else str(v)
    if k == "float":
        import numpy as np

        return np.format_float_positional(float(v), unique=True, trim="0")  # never 1e-05: no exponents
    if k == "bool":
        return "true" if v else "false"
    if k == "ipv4":
        return str(ipaddress.IPv4Address(v))  # type: ignore[arg-type]
    if k == "ipv6":
        return str(ipaddress.IPv6Address(v))  # type: ignore[arg-type]
    if k in ("subnet4", "subnet6"):
        return str(v)
    if k == "mac":
        return mac_text(int(v))  # type: ignore[call-overload]
    if k == "guid":
        return guid_text(v)
    if k == "bytes":
        return "$[" + bytes(v).hex().upper() + "]"  # type: ignore[arg-type]
    if k == "time":
        return lit.text or str(v)
    raise TypeError(f"unknown literal kind {k!r}")


def walk(node: Node | None) -> Iterator[Node]:
    """Every node below and including ``node`` (pre-order)."""
    if node is None:
        return
    yield node
    if isinstance(node, (And, Or)):
        for x in node.items:
            yield from walk(x)
    elif isinstance(node, Not):
        yield from walk(node.operand)
    elif isinstance(node, (Compare, Arith)):
        yield from walk(node.left)
        yield from walk(node.right)
    elif isinstance(node, InList):
        yield from walk(node.left)
        for x in node.items:
            yield from walk(x)
    elif isinstance(node, ContainsOp):
        yield from walk(node.left)
        yield from walk(node.needle)
    elif isinstance(node, Unary):
        yield from walk(node.operand)
    elif isinstance(node, Call):
        yield from walk(node.target)
        for x in node.args:
            yield from walk(x)


def make_uuid(text: str) -> uuid.UUID:
    return uuid.UUID(text.strip("{}"))
