"""How the frame list shows columns: the shared definitions (``tracemon.traces.columns``) plus what
only a screen needs — short header labels, widths that fit 80 columns, the flexible Description.

Cell text comes from the shared ``ColumnFormatter`` (so the list, ``tracemon list`` and export read
the same), except the Time column, which the list shows as time of day (the date is in the status
line) to leave room for the other columns.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from tracemon.traces import columns as shared
from tracemon.traces.comments import has_comment
from tracemon.traces.index import KIND_EVENT, KIND_NOTIME, KIND_PACKET

if TYPE_CHECKING:
    from tracemon.traces.coltext import FieldTexts
    from tracemon.traces.frame import Frame
    from tracemon.traces.timezone import CaptureZone
    from tracemon.traces.trace import Trace

#: header label and list width per standard column key (the shared widths are for text output)
_UI = {
    "number": ("Frame", 8),
    "time": ("Time", 16),
    "offset": ("Offset", 13),
    "delta": ("Delta", 11),
    "process": ("Process", 7),
    "source": ("Source", 17),
    "destination": ("Destination", 17),
    "protocol": ("Protocol", 12),
    "description": ("Description", 40),
    "comment": ("Comment", 40),
}
#: the Process column's width when the trace names its processes ("svchost.exe (1234)")
NAMED_PROCESS_WIDTH = 18
#: drawn before the Frame number of a frame that carries a comment (Wireshark marks them too)
COMMENT_MARK = "✎"


@dataclass(frozen=True, slots=True)
class Column:
    base: shared.Column
    label: str
    width: int

    @property
    def key(self) -> str:
        return self.base.key

    @property
    def title(self) -> str:
        return self.base.title

    @property
    def right(self) -> bool:
        return self.base.align_right

    @property
    def needs_frame(self) -> bool:
        return self.base.needs_frame

    @property
    def flex(self) -> bool:
        return self.base.width == 0

    @property
    def field(self) -> str | None:
        return None if self.key in shared.STANDARD else self.key


def ui(base: shared.Column) -> Column:
    label, width = _UI.get(base.key, (base.title.rsplit(".", 1)[-1], 0))
    if base is shared.PROCESS_NAMED:
        width = NAMED_PROCESS_WIDTH
    if not width:
        width = max(10, min(24, len(label) + 2))
    return Column(base, label, width)


STANDARD: tuple[Column, ...] = tuple(ui(c) for c in shared.STANDARD.values())

#: which columns stay when the terminal is narrow: 0 always, higher numbers step aside first
#: (rightmost first among equals).  Frame, Time, Protocol and Description say what happened and
#: when; addresses come next (and step aside at once in traces that have none: ETW-only files)
PRIORITY = {"number": 0, "description": 0, "protocol": 1, "time": 1, "source": 3, "destination": 3,
            "process": 5, "offset": 6, "delta": 6}
#: a field the user added as a column ranks between Time and the addresses
FIELD_PRIORITY = 2
#: columns whose values differ at both ends (IPv6 and MAC addresses): cut in the middle; they
#: step aside together
ADDRESSES = MIDDLE = frozenset({"source", "destination"})
MIN_WIDTH = 3


def priority(col: Column) -> int:
    return PRIORITY.get(col.key, FIELD_PRIORITY)


#: the priority of a column that is empty on most rows (addresses in a trace of ETW events)
SPARSE_PRIORITY = 7


def plan(cols: Sequence[Column], widths: dict[str, int], avail: int, flex_min: int,
         sparse: frozenset[str] | set[str] = frozenset()) -> list[Column]:
    """The columns that fit in ``avail`` cells, least important ones dropped first (``sparse``
    ones before any other).

    ``widths`` holds the user's widths (a resized Description stops being flexible); what cannot
    fit even then scrolls sideways.
    """

    def rank(c: Column) -> int:
        return SPARSE_PRIORITY if c.key in sparse else priority(c)

    def need(cs: Sequence[Column]) -> int:
        return sum((flex_min if c.flex and c.key not in widths else widths.get(c.key, c.width)) + 1 for c in cs)

    keep = list(range(len(cols)))
    order = sorted(range(len(cols)), key=lambda k: (-rank(cols[k]), -k))
    for k in order:
        if need([cols[j] for j in keep]) <= avail or rank(cols[k]) == 0 or len(keep) <= 2:
            break
        if k not in keep:
            continue
        keep.remove(k)
        if cols[k].key in ADDRESSES:  # Source without Destination (or the reverse) says half a thing
            keep = [j for j in keep if cols[j].key not in ADDRESSES]
    return [cols[j] for j in keep]


def _packets(trace: Trace) -> tuple[int, int]:
    kind = trace.index.kind
    n = len(kind)
    return int(np.count_nonzero(kind & KIND_PACKET)) if n else 0, n


def empty_addresses(trace: Trace) -> set[str]:
    """Source and Destination when no frame is a packet (a trace of ETW events only)."""
    packets, n = _packets(trace)
    return set(ADDRESSES) if n and not packets else set()


def sparse_addresses(trace: Trace) -> set[str]:
    """Source and Destination when most frames are events without addresses (they yield first)."""
    packets, n = _packets(trace)
    return set(ADDRESSES) if n and packets * 2 < n else set()


def elide_middle(text: str, width: int) -> str:
    """``2001:db8:85a3::8a2e:370:7334`` in 17 cells → ``2001:db8:…370:7334``: an address keeps its
    network and its interface part, so two addresses that differ at either end never look alike."""
    if len(text) <= width or width < 5 or not text.isascii():
        return text
    tail = (width - 1) // 2
    head = width - 1 - tail
    return text[:head] + "…" + text[len(text) - tail:]


def column(name: str, trace: Trace | None = None) -> Column:
    """A column from its key, title or a registry field name; KeyError (with hints) when unknown."""
    return ui(shared.resolve(name, trace))


def columns(names: Sequence[str], trace: Trace | None = None) -> tuple[list[Column], list[str]]:
    """The columns for ``names`` (duplicates dropped) and messages about names that are unknown."""
    out: list[Column] = []
    problems: list[str] = []
    seen: set[str] = set()
    for n in names:
        try:
            c = column(n, trace)
        except KeyError as e:
            problems.append(str(e.args[0]) if e.args else str(e))
            continue
        if c.key not in seen:
            seen.add(c.key)
            out.append(c)
    return out, problems


# -- time ----------------------------------------------------------------------------------

TIME_MODE_LABELS = {
    "utc": "Time (UTC)",
    "local": "Time (local)",
    "viewer": "Time (this machine)",
    "offset": "Time (offset)",
    "delta": "Time (delta)",
    "reference": "Time (from ref)",
}


def time_label(mode: str, trace: Trace | None) -> str:
    """The Time column's header: "local" names the capture host's zone when the trace has one."""
    zone = getattr(trace, "time_zone", None)
    if mode == "local" and zone is not None:
        first = trace.first_time_ns if trace is not None else None
        return f"Time (host {zone.label(first or 0)})"
    return TIME_MODE_LABELS.get(mode, "Time")


def time_modes(trace: Trace | None) -> tuple[str, ...]:
    """The modes ``t`` steps through: "viewer" only when "local" means another machine's clock."""
    from .config import TIME_MODES

    if getattr(trace, "time_zone", None) is None:
        return tuple(m for m in TIME_MODES if m != "viewer")
    return TIME_MODES


