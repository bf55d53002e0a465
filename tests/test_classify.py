"""The vectorised classifier must give exactly the index columns the dissectors define."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import samples
from tracemon.traces import open_trace
from tracemon.traces.classify import classify_scalar
from tracemon.traces.index import KIND_PACKET

FILES = samples("pcap") + samples("pcapng") + samples("netmon")


def _endpoints(trace, col: str, cid: int) -> object:
    table = {"eth_conv": trace.eth_conversations, "ip_conv": trace.ip_conversations,
             "l4_conv": trace.l4_conversations}[col]
    if cid == 0:
        return None
    key = (table.a[cid], table.b[cid], table.proto[cid])
    if col == "l4_conv":
        parent = trace.ip_conversations
        p = table.parent[cid]
        key = (*key, parent.a[p], parent.b[p])
    return key


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_fast_path_agrees_with_dissectors(path) -> None:
    fast = open_trace(path, use_cache=False)
    slow = open_trace(path, load=False, use_cache=False)
    # the slow reference: every packet row through the dissectors into fresh conversation tables
    batch = {k: v.copy() for k, v in fast.index.columns().items()}
    for col in ("protos", "top", "tcpflags", "dirflags", "eth_conv", "ip_conv", "l4_conv"):
        batch[col][:] = 0
    rows = np.flatnonzero(batch["kind"] & KIND_PACKET)
    u8 = np.frombuffer(fast.buf, dtype=np.uint8)
    offs = np.array([_data_offset(fast, int(i)) for i in range(len(fast))], dtype=np.int64)
    links = np.array([fast.interfaces[int(g)].link_type if g < len(fast.interfaces) else -1
                      for g in fast.index.iface], dtype=np.int64)
    classify_scalar(slow, u8, batch, links, rows, offs)
    for col in ("protos", "top", "tcpflags"):
        np.testing.assert_array_equal(fast.index.column(col)[rows], batch[col][rows], err_msg=col)
    direction = 1 | 2 | 4
    np.testing.assert_array_equal(fast.index.dirflags[rows] & direction, batch["dirflags"][rows] & direction)
    for col in ("eth_conv", "ip_conv", "l4_conv"):
        for r in rows:
            assert _endpoints(fast, col, int(fast.index.column(col)[r])) == _endpoints(slow, col, int(batch[col][r])), (
                f"{col} differs on frame {r + 1}")


def _data_offset(trace, i: int) -> int:
    """Where row i's packet bytes start in the file, found by locating raw(i) at its record."""
    raw = trace.raw(i)
    loc = int(trace.index.loc[i])
    window = bytes(trace.buf[loc : loc + 64 + len(raw)])
    at = window.find(raw) if raw else 0
    assert at >= 0
    return loc + at
