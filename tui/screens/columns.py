"""Choose Columns: add any registry field, remove, reorder; built-in Netmon columns first."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option
from tracemon.traces.fields import FieldType, Registry
from tracemon.traces.text import visible
from tracemon.traces.trace import Trace

from .. import columns as _columns
from ..config import DEFAULT_COLUMNS
from .picker import Item, PickerScreen


def field_items(registry: Registry, shown: Sequence[str]) -> list[Item]:
    """Every field (the picker's list is virtual: no limit is needed to keep it fast)."""
    have = {s.lower() for s in shown}
    items = [Item(c.key, c.title, "built-in column") for c in _columns.STANDARD if c.key not in have]
    for fdef in registry:
        if fdef.name.lower() in have or (fdef.type is FieldType.PROTOCOL and "." not in fdef.name):
            continue
        items.append(Item(fdef.name, fdef.name, f"{fdef.type.value} · {fdef.description}"))
    return items


class ColumnsScreen(ModalScreen[list[str] | None]):
    DEFAULT_CSS = """
    ColumnsScreen { align: center middle; }
    ColumnsScreen > Vertical {
        width: 80%; max-width: 90; height: 80%; max-height: 28;
        border: round $primary; background: $panel; padding: 0 1;
    }
    ColumnsScreen #columns-title { text-style: bold; }
    ColumnsScreen OptionList { height: 1fr; border: none; }
    ColumnsScreen #columns-help { color: $text-muted; height: auto; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a,insert", "add", "Add", id="columns.add"),
        Binding("x,delete", "remove", "Remove", id="columns.remove"),
        Binding("shift+up,K", "move(-1)", "Move up", id="columns.up"),
        Binding("shift+down,J", "move(1)", "Move down", id="columns.down"),
        Binding("r", "reset", "Defaults", id="columns.reset"),
        Binding("enter,ctrl+s", "done", "Done", id="columns.done"),
        Binding("escape", "cancel", "Cancel", id="columns.cancel"),
    ]

    def __init__(self, current: Sequence[str], trace: Trace) -> None:
        super().__init__()
        self.names = list(current)
        self.trace = trace
        self.registry = trace.registry

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("Columns of the frame list", id="columns-title")
            yield OptionList(id="columns-list")
            yield Static("a add · x remove · Shift+↑/↓ move · r defaults · Enter done · Esc cancel",
                         id="columns-help")

    def on_mount(self) -> None:
        self.refill(0)
        self.query_one(OptionList).focus()

    def refill(self, highlight: int) -> None:
        lst = self.query_one(OptionList)
        lst.clear_options()
        for name in self.names:
            try:
                col = _columns.column(name, self.trace)
            except KeyError:
                lst.add_option(Option(Text(f"{visible(name)}  (unknown field)", style="dim")))
                continue
            label = Text(visible(col.title), style="bold")
            label.append("  field" if col.field else "  built-in", style="dim")
            lst.add_option(Option(label))
        if self.names:
            lst.highlighted = max(0, min(highlight, len(self.names) - 1))

    @property
    def position(self) -> int:
        k = self.query_one(OptionList).highlighted
        return k if k is not None else 0

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.action_done()

    def action_add(self) -> None:
        def added(name: str | None) -> None:
            if name:
                at = self.position + 1 if self.names else 0
                self.names.insert(at, name)
                self.refill(at)

        self.app.push_screen(PickerScreen("Add a column", field_items(self.registry, self.names),
                                          placeholder="field name, e.g. TCP.SrcPort or SwitchName"), added)

    def action_remove(self) -> None:
        if len(self.names) <= 1:
            self.notify("The list needs at least one column", severity="warning")
            return
        k = self.position
        del self.names[k]
        self.refill(k)

    def action_move(self, step: int) -> None:
        k = self.position
        j = k + step
        if 0 <= j < len(self.names):
            self.names[k], self.names[j] = self.names[j], self.names[k]
            self.refill(j)

    def action_reset(self) -> None:
        self.names = list(DEFAULT_COLUMNS)
        self.refill(0)

    def action_done(self) -> None:
        self.dismiss(list(self.names))

    def action_cancel(self) -> None:
        self.dismiss(None)
