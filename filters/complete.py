"""Autocomplete for the filter bar: the candidates for the token at the cursor.

At the start of a condition: protocols (ETW providers too), Netmon's pseudo-namespaces, the
columns, functions and NOT.  After ``Proto.``: the names one level below (fields, ETW events,
``Contains(`` for text fields).  After a complete operand: AND, OR, in, contains.  After ``==``
(or ``in [``): values of that field seen in this trace — from the index where it knows them
(addresses, ports, event ids, protocol names), else from a sample of decoded frames.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..traces.fields import FieldType, Registry
from . import ast as A
from .errors import FilterError
from .indexed import Chunk, state_for
from .lexer import REL_OPS, tokenize
from .names import Resolver, default_registry, ensure_etw
from .operands import FrameCtx, Operand
from .pseudo import NAMESPACES, supported

KINDS = ("protocol", "field", "property", "function", "keyword", "value", "preset")


@dataclass(slots=True)
class Candidate:
    text: str
    kind: str  # one of KINDS
    type: str = ""  # FieldType value ("ipv4", "uint" …), "" for keywords
    description: str = ""


@dataclass(slots=True)
class Completion:
    """Replace ``text[start:end]`` with a candidate's ``text``."""

    start: int
    end: int
    candidates: list[Candidate] = field(default_factory=list)


_NAME_CHARS = re.compile(r"[A-Za-z0-9_.*]")
_VALUE_CHARS = re.compile(r"[A-Za-z0-9_.:\-{}\"']")
FUNCTIONS = [
    Candidate('ContainsBin(FrameData, ASCII, "")', "function", "bool",
              "Frame bytes contain ASCII text (exact case); also UNICODE, HEX"),
]
_SAMPLE_FRAMES = 400


def complete(text: str, cursor: int, registry: Registry | None = None, trace: Any = None, limit: int = 50,
             presets: Any = None) -> Completion:
    """Candidates for the token at ``cursor`` in ``text``."""
    cursor = max(0, min(cursor, len(text)))
    reg = default_registry(registry, trace)
    head = text[:cursor]
    toks = tokenize(head, keep_comments=True)
    if toks and toks[-1].end == cursor and (toks[-1].kind in ("comment", "string") or
                                            (toks[-1].kind == "error" and toks[-1].text[:1] in "\"'")):
        return Completion(cursor, cursor)  # inside a comment or a string
    value_ctx = _value_context(text, cursor)
    if value_ctx is not None:
        wstart, field_name = value_ctx
        wend = _scan_right(text, cursor, _VALUE_CHARS)
        cands = _values(field_name, text[wstart:cursor], reg, trace, limit)
        return Completion(wstart, wend, cands)
    wstart = cursor
    while wstart > 0 and _NAME_CHARS.match(text[wstart - 1]):
        wstart -= 1
    wend = _scan_right(text, cursor, re.compile(r"[A-Za-z0-9_]"))
    word = text[wstart:cursor]
    prev = [t for t in tokenize(text[:wstart]) if t.kind != "comment"]
    after_operand = bool(prev) and (prev[-1].kind in ("path", "wild", "string", "ipv4", "ipv6", "mac", "guid",
                                                      "int", "hex", "float", "bytes", "time")
                                    or prev[-1].text == ")")
    if after_operand and "." not in word:
        return Completion(wstart, wend, _rank(_keywords(after=True), word, limit))
    if "." in word:
        dot = word.rfind(".")
        parent = word[:dot].lstrip(".")
        partial = word[dot + 1 :]
        cands = _children(parent, reg)
        return Completion(wstart + dot + 1, wend, _rank(cands, partial, limit))
    cands = _top_level(reg, trace)
    if not text.strip() and presets is not None:
        cands = _presets(presets) + cands
        return Completion(0, len(text), cands[:limit])
    return Completion(wstart, wend, _rank(cands, word.lstrip("*"), limit))


