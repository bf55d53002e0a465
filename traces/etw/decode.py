"""``decode_event``: one ETW event record → Netmon names, message and a field tree.

The reader indexes headers only; this runs when a frame is shown or a filter needs an event's
fields.  Schemas come from the store (user manifests over bundled files) or, for TraceLogging
events, from the event itself.  Compiled templates are cached per (provider, id, version,
pointer size); the registry names of their fields per (trace registry, template).

Nothing here raises on bad data: an event without a schema shows its payload as one hex field,
a payload shorter than its template decodes what is there and marks the rest, leftover bytes
are shown as hex.
"""

from __future__ import annotations

import re
import threading
import uuid
import weakref
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from ..errors import TraceError
from ..fields import REGISTRY, FieldDef, FieldType, Registry
from ..frame import Field, Layer
from . import tracelogging as tl
from .logheader import header_fields
from .naming import (
    NTSTATUS_PARTS,
    define,
    ensure_registered,
    event_node,
    ident,
    is_ntstatus,
    protocol_for,
    provider_names,
    register_fields,
    register_user_schemas,
    registration_name,
    schema_protocol,
)
from .packets import PKTMON_GUID
from .payload import Decoded, Template, Value, binary_display
from .records import GROUP_GUIDS
from .schema import STORE, EventSchema, FieldSpec, ProviderSchema, field_type

if TYPE_CHECKING:
    from .records import EventRecord

PKTMON_COMPONENT_EVENTS = (20, 270, 280)
MAX_COMPONENT_EVENTS = 100_000


@dataclass(slots=True)
class DecodedEvent:
    protocol: str
    provider_name: str
    symbol: str | None
    symbol_inferred: bool
    task_name: str | None
    opcode_name: str | None
    level_name: str | None
    keyword_names: list[str]
    message: str | None
    description: str
    layers: list[Layer]
    #: the event's node name under its protocol (the symbol, or ``Event_<id>``)
    event_name: str = ""
    #: "bundled", "manifest:<file>", "tracelogging", or "" when no schema was found
    schema_origin: str = ""
    #: the template version used (differs from the record's when only another version is known)
    schema_version: int | None = None
    #: top-level field name → value (lists for arrays, dicts for structs)
    values: dict[str, Any] = field(default_factory=dict)
    #: what went wrong while decoding (short payload, damaged TraceLogging metadata …)
    problems: list[str] = field(default_factory=list)


# -- per-trace state ---------------------------------------------------------------------------

@dataclass(slots=True)
class PktMonComponent:
    id: int
    type: int
    type_name: str
    name: str
    description: str

    def label(self) -> str:
        return f"{self.name}: {self.description}" if self.description else self.name


@dataclass(slots=True)
class _TraceState:
    registry: Registry
    #: template key → (the specs it was made for, {id(spec): FieldDef | None}); holding the specs
    #: keeps their ids from being reused while the table exists
    defs: dict[tuple[Any, ...], tuple[tuple[FieldSpec, ...], dict[Any, FieldDef | None]]] = field(
        default_factory=dict)
    #: template key → (protocol def, event def)
    nodes: dict[tuple[Any, ...], tuple[FieldDef, FieldDef | None]] = field(default_factory=dict)
    components: dict[int, PktMonComponent] | None = None
    #: (index rows when built, table) while the scan is still running
    partial: tuple[int, dict[int, PktMonComponent]] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    #: one thread builds the component table, the others wait for it
    components_lock: threading.Lock = field(default_factory=threading.Lock)
    #: the store generation whose user schemas are declared in ``registry``
    generation: int = 0


_states: weakref.WeakKeyDictionary[Any, _TraceState] = weakref.WeakKeyDictionary()
_global_state = _TraceState(REGISTRY)
_states_lock = threading.Lock()


def _state(trace: Any) -> _TraceState:
    if trace is None:
        return _global_state
    try:
        st = _states.get(trace)
    except TypeError:  # not weak-referenceable
        return _TraceState(getattr(trace, "registry", None) or REGISTRY)
    if st is None:
        with _states_lock:
            st = _states.get(trace)
            if st is None:
                st = _TraceState(getattr(trace, "registry", None) or REGISTRY)
                _states[trace] = st
    return st


