"""TraceLogging (self-describing) events: the schema an event carries in its extended data.

Extended item 11 (EVENT_SCHEMA_TL) holds the event metadata, item 12 (PROV_TRAITS) the provider
name and traits.  Grammar (microsoft/tracelogging ``TraceLoggingDynamic.h``, ``EventMetadataBuilder``
and ``ProviderMetadataBuilder``)::

    ProviderMetadata = Size u16 | Name UTF-8 NUL | Traits { Size u16 | Type u8 | Data }*
    EventMetadata    = Size u16 | Tags (bytes while high bit set) | Name UTF-8 NUL | Field*
    Field            = Name UTF-8 NUL | InMeta u8 [| OutMeta u8 [| Tags]] [| Ccount u16] [| CbSchema u16 | Schema]

``InMeta & 0x1F`` is the in-type, ``& 0x60`` the count kind (scalar, constant count, variable
count — a u16 count precedes the values in the payload — or custom schema), ``& 0x80`` says an
OutMeta byte follows; a Struct's OutType is the number of fields that follow inside it.

The result is the same ``FieldSpec`` list a manifest template gives, so one interpreter
(``payload.py``) decodes both.  Parsed metadata is cached by its bytes: an ETL file repeats the
same few schemas on every event.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from .schema import IN_TYPE_CODES, FieldSpec

if TYPE_CHECKING:
    from .records import EventRecord

EXT_EVENT_SCHEMA_TL = 11
EXT_PROV_TRAITS = 12

#: TraceLogging OutType codes → our display hints
TL_OUT_TYPES: dict[int, str] = {
    2: "String", 3: "Boolean", 4: "Hex", 5: "PID", 6: "TID", 7: "Port", 8: "IPv4", 9: "IPv6",
    10: "SocketAddress", 11: "Xml", 12: "Json", 13: "Win32Error", 14: "NTSTATUS", 15: "HResult",
    16: "DateTime", 17: "Signed", 18: "Unsigned", 0x21: "DateTime", 0x23: "Utf8", 0x24: "Hex",
    0x25: "CodePointer", 0x26: "DateTime",
}

_COUNT_SCALAR, _COUNT_CONST, _COUNT_VAR, _COUNT_CUSTOM = 0x00, 0x20, 0x40, 0x60
MAX_DEPTH = 16


@dataclass(slots=True, frozen=True)
class ProviderTraits:
    name: str
    #: provider group GUID (trait type 1), when present
    group: uuid.UUID | None = None
    traits: tuple[tuple[int, bytes], ...] = ()


@dataclass(slots=True, frozen=True)
class TlEvent:
    name: str
    tags: int
    fields: tuple[FieldSpec, ...]


def _cstring(data: bytes, pos: int, end: int) -> tuple[str, int]:
    k = data.find(b"\x00", pos, end)
    if k < 0:
        raise ValueError(f"name at offset {pos} has no NUL terminator")
    return data[pos:k].decode("utf-8", "replace"), k + 1


def _tags(data: bytes, pos: int, end: int) -> tuple[int, int]:
    value = 0
    shift = 0
    while True:
        if pos >= end:
            raise ValueError("tags run past the end of the metadata")
        b = data[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80 or shift > 28:
            return value, pos


@lru_cache(maxsize=1024)
def parse_provider_traits(data: bytes) -> ProviderTraits:
    """Provider metadata (extended item 12).  Raises ValueError naming the damaged offset."""
    if len(data) < 3:
        raise ValueError(f"provider traits of {len(data)} bytes are too short")
    size = int.from_bytes(data[0:2], "little")
    end = min(size, len(data)) if size >= 3 else len(data)
    name, pos = _cstring(data, 2, end)
    group = None
    traits = []
    while pos + 3 <= end:
        tsize = int.from_bytes(data[pos:pos + 2], "little")
        if tsize < 3 or pos + tsize > end:
            raise ValueError(f"provider trait at offset {pos} has size {tsize}")
        ttype = data[pos + 2]
        body = bytes(data[pos + 3:pos + tsize])
        traits.append((ttype, body))
        if ttype == 1 and len(body) == 16:
            group = uuid.UUID(bytes_le=body)
        pos += tsize
    return ProviderTraits(name, group, tuple(traits))


@lru_cache(maxsize=4096)
def parse_event_metadata(data: bytes) -> TlEvent:
    """Event metadata (extended item 11).  Raises ValueError naming the damaged offset."""
    if len(data) < 3:
        raise ValueError(f"event metadata of {len(data)} bytes is too short")
    size = int.from_bytes(data[0:2], "little")
    end = min(size, len(data)) if size >= 3 else len(data)
    tags, pos = _tags(data, 2, end)
    name, pos = _cstring(data, pos, end)
    flat: list[tuple[FieldSpec, int]] = []  # (spec, struct member count)
    while pos < end:
        fname, pos = _cstring(data, pos, end)
        if pos >= end:
            raise ValueError(f"field {fname!r} has no type byte")
        in_meta = data[pos]
        pos += 1
        out_meta = 0
        if in_meta & 0x80:
            if pos >= end:
                raise ValueError(f"field {fname!r} has no OutMeta byte")
            out_meta = data[pos]
            pos += 1
            if out_meta & 0x80:
                _, pos = _tags(data, pos, end)
        in_type = in_meta & 0x1F
        out_type = out_meta & 0x7F
        kind = in_meta & 0x60
        count: int | str | None = None
        note = ""
        if kind == _COUNT_CONST:
            if pos + 2 > end:
                raise ValueError(f"field {fname!r} has no constant count")
            count = int.from_bytes(data[pos:pos + 2], "little")
            pos += 2
        elif kind == _COUNT_VAR:
            count = "*"
        elif kind == _COUNT_CUSTOM:
            if pos + 2 > end:
                raise ValueError(f"field {fname!r} has no schema size")
            cb = int.from_bytes(data[pos:pos + 2], "little")
            if pos + 2 + cb > end:
                raise ValueError(f"field {fname!r}: custom schema of {cb} bytes runs past the metadata")
            pos += 2 + cb
            note = "custom schema (protocol-specific bytes)"
        if in_type == 24:  # Struct: OutType = number of member fields that follow
            flat.append((FieldSpec(fname, "Struct", count=count), max(out_type, 0)))
            continue
        typ = IN_TYPE_CODES.get(in_type)
        if typ is None:
            raise ValueError(f"field {fname!r} has unknown in-type {in_type}")
        if typ == "Binary" or kind == _COUNT_CUSTOM:
            typ = "CountedBinary"  # TraceLogging's Binary is u16 byte count + bytes
        flat.append((FieldSpec(fname, typ, TL_OUT_TYPES.get(out_type, ""), None, None, count, (), note), 0))
    fields, _ = _nest(flat, 0, len(flat), 0)
    return TlEvent(name, tags, tuple(fields))


def _nest(flat: list[tuple[FieldSpec, int]], i: int, stop: int, depth: int) -> tuple[list[FieldSpec], int]:
    """Group each Struct with the fields that follow it (``members`` of them, recursively)."""
    if depth > MAX_DEPTH:
        raise ValueError("structs nested too deep")
    out: list[FieldSpec] = []
    while i < stop:
        spec, members = flat[i]
        i += 1
        if spec.type == "Struct":
            inner: list[FieldSpec] = []
            for _ in range(members):
                if i >= len(flat):
                    break
                part, i = _nest(flat, i, i + 1, depth + 1)
                inner.extend(part)
            spec = FieldSpec(spec.name, "Struct", "", None, None, spec.count, tuple(inner), spec.note)
        out.append(spec)
    return out, i


def extended_data(rec: EventRecord, ext_type: int) -> bytes | None:
    """The data of the record's first extended item of ``ext_type`` (None when it has none)."""
    for item in rec.extended or ():
        if item.ext_type == ext_type:
            return bytes(item.data)
    return None


def provider_traits(rec: EventRecord) -> ProviderTraits | None:
    data = extended_data(rec, EXT_PROV_TRAITS)
    if data is None:
        return None
    try:
        return parse_provider_traits(data)
    except ValueError:
        return None

