"""Per-trace, per-conversation memory of earlier frames, for dissectors whose messages name what
other segments bound (``dissect.core.MEMORIES``: MSRPC's call id → opnum, context id → interface).

A state is built forward, on need: decoding row ``r`` of a TCP/UDP conversation first adds that
conversation's frames carrying the protocol (the index's conversation and protocol columns say
which) that come before ``r`` and were not added yet, each dissected without history; frames the
memory's byte test refuses are not dissected at all.  Memory is bounded: at most ``MAX_ROWS``
frames of one conversation are added (a frame after them gets no state: its dissector says what
it reads alone), and at most ``MAX_STATES`` states are kept per trace, the least recently used
dropped first.  Frame details and filters both decode through ``Trace.frame``, so they see the
same values.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np

from . import dissect as _dissect
from .dissect.core import MEMORIES, Ctx, Memory
from .index import KIND_PACKET
from .protocols import MASK

if TYPE_CHECKING:
    from .trace import Trace

#: frames of one conversation added to one state
MAX_ROWS = 20_000
#: states kept per trace
MAX_STATES = 32


class _Built:
    """One state and how far it has read its conversation's rows."""

    __slots__ = ("full_at", "lock", "n", "pos", "rows", "state")

    def __init__(self, state: object) -> None:
        self.state = state
        self.rows = np.zeros(0, dtype=np.int64)  # the conversation's rows carrying the protocol
        self.n = -1  # the index length ``rows`` was taken at
        self.pos = 0  # rows[:pos] are added
        self.full_at = -1  # the row the state stopped at when it filled up (-1: not full)
        self.lock = threading.Lock()


class ConversationMemory:
    """The states of one trace, by (name, conversation id)."""

    def __init__(self, trace: Trace) -> None:
        self._trace = weakref.ref(trace)
        self._states: OrderedDict[tuple[str, int], _Built] = OrderedDict()
        self._lock = threading.Lock()

    def recall(self, name: str, conv: int, row: int) -> object | None:
        trace = self._trace()
        memory = MEMORIES.get(name)
        if trace is None or memory is None or not conv:
            return None
        key = (name, conv)
        with self._lock:
            built = self._states.get(key)
            if built is None:
                built = self._states[key] = _Built(memory.new())
                while len(self._states) > MAX_STATES:
                    self._states.popitem(last=False)
            self._states.move_to_end(key)
        with built.lock:  # one thread adds to a state; others wait for it (other states do not)
            _advance(trace, memory, conv, built, row)
            if built.full_at >= 0 and row > built.full_at:
                return None
            return built.state


def _advance(trace: Trace, memory: Memory, conv: int, built: _Built, row: int) -> None:
    """Add the conversation's rows before ``row`` not added yet."""
    if built.full_at >= 0:
        return
    idx = trace.index
    n = len(idx)
    if built.n != n:  # the scan read more since: the conversation may have more rows
        sel = (idx.l4_conv[:n] == conv) & ((idx.protos[:n] & np.uint64(MASK[memory.protocol])) != 0)
        built.rows, built.n = np.flatnonzero(sel), n
    stop = int(np.searchsorted(built.rows, row))
    if stop <= built.pos:
        return
    todo = built.rows[built.pos : stop]
    if built.pos + len(todo) > MAX_ROWS:  # the first row left out: frames after it get no state
        keep = max(0, MAX_ROWS - built.pos)
        built.full_at = int(todo[keep])
        todo = todo[:keep]
    for i, ctx in decoded(trace, todo, wanted=memory.wanted):
        if not memory.add(built.state, i, ctx):
            built.full_at = i
            return
    built.pos += len(todo)


def decoded(trace: Trace, rows: np.ndarray, cancel: threading.Event | None = None,
            wanted: object = None) -> Iterator[tuple[int, Ctx]]:
    """(row, dissection without history) of each packet row whose bytes ``wanted`` accepts (every
    row when it is None); stops early when ``cancel`` is set."""
    idx = trace.index
    for k, i in enumerate(rows):
        if cancel is not None and k % 256 == 0 and cancel.is_set():
            return
        i = int(i)
        if not idx.kind[i] & KIND_PACKET:
            continue
        g = int(idx.iface[i])
        if g >= len(trace.interfaces):
            continue
        try:
            data = trace.raw(i)
        except (IndexError, ValueError, OSError):
            continue
        if wanted is not None and not wanted(data):  # type: ignore[operator]
            continue
        yield i, _dissect.dissect(data, trace.interfaces[g].link_type, trace.registry, row=i)


class Recall:
    """``dissect.core.History`` for one frame of a trace."""

    __slots__ = ("conv", "memory", "row")

    def __init__(self, memory: ConversationMemory, conv: int, row: int) -> None:
        self.memory, self.conv, self.row = memory, conv, row

    def recall(self, name: str) -> object | None:
        return self.memory.recall(name, self.conv, self.row)


_MEMORIES: weakref.WeakKeyDictionary[Trace, ConversationMemory] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def memory_of(trace: Trace) -> ConversationMemory:
    with _LOCK:
        mem = _MEMORIES.get(trace)
        if mem is None:
            mem = _MEMORIES[trace] = ConversationMemory(trace)
        return mem


def history_for(trace: Trace, row: int) -> Recall | None:
    """The history of row ``row`` (None when it is in no TCP/UDP conversation)."""
    idx = trace.index
    if not 0 <= row < len(idx):
        return None
    conv = int(idx.l4_conv[row])
    return Recall(memory_of(trace), conv, row) if conv else None
