"""Our own model of ETW event schemas, the bundled schema files and the user's overrides.

One ``ProviderSchema`` per provider GUID: events keyed by (id, version) with their field
templates, value/bit maps and the task, opcode, level, keyword and channel names.  Three sources
fill it: the JSON files under ``schemas/`` (generated once by ``build_schemas.py`` from the facts
in the shared manifests folder, committed, read lazily at run time), instrumentation-manifest XML
the user supplies (``manifest.py``; overrides the bundled schema of its provider) and symbol map
files (``symbols.py``; id → symbol).  TraceLogging events carry their own schema
(``tracelogging.py``) and never come through here.

Field types use the winmeta names without the ``win:`` prefix (``UInt32``, ``UnicodeString``,
``CountedBinary`` …); ``out`` holds a display hint (``IPv4``, ``Port``, ``Hex``, ``MAC`` …).
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

from ..fields import FieldType
from . import user_manifest_dir

FORMAT_VERSION = 1

#: fixed sizes of the scalar in-types; Pointer is 4 or 8 by the event's header type
SCALAR_SIZE: dict[str, int] = {
    "Int8": 1, "UInt8": 1, "Int16": 2, "UInt16": 2, "Int32": 4, "UInt32": 4, "HexInt32": 4,
    "Int64": 8, "UInt64": 8, "HexInt64": 8, "Float": 4, "Double": 8, "Boolean": 4, "GUID": 16,
    "FILETIME": 8, "SYSTEMTIME": 16, "Pointer": 0,
}
#: variable-size in-types
VARIABLE_TYPES = frozenset({
    "UnicodeString", "AnsiString", "Binary", "SID", "CountedUnicodeString", "CountedAnsiString",
    "CountedBinary", "Struct",
})
IN_TYPES = frozenset(SCALAR_SIZE) | VARIABLE_TYPES
SIGNED = frozenset({"Int8", "Int16", "Int32", "Int64"})

#: TDH / TraceLogging in-type codes (evntcons.h TDH_IN_TYPE; TraceLoggingProvider.h TlgIn*)
IN_TYPE_CODES: dict[int, str] = {
    1: "UnicodeString", 2: "AnsiString", 3: "Int8", 4: "UInt8", 5: "Int16", 6: "UInt16", 7: "Int32",
    8: "UInt32", 9: "Int64", 10: "UInt64", 11: "Float", 12: "Double", 13: "Boolean", 14: "Binary",
    15: "GUID", 16: "Pointer", 17: "FILETIME", 18: "SYSTEMTIME", 19: "SID", 20: "HexInt32",
    21: "HexInt64", 22: "CountedUnicodeString", 23: "CountedAnsiString", 24: "Struct", 25: "CountedBinary",
}

#: manifest outType names (``xs:``/``win:`` prefix dropped) → our display hints
OUT_TYPE_NAMES: dict[str, str] = {
    "string": "String", "datetime": "DateTime", "byte": "Signed", "unsignedbyte": "Unsigned",
    "short": "Signed", "unsignedshort": "Unsigned", "int": "Signed", "unsignedint": "Unsigned",
    "long": "Signed", "unsignedlong": "Unsigned", "float": "", "double": "", "boolean": "Boolean",
    "guid": "", "hexbinary": "Hex", "hexint8": "Hex", "hexint16": "Hex", "hexint32": "Hex",
    "hexint64": "Hex", "pid": "PID", "tid": "TID", "port": "Port", "ipv4": "IPv4", "ipv6": "IPv6",
    "socketaddress": "SocketAddress", "cimdatetime": "DateTime", "etwtime": "DateTime", "xml": "Xml",
    "errorcode": "Win32Error", "win32error": "Win32Error", "ntstatus": "NTSTATUS", "hresult": "HResult",
    "datetimecultureinsensitive": "DateTime", "json": "Json", "utf8": "Utf8", "pkcs7withtypeinfo": "Hex",
    "codepointer": "CodePointer", "datetimeutc": "DateTime",
}

#: winmeta.xml standard names (levels, opcodes) used when a schema does not name them itself
STANDARD_LEVELS: dict[int, str] = {
    0: "LogAlways", 1: "Critical", 2: "Error", 3: "Warning", 4: "Information", 5: "Verbose",
}
STANDARD_OPCODES: dict[int, str] = {
    0: "Info", 1: "Start", 2: "Stop", 3: "DC_Start", 4: "DC_Stop", 5: "Extension", 6: "Reply",
    7: "Resume", 8: "Suspend", 9: "Send", 240: "Receive",
}


@dataclass(slots=True, frozen=True)
class FieldSpec:
    """One ``<data>`` or ``<struct>`` of a template.

    ``length``: characters for strings, bytes for binary; an int or the name of an earlier field.
    ``count``: array element count; an int, an earlier field's name, or ``"*"`` (a u16 count
    precedes the elements in the payload — TraceLogging variable arrays).
    """

    name: str
    type: str
    out: str = ""
    map: str | None = None
    length: int | str | None = None
    count: int | str | None = None
    fields: tuple[FieldSpec, ...] = ()
    note: str = ""


@dataclass(slots=True, frozen=True)
class ValueMap:
    """A manifest ``<valueMap>`` (exact value → name) or ``<bitMap>`` (OR of bit names)."""

    name: str
    bitmap: bool
    entries: Mapping[int, str]

    def text(self, value: int) -> str | None:
        if not self.bitmap:
            return self.entries.get(value)
        if value == 0:
            return self.entries.get(0)
        names = [n for bit, n in sorted(self.entries.items()) if bit and value & bit == bit]
        rest = value
        for bit in self.entries:
            if bit and value & bit == bit:
                rest &= ~bit
        if rest:
            names.append(f"0x{rest:X}")
        return "|".join(names) if names else None


@dataclass(slots=True, frozen=True)
class EventSchema:
    """One event definition: descriptor facts, message and template."""

    id: int
    version: int = 0
    symbol: str | None = None
    #: "manifest" (a real symbol= attribute), "symbols" (a user's symbol map), "npl" (Microsoft's
    #: Netmon parser), "dump" (synthesised by the dumping tool), "inferred" (our inference)
    symbol_origin: str = ""
    task: int = 0
    opcode: int = 0
    level: int = 0
    keywords: int = 0
    channel: int = 0
    message: str | None = None
    fields: tuple[FieldSpec, ...] = ()
    note: str = ""

    @property
    def symbol_inferred(self) -> bool:
        return self.symbol is not None and self.symbol_origin in ("dump", "inferred")


@dataclass(slots=True)
class ProviderSchema:
    name: str
    guid: uuid.UUID
    events: dict[tuple[int, int], EventSchema] = field(default_factory=dict)
    maps: dict[str, ValueMap] = field(default_factory=dict)
    tasks: dict[int, str] = field(default_factory=dict)
    #: (task, opcode) → name; task 0 holds the provider-wide opcodes
    opcodes: dict[tuple[int, int], str] = field(default_factory=dict)
    levels: dict[int, str] = field(default_factory=dict)
    keywords: dict[int, str] = field(default_factory=dict)
    channels: dict[int, str] = field(default_factory=dict)
    origin: str = "bundled"
    sources: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    #: the Netmon protocol prefix when the schema knows it (else naming.py decides)
    prefix: str | None = None
    #: (id, version) → the definition ``event()`` fell back to (None: the id is unknown); not an
    #: init field, so ``dataclasses.replace`` (the store's merged copies) starts an empty one
    _fallback: dict[tuple[int, int], EventSchema | None] = field(default_factory=dict, init=False, repr=False,
                                                                   compare=False)

    def event(self, event_id: int, version: int) -> EventSchema | None:
        """The definition for (id, version); else the nearest other version of the id.

        Newer builds append fields without a new version or add versions we do not know; the
        decoder stops cleanly at the end of the payload and shows leftovers, so the nearest
        known layout is more useful than nothing.  ``EventSchema.version`` tells which was used.
        """
        ev = self.events.get((event_id, version))
        if ev is not None:
            return ev
        key = (event_id, version)
        if key in self._fallback:
            return self._fallback[key]
        known = self.versions(event_id)
        if known:
            lower = [v for v in known if v <= version]
            ev = self.events[(event_id, lower[-1] if lower else known[0])]
        if len(self._fallback) < 65536:
            self._fallback[key] = ev
        return ev

    def versions(self, event_id: int) -> list[int]:
        return sorted(v for (eid, v) in self.events if eid == event_id)

    def task_name(self, task: int) -> str | None:
        return self.tasks.get(task)

    def opcode_name(self, task: int, opcode: int) -> str | None:
        return self.opcodes.get((task, opcode)) or self.opcodes.get((0, opcode)) or STANDARD_OPCODES.get(opcode)

    def level_name(self, level: int) -> str | None:
        return self.levels.get(level) or STANDARD_LEVELS.get(level)

    def keyword_names(self, keyword: int) -> list[str]:
        return [name for mask, name in sorted(self.keywords.items()) if mask and keyword & mask == mask]


# -- field types in the registry ---------------------------------------------------------------

_INT_TYPES = {"Int8", "Int16", "Int32", "Int64"}
_UINT_TYPES = {"UInt8", "UInt16", "UInt32", "UInt64", "HexInt32", "HexInt64", "Pointer"}
_STRING_TYPES = {"UnicodeString", "AnsiString", "CountedUnicodeString", "CountedAnsiString", "SID"}


def field_type(spec: FieldSpec) -> FieldType:
    """The registry type of a field's values (per element for arrays)."""
    t, out = spec.type, spec.out
    if t == "Struct":
        return FieldType.PROTOCOL
    if out == "IPv4" and t in ("UInt32", "HexInt32", "Int32"):
        return FieldType.IPV4
    if out == "IPv6" and t in ("Binary", "CountedBinary"):
        return FieldType.IPV6
    if out == "MAC" and t in ("Binary", "CountedBinary"):
        return FieldType.MAC
    if out == "SocketAddress":
        return FieldType.STRING
    if out == "String" and t in ("UInt8", "UInt16") and spec.count is not None:
        return FieldType.STRING  # a char array shown as text (TraceLogging)
    if t in _INT_TYPES:
        return FieldType.INT
    if t in _UINT_TYPES:
        return FieldType.BOOL if out == "Boolean" else FieldType.UINT
    if t == "Boolean":
        return FieldType.BOOL
    if t in ("Float", "Double"):
        return FieldType.FLOAT
    if t == "GUID":
        return FieldType.GUID
    if t in ("FILETIME", "SYSTEMTIME"):
        return FieldType.TIME
    if t in _STRING_TYPES:
        return FieldType.STRING
    return FieldType.BYTES


