"""Nodes the index answers with the help of field columns (``traces/fieldcols.py``): a protocol
node has no value a column could hold, but where it is follows from a field that is always beside
it (``HTTP.Request`` and its method) or from two numbers the index keeps (``TCP.Options``: the
data offset against the layout table's payload start).  Each says which frames it cannot tell,
and those are decoded.  (Nodes and fields that only a TLS record of one type holds are ruled out
by ``indexed.Presence.within``.)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..traces.protocols import MASK
from .indexed import Chunk, FastField
from .tri import Tri
from .values import Test


@dataclass(slots=True)
class NodeByChild(FastField):
    """A node that exists exactly where a field it always holds exists (``HTTP.Request``: the
    dissector adds it with its ``Method`` for every request line): the child's field column
    answers, frames it leaves to decoding are decoded."""

    child: str

    @property
    def explained(self) -> str:
        return f"where {self.child} is: its field column (extracted once, then kept); decoding frames it cannot tell"

    def exists(self, ch: Chunk) -> Tri | None:
        fdef = ch.trace.registry.get(self.child)
        col = ch.field_column(fdef) if fdef is not None else None
        if col is None:
            return None
        return Tri(*col.present(ch.start, ch.stop))

    def test(self, ch: Chunk, test: Test) -> Tri | None:
        return None  # a comparison with the node's value: decoded


@dataclass(slots=True)
class TcpOptions(FastField):
    """Whether the outermost TCP header has options (``TCP.Options``, a node the dissector adds
    when the data offset says more than 20 bytes and the segment holds them all): the data
    offset's field column (one gather, ``traces/fixedcols.py``) against where the index's layout
    table says the payload starts.  Frames either leaves unsure (no layout, a second TCP header)
    are decoded."""

    explained = ("TCP.DataOffset's field column against the index's layout table; frames either "
                 "cannot tell (tunnels, unusual headers) decoded")

    def exists(self, ch: Chunk) -> Tri | None:
        tcp = ch.has(MASK["TCP"])
        fdef = ch.trace.registry.get("TCP.DataOffset")
        col = ch.field_column(fdef) if fdef is not None else None
        if col is None:
            return None
        from ..traces import layeroffs
        from ..traces.fieldcols import PRESENT

        state = col.states(ch.start, ch.stop)
        words = np.zeros(ch.n, dtype=np.int64)
        have = min(ch.n, max(0, len(col) - ch.start))
        words[:have] = col.values[ch.start : ch.start + have]
        table = ch.memo(("layouts", len(getattr(ch.trace, "layouts", ()))), lambda: layeroffs.table_array(ch.trace))
        code = ch.col("layout").astype(np.intp)
        code = np.where(code < len(table), code, 0)
        l4, pay = table[code, 1], table[code, 2]
        sure = tcp & (state == PRESENT) & (code != 0) & (l4 != layeroffs.NONE) & (pay != layeroffs.NONE)
        hl = words * 4
        return Tri(sure & (hl > 20) & (pay - l4 == hl), ~tcp | sure)

    def test(self, ch: Chunk, test: Test) -> Tri | None:
        return None  # a comparison with the node's value: decoded


#: registry names (lower case) these answer, beside ``eventfields.FAST_FIELDS``
COLUMN_NODES: dict[str, FastField] = {
    "tcp.options": TcpOptions(),
    "http.request": NodeByChild("HTTP.Request.Method"),
    "http.response": NodeByChild("HTTP.Response.ProtocolVersion"),
}
