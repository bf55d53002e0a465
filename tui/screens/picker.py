"""A picker: type to narrow a list, Enter picks.  Presets, sort columns and fields use it.

Matching ranks names first (``tui.matching``) and the list renders only its visible rows
(``PickList``), so a keystroke stays fast with 10,000 items and long preset expressions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from ..matching import Ranker
from ..widgets.pick_list import PickList


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
    PickerScreen PickList { height: 1fr; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="picker.cancel"),
        Binding("down", "move(1)", "Down", show=False, id="picker.down"),
        Binding("up", "move(-1)", "Up", show=False, id="picker.up"),
        Binding("pagedown", "move(10)", "Page down", show=False, id="picker.page_down"),
        Binding("pageup", "move(-10)", "Page up", show=False, id="picker.page_up"),
    ]

    def __init__(self, title: str, items: Sequence[Item], *, help: str = "", placeholder: str = "type to search",
                 selected: str | None = None) -> None:
        super().__init__()
        self.title_text = title
        self.items = list(items)
        self.help_text = help
        self.placeholder = placeholder
        self.initial = selected
        self._ranker = Ranker([i.label for i in self.items], [i.search for i in self.items])

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.title_text, id="picker-title")
            yield Input(placeholder=self.placeholder, id="picker-query")
            yield PickList(self.items, id="picker-list")
            if self.help_text:
                yield Static(self.help_text, id="picker-help")

    @property
    def list(self) -> PickList:
        return self.query_one(PickList)

    def on_mount(self) -> None:
        self.refill("")
        if self.initial is not None:
            for k, item in enumerate(self.items):
                if item.id == self.initial:
                    self.list.highlighted = k
                    break
        self.query_one(Input).focus()

    def set_items(self, items: Sequence[Item]) -> None:
        self.items = list(items)
        self._ranker = Ranker([i.label for i in self.items], [i.search for i in self.items])
        self.list.set_items(self.items, range(len(self.items)))

    def refill(self, query: str) -> None:
        self.list.show(self._ranker.rank(query))

    @property
    def shown(self) -> list[Item]:
        """The items shown, best match first."""
        return [self.items[k] for k in self.list.shown]

    @on(Input.Changed, "#picker-query")
    def _query(self, event: Input.Changed) -> None:
        self.refill(event.value)

    @on(Input.Submitted, "#picker-query")
    def _submit(self, event: Input.Submitted) -> None:
        self.pick()

    @on(PickList.Selected)
    def _selected(self, event: PickList.Selected) -> None:
        self.pick()

    @property
    def current(self) -> Item | None:
        k = self.list.current
        return self.items[k] if k is not None else None

    def pick(self) -> None:
        item = self.current
        if item is not None:
            self.dismiss(item.id)

    def action_move(self, step: int) -> None:
        self.list.move(step)

    def action_cancel(self) -> None:
        self.dismiss(None)
