"""The frame list: a Line-API virtual list over the displayed rows (never a DataTable).

Nothing exists per row: ``render_line(y)`` turns a screen line into a position in the
``FrameView``, decodes that one frame when a decoded column is visible, and keeps the rendered
strip in an LRU cache keyed by position (the cache is dropped whenever the view, the columns or
the time mode change).  Line 0 is the column header and does not scroll vertically.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import ClassVar

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.cache import LRUCache
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip
from tracemon.traces.text import visible

from .. import columns as _columns
from .. import commands
from ..view import FrameView

GUTTER = 2  # mark and reference indicators
FLEX_MIN = 20  # the Description column never gets narrower than this (the list scrolls sideways)
FLEX_SHARE = 3  # … nor than a third of the list
RESIZE_STEP = 2  # cells per < / > press
RowStyle = Callable[[int], Style | None]


class FrameList(ScrollView, can_focus=True):
    """Netmon's Frame Summary pane."""

    BINDINGS = commands.bindings("list")
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "frame-list--header",
        "frame-list--header-sorted",
        "frame-list--cursor",
        "frame-list--cursor-blurred",
        "frame-list--mark",
        "frame-list--reference",
        "frame-list--empty",
    }
    DEFAULT_CSS = """
    FrameList { background: $surface; }
    """

    cursor: reactive[int] = reactive(0, always_update=True, init=False)

    class Highlighted(Message):
        """The cursor is on another frame (``frame`` is None when the list is empty)."""

        def __init__(self, frame: int | None, position: int) -> None:
            super().__init__()
            self.frame = frame
            self.position = position

    class HeaderClicked(Message):
        def __init__(self, key: str) -> None:
            super().__init__()
            self.key = key

    class ColumnResized(Message):
        """The user gave a column another width (keys or a header-edge drag)."""

        def __init__(self, key: str, width: int) -> None:
            super().__init__()
            self.key = key
            self.width = width

    def __init__(self, view: FrameView, cols: Sequence[_columns.Column], *, time_mode: str = "utc",
                 name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.view = view
        self._columns: list[_columns.Column] = list(cols)
        self.time_mode = time_mode
        self.row_style: RowStyle | None = None
        #: columns with nothing to show in this trace (Process in a pcap) step aside
        self.empty_keys: set[str] = set()
        self.sparse_keys: set[str] = set()
        self.empty_text = "No frames"
        self._cache: LRUCache[int, Strip] = LRUCache(1024)
        self._cache_key: tuple = ()
        self._widths: list[int] = []
        self._visible: list[_columns.Column] = []
        self._layout_width = -1
        self._last_frame: int | None = None
        #: widths the user set (column key → cells); kept across column and view changes
        self.user_widths: dict[str, int] = {}
        #: columns that did not fit (shown as "+N cols hidden" in the header)
        self.hidden: list[_columns.Column] = []
        #: the column ``<`` / ``>`` resize (None until Shift+←/→ or a resize picks one)
        self.current_column: str | None = None
        self._drag: tuple[str, int, int] | None = None  # key, start width, start screen x
        self._dragged = False

    # -- state changes ----------------------------------------------------------------------
    @property
    def columns(self) -> list[_columns.Column]:
        return list(self._columns)

    def set_columns(self, cols: Sequence[_columns.Column]) -> None:
        self._columns = list(cols)
        self.invalidate()

    def set_empty_keys(self, keys: set[str], sparse: set[str] | None = None) -> None:
        """Columns with nothing to show step aside; ``sparse`` ones (empty on most rows) are the
        first to go when the terminal is narrow."""
        sparse = set(sparse or ())
        if keys != self.empty_keys or sparse != self.sparse_keys:
            self.empty_keys = set(keys)
            self.sparse_keys = sparse
            self.invalidate()

    def set_time_mode(self, mode: str) -> None:
        self.time_mode = mode
        self.invalidate()

    def set_view(self, view: FrameView, keep_frame: int | None = None) -> None:
        """Show another set of rows, keeping ``keep_frame`` (or the nearest after it) selected."""
        self.view = view
        self.invalidate()
        if len(view) == 0:
            self.cursor = 0
        elif keep_frame is not None:
            self.cursor = view.position_near(keep_frame)
        else:
            self.cursor = min(self.cursor, len(view) - 1)

    def invalidate(self) -> None:
        self._cache.clear()
        self._cache_key = ()
        self.grow()

    def grow(self) -> None:
        """The trace or the view has more rows (scan progress): resize, repaint."""
        self._layout()
        self._resize_virtual()
        n = len(self.view)
        if n and self._last_frame is None:
            self._announce()
        self.refresh()

    @property
    def frame(self) -> int | None:
        """The frame index under the cursor."""
        n = len(self.view)
        return self.view.frame_at(self.cursor) if n and 0 <= self.cursor < n else None

    # -- layout -----------------------------------------------------------------------------
    def _layout(self) -> None:
        """Column widths for the current width: columns with nothing to show in this trace step
        aside, then the least important ones (``columns.PRIORITY``) until the rest fit."""
        self._layout_width = self.scrollable_content_region.width
        avail = max(self._layout_width - GUTTER, 20)
        cols = [c for c in self._columns if c.key not in self.empty_keys] or list(self._columns)
        user = self.user_widths
        flex_min = max(FLEX_MIN, avail // FLEX_SHARE)
        visible = _columns.plan(cols, user, avail, flex_min, self.sparse_keys)
        self.hidden = [c for c in cols if c not in visible]
        flexible = [c.flex and c.key not in user for c in visible]
        widths = [user.get(c.key, c.width) for c in visible]
        fixed = sum(w + 1 for w, f in zip(widths, flexible, strict=True) if not f)
        for k, f in enumerate(flexible):
            if f:
                widths[k] = max(flex_min, avail - fixed - 1)
        self._visible = visible
        self._widths = widths

    def _resize_virtual(self) -> None:
        self.virtual_size = Size(sum(w + 1 for w in self._widths) + GUTTER, len(self.view) + 1)

    def on_resize(self, event: events.Resize) -> None:
        self.invalidate()
        self._scroll_to_cursor()

    def column_at(self, x: int) -> _columns.Column | None:
        x += int(self.scroll_x) - GUTTER
        for c, w in zip(self._visible, self._widths, strict=False):
            if 0 <= x < w + 1:
                return c
            x -= w + 1
        return None

    def edge_at(self, x: int) -> _columns.Column | None:
        """The column whose right edge (the gap after it, or its last cell) is at ``x``."""
        x += int(self.scroll_x) - GUTTER
        right = -1
        for c, w in zip(self._visible, self._widths, strict=False):
            right += w + 1
            if right - 1 <= x <= right:
                return c
        return None

    # -- column widths ----------------------------------------------------------------------
    def width_of(self, key: str) -> int | None:
        for c, w in zip(self._visible, self._widths, strict=False):
            if c.key == key:
                return w
        return None

    def resize_column(self, key: str, width: int) -> None:
        """Give column ``key`` ``width`` cells (at least ``MIN_WIDTH``)."""
        width = max(_columns.MIN_WIDTH, min(width, 200))
        if self.user_widths.get(key) == width:
            return
        self.user_widths[key] = width
        self.current_column = key
        self.invalidate()
        self.post_message(self.ColumnResized(key, width))

    def _current(self) -> _columns.Column | None:
        keys = [c.key for c in self._visible]
        if self.current_column in keys:
            return self._visible[keys.index(self.current_column)]
        flex = [c for c in self._visible if c.flex]
        return flex[0] if flex else (self._visible[-1] if self._visible else None)

    def action_resize_column(self, step: int) -> None:
        col = self._current()
        if col is None:
            return
        width = self.width_of(col.key) or col.width
        self.resize_column(col.key, width + step * RESIZE_STEP)

    def action_next_column(self, step: int) -> None:
        """Move the column that ``<`` / ``>`` resize (underlined in the header)."""
        if not self._visible:
            return
        keys = [c.key for c in self._visible]
        cur = self._current()
        k = keys.index(cur.key) if cur is not None else 0
        self.current_column = keys[(k + step) % len(keys)]
        self.refresh()

    # -- rendering --------------------------------------------------------------------------
    def render_line(self, y: int) -> Strip:
        width = self.size.width
        if self.scrollable_content_region.width != self._layout_width:
            self._layout()
            self.call_after_refresh(self._resize_virtual)
        scroll_x = int(self.scroll_x)
        base = self.rich_style
        if y == 0:
            return self._header_line(scroll_x, width)
        n = len(self.view)
        pos = int(self.scroll_y) + y - 1
        if n == 0:
            if y == 2:
                style = self.get_component_rich_style("frame-list--empty")
                return Strip([Segment(f"  {self.empty_text}", style)]).crop_extend(0, width, base)
            return Strip.blank(width, base)
        if pos >= n:
            return Strip.blank(width, base)
        key = (self.view.generation, self.time_mode, tuple(self._widths), id(self.row_style))
        if key != self._cache_key:
            self._cache.clear()
            self._cache_key = key
        strip = self._cache.get(pos)
        if strip is None:
            strip = self._row(pos)
            self._cache[pos] = strip
        strip = strip.crop_extend(scroll_x, scroll_x + width, base)
        if pos == self.cursor:
            name = "frame-list--cursor" if self.has_focus else "frame-list--cursor-blurred"
            strip = _overlay(strip, self.get_component_rich_style(name))
        return strip

    def _header(self) -> Strip:
        style = self.get_component_rich_style("frame-list--header")
        sorted_style = self.get_component_rich_style("frame-list--header-sorted")
        sort = self.view.sort
        segs = [Segment(" " * GUTTER, style)]
        current = self.current_column
        for c, w in zip(self._visible, self._widths, strict=False):
            label = c.label
            if c.key == "time":
                label = _columns.time_label(self.time_mode, self.view.trace)
            is_sorted = sort is not None and sort.key == c.key
            if is_sorted:
                label = label + (" ▼" if sort.descending else " ▲")
            cell_style = sorted_style if is_sorted else style
            if c.key == current:
                cell_style += Style(underline=True)
            segs.append(Segment(_fit(label, w, c.right), cell_style))
            segs.append(Segment(" ", style))
        total = sum(w + 1 for w in self._widths) + GUTTER
        return Strip(segs, total)

    def _header_line(self, scroll_x: int, width: int) -> Strip:
        """The header in view, ending with "+N cols hidden" when columns did not fit."""
        base = self.rich_style
        strip = self._header().crop_extend(scroll_x, scroll_x + width, base)
        n = len(self.hidden)
        if not n:
            return strip
        # the longest form that fits in the header's blank tail (a label is never covered by it
        # unless even " +N " does not fit)
        blank = len(strip.text) - len(strip.text.rstrip())
        forms = (f" +{n} col{'s' if n > 1 else ''} hidden ", f" +{n} hidden ", f" +{n} ")
        hint = next((f for f in forms if len(f) <= blank), forms[-1])
        style = self.get_component_rich_style("frame-list--header") + Style(dim=True, italic=True)
        return Strip.join([strip.crop(0, width - len(hint)), Strip([Segment(hint, style)], len(hint))])

    def _row(self, pos: int) -> Strip:
        view = self.view
        trace = view.trace
        i = view.frame_at(pos)
        ctx = view.row_context(pos, self.time_mode)
        cells = _columns.row_cells(self._visible, trace, i, ctx)
        base = self.rich_style
        rule = self.row_style(i) if self.row_style is not None else None
        style = base + rule if rule is not None else base
        mark = "●" if i in view.marks else " "
        ref = "R" if view.reference == i else " "
        gutter_style = self.get_component_rich_style("frame-list--mark") if mark != " " else style
        ref_style = self.get_component_rich_style("frame-list--reference") if ref != " " else style
        segs = [Segment(mark, gutter_style), Segment(ref, ref_style)]
        for c, w, text in zip(self._visible, self._widths, cells, strict=False):
            if c.key in _columns.MIDDLE:
                text = _columns.elide_middle(text, w)
            segs.append(Segment(_fit(text, w, c.right) + " ", style))
        total = sum(w + 1 for w in self._widths) + GUTTER
        return Strip(segs, total)

    # -- cursor -----------------------------------------------------------------------------
    @property
    def page_rows(self) -> int:
        return max(1, self.size.height - 2)

    def validate_cursor(self, value: int) -> int:
        n = len(self.view)
        return 0 if n == 0 else max(0, min(value, n - 1))

    def watch_cursor(self, old: int, new: int) -> None:
        self._scroll_to_cursor()
        self.refresh()
        self._announce()

    def _announce(self) -> None:
        frame = self.frame
        self._last_frame = frame
        self.post_message(self.Highlighted(frame, self.cursor))

    def _scroll_to_cursor(self) -> None:
        rows = max(1, self.size.height - 1 - (1 if self.show_horizontal_scrollbar else 0))
        top = int(self.scroll_y)
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False, immediate=True)
        elif self.cursor >= top + rows:
            self.scroll_to(y=self.cursor - rows + 1, animate=False, immediate=True)

    def action_cursor(self, step: int) -> None:
        self.cursor = self.cursor + step

    def action_page(self, step: int) -> None:
        """Page like a pager: the cursor keeps its place on screen while the rows move."""
        rows = self.page_rows
        self.scroll_to(y=max(0, int(self.scroll_y) + step * rows), animate=False, immediate=True)
        self.cursor = self.cursor + step * rows

    def action_first(self) -> None:
        self.cursor = 0

    def action_last(self) -> None:
        self.cursor = len(self.view) - 1

    def action_scroll_columns(self, cells: int) -> None:
        self.scroll_to(x=max(0, int(self.scroll_x) + cells), animate=False)

    def go_to_position(self, pos: int) -> None:
        self.cursor = pos

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()

    # -- mouse ------------------------------------------------------------------------------
    def on_mouse_down(self, event: events.MouseDown) -> None:
        """A press on a header column's edge starts resizing it."""
        self._dragged = False
        if event.y != 0:
            return
        col = self.edge_at(event.x)
        if col is not None:
            self._drag = (col.key, self.width_of(col.key) or col.width, event.screen_x)
            self.current_column = col.key
            self.capture_mouse()
            event.stop()

    def on_mouse_move(self, event: events.MouseMove) -> None:
        if self._drag is None:
            return
        key, start, x0 = self._drag
        if event.screen_x != x0:
            self._dragged = True
        self.resize_column(key, start + event.screen_x - x0)

    def on_mouse_up(self, event: events.MouseUp) -> None:
        if self._drag is not None:
            self._drag = None
            self.release_mouse()

    def on_click(self, event: events.Click) -> None:
        if self._dragged:  # the end of a header-edge drag is no click on the column
            self._dragged = False
            return
        if event.y == 0:
            col = self.column_at(event.x)
            if col is not None:
                self.post_message(self.HeaderClicked(col.key))
            return
        pos = int(self.scroll_y) + event.y - 1
        if 0 <= pos < len(self.view):
            self.cursor = pos
        self.focus()


def _overlay(strip: Strip, style: Style) -> Strip:
    """Paint ``style`` over every segment (a cursor's background beats the row's own)."""
    return Strip(list(Segment.apply_style(iter(strip), None, style)), strip.cell_length)


def _fit(text: str, width: int, right: bool = False) -> str:
    """Pad or cut ``text`` to ``width`` cells (cut text ends with an ellipsis); trace text is data,
    so any other control character is shown (``visible``), never sent to the terminal."""
    if "\n" in text or "\r" in text or "\t" in text:
        text = text.replace("\r", " ").replace("\n", " ").replace("\t", " ")
    text = visible(text)
    n = cell_len(text)
    if n > width:
        return set_cell_size(text, width - 1) + "…" if width > 1 else set_cell_size(text, width)
    if right:
        return " " * (width - n) + text
    return text + " " * (width - n)
