"""Keys typed ahead of a dialog wait for it, instead of running as commands on the screen below.

Over SSH a key that opens a dialog and the text typed after it arrive in one read.  Textual hands
every key to the widget focused *when the app reads it*, while a dialog mounts and takes focus a
few messages later; so ``g150⏎`` or ``p arp⏎`` typed quickly went to the frame list, where the
digits were lost and the letters ran as commands.

Commands that open somewhere to type (``Command.typeahead``) are priority bindings, so they run
while the app reads their key, before the next key is dispatched; the filter bar then takes
focus synchronously (``Screen.set_focus``).  A dialog cannot take focus before it is mounted, so
after a screen is pushed the app holds the keys that follow until that screen has focused a
widget (or is gone, or settled with nothing to focus), then dispatches them in order as if they
had just arrived.  Nothing is dropped: a hold always ends in the normal dispatch.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from textual import events
from textual.app import App
from textual.screen import Screen
from textual.timer import Timer

#: polls of a mounted screen with nothing focused before its held keys go on anyway
SETTLE_POLLS = 5
POLL = 0.02  # s
#: a screen that never mounts (an error while composing) still gives the keys back
MAX_POLLS = 250


class TypeAhead:
    """The app's hold on keys while a newly shown screen gets ready."""

    def __init__(self, app: App, dispatch: Callable[[events.Key], Awaitable[None]]) -> None:
        """``dispatch`` is the app's key handling (which calls ``hold`` first)."""
        self.app = app
        self._dispatch = dispatch
        self.screen: Screen | None = None
        self.keys: list[events.Key] = []
        self._polls = 0
        self._settle = 0
        self._timer: Timer | None = None

    def hold_for(self, screen: Screen) -> None:
        """Keys read from now on wait until ``screen`` can take them."""
        if self._ready(screen):
            return
        self.screen = screen
        self._polls = self._settle = 0
        if self._timer is None:
            self._timer = self.app.set_interval(POLL, self._poll)

    async def hold(self, event: events.Key) -> bool:
        """Called for each key the app reads: True when the key was held back."""
        if self.screen is None:
            return False
        if not self._ready(self.screen):
            self.keys.append(event)
            return True
        await self._release()
        return False

    def _ready(self, screen: Screen) -> bool:
        app = self.app
        if screen not in app.screen_stack or app.screen is not screen:
            return True  # dismissed, or another screen is on top: the keys go to what is shown
        return screen.focused is not None or self._settle >= SETTLE_POLLS or self._polls >= MAX_POLLS

    async def _poll(self) -> None:
        screen = self.screen
        if screen is None:
            return
        self._polls += 1
        if screen.is_mounted and screen.focused is None:
            self._settle += 1
        if self._ready(screen):
            await self._release()

    async def _release(self) -> None:
        keys, self.keys, self.screen = self.keys, [], None
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        for key in keys:
            # (through the app's own key handling: a held key that opens another dialog makes the
            # ones after it wait for that dialog in turn)
            await self._dispatch(key)