# -- template cache ------------------------------------------------------------------------------

class _LRU:
    def __init__(self, size: int) -> None:
        self.size = size
        self.data: OrderedDict[Any, Any] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: Any, make: Callable[[], Any]) -> Any:
        with self.lock:
            v = self.data.get(key)
            if v is not None:
                self.data.move_to_end(key)
                return v
        v = make()
        with self.lock:
            self.data[key] = v
            if len(self.data) > self.size:
                self.data.popitem(last=False)
        return v


_templates = _LRU(4096)


def _template(key: tuple[Any, ...], fields: tuple[FieldSpec, ...], ptr: int, maps: Any) -> Template:
    return _templates.get(key, lambda: Template(fields, ptr, maps))


# -- FormatMessage -------------------------------------------------------------------------------

_INSERT = re.compile(r"%(?:(\d{1,2})(?:!([^!]*)!)?|(.))", re.DOTALL)
_PRINTF = re.compile(r"^([-+ #0]*\d*(?:\.\d+)?)(?:I64|I32|ll|l|h|w|hh)?([diouxXcsSeEfgG])$")


@lru_cache(maxsize=4096)
def _compile_message(template: str) -> tuple[tuple[str, int, str | None], ...]:
    """Split a message once: (literal text, insertion number or 0, printf format or None)."""
    parts: list[tuple[str, int, str | None]] = []
    pos = 0
    lit: list[str] = []
    for m in _INSERT.finditer(template):
        lit.append(template[pos:m.start()])
        pos = m.end()
        num, fmt, ch = m.group(1), m.group(2), m.group(3)
        if num is not None and int(num) > 0:
            parts.append(("".join(lit), int(num), fmt))
            lit = []
        elif num is not None or ch == "0":
            parts.append(("".join(lit), -1, None))
            return tuple(parts)
        else:
            lit.append({"n": "\n", "t": "\t", "r": "\r"}.get(ch, ch))
    lit.append(template[pos:])
    parts.append(("".join(lit), 0, None))
    return tuple(parts)


def format_message(template: str, values: list[Value | None]) -> str:
    """FormatMessage rules: %1…%99 insert the n-th top-level field (``%1!x!`` printf-formats it),
    %% is %, %n a line break, %t a tab, %0 ends the text, %. %! %space escape themselves."""
    out: list[str] = []
    n = len(values)
    for lit, k, fmt in _compile_message(template):
        out.append(lit)
        if k > 0 and k <= n:
            v = values[k - 1]
            if v is not None:
                out.append(_printf(v, fmt) if fmt else v.text)
        elif k < 0:
            break
    return "".join(out)


def _printf(v: Value, fmt: str) -> str:
    m = _PRINTF.match(fmt)
    if m is None:
        return v.text
    flags, conv = m.group(1), m.group(2)
    value = v.value
    try:
        if conv in "diouxX" and isinstance(value, int):
            c = "d" if conv in "iu" else conv
            return ("%" + flags + c) % value
        if conv in "eEfgG" and isinstance(value, (int, float)):
            return ("%" + flags + conv) % value
        if conv == "c" and isinstance(value, int):
            return chr(value)
    except (ValueError, OverflowError):
        pass
    return ("%" + flags + "s") % v.text


def _one_line(text: str) -> str:
    return " ".join(text.split())


# -- field trees ---------------------------------------------------------------------------------