# -- JSON form (our bundled format) -------------------------------------------------------------

def _spec_to_json(s: FieldSpec) -> dict[str, Any]:
    d: dict[str, Any] = {"name": s.name, "type": s.type}
    if s.out:
        d["out"] = s.out
    if s.map:
        d["map"] = s.map
    if s.length is not None:
        d["length"] = s.length
    if s.count is not None:
        d["count"] = s.count
    if s.fields:
        d["fields"] = [_spec_to_json(m) for m in s.fields]
    if s.note:
        d["note"] = s.note
    return d


def _spec_from_json(d: Mapping[str, Any]) -> FieldSpec:
    return FieldSpec(
        str(d["name"]), str(d["type"]), str(d.get("out", "")), d.get("map"), d.get("length"), d.get("count"),
        tuple(_spec_from_json(m) for m in d.get("fields", ())), str(d.get("note", "")),
    )


def provider_to_json(p: ProviderSchema) -> dict[str, Any]:
    """Serialise with shared templates (identical field lists are written once)."""
    templates: dict[str, list[dict[str, Any]]] = {}
    by_key: dict[str, str] = {}
    events = []
    for (eid, ver), ev in sorted(p.events.items()):
        e: dict[str, Any] = {"id": eid, "version": ver}
        if ev.symbol:
            e["symbol"] = ev.symbol
            e["symbol_origin"] = ev.symbol_origin
        for k in ("task", "opcode", "level", "channel"):
            v = getattr(ev, k)
            if v:
                e[k] = v
        if ev.keywords:
            e["keywords"] = f"0x{ev.keywords:X}"
        if ev.message is not None:
            e["message"] = ev.message
        if ev.fields:
            body = [_spec_to_json(s) for s in ev.fields]
            key = json.dumps(body, sort_keys=True)
            tid = by_key.get(key)
            if tid is None:
                tid = f"t{len(templates)}"
                by_key[key] = tid
                templates[tid] = body
            e["template"] = tid
        if ev.note:
            e["note"] = ev.note
        events.append(e)
    return {
        "format": FORMAT_VERSION,
        "name": p.name,
        "guid": str(p.guid),
        **({"prefix": p.prefix} if p.prefix else {}),
        "sources": list(p.sources),
        "notes": list(p.notes),
        "levels": {str(k): v for k, v in sorted(p.levels.items())},
        "tasks": {str(k): v for k, v in sorted(p.tasks.items())},
        "opcodes": {f"{t}/{o}": v for (t, o), v in sorted(p.opcodes.items())},
        "keywords": {f"0x{k:X}": v for k, v in sorted(p.keywords.items())},
        "channels": {str(k): v for k, v in sorted(p.channels.items())},
        "maps": {
            name: {"bitmap": m.bitmap, "entries": {str(k): v for k, v in sorted(m.entries.items())}}
            for name, m in sorted(p.maps.items())
        },
        "templates": templates,
        "events": events,
    }


