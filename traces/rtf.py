"""Plain text from RTF: what Netmon's frame comments hold, reduced to what a terminal can show.

Netmon 3.x stores each frame comment's description as an RTF document (``{\\rtf1\\ansi …}``
written by a RichEdit control).  A comment is read once per trace and shown as text, so this is
a small tokenizer, not a renderer: text is kept, formatting dropped.

* control words are dropped, except the few that stand for text (``\\par`` and ``\\line`` →
  newline, ``\\tab`` → spaces to the next 8-column stop, quotes, dashes, bullets);
* destination groups that hold no body text (``{\\fonttbl …}``, ``{\\colortbl …}``, every
  ``{\\* …}`` group, pictures, document info, headers) are dropped whole;
* ``\\'hh`` escapes are bytes in the document's ANSI code page (``\\ansicpgN``, 1252 by
  default); consecutive ones decode together, so double-byte code pages work;
* ``\\uN`` is a Unicode character (negative N wraps, as RTF writes values above 32767); the
  ``\\ucN`` characters after it are its fallback and are skipped.

Damaged or hostile input cannot make it fail or run long: one pass over the text, bounded group
nesting, unknown code pages fall back to cp1252, and unbalanced braces are tolerated.
"""

from __future__ import annotations

import codecs
import re

#: groups whose content is not body text
_SKIPPED_DESTINATIONS = frozenset({
    "fonttbl", "colortbl", "stylesheet", "listtable", "listoverridetable", "revtbl", "rsidtbl", "info",
    "pict", "object", "objdata", "header", "headerl", "headerr", "headerf", "footer", "footerl", "footerr",
    "footerf", "filetbl", "generator", "xmlnstbl", "themedata", "colorschememapping", "latentstyles",
    "datastore", "fldinst", "pgdsctbl", "mmathPr", "author", "operator", "title", "subject", "comment",
    "company", "doccomm", "keywords", "nonshppict", "shppict", "bkmkstart", "bkmkend", "private",
})
#: control words that stand for text
_TEXT_WORDS = {
    "par": "\n", "line": "\n", "sect": "\n", "page": "\n", "row": "\n", "cell": "\t", "tab": "\t",
    "emdash": "\u2014", "endash": "\u2013", "emspace": " ", "enspace": " ", "qmspace": " ", "bullet": "\u2022",
    "lquote": "\u2018", "rquote": "\u2019", "ldblquote": "\u201c", "rdblquote": "\u201d",
}
_SYMBOLS = {"\\": "\\", "{": "{", "}": "}", "~": "\u00a0", "_": "\u2011", "-": "", "\n": "\n", "\r": "\n"}
#: deeper groups share the state of this depth (bounded memory on hostile nesting)
MAX_DEPTH = 256

_TOKEN = re.compile(
    r"\\([a-zA-Z]{1,32})(-?\d{1,10})? ?"  # control word, optional parameter, one delimiting space
    r"|\\'([0-9a-fA-F]{2})"  # hex escape
    r"|\\(.)"  # control symbol
    r"|([{}])"  # group
    r"|[\r\n]+"  # line breaks in the RTF source are not text
    r"|([^\\{}\r\n]+)",  # text
    re.DOTALL,
)


def is_rtf(text: str | bytes) -> bool:
    head = text[:6]
    return head == b"{\\rtf" if isinstance(head, bytes) else head.startswith("{\\rtf")


def rtf_to_text(rtf: str | bytes) -> str:
    """The text of an RTF document (anything else is returned as text, unchanged)."""
    if isinstance(rtf, bytes):
        rtf = rtf.decode("latin-1")  # RTF is 7-bit; high bytes (rare, invalid) keep their code point
    if not is_rtf(rtf.lstrip()):
        return rtf
    out: list[str] = []
    pending = bytearray()  # \'hh bytes not decoded yet
    codepage = "cp1252"
    # per group: (skipped, fallback character count after \uN)
    stack: list[tuple[bool, int]] = []
    depth = 0
    skip, uc = False, 1
    to_skip = 0  # fallback characters still to drop after a \uN
    high = 0  # a \uN high surrogate waiting for its low half
    first_in_group = False  # the next token is the group's first (a destination word or \*)

    def flush() -> None:
        if pending:
            out.append(pending.decode(codepage, "replace"))
            pending.clear()

    for m in _TOKEN.finditer(rtf):
        word, param, hexa, symbol, brace, text = m.groups()
        starts_group = first_in_group
        first_in_group = False
        if word != "u" and (hexa is None or not to_skip) and (text is None or not to_skip):
            if high:
                out.append("\ufffd")  # half a surrogate pair
            high = 0
        if hexa is not None:
            if to_skip:
                to_skip -= 1
            elif not skip:
                pending.append(int(hexa, 16))
            continue
        flush()
        if brace == "{":
            depth += 1
            if depth <= MAX_DEPTH:
                stack.append((skip, uc))
            first_in_group = True
            to_skip = 0
        elif brace == "}":
            depth -= 1
            if depth <= 0:
                break  # the document's closing brace: what follows (a NUL, padding) is not part of it
            if depth < MAX_DEPTH:
                skip, uc = stack.pop()
            to_skip = 0
        elif word is not None:
            if starts_group and word in _SKIPPED_DESTINATIONS:
                skip = True
            elif word == "ansicpg" and param:
                codepage = _codepage(int(param))
            elif word == "uc" and param:
                uc = max(0, min(int(param), 8))
            elif word == "u" and param:
                if not skip:
                    code = int(param) + (65536 if int(param) < 0 else 0)
                    if 0xDC00 <= code <= 0xDFFF and high:  # the second half of a surrogate pair
                        out.append(chr(0x10000 + ((high - 0xD800) << 10) + (code - 0xDC00)))
                    elif not 0xD800 <= code <= 0xDBFF:
                        out.append(_unicode(code))
                    high = code if 0xD800 <= code <= 0xDBFF else 0
                to_skip = uc
                continue
            elif word in _TEXT_WORDS and not skip:
                out.append(_TEXT_WORDS[word])
                to_skip = 0
        elif symbol is not None:
            if symbol == "*" and starts_group:
                skip = True
            elif not skip and symbol in _SYMBOLS:
                out.append(_SYMBOLS[symbol])
        elif text is not None and not skip:
            if to_skip:
                drop = min(to_skip, len(text))
                to_skip -= drop
                text = text[drop:]
            out.append(text)
    flush()
    return _tidy("".join(out))


def _codepage(number: int) -> str:
    name = f"cp{number}"
    try:
        codecs.lookup(name)
    except LookupError:
        return "cp1252"
    return name


def _unicode(n: int) -> str:
    return "\ufffd" if 0xD800 <= n <= 0xDFFF or not 0 <= n <= 0x10FFFF else chr(n)


def _tidy(text: str) -> str:
    """Tabs expanded to 8-column stops (as a RichEdit control lines up ``Step\\tab\\tab 1``; a
    terminal would show a raw tab as a control character), trailing spaces off every line,
    blank lines off both ends."""
    lines = [line.rstrip(" \t\u00a0\x00").expandtabs(8) for line in text.split("\n")]
    while lines and not lines[0].strip():
        lines.pop(0)
    while lines and not lines[-1].strip():
        lines.pop()
    return "\n".join(lines)


__all__ = ["is_rtf", "rtf_to_text"]