def _scan_right(text: str, i: int, chars: re.Pattern[str]) -> int:
    while i < len(text) and chars.match(text[i]):
        i += 1
    return i


def _value_context(text: str, cursor: int) -> tuple[int, str] | None:
    """(start of the value being typed, field name) when the cursor is after ``Field ==`` or in
    ``Field in [...``."""
    wstart = cursor
    while wstart > 0 and _VALUE_CHARS.match(text[wstart - 1]):
        wstart -= 1
    toks = [t for t in tokenize(text[:wstart]) if t.kind != "comment"]
    if not toks:
        return None
    last = toks[-1]
    if last.kind == "op" and last.text in REL_OPS and len(toks) >= 2 and toks[-2].kind == "path":
        return wstart, toks[-2].text
    # inside "Field in [a, b, |"
    depth = 0
    for k in range(len(toks) - 1, -1, -1):
        t = toks[k]
        if t.text == "]":
            return None
        if t.text == "[":
            if k >= 2 and toks[k - 1].kind == "in" and toks[k - 2].kind == "path" and depth == 0:
                return (wstart, toks[k - 2].text) if last.text in ("[", ",") else None
            return None
        if t.kind in ("and", "or", "not") or t.text in ("(", ")"):
            return None
    return None


def _rank(cands: list[Candidate], word: str, limit: int) -> list[Candidate]:
    w = word.lower()
    if not w:
        return cands[:limit]
    starts = [c for c in cands if c.text.lower().startswith(w)]
    inside = [c for c in cands if w in c.text.lower() and not c.text.lower().startswith(w)]
    return (starts + inside)[:limit]


def _keywords(after: bool) -> list[Candidate]:
    if after:
        return [Candidate("AND", "keyword", "", "Both conditions"), Candidate("OR", "keyword", "", "Either condition"),
                Candidate("in", "keyword", "", "Value in a list [a, b] or a subnet"),
                Candidate("contains", "keyword", "", "Text field contains a string (any case)")]
    return [Candidate("NOT", "keyword", "", "The condition does not hold")]


def _top_level(reg: Registry, trace: Any) -> list[Candidate]:
    ensure_etw()
    present: set[str] = set()
    if trace is not None:
        present = {p.protocol.lower() for p in getattr(trace, "providers", [])[1:] if p.protocol}
        present |= {n.lower() for n in getattr(trace, "protocol_names", []) if n}
    protos = sorted(reg.protocols(), key=lambda f: (f.key not in present, f.name.lower()))
    out = [Candidate(f.name, "protocol", f.type.value, f.description) for f in protos]
    known = {f.key for f in protos}
    if trace is not None:  # providers no schema describes (ETW_<guid>) are still names in this trace
        out = [Candidate(p.protocol, "protocol", "protocol", f"ETW provider {p.name} (no schema)")
               for p in getattr(trace, "providers", [])[1:] if p.protocol and p.protocol.lower() not in known] + out
    out += [Candidate(d.name, "field", d.type.value, d.description) for d in supported() if "." not in d.name]
    out += [Candidate(ns.capitalize() if ns != "framevariable" else "FrameVariable", "property", "", desc)
            for ns, desc in NAMESPACES.items() if ns in ("property", "conversation", "framevariable")]
    out += FUNCTIONS + _keywords(after=False)
    return out


def _children(parent: str, reg: Registry) -> list[Candidate]:
    low = parent.lower()
    if low.startswith("protocol.") or low == "protocol":
        if low == "protocol":
            return [Candidate(f.name, "protocol", f.type.value, f.description) for f in reg.protocols()]
        parent = parent[len("protocol.") :]
        low = parent.lower()
    if low.startswith("utevent"):
        parent = "NetEvent" + parent[len("utevent") :]
        low = parent.lower()
    if low in ("property", "conversation", "framevariable"):
        return [Candidate(d.name.split(".", 1)[1], "property", d.type.value, d.description)
                for d in supported() if d.name.lower().startswith(low + ".")]
    if low.startswith(("netevent", "microsoft")) or "_" in low.split(".")[0]:
        ensure_etw()
    resolver = Resolver(reg, None, parent, [])
    fdef = resolver.lookup(parent)
    name = fdef.name if fdef is not None else parent
    out = [Candidate(c.leaf, "field", c.type.value, c.description) for c in reg.children(name)]
    if fdef is not None and fdef.type in (FieldType.STRING, FieldType.BYTES):
        out.append(Candidate('Contains("")', "function", "bool", "Text contains a string (any case)"))
    return out


