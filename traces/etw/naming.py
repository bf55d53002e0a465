"""Netmon names for ETW providers, events and fields, and their place in the field registry.

Netmon shows a provider's events under a protocol named ``<Prefix>_<ProviderNameWithoutDashes>``
(``VMSWITCH_MicrosoftWindowsHyperVVmSwitch``); the prefix is not derivable from the name, so it
comes from a shipped table (FILTER_LANGUAGE.md §9.2) with "the last dash-separated component" as
the fallback.  Events sit under the protocol by symbol, fields under the event by manifest name:
``VMSWITCH_MicrosoftWindowsHyperVVmSwitch.VM_NBL_DELIVER.NicFName``.  The bare registration name
(``MicrosoftWindowsHyperVVmSwitch``) and Message Analyzer's spelling
(``Microsoft_Windows_Hyper_V_VmSwitch``) are aliases.
"""

from __future__ import annotations

import re
import threading
import uuid
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from ..fields import REGISTRY, FieldDef, FieldType, Registry
from .schema import STORE, EventSchema, FieldSpec, ProviderSchema, field_type

if TYPE_CHECKING:
    from .records import EventRecord


# (GUID, provider name, Netmon prefix or None = fallback rule, evidence)
KNOWN_PROVIDERS: tuple[tuple[str, str, str | None, str], ...] = (
    ("67dc0d66-3695-47c0-9642-33f76f7bd7ad", "Microsoft-Windows-Hyper-V-VmSwitch", "VMSWITCH",
     "prefix: the team's Netmon filters; GUID: ETW.md §4.1"),
    ("4d4f80d9-c8bd-4d73-bb5b-19c90402c5ac", "Microsoft-Windows-PktMon", "PktMon",
     "microsoft/NetMon_Parsers_for_PacketMon etl_Microsoft-Windows-PktMon-Events.npl"),
    ("e53c6823-7bb8-44bb-90dc-3f86090d48a6", "Microsoft-Windows-Winsock-AFD", "Wscore",
     "prefix: troubleshoot-tcpip-port-exhaust.md filter; GUID: repnz manifest"),
    ("2f07e2ee-15db-40f1-90ef-9d7ba282188a", "Microsoft-Windows-TCPIP", None, "repnz manifest"),
    ("cdead503-17f5-4a3e-b7ae-df8cc2902eb9", "Microsoft-Windows-NDIS", None, "repnz manifest"),
    ("2ed6006e-4729-4609-b423-3ee7bcd678ef", "Microsoft-Windows-NDIS-PacketCapture", None, "repnz manifest"),
    ("152fbe4b-c7ad-4f68-bada-a4fcc1464f6c", "Microsoft-Windows-Hyper-V-NetVsc", None, "repnz manifest"),
    ("d84521f7-2235-4237-a7c0-14e3a9676286", "Microsoft-Windows-Ras-NdisWanPacketCapture", None, "repnz manifest"),
    ("9f2660ea-cfe7-428f-9850-aeca612619b0", "Microsoft-Windows-Hyper-V-VfpExt", None, "ETW.md §4.1"),
)

#: attested prefixes by provider name (lower case): for providers whose GUID we do not ship, and
#: for a TraceLogging or user-manifest provider that names one of ours
KNOWN_PREFIXES: dict[str, str] = {
    "microsoft-windows-usb-usbport": "USBPort",
    "microsoft-windows-usb-usbhub": "USBHub",
    "microsoft-windows-wlan-autoconfig": "WLAN",
    "microsoft-windows-nwifi": "N802",
    "microsoft-windows-onex": "ONEX",
    **{name.lower(): prefix for _, name, prefix, _ in KNOWN_PROVIDERS if prefix},
}

_BY_GUID: dict[uuid.UUID, tuple[str, str | None]] = {uuid.UUID(g): (n, p) for g, n, p, _ in KNOWN_PROVIDERS}
_NOT_IDENT = re.compile(r"[^A-Za-z0-9_]")


@lru_cache(maxsize=8192)
def ident(name: str) -> str:
    """A name part usable in a filter path: anything but letters, digits and _ becomes _."""
    out = _NOT_IDENT.sub("_", name.strip())
    if not out:
        return "_"
    return "_" + out if out[0].isdigit() else out


@lru_cache(maxsize=8192)
def registration_name(provider_name: str) -> str:
    """``Microsoft-Windows-Hyper-V-VmSwitch`` → ``MicrosoftWindowsHyperVVmSwitch`` (Netmon's rule:
    drop every dash; dots and other separators of TraceLogging names are dropped too)."""
    return ident(re.sub(r"[-.\s]", "", provider_name))


@lru_cache(maxsize=8192)
def default_prefix(provider_name: str) -> str:
    """The fallback prefix: the last dash- (or dot-) separated component."""
    parts = [p for p in re.split(r"[-.]", provider_name) if p]
    return ident(parts[-1] if parts else provider_name)


