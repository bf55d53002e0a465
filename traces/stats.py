"""Trace statistics from the index alone: protocol counts, ETW providers/events, conversations."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from . import tunnels
from .fields import FieldType
from .frame import ipv4_text, ipv6_text, mac_text
from .packets import format_time
from .protocols import MASK, PACKET_PROTOCOL_NAMES

if TYPE_CHECKING:
    from .index import ConversationTable
    from .trace import Trace

def protocol_counts(trace: Trace) -> dict[str, int]:
    protos = trace.index.protos
    out: dict[str, int] = {}
    for name in PACKET_PROTOCOL_NAMES:
        bit = MASK.get(name)
        if bit is None:
            continue
        count = int(np.count_nonzero(protos & np.uint64(bit)))
        if count:
            out[name] = count
    return out


def event_symbols(trace: Trace) -> dict[tuple[str, int], str]:
    """(provider guid, event id) → event symbol, from the registry's ETW names."""
    from .etw.naming import ensure_registered

    ensure_registered()  # bundled ETW names are declared on first use
    out: dict[tuple[str, int], str] = {}
    for fdef in trace.registry:
        meta = fdef.meta
        if fdef.type is FieldType.PROTOCOL and meta and "event_id" in meta and "provider" in meta:
            out.setdefault((str(meta["provider"]).lower(), int(meta["event_id"])), fdef.leaf)  # type: ignore[call-overload]
    return out


def endpoint_text(table: ConversationTable, cid: int, side: str, trace: Trace) -> str:
    value = table.a[cid] if side == "a" else table.b[cid]
    if table.kind == "eth":
        return mac_text(int(value))  # type: ignore[arg-type]
    if table.kind == "ip":
        return ipv4_text(int(value)) if table.proto[cid] == 4 else ipv6_text(int(value))  # type: ignore[arg-type]
    parent = trace.ip_conversations
    p = table.parent[cid]
    addr = endpoint_text(parent, p, side, trace)
    proto = "TCP" if table.proto[cid] == 6 else "UDP"
    return f"{proto} {addr}:{value}" if parent.proto[p] == 4 else f"{proto} [{addr}]:{value}"


def top_conversations(trace: Trace, column: str, table: ConversationTable, top: int) -> list[dict[str, Any]]:
    ids = trace.index.column(column)
    if not len(table):
        return []
    frames = np.bincount(ids, minlength=len(table) + 1)
    nbytes = np.bincount(ids, weights=trace.index.length.astype(np.float64), minlength=len(table) + 1)
    frames[0] = 0
    order = np.argsort(-frames, kind="stable")[:top]
    return [{"id": int(c), "a": endpoint_text(table, int(c), "a", trace), "b": endpoint_text(table, int(c), "b", trace),
             "frames": int(frames[c]), "bytes": int(nbytes[c]), "network": network_text(trace, table, int(c))}
            for c in order if frames[c]]


def network_text(trace: Trace, table: ConversationTable, cid: int) -> str:
    """The virtual network a tenant's conversation is in (``VXLAN VNI 5001``), "" for the host's own
    (``tunnels.py``)."""
    if table.kind == "l4":
        table, cid = trace.ip_conversations, table.parent[cid]
    if table.kind != "ip" or not table.parent[cid]:
        return ""
    return tunnels.label(*tunnels.network_of(table.parent[cid]))


def _commented(trace: Trace) -> int | None:
    """How many frames carry a comment (None when the reader cannot tell without decoding)."""
    from .comments import comment_rows

    rows = comment_rows(trace)
    return None if rows is None else len(rows)


def interface_list(trace: Trace) -> list[dict[str, Any]]:
    """The capture interfaces with their names (pcapng if_name/if_description) and frame counts."""
    from .dissect.core import LINK_TYPE_NAMES

    counts = np.bincount(trace.index.iface, minlength=len(trace.interfaces)) if len(trace) else []
    return [{"number": n, "name": iface.name, "description": iface.description, "link_type": iface.link_type,
             "media": LINK_TYPE_NAMES.get(iface.link_type, f"link type {iface.link_type}"),
             "frames": int(counts[n]) if n < len(counts) else 0}
            for n, iface in enumerate(trace.interfaces)]


def trace_stats(trace: Trace, top: int = 20) -> dict[str, Any]:
    idx = trace.index
    first, last = trace.first_time_ns, trace.last_time_ns
    providers = []
    symbols = event_symbols(trace) if len(trace.providers) > 1 else {}
    for code in np.unique(idx.provider):
        if code == 0:
            continue
        prov = trace.providers[int(code)]
        rows = idx.provider == code
        ids, counts = np.unique(idx.event_id[rows], return_counts=True)
        if len(ids) == 1 and ids[0] == 0:  # classic and kernel events: the opcode tells them apart
            ops, counts = np.unique(idx.opcode[rows], return_counts=True)
            events = [{"opcode": int(o), "name": f"Opcode {int(o)}", "frames": int(c)}
                      for o, c in sorted(zip(ops, counts, strict=True), key=lambda x: -x[1])]
        else:
            events = [{"id": int(e), "name": symbols.get((prov.guid.lower().strip("{}"), int(e)), f"Event {int(e)}"),
                       "frames": int(c)} for e, c in sorted(zip(ids, counts, strict=True), key=lambda x: -x[1])]
        providers.append({"guid": prov.guid, "name": prov.name, "protocol": prov.protocol or prov.name,
                          "frames": int(np.count_nonzero(rows)), "events": events})
    providers.sort(key=lambda p: -p["frames"])
    return {
        "file": trace.path,
        "format": trace.format,
        "frames": len(trace),
        "time_span": {"first": format_time(first), "last": format_time(last), "seconds": (last - first) / 1e9}
        if first is not None and last is not None else None,
        "interfaces": interface_list(trace),
        "commented_frames": _commented(trace),
        "protocols": protocol_counts(trace),
        "providers": providers,
        "ip_conversations": top_conversations(trace, "ip_conv", trace.ip_conversations, top),
        "l4_conversations": top_conversations(trace, "l4_conv", trace.l4_conversations, top),
        "eth_conversations": top_conversations(trace, "eth_conv", trace.eth_conversations, top),
        "facts": {k: v for k, v in trace.facts.items() if isinstance(v, (str, int, float))},
        "warnings": [w.message for w in trace.warnings],
    }
