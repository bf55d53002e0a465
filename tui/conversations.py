"""The conversation tree's nodes: groups of frames, their counts and their index masks.

All Traffic → IPv4 / IPv6 address pairs → TCP / UDP port pairs (→ SMB2 trees → files, HTTP hosts:
``app_nodes``), ARP, other packets; tunnels → virtual network (VXLAN VNI, NVGRE VSID, Geneve VNI)
→ the tenants' address pairs → port pairs; ETW events
→ provider → event (symbol and id) → switch / port / NIC; processes.  Counts and masks are
NumPy over the index columns (``ip_conv``, ``l4_conv``, ``provider``, ``event_id``, ``pid``);
only the switch/port/NIC level decodes frames.  No Textual here; the tree widget calls
``children()`` from a thread worker when a node is expanded.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np
from tracemon.traces.fields import FieldType
from tracemon.traces.frame import ipv4_text, ipv6_text
from tracemon.traces.index import KIND_EVENT, KIND_PACKET, PID_UNKNOWN
from tracemon.traces.protocols import MASK
from tracemon.traces.tunnels import frame_tunnels, network_filter
from tracemon.traces.tunnels import label as network_label

from . import app_nodes

if TYPE_CHECKING:
    from tracemon.traces.trace import Trace

#: children beyond this are summarised in one "… more" node (a filter finds the rest)
MAX_CHILDREN = 2000
#: frames decoded at most to group one ETW event by switch / port / NIC
MAX_DECODE = 200_000
_PLACE = re.compile(r"(switch|port|nic|adapter|vport|vmname)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Scope:
    """One node: what it selects (``kind`` + ``key``) and how many frames it holds."""

    kind: str
    label: str
    count: int
    key: tuple = ()
    expandable: bool = False
    #: explicit frame indices for groups the index cannot express (switch / port / NIC, SMB2 trees …)
    rows: np.ndarray | None = field(default=None, compare=False)
    #: the display filter that selects the node's frames ("" when none is written for it)
    filter: str = field(default="", compare=False)
    #: children computed with the node (an SMB2 tree's files)
    kids: tuple[Scope, ...] = field(default=(), compare=False)


def root(trace: Trace) -> Scope:
    return Scope("all", "All Traffic", len(trace), expandable=True)


def _ip_text(family: int, v: object) -> str:
    if not isinstance(v, int):
        return str(v)
    return ipv4_text(v) if family == 4 else ipv6_text(v)


def event_symbols(trace: Trace) -> dict[tuple[str, int], str]:
    """(provider guid, event id) → event symbol from the registry's ETW definitions."""
    from tracemon.traces.etw.naming import ensure_registered
    from tracemon.traces.fields import REGISTRY

    ensure_registered(REGISTRY)  # the bundled providers are declared on first use, not when a trace opens
    out: dict[tuple[str, int], str] = {}
    for fdef in trace.registry:
        meta = fdef.meta
        if not meta or "event_id" not in meta:
            continue
        guid = str(meta.get("provider", "")).lower().strip("{}")
        try:
            out.setdefault((guid, int(meta["event_id"])), fdef.leaf)  # type: ignore[call-overload]
        except (TypeError, ValueError):
            continue
    return out


def provider_label(trace: Trace, code: int) -> str:
    if not 0 < code < len(trace.providers):
        return f"provider {code}"
    p = trace.providers[code]
    return p.protocol or p.name or p.guid or f"provider {code}"


def describe(scope: Scope) -> str:
    """The node as the status line names it: its label, and its filter when it has one."""
    return f"{scope.label} · {scope.filter}" if scope.filter else scope.label


def limit(nodes: list[Scope], what: str) -> list[Scope]:
    if len(nodes) <= MAX_CHILDREN:
        return nodes
    rest = nodes[MAX_CHILDREN:]
    more = Scope("more", f"… {len(rest):,} more {what} (narrow with a filter)", sum(s.count for s in rest))
    return [*nodes[:MAX_CHILDREN], more]


