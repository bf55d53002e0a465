"""A fuzzy picker: type to narrow a list, Enter picks.  Presets, sort columns and fields use it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.fuzzy import Matcher
from textual.screen import ModalScreen
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option
from tracemon.traces.text import visible


@dataclass(frozen=True, slots=True)
class Item:
    id: str
    label: str
    detail: str = ""
    search: str = ""  # extra text the query matches (category, expression)


class PickerScreen(ModalScreen[str | None]):
    """Returns the picked item's id, or None on Esc."""

    DEFAULT_CSS = """
    PickerScreen { align: center middle; }
    PickerScreen > Vertical {
        width: 90%; max-width: 110; height: 80%; max-height: 30;
        border: round $primary; background: $panel; padding: 0 1;
    }
    PickerScreen #picker-title { text-style: bold; height: 1; }
    PickerScreen #picker-help { color: $text-muted; height: auto; }
    PickerScreen Input { margin: 0; width: 100%; }
    PickerScreen OptionList { height: 1fr; border: none; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="picker.cancel"),
        Binding("down", "move(1)", "Down", show=False, id="picker.down"),
        Binding("up", "move(-1)", "Up", show=False, id="picker.up"),
    ]

    def __init__(self, title: str, items: Sequence[Item], *, help: str = "", placeholder: str = "type to search",
                 selected: str | None = None) -> None:
        super().__init__()
        self.title_text = title
        self.items = list(items)
        self.help_text = help
        self.placeholder = placeholder
        self.initial = selected
        self._shown: list[Item] = []

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.title_text, id="picker-title")
            yield Input(placeholder=self.placeholder, id="picker-query")
            yield OptionList(id="picker-list")
            if self.help_text:
                yield Static(self.help_text, id="picker-help")

    def on_mount(self) -> None:
        self.refill("")
        if self.initial is not None:
            for k, item in enumerate(self._shown):
                if item.id == self.initial:
                    self.query_one(OptionList).highlighted = k
        self.query_one(Input).focus()

    def refill(self, query: str) -> None:
        lst = self.query_one(OptionList)
        lst.clear_options()
        if query.strip():
            m = Matcher(query)
            scored = [(m.match(f"{i.label} {i.search}"), i) for i in self.items]
            shown = [i for s, i in sorted(scored, key=lambda x: -x[0]) if s > 0]
        else:
            shown = list(self.items)
        self._shown = shown
        for item in shown:
            label = Text(visible(item.label), style="bold")  # preset names and filters: user text
            if item.detail:
                label.append("\n  " + visible(item.detail), style="dim")
            lst.add_option(Option(label))
        if shown:
            lst.highlighted = 0

    @on(Input.Changed, "#picker-query")
    def _query(self, event: Input.Changed) -> None:
        self.refill(event.value)

    @on(Input.Submitted, "#picker-query")
    def _submit(self, event: Input.Submitted) -> None:
        self.pick()

    @on(OptionList.OptionSelected)
    def _selected(self, event: OptionList.OptionSelected) -> None:
        self.pick()

    @property
    def current(self) -> Item | None:
        k = self.query_one(OptionList).highlighted
        return self._shown[k] if k is not None and 0 <= k < len(self._shown) else None

    def pick(self) -> None:
        item = self.current
        if item is not None:
            self.dismiss(item.id)

    def action_move(self, step: int) -> None:
        lst = self.query_one(OptionList)
        if step > 0:
            lst.action_cursor_down()
        else:
            lst.action_cursor_up()

    def action_cancel(self) -> None:
        self.dismiss(None)
