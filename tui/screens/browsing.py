"""The frame list's rows on a trace screen: filter × conversation × sort, the columns shown, finding
frames, marks and the time reference.

Sorting and showing a field as a column read its field column (``traces/coltext.py``) where one can
be built: the build runs in a worker that shows its progress and stops when a newer request
replaces it.  ``TraceScreen`` builds on this class; the names it uses from there (``config``,
``frames``, ``status``, ``_update_status``, ``_refresh_timeline``, ``_show_frame``) are the trace
screen's.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import numpy as np
from textual import on, work
from tracemon.traces import fieldcols
from tracemon.traces.coltext import FieldTexts, field_texts

from .. import columns as _columns
from .. import conversations, filter_api
from .. import messages as m
from ..config import DEFAULT_COLUMNS
from ..view import Sort, building_note, combine, find_in, sort_rows
from ..widgets.frame_list import FrameList
from .colouring import ColouringScreen
from .columns import ColumnsScreen
from .picker import Item, PickerScreen
from .prompt import PromptScreen

if TYPE_CHECKING:
    from ..config import Config

FIND_CHUNK = 1 << 16


class BrowsingScreen(ColouringScreen):
    if TYPE_CHECKING:
        config: Config

        def _refresh_timeline(self) -> None: ...
        def _show_frame(self, i: int | None) -> None: ...

    def __init__(self, name: str | None = None) -> None:
        super().__init__(name=name)
        self.scope: conversations.Scope | None = None
        self._rows_gen = 0
        self._rows_cancel = threading.Event()
        #: stops the build of the shown field columns (columns changed, screen gone)
        self._texts_cancel = threading.Event()
        self.find_cf: Any = None
        self.find_text = ""
        self.goto_when_filtered: int | None = None
        #: the columns shown are the applied preset's, not the user's (they go when it does)
        self._preset_columns = False

    # -- the state a session keeps lives in the view ------------------------------------------
    @property
    def column_names(self) -> list[str]:
        return self.view.columns

    @column_names.setter
    def column_names(self, names: list[str]) -> None:
        self.view.columns = names

    @property
    def time_mode(self) -> str:
        return self.view.time_mode

    @time_mode.setter
    def time_mode(self, mode: str) -> None:
        self.view.time_mode = mode

    # -- rows: filter × scope × sort --------------------------------------------------------
    def rebuild_rows(self, keep_frame: int | None = None) -> None:
        keep = self.frames.frame if keep_frame is None else keep_frame
        sort = self.view.sort
        # a sort still running for an older request stops, and its answer no longer counts
        self._rows_gen += 1
        self._rows_cancel.set()
        self.status.set_note("sort", "")
        if self.filter_mask is None and self.scope is None and sort is None:
            self.view.set_rows(None, None)
            self._rows_ready(keep)
            return
        self._rows_cancel = threading.Event()
        self._rows(self._rows_gen, self.filter_mask, self.scope, sort, keep, self._rows_cancel)

    @work(thread=True, exclusive=True, exit_on_error=False, group="rows")
    def _rows(self, gen: int, filter_mask: np.ndarray | None, scope: Any, sort: Sort | None,
              keep: int | None, cancel: threading.Event) -> None:
        trace = self.trace
        n = len(trace) if filter_mask is None else len(filter_mask)
        scope_mask = conversations.mask(trace, scope) if scope is not None else None
        rows = combine(n, filter_mask, scope_mask)
        if sort is not None:
            def progress(done: int, total: int) -> None:
                if not cancel.is_set():
                    self.post_message(m.WorkNote("sort", f"sorting {done * 100 // max(total, 1)}%", cancel))

            def building(name: str, fraction: float | None) -> None:
                if not cancel.is_set():
                    self.post_message(m.WorkNote("sort", building_note(name, fraction), cancel))

            rows = sort_rows(trace, rows, sort, cancel=cancel, progress=progress, building=building)
            if cancel.is_set():
                return
            self.post_message(m.WorkNote("sort", "", cancel))
        self.post_message(m.RowsReady(gen, rows, sort, keep))

    @on(m.RowsReady)
    def _rows_done(self, message: m.RowsReady) -> None:
        if message.generation != self._rows_gen:
            return
        self.view.set_rows(message.rows, message.sort)
        self._rows_ready(message.keep_frame)

    def _rows_ready(self, keep: int | None) -> None:
        self.frames.set_view(self.view, keep)
        self._update_status()
        self._refresh_timeline()
        if self.goto_when_filtered is not None and not self._filter_running:
            i, self.goto_when_filtered = self.goto_when_filtered, None
            self.go_to_frame(i)

    @on(m.WorkNote)
    def _note(self, message: m.WorkNote) -> None:
        if message.cancel is not None and message.cancel.is_set():
            return
        self.status.set_note(message.source, message.text)

    # -- sorting and columns ----------------------------------------------------------------
    @on(FrameList.HeaderClicked)
    def _header(self, message: FrameList.HeaderClicked) -> None:
        self.sort_by(message.key)

    def sort_by(self, key: str) -> None:
        cur = self.view.sort
        if key == "number" and (cur is None or cur.key != "number"):
            sort = None
        elif cur is not None and cur.key == key:
            sort = Sort(key, not cur.descending)
        else:
            sort = Sort(key)
        self.view.sort = sort
        self.rebuild_rows()

    def action_sort(self) -> None:
        cols = self.frames.columns
        cur = self.view.sort
        items = [Item(c.key, c.title, ("sorted " + ("descending" if cur.descending else "ascending"))
                      if cur is not None and cur.key == c.key else "") for c in cols]

        def picked(key: str | None) -> None:
            if key:
                self.sort_by(key)

        self.app.push_screen(PickerScreen("Sort by (pick the same column again to reverse)", items,
                                          selected=cur.key if cur else None), picked)

    def _resolve_columns(self, names: list[str]) -> list[_columns.Column]:
        cols, problems = _columns.columns(names, self.trace)
        self.notes.extend(f"column ignored: {p}" for p in problems)
        if not cols:
            cols, _ = _columns.columns(list(DEFAULT_COLUMNS), self.trace)
        return cols

    def set_columns(self, names: list[str], persist: bool = True) -> None:
        cols = self._resolve_columns(names)
        self.column_names = [c.key for c in cols]
        self.frames.set_columns(cols)
        self.load_field_texts()
        if persist:
            self._preset_columns = False
            self.config.set_columns_for(self.trace.format, self.column_names)
            self.app.save_config()  # type: ignore[attr-defined]

    # -- shown fields read from their field columns -------------------------------------------
    def load_field_texts(self) -> None:
        """Show field columns from their field columns (``traces/coltext.py``): what was built
        already at once, the rest built in a worker that shows its progress; until it is done,
        and for fields no column can hold, the cells come from decoded frames as before."""
        self._texts_cancel.set()
        self.status.set_note("columns", "")
        wanted = [c.key for c in self.frames.columns if c.field is not None]
        texts = self.view.texts
        for key in [k for k in texts if k not in wanted]:
            del texts[key]
        missing = [k for k in wanted if k not in texts]
        if not missing or not self.trace.complete.is_set():
            return
        self._texts_cancel = threading.Event()
        self._build_texts(missing, self._texts_cancel)

    @work(thread=True, exclusive=True, exit_on_error=False, group="field-columns")
    def _build_texts(self, names: list[str], cancel: threading.Event) -> None:
        found: dict[str, FieldTexts] = {}

        def building(name: str, fraction: float | None) -> None:
            if not cancel.is_set():
                self.post_message(m.WorkNote("columns", building_note(name, fraction), cancel))

        built_any = False
        with fieldcols.watching(building, cancel):
            for name in names:
                built_any |= not _already_built(self.trace, name)
                texts = field_texts(self.trace, name)
                if cancel.is_set():
                    return
                if texts is not None:
                    found[name] = texts
        if built_any:
            self.post_message(m.WorkNote("columns", "", cancel))
        self.post_message(m.TextsReady(found, cancel))

    @on(m.TextsReady)
    def _texts_ready(self, message: m.TextsReady) -> None:
        if message.cancel is not self._texts_cancel or message.cancel.is_set():
            return  # the columns changed since
        self.view.texts.update(message.texts)
        self.view.touch()
        self.frames.invalidate()

    def _preset_columns_for(self, name: str) -> None:
        """A preset's columns show while it is applied; the user's come back when it is not."""
        preset = self.presets.get(name) if name else None
        if preset is not None and preset.columns:
            self.set_columns(list(preset.columns), persist=False)
            self._preset_columns = True
        elif self._preset_columns:
            self._preset_columns = False
            self.set_columns(self.config.columns_for(self.trace.format), persist=False)

    def action_columns(self) -> None:
        def done(names: list[str] | None) -> None:
            if names:
                self.set_columns(names)

        self.app.push_screen(ColumnsScreen(self.column_names, self.trace), done)

    def action_time_mode(self) -> None:
        modes = _columns.time_modes(self.trace)
        k = modes.index(self.time_mode) if self.time_mode in modes else 0
        self.set_time_mode(modes[(k + 1) % len(modes)], persist=True)
        self.notify(f"Time column: {_columns.time_label(self.time_mode, self.trace)}", timeout=2)

    def set_time_mode(self, mode: str, persist: bool = False) -> None:
        """``persist``: the user chose it (saved like the theme); setting a reference only borrows it."""
        self.time_mode = mode
        self.frames.set_time_mode(mode)
        self._update_status()
        if persist and self.config.time_mode != mode:
            self.config.time_mode = mode
            self.app.save_config()  # type: ignore[attr-defined]

    def action_set_reference(self) -> None:
        i = self.frames.frame
        if i is None:
            return
        self.view.reference = None if self.view.reference == i else i
        self.view.touch()
        if self.view.reference is not None and self.time_mode != "reference":
            self.set_time_mode("reference")
        self.frames.invalidate()
        self.notify(f"Time reference: frame {i + 1}" if self.view.reference is not None else
                    "Time reference cleared", timeout=2)

    # -- navigation -------------------------------------------------------------------------
    def action_goto(self) -> None:
        n = len(self.trace)

        def check(text: str) -> str | None:
            t = text.strip().replace(",", "")
            if not t.isdigit():
                return "type a frame number"
            if not 1 <= int(t) <= n:
                return f"frames are numbered 1 to {n:,}"
            return None

        def done(text: str | None) -> None:
            if text:
                self.go_to_frame(int(text.strip().replace(",", "")) - 1)

        self.app.push_screen(PromptScreen("Go to frame", placeholder=f"1 … {n:,}", check=check), done)

    def go_to_frame(self, i: int) -> None:
        pos = self.view.position_of(i)
        if pos is None:
            if not len(self.view):
                self.notify("No frames are displayed", severity="warning")
                return
            pos = self.view.position_near(i)
            self.notify(f"Frame {i + 1} is not displayed (filter or conversation); "
                        f"showing frame {self.view.frame_at(pos) + 1}", severity="warning")
        self.frames.go_to_position(pos)
        self.frames.focus()

    def action_mark(self) -> None:
        i = self.frames.frame
        if i is None:
            return
        marked = self.view.toggle_mark(i)
        self.frames.invalidate()
        self.notify(f"Frame {i + 1} {'marked' if marked else 'unmarked'} ({len(self.view.marks)} marks)", timeout=2)

    def _jump_mark(self, step: int) -> None:
        pos = self.view.next_mark(self.frames.cursor, step)
        if pos is None:
            self.notify("No more marks " + ("below" if step > 0 else "above") if self.view.marks else
                        "No frames are marked (m marks one)", timeout=2)
            return
        self.frames.go_to_position(pos)

    def action_next_mark(self) -> None:
        self._jump_mark(1)

    def action_previous_mark(self) -> None:
        self._jump_mark(-1)

    # -- find -------------------------------------------------------------------------------
    def action_find(self) -> None:
        def check(text: str) -> str | None:
            try:
                filter_api.compile(text, self.trace)
            except Exception as e:  # noqa: BLE001 - FilterError, or a compiler bug
                message, column, _ = filter_api.error_parts(e)
                return f"column {column}: {message}"
            return None

        def done(text: str | None) -> None:
            if text and text.strip():
                self.find_text = text
                self.find_cf = filter_api.compile(text, self.trace)
                self._find_from(1)

        self.app.push_screen(PromptScreen("Find the next frame matching (the display filter stays)",
                                          value=self.find_text, placeholder="e.g. TCP.Flags.Reset == 1",
                                          check=check,
                                          help="Enter finds · then n / N for next / previous"), done)

    def action_find_next(self) -> None:
        self._find_from(1) if self.find_cf is not None else self.action_find()

    def action_find_previous(self) -> None:
        self._find_from(-1) if self.find_cf is not None else self.action_find()

    def _find_from(self, step: int) -> None:
        self.status.set_note("find", f"finding {self.find_text}…")
        view = self.view
        self._find(self.find_cf, view.rows, view.in_frame_order, self.frames.cursor, step, self.frames.frame)

    @work(thread=True, exclusive=True, exit_on_error=False, group="find")
    def _find(self, cf: Any, rows: np.ndarray | None, ordered: bool, pos: int, step: int,
              start_frame: int | None) -> None:
        trace = self.trace
        n = len(trace) if rows is None else len(rows)
        found: int | None = None
        try:
            if step > 0:
                lo = pos + 1
                while lo < n and found is None:
                    hi = min(n, lo + FIND_CHUNK)
                    found = find_in(cf, trace, rows, ordered, lo, hi, first=True)
                    lo = hi
            else:
                hi = pos
                while hi > 0 and found is None:
                    lo = max(0, hi - FIND_CHUNK)
                    found = find_in(cf, trace, rows, ordered, lo, hi, first=False)
                    hi = lo
        except Exception as e:  # noqa: BLE001
            self.post_message(m.WorkNote("find", f"find failed: {e}"))
            return
        # a frame, not a position: the list may show other rows by the time the answer arrives
        frame = None if found is None else found if rows is None else int(rows[found])
        self.post_message(m.FindResult(frame, step, start_frame))

    @on(m.FindResult)
    def _found(self, message: m.FindResult) -> None:
        self.status.set_note("find", "")
        if message.frame is None:
            where = "after" if message.step > 0 else "before"
            frame = f"frame {message.start_frame + 1}" if message.start_frame is not None else "here"
            self.notify(f"No frame {where} {frame} matches {self.find_text}", timeout=3)
            return
        pos = self.view.position_of(message.frame)
        if pos is None:
            self.notify(f"Frame {message.frame + 1} matches {self.find_text} but is no longer displayed", timeout=3)
            return
        self.frames.go_to_position(pos)


def _already_built(trace: Any, name: str) -> bool:
    fdef = trace.registry.get(name)
    try:
        return fdef is None or fieldcols.columns_for(trace).built(fdef)
    except TypeError:
        return True