def children(trace: Trace, scope: Scope, cancel: threading.Event | None = None) -> list[Scope]:
    """The child nodes of ``scope`` over the frames indexed so far, biggest first."""
    idx = trace.index
    kind = scope.kind
    if kind == "all":
        # counted through mask(), the one definition of each group's frames
        groups = (Scope("family", "IPv4", 0, (4,), True), Scope("family", "IPv6", 0, (6,), True),
                  Scope("tunnels", "Tunnels", 0, (), True), Scope("arp", "ARP", 0), Scope("other", "Other packets", 0),
                  Scope("etw", "ETW events", 0, (), True), Scope("processes", "Processes", 0, (), True))
        counted = (replace(g, count=int(np.count_nonzero(mask(trace, g)))) for g in groups)
        return [g for g in counted if g.count]
    if kind == "family":
        f = scope.key[0]
        fam = _families(trace)
        counts = np.bincount(idx.ip_conv, minlength=len(fam))[: len(fam)]
        table = trace.ip_conversations
        ids = np.flatnonzero((fam == f) & (counts > 0) & (_tenant_of(trace, len(fam)) == 0))
        ids = ids[np.argsort(-counts[ids], kind="stable")]
        nodes = [Scope("ip", f"{_ip_text(f, table.a[i])} ↔ {_ip_text(f, table.b[i])}", int(counts[i]), (int(i),),
                       True) for i in ids]
        return limit(nodes, "address pairs")
    if kind == "tunnels":
        return _networks(trace)
    if kind == "network":
        return _tenants(trace, scope)
    if kind == "ip":
        cid = scope.key[0]
        sel = idx.ip_conv == cid
        l4 = idx.l4_conv[sel]
        table = trace.l4_conversations
        ids, counts = np.unique(l4, return_counts=True)
        order = np.argsort(-counts, kind="stable")
        apps = app_nodes.with_apps(trace, ids)
        nodes = []
        other = 0
        for i, c in zip(ids[order], counts[order], strict=True):
            i = int(i)
            if i == 0:
                other = int(c)
                continue
            proto = "TCP" if table.proto[i] == 6 else "UDP" if table.proto[i] == 17 else f"proto {table.proto[i]}"
            nodes.append(Scope("l4", f"{proto} {table.a[i]} ↔ {table.b[i]}", int(c), (i,), i in apps,
                               filter=app_nodes.conversation_filter(trace, i) if proto in ("TCP", "UDP") else ""))
        nodes = limit(nodes, "port pairs")
        if other:
            nodes.append(Scope("ip-other", "Other (no TCP/UDP ports)", other, (cid,)))
        return nodes
    if kind == "etw":
        prov = idx.provider
        counts = np.bincount(prov, minlength=len(trace.providers))
        ids = np.flatnonzero(counts)
        ids = ids[ids > 0]
        ids = ids[np.argsort(-counts[ids], kind="stable")]
        return [Scope("provider", provider_label(trace, int(i)), int(counts[i]), (int(i),), True) for i in ids]
    if kind == "provider":
        code = scope.key[0]
        sel = idx.provider == code
        ids, counts = np.unique(idx.event_id[sel], return_counts=True)
        order = np.argsort(-counts, kind="stable")
        guid = trace.providers[code].guid.lower().strip("{}") if code < len(trace.providers) else ""
        symbols = event_symbols(trace)
        nodes = []
        for eid, c in zip(ids[order], counts[order], strict=True):
            eid = int(eid)
            sym = symbols.get((guid, eid))
            label = f"{sym} ({eid})" if sym else f"Event {eid}"
            nodes.append(Scope("event", label, int(c), (code, eid), True))
        return limit(nodes, "events")
    if kind == "event":
        return _places(trace, scope, cancel)
    if kind == "l4":
        return app_nodes.children(trace, scope, cancel) or []
    if kind == "smb2-tree":
        return list(scope.kids)
    if kind == "processes":
        pid = idx.pid
        ids, counts = np.unique(pid[pid != PID_UNKNOWN], return_counts=True)
        order = np.argsort(-counts, kind="stable")
        nodes = [Scope("pid", f"Process {int(p)}", int(c), (int(p),)) for p, c in
                 zip(ids[order], counts[order], strict=True)]
        return limit(nodes, "processes")
    return []


def _tunnels(trace: Trace) -> np.ndarray:
    """Per indexed frame, the tunnel entry whose tenant it is (0: none; ``traces/tunnels.py``)."""
    idx = trace.index
    return frame_tunnels(trace, idx.eth_conv)


def _tenant_of(trace: Trace, n: int) -> np.ndarray:
    """The tunnel of each IP conversation id below ``n`` (0: the host's own)."""
    parent = np.asarray(trace.ip_conversations.parent[:n], dtype=np.int64)
    return np.concatenate([parent, np.zeros(max(0, n - len(parent)), dtype=np.int64)])


def _network_members(trace: Trace, key: tuple) -> np.ndarray:
    """The tunnel entry ids of one virtual network (protocol code, network id)."""
    table = trace.tunnel_conversations
    code, vni = key
    return np.array([t for t in range(1, len(table) + 1) if table.proto[t] == code and table.a[t] == vni],
                    dtype=np.int64)


def _networks(trace: Trace) -> list[Scope]:
    table = trace.tunnel_conversations
    counts = np.bincount(_tunnels(trace), minlength=len(table) + 1)
    per: dict[tuple[int, int], int] = {}
    for t in np.flatnonzero(counts[1:]) + 1:
        key = (int(table.proto[t]), int(table.a[t]))
        per[key] = per.get(key, 0) + int(counts[t])
    nodes = [Scope("network", network_label(*key), c, key, True, filter=network_filter(*key)) for key, c in per.items()]
    nodes.sort(key=lambda s: -s.count)
    return limit(nodes, "virtual networks")


