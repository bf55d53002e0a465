"""The frame-list columns (Netmon's summary columns plus any registry field) and their text.

One definition serves the TUI's frame list, ``tracemon list`` and CSV/JSON export, so a column
reads the same everywhere.  Time columns come from the index alone; the others decode the frame
(``Trace.frame`` keeps a small LRU, and only visible rows are asked for).
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .comments import has_comment
from .fields import FieldType
from .frame import Frame, display_value
from .index import KIND_NOTIME, PID_UNKNOWN
from .processes import executable, process_names

if TYPE_CHECKING:
    from .timezone import CaptureZone
    from .trace import Trace

JsonValue = int | float | str | list["JsonValue"] | None
#: field types whose values JSON gets as numbers (addresses and times keep their text)
_JSON_NUMBERS = frozenset({FieldType.UINT, FieldType.INT, FieldType.BOOL, FieldType.FLOAT})


@dataclass(slots=True, frozen=True)
class Column:
    key: str  # what users type (`--columns number,source`) and what presets store
    title: str  # the header text
    width: int  # preferred width in cells (0 = take the rest)
    needs_frame: bool = True
    align_right: bool = False


STANDARD: dict[str, Column] = {c.key: c for c in (
    Column("number", "Frame Number", 7, needs_frame=False, align_right=True),
    Column("time", "Time", 26, needs_frame=False),
    Column("offset", "Time Offset", 13, needs_frame=False, align_right=True),
    Column("delta", "Time Delta", 11, needs_frame=False, align_right=True),
    Column("process", "Process", 10, needs_frame=False, align_right=True),
    Column("source", "Source", 22),
    Column("destination", "Destination", 22),
    Column("protocol", "Protocol Name", 14),
    Column("description", "Description", 0),
    # decodes only the frames the reader says have a comment (``text`` asks for them itself)
    Column("comment", "Comment", 30, needs_frame=False),
)}
#: the Process column of a trace that knows its processes' names (Netmon: "svchost.exe (1234)")
PROCESS_NAMED = Column("process", "Process", 24, needs_frame=False)
DEFAULT_COLUMNS: tuple[str, ...] = ("number", "time", "offset", "process", "source", "destination", "protocol",
                                    "description")
ALIASES = {"frame number": "number", "frame": "number", "no": "number", "time offset": "offset",
           "time delta": "delta", "protocol name": "protocol", "src": "source", "dst": "destination"}


def resolve(name: str, trace: Trace | None = None) -> Column:
    """A standard column by key/title, or a registry field (``IPv4.TTL``) as a column."""
    key = name.strip()
    low = ALIASES.get(key.lower(), key.lower())
    if low == "process" and trace is not None and process_names(trace):
        return PROCESS_NAMED  # the trace names its processes: room for the executable
    if low in STANDARD:
        return STANDARD[low]
    for c in STANDARD.values():
        if c.title.lower() == low:
            return c
    registry = trace.registry if trace is not None else None
    if registry is None:
        from .fields import REGISTRY as registry
    fdef = registry.get(key)
    if fdef is None and _looks_etw(key):
        # ETW providers declare their names on first use (the filter compiler does the same)
        from .etw import reader  # noqa: F401  (declares NetEvent.*)
        from .etw.naming import ensure_registered
        from .fields import REGISTRY

        ensure_registered(REGISTRY)
        fdef = registry.get(key)
    if fdef is None and "." not in key:
        fdef, close = _by_leaf(registry, key)
    else:
        close = []
    if fdef is None:
        close = close or registry.close_matches(key, 3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise KeyError(f"unknown column {name!r}: not a standard column ({', '.join(STANDARD)}) "
                       f"or a known field{hint}")
    return Column(fdef.name, fdef.name, 16)


def _by_leaf(registry: Any, leaf: str) -> tuple[Any, list[str]]:
    """A field named by its last part alone (``SwitchName``): the field when one has that name,
    else the full names of those that do (for the hint)."""
    from .etw import reader  # noqa: F401  (declares NetEvent.*)
    from .etw.naming import ensure_registered
    from .fields import REGISTRY

    ensure_registered(REGISTRY)
    low = leaf.lower()
    found = sorted({f.name for f in registry if f.type is not FieldType.PROTOCOL and f.leaf.lower() == low})
    if len(found) == 1:
        return registry.get(found[0]), []
    return None, found[:5] + ([f"… ({len(found)} fields)"] if len(found) > 5 else [])


def _looks_etw(name: str) -> bool:
    head = name.split(".", 1)[0].lower()
    return "_" in head or head.startswith(("netevent", "microsoft"))


@dataclass(slots=True)
class TimeMode:
    """How the Time column reads: absolute (UTC or local), or relative to a reference frame."""

    kind: str = "absolute"  # "absolute" | "offset" | "delta" | "reference"
    local: bool = False
    reference_ns: int | None = None
    #: with ``local``: the capture host's zone (None: the viewer's own)
    zone: CaptureZone | None = None


def format_abs(ts_ns: int, local: bool = False, zone: CaptureZone | None = None) -> str:
    """``YYYY-MM-DD hh:mm:ss.fffffff`` in UTC, or ``local``: in ``zone`` (the capture host's
    clock) or, without one, in the viewer's own zone."""
    secs, ns = divmod(ts_ns, 1_000_000_000)
    try:
        if local and zone is not None:
            t = _dt.datetime.fromtimestamp(secs, _dt.UTC) + _dt.timedelta(minutes=zone.offset_minutes(ts_ns))
        else:
            t = _dt.datetime.fromtimestamp(secs, None if local else _dt.UTC)
    except (OverflowError, OSError, ValueError):
        return str(ts_ns)
    return t.strftime("%Y-%m-%d %H:%M:%S") + f".{ns // 100:07d}"


