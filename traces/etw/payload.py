"""The template interpreter: event payload bytes → typed values with byte ranges.

A ``Template`` is compiled once per (provider, event id, version, pointer size) and decodes any
number of payloads.  Decoding never raises on bad data: a payload shorter than its template
decodes what is there and reports the first field that did not fit (``Decoded.stopped``); bytes
after the last field are left for the caller to show as hex (``Decoded.end``).  Lengths and
counts read from the payload are bounded by the bytes that remain, and one payload makes at most
``MAX_VALUES`` values (elements that take no bytes — empty structs, zero-count arrays — would
otherwise multiply through nested arrays), so nothing can make the decoder allocate without
bound or loop.

``Value.text`` follows TDH's rendering (what ``%n`` inserts into a manifest message);
``Value.display`` is the detail-pane text (value plus map name).
"""

from __future__ import annotations

import datetime as _dt
import ipaddress
import struct
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .. import ntstatus
from .packets import utf16_nul
from .records import FILETIME_EPOCH, sid_text
from .schema import SCALAR_SIZE, FieldSpec, ValueMap

MAX_ARRAY = 65535  # a count above this is damage, not data (TraceLogging counts are u16)
#: values one payload may make: every value but a zero-size one takes a payload byte and a record
#: holds less than 64 KiB, so only a damaged schema repeating zero-size elements gets here
MAX_VALUES = 1 << 17


@dataclass(slots=True)
class Value:
    spec: FieldSpec
    value: Any
    start: int  # offset in the decoded buffer
    length: int
    text: str
    display: str
    children: list[Value] | None = None
    index: int = -1  # element index inside an array


@dataclass(slots=True)
class Decoded:
    values: list[Value]
    end: int  # offset after the last decoded byte
    #: why decoding stopped early: "payload ends early: <field>: needs N bytes, M left", or too
    #: many values (None = every field decoded)
    stopped: str | None = None
    #: top-level fields that were not decoded, and why (for the detail pane)
    missing: list[FieldSpec] = field(default_factory=list)
    missing_note: str = ""

    def by_name(self) -> dict[str, Value]:
        return {v.spec.name: v for v in self.values}


class _Stop(Exception):
    """Decoding cannot go on at this field: ``str(e)`` says why, ``note`` what the later fields are."""

    note = ""


class _Short(_Stop):
    """The payload ended inside a field."""

    note = "the payload ends before this field"

    def __init__(self, spec: FieldSpec, need: int, have: int) -> None:
        super().__init__(f"payload ends early: {spec.name}: needs {need} bytes, {max(have, 0)} left")


class _TooMany(_Stop):
    """The payload made ``MAX_VALUES`` values (zero-size elements repeated by nested counts)."""

    note = "not decoded: too many values before it"

    def __init__(self, spec: FieldSpec) -> None:
        super().__init__(f"{spec.name}: more than {MAX_VALUES} values in one payload (damaged counts); "
                         "the rest is not decoded")


#: hook to rename values (PktMon component ids): (spec, int value) → extra text or None
DisplayHook = Callable[[FieldSpec, int], "str | None"]


class _Run:
    """One ``decode`` call: its display hook and how many more values it may make."""

    __slots__ = ("hook", "left")

    def __init__(self, hook: DisplayHook | None) -> None:
        self.hook = hook
        self.left = MAX_VALUES

    def count(self, spec: FieldSpec) -> None:
        self.left -= 1
        if self.left < 0:
            raise _TooMany(spec)

_INT_FMT = {
    "Int8": "b", "UInt8": "B", "Int16": "h", "UInt16": "H", "Int32": "i", "UInt32": "I", "HexInt32": "I",
    "Int64": "q", "UInt64": "Q", "HexInt64": "Q", "Boolean": "I", "Float": "f", "Double": "d", "FILETIME": "Q",
}
_STRUCTS = {k: struct.Struct("<" + v) for k, v in _INT_FMT.items()}
_U16 = struct.Struct("<H")
_SYSTEMTIME = struct.Struct("<8H")


