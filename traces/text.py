"""Text from a trace is data: control characters are shown, never sent to a terminal or a spreadsheet.

A trace from a compromised host is attacker-controlled.  A DNS TXT record, a DHCP host name, an
SSID, a pcapng comment or an ETW string may hold ``ESC ] 52 ; c ; … BEL`` (set the clipboard),
``ESC ] 0 ; …`` (window title) or a bare C1 ``0x9b`` (CSI); written as is, the terminal obeys it.
Every place that shows trace text — ``tracemon list``/``show``/``stats``, the TUI's cells, tree
labels, hex column and messages, CSV export — passes it through ``visible`` first.  JSON output
needs nothing more: ``json.dumps`` (``ensure_ascii``) writes these characters as ``\\u001b``.

``visible`` maps C0 controls and DEL to the Unicode control pictures (``ESC`` → ``␛``, one cell,
so columns stay aligned), C1 controls, the bidirectional overrides and isolates (which reorder
what is shown, "Trojan Source") and lone surrogates to ``\\x9b``/``\\u202e`` escapes.
``csv_cell`` also defuses cells that a spreadsheet would run as a formula (OWASP: prefix ``'``).
"""

from __future__ import annotations

import re

#: characters a terminal interprets or that reorder the text around them
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def _table() -> dict[int, str]:
    table = {c: chr(0x2400 + c) for c in range(0x20)}  # ␀ … ␟
    table[0x7F] = "\u2421"  # ␡
    table.update({c: f"\\x{c:02x}" for c in range(0x80, 0xA0)})
    table.update({c: f"\\u{c:04x}" for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))})
    return table


_TABLE = _table()


def _escape(m: re.Match[str]) -> str:
    c = ord(m.group())
    return _TABLE.get(c) or f"\\u{c:04x}"  # (a lone surrogate: the only code points not in the table)


def visible(text: str) -> str:
    """``text`` with every control character, bidi override and lone surrogate made visible.

    Cheap when there is nothing to do (one regex scan, the same string back), so it can sit on
    every cell of ``tracemon list`` over millions of frames.
    """
    if text.isprintable() or _UNSAFE.search(text) is None:  # (every unsafe character is unprintable)
        return text
    return _UNSAFE.sub(_escape, text)


def visible_lines(text: str) -> str:
    """``visible`` for a message of several lines (a filter and the caret under it): the line
    breaks stay, everything else is escaped."""
    return "\n".join(visible(line) for line in text.split("\n"))


def is_clean(text: str) -> bool:
    """True when ``visible(text)`` would change nothing."""
    return _UNSAFE.search(text) is None


#: a cell a spreadsheet would evaluate: starts with = + - @ (or a tab / CR that hides one)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def csv_cell(text: str) -> str:
    """A CSV cell safe to open in a spreadsheet: formulas prefixed with ``'`` (OWASP's advice),
    control characters made visible.  Plain numbers (a negative Time Delta) are left as numbers:
    they cannot run anything, and a quote would turn them into text."""
    if text.startswith(_FORMULA_START) and _NUMBER.fullmatch(text) is None:
        text = "'" + text
    return visible(text)
