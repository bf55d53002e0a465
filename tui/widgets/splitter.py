"""A one-cell bar between panes that the mouse can drag (keyboard resizing is a command)."""

from __future__ import annotations

from textual import events
from textual.message import Message
from textual.widget import Widget


class Splitter(Widget):
    """Drag to resize ``target`` ("tree" or "list"); posts ``Dragged`` with the cell delta."""

    DEFAULT_CSS = """
    Splitter.-vertical { width: 1; height: 1fr; }
    Splitter.-horizontal { height: 1; width: 1fr; }
    """

    class Dragged(Message):
        def __init__(self, target: str, delta: int) -> None:
            super().__init__()
            self.target = target
            self.delta = delta

    def __init__(self, target: str, vertical: bool, *, id: str | None = None) -> None:
        super().__init__(id=id, classes="-vertical" if vertical else "-horizontal")
        self.target = target
        self.vertical = vertical
        self._origin: int | None = None

    def render(self) -> str:
        return "\n".join("│" * self.size.height) if self.vertical else "─" * self.size.width

    def on_mouse_down(self, event: events.MouseDown) -> None:
        self._origin = event.screen_x if self.vertical else event.screen_y
        self.capture_mouse()
        self.add_class("-dragging")

    def on_mouse_move(self, event: events.MouseMove) -> None:
        if self._origin is None:
            return
        now = event.screen_x if self.vertical else event.screen_y
        if now != self._origin:
            self.post_message(self.Dragged(self.target, now - self._origin))
            self._origin = now

    def on_mouse_up(self, event: events.MouseUp) -> None:
        self._origin = None
        self.release_mouse()
        self.remove_class("-dragging")
