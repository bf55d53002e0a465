"""The pickers' list: a Line-API virtual list over indices into an item sequence.

Textual's ``OptionList`` measures every option when options are added (the Add-a-column picker
added up to 5,000 one by one per keystroke, ~22 s for "Switch"); here nothing exists per item:
``render_line(y)`` renders the one item under that line, so a new match list of any length costs
setting an array and a repaint of the visible rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar, Protocol

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip
from tracemon.traces.text import visible


class PickItem(Protocol):
    @property
    def label(self) -> str: ...

    @property
    def detail(self) -> str: ...


class PickList(ScrollView, can_focus=False):
    """Items (a label line and, when any item has one, a dimmed detail line) with a highlight."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {"pick-list--highlight", "pick-list--detail", "pick-list--empty"}
    DEFAULT_CSS = """
    PickList { background: $panel; height: 1fr; }
    PickList > .pick-list--highlight { background: $primary 40%; text-style: bold; }
    PickList > .pick-list--detail { color: $text-muted; }
    PickList > .pick-list--empty { color: $text-muted; text-style: italic; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("pageup", "page(-1)", show=False),
        Binding("pagedown", "page(1)", show=False),
    ]

    highlighted: reactive[int] = reactive(0, always_update=True, init=False)

    class Selected(Message):
        """An item was clicked (the screen picks it)."""

        def __init__(self, index: int) -> None:
            super().__init__()
            self.index = index

    def __init__(self, items: Sequence[PickItem], *, empty_text: str = "nothing matches",
                 id: str | None = None) -> None:
        super().__init__(id=id)
        self.items = items
        self.shown: Sequence[int] = range(len(items))
        self.empty_text = empty_text
        self.item_lines = 2 if any(getattr(i, "detail", "") for i in items) else 1
        #: items rendered so far (tests and the benchmark check that only visible rows are)
        self.rendered = 0

    def set_items(self, items: Sequence[PickItem], shown: Sequence[int]) -> None:
        self.items = items
        self.item_lines = 2 if any(getattr(i, "detail", "") for i in items) else 1
        self.show(shown)

    def show(self, shown: Sequence[int], highlight: int = 0) -> None:
        """Show these item indices, in this order."""
        self.shown = shown
        self.virtual_size = Size(self.size.width, max(1, len(shown) * self.item_lines))
        self.highlighted = highlight
        self.scroll_to(y=0, animate=False, immediate=True)
        self._keep_visible()
        self.refresh()

    @property
    def current(self) -> int | None:
        """The item index under the highlight."""
        k = self.highlighted
        return self.shown[k] if 0 <= k < len(self.shown) else None

    def validate_highlighted(self, value: int) -> int:
        return max(0, min(value, len(self.shown) - 1)) if len(self.shown) else 0

    def watch_highlighted(self) -> None:
        self._keep_visible()
        self.refresh()

    def _keep_visible(self) -> None:
        rows = max(1, self.size.height // self.item_lines)
        top = int(self.scroll_y) // self.item_lines
        k = self.highlighted
        if k < top:
            self.scroll_to(y=k * self.item_lines, animate=False, immediate=True)
        elif k >= top + rows:
            self.scroll_to(y=(k - rows + 1) * self.item_lines, animate=False, immediate=True)

    def move(self, step: int) -> None:
        self.highlighted = self.highlighted + step

    def action_page(self, step: int) -> None:
        self.move(step * max(1, self.size.height // self.item_lines - 1))

    def on_resize(self, event: events.Resize) -> None:
        self.virtual_size = Size(self.size.width, max(1, len(self.shown) * self.item_lines))
        self._keep_visible()

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        base = self.rich_style
        if not len(self.shown):
            if y == 0:
                style = self.get_component_rich_style("pick-list--empty")
                return Strip([Segment(set_cell_size(" " + self.empty_text, width), style)], width)
            return Strip.blank(width, base)
        line = int(self.scroll_y) + y
        k, part = divmod(line, self.item_lines)
        if k >= len(self.shown):
            return Strip.blank(width, base)
        item = self.items[self.shown[k]]
        if part == 0:
            self.rendered += 1
            text = " " + visible(item.label)  # preset names and filters: user text
            style = self.get_component_rich_style("pick-list--highlight") if k == self.highlighted else base
        else:
            text = "   " + visible(item.detail)
            style = self.get_component_rich_style("pick-list--detail")
            if k == self.highlighted:
                style = self.get_component_rich_style("pick-list--highlight") + style
        if cell_len(text) > width:
            text = set_cell_size(text, max(0, width - 1)) + "…"
        return Strip([Segment(set_cell_size(text, width), style)], width)

    def on_click(self, event: events.Click) -> None:
        k = (int(self.scroll_y) + event.y) // self.item_lines
        if 0 <= k < len(self.shown):
            self.highlighted = k
            self.post_message(self.Selected(k))
