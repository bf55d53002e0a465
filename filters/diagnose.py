"""Explain a syntax error from the token stream: where, what was expected, how to fix it.

pyparsing reports where it gave up after backtracking, which is rarely where the mistake is and
never says why.  This walks the tokens with the shape of the grammar (operand, operator,
operand …, brackets balanced) and stops at the first token that cannot follow the previous
one.  Special cases get their own hint: documentation placeholders (``<server IP>``), a value
missing after ``==``, two conditions without AND/OR (often two lines), typographic quotes,
Message Analyzer-only syntax.
"""

from __future__ import annotations

from .errors import FilterError
from .lexer import ARITH_OPS, LITERAL_KINDS, MA_WORDS, REL_OPS, Token, tokenize

VALUE = "a value (number, address or \"string\")"
CONDITION = "a condition (a protocol or field name)"
OPERATORS = ["AND", "OR", "==", "!=", "<", "<=", ">", ">=", ")", "end of filter"]
_OPERAND_START = ["a protocol or field name", "a value", "(", "NOT"]


def _describe(tok: Token) -> str:
    if tok.kind in ("and", "or", "not", "in", "contains"):
        return tok.text.upper()
    if tok.kind == "path":
        return f"the name {tok.text}"
    if tok.kind in LITERAL_KINDS:
        return f"the value {tok.text}"
    return f"{tok.text!r}"


def _err(text: str, tok: Token | None, message: str, *, expected: list[str] | None = None,
         hints: list[str] | None = None, at_end: bool = False) -> FilterError:
    if tok is None or at_end:
        pos = len(text.rstrip())
        return FilterError(message, text, pos, 1, expected=expected, hints=hints)
    return FilterError(message, text, tok.start, tok.end - tok.start, expected=expected, hints=hints)


def diagnose(text: str, prepared: str, fail_loc: int) -> FilterError:
    """The best FilterError for ``text``, which pyparsing rejected at ``fail_loc``."""
    tokens = tokenize(text)
    found = _walk(text, tokens)
    if found is not None:
        return found
    # the walk saw nothing wrong: report where pyparsing stopped
    tok = next((t for t in tokens if t.end > fail_loc), None)
    if tok is None:
        return _err(text, None, "the filter ends too early", expected=_OPERAND_START)
    return _err(text, tok, f"unexpected {_describe(tok)}")


def _walk(text: str, tokens: list[Token]) -> FilterError | None:
    stack: list[tuple[str, Token, bool]] = []  # ("paren"|"call"|"list", opening token, rel_seen before)
    expect_operand = True
    prev: Token | None = None
    rel_seen = False  # a comparison in the current operand sequence (no chaining)
    after_in = False
    after_contains = False
    for i, tok in enumerate(tokens):
        k = tok.kind
        if k == "error":
            return _err(text, tok, tok.note, hints=_error_hints(tok))
        if k == "placeholder":
            return _err(text, tok, f"{tok.text} is a placeholder from documentation, not a value",
                        hints=[f"replace {tok.text} with a real value, e.g. 10.0.0.1 or 443"])
        if after_contains:
            after_contains = False
            if k not in ("string", "smartstring", "bytes"):
                return _err(text, tok, f"contains needs a \"string\" or $[hex bytes], not {_describe(tok)}",
                            expected=['"text"', "$[48 54 54 50]"])
            expect_operand = False
            prev = tok
            continue
        if after_in:
            after_in = False
            if tok.text == "[":
                stack.append(("list", tok, rel_seen))
                rel_seen = False
                expect_operand = True
                prev = tok
                continue
            if k in ("ipv4", "ipv6") and "/" in tok.text:
                expect_operand = False
                prev = tok
                continue
            return _err(text, tok, f"in needs a list [a, b, …] or a subnet like 10.1.0.0/16, not {_describe(tok)}",
                        expected=["[", "a subnet"])
        if expect_operand:
            if k in ("path", "wild") or k in LITERAL_KINDS:
                if k == "path" and tok.lower in MA_WORDS:
                    return _ma_word(text, tok)
                nxt = tokens[i + 1] if i + 1 < len(tokens) else None
                if k == "path" and nxt is not None and nxt.text == "(" and nxt.start == tok.end:
                    stack.append(("call", tok, rel_seen))
                    rel_seen = False
                    prev = nxt
                    expect_operand = True
                    tokens[i + 1] = Token("op", "(call", nxt.start, nxt.end)  # consumed below
                    continue
                if k == "path" and tok.text.endswith("."):
                    return _err(text, tok, f"{tok.text} is missing the name after the last '.'",
                                expected=["a field name"])
                expect_operand = False
            elif k == "not" or (k == "op" and tok.text in ("!", "-", "~")):
                pass
            elif k == "contains":
                after_contains = True
            elif k == "op" and tok.text == "(":
                stack.append(("paren", tok, rel_seen))
                rel_seen = False
            elif k == "op" and tok.text == "(call":
                pass
            elif k == "op" and tok.text == ")" and stack and stack[-1][0] == "call" and prev is not None \
                    and prev.text == "(call":
                _, _, rel_seen = stack.pop()
                expect_operand = False
            else:
                return _missing_operand(text, prev, tok)
        else:
            if k == "op" and tok.text in REL_OPS:
                if rel_seen:
                    return _err(text, tok, "comparisons cannot be chained (a == b == c)",
                                hints=["join two comparisons with AND: a == b AND b == c"])
                rel_seen = True
                expect_operand = True
            elif k == "op" and tok.text in ARITH_OPS:
                expect_operand = True
            elif k in ("and", "or") or (k == "op" and tok.text in ("&&", "||")):
                rel_seen = False
                expect_operand = True
            elif k == "in":
                after_in = True
            elif k == "contains":
                after_contains = True
            elif k == "op" and tok.text == ")":
                if not stack or stack[-1][0] == "list":
                    return _err(text, tok, "this ) has no matching (", expected=[x for x in OPERATORS if x != ")"])
                _, _, rel_seen = stack.pop()
            elif k == "op" and tok.text == "]":
                if not stack or stack[-1][0] != "list":
                    return _err(text, tok, "this ] has no matching [")
                _, _, rel_seen = stack.pop()
            elif k == "op" and tok.text == ",":
                if not stack or stack[-1][0] not in ("call", "list"):
                    return _err(text, tok, "a ',' only separates the items of a list or the arguments of a "
                                           "function", expected=OPERATORS)
                rel_seen = False
                expect_operand = True
            elif k == "op" and tok.text == "(" and prev is not None and prev.kind == "path":
                return _err(text, tok, f"put the '(' right after {prev.text} to call it as a function")
            elif k == "path" and tok.lower in MA_WORDS:
                return _ma_word(text, tok)
            else:
                return _two_conditions(text, prev, tok)
        prev = tok
    if after_in or after_contains or (expect_operand and prev is not None):
        return _missing_operand(text, prev, None)
    if stack:
        kind, opener, _ = stack[-1]
        close = "]" if kind == "list" else ")"
        return FilterError(f"the {opener.text[0]} at column {opener.start + 1} is never closed with {close}",
                           text, opener.start, 1, expected=[close], hints=[f"add {close} at the end"])
    return None


