"""``FrameIndex.slots``: a batch a reader writes in the index's own memory, which ``append`` then
only counts; and every way that can go stale (the memory replaced by a ``reserve``, rows not the
next ones, no room) falls back to the copy, with the same index."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from tracemon.traces.index import PID_UNKNOWN, FrameIndex, empty_batch


def _filled(batch: dict[str, np.ndarray], start: int) -> dict[str, np.ndarray]:
    m = len(batch["ts"])
    batch["ts"][:] = np.arange(start, start + m)
    batch["loc"][:] = np.arange(start, start + m) * 100
    batch["length"][:] = 60
    return batch


def _rows(index: FrameIndex) -> list[tuple[int, ...]]:
    return list(zip(*(index.column(c).tolist() for c in ("ts", "loc", "length", "pid")), strict=True))


def _reference(sizes: list[int]) -> list[tuple[int, ...]]:
    ref = FrameIndex()
    start = 0
    for m in sizes:
        ref.append(_filled(empty_batch(m), start))
        start += m
    return _rows(ref)


def test_a_batch_written_in_place_is_counted_without_a_copy() -> None:
    index = FrameIndex(16)
    index.reserve(100)
    batch = _filled(index.slots(0, 10), 0)
    assert np.shares_memory(batch["ts"], index._cols["ts"])
    assert (batch["pid"] == PID_UNKNOWN).all()  # the defaults of an empty batch
    index.append(batch)
    nxt = _filled(index.slots(10, 5), 10)
    index.append(nxt)
    assert np.shares_memory(index.column("ts"), nxt["ts"])
    assert _rows(index) == _reference([10, 5])


def test_stale_slots_are_copied() -> None:
    """Slots taken before the memory was replaced (a reserve on the reader's other thread), slots
    of rows that are not the next ones, and slots past the room there is: the same index."""
    index = FrameIndex(16)
    a = _filled(index.slots(0, 8), 0)
    b = _filled(index.slots(8, 8), 8)  # taken before the reserve below replaces the memory
    index.append(a)
    index.reserve(64)
    index.append(b)
    assert not np.shares_memory(index.column("ts"), b["ts"])
    c = _filled(index.slots(20, 4), 16)  # rows 20-23 of the memory, but rows 16-19 come next
    index.append(c)
    d = _filled(index.slots(20, 100), 20)  # more than the room: a batch of its own
    assert not np.shares_memory(d["ts"], index._cols["ts"])
    index.append(d)
    assert _rows(index) == _reference([8, 8, 4, 100])


def test_slots_written_before_and_never_counted_are_empty_again() -> None:
    """A batch prepared ahead and never appended (a scan stopped there) leaves its values in the
    memory: the next slots there start from an empty batch."""
    index = FrameIndex(32)
    _filled(index.slots(0, 10), 500)
    again = index.slots(0, 10)
    assert not again["ts"].any() and (again["pid"] == PID_UNKNOWN).all()


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["slots", "append", "reserve"]), st.integers(0, 40), st.integers(1, 12)),
                max_size=30))
def test_every_slots_batch_starts_empty(ops: list[tuple[str, int, int]]) -> None:
    """Whatever was written where, and whatever was appended or reserved since: the memory
    ``slots`` gives out skips writing zeros only where none was ever given out before."""
    index = FrameIndex(16)
    for op, first, m in ops:
        if op == "reserve":
            index.reserve(first * 4)
        elif op == "append":
            index.append(_filled(index.slots(len(index), m), 0))
        else:
            batch = index.slots(first, m)
            assert not any(arr.any() for name, arr in batch.items() if name not in ("pid", "tid"))
            assert (batch["pid"] == PID_UNKNOWN).all() and (batch["tid"] == PID_UNKNOWN).all()
            _filled(batch, 7)
            batch["pid"][:] = 3
            batch["iface"][:] = 9
