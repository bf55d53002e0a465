"""Export the displayed frames: pcapng (the packets, via ``tracemon.traces.export``) or the visible
columns as CSV / JSON, exactly as the list shows them.  No Textual here; the export screen runs
these in a worker and passes ``progress`` and ``cancel``.
"""

from __future__ import annotations

import csv
import json
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from . import columns as _columns

if TYPE_CHECKING:
    from tracemon.traces.trace import Trace

Progress = Callable[[int, int], None]
FORMATS = ("pcapng", "csv", "json")


class ExportCancelled(Exception):
    pass


def pcapng_writer() -> Callable[..., object] | None:
    """``write_pcapng(trace, rows, path, progress=None)`` when the export module has landed."""
    try:
        from tracemon.traces.export import write_pcapng
    except ImportError:
        return None
    return write_pcapng


def _rows_text(trace: Trace, rows: np.ndarray, cols: Sequence[_columns.Column], time_mode: str,
               reference: int | None, progress: Progress | None, cancel: threading.Event | None):
    ts = trace.index.ts
    first = int(ts.min()) if len(ts) else 0
    ref = int(ts[reference]) if reference is not None and reference < len(ts) else None
    prev: int | None = None
    total = len(rows)
    for k, i in enumerate(rows):
        if k % 2048 == 0:
            if cancel is not None and cancel.is_set():
                raise ExportCancelled()
            if progress is not None:
                progress(k, total)
        i = int(i)
        ctx = _columns.RowContext(first, prev, ref, time_mode)
        yield _columns.row_cells(cols, trace, i, ctx)
        prev = int(ts[i])
    if progress is not None:
        progress(total, total)


def write_csv(trace: Trace, rows: np.ndarray, cols: Sequence[_columns.Column], path: str | os.PathLike[str], *,
              time_mode: str = "utc", reference: int | None = None, progress: Progress | None = None,
              cancel: threading.Event | None = None) -> int:
    target = Path(path)
    tmp = target.with_name(target.name + ".part")
    try:
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow([c.title for c in cols])
            n = 0
            for cells in _rows_text(trace, rows, cols, time_mode, reference, progress, cancel):
                w.writerow(cells)
                n += 1
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()
    return n


def write_json(trace: Trace, rows: np.ndarray, cols: Sequence[_columns.Column], path: str | os.PathLike[str], *,
               time_mode: str = "utc", reference: int | None = None, progress: Progress | None = None,
               cancel: threading.Event | None = None) -> int:
    """A JSON array of objects keyed by column title (one object per line, so it streams)."""
    target = Path(path)
    tmp = target.with_name(target.name + ".part")
    titles = [c.title for c in cols]
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write("[")
            n = 0
            for cells in _rows_text(trace, rows, cols, time_mode, reference, progress, cancel):
                f.write(",\n" if n else "\n")
                f.write(json.dumps(dict(zip(titles, cells, strict=True)), ensure_ascii=False))
                n += 1
            f.write("\n]\n")
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()
    return n


def packet_rows(trace: Trace, rows: np.ndarray) -> np.ndarray:
    """The displayed rows that carry packet bytes (pcapng cannot hold plain ETW events)."""
    from tracemon.traces.index import KIND_PACKET

    return rows[(trace.index.kind[rows] & KIND_PACKET) != 0]