def provider_from_json(d: Mapping[str, Any], origin: str = "bundled") -> ProviderSchema:
    if d.get("format") != FORMAT_VERSION:
        raise ValueError(f"schema format {d.get('format')!r} is not {FORMAT_VERSION}")
    templates = {tid: tuple(_spec_from_json(s) for s in body) for tid, body in d.get("templates", {}).items()}
    p = ProviderSchema(str(d["name"]), uuid.UUID(str(d["guid"])), origin=origin,
                       sources=tuple(d.get("sources", ())), notes=tuple(d.get("notes", ())),
                       prefix=d.get("prefix"))
    p.levels = {int(k): v for k, v in d.get("levels", {}).items()}
    p.tasks = {int(k): v for k, v in d.get("tasks", {}).items()}
    for k, v in d.get("opcodes", {}).items():
        t, _, o = k.partition("/")
        p.opcodes[(int(t), int(o))] = v
    p.keywords = {int(k, 16): v for k, v in d.get("keywords", {}).items()}
    p.channels = {int(k): v for k, v in d.get("channels", {}).items()}
    p.maps = {name: ValueMap(name, bool(m["bitmap"]), {int(k): v for k, v in m["entries"].items()})
              for name, m in d.get("maps", {}).items()}
    for e in d.get("events", ()):
        tid = e.get("template")
        ev = EventSchema(
            int(e["id"]), int(e.get("version", 0)), e.get("symbol"), str(e.get("symbol_origin", "")),
            int(e.get("task", 0)), int(e.get("opcode", 0)), int(e.get("level", 0)),
            int(str(e.get("keywords", "0")), 16), int(e.get("channel", 0)), e.get("message"),
            templates[tid] if tid else (), str(e.get("note", "")),
        )
        p.events[(ev.id, ev.version)] = ev
    return p


