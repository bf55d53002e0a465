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
FLEX_MIN = 16  # the Description column never gets narrower than this (the list scrolls sideways)
#: columns that step aside, in this order, when the terminal is too narrow for all of them
HIDE_ORDER = ("delta", "offset", "process", "time")
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

    def __init__(self, view: FrameView, cols: Sequence[_columns.Column], *, time_mode: str = "utc",
                 name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.view = view
        self._columns: list[_columns.Column] = list(cols)
        self.time_mode = time_mode
        self.row_style: RowStyle | None = None
        #: columns with nothing to show in this trace (Process in a pcap) step aside
        self.empty_keys: set[str] = set()
        self.empty_text = "No frames"
        self._cache: LRUCache[int, Strip] = LRUCache(1024)
        self._cache_key: tuple = ()
        self._widths: list[int] = []
        self._visible: list[_columns.Column] = []
        self._layout_width = -1
        self._last_frame: int | None = None

    # -- state changes ----------------------------------------------------------------------
    @property
    def columns(self) -> list[_columns.Column]:
        return list(self._columns)

    def set_columns(self, cols: Sequence[_columns.Column]) -> None:
        self._columns = list(cols)
        self.invalidate()

    def set_empty_keys(self, keys: set[str]) -> None:
        if keys != self.empty_keys:
            self.empty_keys = set(keys)
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
        """Column widths for the current width; on narrow terminals some time columns step aside."""
        self._layout_width = self.scrollable_content_region.width
        avail = max(self._layout_width - GUTTER, 20)
        cols = [c for c in self._columns if c.key not in self.empty_keys] or list(self._columns)

        def need(cs: list[_columns.Column]) -> int:
            return sum(c.width + 1 for c in cs if not c.flex) + sum(FLEX_MIN + 1 for c in cs if c.flex)

        for key in HIDE_ORDER:
            if need(cols) <= avail or len(cols) <= 2:
                break
            cols = [c for c in cols if c.key != key]
        widths = [c.width for c in cols]
        fixed = sum(c.width + 1 for c in cols if not c.flex)
        for k, c in enumerate(cols):
            if c.flex:
                widths[k] = max(FLEX_MIN, avail - fixed - 1)
        self._visible = cols
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

    # -- rendering --------------------------------------------------------------------------
    def render_line(self, y: int) -> Strip:
        width = self.size.width
        if self.scrollable_content_region.width != self._layout_width:
            self._layout()
            self.call_after_refresh(self._resize_virtual)
        scroll_x = int(self.scroll_x)
        base = self.rich_style
        if y == 0:
            return self._header().crop_extend(scroll_x, scroll_x + width, base)
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
        for c, w in zip(self._visible, self._widths, strict=False):
            label = c.label
            if c.key == "time":
                label = _columns.time_label(self.time_mode, self.view.trace)
            is_sorted = sort is not None and sort.key == c.key
            if is_sorted:
                label = label + (" ▼" if sort.descending else " ▲")
            segs.append(Segment(_fit(label, w, c.right) + " ", sorted_style if is_sorted else style))
        total = sum(w + 1 for w in self._widths) + GUTTER
        return Strip(segs, total)

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
    def on_click(self, event: events.Click) -> None:
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