def _resolve_defs(st: _TraceState, key: tuple[Any, ...], prefix: str, specs: tuple[FieldSpec, ...],
                  origin: str, maps: Any, define_missing: bool, meta: dict[str, object] | None) -> dict[Any, FieldDef | None]:
    """Registry names of a template's fields, by ``id`` of the specs its values carry.

    ``specs`` must be the template's own (``Template.fields``): a template rebuilt after its
    cache entry was evicted (or a TraceLogging schema parsed again) has new spec objects, and the
    table is made again for them.
    """
    got = st.defs.get(key)
    if got is not None and got[0] is specs:
        return got[1]
    with st.lock:
        got = st.defs.get(key)
        if got is not None and got[0] is specs:
            return got[1]
        reg = st.registry
        if define_missing:
            register_fields(reg, prefix, specs, origin, maps, meta)
        table: dict[Any, FieldDef | None] = {}

        def walk(base: str, ss: tuple[FieldSpec, ...]) -> None:
            for s in ss:
                name = f"{base}.{ident(s.name)}"
                fdef = reg.get(name)
                table[id(s)] = fdef if fdef is not None and fdef.type is field_type(s) else None
                if is_ntstatus(s):
                    table[(id(s), "LENTStatus")] = reg.get(f"{name}.LENTStatus")
                    for part, *_ in NTSTATUS_PARTS:
                        table[(id(s), part)] = reg.get(f"{name}.LENTStatus.{part}")
                if s.fields:
                    walk(name, s.fields)

        walk(prefix, specs)
        st.defs[key] = (specs, table)
        return table


def _fields(values: list[Value], defs: dict[Any, FieldDef | None], base: int) -> list[Field]:
    out = []
    for v in values:
        out.append(_field(v, defs, base))
    return out


def _field(v: Value, defs: dict[Any, FieldDef | None], base: int) -> Field:
    spec = v.spec
    start = base + v.start
    if spec.count is not None and v.children is not None and not isinstance(v.value, str):
        node = Field(None, len(v.children), v.display, start, v.length, spec.name)
        for c in v.children:
            child = _element(c, defs, base)
            child.label = f"{spec.name}[{c.index}]"
            node.children.append(child)
        return node
    return _element(v, defs, base)


def _element(v: Value, defs: dict[Any, FieldDef | None], base: int) -> Field:
    spec = v.spec
    # a value that could not be read (an invalid SYSTEMTIME) is shown but kept away from filters
    fdef = defs.get(id(spec)) if v.value is not None else None
    if spec.type == "Struct":
        f = Field(fdef, True, v.display or spec.name, base + v.start, v.length, spec.name)
        f.children = _fields(v.children or [], defs, base)
        return f
    f = Field(fdef, v.value, v.display, base + v.start, v.length, spec.name)
    if isinstance(v.value, int) and is_ntstatus(spec):
        value = v.value & 0xFFFFFFFF
        parts = Field(defs.get((id(spec), "LENTStatus")), True, f"0x{value:08X}", f.start, f.length, "LENTStatus")
        for part, shift, bits, _ in NTSTATUS_PARTS:
            x = (value >> shift) & ((1 << bits) - 1)
            parts.children.append(Field(defs.get((id(spec), part)), x, f"0x{x:X}" if part == "Code" else str(x),
                                        f.start, f.length, part))
        f.children.append(parts)
    return f


# -- PktMon components -----------------------------------------------------------------------------

def _provider_code(trace: Any, guid: uuid.UUID) -> int | None:
    for code, p in enumerate(getattr(trace, "providers", ()) or ()):
        g = getattr(p, "guid", "")
        if not g:
            continue
        try:
            if uuid.UUID(str(g).strip("{}")) == guid:
                return code
        except ValueError:
            continue
    return None


def pktmon_components(trace: Any) -> dict[int, PktMonComponent]:
    """Component id → name and description, from the trace's component-info events (20, 270, 280).

    Built once per trace on first use, from the index columns and ``trace.reader.record(i)``;
    while the scan is still running the partial table is returned and not kept.
    """
    if trace is None:
        return {}
    st = _state(trace)
    if st.components is not None:
        return st.components
    with st.components_lock:
        if st.components is not None:
            return st.components
        # whether the scan is over must be known before the rows are counted: a scan that ends
        # while the table is built leaves a table of the rows seen so far, not of all of them
        complete = getattr(trace, "complete", None)
        done = complete is None or complete.is_set()
        index = getattr(trace, "index", None)
        rows_now = len(index) if index is not None else 0
        if not done and st.partial is not None and st.partial[0] == rows_now:
            return st.partial[1]
        table = _component_table(trace, index)
        if done:
            st.components, st.partial = table, None
        else:  # still scanning: keep it until more rows arrive
            st.partial = (rows_now, table)
        return table


