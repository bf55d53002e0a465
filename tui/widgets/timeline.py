"""A one-line histogram of the displayed frames over the trace's time span.

Buckets holding drops, errors or TCP resets are drawn in the error colour so they stand out;
clicking a bucket (or moving with ←/→ and pressing Enter) jumps to its first displayed frame.
The counting is NumPy over the index (``histogram``) and runs in a worker for big traces.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import numpy as np
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.message import Message
from textual.strip import Strip
from textual.widget import Widget

from .. import commands
from ..conversations import event_symbols

if TYPE_CHECKING:
    from tracemon.traces.trace import Trace

BARS = " ▁▂▃▄▅▆▇█"
TCP_RST = 0x04


@dataclass(slots=True)
class Histogram:
    counts: np.ndarray
    errors: np.ndarray  # bool per bucket
    t0: int
    t1: int  # exclusive

    def bucket_of(self, ts: int) -> int:
        n = len(self.counts)
        if n == 0 or self.t1 <= self.t0:
            return 0
        return int(min(n - 1, max(0, (ts - self.t0) * n // (self.t1 - self.t0))))

    def bounds(self, k: int) -> tuple[int, int]:
        n = max(1, len(self.counts))
        span = self.t1 - self.t0
        return self.t0 + span * k // n, self.t0 + span * (k + 1) // n


def problem_mask(trace: Trace, rows: np.ndarray | None, n: int | None = None) -> np.ndarray:
    """Frames that are errors (ETW level 1–2), drop events or TCP resets: of ``rows``, or of the
    first ``n`` frames (all when None; while the scan runs the index grows between two reads)."""
    idx = trace.index
    sel = slice(n) if rows is None else rows
    level = idx.level[sel]
    bad = (level >= 1) & (level <= 2)
    bad |= (idx.tcpflags[sel] & TCP_RST) != 0
    drops: list[tuple[int, int]] = []
    guids = {p.guid.lower().strip("{}"): code for code, p in enumerate(trace.providers) if code}
    for (guid, eid), sym in event_symbols(trace).items():
        if "DROP" in sym.upper() and guid in guids:
            drops.append((guids[guid], eid))
    if drops:
        prov = idx.provider[sel]
        eid = idx.event_id[sel]
        for code, e in drops:
            bad |= (prov == code) & (eid == e)
    return bad


def histogram(trace: Trace, rows: np.ndarray | None, buckets: int) -> Histogram:
    ts_all = trace.index.ts
    if len(ts_all) == 0 or buckets <= 0:
        return Histogram(np.zeros(max(buckets, 0), np.int64), np.zeros(max(buckets, 0), bool), 0, 1)
    t0 = int(ts_all.min())
    t1 = int(ts_all.max()) + 1
    ts = ts_all if rows is None else ts_all[rows]
    counts, _ = np.histogram(ts, bins=buckets, range=(t0, t1))
    bad = problem_mask(trace, rows, len(ts_all))  # (the frames counted, not those read since)
    if bad.any():
        err_counts, _ = np.histogram(ts[bad], bins=buckets, range=(t0, t1))
        errors = err_counts > 0
    else:
        errors = np.zeros(buckets, bool)
    return Histogram(counts.astype(np.int64), errors, t0, t1)


class Timeline(Widget, can_focus=True):
    BINDINGS = commands.bindings("timeline")
    COMPONENT_CLASSES: ClassVar[set[str]] = {"timeline--bar", "timeline--error", "timeline--cursor", "timeline--current"}
    DEFAULT_CSS = """
    Timeline { height: 1; }
    """

    class BucketSelected(Message):
        def __init__(self, t_start: int, t_end: int) -> None:
            super().__init__()
            self.t_start = t_start
            self.t_end = t_end

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.hist: Histogram | None = None
        self.cursor = 0
        self.current_ts: int | None = None

    def set_histogram(self, hist: Histogram) -> None:
        self.hist = hist
        self.cursor = min(self.cursor, max(0, len(hist.counts) - 1))
        self.refresh()

    def set_current(self, ts: int | None) -> None:
        if ts != self.current_ts:
            self.current_ts = ts
            self.refresh()

    @property
    def buckets(self) -> int:
        return max(1, self.size.width)

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        base = self.rich_style
        hist = self.hist
        if hist is None or y > 0 or not len(hist.counts):
            return Strip.blank(width, base)
        counts = hist.counts
        top = int(counts.max()) if len(counts) else 0
        bar = self.get_component_rich_style("timeline--bar")
        err = self.get_component_rich_style("timeline--error")
        cur = self.get_component_rich_style("timeline--cursor")
        now = self.get_component_rich_style("timeline--current")
        current = hist.bucket_of(self.current_ts) if self.current_ts is not None else -1
        segs = []
        for k, c in enumerate(counts[:width]):
            c = int(c)
            level = 0 if c == 0 or top == 0 else max(1, round(c * (len(BARS) - 1) / top))
            style: Style = err if hist.errors[k] else bar
            if k == current:
                style = style + now
            if self.has_focus and k == self.cursor:
                style = style + cur
            segs.append(Segment(BARS[level], style))
        return Strip(segs).crop_extend(0, width, base)

    def action_move(self, step: int) -> None:
        if self.hist is None:
            return
        self.cursor = max(0, min(len(self.hist.counts) - 1, self.cursor + step))
        self.refresh()

    def action_jump(self) -> None:
        if self.hist is None:
            return
        self.post_message(self.BucketSelected(*self.hist.bounds(self.cursor)))

    def on_click(self, event: events.Click) -> None:
        if self.hist is None:
            return
        self.cursor = max(0, min(len(self.hist.counts) - 1, event.x))
        self.refresh()
        self.post_message(self.BucketSelected(*self.hist.bounds(self.cursor)))

    def on_focus(self) -> None:
        if self.hist is not None and self.current_ts is not None:
            self.cursor = self.hist.bucket_of(self.current_ts)
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()
