"""One decoded frame: layers of fields with byte ranges, and Netmon's summary columns.

Frames are built on demand (``Trace.frame(i)``) and never kept for the whole trace; the index
holds what is needed for every frame.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from .fields import REGISTRY, FieldDef, FieldType, Registry


@dataclass(slots=True)
class Field:
    """One field instance in a frame.  ``fdef`` is None for display-only tree nodes."""

    fdef: FieldDef | None
    value: Any
    display: str
    start: int = -1  # byte offset in ``Frame.data``; -1 when the field has no bytes of its own
    length: int = 0
    label: str = ""  # tree label; defaults to the last part of the name
    children: list[Field] = field(default_factory=list)
    #: bit range inside the bytes for flag fields: (first bit from the MSB of ``start``, bit count)
    bits: tuple[int, int] | None = None

    @property
    def name(self) -> str:
        return self.fdef.name if self.fdef is not None else self.label

    @property
    def title(self) -> str:
        return self.label or (self.fdef.leaf if self.fdef is not None else "")

    def walk(self) -> Iterator[Field]:
        yield self
        for c in self.children:
            yield from c.walk()

    def add(
        self,
        fdef: FieldDef | None,
        value: Any,
        start: int = -1,
        length: int = 0,
        display: str | None = None,
        label: str = "",
        bits: tuple[int, int] | None = None,
    ) -> Field:
        """Append a child field; ``display`` defaults to the text its type gives ``value``."""
        f = Field(fdef, value, display_value(fdef, value) if display is None else display, start, length, label,
                  bits=bits)
        self.children.append(f)
        return f


@dataclass(slots=True)
class Layer:
    """A protocol layer (``IPv4``) in a frame: the top node of its fields."""

    protocol: FieldDef
    summary: str
    start: int
    length: int
    fields: list[Field] = field(default_factory=list)
    label: str = ""  # tree label when it differs from the protocol name (``MicrosoftWindowsPktMon``)

    @property
    def name(self) -> str:
        return self.protocol.name

    def add(
        self,
        fdef: FieldDef | None,
        value: Any,
        start: int = -1,
        length: int = 0,
        display: str | None = None,
        label: str = "",
        bits: tuple[int, int] | None = None,
    ) -> Field:
        """Append a top-level field of the layer (as ``Field.add``)."""
        f = Field(fdef, value, display_value(fdef, value) if display is None else display, start, length, label,
                  bits=bits)
        self.fields.append(f)
        return f

    def walk(self) -> Iterator[Field]:
        for f in self.fields:
            yield from f.walk()


@dataclass(slots=True)
class Frame:
    """A decoded frame.  ``number`` is 1-based (the Frame Number column); ``index`` is 0-based."""

    index: int
    timestamp_ns: int
    data: bytes
    layers: list[Layer]
    captured_length: int
    original_length: int
    interface: int = 0
    link_type: int = -1
    kind: str = "packet"  # "packet" or "event"
    source: str = ""
    destination: str = ""
    protocol_name: str = ""
    description: str = ""
    process_id: int | None = None
    thread_id: int | None = None
    comments: list[str] = field(default_factory=list)
    #: reader facts shown in the Frame layer (pcapng options, ETW header kind, direction …)
    meta: dict[str, Any] = field(default_factory=dict)
    registry: Registry = REGISTRY
    _values: dict[str, list[Field]] | None = None

    @property
    def number(self) -> int:
        return self.index + 1

    # -- field access (used by the filter compiler and the UI) ------------------------------
    def _build(self) -> dict[str, list[Field]]:
        out: dict[str, list[Field]] = {}
        for layer in self.layers:
            out.setdefault(layer.protocol.key, []).append(
                Field(layer.protocol, True, layer.summary, layer.start, layer.length)
            )
            for f in layer.walk():
                if f.fdef is not None:
                    out.setdefault(f.fdef.key, []).append(f)
        self._values = out
        return out

    def fields(self, name: str) -> list[Field]:
        """All instances of a registry name in this frame; pair fields give both sides."""
        values = self._values if self._values is not None else self._build()
        fdef = self.registry.get(name)
        if fdef is None:
            return values.get(name.lower(), [])
        if fdef.pair:
            out: list[Field] = []
            for part in fdef.pair:
                out.extend(values.get(part.lower(), []))
            return out
        return values.get(fdef.key, [])

    def values(self, name: str) -> list[Any]:
        return [f.value for f in self.fields(name)]

    def has(self, name: str) -> bool:
        return bool(self.fields(name))

    def first(self, name: str, default: Any = None) -> Any:
        found = self.fields(name)
        return found[0].value if found else default

    def layer(self, protocol: str) -> Layer | None:
        key = protocol.lower()
        for layer in self.layers:
            if layer.protocol.key == key:
                return layer
        return None

    def walk(self) -> Iterator[Field]:
        for layer in self.layers:
            yield from layer.walk()

    @property
    def protocols(self) -> list[str]:
        return [layer.protocol.name for layer in self.layers]


# -- display helpers ------------------------------------------------------------------------

def ipv4_text(v: int) -> str:
    return f"{(v >> 24) & 255}.{(v >> 16) & 255}.{(v >> 8) & 255}.{v & 255}"


def ipv6_text(v: int) -> str:
    import ipaddress

    return str(ipaddress.IPv6Address(v))


def mac_text(v: int) -> str:
    return "-".join(f"{(v >> s) & 255:02X}" for s in range(40, -8, -8))


def guid_text(v: Any) -> str:
    return "{" + str(v).upper() + "}"


def _bytes_text(value: Any) -> str:
    b = bytes(value)
    return b[:32].hex(" ").upper() + (" …" if len(b) > 32 else "")


_FORMATTERS: dict[FieldType, Any] = {
    FieldType.IPV4: ipv4_text,
    FieldType.IPV6: ipv6_text,
    FieldType.MAC: mac_text,
    FieldType.GUID: guid_text,
    FieldType.BYTES: _bytes_text,
    FieldType.STRING: str,
}


def display_value(fdef: FieldDef | None, value: Any) -> str:
    """The text a field's value is shown with (also what "add to filter" writes)."""
    if fdef is None:
        return str(value)
    if value is None:
        return ""
    fmt = _FORMATTERS.get(fdef.type)
    if fmt is not None:
        return fmt(value)
    enum = fdef.enum
    if enum is not None and isinstance(value, int) and value in enum:
        return f"{value} ({enum[value]})"
    return str(value)