def _component_table(trace: Any, index: Any) -> dict[int, PktMonComponent]:
    table: dict[int, PktMonComponent] = {}
    reader = getattr(trace, "reader", None)
    code = _provider_code(trace, PKTMON_GUID)
    if reader is not None and index is not None and code is not None and hasattr(reader, "record"):
        import numpy as np

        try:
            rows = np.nonzero((index.provider == code) & np.isin(index.event_id, PKTMON_COMPONENT_EVENTS))[0]
        except (AttributeError, ValueError):
            rows = ()
        schema = STORE.get(PKTMON_GUID)
        for row in list(rows)[:MAX_COMPONENT_EVENTS]:
            try:
                rec = reader.record(int(row))
            except (TraceError, ValueError, IndexError, OSError):  # a damaged record: skip it, keep the others
                rec = None
            comp = _component_from(rec, schema) if rec is not None else None
            if comp is not None:
                table.setdefault(comp.id, comp)
    return table


def _component_from(rec: EventRecord, schema: ProviderSchema | None) -> PktMonComponent | None:
    # the rows were chosen from index columns that the end of the scan may have reordered since
    if schema is None or rec.provider != PKTMON_GUID or rec.event_id not in PKTMON_COMPONENT_EVENTS:
        return None
    ev = schema.event(rec.event_id, rec.version)
    if ev is None:
        return None
    d = _template(("pktmon-comp", rec.event_id, ev.version, rec.pointer_size, STORE.generation), ev.fields, rec.pointer_size,
                  schema.maps).decode(bytes(rec.payload))
    vals = d.by_name()
    cid, typ = vals.get("Id"), vals.get("Type")
    if cid is None or not isinstance(cid.value, int):
        return None
    return PktMonComponent(cid.value, typ.value if typ is not None else 0, typ.text if typ is not None else "",
                           str(vals["Name"].value) if "Name" in vals else "",
                           str(vals["Description"].value) if "Description" in vals else "")


def _pktmon_hook(trace: Any) -> Callable[[FieldSpec, Any], str | None] | None:
    if trace is None:
        return None

    def hook(spec: FieldSpec, value: Any) -> str | None:
        if spec.name != "ComponentId" or not isinstance(value, int):
            return None
        comp = pktmon_components(trace).get(value)
        return comp.label() if comp is not None else None

    return hook


# -- decoding --------------------------------------------------------------------------------------

def _names_for(schema: ProviderSchema | None, rec: EventRecord, ev: EventSchema | None) -> tuple[
        str | None, str | None, str | None, list[str]]:
    if schema is None:
        from .schema import STANDARD_LEVELS, STANDARD_OPCODES

        return None, STANDARD_OPCODES.get(rec.opcode), STANDARD_LEVELS.get(rec.level), []
    key = (schema.guid, STORE.generation, rec.task, rec.opcode, rec.level, rec.keyword)
    got = _names_cache.get(key)
    if got is None:
        got = (schema.task_name(rec.task), schema.opcode_name(rec.task, rec.opcode), schema.level_name(rec.level),
               schema.keyword_names(rec.keyword))
        if len(_names_cache) > 65536:
            _names_cache.clear()
        _names_cache[key] = got
    return got[0], got[1], got[2], list(got[3])


_names_cache: dict[tuple[Any, ...], tuple[str | None, str | None, str | None, list[str]]] = {}


def _payload_field(rec: EventRecord, label: str = "UserData") -> Field:
    data = bytes(rec.payload)
    return Field(None, data, binary_display(data) if data else "(empty)", rec.payload_offset, len(data), label)


def decode_event(rec: EventRecord, trace: Any = None) -> DecodedEvent:
    """Decode one event record.  ``trace`` (optional) gives the registry overlay and per-trace data."""
    st = _state(trace)
    ensure_registered(REGISTRY)
    if st.generation != STORE.generation:
        with st.lock:
            if st.generation != STORE.generation:
                register_user_schemas(st.registry)
                st.generation = STORE.generation
    if rec.provider is None:
        return _generic(rec, st, "", "NetEvent", None)
    raw_meta = tl.extended_data(rec, tl.EXT_EVENT_SCHEMA_TL) if rec.extended else None
    if raw_meta is not None:
        return _decode_tracelogging(rec, st, raw_meta)
    schema = STORE.get(rec.provider)
    if schema is None:
        name, proto = provider_names(rec.provider, rec)
        return _generic(rec, st, name, proto, None)
    return _decode_manifest(rec, st, schema, trace)


