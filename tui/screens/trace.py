"""The screen for one open trace: Netmon 3.4's layout and the glue between its panes.

Filter bar on top; conversation tree left; frame list, then details beside hex on the right;
timeline, status line and footer at the bottom.  Slow work (scanning, filtering, sorting,
finding, counting) runs in thread workers that post messages; this class only reacts to them.
It holds the layout, the scan and the panes' wiring; the rest is layered below it:
``filtering.py`` (the display filter) → ``colouring.py`` (presets, colour rules) →
``browsing.py`` (rows, sort, columns, find, marks), and the state a session keeps is the
``FrameView`` (``tui/view.py``).
"""

from __future__ import annotations

import gc
import os
import threading
import time
from typing import TYPE_CHECKING, Any

import numpy as np
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.timer import Timer
from textual.widgets import Footer, Static
from tracemon.traces import cache as _cache
from tracemon.traces.index import PID_UNKNOWN
from tracemon.traces.text import visible
from tracemon.traces.trace import Progress

from .. import columns as _columns
from .. import commands, conversations, expressions, startup
from .. import messages as m
from .. import session as _session
from ..colour_rules import ColourRules
from ..config import Config
from ..startup import StartOptions
from ..view import FrameView
from ..widgets.conversation_tree import ConversationTree
from ..widgets.detail_tree import DetailTree
from ..widgets.filter_bar import FilterBar
from ..widgets.frame_list import FrameList
from ..widgets.hex_view import HexView, line_width
from ..widgets.splitter import Splitter
from ..widgets.status_line import StatusLine
from ..widgets.timeline import Timeline, histogram
from .browsing import BrowsingScreen
from .export import ExportScreen
from .warnings import WarningsScreen

if TYPE_CHECKING:
    from tracemon.traces.trace import Trace

DETAIL_DELAY = 0.04  # s: details follow the cursor once paging pauses
SCAN_UPDATE = 0.25  # s between list updates while the scan runs