def _tenants(trace: Trace, scope: Scope) -> list[Scope]:
    """A virtual network's tenant address pairs, and its frames without IP (ARP …)."""
    idx = trace.index
    sel = np.isin(_tunnels(trace), _network_members(trace, scope.key))
    ids, counts = np.unique(idx.ip_conv[sel], return_counts=True)
    order = np.argsort(-counts, kind="stable")
    table = trace.ip_conversations
    nodes, other = [], 0
    for i, c in zip(ids[order], counts[order], strict=True):
        i = int(i)
        if i == 0:
            other = int(c)
            continue
        f = table.proto[i]
        nodes.append(Scope("ip", f"{_ip_text(f, table.a[i])} ↔ {_ip_text(f, table.b[i])}", int(c), (i,), True))
    nodes = limit(nodes, "address pairs")
    if other:
        nodes.append(Scope("network-other", "Other (no IP)", other, scope.key))
    return nodes


def _families(trace: Trace) -> np.ndarray:
    """Address family (4 / 6) of each IP conversation id; id 0 = none."""
    table = trace.ip_conversations
    known = np.asarray(table.proto[: len(table) + 1], dtype=np.uint8)
    conv = trace.index.ip_conv
    top = int(conv.max()) + 1 if len(conv) else 1
    fam = np.zeros(max(top, len(known)), dtype=np.uint8)
    fam[: len(known)] = known
    return fam


def place_of(frame: object) -> tuple[str, ...]:
    """Switch › port › NIC of a VmSwitch-style event: its string fields named for them, friendly
    names (``SwitchFName``, ``NicFriendlyName``) preferred over the GUID-like ones."""
    found: dict[str, dict[str, str]] = {}
    for f in frame.walk():  # type: ignore[attr-defined]
        fdef = f.fdef
        if fdef is None or fdef.type is not FieldType.STRING or not f.display:
            continue
        leaf = fdef.leaf
        m = _PLACE.search(leaf)
        if m is None or leaf.lower().endswith(("len", "length")):
            continue
        kind = m.group(1).lower()
        kind = "port" if kind == "vport" else kind
        friendly = leaf.lower().endswith(("fname", "friendlyname"))
        found.setdefault(kind, {})["friendly" if friendly else "name"] = f.display
    out = []
    for kind in ("switch", "vmname", "port", "nic", "adapter"):
        names = found.get(kind)
        if names:
            out.append(names.get("friendly") or names["name"])
    return tuple(out)


def _places(trace: Trace, scope: Scope, cancel: threading.Event | None) -> list[Scope]:
    """Group one ETW event's frames by switch / port / NIC (decodes the frames)."""
    code, eid = scope.key
    idx = trace.index
    rows = np.flatnonzero((idx.provider == code) & (idx.event_id == eid))[:MAX_DECODE]
    groups: dict[tuple[str, ...], list[int]] = {}
    for k, i in enumerate(rows):
        if cancel is not None and k % 1024 == 0 and cancel.is_set():
            return []
        try:
            frame = trace.frame(int(i))
        except Exception:  # noqa: BLE001, S112 - an undecodable event just has no place
            continue
        place = place_of(frame)
        if place:
            groups.setdefault(place, []).append(int(i))
    nodes = [Scope("place", " › ".join(place), len(r), (code, eid, place), rows=np.asarray(r, dtype=np.uint32))
             for place, r in groups.items()]
    nodes.sort(key=lambda s: -s.count)
    return limit(nodes, "places")


def mask(trace: Trace, scope: Scope) -> np.ndarray | None:
    """Boolean mask over the indexed frames for ``scope`` (``None`` = every frame)."""
    idx = trace.index
    n = len(idx)
    kind = scope.kind
    if kind == "all":
        return None
    if kind == "family":
        fam = _families(trace)
        return (fam[idx.ip_conv] == scope.key[0]) & (_tenant_of(trace, len(fam))[idx.ip_conv] == 0)
    if kind == "tunnels":
        return _tunnels(trace) != 0
    if kind == "network":
        return np.isin(_tunnels(trace), _network_members(trace, scope.key))
    if kind == "network-other":
        return np.isin(_tunnels(trace), _network_members(trace, scope.key)) & (idx.ip_conv == 0)
    if kind == "ip":
        return idx.ip_conv == scope.key[0]
    if kind == "ip-other":
        return (idx.ip_conv == scope.key[0]) & (idx.l4_conv == 0)
    if kind == "l4":
        return idx.l4_conv == scope.key[0]
    if kind == "arp":
        return (idx.protos & np.uint64(MASK["ARP"])) != 0
    if kind == "other":
        arp = (idx.protos & np.uint64(MASK["ARP"])) != 0
        return ((idx.kind & KIND_PACKET) != 0) & (idx.ip_conv == 0) & ~arp
    if kind == "etw":
        return (idx.kind & KIND_EVENT) != 0
    if kind == "provider":
        return idx.provider == scope.key[0]
    if kind == "event":
        return (idx.provider == scope.key[0]) & (idx.event_id == scope.key[1])
    if kind == "processes":
        return idx.pid != PID_UNKNOWN
    if kind == "pid":
        return idx.pid == scope.key[0]
    out = np.zeros(n, dtype=bool)
    if scope.rows is not None:
        out[scope.rows[scope.rows < n]] = True
    return out
