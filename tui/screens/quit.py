"""``q`` asks before leaving: a stray ``q`` (typed ahead, or meant for a box that was not focused)
must not close a trace in the middle of an incident.  ``q``, ``y`` or Enter again quits; any other
key stays.  Ctrl+Q quits without asking."""

from __future__ import annotations

from textual import events
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

#: keys that confirm
YES = frozenset({"q", "y", "Y", "enter"})


class QuitScreen(ModalScreen[bool]):
    DEFAULT_CSS = """
    QuitScreen { align: center middle; }
    QuitScreen > Vertical {
        width: auto; max-width: 90%; height: auto;
        border: round $warning; background: $panel; padding: 0 2;
    }
    QuitScreen Static { width: auto; }
    QuitScreen #quit-title { text-style: bold; }
    QuitScreen #quit-keys { color: $text-muted; }
    """

    def __init__(self, what: str) -> None:
        super().__init__()
        self.what = what

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(f"Quit tracemon? {self.what}", id="quit-title")
            yield Static("q, y or Enter quits · any other key stays", id="quit-keys")

    def on_key(self, event: events.Key) -> None:
        event.stop()
        event.prevent_default()
        self.dismiss(event.key in YES)

    def on_click(self) -> None:
        self.dismiss(False)
