"""Resolving names: the field registry, Netmon's pseudo-fields, ETW spellings, wildcards.

Names are case-insensitive.  ``Proto``, ``Protocol.Proto`` and ``.Protocol.Proto`` are the same;
``UTEvent`` is the old name of ``NetEvent``.  ETW providers resolve by their Netmon protocol
name (``VMSWITCH_MicrosoftWindowsHyperVVmSwitch``), the bare registration name
(``MicrosoftWindowsHyperVVmSwitch``) or Message Analyzer's (``Microsoft_Windows_Hyper_V_VmSwitch``).
An ETW-shaped name no schema knows cannot occur in any trace we can read: it compiles to
"never present" with a warning rather than failing (FILTER_LANGUAGE.md §11).
"""

from __future__ import annotations

import difflib
import re
import threading
from typing import Any

from ..traces.fields import REGISTRY, FieldDef, FieldType, Registry
from ..traces.packets import NOT_INDEXED
from ..traces.protocols import MASK
from . import ast as A
from .colnodes import COLUMN_NODES
from .errors import FilterError, FilterWarning, warning_at
from .eventfields import FAST_FIELDS
from .indexed import Presence, provider_codes, state_for
from .operands import FieldOperand, MultiOperand, NeverOperand, Operand
from .pseudo import NAMESPACES, PROPERTY_ALIASES, PSEUDO, UNSUPPORTED_NAMESPACES, supported
from .wireshark_names import netmon_name_for

#: fields only a TLS record of one content type holds (under its alert, handshake, change cipher
#: spec or application data node): frames the record content type column says hold one record of
#: another type, or none, cannot have them (``Presence.within``)
_REC = "tls.tlsreclayer.tlsrecordlayer."
_IN_RECORDS = ((_REC + "alert", ("TLS.Record.ContentType", 21)), (_REC + "sslhandshake", ("TLS.Record.ContentType", 22)),
               (_REC + "changecipherspec", ("TLS.Record.ContentType", 20)),
               (_REC + "applicationdata", ("TLS.Record.ContentType", 23)))

#: Netmon and Message Analyzer spellings of names the dissectors declare otherwise (spellings the
#: dissectors declare as registry aliases, TCP.Flags.Reset or IPv4.TTL, resolve before this table)
SPELLINGS = {
    "tcp.flags.acknowledgment": "TCP.Flags.Ack",
    "tcp.sourceport": "TCP.SrcPort", "tcp.destinationport": "TCP.DstPort",
    "udp.sourceport": "UDP.SrcPort", "udp.destinationport": "UDP.DstPort",
    "tcp.syn": "TCP.Flags.Syn", "tcp.ack": "TCP.Flags.Ack", "tcp.fin": "TCP.Flags.Fin", "tcp.rst": "TCP.Flags.Rst",
    "tcp.psh": "TCP.Flags.Psh", "tcp.urg": "TCP.Flags.Urg",
    "tcp.segment.flags.syn": "TCP.Flags.Syn",
    "ipv4.protocol": "IPv4.NextProtocol",
    "ipv6.nextheader": "IPv6.NextProtocol",
}
_ETW_SHAPE = re.compile(r"^(?:[A-Za-z0-9]+_)?Microsoft(?:_?Windows)?[A-Za-z0-9_]*$", re.IGNORECASE)
_BY_ID = re.compile(r"^Event_\d+(?:_V\d+)?$", re.IGNORECASE)
_etw_lock = threading.Lock()
_etw_ready = False


def ensure_names() -> None:
    """Make sure every dissector has declared its names (they do so on import)."""
    from ..traces import dissect  # noqa: F401


def ensure_etw() -> None:
    """Declare the NetEvent header and the bundled ETW providers (first ETW name only)."""
    global _etw_ready
    if _etw_ready:
        return
    with _etw_lock:
        if _etw_ready:
            return
        from ..traces.etw import reader  # noqa: F401  (declares NetEvent.*)
        from ..traces.etw.naming import ensure_registered

        ensure_registered(REGISTRY)
        _etw_ready = True


def looks_etw(name: str) -> bool:
    return bool(_ETW_SHAPE.match(name.split(".", 1)[0]))


