"""Keys typed ahead take effect in the order they were typed, on what each one was meant for.

Over SSH a burst of keys arrives in one read: ``/`` and the filter text, ``g150⏎``, text then
Esc then ``/``.  Textual hands each key to the widget focused *when the app reads it*, but what
a key does happens later: a binding of the focused widget (Enter, Esc, Backspace, Tab) runs
only when the key has bubbled back up to the app, behind the keys read after it, and a widget
takes focus (``Widget.focus``, a dialog being mounted) a few messages later still.  So the text
after ``/`` went to the frame list and ran as commands, and ``…443⏎t`` applied ``…443t``.

``KeyQueue`` restores the terminal's order: the app dispatches one key at a time, the next only
once the previous one has been fully handled (a marker message posted behind it has bubbled
the same way up to the app), and none to a screen that was just shown until it has focused a
widget.  Text typed into a text box is the exception: the box consumes it in its own queue's
order, so a burst of text does not wait key by key.  Commands that open somewhere to type (``Command.typeahead``) are priority bindings, so
they run while their key is dispatched; ``/`` then focuses the bar synchronously.  Nothing is
dropped: the safety limits below only let a key go on without waiting, never discard it.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Awaitable, Callable

from textual import events
from textual.app import App
from textual.message import Message
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Input

POLL = 0.02  # s between checks while keys wait
#: polls of a mounted screen with something to focus but nothing focused before keys go to it anyway
SETTLE_POLLS = 5
#: a marker that never comes back (its widget was removed mid-bubble) stops waiting after this
IN_FLIGHT_LIMIT = 2.0  # s
#: a screen that never focuses anything (an error while composing) gets the keys after this
SCREEN_LIMIT = 5.0  # s


class KeyHandled(Message):
    """Posted behind a dispatched key to the widget that got it; reaching the app, it says that
    everything the key set off along the way (bindings included) has run."""

    def __init__(self, serial: int) -> None:
        super().__init__()
        self.serial = serial


class KeyQueue:
    """The app's keys, in order, one at a time."""

    def __init__(self, app: App, dispatch: Callable[[events.Key], Awaitable[None]]) -> None:
        """``dispatch`` is Textual's own handling of a key the app has read."""
        self.app = app
        self._dispatch = dispatch
        self.pending: deque[events.Key] = deque()
        self._serial = 0
        self._in_flight: int | None = None
        self._sent_at = 0.0
        self._screen: Screen | None = None
        self._screen_since = 0.0
        self._settle = 0
        self._timer: Timer | None = None
        self._pumping = False
        #: keys read so far (tests compare it with the keys they sent)
        self.read_count = 0

    @property
    def idle(self) -> bool:
        """No key is waiting or on its way (tests wait for this)."""
        return not self.pending and self._in_flight is None

    # -- called by the app ------------------------------------------------------------------
    async def read(self, event: events.Key) -> None:
        """A key read from the terminal."""
        self.read_count += 1
        self.pending.append(event)
        await self._pump()

    async def handled(self, message: KeyHandled) -> None:
        if message.serial == self._in_flight:
            self._in_flight = None
            await self._pump()

    def screen_shown(self, screen: Screen) -> None:
        """``screen`` was pushed or switched to: the keys after this one are for it, once it can take them."""
        self._screen = screen
        self._screen_since = time.monotonic()
        self._settle = 0

    # -- dispatching ------------------------------------------------------------------------
    def _screen_ready(self) -> bool:
        screen = self._screen
        if screen is None:
            return True
        app = self.app
        if (screen not in app.screen_stack or app.screen is not screen or screen.focused is not None
                or (screen.is_mounted and not screen.focus_chain)  # nothing to focus: keys go to the screen
                or self._settle >= SETTLE_POLLS or time.monotonic() - self._screen_since > SCREEN_LIMIT):
            self._screen = None
            return True
        return False

    def _busy(self) -> bool:
        if self._in_flight is not None and time.monotonic() - self._sent_at > IN_FLIGHT_LIMIT:
            self._in_flight = None
        return self._in_flight is not None or not self._screen_ready()

    async def _pump(self) -> None:
        if self._pumping:  # (a key being dispatched reads no other key; this is for safety)
            return
        self._pumping = True
        try:
            while self.pending and not self._busy():
                key = self.pending.popleft()
                await self._dispatch(key)
                target = self.app.focused
                if key.is_printable and isinstance(target, Input):
                    # text for a text box: it consumes the key itself, in its own queue's order, so
                    # the next key need not wait (a burst of text goes as fast as before)
                    continue
                # behind the key, on the same way: the widget that got it (if it still has focus)
                self._serial += 1
                self._in_flight = self._serial
                self._sent_at = time.monotonic()
                (target or self.app.screen).post_message(KeyHandled(self._serial))
        finally:
            self._pumping = False
        self._watch(bool(self.pending))

    def _watch(self, needed: bool) -> None:
        if needed and self._timer is None:
            self._timer = self.app.set_interval(POLL, self._poll)
        elif not needed and self._timer is not None:
            self._timer.stop()
            self._timer = None

    async def _poll(self) -> None:
        screen = self._screen
        if screen is not None and screen.is_mounted and screen.focused is None:
            self._settle += 1
        await self._pump()