# -- the store: bundled schemas, user overrides, symbol maps ------------------------------------

@dataclass(slots=True)
class _BundledEntry:
    name: str
    file: str
    prefix: str | None


class SchemaStore:
    """Provider schemas by GUID: user manifests over the bundled files, plus symbol overrides.

    Thread-safe; bundled files are parsed on first use of their provider.  ``generation`` grows
    with every change so callers can key caches on it.
    """

    def __init__(self, bundled_dir: Path | None = None) -> None:
        self._dir = bundled_dir
        self._index: dict[uuid.UUID, _BundledEntry] | None = None
        self._bundled: dict[uuid.UUID, ProviderSchema | None] = {}
        self._user: dict[uuid.UUID, ProviderSchema] = {}
        #: guid → {(id, version|None): symbol}
        self._symbols: dict[uuid.UUID, dict[tuple[int, int | None], str]] = {}
        self._merged: dict[uuid.UUID, ProviderSchema | None] = {}
        self._lock = threading.RLock()
        self.generation = 0

    # bundled ------------------------------------------------------------------------------
    def _read_text(self, name: str) -> str:
        if self._dir is not None:
            return (self._dir / name).read_text(encoding="utf-8")
        return resources.files(__package__).joinpath("schemas", name).read_text(encoding="utf-8")

    def index(self) -> dict[uuid.UUID, _BundledEntry]:
        with self._lock:
            if self._index is None:
                try:
                    data = json.loads(self._read_text("index.json"))
                except (FileNotFoundError, OSError):
                    data = {"providers": []}
                self._index = {
                    uuid.UUID(p["guid"]): _BundledEntry(p["name"], p["file"], p.get("prefix"))
                    for p in data.get("providers", ())
                }
            return self._index

    def bundled_guids(self) -> list[uuid.UUID]:
        return list(self.index())

    def bundled(self, guid: uuid.UUID) -> ProviderSchema | None:
        with self._lock:
            if guid in self._bundled:
                return self._bundled[guid]
            entry = self.index().get(guid)
            schema = None
            if entry is not None:
                schema = provider_from_json(json.loads(self._read_text(entry.file)))
            self._bundled[guid] = schema
            return schema

    def bundled_name(self, guid: uuid.UUID) -> tuple[str, str | None] | None:
        entry = self.index().get(guid)
        return (entry.name, entry.prefix) if entry is not None else None

    # user ---------------------------------------------------------------------------------
    def add_user(self, schema: ProviderSchema) -> None:
        """A user manifest replaces the bundled schema of its provider (symbols carry over)."""
        with self._lock:
            old = self._user.get(schema.guid)
            if old is not None:  # a second file for the same provider adds to the first
                merged = replace(old, events={**old.events, **schema.events}, maps={**old.maps, **schema.maps},
                                 tasks={**old.tasks, **schema.tasks}, opcodes={**old.opcodes, **schema.opcodes},
                                 levels={**old.levels, **schema.levels}, keywords={**old.keywords, **schema.keywords},
                                 channels={**old.channels, **schema.channels},
                                 sources=old.sources + schema.sources)
                schema = merged
            self._user[schema.guid] = schema
            self._merged.pop(schema.guid, None)
            self.generation += 1

    def add_symbols(self, guid: uuid.UUID, symbols: Mapping[tuple[int, int | None], str]) -> None:
        with self._lock:
            self._symbols.setdefault(guid, {}).update(symbols)
            self._merged.pop(guid, None)
            self.generation += 1

    def user_guids(self) -> list[uuid.UUID]:
        with self._lock:
            return list(self._user)

    def symbol_guids(self) -> list[uuid.UUID]:
        with self._lock:
            return [g for g in self._symbols if g not in self._user]

    def clear_user(self) -> None:
        with self._lock:
            self._user.clear()
            self._symbols.clear()
            self._merged.clear()
            self.generation += 1

    # lookup -------------------------------------------------------------------------------
    def get(self, guid: uuid.UUID) -> ProviderSchema | None:
        with self._lock:
            if guid in self._merged:
                return self._merged[guid]
            schema = self._merge(guid)
            self._merged[guid] = schema
            return schema

    def _merge(self, guid: uuid.UUID) -> ProviderSchema | None:
        bundled = self.bundled(guid)
        user = self._user.get(guid)
        symbols = self._symbols.get(guid)
        if user is None and not symbols:
            return bundled
        if user is None:
            if bundled is None:
                return None
            base = replace(bundled, events=dict(bundled.events))
        else:
            base = replace(user, events=dict(user.events))
            if bundled is not None:
                # a wevtutil dump has no symbols: keep ours (inferred or from a dump) for its ids
                for key, ev in list(base.events.items()):
                    if ev.symbol:
                        continue
                    known = bundled.events.get(key) or bundled.event(key[0], key[1])
                    if known is not None and known.symbol and known.id == ev.id:
                        base.events[key] = replace(ev, symbol=known.symbol, symbol_origin=known.symbol_origin)
                if base.prefix is None:
                    base.prefix = bundled.prefix
        if symbols:
            for key, ev in list(base.events.items()):
                sym = symbols.get((ev.id, ev.version)) or symbols.get((ev.id, None))
                if sym:
                    base.events[key] = replace(ev, symbol=sym, symbol_origin="symbols")
            # ids the schema does not know still get a name (their payload stays hex)
            for (eid, ver), sym in symbols.items():
                if not any(k[0] == eid for k in base.events):
                    base.events[(eid, ver or 0)] = EventSchema(eid, ver or 0, sym, "symbols")
        return base

    def providers(self) -> Iterator[ProviderSchema]:
        """Every provider with a schema (bundled or user)."""
        seen = set()
        with self._lock:
            guids = [*self.index(), *self._user, *self._symbols]
        for guid in guids:
            if guid in seen:
                continue
            seen.add(guid)
            p = self.get(guid)
            if p is not None:
                yield p

    def find_by_name(self, name: str) -> uuid.UUID | None:
        low = name.lower()
        with self._lock:
            for guid, entry in self.index().items():
                if entry.name.lower() == low:
                    return guid
            for guid, p in self._user.items():
                if p.name.lower() == low:
                    return guid
        return None


