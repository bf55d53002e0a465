"""Ranking picker items against what the user typed: names first, cheap and bounded.

Textual's fuzzy ``Matcher`` scores every way a query can be spread over a text; over a preset's
long filter expression that took seconds per keystroke (typing "retransmit" blocked the app
for ~42 s).  Here every test is a substring search in C or one precompiled regex over a short
name, so a keystroke costs a few milliseconds for 10,000 items, whatever the texts hold:

1. the name is the query, 2. its last dotted part is (``….SwitchFName``), 3. starts with it, 4. has
a word starting with it (``TCP.SrcPort`` for "src"), 5. contains it, 6. its last part holds the
query's letters in order (fuzzy), 7. the other text (category, description, expression) contains
every word of the query.

No Textual here: the picker screen and the benchmark both use it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

_SEPARATORS = " ._:/-("
_WORD_START = re.compile(r"(?<=[\s._:/\-(])")
#: fuzzy matching is for short names; a longer query is better served by the substring tiers
FUZZY_MAX_QUERY = 24


class Ranker:
    """Items' names and extra texts, lower-cased once; ``rank(query)`` gives indices best first.

    Typing extends the query, and whatever matches ``"swit"`` matched ``"swi"``: a query that
    extends the previous one looks only at the previous matches.
    """

    def __init__(self, names: Sequence[str], extra: Sequence[str] = ()) -> None:
        self.names = [n.lower() for n in names]
        #: the last dotted part (``srcport`` of ``tcp.srcport``): where letters-in-order mean something
        self.leaves = [n.rsplit(".", 1)[-1] for n in self.names]
        self.extra = [e.lower() for e in extra] if extra else [""] * len(self.names)
        #: items the last ``rank`` call looked at (tests and the benchmark report it)
        self.examined = 0
        self._last: tuple[str, list[int]] | None = None

    def __len__(self) -> int:
        return len(self.names)

    def rank(self, query: str) -> list[int]:
        q = " ".join(query.lower().split())
        if not q:
            self.examined = 0
            self._last = None
            return list(range(len(self.names)))
        last = self._last
        pool: Sequence[int] = range(len(self.names))
        if last is not None and q.startswith(last[0]) and " " not in q[len(last[0]) - 1:]:
            pool = sorted(last[1])
        out = self._rank(q, pool)
        self._last = (q, out)
        return out

    def _rank(self, q: str, pool: Sequence[int]) -> list[int]:
        words = q.split()
        exact: list[int] = []
        leaf: list[int] = []
        prefix: list[int] = []
        word: list[int] = []
        inside: list[int] = []
        letters: list[int] = []
        other: list[int] = []
        word_start = re.compile(_WORD_START.pattern + re.escape(q))
        fuzzy = _subsequence(q.replace(" ", "")) if 1 < len(q) <= FUZZY_MAX_QUERY else None
        names, leaves, extra = self.names, self.leaves, self.extra
        seps = _SEPARATORS
        for i in pool:
            name = names[i]
            pos = name.find(q)
            if pos == 0:
                (exact if len(name) == len(q) else prefix).append(i)
            elif pos > 0:
                if leaves[i] == q:
                    leaf.append(i)
                    continue
                (word if name[pos - 1] in seps or word_start.search(name, pos) else inside).append(i)
            elif fuzzy is not None and fuzzy.search(leaves[i]):
                letters.append(i)
            elif extra[i] and all(w in name or w in extra[i] for w in words):
                other.append(i)
        self.examined = len(pool)
        return exact + leaf + prefix + word + inside + letters + other

def _subsequence(q: str) -> re.Pattern[str]:
    """``abc`` → ``a[^b]*b[^c]*c``: the letters in order, found in one pass without backtracking
    (``a.*?b.*?c`` backtracks on every miss: 0.7 s per keystroke over 12,000 field names)."""
    parts = [re.escape(q[0])]
    for c in q[1:]:
        parts.append(f"[^{re.escape(c)}]*{re.escape(c)}")
    return re.compile("".join(parts))
