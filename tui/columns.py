"""Frame list columns: Netmon's built-in columns plus any registry field, and their cell text.

Index columns (number, times, process, protocol) come straight from the NumPy index; Source,
Destination, Description and field columns need the decoded frame, so rows are only decoded
when such a column is visible.  No Textual here: the CSV/JSON export uses the same text.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tracemon.traces.frame import Frame
    from tracemon.traces.trace import Trace


@dataclass(frozen=True, slots=True)
class Column:
    key: str  # "number", "time", … or "field:<registry name>"
    title: str  # Netmon's name, used in presets and the column chooser
    label: str  # header text
    width: int
    right: bool = False
    needs_frame: bool = False
    #: the column grows to take the free width (Description)
    flex: bool = False

    @property
    def field(self) -> str | None:
        return self.key[6:] if self.key.startswith("field:") else None


BUILTIN: tuple[Column, ...] = (
    Column("number", "Frame Number", "Frame", 8, right=True),
    Column("time", "Time", "Time", 16),
    Column("offset", "Time Offset", "Offset", 13, right=True),
    Column("delta", "Time Delta", "Delta", 11, right=True),
    Column("process", "Process", "Process", 7, right=True),
    Column("source", "Source", "Source", 17, needs_frame=True),
    Column("destination", "Destination", "Destination", 17, needs_frame=True),
    Column("protocol", "Protocol Name", "Protocol", 12),
    Column("description", "Description", "Description", 40, needs_frame=True, flex=True),
)
BY_TITLE = {c.title.lower(): c for c in BUILTIN}
BY_KEY = {c.key: c for c in BUILTIN}


def field_column(name: str) -> Column:
    leaf = name.rsplit(".", 1)[-1]
    return Column("field:" + name, name, leaf, max(10, min(24, len(leaf) + 2)), needs_frame=True)


def column(name: str) -> Column:
    """A column from its title (``"Time Offset"``) or a registry field name (``"TCP.SrcPort"``)."""
    found = BY_TITLE.get(name.lower()) or BY_KEY.get(name)
    return found if found is not None else field_column(name)


def columns(names: Sequence[str]) -> list[Column]:
    out: list[Column] = []
    seen: set[str] = set()
    for n in names:
        c = column(n)
        if c.key not in seen:
            seen.add(c.key)
            out.append(c)
    return out


# -- time text -----------------------------------------------------------------------------

TIME_MODE_LABELS = {
    "utc": "Time (UTC)",
    "local": "Time (local)",
    "offset": "Time (offset)",
    "delta": "Time (delta)",
    "reference": "Time (from ref)",
}


def seconds(ns: int, signed: bool = False) -> str:
    """Netmon's 100 ns resolution: ``12.3456789``."""
    sign = "-" if ns < 0 else ("+" if signed and ns > 0 else "")
    q, r = divmod(abs(int(ns)), 1_000_000_000)
    return f"{sign}{q}.{r // 100:07d}"


def time_of_day(ns: int, local: bool = False) -> str:
    secs, rem = divmod(int(ns), 1_000_000_000)
    try:
        t = _dt.datetime.fromtimestamp(secs, _dt.UTC)
        if local:
            t = t.astimezone()
    except (OverflowError, OSError, ValueError):
        return seconds(ns)
    return t.strftime("%H:%M:%S") + f".{rem // 100:07d}"


def date_time(ns: int, local: bool = False) -> str:
    secs, rem = divmod(int(ns), 1_000_000_000)
    try:
        t = _dt.datetime.fromtimestamp(secs, _dt.UTC)
        if local:
            t = t.astimezone()
    except (OverflowError, OSError, ValueError):
        return seconds(ns)
    zone = "UTC" if not local else t.strftime("%Z")
    return t.strftime("%Y-%m-%d %H:%M:%S") + f".{rem // 100:07d} {zone}"


# -- cell text -----------------------------------------------------------------------------

@dataclass(slots=True)
class RowContext:
    """What a row's time cells depend on besides the frame itself."""

    first_ts: int
    previous_ts: int | None  # timestamp of the previous *displayed* row
    reference_ts: int | None
    time_mode: str


def field_text(frame: Frame, name: str) -> str:
    found = frame.fields(name)
    if not found:
        return ""
    texts = [f.display for f in found]
    return texts[0] if len(texts) == 1 else ", ".join(texts)


def process_text(pid: int, trace: Trace) -> str:
    if pid == 0xFFFFFFFF:
        return ""
    names = trace.facts.get("process_names")
    if isinstance(names, dict):
        name = names.get(pid) or names.get(str(pid))
        if name:
            return f"{name} ({pid})"
    return str(pid)


def cell(col: Column, trace: Trace, i: int, frame: Frame | None, ctx: RowContext) -> str:
    """The text of column ``col`` for frame ``i`` (0-based)."""
    key = col.key
    index = trace.index
    if key == "number":
        return str(i + 1)
    if key in ("time", "offset", "delta"):
        ts = int(index.ts[i])
        mode = {"offset": "offset", "delta": "delta"}.get(key, ctx.time_mode)
        if mode == "offset":
            return seconds(ts - ctx.first_ts)
        if mode == "delta":
            return seconds(0 if ctx.previous_ts is None else ts - ctx.previous_ts)
        if mode == "reference":
            return seconds(ts - (ctx.reference_ts if ctx.reference_ts is not None else ctx.first_ts), True)
        return time_of_day(ts, local=mode == "local")
    if key == "process":
        if frame is not None and frame.process_id is not None:
            return process_text(frame.process_id, trace)
        return process_text(int(index.pid[i]), trace)
    if key == "protocol":
        if frame is not None and frame.protocol_name:
            return frame.protocol_name
        top = int(index.top[i])
        names = trace.protocol_names
        return names[top] if top < len(names) else ""
    if frame is None:
        return ""
    if key == "source":
        return frame.source
    if key == "destination":
        return frame.destination
    if key == "description":
        return frame.description
    name = col.field
    return field_text(frame, name) if name else ""


def decode(trace: Trace, i: int) -> tuple[Frame | None, str]:
    """Decode a frame for display; a decoder bug becomes a message in the row, never a crash."""
    try:
        return trace.frame(i), ""
    except Exception as e:  # noqa: BLE001 - one bad frame must not take the list down
        return None, f"[cannot decode frame {i + 1}: {type(e).__name__}: {e}]"


def row_cells(cols: Sequence[Column], trace: Trace, i: int, ctx: RowContext) -> list[str]:
    frame = None
    error = ""
    if any(c.needs_frame for c in cols):
        frame, error = decode(trace, i)
    out = [cell(c, trace, i, frame, ctx) for c in cols]
    if error:
        for n, c in enumerate(cols):
            if c.key == "description":
                out[n] = error
                break
    return out
