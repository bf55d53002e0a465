"""The display filter on a trace screen: the bar's keys, applying a filter in a worker with
progress, stopping it when the text is edited, falling back to the last applied filter.

``TraceScreen`` builds on this class; the names it uses from there (``trace``, ``view``,
``frames``, ``filter_bar``, ``status``, ``scope``, ``rebuild_rows``, ``_update_status``) are the
trace screen's.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

import numpy as np
from textual import on, work
from textual.screen import Screen
from textual.widgets import Input
from tracemon.traces import fieldcols

from .. import commands, conversations, filter_api
from .. import messages as m
from ..view import building_note
from ..widgets.filter_bar import FilterBar

if TYPE_CHECKING:
    from tracemon.traces.trace import Trace

    from ..view import FrameView
    from ..widgets.frame_list import FrameList
    from ..widgets.status_line import StatusLine

#: frames evaluated per filter step: the step grows or shrinks to take about CHUNK_SECONDS
FIRST_CHUNK = 1 << 13
MAX_CHUNK = 1 << 22
CHUNK_SECONDS = 0.15


class FilteringScreen(Screen):
    if TYPE_CHECKING:
        trace: Trace
        view: FrameView
        frames: FrameList
        filter_bar: FilterBar
        status: StatusLine
        scope: conversations.Scope | None

        def rebuild_rows(self, keep_frame: int | None = None) -> None: ...
        def _update_status(self) -> None: ...
        def _preset_columns_for(self, name: str) -> None: ...

    def __init__(self, name: str | None = None) -> None:
        super().__init__(name=name)
        self.cf: Any = None
        self.filter_text = ""
        self.filter_mask: np.ndarray | None = None
        self.preset_name = ""
        #: the last filter state that was fully applied: what a stopped or failed evaluation returns to
        self._settled: tuple[Any, str, np.ndarray | None, str] = (None, "", None, "")
        self._filter_gen = 0
        self._filter_cancel = threading.Event()
        self._filter_running = False
        self._partial: list[np.ndarray] = []

    # -- the applied filter is session state: it lives in the view ------------------------------
    @property
    def filter_text(self) -> str:
        return self.view.filter_text

    @filter_text.setter
    def filter_text(self, text: str) -> None:
        self.view.filter_text = text

    @property
    def preset_name(self) -> str:
        return self.view.preset

    @preset_name.setter
    def preset_name(self, name: str) -> None:
        self.view.preset = name

    # -- filter -----------------------------------------------------------------------------
    def action_focus_filter(self) -> None:
        # at once, not through Widget.focus's call_later: the keys typed after "/" are already
        # queued and go to whatever has focus when each is read (see tracemon.tui.typeahead)
        self.set_focus(self.filter_bar.input)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # typeahead commands are priority bindings; in the filter bar their keys are text ("/" in
        # 10.0.0.0/8).  Only keys read from the terminal: the palette runs them wherever focus is.
        typing = getattr(self.app, "reading_key", False) and isinstance(self.focused, Input)
        return not (typing and action in commands.TYPEAHEAD_ACTIONS)

    @on(FilterBar.Edited)
    def _edited(self) -> None:
        if self._applying:  # (an evaluation over newly read frames keeps the applied filter going)
            self._fall_back()
            self.status.set_note("filter", "filter stopped (edited): Enter applies")
            self.filter_bar.show_status("stopped: the filter was edited")

    @on(FilterBar.Restored)
    def _restored(self) -> None:
        self.status.set_note("filter", "")  # "filter stopped (edited)" was about the text set aside

    @on(FilterBar.Applied)
    def _applied(self, message: FilterBar.Applied) -> None:
        self.apply_filter(message.text)

    def action_clear_filter(self) -> None:
        self.filter_bar.set_text("")
        self.scope = None
        self.apply_filter("")

    def apply_filter(self, text: str, preset: str = "") -> bool:
        cf = None
        if text.strip():
            try:
                cf = filter_api.compile(text, self.trace)
            except Exception as e:  # noqa: BLE001 - FilterError, or a compiler bug: either way, say so
                message, column, _ = filter_api.error_parts(e)
                self.notify(f"Filter error at column {column}: {message}", severity="error")
                return False  # whatever runs or is shown stays as it is
        self._preset_columns_for(preset)
        self._filter_cancel.set()
        self._filter_running = False
        self.status.set_note("filter", "")
        self.status.update_status(filter_running="")
        if cf is None:
            self._set_filter(None, "", None, preset)
            self._settle()
            self.rebuild_rows()
            return True
        self._set_filter(cf, text, np.zeros(0, dtype=bool), preset)
        self._start_filter(extend=False)
        return True

    def _set_filter(self, cf: Any, text: str, mask: np.ndarray | None, preset: str) -> None:
        self.cf, self.filter_text, self.filter_mask, self.preset_name = cf, text, mask, preset
        self.filter_bar.applied_text = text

    @property
    def _applying(self) -> bool:
        """A newly applied filter is being evaluated (not the applied one over newly read frames)."""
        return self._filter_running and self.cf is not self._settled[0]

    def _settle(self) -> None:
        self._settled = (self.cf, self.filter_text, self.filter_mask, self.preset_name)

    def _fall_back(self) -> None:
        """Stop the running evaluation and show the last fully applied filter again: the rows a
        stopped evaluation found so far are no state the list, a sort or a conversation can build on."""
        self._filter_cancel.set()
        self._filter_gen += 1  # what the stopped worker already posted is out of date
        self._filter_running = False
        self._partial = []
        self.status.update_status(filter_running="")
        self._set_filter(*self._settled)
        self.rebuild_rows()

    def _start_filter(self, extend: bool) -> None:
        self._filter_gen += 1
        self._filter_cancel = threading.Event()
        self._filter_running = True
        start = len(self.filter_mask) if (extend and self.filter_mask is not None) else 0
        if not extend:
            self._partial = []
            self.view.set_rows(np.zeros(0, dtype=np.uint32), self.view.sort)
            self.frames.set_view(self.view, self.frames.frame)
        self._filter(self.cf, start, self._filter_gen, self._filter_cancel, self.scope, extend)

    @work(thread=True, exclusive=True, exit_on_error=False, group="filter")
    def _filter(self, cf: Any, start: int, gen: int, cancel: threading.Event, scope: conversations.Scope | None,
                extend: bool) -> None:
        trace = self.trace
        # the partial rows shown while a new filter runs are narrowed to the conversation here
        scope_mask = conversations.mask(trace, scope) if scope is not None and not extend else None
        parts: list[np.ndarray] = []
        pending: list[np.ndarray] = []
        pos = start
        last_post = time.perf_counter()
        # steps sized to take about CHUNK_SECONDS: index-only filters do millions of frames a step,
        # filters that decode every frame a few thousand, so the match count keeps moving either way
        chunk = FIRST_CHUNK

        def building(name: str, fraction: float | None) -> None:
            # a field column the filter needs is built the first time (the editing that stops the
            # filter sets ``cancel``, which stops the build too)
            if not cancel.is_set():
                self.post_message(m.ColumnBuilding(gen, name, fraction))

        try:
            with fieldcols.watching(building, cancel):
                while pos < len(trace):
                    stop = min(len(trace), pos + chunk)
                    t0 = time.perf_counter()
                    mask = filter_api.evaluate_range(cf, trace, pos, stop, cancel=cancel)
                    if mask is None or cancel.is_set():
                        return
                    spent = max(time.perf_counter() - t0, 1e-4)
                    chunk = int(min(MAX_CHUNK, max(FIRST_CHUNK, chunk * min(4.0, CHUNK_SECONDS / spent))))
                    parts.append(mask)
                    if not extend:
                        sel = mask if scope_mask is None else mask & _slice(scope_mask, pos, stop)
                        pending.append((np.flatnonzero(sel) + pos).astype(np.uint32))
                        now = time.perf_counter()
                        if now - last_post >= 0.2:
                            self.post_message(m.FilterProgress(gen, np.concatenate(pending), stop, len(trace)))
                            pending = []
                            last_post = now
                    pos = stop
        except Exception as e:  # noqa: BLE001 - evaluation errors are shown, the list keeps working
            self.post_message(m.FilterFailed(gen, f"{type(e).__name__}: {e}"))
            return
        if pending:
            self.post_message(m.FilterProgress(gen, np.concatenate(pending), pos, len(trace)))
        full = np.concatenate(parts) if parts else np.zeros(0, dtype=bool)
        trace.release_pages()  # an evaluation may have read every packet's bytes
        self.post_message(m.FilterDone(gen, full, start))

    @on(m.ColumnBuilding)
    def _column_building(self, message: m.ColumnBuilding) -> None:
        if message.generation != self._filter_gen or not self._filter_running:
            return
        text = building_note(message.name, message.fraction)
        self.status.update_status(filter_running=text)
        self.filter_bar.show_status(text)

    @on(m.FilterProgress)
    def _filter_progress(self, message: m.FilterProgress) -> None:
        if message.generation != self._filter_gen:
            return
        self._partial.append(message.rows)
        if self.view.sort is None:
            keep = self.frames.frame
            rows = np.concatenate(self._partial) if len(self._partial) > 1 else message.rows
            self._partial = [rows]
            self.view.set_rows(rows, None)
            self.frames.set_view(self.view, keep)
        n = sum(len(r) for r in self._partial)
        text = f"applying… {n:,} matches in {message.done:,} of {message.total:,} frames"
        self.status.update_status(filter_running=text, displayed=len(self.view))
        self.filter_bar.show_status(text)

    @on(m.FilterDone)
    def _filter_done(self, message: m.FilterDone) -> None:
        if message.generation != self._filter_gen:
            return
        self._filter_running = False
        self._partial = []
        base = self.filter_mask if self.filter_mask is not None and message.start else np.zeros(0, dtype=bool)
        self.filter_mask = np.concatenate([base[: message.start], message.mask])
        self._settle()
        self.status.update_status(filter_running="")
        self.rebuild_rows()
        if len(self.filter_mask) < len(self.trace):
            self._start_filter(extend=True)

    @on(m.FilterFailed)
    def _filter_failed(self, message: m.FilterFailed) -> None:
        if message.generation != self._filter_gen:
            return
        self._fall_back()
        self.filter_bar.show_status(f"filter failed: {message.error}")
        self.notify(f"The filter failed while running: {message.error}", severity="error")


def _slice(mask: np.ndarray, start: int, stop: int) -> np.ndarray:
    out = mask[start:stop]
    if len(out) < stop - start:
        out = np.concatenate([out, np.zeros(stop - start - len(out), dtype=bool)])
    return out