def filetime_ns(ft: int) -> int:
    return (ft - FILETIME_EPOCH) * 100


def time_text(ns: int, utc: bool = True) -> str:
    """ISO-like text with 100 ns digits (ETW resolution)."""
    secs, rem = divmod(ns, 1_000_000_000)
    try:
        d = _dt.datetime(1970, 1, 1) + _dt.timedelta(seconds=secs)
    except OverflowError:
        return f"{ns} ns"
    return d.strftime("%Y-%m-%d %H:%M:%S") + f".{rem // 100:07d}" + (" UTC" if utc else "")


def sockaddr_text(data: bytes) -> str:
    if len(data) >= 8 and data[0] == 2 and data[1] == 0:  # AF_INET
        port = int.from_bytes(data[2:4], "big")
        return f"{ipaddress.IPv4Address(data[4:8])}:{port}"
    if len(data) >= 24 and data[0] == 23 and data[1] == 0:  # AF_INET6 (Windows)
        port = int.from_bytes(data[2:4], "big")
        return f"[{ipaddress.IPv6Address(data[8:24])}]:{port}"
    return "0x" + data.hex().upper()


def binary_display(b: bytes, limit: int = 48) -> str:
    return b[:limit].hex(" ").upper() + (f" … ({len(b)} bytes)" if len(b) > limit else "")