def _presets(presets: Any) -> list[Candidate]:
    try:
        items = presets.list()
    except Exception:  # noqa: BLE001 - a damaged presets file must not break typing
        return []
    return [Candidate(p.expression, "preset", "", p.name) for p in items]


# -- values -----------------------------------------------------------------------------------

def _values(field_name: str, typed: str, reg: Registry, trace: Any, limit: int) -> list[Candidate]:
    resolver = Resolver(reg, trace, field_name, [])
    try:
        node = A.Path(tuple(field_name.lstrip(".").split(".")), start=0, end=len(field_name))
        op = resolver.path(node)
    except FilterError:
        return []
    out: list[Candidate] = []
    seen: set[str] = set()

    def add(text: str, desc: str = "") -> None:
        if text not in seen:
            seen.add(text)
            out.append(Candidate(text, "value", op.type.value, desc))

    if op.enum:
        for num, label in op.enum.items():
            add(str(num), str(label))
    if op.type is FieldType.BOOL:
        add("1", "set")
        add("0", "not set")
    if trace is not None:
        values = op.sample_values(trace, limit)
        if not values:
            values = _decoded_values(op, trace, limit)
        for v in values:
            add(format_value(op.type, v))
    return _rank(out, typed.strip("\"'"), limit) if typed else out[:limit]


def _decoded_values(op: Operand, trace: Any, limit: int) -> list[Any]:
    state = state_for(trace)
    key = ("values", op.label)
    cached = state.objects.get(key)
    if cached is not None:
        return cached
    n = len(trace.index)
    stop = min(n, 200_000)
    rows: np.ndarray
    possible = op.possible(Chunk(trace, state, 0, stop)) if stop else None
    rows = np.flatnonzero(possible) if possible is not None else np.arange(stop)
    found: list[Any] = []
    for i in rows[:_SAMPLE_FRAMES].tolist():
        try:
            vals = op.values(FrameCtx(trace, i))
        except Exception:  # noqa: BLE001, S112 - a frame that fails to decode gives no values
            continue
        for v in vals:
            if v not in found and v is not None and not isinstance(v, bool | bytes):
                found.append(v)
        if len(found) >= limit:
            break
    try:
        found.sort()
    except TypeError:
        pass
    state.objects[key] = found
    return found


#: field type → the literal that writes its values (with the Python type such a value has)
_LITERALS: dict[FieldType, tuple[str, type | tuple[type, ...]]] = {
    FieldType.IPV4: ("ipv4", int), FieldType.IPV6: ("ipv6", int), FieldType.MAC: ("mac", int),
    FieldType.GUID: ("guid", uuid.UUID), FieldType.FLOAT: ("float", (int, float)),
    FieldType.BYTES: ("bytes", (bytes, bytearray, memoryview)),
}


def format_value(t: FieldType, v: Any) -> str:
    """A value of a field of type ``t`` as filter text (what the user would type).  Written by the
    syntax tree's literal printer, so the text always parses back to the value (strings escaped,
    floats without exponents, bytes as $[…])."""
    kind, py_type = _LITERALS.get(t, ("", ()))
    if isinstance(v, str):
        kind = "string"
    elif not kind or isinstance(v, bool) or not isinstance(v, py_type):
        return str(v)
    return A.literal_text(A.Literal(kind, v))
