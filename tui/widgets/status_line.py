"""The status line: the file, displayed/total frames, filter, preset, conversation, load progress,
time span, warnings.  When the line is too narrow the least important parts go first (80 columns
over SSH); a long file name is cut in the middle (its start and its extension tell files apart).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import ClassVar

from rich.cells import cell_len, set_cell_size
from rich.text import Text
from textual.widget import Widget
from tracemon.traces.text import visible

SEP = " │ "
#: a long file name is cut to this many cells before anything else has to go
FILE_MIN = 24


@dataclass(slots=True)
class Status:
    file: str = ""  # "capture.etl", or "2/3 capture.etl" with several open
    displayed: int = 0
    total: int = 0
    loading: float | None = None  # fraction while the scan runs
    filter: str = ""
    filter_running: str = ""  # "applying… 12,345 matches (40%)"
    preset: str = ""
    scope: str = ""
    span: str = ""
    warnings: list[str] = field(default_factory=list)
    #: transient notes by the work that set them ("sort": "sorting 40%", "find": "finding x…"):
    #: each piece of work clears only its own, so a sort ending does not wipe "filter stopped"
    notes: tuple[tuple[str, str], ...] = ()

    @property
    def note(self) -> str:
        return " · ".join(text for _, text in self.notes)


class StatusLine(Widget):
    DEFAULT_CSS = """
    StatusLine { height: 1; }
    """
    COMPONENT_CLASSES: ClassVar[set[str]] = {"status-line--key", "status-line--warning", "status-line--busy"}

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.status = Status()

    def update_status(self, **changes: object) -> None:
        new = replace(self.status, **changes)  # type: ignore[arg-type]
        if new != self.status:
            self.status = new
            self.refresh()

    def set_note(self, source: str, text: str) -> None:
        """Show ``text`` as ``source``'s note (in place of its last one); empty text removes it."""
        notes = [(k, t) for k, t in self.status.notes if k != source]
        if text:
            notes.append((source, text))
        self.update_status(notes=tuple(notes))

    def parts(self) -> list[tuple[int, Text]]:
        """(priority, text) pieces; lower priority numbers survive narrow terminals."""
        s = self.status
        key = self.get_component_rich_style("status-line--key", partial=True)
        warn = self.get_component_rich_style("status-line--warning", partial=True)
        busy = self.get_component_rich_style("status-line--busy", partial=True)
        out: list[tuple[int, Text]] = []
        if s.file:
            out.append((0, Text(s.file, style=key)))
        if s.displayed == s.total:
            frames = Text.assemble((f"{s.total:,}", key), " frames")
        else:
            frames = Text.assemble((f"{s.displayed:,}", key), f" of {s.total:,} frames")
        out.append((0, frames))
        if s.loading is not None:
            out.append((1, Text(f"loading {s.loading:4.0%}", style=busy)))
        if s.filter_running:
            out.append((1, Text(s.filter_running, style=busy)))
        if s.note:
            out.append((1, Text(s.note, style=busy)))
        if s.warnings:
            n = len(s.warnings)
            out.append((1, Text(f"⚠ {n} warning{'s' if n != 1 else ''} (w)", style=warn)))
        if s.preset:
            out.append((2, Text.assemble("Preset ", (visible(s.preset), key))))
        if s.filter:
            out.append((3, Text.assemble("Filter ", (visible(" ".join(s.filter.split())), key))))
        if s.scope:
            out.append((3, Text.assemble("Conversation ", (visible(s.scope), key))))
        if s.span:
            out.append((4, Text(visible(s.span))))
        return out

    def render(self) -> Text:
        width = self.size.width
        parts = self.parts()
        keep = list(parts)
        while keep and _width(keep) > width - 1:
            worst = max(p for p, _ in keep)
            if worst == 0 and len(keep) == 1:
                break
            # shorten a long filter/scope text before dropping anything
            long = [k for k, (p, t) in enumerate(keep) if p == 3 and cell_len(t.plain) > 24]
            if long:
                k = long[0]
                p, t = keep[k]
                keep[k] = (p, Text(set_cell_size(t.plain, 23) + "…", style=t.style))
                continue
            if worst <= 1 and self.status.file and cell_len(keep[0][1].plain) > FILE_MIN:
                p, t = keep[0]
                keep[0] = (p, Text(elide_middle(t.plain, FILE_MIN), style=t.style))
                continue
            for k in range(len(keep) - 1, -1, -1):
                if keep[k][0] == worst:
                    del keep[k]
                    break
        out = Text(" ", no_wrap=True, overflow="ellipsis")
        for k, (_, t) in enumerate(keep):
            if k:
                out.append(SEP, style="dim")
            out.append_text(t)
        return out


def elide_middle(text: str, width: int) -> str:
    """``text`` in ``width`` cells with its middle replaced by "…" (keeps the start and the extension)."""
    if cell_len(text) <= width:
        return text
    tail = (width - 1) // 2
    head = width - 1 - tail
    return set_cell_size(text, head) + "…" + text[len(text) - tail:]


def _width(parts: list[tuple[int, Text]]) -> int:
    return sum(cell_len(t.plain) for _, t in parts) + len(SEP) * max(0, len(parts) - 1)
