"""Hex Details: offset, hex bytes and ASCII of the selected frame, linked to the detail tree.

The bytes of the field selected in the tree are highlighted; moving the byte cursor (keys or a
click) posts ``ByteSelected`` so the screen can select the innermost field holding that byte.
Lines are rendered on demand (Line API), so a 64 KiB jumbo frame costs nothing extra.
"""

from __future__ import annotations

from typing import ClassVar

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from .. import commands

OFFSET_WIDTH = 6  # "0000  "


def line_width(bytes_per_line: int) -> int:
    """Cells of one hex line: offset, 3 a byte plus the middle gap, a space, 1 a byte of ASCII."""
    return OFFSET_WIDTH + bytes_per_line * 4 + 2


class HexView(ScrollView, can_focus=True):
    BINDINGS = commands.bindings("hex")
    COMPONENT_CLASSES: ClassVar[set[str]] = {"hex-view--offset", "hex-view--selected", "hex-view--cursor", "hex-view--dim"}
    DEFAULT_CSS = """
    HexView { background: $surface; }
    """

    class ByteSelected(Message):
        def __init__(self, offset: int) -> None:
            super().__init__()
            self.offset = offset

    def __init__(self, *, name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.data = b""
        self.selection: tuple[int, int] = (0, 0)  # start, length
        self.cursor = -1
        self.message = ""

    # -- content ----------------------------------------------------------------------------
    def show(self, data: bytes, message: str = "") -> None:
        self.data = data
        self.message = message
        self.selection = (0, 0)
        self.cursor = -1
        self._resize()
        self.scroll_to(y=0, animate=False)
        self.refresh()

    def select_range(self, start: int, length: int) -> None:
        """Highlight the bytes of a field (``length`` 0 = nothing) and bring them into view."""
        self.selection = (start, length) if start >= 0 else (0, 0)
        if start >= 0 and length > 0:
            bpl = self.bytes_per_line
            first = start // bpl
            last = (start + length - 1) // bpl
            top = int(self.scroll_y)
            h = max(1, self.size.height)
            if first < top or last >= top + h:
                self.scroll_to(y=max(0, first - 1), animate=False)
        self.refresh()

    @property
    def bytes_per_line(self) -> int:
        # offset + 3 cells a byte + gap + 1 cell a byte of ASCII
        return 16 if self.scrollable_content_region.width >= line_width(16) else 8

    def _resize(self) -> None:
        bpl = self.bytes_per_line
        lines = (len(self.data) + bpl - 1) // bpl
        self.virtual_size = Size(line_width(bpl), max(lines, 1))

    def on_resize(self, event: events.Resize) -> None:
        self._resize()

    # -- rendering --------------------------------------------------------------------------
    def render_line(self, y: int) -> Strip:
        width = self.size.width
        base = self.rich_style
        line = int(self.scroll_y) + y
        if not self.data:
            if y == 0 and self.message:
                return Strip([Segment(self.message, self.get_component_rich_style("hex-view--dim"))]).crop_extend(
                    0, width, base)
            return Strip.blank(width, base)
        bpl = self.bytes_per_line
        start = line * bpl
        if start >= len(self.data):
            return Strip.blank(width, base)
        chunk = self.data[start : start + bpl]
        sel_start, sel_len = self.selection
        selected = self.get_component_rich_style("hex-view--selected")
        cursor = self.get_component_rich_style("hex-view--cursor")
        segs = [Segment(f"{start:04X}  ", self.get_component_rich_style("hex-view--offset"))]
        styles: list[Style] = []
        for k in range(len(chunk)):
            off = start + k
            if off == self.cursor and self.has_focus:
                styles.append(cursor)
            elif sel_start <= off < sel_start + sel_len:
                styles.append(selected)
            else:
                styles.append(base)
        for k, b in enumerate(chunk):
            sep = " " if k != bpl // 2 - 1 else "  "
            inside = k + 1 < len(chunk) and styles[k] is styles[k + 1] and styles[k] is not cursor
            segs.append(Segment(f"{b:02X}", styles[k]))
            segs.append(Segment(sep, styles[k] if inside else base))
        pad = bpl - len(chunk)
        if pad:
            segs.append(Segment("   " * pad + (" " if len(chunk) <= bpl // 2 - 1 else ""), base))
        segs.append(Segment(" ", base))
        for k, b in enumerate(chunk):
            segs.append(Segment(chr(b) if 0x20 <= b < 0x7F else ".", styles[k]))
        strip = Strip(segs)
        return strip.crop_extend(int(self.scroll_x), int(self.scroll_x) + width, base)

    # -- cursor -----------------------------------------------------------------------------
    def action_move(self, step: int) -> None:
        if not self.data:
            return
        if self.cursor < 0:
            self.cursor = self.selection[0] if self.selection[1] else 0
        step = step if abs(step) == 1 else (self.bytes_per_line if step > 0 else -self.bytes_per_line)
        self.set_cursor(max(0, min(len(self.data) - 1, self.cursor + step)))

    def set_cursor(self, offset: int) -> None:
        self.cursor = offset
        line = offset // self.bytes_per_line
        top = int(self.scroll_y)
        if line < top or line >= top + self.size.height:
            self.scroll_to(y=max(0, line - self.size.height // 2), animate=False)
        self.refresh()
        self.post_message(self.ByteSelected(offset))

    def offset_at(self, x: int, y: int) -> int | None:
        bpl = self.bytes_per_line
        line = int(self.scroll_y) + y
        x += int(self.scroll_x)
        hex_start = OFFSET_WIDTH
        hex_end = hex_start + bpl * 3 + 1
        k: int | None = None
        if hex_start <= x < hex_end:
            rel = x - hex_start
            if rel >= (bpl // 2) * 3:
                rel -= 1
            k = min(rel // 3, bpl - 1)
        elif hex_end + 1 <= x < hex_end + 1 + bpl:
            k = x - hex_end - 1
        if k is None:
            return None
        off = line * bpl + k
        return off if 0 <= off < len(self.data) else None

    def on_click(self, event: events.Click) -> None:
        off = self.offset_at(event.x, event.y)
        self.focus()
        if off is not None:
            self.set_cursor(off)

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()
