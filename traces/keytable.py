"""Packed u64 keys → small ids, for many keys at once: the index's conversation and layout tables.

The vectorised classifier packs each frame's conversation (or layer offsets) into one u64 and
needs the id that key was given before, for a whole batch of frames; only keys never seen go
through the Python tables that number them.  ``HashedKeys`` is an open-addressing hash table in
C (``_keys.key_lookup``/``wide_insert``); ``SortedKeys``, sorted arrays and ``searchsorted``, is
the fallback without a compiler and the reference the table is tested against.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

try:  # the hash table in C (``_keys.c``), built at install time when a compiler is there
    from ._keys import key_claim as _native_claim
    from ._keys import key_lookup as _native_lookup
    from ._keys import wide_insert as _native_wide_insert
except ImportError:  # pragma: no cover - exercised where no compiler was available
    _native_claim = _native_lookup = _native_wide_insert = None

#: ``make(new_keys, a_row_of_each)``: the ids of keys never seen, interning them
Make = Callable[[np.ndarray, np.ndarray], object]
#: numbers ``HashedKeys.intern`` gives new keys until ``make`` has given theirs (above any id)
PROVISIONAL = 1 << 62


class SortedKeys:
    """Packed u64 key → conversation id, for keys the vectorised path has seen (sorted arrays): a
    batch's lookup is one ``searchsorted``, an addition re-sorts.  Where the C table is not built,
    the key cache; elsewhere the reference ``HashedKeys`` is tested against."""

    def __init__(self) -> None:
        self.keys = np.zeros(0, dtype=np.uint64)
        self.ids = np.zeros(0, dtype=np.int64)

    def lookup(self, uniq: np.ndarray) -> np.ndarray:
        """Ids for keys (any order, repeats allowed); -1 where unknown."""
        if not len(self.keys):
            return np.full(len(uniq), -1, dtype=np.int64)
        at = np.minimum(np.searchsorted(self.keys, uniq), len(self.keys) - 1)
        return np.where(self.keys[at] == uniq, self.ids[at], -1)

    def add(self, keys: np.ndarray, ids: np.ndarray) -> None:
        """Keys never added before (each once), with their ids (>= 0)."""
        allk = np.concatenate([self.keys, keys])
        order = np.argsort(allk, kind="stable")
        self.keys, self.ids = allk[order], np.concatenate([self.ids, ids])[order]


class WideKeys:
    """An open-addressing hash table in C of keys of ``width`` u64 words, held in two arrays
    (``keys``, a row of words per slot, and ``ids``, -1 where a slot is empty), kept at most half
    full (doubled and refilled when it would pass that).  As it is: the tables of the C
    conversation passes (``_keys.conversations``/``conversations6``), whose keys are a pair of MAC
    addresses, a pair of IPv6 addresses, or an address pair with the ports."""

    def __init__(self, width: int) -> None:
        self.keys = np.zeros((16, width), dtype=np.uint64)
        self.ids = np.full(16, -1, dtype=np.int64)
        self.count = 0

    def spec(self, more: int) -> tuple[np.ndarray, np.ndarray, int]:
        """The table as a conversation pass takes it, with room for ``more`` new keys at most half
        full (the pass counts nothing: the caller adds the keys it put in to ``count``)."""
        self._grow(self.count + more)
        return self.keys, self.ids, self.count

    def settle(self, keys: np.ndarray, ids: np.ndarray) -> None:
        """Keys (a row of words each) a pass put in the table (counted) with numbers that were
        not their ids: their ids."""
        _native_wide_insert(self.keys, self.ids, np.ascontiguousarray(keys, dtype=np.uint64),
                            np.ascontiguousarray(ids, dtype=np.int64))

    def _grow(self, keys: int) -> None:
        """At least twice ``keys`` slots: doubled and refilled while short of that."""
        if 2 * keys > len(self.ids):
            cap = len(self.ids)
            while cap < 2 * keys:
                cap *= 2
            live = self.ids >= 0
            old_keys, old_ids = np.ascontiguousarray(self.keys[live]), self.ids[live]
            self.keys = np.zeros((cap, self.keys.shape[1]), dtype=np.uint64)
            self.ids = np.full(cap, -1, dtype=np.int64)
            _native_wide_insert(self.keys, self.ids, old_keys, old_ids)


class HashedKeys(WideKeys):
    """``SortedKeys`` as an open-addressing hash table in C, of 1-word keys (``_keys.key_lookup``):
    a lookup is one probe per key and an addition touches only the new keys, where the sorted
    arrays pay a binary search per key and a re-sort of every key seen.  The table is kept at most
    half full (doubled and refilled when it would pass that)."""

    def __init__(self) -> None:
        super().__init__(1)

    @property
    def slots(self) -> np.ndarray:
        """The keys, one u64 a slot (a view of ``keys``)."""
        return self.keys.reshape(-1)

    def lookup(self, uniq: np.ndarray) -> np.ndarray:
        keys = np.ascontiguousarray(uniq, dtype=np.uint64)
        return np.frombuffer(_native_lookup(self.slots, self.ids, keys), dtype=np.int64).copy()

    def add(self, keys: np.ndarray, ids: np.ndarray) -> None:
        self._grow(self.count + len(keys))
        self.settle(keys, ids)
        self.count += len(keys)

    def intern(self, keys: np.ndarray, make: Make) -> np.ndarray:
        """``cached_ids`` in one pass (``_keys.key_claim``): known keys get their ids, new ones
        provisional numbers and then ``make``'s ids; no sorting at all."""
        keys = np.ascontiguousarray(keys, dtype=np.uint64)
        n = len(keys)
        ids = np.empty(n, dtype=np.int64)
        firsts: list[np.ndarray] = []
        fresh = r = 0
        try:
            while r < n:  # the C pass stops where the table would pass half full: grown, and on
                raw, rows, done = _native_claim(self.slots, self.ids, keys[r:], PROVISIONAL + fresh,
                                                self.count + fresh)
                ids[r : r + done] = np.frombuffer(raw, dtype=np.int64)
                got = np.frombuffer(rows, dtype=np.int64) + r
                firsts.append(got)
                fresh += len(got)
                r += done
                if r < n:
                    self._grow(self.count + fresh + 1)
            if fresh:
                first = np.concatenate(firsts)
                new = keys[first]
                real = np.asarray(make(new, first), dtype=np.int64)
                self.settle(new, real)
                self.count += fresh
                late = ids >= PROVISIONAL
                ids[late] = real[ids[late] - PROVISIONAL]
        except BaseException:  # provisional numbers must not outlive this call
            self.__init__()  # type: ignore[misc]  # (a cache: emptied, it is only slower)
            raise
        return ids


#: either kind of table
KeyTable = SortedKeys | HashedKeys
#: the table this machine runs: the C one where the extension was built
KeyCache: type[KeyTable] = HashedKeys if _native_lookup is not None else SortedKeys


def cached_ids(cache: KeyTable, keys: np.ndarray, make: Make) -> np.ndarray:
    """Ids for per-row packed keys; ``make(new_keys, a_row_of_each)`` interns the keys never seen
    (each once, in the order they first come) and gives their ids."""
    if isinstance(cache, HashedKeys):
        return cache.intern(keys, make)
    ids = cache.lookup(keys)
    miss = ids < 0
    if miss.any():
        at = np.flatnonzero(miss)
        uniq, where, inv = np.unique(keys[at], return_index=True, return_inverse=True)
        order = np.argsort(where, kind="stable")  # first come, first numbered, as the C table does
        rank = np.empty(len(order), dtype=np.int64)
        rank[order] = np.arange(len(order))
        new = np.asarray(make(uniq[order], at[where[order]]), dtype=np.int64)
        ids[at] = new[rank[inv.ravel()]]
        cache.add(uniq[order], new)
    return ids
