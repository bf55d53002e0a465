"""A small TOML writer for presets and history (reading is ``tomllib``), and atomic file writes.

Only what those files hold: strings, integers, booleans, lists of strings at the top level and
arrays of tables.  Strings are TOML basic strings with every control character escaped, so any
filter text (quotes, backslashes, newlines of a multi-line filter) round-trips through tomllib.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..traces.safefile import open_output

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


def string(s: str) -> str:
    out = []
    for ch in s:
        esc = _ESCAPES.get(ch)
        if esc is not None:
            out.append(esc)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04X}")
        elif 0xD800 <= ord(ch) <= 0xDFFF:  # a lone surrogate cannot be written as UTF-8
            out.append("\\uFFFD")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def key(k: str) -> str:
    return k if _BARE_KEY.match(k) else string(k)


def value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return string(v)
    if isinstance(v, Sequence):
        return "[" + ", ".join(value(x) for x in v) + "]"
    raise TypeError(f"cannot write {type(v).__name__} as TOML")


def dumps(top: Mapping[str, Any], tables: Mapping[str, Sequence[Mapping[str, Any]]] = {},
          header: str = "") -> str:
    """``top`` scalar keys first, then each array of tables (``[[name]]``)."""
    lines: list[str] = []
    if header:
        lines += [f"# {line}" if line else "#" for line in header.splitlines()]
        lines.append("")
    for k, v in top.items():
        if v is not None:
            lines.append(f"{key(k)} = {value(v)}")
    for name, rows in tables.items():
        for row in rows:
            lines.append("")
            lines.append(f"[[{key(name)}]]")
            for k, v in row.items():
                if v is not None:
                    lines.append(f"{key(k)} = {value(v)}")
    return "\n".join(lines) + "\n"


def atomic_write(path: Path, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path`` and rename it into place, so a crash
    leaves either the old file or the new one, never half of one (``safefile``: a symlink stays
    a link, the file keeps its mode)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open_output(path, "w", fsync=True) as f:
        f.write(text)
