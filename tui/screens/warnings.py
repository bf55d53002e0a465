"""The warning panel: what a reader could not read, where, and how many frames were kept."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static
from tracemon.traces.text import visible, visible_lines


class WarningsScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    WarningsScreen { align: center middle; }
    WarningsScreen > Vertical {
        width: 90%; max-width: 110; height: auto; max-height: 80%;
        border: round $warning; background: $panel; padding: 0 1;
    }
    WarningsScreen #warnings-title { text-style: bold; color: $warning; }
    WarningsScreen VerticalScroll { height: auto; max-height: 20; }
    WarningsScreen #warnings-help { color: $text-muted; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,enter,w,q", "close", "Close", id="warnings.close")]

    def __init__(self, title: str, lines: Sequence[str], kept: str = "") -> None:
        super().__init__()
        self.title_text = title
        self.lines = list(lines)
        self.kept = kept

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text(f"⚠ {visible(self.title_text)}"), id="warnings-title")
            with VerticalScroll():
                body = Text()
                for k, line in enumerate(self.lines):
                    if k:
                        body.append("\n")
                    body.append("• " + visible_lines(line))
                if self.kept:
                    body.append("\n\n" + self.kept, style="bold")
                yield Static(body, id="warnings-body")
            yield Static("Esc or Enter closes · w shows this again", id="warnings-help")

    def action_close(self) -> None:
        self.dismiss(None)
