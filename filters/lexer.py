"""Tokens of the filter language, and the regular expressions the grammar shares with them.

The pyparsing grammar (``grammar.py``) builds the syntax tree; this lenient tokenizer never
fails and is what error messages, lint hints and autocomplete look at: the token under a
syntax error, the token before it, the token at the cursor.  Both use the literal patterns
below, so they cannot disagree about what a literal is.

Order matters (FILTER_LANGUAGE.md §4): date-time, MAC, GUID and IPv6 are tried before numbers
and names, because ``02-01-0A-01-01-64`` and ``FF02::C`` start like numbers or names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# -- literal patterns (shared with grammar.py) ---------------------------------------------
DATETIME = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})?(?![\w:.])"
MAC = r"[0-9A-Fa-f]{2}([-:])[0-9A-Fa-f]{2}(?:\1[0-9A-Fa-f]{2}){4}(?![\w:.-])"
GUID = (r"\{[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}\}"
        r"|[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}(?![\w-])")
IPV6 = r"(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?:\.\d{1,3}){0,3}(?:/\d{1,3})?(?![\w:.])"
IPV4 = r"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}(?:/\d{1,2})?(?![\w.])"
HEX = r"0[xX][0-9A-Fa-f]+(?![\w.])"
FLOAT = r"\d+\.\d+(?![\w.])"
INT = r"\d+(?![\w.])"
BINARY = r"\$\[[0-9A-Fa-f\s]*\]"
STRING = r'"(?:[^"\\\n]|\\.)*"' + r"|'(?:[^'\\\n]|\\.)*'"
NAME = r"[A-Za-z_][A-Za-z0-9_]*"
PATH = rf"\.?{NAME}(?:\.{NAME})*"
WILDCARD = rf"\*{NAME}(?:\.{NAME})*"

KEYWORDS = {"and", "or", "not", "in", "contains"}
#: Message Analyzer words that have no meaning here; named in errors
MA_WORDS = {"regex", "casesensitive", "encoding", "nothing"}

SMART_QUOTES = {"\u201c": '"', "\u201d": '"', "\u201e": '"', "\u2018": "'", "\u2019": "'", "\u201a": "'"}

_OPS = ["==", "!=", "<>", "<=", ">=", "~=", "&&", "||", "<<", ">>",
        "=", "<", ">", "!", "~", "&", "|", "^", "+", "-", "*", "/", "%", "(", ")", "[", "]", ","]
REL_OPS = {"==", "!=", "<>", "<=", ">=", "~=", "=", "<", ">"}
#: arithmetic and bitwise operators by precedence, higher binds tighter (NPL's order; grammar and printer)
ARITH_PREC = {"*": 8, "/": 8, "%": 8, "+": 7, "-": 7, "<<": 6, ">>": 6, "&": 5, "^": 5, "|": 5}
ARITH_OPS = set(ARITH_PREC)

_LITERALS = [
    ("time", re.compile(DATETIME)),
    ("mac", re.compile(MAC)),
    ("guid", re.compile(GUID)),
    ("ipv6", re.compile(IPV6)),
    ("ipv4", re.compile(IPV4)),
    ("hex", re.compile(HEX)),
    ("float", re.compile(FLOAT)),
    ("int", re.compile(INT)),
    ("bytes", re.compile(BINARY)),
]
_STRING = re.compile(STRING)
_PATH = re.compile(PATH + r"\.?")  # a trailing dot is kept for autocomplete ("TCP.")
_WILDCARD = re.compile(WILDCARD + r"\.?")
_SPACE = re.compile(r"\s+")
_PLACEHOLDER = re.compile(r"<[^<>=!&|()\n]*[A-Za-z0-9][^<>=!&|()\n]*>")
_SMART_STRING = re.compile("[\u201c\u201d\u201e\"][^\"\u201c\u201d\n]*[\u201c\u201d\"]"
                           "|[\u2018\u2019\u201a'][^'\u2018\u2019\n]*[\u2018\u2019']")


@dataclass(slots=True)
class Token:
    kind: str  # see the module docstring of the kinds below
    text: str
    start: int
    end: int
    #: for kind "error": what is wrong; for "string": the decoded value
    note: str = ""

    @property
    def lower(self) -> str:
        return self.text.lower()


# kinds: path, wild, string, smartstring, time, mac, guid, ipv6, ipv4, hex, float, int, bytes,
#        op, and, or, not, in, contains, placeholder, comment, error
OPERAND_KINDS = {"path", "wild", "string", "smartstring", "time", "mac", "guid", "ipv6", "ipv4", "hex",
                 "float", "int", "bytes"}
LITERAL_KINDS = OPERAND_KINDS - {"path", "wild"}


def _operand_position(prev: Token | None) -> bool:
    """True when the next token starts an operand (so ``*`` is a wildcard, ``<`` a placeholder)."""
    if prev is None:
        return True
    if prev.kind in ("and", "or", "not", "in", "contains"):
        return True
    return prev.kind == "op" and prev.text not in (")", "]")


def tokenize(text: str, *, keep_comments: bool = False) -> list[Token]:
    """Split ``text`` into tokens.  Never raises: bad input becomes ``error`` tokens."""
    out: list[Token] = []
    i, n = 0, len(text)
    prev: Token | None = None
    while i < n:
        m = _SPACE.match(text, i)
        if m:
            i = m.end()
            continue
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            if keep_comments:
                out.append(Token("comment", text[i:j], i, j))
            i = j
            continue
        if text.startswith("/*", i):
            j = text.find("*/", i + 2)
            if j < 0:
                out.append(Token("error", text[i:], i, n, "this /* comment is never closed with */"))
                return out
            if keep_comments:
                out.append(Token("comment", text[i : j + 2], i, j + 2))
            i = j + 2
            continue
        tok = _next_token(text, i, prev)
        out.append(tok)
        prev = tok
        i = tok.end
    return out


def _next_token(text: str, i: int, prev: Token | None) -> Token:
    ch = text[i]
    operand = _operand_position(prev)
    if ch in "\"'":
        m = _STRING.match(text, i)
        if m:
            return Token("string", m.group(), i, m.end(), unescape(m.group()[1:-1]))
        j = text.find("\n", i)
        j = len(text) if j < 0 else j
        return Token("error", text[i:j], i, j, f"the string starting here is never closed with {ch}")
    if ch in SMART_QUOTES:
        m = _SMART_STRING.match(text, i)
        if m:
            return Token("smartstring", m.group(), i, m.end(), m.group()[1:-1])
        return Token("error", ch, i, i + 1, "typographic quote: use a plain \" or ' quote")
    if ch == "<" and operand:
        m = _PLACEHOLDER.match(text, i)
        if m:
            return Token("placeholder", m.group(), i, m.end())
    if ch.isdigit() or ch in "{$" or ch in "abcdefABCDEF:":
        for kind, rx in _LITERALS:
            m = rx.match(text, i)
            if m:
                return Token(kind, m.group(), i, m.end())
        if ch.isdigit():
            m = re.compile(r"[0-9A-Za-z_.:]+").match(text, i)
            assert m is not None
            return Token("error", m.group(), i, m.end(), f"{m.group()!r} is not a number, address or name")
    if ch == "*" and operand:
        m = _WILDCARD.match(text, i)
        if m:
            return Token("wild", m.group(), i, m.end())
    if ch.isalpha() or ch == "_" or (ch == "." and i + 1 < len(text) and (text[i + 1].isalpha() or text[i + 1] == "_")):
        m = _PATH.match(text, i)
        if m:
            word = m.group()
            low = word.lower()
            if low in KEYWORDS:
                return Token(low, word, i, m.end())
            return Token("path", word, i, m.end())
    for op in _OPS:
        if text.startswith(op, i):
            return Token("op", op, i, i + len(op))
    if ch == "#":
        m = re.compile(r"#\w*").match(text, i)
        assert m is not None
        return Token("error", m.group(), i, m.end(), "Message Analyzer annotations (#…) are not supported")
    if ch == "\\":
        return Token("error", ch, i, i + 1, "Message Analyzer origin paths (\\A\\B) are not supported")
    if ch == "@" and text.startswith('@"', i):
        return Token("error", "@", i, i + 1, "Message Analyzer verbatim strings (@\"…\") are not supported")
    if ch == ":":
        j = i + (2 if text.startswith("::", i) else 1)
        return Token("error", text[i:j], i, j,
                     "':' and '::' path steps are Message Analyzer syntax; use '.' between names")
    if ch == ".":
        return Token("error", ".", i, i + 1, "a '.' must be followed by a name")
    return Token("error", ch, i, i + 1, f"unexpected character {ch!r}")


_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "0": "\0", "\\": "\\", '"': '"', "'": "'"}


def unescape(body: str) -> str:
    """C-like escapes inside a string literal (``\\"``, ``\\\\``, ``\\n``, ``\\t``, ``\\xHH``)."""
    if "\\" not in body:
        return body
    out: list[str] = []
    i = 0
    while i < len(body):
        c = body[i]
        if c == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            if nxt == "x" and re.fullmatch(r"[0-9A-Fa-f]{2}", body[i + 2 : i + 4] or ""):
                out.append(chr(int(body[i + 2 : i + 4], 16)))
                i += 4
                continue
            out.append(_ESCAPES.get(nxt, "\\" + nxt))
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


def escape(value: str, quote: str = '"') -> str:
    """The inverse of ``unescape`` for printing a string literal."""
    out = value.replace("\\", "\\\\").replace(quote, "\\" + quote)
    return out.replace("\n", "\\n").replace("\t", "\\t").replace("\r", "\\r")


def normalise_quotes(text: str) -> tuple[str, list[tuple[int, int]]]:
    """Replace typographic quotes around strings by plain ones (same length, so columns hold)."""
    spans: list[tuple[int, int]] = []
    if not any(q in text for q in SMART_QUOTES):
        return text, spans
    chars = list(text)
    for tok in tokenize(text):
        if tok.kind == "smartstring":
            spans.append((tok.start, tok.end))
            chars[tok.start] = SMART_QUOTES.get(chars[tok.start], chars[tok.start])
            chars[tok.end - 1] = SMART_QUOTES.get(chars[tok.end - 1], chars[tok.end - 1])
    return "".join(chars), spans
