"""The display-filter bar: validate on every keystroke, complete the token at the cursor, history.

Validation compiles the text in process (no subprocess per keystroke, unlike termshark) and
paints the bar green or red with the message and a caret under the offending token.  Enter
posts ``Applied``; the screen evaluates in a worker and reports progress back through
``show_status``.  Up/Down walk the history when no completion list is open.

Keys here never leave the bar by accident: Tab only completes, Esc puts the applied filter's
text back and moves focus to ``leave_to`` (the frame list).  Removing the filter is an
explicit action: Ctrl+U empties the bar and Enter applies that, or Ctrl+L from anywhere.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import events, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option
from tracemon.traces.text import visible

from .. import commands, filter_api

if TYPE_CHECKING:
    from tracemon.traces.trace import Trace


@dataclass(slots=True)
class Validation:
    """The result of checking one filter text (what the bar shows)."""

    ok: bool
    message: str = ""
    column: int = 0
    length: int = 0
    warnings: list[str] = field(default_factory=list)


def validate(text: str, trace: Trace) -> Validation:
    if not text.strip():
        return Validation(True)
    try:
        cf = filter_api.compile(text, trace)
    except Exception as e:  # noqa: BLE001 - a compiler bug must show as a message, not kill typing
        if not isinstance(e, filter_api.FilterError):
            return Validation(False, f"internal error in the filter compiler: {type(e).__name__}: {e}", 1,
                              max(1, len(text)))
        message, column, length = filter_api.error_parts(e)
        hints = list(getattr(e, "hints", []) or [])
        suggestions = list(getattr(e, "suggestions", []) or [])
        if suggestions and "did you mean" not in message.lower():
            message += f" (did you mean {', '.join(suggestions[:3])}?)"
        if hints:
            message += f" — {hints[0]}"
        return Validation(False, message, column, length)
    return Validation(True, "", warnings=[w.message for w in cf.warnings])


COMPLETION_DELAY = 0.06  # s after the last keystroke
MESSAGE_LINES = 4  # an error wraps onto at most this many lines under the bar


def error_lines(lead: Text, message: str, width: int, indent: int) -> Text:
    """The caret line ``lead`` followed by ``message``, wrapped to ``width`` with the lines after
    the first indented to the text box, at most MESSAGE_LINES (the last one ends in "…" if cut).
    At 80 columns a message after a caret far to the right would otherwise be cut after a word."""
    import textwrap

    first = width - lead.cell_len - 1
    words = message.split()
    lines: list[str] = []
    if first >= 16:
        head = textwrap.wrap(message, first)
        if head:
            lines.append(head[0])
            words = message[len(head[0]):].split()
    rest_w = max(16, width - indent - 1)
    lines += textwrap.wrap(" ".join(words), rest_w) if words else []
    cut = len(lines) > MESSAGE_LINES
    lines = lines[:MESSAGE_LINES]
    if cut:
        lines[-1] = lines[-1][: rest_w - 1] + "…"
    out = Text()
    out.append_text(lead)
    if first >= 16 and lines:
        out.append(lines.pop(0))
    for line in lines:
        out.append("\n" + " " * indent + line)
    return out

_STRINGS = re.compile(r"\"(?:[^\"\\]|\\.)*\"?|'(?:[^'\\]|\\.)*'?")
_NAMES = re.compile(r"(?<![\w.:-])\.?[A-Za-z_][\w.]*(?:\s*\()?")
_WORDS = {"and", "or", "not", "true", "false", "framedata", "ascii", "unicode", "hex", "containsbin", "contains",
          "protocol"}


def names_known(text: str, trace: Trace) -> bool:
    """True when every name in ``text`` is a known field, protocol, keyword or pseudo-field.

    The compiler is fast except when it meets an unknown name: then it ranks close matches among
    thousands of names (up to a second).  Known names are validated on the spot; anything else
    goes to the background check so typing never waits."""
    pseudo = filter_api.module("pseudo")
    NAMESPACES, PSEUDO = pseudo.NAMESPACES, pseudo.PSEUDO

    registry = trace.registry
    for m in _NAMES.finditer(_STRINGS.sub(" ", text)):
        token = m.group()
        call = token.endswith("(")
        name = token.rstrip("( \t").strip(".")
        low = name.lower()
        if not name or low in _WORDS:
            continue
        if low.startswith("protocol."):
            name, low = name[9:], low[9:]
        if call and low.endswith(".contains"):
            name, low = name[:-9], low[:-9]
        elif call and low in ("containsbin",):
            continue
        if low in PSEUDO or low.split(".", 1)[0] in NAMESPACES or registry.get(name) is not None:
            continue
        return False
    return True


class FilterInput(Input):
    """The text box; keys that mean something else here than in a plain Input."""

    BINDINGS = commands.bindings("filter")

    def action_history(self, step: int) -> None:
        self.parent_bar.history_step(step)

    def action_complete(self) -> None:
        self.parent_bar.accept_completion()

    def action_leave(self) -> None:
        self.parent_bar.escape()

    def action_erase(self) -> None:
        """Empty the bar (as typing would: Enter then applies no filter)."""
        self.value = ""

    def action_completion_up(self) -> None:
        self.parent_bar.move_completion(-1)

    def action_show_completions(self) -> None:
        self.parent_bar.update_completions(force=True)

    @property
    def parent_bar(self) -> FilterBar:
        node = self.parent
        while node is not None and not isinstance(node, FilterBar):
            node = node.parent
        assert node is not None
        return node

    def _on_paste(self, event: events.Paste) -> None:  # one line: a pasted multi-line filter joins up
        event.text = " ".join(event.text.split())
        super()._on_paste(event)


class CompletionList(OptionList):
    DEFAULT_CSS = """
    CompletionList {
        overlay: screen;
        position: absolute;
        offset-y: 2;
        width: 70;
        max-height: 10;
        display: none;
        border: none;
        padding: 0;
    }
    """
    can_focus = False


class FilterBar(Vertical):
    DEFAULT_CSS = """
    FilterBar { height: auto; }
    FilterBar > Horizontal { height: 1; }
    FilterBar #filter-label { width: 8; }
    FilterBar FilterInput, FilterBar FilterInput:focus { border: none; height: 1; padding: 0 1; width: 1fr; }
    FilterBar #filter-message { height: auto; max-height: 4; }
    """

    class Applied(Message):
        def __init__(self, text: str) -> None:
            super().__init__()
            self.text = text

    class Edited(Message):
        """The user typed: a running filter evaluation should stop."""

    class Restored(Message):
        """Esc put the applied filter's text back in the bar: what was typed is set aside."""

    def __init__(self, trace: Trace, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.trace = trace
        self.last: Validation = Validation(True)
        self._history_pos: int | None = None
        self._history_draft = ""
        self._expect: str | None = None
        self._completion: Any = None
        #: the completions on show, in the list's order
        self.candidates: list[Any] = []
        #: (text, cursor) the completion list on show was made for
        self._shown_for: tuple[str, int] | None = None
        self._check_lock = threading.Lock()
        self._wanted: tuple[str, int, bool] | None = None
        self._complete_timer: Timer | None = None
        #: the completion list follows typing: set by an edit, cleared by Enter, Esc, leaving the
        #: bar and programmatic text, so a check still under way then cannot pop the list up again
        self._following = False
        self._checking = False
        self.applied_text = ""
        self._status = ""
        #: where Esc sends focus (the screen sets it: the frame list)
        self.leave_to: Widget | None = None

    def compose(self) -> ComposeResult:
        with Horizontal():
            yield Static(" Filter ", id="filter-label")
            yield FilterInput(placeholder="display filter, e.g. TCP.Port == 443 AND IPv4.Address == 10.0.0.1  "
                              "(/ to focus, Enter applies, Esc leaves, p presets)", id="filter-input")
        yield Static("", id="filter-message")
        yield CompletionList(id="filter-completions")

    @property
    def input(self) -> FilterInput:
        return self.query_one(FilterInput)

    @property
    def value(self) -> str:
        return self.input.value

    def set_text(self, text: str, *, apply: bool = False) -> None:
        """Put text in the bar as if typed, without the side effects of typing (history reset,
        completion list, cancelling a running filter)."""
        self._expect = text if text != self.input.value else None
        self.input.value = text
        self.input.cursor_position = len(text)
        self._revalidate()
        self._stop_following()
        if apply:
            self.post_message(self.Applied(text))

    @property
    def history(self) -> Any:
        return getattr(self.app, "history", None)

    @property
    def presets(self) -> Any:
        return getattr(self.app, "presets", None)

    # -- typing -----------------------------------------------------------------------------
    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        if self._expect is not None and event.value == self._expect:
            self._expect = None
            return
        self._expect = None
        self._history_pos = None
        self._following = True
        self.post_message(self.Edited())
        text = event.value
        if names_known(text, self.trace):
            self._revalidate()  # compiling a filter whose names all exist takes about a millisecond
        else:
            self._request_check(text, self.input.cursor_position)
        # the completion list follows once typing pauses (ranking thousands of names takes ~10 ms)
        if self._complete_timer is not None:
            self._complete_timer.stop()
        self._complete_timer = self.set_timer(COMPLETION_DELAY, self._complete_later)

    def _complete_later(self) -> None:
        self._complete_timer = None
        if not self._following:
            return
        self._request_check(self.value, self.input.cursor_position, validate=False)

    # -- checking off the UI thread ---------------------------------------------------------
    def _request_check(self, text: str, cursor: int, validate: bool = True) -> None:
        """Validate and complete ``text`` in a worker.  Most checks take a millisecond, but an
        unknown name makes the compiler look for close matches among thousands of names, which
        can take far longer: typing must never wait for that.  Requests coalesce: one check runs
        at a time and then picks up the newest text."""
        with self._check_lock:
            old = self._wanted
            if old is not None and old[0] == text and old[2]:
                validate = True  # a completion request must not swallow a pending validation
            self._wanted = (text, cursor, validate)
            if self._checking:
                return
            self._checking = True
        self._checker()

    @work(thread=True, exit_on_error=False, group="filter-check")
    def _checker(self) -> None:
        try:
            self._check_loop()
        except BaseException:
            # (on a normal exit the loop clears the flag itself, under the lock: clearing it again
            # here could clear it for a checker that a newer keystroke has started meanwhile)
            with self._check_lock:
                self._checking = False
            raise

    def _check_loop(self) -> None:
        while True:
            with self._check_lock:
                wanted, self._wanted = self._wanted, None
                if wanted is None:
                    self._checking = False
                    return
            text, cursor, check = wanted
            if check:
                v = validate(text, self.trace)
                self.post_message(self._Checked(text, cursor, v, None))  # red/green first …
            try:
                comp = filter_api.complete_at(text, cursor, self.trace, self.presets)
            except Exception:  # noqa: BLE001 - completion must never break typing
                comp = None
            self.post_message(self._Checked(text, cursor, None, comp))  # … then the completion list

    class _Checked(Message):
        def __init__(self, text: str, cursor: int, validation: Validation | None, completion: Any) -> None:
            super().__init__()
            self.text = text
            self.cursor = cursor
            self.validation = validation
            self.completion = completion

    def on_filter_bar__checked(self, message: _Checked) -> None:
        message.stop()
        if message.text != self.value:
            return  # a newer keystroke is being checked
        if message.validation is not None:
            self._show_validation(message.validation)
        elif message.cursor == self.input.cursor_position and self._following and self.input.has_focus:
            self._show_completions(message.completion)

    def _revalidate(self) -> None:
        """Validate now, on this thread (programmatic text and Enter)."""
        self._show_validation(validate(self.value, self.trace))

    def _show_validation(self, v: Validation) -> None:
        text = self.value
        self.last = v
        self.set_class(not v.ok, "-invalid")
        self.set_class(v.ok and bool(text.strip()), "-valid")
        self.set_class(not text.strip(), "-empty")
        self._paint_message()

    def _paint_message(self) -> None:
        msg = self.query_one("#filter-message", Static)
        v = self.last
        label_w = 8 + 1  # label + input padding
        if not v.ok:
            col = max(v.column, 1) - 1 - int(self.input.scroll_x)
            if col >= 0:
                lead = Text(" " * (label_w + col))
                lead.append("^" * max(1, min(v.length, 40)), style="bold")
                lead.append(" ")
            else:
                lead = Text(" " * label_w + "◂ ")
            # (the message quotes the filter text: controls are shown escaped)
            msg.update(error_lines(lead, visible(v.message), self.size.width or 80, label_w))
            msg.set_class(True, "-error")
            return
        msg.set_class(False, "-error")
        text = Text(" " * label_w)
        if self.value.strip() and self.value != self.applied_text:
            text.append("✓ valid — Enter applies", style="bold")
            if v.warnings:
                text.append("  ⚠ " + visible(v.warnings[0]))
        elif self._status:
            text.append(visible(self._status))
        elif not self.value.strip():
            text.append("no display filter", style="dim")
        msg.update(text)

    def on_resize(self) -> None:
        self._paint_message()  # (an error wraps to the width)

    def show_status(self, status: str) -> None:
        """Match count / progress from the screen (shown while the text equals what was applied)."""
        self._status = status
        if self.last.ok:
            self._paint_message()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._revalidate()  # the worker's answer may be for an older keystroke
        if not self.last.ok:
            self.app.bell()
            return
        self._stop_following()
        text = self.value
        self._remember(text)
        self.post_message(self.Applied(text))

    def escape(self) -> None:
        """Close the completion list; else leave the bar with the applied filter's text back in it.
        What was typed and not applied goes into the history (Up brings it back)."""
        if self._completion_visible():
            self._stop_following()
            return
        typed = self.value
        if typed.strip() and typed.strip() != self.applied_text.strip():
            self._remember(typed)
        self._history_pos = None
        self.set_text(self.applied_text)
        self.post_message(self.Restored())
        # at once: the keys after Esc are for the list (see tracemon.tui.typeahead)
        self.screen.set_focus(self.leave_to)

    def _remember(self, text: str) -> None:
        if self.history is not None and text.strip():
            try:
                self.history.add(text)
            except OSError as e:
                self.notify(f"Could not save the filter history: {e}", severity="warning")

    # -- history ----------------------------------------------------------------------------
    def history_step(self, step: int) -> None:
        """Up (-1) goes to older filters, Down (+1) back to newer ones and finally the draft."""
        if self._completion_visible():
            self.move_completion(step)
            return
        entries = self._history_entries()  # newest first
        if not entries:
            return
        if self._history_pos is None:
            if step > 0:
                return
            self._history_draft = self.value
            pos = 0
        else:
            pos = self._history_pos - step
        if pos < 0:
            self._history_pos = None
            self.set_text(self._history_draft)
            return
        pos = min(pos, len(entries) - 1)
        self.set_text(entries[pos])
        self._history_pos = pos

    def _history_entries(self) -> list[str]:
        if self.history is None:
            return []
        try:
            return list(self.history.entries())
        except OSError:
            return []

    # -- completion -------------------------------------------------------------------------
    def update_completions(self, force: bool = False) -> None:
        text = self.value
        cursor = self.input.cursor_position
        try:
            comp = filter_api.complete_at(text, cursor, self.trace, self.presets)
        except Exception:  # noqa: BLE001 - completion must never break typing
            comp = None
        self._show_completions(comp, force)

    def _show_completions(self, comp: Any, force: bool = False) -> None:
        if comp is None:
            self._hide_completions()
            return
        text = self.value
        cursor = self.input.cursor_position
        token = text[comp.start : comp.end]
        cands = [c for c in comp.candidates if c.text != token]
        if not cands or (not token and not force and not text[:cursor].endswith(".")):
            self._hide_completions()
            return
        self._completion = comp
        self._shown_for = (text, cursor)
        lst = self.query_one(CompletionList)
        lst.clear_options()
        for c in cands[:50]:
            label = Text(visible(c.text), style="bold")  # names from manifests and TraceLogging events
            extra = " ".join(x for x in (c.kind, c.type) if x)
            if extra:
                label.append(f"  {extra}", style="dim")
            if c.description:
                label.append(f"  {visible(c.description)}", style="italic dim")
            lst.add_option(Option(label, id=None))
        self.candidates = cands
        lst.highlighted = 0
        below = 1 + max(1, self.query_one("#filter-message", Static).size.height)
        lst.styles.offset = (8 + 1 + max(0, comp.start - int(self.input.scroll_x)), below)
        lst.display = True

    def _stop_following(self) -> None:
        """Close the list and keep it closed until the next edit (or Tab / Ctrl+Space)."""
        self._following = False
        if self._complete_timer is not None:
            self._complete_timer.stop()
            self._complete_timer = None
        self._hide_completions()

    def _completion_visible(self) -> bool:
        return bool(self.query_one(CompletionList).display)

    def _hide_completions(self) -> None:
        self.query_one(CompletionList).display = False
        self.candidates = []

    def move_completion(self, step: int) -> None:
        if self._completion_visible():
            lst = self.query_one(CompletionList)
            if step < 0:
                lst.action_cursor_up()
            else:
                lst.action_cursor_down()

    def accept_completion(self) -> None:
        """Tab: take the highlighted completion; with no list open, complete the word at the cursor
        (at once when only one name fits, else show the list).  Focus always stays in the bar."""
        lst = self.query_one(CompletionList)
        # a list shown for an older text (it follows typing only once typing pauses) is redone first
        if not self._completion_visible() or self._shown_for != (self.value, self.input.cursor_position):
            self.update_completions(force=True)
            if len(self.candidates) != 1 or not self._completion_visible():
                return
        if lst.highlighted is None:
            return
        cand = self.candidates[lst.highlighted]
        comp = self._completion
        text = self.value
        new = text[: comp.start] + cand.text + text[comp.end :]
        self._expect = new if new != text else None
        self.input.value = new
        self.input.cursor_position = comp.start + len(cand.text)
        self._hide_completions()
        self._request_check(new, self.input.cursor_position)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.accept_completion()
        self.input.focus()

    def on_descendant_blur(self, event: events.DescendantBlur) -> None:
        self._stop_following()