def _protocol_def(st: _TraceState, proto: str, provider_name: str, guid: uuid.UUID | None) -> FieldDef:
    reg = st.registry
    fdef = reg.get(proto)
    if fdef is None:
        fdef = define(reg, proto, FieldType.PROTOCOL, f"ETW provider {provider_name}", origin=f"etw:{provider_name}",
                      meta={"provider": str(guid)} if guid is not None else None)
        if provider_name:
            alias = registration_name(provider_name)
            if alias.lower() != proto.lower() and reg.get(alias) is None:
                reg.alias(alias, proto)
    if fdef is None or fdef.type is not FieldType.PROTOCOL:  # an odd name clash: a private def
        fdef = FieldDef(proto, FieldType.PROTOCOL, f"ETW provider {provider_name}", origin=f"etw:{provider_name}")
    return fdef


def _generic(rec: EventRecord, st: _TraceState, provider_name: str, proto: str, schema: ProviderSchema | None,
             problems: list[str] | None = None) -> DecodedEvent:
    task, opcode, level, kws = _names_for(schema, rec, None)
    pdef = _protocol_def(st, proto, provider_name, rec.provider)
    if rec.family == "event":
        summary = f"Event {rec.event_id}"
    elif rec.hook_id:  # kernel (system/perfinfo) records: the hook names the event
        summary = f"Hook 0x{rec.hook_id:04X}, Opcode {rec.opcode}"
    else:  # classic (MOF) and WPP records: event type in the opcode
        summary = f"Opcode {rec.opcode}"
    fields = [_payload_field(rec)]
    if rec.family == "system" and rec.hook_id == 0 and rec.provider == GROUP_GUIDS[0]:
        header = header_fields(bytes(rec.payload), rec.payload_offset, rec.pointer_size)
        if header is not None:  # the log header event: TRACE_LOGFILE_HEADER field by field
            summary, fields = header
    layer = Layer(pdef, summary, rec.payload_offset, len(rec.payload), fields,
                  label=registration_name(provider_name) if provider_name else proto)
    return DecodedEvent(proto, provider_name, None, False, task, opcode, level, kws, None, f"{proto}:{summary}",
                        [layer], f"Event_{rec.event_id}", "", None, {}, problems or [])


def _event_layer(rec: EventRecord, pdef: FieldDef, edef: FieldDef | None, node: str, label: str, summary: str,
                 decoded: Decoded, defs: dict[Any, FieldDef | None], problems: list[str]) -> Layer:
    base = rec.payload_offset
    payload_len = len(rec.payload)
    ev_field = Field(edef, True, summary, base, payload_len, node)
    ev_field.children = _fields(decoded.values, defs, base)
    rest = bytes(rec.payload[decoded.end:]) if decoded.end < payload_len else b""
    if decoded.stopped is not None:
        problems.append(decoded.stopped)
        if rest:  # the start of the field that did not fit
            ev_field.children.append(Field(None, rest, binary_display(rest), base + decoded.end, len(rest),
                                           f"{decoded.missing[0].name} (partial, {len(rest)} bytes)"))
        for spec in decoded.missing:
            ev_field.children.append(Field(None, None, f"(missing: {decoded.missing_note})", -1, 0, spec.name))
    elif rest:
        ev_field.children.append(Field(None, rest, binary_display(rest), base + decoded.end, len(rest),
                                       f"Trailing data ({len(rest)} bytes)"))
    return Layer(pdef, summary, base, payload_len, [ev_field], label=label)