def format_seconds(delta_ns: int) -> str:
    sign = "-" if delta_ns < 0 else ""
    secs, ns = divmod(abs(delta_ns), 1_000_000_000)
    return f"{sign}{secs}.{ns // 100:07d}"


def comment_text(comments: list[str]) -> str:
    """A frame's comments on one line (a cell cannot hold line breaks or tabs): lines joined by " / ",
    runs of white space as one space, comments by " | "."""
    return " | ".join(" / ".join(" ".join(line.split()) for line in c.splitlines() if line.strip()) for c in comments)


class ColumnFormatter:
    """Text of any column for any row; ``prev`` gives the previous *displayed* row for Time Delta."""

    def __init__(self, trace: Trace, mode: TimeMode | None = None) -> None:
        self.trace = trace
        self.mode = mode or TimeMode()
        self._names: dict[int, str] | None = None

    def text(self, col: Column, i: int, prev: int | None = None, frame: Frame | None = None) -> str:
        idx = self.trace.index
        key = col.key
        if key == "number":
            return str(i + 1)
        if key in ("time", "offset", "delta"):
            if int(idx.kind[i]) & KIND_NOTIME:
                return ""
            ts = int(idx.ts[i])
            if key == "offset" or (key == "time" and self.mode.kind == "offset"):
                first = self.trace.first_time_ns
                return format_seconds(ts - (ts if first is None else first))
            if key == "delta" or (key == "time" and self.mode.kind == "delta"):
                return format_seconds(ts - int(idx.ts[prev])) if prev is not None else format_seconds(0)
            if key == "time" and self.mode.kind == "reference" and self.mode.reference_ns is not None:
                return format_seconds(ts - self.mode.reference_ns)
            return format_abs(ts, self.mode.local, self.mode.zone)
        if key == "process":
            return self.process(int(idx.pid[i]))
        if key == "comment":
            if frame is None and has_comment(self.trace, i) is False:
                return ""  # known without decoding: most frames have none
            frame = frame if frame is not None else self.trace.frame(i)
            return comment_text(frame.comments)
        frame = frame if frame is not None else self.trace.frame(i)
        if key == "source":
            return frame.source
        if key == "destination":
            return frame.destination
        if key == "protocol":
            return frame.protocol_name
        if key == "description":
            return frame.description
        found = frame.fields(key)
        return ", ".join(f.display if f.display else display_value(f.fdef, f.value) for f in found)

    def value(self, col: Column, i: int, prev: int | None = None, frame: Frame | None = None) -> JsonValue:
        """The cell as JSON wants it: frame numbers, process ids, time offsets (seconds) and
        numeric fields as numbers, absent values as null, repeated fields as lists; the rest
        (times of day, addresses, names) as the text the list shows."""
        key = col.key
        if key == "number":
            return i + 1
        if key == "process":
            pid = int(self.trace.index.pid[i])
            return None if pid == PID_UNKNOWN else pid
        if key in ("offset", "delta") or (key == "time" and self.mode.kind != "absolute"):
            text = self.text(col, i, prev, frame)
            return float(text) if text else None
        if key in STANDARD:
            return self.text(col, i, prev, frame) or None
        frame = frame if frame is not None else self.trace.frame(i)
        found = frame.fields(key)
        values: list[JsonValue] = []
        for f in found:
            if f.fdef.type in _JSON_NUMBERS and isinstance(f.value, int | float):
                values.append(f.value)
            else:
                values.append(f.display if f.display else display_value(f.fdef, f.value))
        if not values:
            return None
        return values[0] if len(values) == 1 else values

    def values(self, cols: Sequence[Column], rows: Iterable[int]) -> Iterator[list[JsonValue]]:
        """``value`` of each column for each of ``rows``, like ``rows``."""
        prev: int | None = None
        for i in rows:
            i = int(i)
            frame = self.trace.frame(i) if any(c.needs_frame for c in cols) else None
            yield [self.value(c, i, prev, frame) for c in cols]
            prev = i

    def process(self, pid: int) -> str:
        """The Process cell: the executable and pid where the trace names the process, else the pid."""
        if pid == PID_UNKNOWN:
            return ""
        names = self._names
        if names is None:
            names = self._names = {p: executable(path) for p, path in process_names(self.trace).items()}
        name = names.get(pid)
        return f"{name} ({pid})" if name else str(pid)

    def row(self, cols: Sequence[Column], i: int, prev: int | None = None) -> list[str]:
        frame = self.trace.frame(i) if any(c.needs_frame for c in cols) else None
        return [self.text(c, i, prev, frame) for c in cols]

    def rows(self, cols: Sequence[Column], rows: Iterable[int]) -> Iterator[list[str]]:
        """``row`` for each of ``rows`` in turn, Time Delta counting from the row listed before."""
        prev: int | None = None
        for i in rows:
            i = int(i)
            yield self.row(cols, i, prev)
            prev = i
