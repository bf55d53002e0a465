"""Instrumentation-manifest XML → ``ProviderSchema``.

Two shapes of the same facts are accepted:

* the source/dump manifest (``<instrumentationManifest>``, as MC.exe compiles and as PerfView or
  repnz/etw-providers-docs dump): names everywhere (``level="win:Informational"``,
  ``task="TcpRequestConnect"``, ``keywords="ut:SendPath ut:ReceivePath"``, ``template="tid"``),
  messages as ``$(string.id)`` resolved through ``<localization>/<stringTable>``;
* ``wevtutil gp <provider> /ge /gm:true /f:xml`` output (``<provider>`` at the root): numbers
  (``level="4" task="12" opcode="1" keywords="0x8000000000000010"``), the message text inline and
  each event's template inside the event (as child elements, or as escaped XML text — the
  metadata API returns templates as XML strings).

Templates may use ``<struct>`` (with ``count``/``length``), ``count``/``length`` referring to
earlier fields, value maps and bit maps.  Damaged input gives a warning naming the file and the
element, never an exception that loses the rest of the file.
"""

from __future__ import annotations

import re
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

from .schema import IN_TYPES, OUT_TYPE_NAMES, EventSchema, FieldSpec, ProviderSchema, ValueMap

_LEVELS = {"win:logalways": 0, "win:critical": 1, "win:error": 2, "win:warning": 3, "win:informational": 4,
           "win:verbose": 5}
_OPCODES = {"win:info": 0, "win:start": 1, "win:stop": 2, "win:dc_start": 3, "win:dc_stop": 4,
            "win:extension": 5, "win:reply": 6, "win:resume": 7, "win:suspend": 8, "win:send": 9,
            "win:receive": 240}
_KEYWORDS = {"win:responsetime": 0x01000000000000, "win:wdicontext": 0x02000000000000,
             "win:wdidiag": 0x04000000000000, "win:sqm": 0x08000000000000,
             "win:auditfailure": 0x10000000000000, "win:auditsuccess": 0x20000000000000,
             "win:correlationhint": 0x40000000000000, "win:eventlogclassic": 0x80000000000000}
_CHANNELS = {"system": 8, "application": 9, "security": 10}
_STRING_REF = re.compile(r"^\$\(string\.(.+)\)$")
_IN_ALIASES = {"countedstring": "CountedUnicodeString", "countedunicodestring": "CountedUnicodeString",
               "countedansistring": "CountedAnsiString", "countedbinary": "CountedBinary",
               "unicodechar": "UInt16", "ansichar": "UInt8", "size_t": "Pointer", "hexint8": "UInt8",
               "hexint16": "UInt16"}
_IN_NAMES = {t.lower(): t for t in IN_TYPES}


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _children(el: ET.Element, name: str) -> list[ET.Element]:
    return [c for c in el if _local(c.tag) == name]


def _child(el: ET.Element, name: str) -> ET.Element | None:
    for c in el:
        if _local(c.tag) == name:
            return c
    return None


def _int(text: str | None, default: int = 0) -> int:
    if text is None:
        return default
    t = text.strip()
    try:
        return int(t, 0) if t.lower().startswith("0x") else int(t)
    except ValueError:
        return default


def _is_int(text: str | None) -> bool:
    if text is None:
        return False
    t = text.strip().lower()
    return bool(re.fullmatch(r"(0x[0-9a-f]+|\d+)", t))