@lru_cache(maxsize=8192)
def protocol_for(provider_name: str, prefix: str | None = None) -> str:
    if prefix is None:
        prefix = KNOWN_PREFIXES.get(provider_name.lower()) or default_prefix(provider_name)
    return f"{prefix}_{registration_name(provider_name)}"


@lru_cache(maxsize=8192)
def message_analyzer_name(provider_name: str) -> str:
    return ident(re.sub(r"[-.\s]", "_", provider_name))


#: classic (MOF) event classes a merged or relogged netsh/pktmon file carries besides the kernel
#: groups (records.KERNEL_NAMES): GUIDs from evntrace.h (EventMetadataGuid) and PerfView/msquic
#: sources (SystemConfigEx, WinSAT).  Shown as ``SystemTrace_<Class>`` like the kernel groups.
CLASSIC_NAMES: dict[uuid.UUID, str] = {
    uuid.UUID("9b79ee91-b5fd-41c0-a243-4248e266e9d0"): "SystemConfigEx",
    uuid.UUID("bbccf6c1-6cd1-48c4-80ff-839482e37671"): "EventMetadata",
    uuid.UUID("ed54dff8-c409-4cf6-bf83-05e1e61a09c4"): "WinSATAssessment",
}


def classic_names(guid: uuid.UUID) -> tuple[str, str] | None:
    """Kernel groups and relogger classes: ``MSNT_SystemTrace.Process`` → ``SystemTrace_Process``."""
    from .records import KERNEL_NAMES

    name = KERNEL_NAMES.get(guid)
    if name is not None:
        cls = name.rsplit(".", 1)[-1]
        return name, f"SystemTrace_{cls}"
    cls = CLASSIC_NAMES.get(guid)
    if cls is not None:
        return f"MSNT_SystemTrace.{cls}", f"SystemTrace_{cls}"
    return None


def unknown_names(guid: uuid.UUID) -> tuple[str, str]:
    """An unknown provider: ``{guid}`` as its name, ``ETW_<32 hex>`` as a stable protocol name."""
    return "{" + str(guid) + "}", f"ETW_{guid.hex}"


def provider_names(guid: uuid.UUID | None, rec: EventRecord | None = None) -> tuple[str, str]:
    """(provider name, Netmon protocol name) for a provider GUID.

    TraceLogging events name their provider in the PROV_TRAITS extended item; that name wins
    when ``rec`` carries one.  Unknown GUIDs get ``{guid}`` and ``ETW_<hex>``.
    """
    if rec is not None and rec.extended:
        from .tracelogging import provider_traits

        traits = provider_traits(rec)
        if traits is not None and traits.name:
            return traits.name, protocol_for(traits.name)
    if guid is None:
        return "", "NetEvent"
    user = STORE.get(guid) if STORE.user_guids() else None
    if user is not None:
        return user.name, protocol_for(user.name, user.prefix)
    known = _BY_GUID.get(guid)
    if known is not None:
        return known[0], protocol_for(known[0], known[1])
    bundled = STORE.bundled_name(guid)
    if bundled is not None:
        return bundled[0], protocol_for(bundled[0], bundled[1])
    return classic_names(guid) or unknown_names(guid)


def schema_protocol(schema: ProviderSchema) -> str:
    known = _BY_GUID.get(schema.guid)
    prefix = schema.prefix or (known[1] if known is not None else None)
    return protocol_for(schema.name, prefix)


def event_node(ev: EventSchema) -> str:
    """The event's name under its protocol: the symbol, else ``Event_<id>`` (``_V<n>`` when n > 0)."""
    if ev.symbol:
        return ident(ev.symbol)
    return f"Event_{ev.id}" if ev.version == 0 else f"Event_{ev.id}_V{ev.version}"


# -- the registry ---------------------------------------------------------------------------------

def define(registry: Registry, name: str, ftype: FieldType, description: str = "", *, override: bool = False,
           **kw: Any) -> FieldDef | None:
    """Declare a name unless it exists; None when it exists with another type (then the value
    is shown without a registry name rather than under a name whose type would mislead filters).

    A trace overlay may shadow its parent's definition; ``override`` (user manifests) replaces a
    definition of another type in the registry itself.
    """
    existing = registry.get(name)
    if existing is not None:
        if existing.type is ftype:
            return existing
        inherited = registry.parent is not None and registry.parent.get(name) is existing
        if not (inherited or override):
            return None
    try:
        return registry.define(name, ftype, description, replace=override, **kw)
    except ValueError:
        return None


