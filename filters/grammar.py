"""The pyparsing grammar of Netmon display filters (FILTER_LANGUAGE.md §4–§5, §11).

Precedence, highest first: member/call; unary ``- ~``; ``* / %``, ``+ -``, ``<< >>``,
``& ^ |``; comparisons (not chained); ``!``/``NOT``; ``&&``/``AND``; ``||``/``OR``.  So
``!x == y`` is ``!(x == y)`` (Message Analyzer's documented reading; a lint says so).

Extensions that cannot collide with Netmon syntax: ``in [a, b]``, subnets ``10.1.0.0/16``,
``contains "…"`` and ``*Address`` wildcards (Message Analyzer).

Terminals are single regular expressions shared with ``lexer.py``; comments are blanked out
before parsing (positions kept), so no ignore-expression runs between tokens.  When pyparsing
fails, ``diagnose.py`` explains the error from the token stream.
"""

from __future__ import annotations

import datetime as _dt
import ipaddress
import re
import threading
from functools import lru_cache

import pyparsing as pp

from . import ast as A
from . import lexer as L
from .errors import FilterError

_MAC_NAMED = r"[0-9A-Fa-f]{2}(?P<macsep>[-:])[0-9A-Fa-f]{2}(?:(?P=macsep)[0-9A-Fa-f]{2}){4}(?![\w:.-])"
_LITERAL_RX = "|".join([
    f"(?P<time>{L.DATETIME})",
    f"(?P<mac>{_MAC_NAMED})",
    f"(?P<guid>{L.GUID})",
    f"(?P<ipv6>{L.IPV6})",
    f"(?P<ipv4>{L.IPV4})",
    f"(?P<hex>{L.HEX})",
    f"(?P<float>{L.FLOAT})",
    f"(?P<int>{L.INT})",
    f"(?P<bytes>{L.BINARY})",
    f"(?P<string>{L.STRING})",
])
_LITERAL = re.compile(_LITERAL_RX)
_KEYWORD_GUARD = r"(?!(?:and|or|not|in|contains)(?![\w.]))"


class LiteralError(Exception):
    """A literal that looks right but is not valid (``300.1.1.1``); carries its span."""

    def __init__(self, message: str, start: int, end: int) -> None:
        super().__init__(message)
        self.start, self.end = start, end