def _decode_manifest(rec: EventRecord, st: _TraceState, schema: ProviderSchema, trace: Any) -> DecodedEvent:
    proto = schema_protocol(schema)
    provider_name = schema.name
    reg = st.registry
    ev = schema.event(rec.event_id, rec.version)
    if ev is None:
        return _generic(rec, st, provider_name, proto, schema,
                        [f"no schema for event {rec.event_id} of {provider_name}"])
    problems: list[str] = []
    if ev.version != rec.version:
        problems.append(f"no schema for version {rec.version}; decoded with version {ev.version}")
    node = event_node(ev)
    key = (schema.guid, ev.id, ev.version, rec.pointer_size, STORE.generation)
    nodes = st.nodes.get(key)
    if nodes is None:
        pdef = _protocol_def(st, proto, provider_name, schema.guid)
        edef = reg.get(f"{proto}.{node}")
        if edef is None or edef.type is not FieldType.PROTOCOL:
            edef = define(reg, f"{proto}.{node}", FieldType.PROTOCOL, f"event {ev.id} v{ev.version}",
                          inferred=ev.symbol is None or ev.symbol_inferred, origin=f"etw:{provider_name}",
                          meta={"provider": str(schema.guid), "event_id": ev.id, "version": ev.version})
        nodes = st.nodes[key] = (pdef, edef)
    pdef, edef = nodes
    template = _template(key, ev.fields, rec.pointer_size, schema.maps)
    hook = _pktmon_hook(trace) if schema.guid == PKTMON_GUID else None
    decoded = template.decode(bytes(rec.payload), hook=hook)
    defs = _resolve_defs(st, key, f"{proto}.{node}", template.fields, f"etw:{provider_name}", schema.maps,
                         schema.origin != "bundled", None)
    values = decoded.values
    message = None
    if ev.message:
        by_pos: list[Value | None] = list(values) + [None] * (len(ev.fields) - len(values))
        message = format_message(ev.message, by_pos)
    summary = _one_line(message) if message else (ev.symbol or f"Event {ev.id}")
    layer = _event_layer(rec, pdef, edef, node, registration_name(provider_name), summary, decoded, defs, problems)
    task, opcode, level, kws = _names_for(schema, rec, ev)
    return DecodedEvent(proto, provider_name, ev.symbol, ev.symbol_inferred, task, opcode, level, kws, message,
                        f"{proto}:{summary}", [layer], node, schema.origin, ev.version,
                        {v.spec.name: v.value for v in values}, problems)


def _decode_tracelogging(rec: EventRecord, st: _TraceState, raw_meta: bytes) -> DecodedEvent:
    """A TraceLogging event: ``raw_meta`` is its EVENT_SCHEMA_TL item (parsed once per distinct bytes)."""
    traits = tl.provider_traits(rec)
    if traits is not None and traits.name:
        provider_name, proto = traits.name, protocol_for(traits.name)
    else:
        provider_name, proto = provider_names(rec.provider)
    try:
        meta = tl.parse_event_metadata(raw_meta)
    except ValueError as e:
        return _generic(rec, st, provider_name, proto, None, [f"damaged TraceLogging metadata: {e}"])
    reg = st.registry
    node = ident(meta.name) if meta.name else f"Event_{rec.event_id}"
    pdef = _protocol_def(st, proto, provider_name, rec.provider)
    guid = str(rec.provider) if rec.provider is not None else ""
    edef = reg.get(f"{proto}.{node}")
    if edef is None or edef.type is not FieldType.PROTOCOL:
        edef = define(reg, f"{proto}.{node}", FieldType.PROTOCOL, "TraceLogging event", origin=f"etw:{provider_name}",
                      meta={"provider": guid, "tracelogging": True})
    key = ("tl", raw_meta, rec.pointer_size)
    template = _template(key, meta.fields, rec.pointer_size, None)
    decoded = template.decode(bytes(rec.payload))
    defs = _resolve_defs(st, (proto, *key), f"{proto}.{node}", template.fields, f"etw:{provider_name}", None, True,
                         {"provider": guid, "tracelogging": True})
    problems: list[str] = []
    summary = meta.name or f"Event {rec.event_id}"
    layer = _event_layer(rec, pdef, edef, node, registration_name(provider_name), summary, decoded, defs, problems)
    from .schema import STANDARD_LEVELS, STANDARD_OPCODES

    return DecodedEvent(proto, provider_name, meta.name or None, False, None, STANDARD_OPCODES.get(rec.opcode),
                        STANDARD_LEVELS.get(rec.level), [], None, f"{proto}:{summary}", [layer], node, "tracelogging",
                        None, {v.spec.name: v.value for v in decoded.values}, problems)