class _Loader:
    def __init__(self, path: Path, strings: dict[str, str]) -> None:
        self.path = path
        self.strings = strings
        self.warnings: list[str] = []

    def warn(self, what: str) -> None:
        self.warnings.append(f"{self.path}: {what}")

    def text(self, ref: str | None) -> str | None:
        if ref is None:
            return None
        m = _STRING_REF.match(ref.strip())
        if m is None:
            return ref
        return self.strings.get(m.group(1))

    # -- fields --------------------------------------------------------------------------------
    def in_type(self, raw: str | None, where: str) -> str:
        name = (raw or "").split(":", 1)[-1].strip()
        low = name.lower()
        if low in _IN_NAMES:
            return _IN_NAMES[low]
        if low in _IN_ALIASES:
            return _IN_ALIASES[low]
        self.warn(f"{where}: unknown inType {raw!r}, shown as bytes")
        return "Binary"

    def out_type(self, raw: str | None) -> str:
        if not raw:
            return ""
        return OUT_TYPE_NAMES.get(raw.split(":", 1)[-1].strip().lower(), "")

    def ref(self, raw: str | None) -> int | str | None:
        if raw is None or not raw.strip():
            return None
        return _int(raw) if _is_int(raw) else raw.strip()

    def fields(self, el: ET.Element, where: str) -> tuple[FieldSpec, ...]:
        out: list[FieldSpec] = []
        for c in el:
            kind = _local(c.tag)
            name = c.get("name") or f"Field{len(out) + 1}"
            if kind == "data":
                out.append(FieldSpec(name, self.in_type(c.get("inType"), f"{where} field {name}"),
                                     self.out_type(c.get("outType")), c.get("map"), self.ref(c.get("length")),
                                     self.ref(c.get("count"))))
            elif kind == "struct":
                members = self.fields(c, f"{where} struct {name}")
                out.append(FieldSpec(name, "Struct", "", None, self.ref(c.get("length")), self.ref(c.get("count")),
                                     members))
        return tuple(out)

    def template_of(self, ev: ET.Element, templates: dict[str, tuple[FieldSpec, ...]], where: str
                    ) -> tuple[FieldSpec, ...]:
        tid = ev.get("template")
        if tid:
            if tid not in templates:
                self.warn(f"{where}: template {tid!r} is not defined; payload shown as bytes")
                return ()
            return templates[tid]
        inline = _child(ev, "template")
        if inline is None:
            return ()
        if any(_local(c.tag) in ("data", "struct") for c in inline):
            return self.fields(inline, where)
        nested = _child(inline, "template")
        if nested is not None:
            return self.fields(nested, where)
        body = (inline.text or "").strip()
        if not body:
            return ()
        try:
            parsed = ET.fromstring(body)
        except ET.ParseError as e:
            self.warn(f"{where}: template text is not XML ({e})")
            return ()
        return self.fields(parsed, where)

    # -- provider ------------------------------------------------------------------------------
    def provider(self, el: ET.Element) -> ProviderSchema | None:
        name = el.get("name") or ""
        raw_guid = el.get("guid") or ""
        try:
            guid = uuid.UUID(raw_guid.strip("{} "))
        except ValueError:
            self.warn(f"provider {name!r}: bad guid {raw_guid!r}; provider skipped")
            return None
        p = ProviderSchema(name or "{" + str(guid) + "}", guid, origin=f"manifest:{self.path}",
                           sources=(str(self.path),))
        level_names: dict[str, int] = dict(_LEVELS)
        opcode_names: dict[tuple[int, str], int] = {}
        task_names: dict[str, int] = {}
        keyword_names: dict[str, int] = dict(_KEYWORDS)
        channel_names: dict[str, int] = dict(_CHANNELS)

        def section(tag: str) -> list[ET.Element]:
            sec = _child(el, tag)
            return list(sec) if sec is not None else []

        for lv in section("levels"):
            v = _int(lv.get("value"), -1)
            if v >= 0:
                label = self.text(lv.get("message")) or lv.get("name", "").split(":")[-1]
                p.levels[v] = label
                level_names[(lv.get("name") or "").lower()] = v
        for ch in section("channels"):
            v = _int(ch.get("value"), _int(ch.get("id"), -1))
            if v >= 0:
                chname = ch.get("name") or ch.get("chid") or str(v)
                p.channels[v] = self.text(ch.get("message")) or chname
                for key in (ch.get("chid"), ch.get("name")):
                    if key:
                        channel_names[key.lower()] = v
        for kw in section("keywords"):
            mask = _int(kw.get("mask"))
            if mask:
                label = self.text(kw.get("message")) or kw.get("name") or f"0x{mask:X}"
                p.keywords[mask] = label
                if kw.get("name"):
                    keyword_names[kw.get("name", "").lower()] = mask

        def add_opcode(op: ET.Element, task: int) -> None:
            raw = _int(op.get("value"), -1)
            if raw < 0:
                return
            value, t = raw, task
            if raw > 0xFF:  # wevtutil: high word = opcode, low word = its task (0 = global)
                value, t = raw >> 16, raw & 0xFFFF
            label = self.text(op.get("message")) or (op.get("name") or "").split(":")[-1]
            p.opcodes[(t, value)] = label
            if op.get("name"):
                opcode_names[(t, op.get("name", "").lower())] = value

        for op in section("opcodes"):
            add_opcode(op, 0)
        for task in section("tasks"):
            v = _int(task.get("value"), -1)
            if v < 0:
                continue
            p.tasks[v] = self.text(task.get("message")) or task.get("name") or str(v)
            if task.get("name"):
                task_names[task.get("name", "").lower()] = v
            ops = _child(task, "opcodes")
            for op in (list(ops) if ops is not None else []):
                add_opcode(op, v)

        maps = _child(el, "maps")
        for m in (list(maps) if maps is not None else []):
            kind = _local(m.tag)
            if kind not in ("valueMap", "bitMap"):
                continue
            entries: dict[int, str] = {}
            for e in _children(m, "map"):
                entries[_int(e.get("value"))] = (self.text(e.get("message")) or e.get("value") or "").strip()
            mname = m.get("name") or ""
            p.maps[mname] = ValueMap(mname, kind == "bitMap", entries)

        templates: dict[str, tuple[FieldSpec, ...]] = {}
        for t in section("templates"):
            tid = t.get("tid")
            if tid:
                templates[tid] = self.fields(t, f"template {tid}")

        for ev in section("events"):
            if _local(ev.tag) != "event":
                continue
            eid = _int(ev.get("value"), -1)
            if not 0 <= eid <= 0xFFFF:
                self.warn(f"event with value {ev.get('value')!r}: not an event id; skipped")
                continue
            ver = _int(ev.get("version"))
            where = f"event {eid} v{ver}"
            task = self.lookup(ev.get("task"), task_names, where, "task")
            opraw = ev.get("opcode")
            opcode = 0
            if opraw is not None:
                if _is_int(opraw):
                    opcode = _int(opraw)
                else:
                    low = opraw.lower()
                    if (task, low) in opcode_names:
                        opcode = opcode_names[(task, low)]
                    elif (0, low) in opcode_names:
                        opcode = opcode_names[(0, low)]
                    elif low in _OPCODES:
                        opcode = _OPCODES[low]
                    else:
                        self.warn(f"{where}: unknown opcode {opraw!r}")
            level = self.lookup(ev.get("level"), level_names, where, "level")
            channel = self.lookup(ev.get("channel"), channel_names, where, "channel")
            kwraw = ev.get("keywords") or ""
            keywords = 0
            if _is_int(kwraw):
                keywords = _int(kwraw)
            else:
                for k in kwraw.split():
                    mask = keyword_names.get(k.lower())
                    if mask is None:
                        self.warn(f"{where}: unknown keyword {k!r}")
                    else:
                        keywords |= mask
            sym = ev.get("symbol")
            p.events[(eid, ver)] = EventSchema(
                eid, ver, sym or None, "manifest" if sym else "", task, opcode, level, keywords, channel,
                self.text(ev.get("message")), self.template_of(ev, templates, where),
            )
        return p

    def lookup(self, raw: str | None, names: dict[str, int], where: str, what: str) -> int:
        if raw is None or not raw.strip():
            return 0
        if _is_int(raw):
            return _int(raw)
        v = names.get(raw.strip().lower())
        if v is None:
            self.warn(f"{where}: unknown {what} {raw!r}")
            return 0
        return v


