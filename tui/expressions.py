"""Filter text the UI writes for the user: ``Field == value`` clauses and joining them.

Netmon's "Add Selected Value to Display Filter" writes the value as displayed (hex stays hex);
addresses are unquoted literals, strings are double-quoted.  A protocol or structure node adds
its bare name (an existence test).  The literals themselves are the filter package's
(``format_value``), so what is written always parses back to the value.
"""

from __future__ import annotations

import re
from typing import Any

from tracemon.traces.fields import FieldDef, FieldType

from . import filter_api

#: types whose values are written as their own kind of literal (addresses, GUIDs, text, bytes, floats)
_LITERAL_TYPES = {FieldType.IPV4, FieldType.IPV6, FieldType.MAC, FieldType.GUID, FieldType.STRING,
                  FieldType.BYTES, FieldType.FLOAT}


def literal(fdef: FieldDef, value: Any, display: str = "") -> str | None:
    """The filter literal for a field value, or None when the value has no literal form."""
    t = fdef.type
    if value is None or (t is FieldType.BYTES and not value):
        return None
    if t.is_numeric and t is not FieldType.FLOAT and isinstance(value, int):
        head = display.split(" ", 1)[0]
        if head.lower().startswith("0x"):
            try:
                if int(head, 16) == value:
                    return head
            except ValueError:
                pass
        return str(int(value))
    if t is FieldType.STRING:
        value = str(value)
    if t in _LITERAL_TYPES or isinstance(value, str):
        return filter_api.format_value(t, value)
    return None


def clause(fdef: FieldDef, value: Any, display: str = "") -> str | None:
    """``Name == literal`` (or the bare name for protocols and structures)."""
    if fdef.type is FieldType.PROTOCOL:
        return fdef.name
    lit = literal(fdef, value, display)
    return None if lit is None else f"{fdef.name} == {lit}"


_OR = re.compile(r"\bor\b|\|\|", re.IGNORECASE)
_AND = re.compile(r"\band\b|&&", re.IGNORECASE)


def join(existing: str, new: str, op: str) -> str:
    """Append ``new`` to the filter with AND / OR, adding parentheses only where precedence needs them."""
    old = existing.strip()
    if not old:
        return new
    op = op.upper()
    if "//" in old:
        old = "\n".join(line.split("//", 1)[0].rstrip() for line in old.splitlines()).strip()
        old = " ".join(old.split())
    if op == "AND" and _OR.search(old) and not _wrapped(old):
        old = f"({old})"
    return f"{old} {op} {new}"


def _wrapped(text: str) -> bool:
    """True when the whole text is one parenthesised group."""
    if not (text.startswith("(") and text.endswith(")")):
        return False
    depth = 0
    for k, ch in enumerate(text):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0 and k != len(text) - 1:
                return False
    return True
