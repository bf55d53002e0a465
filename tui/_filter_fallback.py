"""Stand-in for ``tracemon.filters`` until it lands: the same API over a small language subset.

Supports protocol/field existence, ``== != < > <= >=`` against numbers, IPv4/MAC/strings,
``AND OR NOT && || !`` and parentheses, ``ProtocolName``/``Description``.  Delete this module
once ``tracemon.filters`` provides ``compile_filter``, ``complete``, ``PresetStore`` and ``History``.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import platformdirs
from tracemon.traces.fields import FieldType
from tracemon.traces.protocols import MASK

if TYPE_CHECKING:
    from tracemon.traces.fields import Registry
    from tracemon.traces.frame import Frame
    from tracemon.traces.trace import Trace


class PresetError(KeyError):
    pass


class FilterError(Exception):
    def __init__(self, message: str, column: int, length: int = 1, expected: list[str] | None = None,
                 hints: list[str] | None = None, suggestions: list[str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.column = column
        self.length = length
        self.expected = expected or []
        self.hints = hints or []
        self.suggestions = suggestions or []

    def caret(self) -> str:
        return " " * (self.column - 1) + "^" * max(1, self.length)


_TOKEN = re.compile(r"""
    (?P<ws>\s+)|(?P<str>"[^"]*"|'[^']*')|(?P<mac>[0-9A-Fa-f]{2}(?:[-:][0-9A-Fa-f]{2}){5}\b)
   |(?P<ip>\d+\.\d+\.\d+\.\d+)|(?P<num>0[xX][0-9A-Fa-f]+|\d+)|(?P<op>==|!=|<>|<=|>=|&&|\|\||[<>=!()])
   |(?P<name>\.?[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)|(?P<bad>.)""", re.VERBOSE)
_KEYWORDS = {"and": "&&", "or": "||", "not": "!"}
_PSEUDO = {"protocolname", "description"}


@dataclass(slots=True)
class _Tok:
    kind: str
    text: str
    col: int


def _lex(text: str) -> list[_Tok]:
    out = []
    for m in _TOKEN.finditer(text):
        kind = m.lastgroup or "bad"
        if kind == "ws":
            continue
        tok = m.group()
        if kind == "bad":
            raise FilterError(f"unexpected character {tok!r}", m.start() + 1)
        if kind == "name" and tok.lower() in _KEYWORDS:
            kind, tok = "op", _KEYWORDS[tok.lower()]
        out.append(_Tok(kind, tok, m.start() + 1))
    return out


Pred = Callable[["Trace", int, "Frame | None"], bool]


@dataclass(slots=True)
class _Warning:
    message: str
    column: int
    hint: str = ""


class CompiledFilter:
    def __init__(self, text: str, pred: Pred | None, index_mask: Callable[[Trace, int, int], np.ndarray] | None):
        self.text = text
        self._pred = pred
        self._index_mask = index_mask
        self.warnings: list[_Warning] = []

    def matches(self, trace: Trace, i: int) -> bool:
        if self._pred is None:
            return True
        return self._pred(trace, i, None)

    def evaluate(self, trace: Trace, start: int = 0, stop: int | None = None, *,
                 cancel: threading.Event | None = None,
                 progress: Callable[[int, int], None] | None = None) -> np.ndarray:
        stop = len(trace) if stop is None else stop
        if self._pred is None:
            return np.ones(stop - start, dtype=bool)
        if self._index_mask is not None:
            return self._index_mask(trace, start, stop)
        out = np.zeros(stop - start, dtype=bool)
        for k, i in enumerate(range(start, stop)):
            if k % 2048 == 0:
                if cancel is not None and cancel.is_set():
                    break
                if progress is not None:
                    progress(k, stop - start)
            out[k] = self._pred(trace, i, None)
        return out


class _Parser:
    def __init__(self, text: str, registry: Registry) -> None:
        self.toks = _lex(text)
        self.pos = 0
        self.registry = registry
        self.text = text

    def peek(self) -> _Tok | None:
        return self.toks[self.pos] if self.pos < len(self.toks) else None

    def take(self) -> _Tok:
        tok = self.toks[self.pos]
        self.pos += 1
        return tok

    def end_col(self) -> int:
        return len(self.text.rstrip()) + 1

    def parse(self) -> tuple[Pred, Callable | None]:
        pred, fast = self.or_()
        tok = self.peek()
        if tok is not None:
            raise FilterError(f"unexpected {tok.text!r}: expected AND, OR or the end", tok.col, len(tok.text),
                              ["AND", "OR"])
        return pred, fast

    def or_(self) -> tuple[Pred, Callable | None]:
        left, lf = self.and_()
        while (tok := self.peek()) is not None and tok.text == "||":
            self.take()
            right, rf = self.and_()
            left, lf = _either(left, right), (_either_mask(lf, rf) if lf and rf else None)
        return left, lf

    def and_(self) -> tuple[Pred, Callable | None]:
        left, lf = self.not_()
        while (tok := self.peek()) is not None and tok.text == "&&":
            self.take()
            right, rf = self.not_()
            left, lf = _both(left, right), (_both_mask(lf, rf) if lf and rf else None)
        return left, lf

    def not_(self) -> tuple[Pred, Callable | None]:
        tok = self.peek()
        if tok is not None and tok.text == "!":
            self.take()
            inner, f = self.not_()
            return (lambda t, i, fr: not inner(t, i, fr)), ((lambda t, s, e: ~f(t, s, e)) if f else None)
        return self.primary()

    def primary(self) -> tuple[Pred, Callable | None]:
        tok = self.peek()
        if tok is None:
            raise FilterError("the filter ends here: expected a field, protocol or '('", self.end_col(), 1,
                              ["field", "("])
        if tok.text == "(":
            self.take()
            inner = self.or_()
            close = self.peek()
            if close is None or close.text != ")":
                col = close.col if close else self.end_col()
                raise FilterError("missing ')'", col, 1, [")"])
            self.take()
            return inner
        if tok.kind != "name":
            raise FilterError(f"expected a field or protocol name, found {tok.text!r}", tok.col, len(tok.text))
        self.take()
        name = tok.text.lstrip(".")
        if name.lower().startswith("protocol."):
            name = name[9:]
        fdef = self.registry.get(name)
        if fdef is None and name.lower() not in _PSEUDO:
            close = self.registry.close_matches(name, 3)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise FilterError(f"unknown field or protocol {name!r}{hint}", tok.col, len(tok.text),
                              suggestions=close)
        op = self.peek()
        if op is None or op.text not in ("==", "!=", "<>", "<", ">", "<=", ">=", "="):
            return self._exists(name, fdef)
        self.take()
        lit = self.peek()
        if lit is None or lit.kind not in ("num", "ip", "mac", "str", "name"):
            col = lit.col if lit else self.end_col()
            raise FilterError(f"expected a value after {op.text!r}", col, 1, ["value"])
        self.take()
        value = _literal(lit, fdef)
        opname = {"=": "==", "<>": "!="}.get(op.text, op.text)
        return _compare(name, fdef, opname, value), None

    def _exists(self, name: str, fdef: Any) -> tuple[Pred, Callable | None]:
        bit = MASK.get(fdef.name) if fdef is not None else None
        if bit is not None:
            def fast(t: Trace, s: int, e: int) -> np.ndarray:
                return (t.index.protos[s:e] & np.uint64(bit)) != 0

            return (lambda t, i, f: bool(int(t.index.protos[i]) & bit)), fast
        return (lambda t, i, f: bool((f or t.frame(i)).fields(name))), None


def _either(a: Pred, b: Pred) -> Pred:
    return lambda t, i, f: a(t, i, f) or b(t, i, f)


def _both(a: Pred, b: Pred) -> Pred:
    return lambda t, i, f: a(t, i, f) and b(t, i, f)


def _either_mask(a: Callable, b: Callable) -> Callable:
    return lambda t, s, e: a(t, s, e) | b(t, s, e)


def _both_mask(a: Callable, b: Callable) -> Callable:
    return lambda t, s, e: a(t, s, e) & b(t, s, e)


def _literal(tok: _Tok, fdef: Any) -> Any:
    text = tok.text
    if tok.kind == "str":
        return text[1:-1]
    if tok.kind == "ip":
        parts = [int(p) for p in text.split(".")]
        if any(p > 255 for p in parts):
            raise FilterError(f"{text} is not an IPv4 address", tok.col, len(text))
        return (parts[0] << 24) | (parts[1] << 16) | (parts[2] << 8) | parts[3]
    if tok.kind == "mac":
        return int(re.sub("[-:]", "", text), 16)
    if tok.kind == "num":
        return int(text, 0)
    return text


def _compare(name: str, fdef: Any, op: str, value: Any) -> Pred:
    def values(t: Trace, i: int, f: Frame | None) -> list[Any]:
        frame = f or t.frame(i)
        low = name.lower()
        if low == "protocolname":
            return [frame.protocol_name]
        if low == "description":
            return [frame.description]
        return frame.values(name)

    def test(a: Any) -> bool:
        b = value
        if isinstance(a, str) and isinstance(b, str):
            a, b = a.lower(), b.lower()
        elif isinstance(a, str) != isinstance(b, str):
            return op == "!="
        try:
            return {"==": a == b, "!=": a != b, "<": a < b, ">": a > b, "<=": a <= b, ">=": a >= b}[op]
        except TypeError:
            return False

    if op == "!=":
        return lambda t, i, f: not any(_eq(v, value) for v in values(t, i, f))
    return lambda t, i, f: any(test(v) for v in values(t, i, f))


def _eq(a: Any, b: Any) -> bool:
    if isinstance(a, str) and isinstance(b, str):
        return a.lower() == b.lower()
    return a == b


def compile_filter(text: str, registry: Registry, trace: Trace | None = None) -> CompiledFilter:
    body = re.sub(r"//[^\n]*", "", text)
    if not body.strip():
        return CompiledFilter(text, None, None)
    pred, fast = _Parser(body, registry).parse()
    return CompiledFilter(text, pred, fast)


# -- completion ----------------------------------------------------------------------------

@dataclass(slots=True)
class Candidate:
    text: str
    kind: str
    type: str = ""
    description: str = ""


@dataclass(slots=True)
class Completion:
    start: int
    end: int
    candidates: list[Candidate] = field(default_factory=list)


def complete(text: str, cursor: int, registry: Registry, trace: Trace | None = None, limit: int = 50,
             presets: Any = None) -> Completion:
    start = cursor
    while start > 0 and (text[start - 1].isalnum() or text[start - 1] in "._"):
        start -= 1
    word = text[start:cursor]
    if not word:
        return Completion(cursor, cursor, [])
    low = word.lower()
    out: list[Candidate] = []
    for kw in ("AND", "OR", "NOT"):
        if kw.lower().startswith(low) and kw.lower() != low:
            out.append(Candidate(kw, "keyword"))
    prefix, _, _ = word.rpartition(".")
    for fdef in registry.children(prefix) if prefix else registry.protocols():
        if fdef.name.lower().startswith(low):
            kind = "protocol" if fdef.type is FieldType.PROTOCOL else "field"
            out.append(Candidate(fdef.name, kind, fdef.type.value, fdef.description))
        if len(out) >= limit:
            break
    return Completion(start, cursor, out)


# -- presets and history -------------------------------------------------------------------

@dataclass(slots=True)
class Preset:
    name: str
    expression: str
    columns: list[str] | None = None
    color: str | None = None
    description: str = ""
    category: str = ""
    standard: bool = False


_STANDARD = (
    Preset("VmSwitch noise removed",
           "!(VMSWITCH_MicrosoftWindowsHyperVVmSwitch.VM_NBL_DELIVER OR "
           "VMSWITCH_MicrosoftWindowsHyperVVmSwitch.VM_NBL_RECEIVE OR "
           "VMSWITCH_MicrosoftWindowsHyperVVmSwitch.VM_NBL_ROUTE)", None, None,
           "Hide the per-packet VmSwitch delivery events", "Hyper-V", True),
    Preset("TCP resets", "TCP.Flags.Reset == 1", None, "#ff8700", "TCP segments with RST", "TCP", True),
    Preset("DNS", "DNS", None, None, "DNS queries and responses", "Name resolution", True),
    Preset("ARP", "ARP", None, None, "ARP requests and replies", "Addresses", True),
    Preset("IPv4", "IPv4", None, None, "IPv4 traffic", "Addresses", True),
)


class PresetStore:
    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path else Path(platformdirs.user_config_dir("tracemon", appauthor=False)) / \
            "presets-fallback.json"

    def _user(self) -> list[Preset]:
        try:
            data = json.loads(self.path.read_text("utf-8"))
        except (OSError, ValueError):
            return []
        return [Preset(**d) for d in data]

    def _write(self, presets: list[Preset]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps([asdict(p) for p in presets], indent=1), "utf-8")

    def standard(self) -> list[Preset]:
        return list(_STANDARD)

    def list(self) -> list[Preset]:
        user = self._user()
        names = {p.name.lower() for p in user}
        return user + [p for p in _STANDARD if p.name.lower() not in names]

    def get(self, name: str) -> Preset | None:
        return next((p for p in self.list() if p.name.lower() == name.lower()), None)

    def save(self, preset: Preset) -> None:
        user = [p for p in self._user() if p.name.lower() != preset.name.lower()]
        preset.standard = False
        self._write([*user, preset])

    def rename(self, old: str, new: str) -> None:
        user = self._user()
        for p in user:
            if p.name.lower() == old.lower():
                p.name = new
                self._write(user)
                return
        raise PresetError(f"no user preset named {old!r} (standard presets cannot be renamed)")

    def delete(self, name: str) -> None:
        user = self._user()
        left = [p for p in user if p.name.lower() != name.lower()]
        if len(left) == len(user):
            raise PresetError(f"no user preset named {name!r} (standard presets cannot be deleted)")
        self._write(left)


class History:
    def __init__(self, path: str | Path | None = None, limit: int = 100) -> None:
        self.path = Path(path) if path else Path(platformdirs.user_data_dir("tracemon", appauthor=False)) / \
            "history-fallback.json"
        self.limit = limit

    def entries(self) -> list[str]:
        try:
            data = json.loads(self.path.read_text("utf-8"))
        except (OSError, ValueError):
            return []
        return [str(x) for x in data]

    def add(self, text: str) -> None:
        if not text.strip():
            return
        items = [text] + [e for e in self.entries() if e != text]  # newest first
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps(items[: self.limit]), "utf-8")
