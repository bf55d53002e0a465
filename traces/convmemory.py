"""Per-trace, per-conversation memory of earlier frames, for dissectors whose messages name what
other segments bound (``dissect.core.MEMORIES``: MSRPC's call id → opnum, context id → interface).

A state is built on first need, in one pass over that TCP/UDP conversation's frames carrying the
protocol (the index's conversation and protocol columns say which), each dissected without
history.  Memory is bounded: at most ``MAX_ROWS`` frames of one conversation are read (a frame
past them gets no state: its dissector says what it reads alone), and at most ``MAX_STATES``
states are kept per trace, the least recently used dropped first.  Frame details and filters both
decode through ``Trace.frame``, so they see the same values.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np

from . import dissect as _dissect
from .dissect.core import MEMORIES, Ctx
from .index import KIND_PACKET
from .protocols import MASK

if TYPE_CHECKING:
    from .trace import Trace

#: frames of one conversation read to build one state
MAX_ROWS = 20_000
#: states kept per trace
MAX_STATES = 32


class _Built:
    __slots__ = ("last", "state", "upto")

    def __init__(self, state: object, last: int, upto: int) -> None:
        self.state = state
        self.last = last  # the last row read (a frame after it, when rows were cut, gets nothing)
        self.upto = upto  # the index length when built (a later frame: build again)


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
        with self._lock:  # one build per state, whichever thread asks first
            built = self._states.get(key)
            if built is None or row >= built.upto:
                built = self._build(trace, memory.protocol, memory.build, conv)
                self._states[key] = built
                while len(self._states) > MAX_STATES:
                    self._states.popitem(last=False)
            self._states.move_to_end(key)
        return built.state if row <= built.last else None

    @staticmethod
    def _build(trace: Trace, protocol: str, build: object, conv: int) -> _Built:
        idx = trace.index
        n = len(idx)
        sel = (idx.l4_conv[:n] == conv) & ((idx.protos[:n] & np.uint64(MASK[protocol])) != 0)
        rows = np.flatnonzero(sel)
        cut = len(rows) > MAX_ROWS
        rows = rows[:MAX_ROWS]
        state = build(decoded(trace, rows))  # type: ignore[operator]
        return _Built(state, int(rows[-1]) if cut else n, n)


def decoded(trace: Trace, rows: np.ndarray, cancel: threading.Event | None = None) -> Iterator[tuple[int, Ctx]]:
    """(row, dissection without history) of each packet row; stops early when ``cancel`` is set."""
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