class Resolver:
    """Turns names into operands for one compilation (collects warnings)."""

    def __init__(self, registry: Registry, trace: Any, text: str, warnings: list[FilterWarning]) -> None:
        self.registry = registry
        self.trace = trace
        self.text = text
        self.warnings = warnings

    # -- lookup ---------------------------------------------------------------------------
    def lookup(self, name: str) -> FieldDef | None:
        reg = self.registry
        fdef = reg.get(name)
        if fdef is not None:
            return fdef
        low = name.lower()
        if low.startswith(("netevent", "utevent", "microsoft")) or "_" in low.split(".")[0]:
            ensure_etw()
            fdef = reg.get(name)
            if fdef is not None:
                return fdef
        target = SPELLINGS.get(low)
        if target is not None:
            fdef = reg.get(target)
            if fdef is not None:
                return fdef
        return self._etw_alias(name) or self._trace_provider(name)

    def _trace_provider(self, name: str) -> FieldDef | None:
        """A provider of this trace that no schema describes (``ETW_<guid>``): its protocol is
        in the Protocol Name column and each of its frames has a layer of that name."""
        if self.trace is None or "." in name:
            return None
        return trace_provider_def(self.trace, name)

    def _etw_alias(self, name: str) -> FieldDef | None:
        """``MicrosoftWindowsHyperVVmSwitch.X`` / ``Microsoft_Windows_Hyper_V_VmSwitch.X`` when the
        registry has no alias for that spelling."""
        head, _, rest = name.partition(".")
        key = head.replace("_", "").lower()
        if not key.startswith("microsoft"):
            return None
        ensure_etw()
        for fdef in self.registry.protocols():
            if not (fdef.meta and "provider" in fdef.meta):
                continue
            full = fdef.name.replace("_", "").lower()
            bare = fdef.name.split("_", 1)[1].replace("_", "").lower() if "_" in fdef.name else full
            if key in (full, bare):
                return self.registry.get(f"{fdef.name}.{rest}" if rest else fdef.name)
        return None

    # -- operands ---------------------------------------------------------------------------
    def path(self, node: A.Path) -> Operand:
        parts = list(node.parts)
        if parts[0].lower() == "protocol" and len(parts) > 1:
            parts = parts[1:]
        if parts[0].lower() == "utevent":
            parts[0] = "NetEvent"
        name = ".".join(parts)
        low = name.lower()
        if low in PROPERTY_ALIASES:
            name = PROPERTY_ALIASES[low]
            low = name.lower()
        pdef = PSEUDO.get(low)
        if pdef is not None:
            if pdef.make is None:
                raise self.error(node, f"{pdef.name} is a Netmon parser property that tracemon does not compute",
                                 hints=["properties tracemon computes: " + ", ".join(_supported_in("property"))])
            return pdef.make()
        ns = parts[0].lower()
        if ns in NAMESPACES and self.registry.get(name) is None:
            if ns in UNSUPPORTED_NAMESPACES:
                raise self.error(node, UNSUPPORTED_NAMESPACES[ns])
            known = _supported_in(ns)
            close = difflib.get_close_matches(name.lower(), [k.lower() for k in known], n=3, cutoff=0.6)
            sugg = [k for k in known if k.lower() in close]
            what = {"property": "property", "conversation": "conversation property",
                    "framevariable": "frame variable"}[ns]
            raise self.error(node, f"unknown {what} {name}", suggestions=sugg,
                             hints=[f"tracemon knows: {', '.join(known)}"])
        fdef = self.lookup(name)
        if fdef is not None:
            return self.field(fdef, node)
        if looks_etw(name) and ("." not in name or self.lookup(name.split(".")[0]) is None):
            self.warn(node, f"{name} is not a provider any bundled or loaded schema knows, so it matches nothing",
                      "load the provider's manifest (tracemon --manifest FILE.xml) if the trace has its events")
            return NeverOperand(text=name)
        raise self.unknown(node, name)

    def field(self, fdef: FieldDef, node: A.Node | None = None) -> FieldOperand:
        parts = [self.field(p) for p in (self.lookup(x) for x in fdef.pair) if p is not None] if fdef.pair else []
        presence = self.presence(fdef)
        op = FieldOperand(fdef, presence, FAST_FIELDS.get(fdef.key) or COLUMN_NODES.get(fdef.key), parts)
        if node is not None and presence is not None and presence.guid:
            self._check_in_trace(fdef, presence, node)
        return op

    def presence(self, fdef: FieldDef) -> Presence | None:
        parts = fdef.name.split(".")
        for k in range(len(parts), 0, -1):
            d = fdef if k == len(parts) else self.registry.get(".".join(parts[:k]))
            meta = d.meta if d is not None else None
            if meta and meta.get("provider"):
                ids = meta.get("event_ids", meta.get("event_id"))
                event_ids = tuple(int(x) for x in ids) if isinstance(ids, (list, tuple)) else \
                    (int(ids),) if isinstance(ids, int) else ()
                exact = k == len(parts) and fdef.type is FieldType.PROTOCOL
                return Presence(guid=str(meta["provider"]), event_ids=event_ids, exact=exact,
                                by_version=bool(event_ids) and bool(_BY_ID.match(d.leaf)))  # type: ignore[union-attr]
        root = self.registry.get(parts[0])
        rname = root.name if root is not None else parts[0]
        if rname in MASK and rname not in NOT_INDEXED:  # (bits the index never sets)
            within = next((w for prefix, w in _IN_RECORDS if fdef.key.startswith(prefix)), None)
            return Presence(mask=MASK[rname], exact=len(parts) == 1 and fdef.type is FieldType.PROTOCOL,
                            within=within)
        return None

    def _check_in_trace(self, fdef: FieldDef, presence: Presence, node: A.Node) -> None:
        trace = self.trace
        if trace is None:
            return
        complete = getattr(trace, "complete", None)
        if complete is not None and not complete.is_set():
            return  # still loading: the provider may come later
        codes = provider_codes(trace, presence.guid)
        if not codes:
            self.warn(node, f"{fdef.name} matches nothing in this trace (it has no events of that provider)",
                      "the filter is valid; this trace just has none of them")
            return
        if presence.event_ids:
            pairs = _provider_events(trace)
            if not any((c << 16) | e in pairs for c in codes for e in presence.event_ids):
                self.warn(node, f"{fdef.name} matches nothing in this trace (no such event in it)",
                          "the filter is valid; this trace just has none of them")

    def wildcard(self, node: A.Wildcard, accepts: Any = None) -> Operand:
        suffix = [p.lower() for p in node.parts]
        members: list[Operand] = []
        seen: set[str] = set()
        for fdef in self.registry:
            if fdef.type is FieldType.PROTOCOL:
                continue
            parts = fdef.key.split(".")
            if len(parts) <= len(suffix) or parts[-len(suffix):] != suffix:
                continue
            if accepts is not None and not accepts(fdef):
                continue
            if fdef.key not in seen:
                seen.add(fdef.key)
                members.append(self.field(fdef))
        if not members:
            what = "" if accepts is None else " that can hold that value"
            raise self.error(node, f"no field is named {node.text[1:]}{what}",
                             hints=["*Name stands for every field whose last name part is Name, e.g. *Address"])
        members.sort(key=lambda m: m.label.lower())
        return MultiOperand(members, text=node.text)

    # -- messages ---------------------------------------------------------------------------
    def unknown(self, node: A.Node, name: str) -> FilterError:
        head = name.split(".")[0]
        low = name.lower()
        if low in ("nothing", "true", "false"):
            return self.error(node, f"{name} is not a condition")
        netmon = netmon_name_for(name, self._known)
        if netmon is not None:
            return self.error(node, f"{name} is a Wireshark name",
                              suggestions=[netmon],
                              hints=[f"write {netmon} (tracemon speaks Network Monitor's filter language)"])
        proto = self.lookup(head) if "." in name else None
        candidates = self.registry.close_matches(name, 5)
        pseudo = difflib.get_close_matches(low, list(PSEUDO), n=3, cutoff=0.75)
        candidates += [PSEUDO[p].name for p in pseudo if PSEUDO[p].make is not None]
        if proto is not None:
            sub = name[len(head) + 1 :]
            what = "event or field" if proto.meta and "provider" in proto.meta else "field"
            return self.error(node, f"{proto.name} has no {what} {sub}", suggestions=candidates,
                              hints=[f"type {proto.name}. to list its fields"])
        return self.error(node, f"unknown protocol or field {name}", suggestions=candidates,
                          hints=["names follow Netmon: IPv4.SourceAddress, TCP.Port, DNS.QRecord.QuestionName"])

    def _known(self, name: str) -> bool:
        return self.lookup(name) is not None or name.lower() in PSEUDO

    def error(self, node: A.Node, message: str, *, suggestions: list[str] | None = None,
              hints: list[str] | None = None, expected: list[str] | None = None) -> FilterError:
        return FilterError(message, self.text, node.start, max(1, node.end - node.start),
                           suggestions=suggestions, hints=hints, expected=expected)

    def warn(self, node: A.Node | None, message: str, hint: str = "") -> None:
        if node is None:
            self.warnings.append(warning_at(self.text, None, 1, message, hint))
        else:
            self.warnings.append(warning_at(self.text, node.start, max(1, node.end - node.start), message, hint))


