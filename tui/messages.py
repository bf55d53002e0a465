"""Messages that thread workers post back to the trace screen (results never touch widgets directly)."""

from __future__ import annotations

import threading

import numpy as np
from textual.message import Message
from tracemon.traces.trace import Progress

from .view import Sort
from .widgets.timeline import Histogram


class ScanProgress(Message):
    def __init__(self, progress: Progress) -> None:
        super().__init__()
        self.progress = progress


class ScanFailed(Message):
    def __init__(self, error: str) -> None:
        super().__init__()
        self.error = error


class FilterProgress(Message):
    """Part of a filter evaluation: matches among the frames evaluated so far."""

    def __init__(self, generation: int, rows: np.ndarray, done: int, total: int) -> None:
        super().__init__()
        self.generation = generation
        self.rows = rows
        self.done = done
        self.total = total


class FilterDone(Message):
    def __init__(self, generation: int, mask: np.ndarray, start: int) -> None:
        super().__init__()
        self.generation = generation
        self.mask = mask
        self.start = start


class FilterFailed(Message):
    def __init__(self, generation: int, error: str) -> None:
        super().__init__()
        self.generation = generation
        self.error = error


class RowsReady(Message):
    def __init__(self, generation: int, rows: np.ndarray | None, sort: Sort | None, keep_frame: int | None) -> None:
        super().__init__()
        self.generation = generation
        self.rows = rows
        self.sort = sort
        self.keep_frame = keep_frame


class WorkNote(Message):
    """Progress of slow view work (sorting, finding) for the status line, as ``source``'s note;
    empty text clears that note (and no other).  Work stopped by setting ``cancel`` says nothing
    more: its stopper cleared the note, and a late message must not bring it back."""

    def __init__(self, source: str, text: str, cancel: threading.Event | None = None) -> None:
        super().__init__()
        self.source = source
        self.text = text
        self.cancel = cancel


class HistogramReady(Message):
    def __init__(self, generation: int, histogram: Histogram) -> None:
        super().__init__()
        self.generation = generation
        self.histogram = histogram


class FindResult(Message):
    """The frame a find stopped at (None: no match that way)."""

    def __init__(self, frame: int | None, step: int, start_frame: int | None) -> None:
        super().__init__()
        self.frame = frame
        self.step = step
        self.start_frame = start_frame


class TextsReady(Message):
    """Shown field columns whose cells now come from field columns (``cancel``: the request's)."""

    def __init__(self, texts: dict, cancel: object) -> None:
        super().__init__()
        self.texts = texts
        self.cancel = cancel


class ColumnBuilding(Message):
    """A field column a filter needs is being built the first time (``fraction`` None: started)."""

    def __init__(self, generation: int, name: str, fraction: float | None) -> None:
        super().__init__()
        self.generation = generation
        self.name = name
        self.fraction = fraction