def _string_table(root: ET.Element) -> dict[str, str]:
    strings: dict[str, str] = {}
    for el in root.iter():
        if _local(el.tag) == "string" and el.get("id") is not None:
            strings.setdefault(el.get("id", ""), el.get("value") or (el.text or ""))
    return strings


def as_text(data: bytes) -> str:
    """Bytes → str by BOM (PowerShell's ``>`` writes UTF-16 while the declaration says UTF-8), else by
    the XML declaration's encoding, else UTF-8 (undecodable bytes replaced).  Symbol maps too."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8")
    head = data[:200]
    m = re.search(rb"encoding=[\"']([A-Za-z0-9_.-]+)[\"']", head)
    enc = m.group(1).decode() if m else "utf-8"
    try:
        return data.decode(enc)
    except (LookupError, UnicodeDecodeError):
        return data.decode("utf-8", "replace")


def load_manifest_text(text: str | bytes, path: Path | str = "<manifest>") -> tuple[list[ProviderSchema], list[str]]:
    p = Path(path)
    if isinstance(text, bytes):
        text = as_text(text)
    try:
        root = ET.fromstring(text)
    except ET.ParseError as e:
        line, col = getattr(e, "position", (0, 0))
        return [], [f"{p}: not valid XML at line {line}, column {col} ({e})"]
    loader = _Loader(p, _string_table(root))
    providers: list[ProviderSchema] = []
    candidates = [root] if _local(root.tag) == "provider" else [e for e in root.iter() if _local(e.tag) == "provider"]
    for el in candidates:
        if el.get("guid") is None:
            continue
        schema = loader.provider(el)
        if schema is not None:
            providers.append(schema)
    if not providers:
        loader.warn("no <provider> with a guid found")
    return providers, loader.warnings


def load_manifest(path: Path | str) -> tuple[list[ProviderSchema], list[str]]:
    """Parse a manifest file; returns the providers it defines and warnings."""
    p = Path(path)
    data = p.read_bytes()
    if len(data) > 64 * 1024 * 1024:
        return [], [f"{p}: {len(data)} bytes is too large for a manifest"]
    return load_manifest_text(data, p)