class TraceScreen(BrowsingScreen):
    BINDINGS = commands.bindings("screen")

    def __init__(self, trace: Trace, config: Config, *, notes: list[str] | None = None,
                 name: str | None = None, start: StartOptions | None = None, sessions: bool = True) -> None:
        self.trace = trace
        #: what a session keeps (filter, columns, time mode, marks, reference, sort) lives here
        self.view = FrameView(trace)
        super().__init__(name=name)
        self.config = config
        self.notes = list(notes or [])
        #: the index order the rows on screen were numbered in (ETL re-sorts once, at the end)
        self._order_generation = trace.index.order_generation
        self.time_mode = config.time_mode
        #: what the command line asked for (applied once the file is read)
        self.start = start if start is not None and not start.empty else None
        #: sessions (tracemon.tui.session): remembered for this file, offered when it opens again
        self.sessions = sessions
        self.resume_at_once = bool(start is not None and start.resume)
        self.offered_session: _session.Session | None = None
        self.column_names = list(start.columns if start is not None and start.columns
                                 else config.columns_for(trace.format))
        self._hist_gen = 0
        self._detail_timer: Timer | None = None
        self._last_progress = 0.0
        self._warned = False
        self.scan_started = time.perf_counter()
        self._colours_started = False
        self._first_shown = threading.Event()
        self.first_paint: float | None = None
        self.colour_rules = ColourRules(trace, [])
        self.pane_shown: dict[str, bool | None] = {"tree": None, "details": None, "hex": None, "timeline": None}
        self.tree_width = config.tree_width
        self.list_percent = config.list_percent

    # -- composition ------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield FilterBar(self.trace, id="filter-bar")
        with Horizontal(id="body"):
            yield ConversationTree(self.trace, id="tree")
            yield Splitter("tree", vertical=True, id="tree-splitter")
            with Vertical(id="right"):
                cols = self._resolve_columns(self.column_names)
                self.column_names = [c.key for c in cols]
                frames = FrameList(self.view, cols, time_mode=self.time_mode, id="frames")
                frames.user_widths = dict(self.config.column_widths)  # as the user left them last time
                yield frames
                yield Splitter("list", vertical=False, id="list-splitter")
                with Horizontal(id="lower"):
                    with Vertical(id="details-pane"):
                        yield DetailTree(id="details")
                        yield Static("", id="field-line")
                    yield HexView(id="hex")
        yield Timeline(id="timeline")
        yield StatusLine(id="status")
        yield Footer()

    @property
    def presets(self) -> Any:
        return self.app.presets  # type: ignore[attr-defined]

    @property
    def frames(self) -> FrameList:
        return self.query_one(FrameList)

    @property
    def details(self) -> DetailTree:
        return self.query_one(DetailTree)

    @property
    def hex(self) -> HexView:
        return self.query_one(HexView)

    @property
    def filter_bar(self) -> FilterBar:
        return self.query_one(FilterBar)

    @property
    def status(self) -> StatusLine:
        return self.query_one(StatusLine)

    def on_mount(self) -> None:
        self.frames.empty_text = "Reading the trace…"
        self.frames.focus()
        self.filter_bar.leave_to = self.frames
        self._apply_layout()
        self._update_status()
        if not self.trace.complete.is_set():
            self.status.update_status(loading=0.0)
        # paint the first screen before any worker competes for the interpreter
        self.call_after_refresh(self._painted)
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self.load_colour_rules())
        self.set_interval(0.15, self._colour_tick)

    def on_unmount(self) -> None:
        self._stop.set()
        self._first_shown.set()
        self._filter_cancel.set()
        self._rows_cancel.set()
        self._texts_cancel.set()

    def _painted(self) -> None:
        if self.first_paint is not None:
            return
        self.first_paint = time.perf_counter() - self.scan_started
        if self.trace.complete.is_set():
            self._scan_finished()
        else:
            self._scan()
        # the filter compiler (imported by the colour rules) waits until the first frames are shown
        self.set_timer(0.3, self._start_colour_rules)

    def _start_colour_rules(self) -> None:
        if not self._colours_started:
            self._colours_started = True
            self.load_colour_rules()

    # -- layout -----------------------------------------------------------------------------
    def _shown(self, pane: str) -> bool:
        explicit = self.pane_shown.get(pane)
        if explicit is not None:
            return explicit
        w, h = self.size.width, self.size.height
        if pane == "tree":
            return w >= 100
        if pane == "hex":
            right = w - (self._tree_shown_width() + 1 if self._shown("tree") else 0)
            return right >= line_width(8) + 2 + 30
        if pane == "timeline":
            return h >= 20
        return True

    def _apply_layout(self) -> None:
        tree = self._shown("tree")
        self.query_one("#tree").display = tree
        self.query_one("#tree-splitter").display = tree
        tree_w = self._tree_shown_width()
        self.query_one("#tree").styles.width = tree_w
        details, hexp = self._shown("details"), self._shown("hex")
        self.query_one("#details-pane").display = details
        self.query_one("#hex").display = hexp
        lower = details or hexp
        self.query_one("#lower").display = lower
        self.query_one("#list-splitter").display = lower
        self.list_percent = max(15, min(self.list_percent, 90))
        self.frames.styles.height = f"{self.list_percent}%" if lower else "1fr"
        right_w = self.size.width - (tree_w + 1 if tree else 0)
        # one cell of gap and one for the vertical scrollbar, so a line never needs a horizontal one
        self.hex.styles.width = (line_width(16) + 2 if right_w >= line_width(16) + 40 else line_width(8) + 2) \
            if details else "1fr"
        self.query_one(Timeline).display = self._shown("timeline")

    def _tree_shown_width(self) -> int:
        """The tree's width now: the chosen ``tree_width``, narrowed while the terminal is small (the
        choice itself stays, so a resize through a tiny size gives it back)."""
        return max(12, min(self.tree_width, max(12, self.size.width - 40)))

    def on_resize(self) -> None:
        self._apply_layout()

    def action_toggle_pane(self, pane: str) -> None:
        self.pane_shown[pane] = not self._shown(pane)
        self._apply_layout()
        if pane == "timeline" and self.pane_shown[pane]:
            self._refresh_timeline()

    def action_resize(self, target: str, delta: int) -> None:
        if target == "tree":
            if not self._shown("tree"):
                self.pane_shown["tree"] = True
            self.tree_width = max(12, self._tree_shown_width() + delta)
        else:
            h = max(1, self.query_one("#right").size.height)
            self.list_percent += round(delta * 100 / h) or (1 if delta > 0 else -1)
        self._apply_layout()
        self.config.tree_width, self.config.list_percent = self.tree_width, self.list_percent

    @on(FrameList.ColumnResized)
    def _column_resized(self, message: FrameList.ColumnResized) -> None:
        """A column's width is a setting like the pane sizes: kept for the next start."""
        if self.config.column_widths.get(message.key) != message.width:
            self.config.column_widths[message.key] = message.width
            self.app.save_config()  # type: ignore[attr-defined]

    @on(Splitter.Dragged)
    def _dragged(self, event: Splitter.Dragged) -> None:
        self.action_resize(event.target, event.delta)

    # -- scanning ---------------------------------------------------------------------------
    @work(thread=True, exclusive=True, exit_on_error=False, group="scan")
    def _scan(self) -> None:
        trace = self.trace
        try:
            if trace.use_cache and _cache.restore(trace):
                self.post_message(m.ScanProgress(Progress(len(trace), trace.size, trace.size, True)))
                return
            # the first batch is shown at once; after that about four updates a second
            last = 0.0
            for progress in trace.scan(batch_seconds=0.0, cancel=self._stop):
                now = time.perf_counter()
                if progress.finished or now - last >= SCAN_UPDATE:
                    last = now
                    self.post_message(m.ScanProgress(progress))
                    if not self._first_shown.is_set() and progress.frames:
                        # let the UI paint the first frames before the scan takes the interpreter back
                        self._first_shown.wait(0.3)
        except Exception as e:  # noqa: BLE001 - a reader bug must show up as a warning, not kill the UI
            self.post_message(m.ScanFailed(f"{type(e).__name__}: {e}"))

    @on(m.ScanProgress)
    def _scan_progress(self, message: m.ScanProgress) -> None:
        p = message.progress
        if p.finished:
            self._scan_finished()
            return
        self.frames.empty_text = "Reading the trace…"
        self._grow()
        self.status.update_status(loading=p.fraction)
        self._update_status()
        if not self._first_shown.is_set():
            self._check_empty_columns()
            self.call_after_refresh(self._first_shown.set)

    @on(m.ScanFailed)
    def _scan_failed(self, message: m.ScanFailed) -> None:
        self.notes.append(f"reading stopped: {message.error}")
        self._scan_finished()

    def _scan_finished(self) -> None:
        # Everything the scan built (conversation tables, registry names …) lives as long as the
        # trace: keep it out of the collector's full passes, which otherwise stall a keystroke
        # for ~80 ms on a big trace.
        gc.freeze()
        self.frames.empty_text = "No frames in this trace" if not len(self.trace) else "No frames match"
        self._check_empty_columns()
        if not self._renumbered():
            self._grow()
        self.status.update_status(loading=None)
        self.query_one(ConversationTree).reload()
        self._update_status()
        self._refresh_timeline()
        self.load_field_texts()
        if self._colours_started:
            self.load_colour_rules()
        if self.start is not None:
            opts, self.start = self.start, None
            startup.apply(self, opts)
        elif self.sessions:
            self._offer_session()
        if (self.trace.warnings or self.notes) and not self._warned:
            self._warned = True
            self.action_warnings()

    # -- sessions ---------------------------------------------------------------------------
    def _offer_session(self) -> None:
        saved = _session.saved_for(self.trace)
        if saved is None:
            return
        if self.resume_at_once:
            _session.resume(self, saved)
            return
        self.offered_session = saved
        key = commands.key_label(commands.keys_for(commands.BY_ID["resume_session"], self.app_keymap()))
        self.notify(f"Last time on this file: {saved.describe()}. {key} resumes it.", timeout=12)

    def app_keymap(self) -> dict[str, str]:
        return dict(getattr(self.app, "_keymap", {}) or {})

    def action_resume_session(self) -> None:
        saved, self.offered_session = self.offered_session, None
        if saved is None:
            self.notify("No earlier session of this file to resume", timeout=3)
            return
        _session.resume(self, saved)

    def remember_session(self) -> None:
        """Save this screen's session (the app calls it when quitting)."""
        if self.sessions and self.trace.complete.is_set():
            _session.remember(self, keep_offered=self.offered_session is not None)

    def _renumbered(self) -> bool:
        """After the scan's final time sort (ETL) every row number names another record: the
        selected frame, marks and reference follow their records, and rendered rows, filter
        matches and the details are made again.  False when the order did not change."""
        index = self.trace.index
        since = self._order_generation
        if index.order_generation == since:
            return False
        self._order_generation = index.order_generation
        keep = self.frames.frame
        if keep is not None:
            keep = int(index.remap(np.array([keep]), since)[0])
        self.view.renumber(since)
        self.frames.invalidate()
        if self.cf is not None:
            # matches were found by row number: carry the settled ones over for a fall-back, and
            # evaluate again (a filter may name frame numbers, which the sort changed)
            self._settled = (*self._settled[:2], _renumber_mask(index, self._settled[2], since), self._settled[3])
            self.filter_mask = _renumber_mask(index, self.filter_mask, since)
            self._start_filter(extend=False)
        else:
            self.rebuild_rows(keep_frame=keep)
        self._show_frame(keep)
        return True

    def _check_empty_columns(self) -> None:
        pid = self.trace.index.pid
        empty = {"process"} if len(pid) and not np.any(pid != PID_UNKNOWN) else set()
        self.frames.set_empty_keys(empty | _columns.empty_addresses(self.trace),
                                   _columns.sparse_addresses(self.trace))

    def _grow(self) -> None:
        """More frames were indexed: extend the view (filter and scope included)."""
        if self.cf is not None or self.scope is not None or self.view.sort is not None:
            if self.cf is not None and not self._filter_running and self.filter_mask is not None \
                    and len(self.filter_mask) < len(self.trace):
                self._start_filter(extend=True)
            elif self.cf is None:
                self.rebuild_rows()
        else:
            self.frames.grow()
        self._update_status()
        if time.perf_counter() - self._last_progress > 1.0:
            self._last_progress = time.perf_counter()
            self._refresh_timeline()

    # -- status -----------------------------------------------------------------------------
    def _update_status(self) -> None:
        trace = self.trace
        n = len(trace)
        span = ""
        bounds: tuple[int, int] | None = None
        if trace.complete.is_set():
            bounds = trace.time_span()  # one pass over the index, then cached by the trace
        elif n:  # while the scan runs: the first and last frame read so far
            ts = trace.index.ts
            bounds = (int(ts[0]), int(ts[n - 1]))
        if bounds is not None:
            t0, t1 = bounds
            local = self.time_mode in ("local", "viewer")
            zone = trace.time_zone if self.time_mode == "local" else None
            where = zone.label(t0) if zone is not None else "" if local else "UTC"
            span = (f"{_columns.date_time(t0, local, zone)[:19]} – {_columns.time_of_day(t1, local, zone)[:8]}"
                    f"{' ' + where if where else ''} ({_columns.seconds(t1 - t0)[:-4]} s)")
        warnings = [w.message for w in trace.warnings] + self.notes
        self.status.update_status(file=self.file_label, displayed=len(self.view), total=n,
                                  filter=self.filter_text, preset=self.preset_name,
                                  scope="" if self.scope is None or self.scope.kind == "all"
                                  else conversations.describe(self.scope),
                                  span=span, warnings=warnings)
        if not self._filter_running:
            if self.cf is not None:
                self.filter_bar.show_status(f"{len(self.view):,} of {n:,} frames match")
            else:
                self.filter_bar.show_status("")

    @property
    def file_label(self) -> str:
        """The file's name, numbered when several traces are open (F6 goes round them)."""
        name = os.path.basename(self.trace.path)
        screens = getattr(self.app, "trace_screens", [])
        return f"{screens.index(self) + 1}/{len(screens)} {name}" if len(screens) > 1 and self in screens else name

    def action_warnings(self) -> None:
        lines = [w.message for w in self.trace.warnings] + self.notes
        if not lines:
            self.notify("No warnings: the whole file was read", timeout=3)
            return
        kept = f"{len(self.trace):,} frames were read and are shown."
        self.app.push_screen(WarningsScreen(f"Problems reading {self.trace.path}", lines, kept))

    # -- cursor → details and hex -----------------------------------------------------------
    @on(FrameList.Highlighted)
    def _highlighted(self, message: FrameList.Highlighted) -> None:
        if self._detail_timer is not None:
            self._detail_timer.stop()
        self._detail_timer = self.set_timer(DETAIL_DELAY, lambda: self._show_frame(message.frame))

    def _show_frame(self, i: int | None) -> None:
        if i is None or i >= len(self.trace):
            self.details.show_frame(None, "No frame selected")
            self.hex.show(b"")
            self.query_one(Timeline).set_current(None)
            return
        frame, error = _columns.decode(self.trace, i)
        if frame is None:
            self.details.show_frame(None, error)
            try:
                self.hex.show(self.trace.raw(i))
            except Exception as e:  # noqa: BLE001
                self.hex.show(b"", f"cannot read frame bytes: {e}")
        else:
            self.details.show_frame(frame)
            self.hex.show(frame.data, "no bytes" if not frame.data else "")
        self.query_one(Timeline).set_current(int(self.trace.index.ts[i]))

    @on(DetailTree.FieldHighlighted)
    def _field(self, message: DetailTree.FieldHighlighted) -> None:
        node = message.node
        if node is None:
            self.hex.select_range(0, 0)
        else:
            self.hex.select_range(node.start, node.length)
        self._show_field_line(node)

    def _show_field_line(self, node: Any) -> None:
        """A value too long for the details pane (a URI, a comment, a NIC name) is cut there, beside
        the hex: under the tree, the cursor's whole line is shown, wrapped."""
        line = self.query_one("#field-line", Static)
        text = visible(node.line()) if node is not None else ""
        tree = self.details
        depth, at = 0, tree.cursor_node
        while at is not None and at.parent is not None:
            depth, at = depth + 1, at.parent
        room = tree.size.width - 3 - depth * tree.guide_depth  # indentation, the expander, the scrollbar
        cut = bool(text) and len(text) > max(10, room)
        line.display = cut
        line.update(Text(text) if cut else "")

    @on(HexView.ByteSelected)
    def _byte(self, message: HexView.ByteSelected) -> None:
        self.details.select_offset(message.offset)

    @on(DetailTree.AddToFilter)
    @on(ConversationTree.AddToFilter)
    def _add_to_filter(self, message: DetailTree.AddToFilter | ConversationTree.AddToFilter) -> None:
        base = self.filter_bar.value if self.filter_bar.value.strip() else self.filter_text
        text = expressions.join(base, message.clause, message.op)
        self.filter_bar.set_text(text, apply=True)
        self.notify(f"Filter: {text}", timeout=3)

    @on(DetailTree.AddColumn)
    def _add_column(self, message: DetailTree.AddColumn) -> None:
        if any(n.lower() == message.name.lower() for n in self.column_names):
            self.notify(f"{message.name} is already a column", timeout=3)
            return
        self.set_columns([*self.column_names, message.name])
        self.notify(f"Added column {message.name}", timeout=3)

    # -- conversations ----------------------------------------------------------------------
    @on(ConversationTree.ScopeSelected)
    def _scope(self, message: ConversationTree.ScopeSelected) -> None:
        scope = message.scope
        self.scope = None if scope.kind == "all" else scope
        if self._filter_running:
            self._start_filter(extend=False)
        else:
            self.rebuild_rows()

    @on(Timeline.BucketSelected)
    def _bucket(self, message: Timeline.BucketSelected) -> None:
        rows = self.view.displayed()
        if not len(rows):
            return
        ts = self.trace.index.ts[rows]
        inside = np.flatnonzero((ts >= message.t_start) & (ts < message.t_end))
        if len(inside):
            pos = int(inside[0])
        else:
            after = np.flatnonzero(ts >= message.t_start)
            if not len(after):
                return
            pos = int(after[0])
            self.notify("No displayed frames in that slice; showing the next one", timeout=2)
        self.frames.go_to_position(pos)

    def _refresh_timeline(self) -> None:
        tl = self.query_one(Timeline)
        if not tl.display or not len(self.trace):
            return
        self._hist_gen += 1
        rows = self.view.rows
        self._histogram(self._hist_gen, None if rows is None else rows.copy(), tl.buckets)

    @work(thread=True, exclusive=True, exit_on_error=False, group="timeline")
    def _histogram(self, gen: int, rows: np.ndarray | None, buckets: int) -> None:
        self.post_message(m.HistogramReady(gen, histogram(self.trace, rows, buckets)))

    @on(m.HistogramReady)
    def _hist(self, message: m.HistogramReady) -> None:
        if message.generation == self._hist_gen:
            self.query_one(Timeline).set_histogram(message.histogram)

    # -- export -----------------------------------------------------------------------------
    def action_export(self) -> None:
        rows = self.view.displayed()
        if not len(rows):
            self.notify("No frames are displayed", severity="warning")
            return
        self.app.push_screen(ExportScreen(self.trace, rows, self.frames.columns,
                                          _columns.context(self.trace, self.time_mode, self.view.reference,
                                                           None).formatter))


def _renumber_mask(index: Any, mask: np.ndarray | None, since: int) -> np.ndarray | None:
    """A per-row match mask of the pre-sort order, moved to the rows its records hold now."""
    if mask is None:
        return None
    out = np.zeros(len(index), dtype=bool)
    out[index.remap(np.flatnonzero(mask), since)] = True
    return out