#: the process-wide store (bundled schemas plus whatever the user loaded)
STORE = SchemaStore()


# -- user files -------------------------------------------------------------------------------

def load_user_schemas(paths: Iterable[Path | str], registry: Any = None, store: SchemaStore | None = None) -> list[str]:
    """Load manifest XML (``*.xml``) and symbol maps (``*.symbols.tsv``); folders are searched.

    Returns warnings (one line each, naming the file and what was wrong); a bad file never
    stops the others.  Names are registered into ``registry`` (a trace overlay or the global
    registry) so filters and completion see them.
    """
    from . import manifest, symbols
    from .naming import register_provider

    store = store or STORE
    warnings: list[str] = []
    files: list[Path] = []
    for raw in paths:
        p = Path(raw).expanduser()
        if p.is_dir():
            files.extend(sorted(x for x in p.iterdir() if x.suffix.lower() in (".xml", ".man")))
            files.extend(sorted(x for x in p.iterdir() if x.name.lower().endswith((".symbols.tsv", ".symbols.txt"))))
        elif p.exists():
            files.append(p)
        else:
            warnings.append(f"{p}: no such file")
    touched: set[uuid.UUID] = set()
    for f in files:
        try:
            if _looks_like_xml(f):
                loaded, warns = manifest.load_manifest(f)
                warnings.extend(warns)
                for schema in loaded:
                    store.add_user(schema)
                    touched.add(schema.guid)
            else:
                guid, table, warns = symbols.load_symbols(f, store)
                warnings.extend(warns)
                if guid is not None and table:
                    store.add_symbols(guid, table)
                    touched.add(guid)
        except (OSError, ValueError, UnicodeDecodeError) as e:
            warnings.append(f"{f}: {e}")
    if registry is not None:
        for guid in touched:
            schema = store.get(guid)
            if schema is not None:
                register_provider(registry, schema)
    return warnings