def trace_provider_def(trace: Any, name: str) -> FieldDef | None:
    low = name.lower()
    for p in getattr(trace, "providers", [])[1:]:
        if p.protocol and p.protocol.lower() == low and p.guid:
            return FieldDef(p.protocol, FieldType.PROTOCOL, f"ETW provider {p.name} (no schema)", origin="trace",
                            meta={"provider": p.guid})
    return None


def _supported_in(ns: str) -> list[str]:
    return [d.name for d in supported() if d.name.lower().startswith(ns + ".")]


def _provider_events(trace: Any) -> set[int]:
    """(provider code << 16 | event id) of every event in a loaded trace (cached)."""
    import numpy as np

    state = state_for(trace)
    n = len(trace.index)
    cached = state.objects.get("provider_events")
    if cached is not None and cached[0] == n:
        return cached[1]
    prov = trace.index.column("provider").astype(np.uint32)
    ev = trace.index.column("event_id").astype(np.uint32)
    pairs = set(np.unique((prov << 16) | ev).tolist())
    state.objects["provider_events"] = (n, pairs)
    return pairs


def default_registry(registry: Registry | None, trace: Any) -> Registry:
    ensure_names()
    if registry is not None:
        return registry
    if trace is not None and getattr(trace, "registry", None) is not None:
        return trace.registry
    return REGISTRY
