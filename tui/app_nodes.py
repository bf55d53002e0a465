"""What a TCP conversation carries, as conversation tree nodes: SMB2 trees (share path) with the
files opened on them, and HTTP hosts with their request counts.

Computed when the conversation's node is expanded (in the tree's worker), over that conversation's
SMB2 and HTTP frames only (the index's protocol bits say which), at most ``MAX_FRAMES`` of them: a
"…" node says how many more were not read.  SMB2 ids need the conversation's state: a TREE_CONNECT
response gives the TreeId of its request's path, a CREATE response the FileId of its request's
name (each matched by MessageId).  A tree connected before the capture, or on another connection
of the session (SMB3 multichannel), is named by its TreeId.  Each node's frames are exactly what its filter selects (Netmon
filter text over the registry's own names), so the node and its filter agree.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from tracemon.traces import tunnels
from tracemon.traces.convmemory import decoded
from tracemon.traces.dissect import http, smb2
from tracemon.traces.frame import ipv4_text, ipv6_text
from tracemon.traces.protocols import MASK

from . import expressions

if TYPE_CHECKING:
    from tracemon.traces.dissect.core import Ctx
    from tracemon.traces.trace import Trace

    from .conversations import Scope

#: SMB2/HTTP frames of one conversation decoded to find its trees, files and hosts
MAX_FRAMES = 20_000
#: opens of one file name whose ids its node's filter lists
MAX_OPENS_IN_FILTER = 16
APP_MASK = np.uint64(MASK["SMB2"] | MASK["HTTP"])
_STATUS_SUCCESS = 0


def with_apps(trace: Trace, l4_ids: np.ndarray) -> set[int]:
    """Which of these TCP conversations carry SMB2 or HTTP (they get application nodes)."""
    idx = trace.index
    n = len(idx)
    table = trace.l4_conversations
    conv = idx.l4_conv[:n]
    sel = np.isin(conv, l4_ids) & ((idx.protos[:n] & APP_MASK) != 0)
    return {int(c) for c in np.unique(conv[sel]) if table.proto[int(c)] == 6}


def conversation_filter(trace: Trace, cid: int) -> str:
    """``IPv4.Address == a AND IPv4.Address == b AND TCP.Port == p AND TCP.Port == q``."""
    l4 = trace.l4_conversations
    ip = trace.ip_conversations
    parent = l4.parent[cid]
    family = ip.proto[parent]
    name, text = ("IPv4.Address", ipv4_text) if family == 4 else ("IPv6.Address", ipv6_text)
    proto = "TCP" if l4.proto[cid] == 6 else "UDP"
    a, b = ip.a[parent], ip.b[parent]
    addrs = [f"{name} == {text(a) if isinstance(a, int) else a}", f"{name} == {text(b) if isinstance(b, int) else b}"]
    ports = [f"{proto}.Port == {l4.a[cid]}", f"{proto}.Port == {l4.b[cid]}"]
    # a tenant's conversation (traces/tunnels.py): its virtual network too
    network = [tunnels.network_filter(*tunnels.network_of(ip.parent[parent]))] if ip.parent[parent] else []
    return " AND ".join(dict.fromkeys([*addrs, *ports, *network]))  # the same address or port once


@dataclass(slots=True)
class _Message:
    response: bool
    command: int
    status: int
    mid: int
    tid: int | None
    fid: bytes | None = None
    path: str | None = None
    name: str | None = None


def smb2_messages(ctx: Ctx) -> list[_Message]:
    """The SMB2 messages of one dissected frame, with the ids and names this module needs."""
    out: list[_Message] = []
    for layer in ctx.layers:
        if layer.protocol is not smb2.SMB2:
            continue
        msg: _Message | None = None
        for f in layer.fields:
            if f.fdef is smb2.HEADER:
                msg = _header(f)
                if msg is not None:
                    out.append(msg)
            elif msg is None:
                continue
            elif f.fdef is smb2.FILE_ID and isinstance(f.value, bytes | bytearray):
                msg.fid = bytes(f.value)
            elif f.fdef is smb2.TREE_PATH:
                msg.path = str(f.value)
            elif f.fdef is smb2.FILE_NAME:
                msg.name = str(f.value)
    return out


def _header(f: object) -> _Message | None:
    values: dict[object, object] = {}
    for c in f.children:  # type: ignore[attr-defined]
        values[c.fdef] = c.value
        if c.fdef is smb2.FLAGS:
            values.update((g.fdef, g.value) for g in c.children)
    if smb2.COMMAND not in values or smb2.MESSAGE_ID not in values:
        return None  # cut short: no header to read
    tid = values.get(smb2.TREE_ID)
    return _Message(bool(values.get(smb2.FLAG_RESPONSE)), int(values[smb2.COMMAND]),  # type: ignore[call-overload]
                    int(values.get(smb2.STATUS, 0)), int(values[smb2.MESSAGE_ID]),  # type: ignore[call-overload]
                    int(tid) if isinstance(tid, int) else None)


@dataclass(slots=True)
class _File:
    tid: int
    name: str
    mid: int
    fid: bytes


@dataclass(slots=True)
class _State:
    """One conversation's SMB2 and HTTP facts, frame by frame."""

    tree_path: dict[int, str] = field(default_factory=dict)  # TreeId → share path
    tree_rows: dict[int, list[int]] = field(default_factory=dict)
    files: dict[bytes, _File] = field(default_factory=dict)  # FileId → what CREATE opened
    fid_rows: dict[bytes, list[int]] = field(default_factory=dict)
    mid_rows: dict[int, list[int]] = field(default_factory=dict)
    hosts: dict[str, list[int]] = field(default_factory=dict)  # Host → frames
    requests: dict[str, int] = field(default_factory=dict)  # Host → requests
    _connects: dict[int, str] = field(default_factory=dict)  # MessageId → path asked for
    _creates: dict[int, tuple[int, str]] = field(default_factory=dict)  # MessageId → (TreeId, name)

    def add(self, row: int, ctx: Ctx) -> None:
        for msg in smb2_messages(ctx):
            self._smb2(row, msg)
        hosts = [f.value for layer in ctx.layers if layer.protocol is http.HTTP for f in layer.walk()
                 if f.fdef is http.HOST]
        for host in hosts:
            self.requests[host] = self.requests.get(host, 0) + 1
            _add_row(self.hosts.setdefault(host, []), row)

    def _smb2(self, row: int, m: _Message) -> None:
        if m.tid:
            _add_row(self.tree_rows.setdefault(m.tid, []), row)
        if m.fid is not None:
            _add_row(self.fid_rows.setdefault(m.fid, []), row)
        _add_row(self.mid_rows.setdefault(m.mid, []), row)
        if m.command == 3:  # TREE CONNECT
            if not m.response and m.path is not None:
                self._connects[m.mid] = m.path
            elif m.response and m.status == _STATUS_SUCCESS and m.tid and m.mid in self._connects:
                self.tree_path[m.tid] = self._connects.pop(m.mid)
        elif m.command == 5:  # CREATE
            if not m.response and m.tid:
                self._creates[m.mid] = (m.tid, m.name or "")
            elif m.response and m.status == _STATUS_SUCCESS and m.fid is not None and m.mid in self._creates:
                tid, name = self._creates.pop(m.mid)
                self.files.setdefault(m.fid, _File(tid, name, m.mid, m.fid))