def _looks_like_xml(path: Path) -> bool:
    """Manifests are XML whatever their name (.xml, .man); symbol maps are text."""
    with path.open("rb") as f:
        head = f.read(512)
    for bom, enc in ((b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be"), (b"\xef\xbb\xbf", "utf-8")):
        if head.startswith(bom):
            head = head[len(bom):].decode(enc, "replace").encode("utf-8")
            break
    return head.lstrip().startswith(b"<")


def load_schemas(manifests: Iterable[Path | str] = (), symbols: Iterable[Path | str] = (),
                 registry: Any = None) -> list[str]:
    """The user's ETW manifests and symbol maps as every entry point loads them: the manifests
    folder under the user data dir, then the files given (``--manifest``/``--symbols``), all
    registered into the global registry (or ``registry``) so decoding, filters and completion
    see the same names whichever command opened the trace."""
    if registry is None:
        from ..fields import REGISTRY as registry
    warnings = load_default_user_schemas(registry)
    files = [*manifests, *symbols]
    if files:
        warnings += load_user_schemas(files, registry)
    return warnings


def load_default_user_schemas(registry: Any = None, store: SchemaStore | None = None) -> list[str]:
    """Load the manifests folder under the user data dir, if it exists."""
    folder = user_manifest_dir()
    if not folder.is_dir():
        return []
    return load_user_schemas([folder], registry, store)