class Template:
    """A compiled field list for one pointer size."""

    __slots__ = ("_fixed", "fields", "maps", "pointer_size")

    def __init__(self, fields: tuple[FieldSpec, ...], pointer_size: int, maps: Mapping[str, ValueMap] | None = None
                 ) -> None:
        self.fields = fields
        self.pointer_size = 8 if pointer_size == 8 else 4
        self.maps = maps or {}
        # per field list: what follows each field (for Binary without a length)
        self._fixed: dict[int, dict[int, tuple[int, int] | None]] = {}

    # -- public --------------------------------------------------------------------------------
    def decode(self, data: bytes | memoryview, start: int = 0, end: int | None = None,
               hook: DisplayHook | None = None) -> Decoded:
        """Decode ``data[start:end]``; ``hook`` adds names to integer values (PktMon components)."""
        buf = data if isinstance(data, bytes) else bytes(data)
        stop = len(buf) if end is None else min(end, len(buf))
        values: list[Value] = []
        scope: dict[str, int] = {}
        pos = start
        run = _Run(hook)
        for i, spec in enumerate(self.fields):
            try:
                v, pos = self._field(spec, buf, pos, stop, scope, self.fields, i, run)
            except _Stop as e:
                return Decoded(values, pos, str(e), list(self.fields[i:]), e.note)
            values.append(v)
            if isinstance(v.value, int) and not isinstance(v.value, bool):
                scope[spec.name] = v.value
        return Decoded(values, pos)

    # -- internals -----------------------------------------------------------------------------
    def _suffix_size(self, specs: tuple[FieldSpec, ...], i: int) -> tuple[int, int] | None:
        """(fixed bytes, number of other length-less Binary fields) after ``specs[i]``; None when
        another variable-size field follows (then nothing better than "the rest" is known)."""
        table = self._fixed.setdefault(id(specs), {})
        if i in table:
            return table[i]
        total = 0
        shared = 0
        result: tuple[int, int] | None = None
        for s in specs[i + 1:]:
            if s.type == "Binary" and s.length is None and s.count is None:
                shared += 1
                continue
            size = self._static_size(s)
            if size is None:
                break
            total += size
        else:
            result = (total, shared)
        table[i] = result
        return result

    def _static_size(self, s: FieldSpec) -> int | None:
        if s.type == "Pointer":
            base: int | None = self.pointer_size
        elif s.type in SCALAR_SIZE:
            base = SCALAR_SIZE[s.type]
        elif s.type in ("Binary", "UnicodeString", "AnsiString") and isinstance(s.length, int):
            base = s.length * (2 if s.type == "UnicodeString" else 1)
        elif s.type == "Struct":
            base = 0
            for m in s.fields:
                ms = self._static_size(m)
                if ms is None:
                    return None
                base += ms
        else:
            return None
        if s.count is None:
            return base
        if isinstance(s.count, int) and base is not None:
            return base * s.count
        return None

    def _field(self, spec: FieldSpec, buf: bytes, pos: int, end: int, scope: dict[str, int],
               siblings: tuple[FieldSpec, ...], index: int, run: _Run) -> tuple[Value, int]:
        run.count(spec)
        if spec.count is None:
            return self._one(spec, buf, pos, end, scope, siblings, index, run)
        # arrays
        if spec.count == "*":
            if end - pos < 2:
                raise _Short(spec, 2, end - pos)
            n = _U16.unpack_from(buf, pos)[0]
            first = pos
            pos += 2
        else:
            n = spec.count if isinstance(spec.count, int) else scope.get(spec.count, 0)
            first = pos
        n = max(n, 0)
        if spec.type in ("UInt8", "UInt16") and spec.out == "String":
            return self._char_array(spec, buf, first, pos, end, n)
        elem_min = self._static_size(FieldSpec(spec.name, spec.type, spec.out, spec.map, spec.length, None,
                                               spec.fields)) or 1
        if n > MAX_ARRAY or n * elem_min > end - pos:
            raise _Short(spec, n * elem_min, end - pos)
        children: list[Value] = []
        for k in range(n):
            run.count(spec)
            v, pos = self._one(spec, buf, pos, end, scope, siblings, index, run)
            v.index = k
            children.append(v)
        texts = [c.text for c in children]
        text = ", ".join(texts)
        disp = f"{n} element{'s' if n != 1 else ''}"
        return Value(spec, [c.value for c in children], first, pos - first, text, disp, children), pos

    def _char_array(self, spec: FieldSpec, buf: bytes, first: int, pos: int, end: int, n: int) -> tuple[Value, int]:
        width = 2 if spec.type == "UInt16" else 1
        need = n * width
        if need > end - pos:
            raise _Short(spec, need, end - pos)
        raw = buf[pos:pos + need]
        s = raw.decode("utf-16-le" if width == 2 else "latin-1", "replace").rstrip("\x00")
        return Value(spec, s, first, pos + need - first, s, s), pos + need

    def _one(self, spec: FieldSpec, buf: bytes, pos: int, end: int, scope: dict[str, int],
             siblings: tuple[FieldSpec, ...], index: int, run: _Run) -> tuple[Value, int]:
        t = spec.type
        left = end - pos
        if t == "Struct":
            inner: dict[str, int] = dict(scope)
            children = []
            start = pos
            for j, m in enumerate(spec.fields):
                v, pos = self._field(m, buf, pos, end, inner, spec.fields, j, run)
                children.append(v)
                if isinstance(v.value, int):
                    inner[m.name] = v.value
            text = "{ " + ", ".join(f"\"{c.spec.name}\":{_json_text(c)}" for c in children) + " }"
            return Value(spec, {c.spec.name: c.value for c in children}, start, pos - start, text,
                         text, children), pos
        st = _STRUCTS.get(t)
        if st is not None or t == "Pointer":
            if t == "Pointer":
                size = self.pointer_size
                if left < size:
                    raise _Short(spec, size, left)
                raw = int.from_bytes(buf[pos:pos + size], "little")
            else:
                size = st.size  # type: ignore[union-attr]
                if left < size:
                    raise _Short(spec, size, left)
                raw = st.unpack_from(buf, pos)[0]  # type: ignore[union-attr]
            return self._scalar(spec, raw, buf, pos, size, run.hook), pos + size
        if t == "GUID":
            if left < 16:
                raise _Short(spec, 16, left)
            g = uuid.UUID(bytes_le=buf[pos:pos + 16])
            text = "{" + str(g) + "}"
            return Value(spec, g, pos, 16, text, text.upper()), pos + 16
        if t == "SYSTEMTIME":
            if left < 16:
                raise _Short(spec, 16, left)
            y, mo, _dow, d, h, mi, s, ms = _SYSTEMTIME.unpack_from(buf, pos)
            try:
                dt = _dt.datetime(y, mo, d, h, mi, s, ms * 1000)
                ns = int((dt - _dt.datetime(1970, 1, 1)).total_seconds()) * 1_000_000_000 + ms * 1_000_000
                text = time_text(ns, utc=False)
                value: Any = ns
            except ValueError:
                text = f"{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}.{ms:03} (invalid)"
                value = None
            return Value(spec, value, pos, 16, text, text), pos + 16
        if t in ("UnicodeString", "AnsiString", "CountedUnicodeString", "CountedAnsiString"):
            return self._string(spec, buf, pos, end, scope)
        if t in ("Binary", "CountedBinary"):
            return self._binary(spec, buf, pos, end, scope, siblings, index)
        if t == "SID":
            if left < 8:
                raise _Short(spec, 8, left)
            size = 8 + 4 * buf[pos + 1]
            if left < size:
                raise _Short(spec, size, left)
            raw_b = buf[pos:pos + size]
            text = sid_text(raw_b)
            return Value(spec, text, pos, size, text, text), pos + size
        # an unknown type: take the rest as bytes
        raw_b = buf[pos:end]
        return Value(spec, raw_b, pos, len(raw_b), "0x" + raw_b.hex().upper(), binary_display(raw_b)), end

    def _scalar(self, spec: FieldSpec, raw: Any, buf: bytes, pos: int, size: int, hook: DisplayHook | None) -> Value:
        t, out = spec.type, spec.out
        if t in ("Float", "Double"):
            text = repr(raw)
            return Value(spec, raw, pos, size, text, text)
        if t == "FILETIME":
            ns = filetime_ns(raw)
            text = time_text(ns) if raw else "0"
            return Value(spec, ns, pos, size, text, text if raw else "0 (not set)")
        if t == "Boolean" or out == "Boolean":
            v = 1 if raw else 0
            text = "true" if v else "false"
            return Value(spec, v, pos, size, text, "True" if v else "False")
        value = raw
        if out == "IPv4" and size == 4:
            value = int.from_bytes(buf[pos:pos + 4], "big")
            text = str(ipaddress.IPv4Address(value))
            return Value(spec, value, pos, size, text, text)
        if out == "Port" and size == 2:
            value = int.from_bytes(buf[pos:pos + 2], "big")
            return Value(spec, value, pos, size, str(value), str(value))
        if t in ("HexInt32", "HexInt64", "Pointer") or out in ("Hex", "CodePointer"):
            text = f"0x{value:X}"
        elif out == "NTSTATUS" and t in ("UInt32", "Int32"):
            text = str(value) if self._mapped(spec, value) else ntstatus.text(value)
        elif out in ("NTSTATUS", "HResult", "Win32Error"):
            text = f"0x{value & 0xFFFFFFFF:08X}"
        elif out == "String" and t in ("UInt8", "UInt16", "Int8", "Int16"):
            ch = chr(value & 0xFFFF) if value >= 0 else "?"
            text = ch
            return Value(spec, value, pos, size, text, f"{value} ('{ch}')")
        else:
            text = str(value)
        display = text
        if spec.map is not None:
            vmap = self.maps.get(spec.map)
            name = vmap.text(value) if vmap is not None else None
            if name is not None:
                text = name
                display = f"{display} ({name})"
        if hook is not None:
            extra = hook(spec, value)
            if extra:
                display = f"{display} ({extra})"
        return Value(spec, value, pos, size, text, display)

    def _mapped(self, spec: FieldSpec, value: int) -> bool:
        """The field's value map names ``value`` (a vSwitch drop reason below 39 is no NTSTATUS)."""
        vmap = self.maps.get(spec.map) if spec.map is not None else None
        return vmap is not None and vmap.text(value) is not None

    def _string(self, spec: FieldSpec, buf: bytes, pos: int, end: int, scope: dict[str, int]) -> tuple[Value, int]:
        t = spec.type
        wide = t in ("UnicodeString", "CountedUnicodeString")
        start = pos
        if t.startswith("Counted"):
            if end - pos < 2:
                raise _Short(spec, 2, end - pos)
            nbytes = _U16.unpack_from(buf, pos)[0]
            pos += 2
            if nbytes > end - pos:
                raise _Short(spec, nbytes + 2, end - start)
            raw = buf[pos:pos + nbytes]
            after = pos + nbytes
        else:
            n = _resolve(spec.length, scope)
            if n is not None:
                nbytes = n * (2 if wide else 1)
                if nbytes > end - pos:
                    raise _Short(spec, nbytes, end - pos)
                raw = buf[pos:pos + nbytes]
                after = pos + nbytes
            elif wide:
                k = utf16_nul(buf, pos, end)
                if k < 0:  # no terminator: the rest (an odd last byte is dropped)
                    if end - pos < 2:
                        raise _Short(spec, 2, end - pos)
                    raw = buf[pos:pos + ((end - pos) & ~1)]
                    after = end
                else:
                    raw = buf[pos:k]
                    after = k + 2
            else:
                k = buf.find(b"\x00", pos, end)
                if pos >= end:
                    raise _Short(spec, 1, 0)
                if k < 0:
                    raw = buf[pos:end]
                    after = end
                else:
                    raw = buf[pos:k]
                    after = k + 1
        if wide:
            s = raw.decode("utf-16-le", "replace")
        else:
            try:
                s = raw.decode("utf-8")
            except UnicodeDecodeError:
                s = raw.decode("cp1252", "replace")
        s = s.rstrip("\x00")
        return Value(spec, s, start, after - start, s, s), after

    def _binary(self, spec: FieldSpec, buf: bytes, pos: int, end: int, scope: dict[str, int],
                siblings: tuple[FieldSpec, ...], index: int) -> tuple[Value, int]:
        start = pos
        if spec.type == "CountedBinary":
            if end - pos < 2:
                raise _Short(spec, 2, end - pos)
            n: int | None = _U16.unpack_from(buf, pos)[0]
            pos += 2
        else:
            n = _resolve(spec.length, scope)
            if n is None:
                # no length in the schema (dumps drop constant lengths): the rest of the payload
                # minus the fixed fields after it, shared equally with later length-less binaries
                # (an IPv6 source/destination pair gets 16 bytes each)
                after = self._suffix_size(siblings, index) if spec.count is None else None
                fixed, shared = after if after is not None else (0, 0)
                n = max(0, end - pos - fixed) // (shared + 1)
        if n > end - pos:
            raise _Short(spec, n, end - pos)
        raw = buf[pos:pos + n]
        after = pos + n
        out = spec.out
        if out == "IPv6" and n == 16:
            value: Any = int.from_bytes(raw, "big")
            text = str(ipaddress.IPv6Address(value))
            return Value(spec, value, start, after - start, text, text), after
        if out == "MAC" and n == 6:
            value = int.from_bytes(raw, "big")
            text = "-".join(f"{b:02X}" for b in raw)
            return Value(spec, value, start, after - start, text, text), after
        if out == "IPv4" and n == 4:
            value = int.from_bytes(raw, "big")
            text = str(ipaddress.IPv4Address(value))
            return Value(spec, value, start, after - start, text, text), after
        if out == "SocketAddress":
            text = sockaddr_text(raw)
            return Value(spec, text, start, after - start, text, text), after
        text = "0x" + raw.hex().upper()
        return Value(spec, raw, start, after - start, text, binary_display(raw)), after


def _resolve(ref: int | str | None, scope: Mapping[str, int]) -> int | None:
    if ref is None:
        return None
    if isinstance(ref, int):
        return ref
    v = scope.get(ref)
    if v is None:
        return 0  # the length field is missing or not a number: read nothing rather than guess
    return max(0, int(v))


def _json_text(v: Value) -> str:
    if isinstance(v.value, str):
        return f"\"{v.value}\""
    return v.text