def _add_row(rows: list[int], row: int) -> None:
    if not rows or rows[-1] != row:
        rows.append(row)


def children(trace: Trace, scope: Scope, cancel: threading.Event | None = None) -> list[Scope] | None:
    """The application nodes of TCP conversation ``scope`` (None when cancelled)."""
    from .conversations import Scope, limit

    cid = scope.key[0]
    idx = trace.index
    n = len(idx)
    rows = np.flatnonzero((idx.l4_conv[:n] == cid) & ((idx.protos[:n] & APP_MASK) != 0))
    more = max(0, len(rows) - MAX_FRAMES)
    state = _State()
    for row, ctx in decoded(trace, rows[:MAX_FRAMES], cancel):
        state.add(row, ctx)
    if cancel is not None and cancel.is_set():
        return None
    conv = conversation_filter(trace, cid)
    nodes: list[Scope] = []
    for tid, trows in sorted(state.tree_rows.items(), key=lambda kv: kv[1][0]):
        names: dict[str, list[_File]] = {}
        for f in state.files.values():
            if f.tid == tid:
                names.setdefault(f.name, []).append(f)
        files = [_file_scope(Scope, tid, name, opens, state, conv) for name, opens in names.items()]
        files.sort(key=lambda s: -s.count)
        path = state.tree_path.get(tid)
        label = f"SMB2 {path}" if path is not None else f"SMB2 TreeId 0x{tid:X} (connected elsewhere)"
        nodes.append(Scope("smb2-tree", label, len(trows), (cid, tid), bool(files),
                           rows=np.asarray(trows, dtype=np.uint32),
                           filter=f"{_clause(smb2.TREE_ID, tid, f'0x{tid:X}')} AND {conv}",
                           kids=tuple(limit(files, "files"))))
    for host, hrows in sorted(state.hosts.items(), key=lambda kv: -len(kv[1])):
        count = state.requests[host]
        nodes.append(Scope("http-host", f"HTTP {host} ({count} request{'s' if count != 1 else ''})", len(hrows),
                           (cid, host), rows=np.asarray(hrows, dtype=np.uint32),
                           filter=f"{_clause(http.HOST, host)} AND {conv}"))
    nodes = limit(nodes, "trees and hosts")
    if more:
        nodes.append(Scope("more", f"… {more:,} more SMB2/HTTP frames not read (narrow with a filter)", more))
    return nodes


def _file_scope(scope_type: type[Scope], tid: int, name: str, opens: list[_File], state: _State,
                conv: str) -> Scope:
    """The opens of one name on one tree: the frames carrying their FileIds and their CREATE
    requests (by MessageId).  The filter names each open; past ``MAX_OPENS_IN_FILTER`` it is left
    out (the node still selects its frames)."""
    rows: set[int] = set()
    for f in opens:
        rows.update(state.fid_rows.get(f.fid, ()))
        rows.update(state.mid_rows.get(f.mid, ()))
    label = name or "(share root)"
    if len(opens) > 1:
        label += f" ({len(opens)} opens)"
    text = ""
    if len(opens) <= MAX_OPENS_IN_FILTER:
        ids = [_clause(smb2.FILE_ID, f.fid) for f in opens] + [_clause(smb2.MESSAGE_ID, f.mid) for f in opens]
        text = f"({' OR '.join(ids)}) AND {conv}"
    return scope_type("smb2-file", label, len(rows), (tid, name), rows=np.asarray(sorted(rows), dtype=np.uint32),
                      filter=text)


def _clause(fdef: object, value: object, display: str = "") -> str:
    text = expressions.clause(fdef, value, display)  # type: ignore[arg-type]
    if text is None:  # ids, names and hosts all have literals; an empty FileId has none
        raise ValueError(f"no filter literal for {fdef!r} = {value!r}")
    return text