def time_mode(mode: str, reference_ns: int | None, zone: CaptureZone | None = None) -> shared.TimeMode:
    if mode in ("utc", "local", "viewer"):
        return shared.TimeMode("absolute", local=mode != "utc", zone=zone if mode == "local" else None)
    if mode == "reference":
        return shared.TimeMode("reference", reference_ns=reference_ns)
    return shared.TimeMode(mode)


def seconds(ns: int) -> str:
    return shared.format_seconds(ns)


def time_of_day(ns: int, local: bool = False, zone: CaptureZone | None = None) -> str:
    return shared.format_abs(ns, local, zone)[11:]


def date_time(ns: int, local: bool = False, zone: CaptureZone | None = None) -> str:
    return shared.format_abs(ns, local, zone)


# -- cell text -----------------------------------------------------------------------------

class Formatter(shared.ColumnFormatter):
    """The shared formatter with the trace's first timestamp given, not read per cell (until the
    scan is done ``Trace.first_time_ns`` passes over the whole index: 15 ms a call on 10 M
    frames), and "from reference" counting from the first frame while no reference is set."""

    def __init__(self, trace: Trace, mode: shared.TimeMode, first_ns: int) -> None:
        super().__init__(trace, mode)
        self.first_ns = first_ns

    def text(self, col: shared.Column, i: int, prev: int | None = None, frame: Frame | None = None) -> str:
        key = col.key
        if key not in ("time", "offset", "delta"):
            return super().text(col, i, prev, frame)
        idx = self.trace.index
        if int(idx.kind[i]) & KIND_NOTIME:
            return ""
        ts = int(idx.ts[i])
        kind = self.mode.kind if key == "time" else key
        if kind == "offset":
            return seconds(ts - self.first_ns)
        if kind == "delta":
            return seconds(ts - int(idx.ts[prev])) if prev is not None else seconds(0)
        if kind == "reference":
            ref = self.mode.reference_ns if self.mode.reference_ns is not None else self.first_ns
            return seconds(ts - ref)
        return shared.format_abs(ts, self.mode.local, self.mode.zone)