def make_literal(text: str, kind: str, start: int) -> A.Literal:
    end = start + len(text)
    if kind == "string":
        return A.Literal("string", L.unescape(text[1:-1]), text, start=start, end=end)
    if kind in ("int", "hex"):
        try:
            value = int(text, 16) if kind == "hex" else int(text)
        except ValueError:  # past Python's 4,300-digit limit (check_limits stops these first)
            raise LiteralError(f"the number {_snippet(text)} is too long", start, end) from None
        return A.Literal("int", value, text, start=start, end=end)
    if kind == "float":
        return A.Literal("float", float(text), text, start=start, end=end)
    if kind == "ipv4":
        try:
            if "/" in text:
                net = ipaddress.IPv4Network(text, strict=False)
                return A.Literal("subnet4", net, text, start=start, end=end)
            return A.Literal("ipv4", int(ipaddress.IPv4Address(text)), text, start=start, end=end)
        except ValueError:
            raise LiteralError(f"{text} is not a valid IPv4 address (each part is 0-255, a prefix 0-32)",
                               start, end) from None
    if kind == "ipv6":
        try:
            if "/" in text:
                net6 = ipaddress.IPv6Network(text, strict=False)
                return A.Literal("subnet6", net6, text, start=start, end=end)
            return A.Literal("ipv6", int(ipaddress.IPv6Address(text)), text, start=start, end=end)
        except ValueError:
            raise LiteralError(f"{text} is not a valid IPv6 address", start, end) from None
    if kind == "mac":
        return A.Literal("mac", int(re.sub(r"[-:]", "", text), 16), text, start=start, end=end)
    if kind == "guid":
        return A.Literal("guid", A.make_uuid(text), text, start=start, end=end)
    if kind == "bytes":
        digits = re.sub(r"\s+", "", text[2:-1])
        if len(digits) % 2:
            raise LiteralError(f"{text}: a byte string needs an even number of hex digits", start, end)
        return A.Literal("bytes", bytes.fromhex(digits), text, start=start, end=end)
    if kind == "time":
        try:
            t = _dt.datetime.fromisoformat(text)
        except ValueError:
            raise LiteralError(f"{text} is not a valid date and time", start, end) from None
        if t.tzinfo is None:
            t = t.replace(tzinfo=_dt.UTC)
        epoch = _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC)
        delta = t - epoch
        ns = (delta.days * 86400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000
        return A.Literal("time", ns, text, start=start, end=end)
    raise AssertionError(kind)


# -- parse actions ---------------------------------------------------------------------------

def _literal_action(s: str, loc: int, toks: pp.ParseResults) -> A.Literal:
    text = toks[0]
    m = _LITERAL.match(s, loc)
    kind = m.lastgroup if m is not None else "int"
    if kind == "macsep":  # the inner group of a MAC closes last
        kind = "mac"
    return make_literal(text, kind or "int", loc)


def _path_action(s: str, loc: int, toks: pp.ParseResults) -> A.Node:
    text = toks[0]
    rooted = text.startswith(".")
    parts = tuple(text.lstrip(".").split("."))
    end = loc + len(text)
    if len(toks) > 1:  # a call: Name(args) or Target.Method(args)
        args = tuple(toks[1].args) if hasattr(toks[1], "args") else ()
        call_end = toks[1].end
        if len(parts) == 1:
            return A.Call(parts[0], args, None, start=loc, end=call_end)
        target = A.Path(parts[:-1], rooted, start=loc, end=end - len(parts[-1]) - 1)
        return A.Call(parts[-1], args, target, start=loc, end=call_end)
    return A.Path(parts, rooted, start=loc, end=end)


class _Args:
    __slots__ = ("args", "end")

    def __init__(self, args: tuple[A.Node, ...], end: int) -> None:
        self.args, self.end = args, end


def _args_action(s: str, loc: int, toks: pp.ParseResults) -> _Args:
    items = list(toks)
    end_marker = items.pop()  # the position after ")"
    return _Args(tuple(items), end_marker)


def _wild_action(s: str, loc: int, toks: pp.ParseResults) -> A.Wildcard:
    text = toks[0]
    return A.Wildcard(tuple(text[1:].split(".")), start=loc, end=loc + len(text))


def _paren_action(s: str, loc: int, toks: pp.ParseResults) -> A.Node:
    node: A.Node = toks[0]
    end = toks[1]
    return _replace(node, start=loc, end=end, paren=True)


def _replace(node: A.Node, **kw: object) -> A.Node:
    import dataclasses

    return dataclasses.replace(node, **kw)  # type: ignore[arg-type]


def _unary_action(s: str, loc: int, toks: pp.ParseResults) -> A.Node:
    op, operand = toks[0], toks[1]
    if op == "-" and isinstance(operand, A.Literal) and operand.kind in ("int", "float") and not operand.paren:
        return A.Literal(operand.kind, -operand.value, "-" + operand.text, start=loc, end=operand.end)  # type: ignore[operator]
    return A.Unary(op, operand, start=loc, end=operand.end)


def _binary_action(s: str, loc: int, toks: pp.ParseResults) -> A.Node:
    """``a op b op c …`` at one grammar level, grouped by precedence (left-associative)."""
    items = list(toks)
    if len(items) == 1:
        return items[0]
    pos = 1
    prec = L.ARITH_PREC

    def climb(left: A.Node, min_prec: int) -> A.Node:
        nonlocal pos
        while pos < len(items) and prec[items[pos]] >= min_prec:
            op = items[pos]
            right = items[pos + 1]
            pos += 2
            while pos < len(items) and prec[items[pos]] > prec[op]:
                right = climb(right, prec[op] + 1)
            left = A.Arith(op, left, right, start=left.start, end=right.end)
        return left

    return climb(items[0], 0)


def _rel_action(s: str, loc: int, toks: pp.ParseResults) -> A.Node:
    items = list(toks)
    if isinstance(items[0], _ContainsTail):  # bare: contains "x"
        tail = items[0]
        return A.ContainsOp(None, tail.needle, start=loc, end=tail.needle.end)
    if len(items) == 1:
        return items[0]
    left, tail = items[0], items[1]
    if isinstance(tail, _InTail):
        return A.InList(left, tail.items, start=left.start, end=tail.end)
    if isinstance(tail, _ContainsTail):
        return A.ContainsOp(left, tail.needle, start=left.start, end=tail.needle.end)
    op_tok: _Op = tail
    right = items[2]
    op = {"=": "==", "<>": "!="}.get(op_tok.text, op_tok.text)
    return A.Compare(op, left, right, op_tok.text, op_tok.start, start=left.start, end=right.end)


class _Op:
    __slots__ = ("start", "text")

    def __init__(self, text: str, start: int) -> None:
        self.text, self.start = text, start


class _InTail:
    __slots__ = ("end", "items")

    def __init__(self, items: tuple[A.Node, ...], end: int) -> None:
        self.items, self.end = items, end


class _ContainsTail:
    __slots__ = ("needle",)

    def __init__(self, needle: A.Node) -> None:
        self.needle = needle


def _not_action(s: str, loc: int, toks: pp.ParseResults) -> A.Node:
    word = toks[0].lower() == "not"
    operand = toks[1]
    return A.Not(operand, word, start=loc, end=operand.end)


def _fold(cls: type) -> object:
    def action(s: str, loc: int, toks: pp.ParseResults) -> A.Node:
        items = list(toks)[::2]
        if len(items) == 1:
            return items[0]
        return cls(tuple(items), start=items[0].start, end=items[-1].end)

    return action


@lru_cache(maxsize=1)
def grammar() -> pp.ParserElement:
    """Build the grammar once (pyparsing elements are reusable and thread-safe to parse with)."""
    expr = pp.Forward()
    end_mark = pp.Literal(")").set_parse_action(lambda s, loc, t: loc + 1)
    lpar = pp.Suppress("(")

    literal = pp.Regex(_LITERAL).set_parse_action(_literal_action)
    wildcard = pp.Regex(L.WILDCARD).set_parse_action(_wild_action)
    path_re = pp.Regex(re.compile(_KEYWORD_GUARD + L.PATH, re.IGNORECASE))
    args = (lpar + pp.Optional(pp.DelimitedList(expr)) + end_mark).set_parse_action(_args_action)
    path_or_call = (path_re + pp.Optional(args)).set_parse_action(_path_action)
    paren = (lpar + expr + end_mark).set_parse_action(_paren_action)
    atom = literal | wildcard | path_or_call | paren

    unary = pp.Forward()
    unary <<= (pp.Regex(r"[-~](?!=)") + unary).set_parse_action(_unary_action) | atom
    # one level for all arithmetic and bitwise operators; the action groups them by precedence
    arith_op = pp.Regex(r"<<|>>|[*/%+^-]|&(?!&)|\|(?!\|)")
    bits = (unary + pp.ZeroOrMore(arith_op + unary)).set_parse_action(_binary_action)

    rel_op = pp.Regex(r"==|!=|<>|<=|>=|~=|=(?!=)|<(?![<>=])|>(?![>=])").set_parse_action(
        lambda s, loc, t: _Op(t[0], loc))
    in_kw = pp.CaselessKeyword("in")
    rbrack = pp.Literal("]").set_parse_action(lambda s, loc, t: loc + 1)
    in_tail = (in_kw.suppress() + (
        (pp.Suppress("[") + pp.DelimitedList(bits) + rbrack).set_parse_action(
            lambda s, loc, t: _InTail(tuple(list(t)[:-1]), t[-1]))
        | literal.copy().set_parse_action(lambda s, loc, t: _InTail((_literal_action(s, loc, t),),
                                                                   loc + len(t[0])))))
    contains_tail = (pp.CaselessKeyword("contains").suppress() + literal).set_parse_action(
        lambda s, loc, t: _ContainsTail(t[0]))
    rel = (contains_tail | (bits + pp.Optional((rel_op + bits) | in_tail | contains_tail))).set_parse_action(
        _rel_action)

    not_op = pp.Regex(r"!(?!=)") | pp.CaselessKeyword("not")
    not_expr = pp.Forward()
    not_expr <<= (not_op + not_expr).set_parse_action(_not_action) | rel
    and_op = pp.Literal("&&") | pp.CaselessKeyword("and")
    or_op = pp.Literal("||") | pp.CaselessKeyword("or")
    and_expr = (not_expr + pp.ZeroOrMore(and_op + not_expr)).set_parse_action(_fold(A.And))
    or_expr = (and_expr + pp.ZeroOrMore(or_op + and_expr)).set_parse_action(_fold(A.Or))
    expr <<= or_expr
    return pp.Optional(expr) + pp.StringEnd()


def blank_comments(text: str) -> str:
    """Replace ``//`` and ``/* */`` comments by spaces (newlines kept), so positions do not move."""
    if "/" not in text:
        return text
    chars = list(text)
    for tok in L.tokenize(text, keep_comments=True):
        if tok.kind == "comment":
            for i in range(tok.start, tok.end):
                if chars[i] != "\n":
                    chars[i] = " "
    return "".join(chars)


_PARSE_LOCK = threading.Lock()

#: the longest filter text read at all (a filter is typed or pasted; 64 KiB is far past any real one)
MAX_FILTER_CHARS = 64 * 1024
#: the longest whole-number literal: 128-bit values take 39 digits, 0x and 32 hex digits
MAX_NUMBER_CHARS = 64
#: the longest decimal fraction: the language has no exponent, so 1e-300 takes ~300 digits
MAX_FLOAT_CHARS = 1024
#: the longest string or $[bytes] literal
MAX_STRING_CHARS = 4096
_NUMBER_LIMITS = {"int": MAX_NUMBER_CHARS, "hex": MAX_NUMBER_CHARS, "float": MAX_FLOAT_CHARS}
_STRING_KINDS = {"string", "smartstring", "bytes"}


def _snippet(text: str, n: int = 12) -> str:
    return text if len(text) <= 2 * n else f"{text[:n]}…{text[-4:]}"


def check_limits(text: str) -> None:
    """Refuse filter text and literals too long to mean anything, before pyparsing sees them.

    Without this a 5,000-digit number reached ``int()`` (Python refuses 4,301 digits and more,
    a ValueError traceback) and a 1 MB string literal took 512 MB to parse.
    """
    if len(text) > MAX_FILTER_CHARS:
        head = text[:60]
        raise FilterError(f"the filter is {len(text):,} characters long; tracemon reads filters of up to "
                          f"{MAX_FILTER_CHARS:,}", head, 0, len(head))
    for tok in L.tokenize(text):
        size = tok.end - tok.start
        limit = _NUMBER_LIMITS.get(tok.kind)
        if limit is not None and size > limit:
            raise FilterError(f"the number {_snippet(tok.text)} has {size:,} characters; no field holds "
                              f"a number longer than {limit:,}", text, tok.start, size)
        if tok.kind in _STRING_KINDS and size > MAX_STRING_CHARS:
            raise FilterError(f"this literal is {size:,} characters long; the limit is {MAX_STRING_CHARS:,}",
                              text, tok.start, size)


def parse(text: str) -> A.Node | None:
    """Parse filter text into a syntax tree (None for an empty filter).  Raises FilterError."""
    check_limits(text)
    prepared, _ = L.normalise_quotes(text)
    prepared = blank_comments(prepared)
    if not prepared.strip():
        return None
    try:
        with _PARSE_LOCK:  # pyparsing keeps per-parse state on the (shared) grammar elements
            result = grammar().parse_string(prepared, parse_all=True)
    except LiteralError as e:
        raise FilterError(str(e), text, e.start, e.end - e.start) from None
    except pp.ParseBaseException as e:
        from .diagnose import diagnose  # (only a filter that does not parse needs it)

        raise diagnose(text, prepared, e.loc) from None
    except RecursionError:
        raise FilterError("the filter is nested too deeply", text, 0, len(text)) from None
    if not result:
        return None
    node = result[0]
    assert isinstance(node, A.Node)
    return node