def _missing_operand(text: str, prev: Token | None, tok: Token | None) -> FilterError:
    if prev is not None and prev.kind == "op" and prev.text in REL_OPS:
        msg = f"expected a value after {prev.text}"
        hints = ["complete the comparison, e.g. IPv4.Address == 10.0.0.1 or TCP.Port == 443"]
        if tok is None:
            return _err(text, prev, msg + ", but the filter ends there", expected=[VALUE, "a field name"],
                        hints=hints, at_end=True)
        return _err(text, tok, f"{msg}, not {_describe(tok)}", expected=[VALUE, "a field name"], hints=hints)
    if prev is not None and prev.kind in ("and", "or", "not") or (prev is not None and prev.text in ("&&", "||", "!")):
        word = prev.text.upper()
        if tok is None:
            return _err(text, prev, f"expected a condition after {word}, but the filter ends there",
                        expected=_OPERAND_START, at_end=True)
        return _err(text, tok, f"expected a condition after {word}, not {_describe(tok)}", expected=_OPERAND_START)
    if prev is None and tok is not None:
        return _err(text, tok, f"a filter cannot start with {_describe(tok)}", expected=_OPERAND_START)
    if tok is None:
        return _err(text, prev, "the filter ends too early", expected=_OPERAND_START, at_end=True)
    if tok.text == ")" and prev is not None and prev.text == "(":
        return _err(text, tok, "empty parentheses: put a condition inside ( )", expected=_OPERAND_START)
    after = f" after {_describe(prev)}" if prev is not None else ""
    return _err(text, tok, f"expected {CONDITION} or {VALUE}{after}, not {_describe(tok)}", expected=_OPERAND_START)


def _two_conditions(text: str, prev: Token | None, tok: Token) -> FilterError:
    between = text[prev.end : tok.start] if prev is not None else ""
    hints = ["join them with AND or OR"]
    if "\n" in between:
        hints = [("each line here is a separate condition: join the lines with AND or OR, "
                  "or comment one line out with //")]
    if tok.kind == "op" and tok.text == "=":
        hints.append("use == to compare")
    msg = f"two conditions without AND/OR between them: {_describe(tok)} follows {_describe(prev) if prev else ''}"
    return _err(text, tok, msg.rstrip(": "), expected=OPERATORS, hints=hints)


def _ma_word(text: str, tok: Token) -> FilterError:
    low = tok.lower
    what = {"regex": "regular-expression filters (regex \"…\")",
            "casesensitive": "the caseSensitive option of contains",
            "encoding": "the encoding option of contains",
            "nothing": "the nothing literal"}[low]
    hints = {"casesensitive": ["ContainsBin(FrameData, ASCII, \"text\") is an exact (case-sensitive) search"],
             "nothing": ["test for a field's presence by writing its name alone: TCP.Options"]}.get(low, [])
    return _err(text, tok, f"{what} is Message Analyzer syntax that tracemon does not support", hints=hints)


def _error_hints(tok: Token) -> list[str]:
    if tok.text.startswith("#"):
        return ["tracemon has no diagnosis annotations; filter on fields instead"]
    if tok.text in (":", "::"):
        return ["write TCP.Flags.Syn rather than TCP::Flags:SYN"]
    return []