def first_time(trace: Trace) -> int:
    return trace.first_time_ns or 0


@dataclass(slots=True)
class RowContext:
    """What a row's cells depend on besides the frame: the time mode and the previous displayed row."""

    formatter: Formatter
    previous: int | None  # frame index of the previous *displayed* row (Time Delta)
    #: field columns whose cells come from a field column (``traces/coltext.py``), by key
    texts: dict[str, FieldTexts] = field(default_factory=dict)


def context(trace: Trace, mode: str, reference: int | None, previous: int | None,
            first_ns: int | None = None) -> RowContext:
    first = first_time(trace) if first_ns is None else first_ns
    ts = trace.index.ts
    ref = int(ts[reference]) if reference is not None and reference < len(ts) else None
    return RowContext(Formatter(trace, time_mode(mode, ref, trace.time_zone), first), previous)


def decode(trace: Trace, i: int) -> tuple[Frame | None, str]:
    """Decode a frame for display; a decoder bug becomes a message in the row, never a crash."""
    try:
        return trace.frame(i), ""
    except Exception as e:  # noqa: BLE001 - one bad frame must not take the list down
        return None, f"[cannot decode frame {i + 1}: {type(e).__name__}: {e}]"


def cell(col: Column, trace: Trace, i: int, frame: Frame | None, ctx: RowContext) -> str:
    fmt = ctx.formatter
    if col.key == "number":
        number = str(i + 1)
        if not commented(trace, i, frame):
            return number
        # the mark never costs a digit: it loses its space first, then itself, in a narrow column
        for text in (f"{COMMENT_MARK} {number}", f"{COMMENT_MARK}{number}"):
            if len(text) <= col.width:
                return text
        return number
    if col.key == "time" and fmt.mode.kind == "absolute":
        if int(trace.index.kind[i]) & KIND_NOTIME:
            return ""
        return time_of_day(int(trace.index.ts[i]), fmt.mode.local, fmt.mode.zone)
    if col.needs_frame and frame is None:
        return ""
    return fmt.text(col.base, i, ctx.previous, frame)


def commented(trace: Trace, i: int, frame: Frame | None) -> bool:
    """Whether frame ``i`` has a comment: from what the reader learned while scanning, or from the
    decoded frame when the reader cannot tell."""
    known = has_comment(trace, i)
    if known is None:
        return frame is not None and bool(frame.comments)
    return known


def short_protocol(name: str) -> str:
    """The Protocol column's name for an ETW provider, as Netmon shows it: the prefix
    (``VMSWITCH`` of ``VMSWITCH_MicrosoftWindowsHyperVVmSwitch``); details, filters, export and
    ``tracemon list`` keep the full name."""
    head, sep, _ = name.partition("_")
    return head if sep and head else name


def row_cells(cols: Sequence[Column], trace: Trace, i: int, ctx: RowContext) -> list[str]:
    frame = None
    error = ""
    known: dict[str, str] = {}
    for c in cols:
        texts = ctx.texts.get(c.key)
        if texts is not None:
            t = texts.text(i)
            if t is not None:
                known[c.key] = t
    if any(c.needs_frame and c.key not in known for c in cols):
        frame, error = decode(trace, i)
    out = [known[c.key] if c.key in known else cell(c, trace, i, frame, ctx) for c in cols]
    keys = [c.key for c in cols]
    if error:
        if "description" in keys:
            out[keys.index("description")] = error
    elif frame is not None and "protocol" in keys:
        k = keys.index("protocol")
        full = out[k]
        if "_" in full and int(trace.index.kind[i]) & KIND_EVENT:
            out[k] = short_protocol(full)
        # the Description's "ProtocolName:" prefix says again what the Protocol column shows
        if full and "description" in keys:
            d = keys.index("description")
            if out[d].startswith(full + ":"):
                out[d] = out[d][len(full) + 1:]
    return out
