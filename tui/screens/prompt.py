"""A one-line question (go to frame, find expression, preset names) that checks its answer as typed."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from rich.markup import escape as escape_markup
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static
from tracemon.traces.text import visible_lines

Check = Callable[[str], str | None]  # returns an error message, or None when the text is acceptable


class PromptScreen(ModalScreen[str | None]):
    DEFAULT_CSS = """
    PromptScreen { align: center middle; }
    PromptScreen > Vertical {
        width: 90%; max-width: 100; height: auto;
        border: round $primary; background: $panel; padding: 0 1;
    }
    PromptScreen #prompt-title { text-style: bold; }
    PromptScreen #prompt-message { height: auto; color: $text-muted; }
    PromptScreen #prompt-message.-error { color: $error; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel", id="prompt.cancel")]

    def __init__(self, title: str, *, value: str = "", placeholder: str = "", help: str = "",
                 check: Check | None = None) -> None:
        super().__init__()
        self.title_text = title
        self.value = value
        self.placeholder = placeholder
        self.help_text = help
        self.check = check

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.title_text, id="prompt-title")
            yield Input(self.value, placeholder=self.placeholder, id="prompt-input")
            yield Static(self.help_text, id="prompt-message")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    @on(Input.Changed)
    def _changed(self, event: Input.Changed) -> None:
        error = self.check(event.value) if self.check and event.value.strip() else None
        msg = self.query_one("#prompt-message", Static)
        msg.set_class(error is not None, "-error")
        msg.update(Text(visible_lines(error)) if error else self.help_text)

    @on(Input.Submitted)
    def _submit(self, event: Input.Submitted) -> None:
        text = event.value
        error = self.check(text) if self.check else None
        if error is not None:
            self.app.bell()
            msg = self.query_one("#prompt-message", Static)
            msg.set_class(True, "-error")
            msg.update(Text(visible_lines(error)))
            return
        self.dismiss(text)

    def action_cancel(self) -> None:
        self.dismiss(None)


class ConfirmScreen(ModalScreen[bool]):
    """Yes/no: Enter or y confirms, Esc or n cancels."""

    DEFAULT_CSS = """
    ConfirmScreen { align: center middle; }
    ConfirmScreen > Static {
        width: auto; max-width: 90%; height: auto; border: round $warning; background: $panel; padding: 0 1;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter,y", "answer(True)", "Yes", id="confirm.yes"),
        Binding("escape,n", "answer(False)", "No", id="confirm.no"),
    ]

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        question = escape_markup(visible_lines(self.question))  # it names presets and files
        yield Static(f"{question}\n\n[b]Enter[/b]/[b]y[/b] yes · [b]Esc[/b]/[b]n[/b] no")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)
