"""Errors and warnings a person can act on: where (line, column, caret), what, and what to do.

The filter bar shows ``FilterError.caret()`` under the text it validates on every keystroke, so
positions are exact and messages name the offending text instead of a grammar rule.
"""

from __future__ import annotations

from dataclasses import dataclass, field


def line_col(text: str, offset: int) -> tuple[int, int]:
    """1-based (line, column) of a 0-based ``offset`` in ``text``."""
    offset = max(0, min(offset, len(text)))
    line = text.count("\n", 0, offset) + 1
    start = text.rfind("\n", 0, offset) + 1
    return line, offset - start + 1


class FilterError(ValueError):
    """A filter that cannot be compiled.

    ``column`` is 1-based within ``line``; ``offset`` is the 0-based position in the whole text.
    ``expected`` lists what would have been valid there, ``hints`` say how to fix it and
    ``suggestions`` are close known names for an unknown one.
    """

    def __init__(
        self,
        message: str,
        text: str = "",
        offset: int = 0,
        length: int = 1,
        *,
        expected: list[str] | None = None,
        hints: list[str] | None = None,
        suggestions: list[str] | None = None,
    ) -> None:
        self.message = message
        self.text = text
        self.offset = max(0, min(offset, len(text)))
        self.length = max(1, length)
        self.line, self.column = line_col(text, self.offset)
        self.expected = list(expected or [])
        self.hints = list(hints or [])
        self.suggestions = list(suggestions or [])
        super().__init__(self.__str__())

    def __str__(self) -> str:
        where = f"line {self.line}, column {self.column}" if "\n" in self.text else f"column {self.column}"
        out = f"{where}: {self.message}"
        if self.suggestions:
            out += " (did you mean " + ", ".join(self.suggestions[:3]) + "?)"
        return out

    def caret(self) -> str:
        """The offending line and a caret line under the offending text (two lines)."""
        return caret_lines(self.text, self.offset, self.length)

    def explain(self) -> str:
        """Everything: caret lines, the message, what was expected, hints (for the CLI)."""
        parts = [self.caret(), str(self)]
        if self.expected:
            parts.append("expected: " + ", ".join(self.expected))
        parts.extend(f"hint: {h}" for h in self.hints)
        return "\n".join(parts)


def caret_lines(text: str, offset: int, length: int) -> str:
    offset = max(0, min(offset, len(text)))
    start = text.rfind("\n", 0, offset) + 1
    end = text.find("\n", offset)
    if end < 0:
        end = len(text)
    line = text[start:end]
    col = offset - start
    width = max(1, min(length, max(1, len(line) - col)))
    # keep tabs so the caret lines up under tab-indented multi-line filters
    pad = "".join("\t" if ch == "\t" else " " for ch in line[:col])
    return f"{line}\n{pad}{'^' * width}"


@dataclass(slots=True)
class FilterWarning:
    """Something that compiles but probably does not mean what the user thinks."""

    message: str
    column: int | None = None
    hint: str = ""
    offset: int | None = None
    length: int = 1
    line: int | None = None
    text: str = field(default="", repr=False)

    def __str__(self) -> str:
        where = f"column {self.column}: " if self.column is not None else ""
        return f"{where}{self.message}" + (f" ({self.hint})" if self.hint else "")

    def caret(self) -> str:
        if self.offset is None:
            return ""
        return caret_lines(self.text, self.offset, self.length)


def warning_at(text: str, offset: int | None, length: int, message: str, hint: str = "") -> FilterWarning:
    if offset is None:
        return FilterWarning(message, None, hint, None, length, None, text)
    line, col = line_col(text, offset)
    return FilterWarning(message, col, hint, offset, length, line, text)