#: Netmon shows an NTSTATUS with a ``LENTStatus`` sub-structure; ``Code`` is attested in a filter
#: (``….Status.LENTStatus.Code == 0x209``, FILTER_LANGUAGE.md §9.3), the other names follow the
#: NTSTATUS bit layout (ntdef.h: Sev:2 C:1 N:1 Facility:12 Code:16) and are ours
NTSTATUS_PARTS: tuple[tuple[str, int, int, str], ...] = (
    ("Code", 0, 16, "NTSTATUS code (low 16 bits)"),
    ("Facility", 16, 12, "NTSTATUS facility (bits 16–27)"),
    ("Customer", 29, 1, "NTSTATUS customer bit (29)"),
    ("Severity", 30, 2, "NTSTATUS severity (bits 30–31: 0 success, 1 information, 2 warning, 3 error)"),
)


def is_ntstatus(spec: FieldSpec) -> bool:
    return spec.out == "NTSTATUS" and spec.type in ("UInt32", "Int32", "HexInt32") and spec.count is None


def _field_description(spec: FieldSpec) -> str:
    parts = [spec.type + (f" ({spec.out})" if spec.out else "")]
    if spec.count is not None:
        parts.append("array")
    if spec.map:
        parts.append(f"map {spec.map}")
    if spec.note:
        parts.append(spec.note)
    return ", ".join(parts)


def register_fields(registry: Registry, prefix: str, specs: tuple[FieldSpec, ...], origin: str,
                    maps: dict[str, Any] | None = None, meta: dict[str, object] | None = None,
                    override: bool = False) -> None:
    seen: set[str] = set()
    for spec in specs:
        leaf = ident(spec.name)
        if leaf.lower() in seen:
            continue
        seen.add(leaf.lower())
        name = f"{prefix}.{leaf}"
        enum = None
        if spec.map and maps and spec.map in maps and not maps[spec.map].bitmap:
            enum = dict(maps[spec.map].entries)
        define(registry, name, field_type(spec), _field_description(spec), enum=enum, origin=origin, meta=meta,
               override=override)
        if is_ntstatus(spec):
            define(registry, f"{name}.LENTStatus", FieldType.PROTOCOL, "NTSTATUS parts (Netmon's LENTStatus)",
                   origin=origin, override=override)
            for part, _shift, _bits, desc in NTSTATUS_PARTS:
                define(registry, f"{name}.LENTStatus.{part}", FieldType.UINT, desc, origin=origin,
                       inferred=part != "Code", override=override)
        if spec.fields:
            register_fields(registry, name, spec.fields, origin, maps, meta, override)


def register_provider(registry: Registry, schema: ProviderSchema) -> str:
    """Declare a provider's protocol, aliases, events and fields; returns the protocol name.

    A user's schema (``origin`` not "bundled") overrides bundled definitions of another type.
    """
    proto = schema_protocol(schema)
    guid = str(schema.guid)
    origin = f"etw:{schema.name}"
    override = schema.origin != "bundled"
    reg_name = registration_name(schema.name)
    define(registry, proto, FieldType.PROTOCOL, f"ETW provider {schema.name} {{{guid}}}", origin=origin,
           meta={"provider": guid}, override=override)
    for alias in (reg_name, message_analyzer_name(schema.name)):
        if alias.lower() != proto.lower():
            registry.alias(alias, proto)
    for ev in schema.events.values():
        node = f"{proto}.{event_node(ev)}"
        meta = {"provider": guid, "event_id": ev.id, "version": ev.version}
        inferred = ev.symbol is None or ev.symbol_inferred
        what = ("symbol " + ev.symbol_origin) if ev.symbol else "no symbol in the schema"
        define(registry, node, FieldType.PROTOCOL, f"event {ev.id} v{ev.version} ({what})", inferred=inferred,
               origin=origin, meta=meta, override=override)
        if ev.symbol and ev.version == 0:
            # the name the event had without a symbol keeps working in saved filters and presets
            registry.alias(f"{proto}.Event_{ev.id}", node)
        register_fields(registry, node, ev.fields, origin, schema.maps, override=override)
    return proto


def register_user_schemas(registry: Registry) -> None:
    """Declare every provider the user loaded (manifests, symbol maps) in ``registry``."""
    for guid in STORE.user_guids() + STORE.symbol_guids():
        schema = STORE.get(guid)
        if schema is not None:
            register_provider(registry, schema)


_reg_lock = threading.Lock()
#: id(registry) → the protocol name declared last (ids can be reused after a registry dies, so
#: the name is checked too)
_done: dict[int, str] = {}


def ensure_registered(registry: Registry = REGISTRY) -> None:
    """Register every bundled provider once (cheap after the first call).

    Called on first use (opening an ETL file, compiling a filter that names an ETW protocol,
    completion) so that ``import tracemon.traces`` stays fast.
    """
    last = _done.get(id(registry))
    if last is not None and registry.get(last) is not None:
        return
    with _reg_lock:
        last = _done.get(id(registry))
        if last is not None and registry.get(last) is not None:
            return
        proto = ""
        for guid in STORE.bundled_guids():
            schema = STORE.bundled(guid)
            if schema is not None:
                proto = register_provider(registry, schema)
        if proto:
            _done[id(registry)] = proto
