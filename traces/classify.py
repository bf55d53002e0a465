"""Classify a batch of packets for the index: protocol mask, Protocol Name, conversations.

The general path dissects every frame (``packets.index_keys``).  ``classify_packets`` first
runs a vectorised NumPy pass over the common shapes (Ethernet/VLAN/raw/SLL → IPv4/IPv6 →
TCP/UDP/ICMP, ARP) and hands only the rest to the general path; a test checks that both give
the same columns on every sample frame.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from . import layeroffs
from .packets import scalar_rows

if TYPE_CHECKING:
    from .fastwalk import Walk
    from .pipeline import Ahead
    from .trace import Trace

#: the columns classification fills (the fields of ``packets.Keys``)
KEY_COLUMNS = ("protos", "top", "tcpflags", "dirflags", "eth_conv", "ip_conv", "l4_conv")


def classify_packets(trace: Trace, u8: np.ndarray, batch: dict[str, np.ndarray],
                     link_type: int | np.ndarray, rows: np.ndarray | None = None,
                     data_off: np.ndarray | None = None, walked: Walk | None = None) -> None:
    """Fill the key columns of ``batch`` for its packets.

    The packet bytes of row ``i`` are ``u8[data_off[i] : data_off[i] + length[i]]`` (``data_off``
    defaults to the ``loc`` column).  ``link_type`` is one value for the whole batch or one per
    row; ``rows`` restricts the work to some rows (the others are left as they are).
    ``walked``: the batch's ``fastclassify.walk_batch``, made ahead (every row, at ``loc``).
    """
    from . import fastclassify

    n = len(batch["ts"])
    sel = np.arange(n) if rows is None else np.asarray(rows)
    links = np.broadcast_to(np.asarray(link_type, dtype=np.int64), (n,))
    offs = batch["loc"].astype(np.int64) if data_off is None else np.asarray(data_off, dtype=np.int64)
    rest = fastclassify.classify(trace, u8, batch, links, sel, offs, walked)
    if len(rest):
        classify_scalar(trace, u8, batch, links, rest, offs)


def classify_scalar(trace: Trace, u8: np.ndarray, batch: dict[str, np.ndarray], links: np.ndarray,
                    rows: np.ndarray, offs: np.ndarray) -> None:
    """The general path: dissect each of ``rows`` and write its ``KEY_COLUMNS``."""
    length = batch["length"]
    datas = [u8[int(offs[i]) : int(offs[i]) + int(length[i])].tobytes() for i in rows]
    keys = scalar_rows(trace, datas, [int(links[i]) for i in rows])
    for col in KEY_COLUMNS:
        batch[col][rows] = [getattr(k, col) for k in keys]
    if len(keys):
        offs3 = np.array([k.offsets for k in keys], dtype=np.int64).reshape(-1, 3)
        batch["layout"][rows] = layeroffs.codes(trace, offs3[:, 0], offs3[:, 1], offs3[:, 2], batch["protos"][rows])


@dataclass(slots=True)
class PendingPackets:
    """A batch whose packets are still to classify (pcapng, Netmon: the scan classifies the batch
    before the one it has just read), and their walk when the reader's walker thread makes it
    ahead (``fastclassify.walk_rows``)."""

    batch: dict[str, np.ndarray]
    data_off: np.ndarray  # where each row's packet bytes start
    links: np.ndarray
    packets: np.ndarray  # the rows that are packets
    walk: Ahead | None = None

    def walk_ahead(self, walker: Any, u8: np.ndarray, walk: Callable[..., Walk]) -> None:
        """Have ``walker`` (a ``pipeline.Walker``) make the packets' walk with ``walk``
        (``fastclassify.walk_rows``)."""
        p = self.packets
        self.walk = walker.submit(walk, u8, self.data_off[p], self.batch["length"][p], self.links[p])

    def classify(self, trace: Trace, u8: np.ndarray) -> None:
        """Fill the batch's key columns (with the walk made ahead, when there is one)."""
        if len(self.packets):
            walked = self.walk.result() if self.walk is not None else None
            classify_packets(trace, u8, self.batch, self.links, rows=self.packets, data_off=self.data_off,
                             walked=walked)
