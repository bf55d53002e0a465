"""Netmon's pseudo-fields: ``FrameVariable.*``, ``Property.*``, ``Conversation.*``, the
``ProtocolName`` and ``Description`` columns and ``FrameData`` (FILTER_LANGUAGE.md §6.3).

They are not in the field registry (no dissector declares them); the compiler looks them up
here first.  Times are in Netmon's units: 100 ns ticks, ``TimeOfDay`` a UTC FILETIME.
``FrameVariable.FrameNumber`` is 0-based, as in Netmon (the Frame Number column is 1-based).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..traces.comments import comment_mask, comment_titles
from ..traces.fields import FieldType
from ..traces.index import PID_UNKNOWN
from ..traces.processes import process_names
from ..traces.protocols import MASK
from .indexed import Chunk, state_for
from .operands import FrameCtx, Operand, PseudoOperand
from .properties import frame_pids, name_values, syn_unanswered, tcp_analysis
from .tri import Tri, exact
from .values import Test

FILETIME_UNIX = 116_444_736_000_000_000  # 100 ns ticks from 1601-01-01 to 1970-01-01


@dataclass(frozen=True, slots=True)
class PseudoDef:
    name: str
    type: FieldType
    description: str
    make: Callable[[], Operand] | None  # None: known to Netmon, not computed by tracemon


def _ticks(ns: np.ndarray | int) -> Any:
    """ns → 100 ns ticks, truncating toward zero (as a FILETIME difference would)."""
    if isinstance(ns, np.ndarray):
        return np.where(ns < 0, -((-ns) // 100), ns // 100)
    return -((-ns) // 100) if ns < 0 else ns // 100


def _ts(ch: Chunk) -> np.ndarray:
    return ch.col("ts").astype(np.int64)


def _first_ts(trace: Any) -> int:
    ts = trace.index.column("ts")
    return int(ts[0]) if len(ts) else 0


def _all(ch: Chunk) -> np.ndarray:
    return np.ones(ch.n, dtype=bool)


def _frame_ts(fc: FrameCtx) -> int:
    return int(fc.trace.index.column("ts")[fc.i])


def _local_offset_ticks(trace: Any) -> int:
    """The local UTC offset at the first frame (one offset for the whole trace)."""
    secs = _first_ts(trace) // 1_000_000_000
    try:
        return int(time.localtime(secs).tm_gmtoff) * 10_000_000
    except (OverflowError, OSError, ValueError):
        return 0


def _frame_variable(name: str, desc: str, ftype: FieldType,
                    vec: Callable[[Chunk], np.ndarray], one: Callable[[FrameCtx], int]) -> PseudoDef:
    def make() -> Operand:
        return PseudoOperand(name, ftype, lambda fc: [one(fc)], column=lambda ch: (vec(ch), _all(ch)))
    return PseudoDef(name, ftype, desc, make)


def _delta_vec(ch: Chunk) -> np.ndarray:
    ts = _ts(ch)
    prev = np.empty_like(ts)
    if ch.n:
        prev[1:] = ts[:-1]
        prev[0] = int(ch.trace.index.column("ts")[ch.start - 1]) if ch.start > 0 else ts[0]
    return _ticks(ts - prev)


def _delta_one(fc: FrameCtx) -> int:
    ts = fc.trace.index.column("ts")
    return _ticks(int(ts[fc.i]) - int(ts[fc.i - 1])) if fc.i > 0 else 0


FRAME_VARIABLES = [
    _frame_variable("FrameVariable.FrameNumber", "Frame number, 0-based (Netmon's FrameVariable)", FieldType.UINT,
                    lambda ch: np.arange(ch.start, ch.stop, dtype=np.int64), lambda fc: fc.i),
    _frame_variable("FrameVariable.TimeOfDay", "Capture time as a UTC FILETIME (100 ns ticks since 1601)",
                    FieldType.UINT, lambda ch: _ticks(_ts(ch)) + FILETIME_UNIX,
                    lambda fc: _ticks(_frame_ts(fc)) + FILETIME_UNIX),
    _frame_variable("FrameVariable.TimeAndDate", "Capture time as a UTC FILETIME (same as TimeOfDay)",
                    FieldType.UINT, lambda ch: _ticks(_ts(ch)) + FILETIME_UNIX,
                    lambda fc: _ticks(_frame_ts(fc)) + FILETIME_UNIX),
    _frame_variable("FrameVariable.TimeDateLocalAdjusted",
                    "Capture time as a local FILETIME (the UTC offset at the first frame)", FieldType.UINT,
                    lambda ch: _ticks(_ts(ch)) + FILETIME_UNIX + _local_offset_ticks(ch.trace),
                    lambda fc: _ticks(_frame_ts(fc)) + FILETIME_UNIX + _local_offset_ticks(fc.trace)),
    _frame_variable("FrameVariable.TimeDelta", "Time since the previous frame in the file, 100 ns ticks",
                    FieldType.DURATION, _delta_vec, _delta_one),
    _frame_variable("FrameVariable.TimeOffset", "Time since the first frame, 100 ns ticks", FieldType.DURATION,
                    lambda ch: _ticks(_ts(ch) - _first_ts(ch.trace)),
                    lambda fc: _ticks(_frame_ts(fc) - _first_ts(fc.trace))),
]


# -- columns ------------------------------------------------------------------------------------

def _protocol_codes(ch: Chunk) -> tuple[np.ndarray, list[str], np.ndarray]:
    names = list(ch.trace.protocol_names)
    codes = ch.col("top").astype(np.int64)
    codes = np.where(codes < len(names), codes, 0)
    # code 0: nothing recognised, or a protocol without a code: the frame knows its name
    return codes, names, codes != 0


def _protocol_samples(trace: Any, limit: int) -> list[Any]:
    used = np.unique(trace.index.column("top"))
    names = trace.protocol_names
    return sorted({names[int(c)] for c in used if 0 < int(c) < len(names)})[:limit]


COLUMNS = [
    PseudoDef("ProtocolName", FieldType.STRING, "The Protocol Name column (the frame's top protocol)",
              lambda: PseudoOperand("ProtocolName", FieldType.STRING, lambda fc: [fc.frame.protocol_name],
                                    text_codes=_protocol_codes, samples=_protocol_samples)),
    PseudoDef("Description", FieldType.STRING, "The Description column: \"<ProtocolName>:<summary>\"",
              lambda: PseudoOperand("Description", FieldType.STRING, lambda fc: [fc.frame.description],
                                    possible_fn=_all)),
    PseudoDef("FrameData", FieldType.BYTES, "The frame's raw bytes (for ContainsBin)",
              lambda: PseudoOperand("FrameData", FieldType.BYTES, lambda fc: [fc.raw], possible_fn=_all)),
]


# -- Property.* -------------------------------------------------------------------------------

def _tcp_possible(ch: Chunk) -> np.ndarray:
    return ch.has(MASK["TCP"])


def _payload_length(fc: FrameCtx) -> list[Any]:
    vals = fc.frame.values("TCP.PayloadLength")
    return vals[:1]


def _retransmit(which: str) -> Callable[[], Operand]:
    def column(ch: Chunk) -> tuple[np.ndarray, np.ndarray]:
        an = tcp_analysis(ch.trace, ch.state, ch.stop, ch.cancel)
        upto = min(an.done, ch.stop)
        flags = np.zeros(ch.n, dtype=np.uint8)
        present = np.zeros(ch.n, dtype=bool)
        if upto > ch.start:
            arr = an.retransmit if which == "retransmit" else an.syn_retransmit
            flags[: upto - ch.start] = arr[ch.start : upto]
            present[: upto - ch.start] = an.tcp[ch.start : upto]
        return flags, present

    def one(fc: FrameCtx) -> list[Any]:
        an = tcp_analysis(fc.trace, state_for(fc.trace), fc.i + 1)
        if fc.i >= an.done or not an.tcp[fc.i]:
            return []
        arr = an.retransmit if which == "retransmit" else an.syn_retransmit
        return [int(arr[fc.i])]

    name = "Property.TCPRetransmit" if which == "retransmit" else "Property.TCPSynRetransmit"
    return lambda: PseudoOperand(name, FieldType.BOOL, one, column=column)


def _unanswered_column(ch: Chunk) -> tuple[np.ndarray, np.ndarray]:
    tcp, una = syn_unanswered(ch.trace, ch.state)
    s, e = ch.start, min(ch.stop, len(tcp))
    vals = np.zeros(ch.n, dtype=np.uint8)
    present = np.zeros(ch.n, dtype=bool)
    vals[: e - s] = una[s:e]
    present[: e - s] = tcp[s:e]
    return vals, present


def _unanswered_one(fc: FrameCtx) -> list[Any]:
    tcp, una = syn_unanswered(fc.trace, state_for(fc.trace))
    return [int(una[fc.i])] if fc.i < len(tcp) and tcp[fc.i] else []


PROPERTIES = [
    PseudoDef("Property.TCPPayloadLength", FieldType.UINT, "Bytes of TCP data in the frame",
              lambda: PseudoOperand("Property.TCPPayloadLength", FieldType.UINT, _payload_length,
                                    possible_fn=_tcp_possible)),
    PseudoDef("Property.TCPRetransmit", FieldType.BOOL,
              "1 when the segment repeats sequence space already sent on its connection", _retransmit("retransmit")),
    PseudoDef("Property.TCPSynRetransmit", FieldType.BOOL, "1 when a SYN is sent again with the same sequence number",
              _retransmit("syn")),
    PseudoDef("Property.TCPSynUnanswered", FieldType.BOOL,
              "1 for a SYN whose connection has no frame at all in the other direction (tracemon's own)",
              lambda: PseudoOperand("Property.TCPSynUnanswered", FieldType.BOOL, _unanswered_one,
                                    column=_unanswered_column)),
    # known Netmon properties that tracemon does not compute (named in the error)
    PseudoDef("Property.TCPRequestFastRetransmits", FieldType.UINT, "", None),
    PseudoDef("Property.TCPFastRetransmit", FieldType.BOOL, "", None),
    PseudoDef("Property.TCPSeqRange", FieldType.UINT, "", None),
    PseudoDef("Property.SMBSummary", FieldType.STRING, "", None),
]
#: Property.EventID (the parsers' ``property.EventID``) is NetEvent.Header.Descriptor.Id
PROPERTY_ALIASES = {"property.eventid": "NetEvent.Header.Descriptor.Id"}


# -- Conversation.* ---------------------------------------------------------------------------

def _pid_column(ch: Chunk) -> tuple[np.ndarray, np.ndarray]:
    pids = ch.memo("conv_pids", lambda: frame_pids(ch.trace, ch.state, ch.start, ch.stop))
    return pids.astype(np.int64), pids != PID_UNKNOWN


def _pid_one(fc: FrameCtx) -> list[Any]:
    pid = int(frame_pids(fc.trace, state_for(fc.trace), fc.i, fc.i + 1)[0])
    return [] if pid == PID_UNKNOWN else [pid]


def _names_of(trace: Any, state: Any) -> tuple[dict[int, str], ...]:
    cached = state.objects.get("process_names")
    if cached is None or cached[0] != len(getattr(trace, "facts", {}).get("processes", ()) or ()):
        cached = (len(getattr(trace, "facts", {}).get("processes", ()) or ()), process_names(trace))
        state.objects["process_names"] = cached
    return cached[1]


def _name_one(fc: FrameCtx) -> list[Any]:
    names = _names_of(fc.trace, state_for(fc.trace))
    pids = _pid_one(fc)
    return name_values(names[pids[0]]) if pids and pids[0] in names else []


def _name_codes(ch: Chunk) -> tuple[np.ndarray, list[str], np.ndarray]:
    names = _names_of(ch.trace, ch.state)
    pids, known = _pid_column(ch)
    table = sorted(names)
    labels = [""] + [names[p] for p in table]
    codes = np.zeros(ch.n, dtype=np.int64)
    if table:
        order = np.array(table, dtype=np.int64)
        pos = np.searchsorted(order, pids)
        pos = np.minimum(pos, len(order) - 1)
        hit = known & (order[pos] == pids)
        codes[hit] = pos[hit] + 1
    return codes, labels, np.ones(ch.n, dtype=bool)


class _ProcessNameOperand(PseudoOperand):
    """A frame whose process has no name has no value; a name matches by path or executable."""

    def test_vec(self, ch: Chunk, test: Test) -> Tri | None:
        codes, labels, _ = _name_codes(ch)
        ok = np.array([False] + [any(test.py(v) for v in name_values(x)) for x in labels[1:]], dtype=bool)
        return Tri(ok[codes], np.ones(ch.n, dtype=bool))

    def exists_vec(self, ch: Chunk) -> Tri | None:
        return exact(_name_codes(ch)[0] != 0)


def _process_name_operand() -> Operand:
    return _ProcessNameOperand("Conversation.ProcessName", FieldType.STRING, _name_one, text_codes=_name_codes)


CONVERSATION = [
    PseudoDef("Conversation.ProcessId", FieldType.UINT,
              "Process id of the frame, or of its TCP/UDP conversation when the trace records one",
              lambda: PseudoOperand("Conversation.ProcessId", FieldType.UINT, _pid_one, column=_pid_column)),
    PseudoDef("Conversation.ProcessName", FieldType.STRING,
              "Executable of the conversation's process (name or full path) when the trace records it",
              _process_name_operand),
]

# -- frame comments ----------------------------------------------------------------------------

class _CommentOperand(PseudoOperand):
    """Frame comments: the readers know which frames have one while they scan, so frames without
    are answered from that (absent: false) and only the commented few are decoded for their text."""

    def exists_vec(self, ch: Chunk) -> Tri | None:
        m = self.possible(ch)
        return None if m is None else exact(m)


def _comment_possible(ch: Chunk) -> np.ndarray | None:
    return ch.memo("comments", lambda: comment_mask(ch.trace, ch.start, ch.stop))


def _comment_titles(fc: FrameCtx) -> list[Any]:
    """Netmon's comment title: the title of a Netmon comment (from the file's comment table); the
    first line of a comment from elsewhere (pcapng comments have no title of their own)."""
    titles = comment_titles(fc.trace, fc.i)
    if titles is not None:
        return titles
    return [(c.splitlines() or [""])[0] for c in fc.frame.comments]


COMMENTS = [
    PseudoDef("Frame.Comment", FieldType.STRING,
              "The frame's comment (pcapng opt_comment; Netmon \"Title: text\"); bare: the frame has one",
              lambda: _CommentOperand("Frame.Comment", FieldType.STRING, lambda fc: list(fc.frame.comments),
                                      possible_fn=_comment_possible)),
    # Netmon 3.4 exposes the comment title to filters and colour rules under this name
    PseudoDef("FrameVariable.CommentTitle", FieldType.STRING, "Title of the frame's comment (Netmon's name)",
              lambda: _CommentOperand("FrameVariable.CommentTitle", FieldType.STRING, _comment_titles,
                                      possible_fn=_comment_possible)),
]

#: every pseudo-field by lower-case name
PSEUDO: dict[str, PseudoDef] = {d.name.lower(): d for d in
                                FRAME_VARIABLES + COLUMNS + PROPERTIES + CONVERSATION + COMMENTS}
#: namespaces that belong to Netmon's pseudo-fields, with what they are
NAMESPACES = {
    "property": "Frame properties computed by parsers (Property.TCPRetransmit …)",
    "conversation": "Conversation properties (Conversation.ProcessName …)",
    "framevariable": "Frame variables: number, times (FrameVariable.TimeDelta …)",
    "global": "Netmon global properties",
    "ipconfig": "The capturing machine's addresses (IPConfig.LocalIPv4Address)",
}
UNSUPPORTED_NAMESPACES = {
    "global": "Netmon's Global.* properties are set by Netmon parsers; tracemon has none",
    "ipconfig": "IPConfig.* (the capturing machine's own addresses) is not recorded in trace files, "
                "so tracemon cannot evaluate it",
}


def supported() -> list[PseudoDef]:
    """The pseudo-fields tracemon computes (the others are named only to say so)."""
    return [d for d in PSEUDO.values() if d.make is not None]
