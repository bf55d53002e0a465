"""TraceLogging events: the sample files against PerfView's expectations, and events built here
byte by byte after the metadata grammar in microsoft/tracelogging TraceLoggingDynamic.h."""

from __future__ import annotations

import datetime as dt
import struct
import uuid

import pytest
from conftest import sample
from hypothesis import given, settings
from hypothesis import strategies as st
from test_etw_decode import make_record
from tracemon.traces import REGISTRY, FieldType, open_trace
from tracemon.traces.etw.decode import DecodedEvent, decode_event
from tracemon.traces.etw.naming import provider_names
from tracemon.traces.etw.tracelogging import parse_event_metadata, parse_provider_traits

# PerfView's baseline for primitive-types.etl (microsoft/perfview
# src/TraceEvent/TraceEvent.Tests/inputs/primitive-types.baseline.txt @ f3ec1b38, checked by
# GeneralParsing.cs): DataLen, string, boolean, char, int16, int32, uint16, uint32, int64, uint64,
# GUID prefix, file_time_type, system_time_type as PerfView prints them (yy/MM/dd HH:mm:ss.ff).
PERFVIEW = [
    (78, "Mercury", False, 77, -51, -102, 51, 102, -204, 204, "0ad614c4-0ef4-4225-8", "21/09/09 14:59:35.79", "21/09/09 14:59:35"),
    (76, "Venus", True, 86, -95, -190, 95, 190, -380, 380, "e04ff801-9ea3-494f-a", "21/09/09 14:59:36.23", "21/09/09 14:59:36"),
    (76, "Earth", False, 69, -65, -130, 65, 130, -260, 260, "c7a6c80e-f2a6-4220-a", "21/09/09 14:59:36.67", "21/09/09 14:59:36"),
    (75, "Mars", False, 77, -29, -58, 29, 58, -116, 116, "0a922cee-67c1-4108-b", "21/09/09 14:59:37.04", "21/09/09 14:59:37"),
    (78, "Jupiter", True, 74, -69, -138, 69, 138, -276, 276, "bb11b97b-1110-4eb6-b", "21/09/09 14:59:37.48", "21/09/09 14:59:37"),
]


def _events(name: str) -> list[tuple[object, DecodedEvent]]:
    trace = open_trace(sample(f"etl/{name}"), use_cache=False)
    out = []
    for i in range(len(trace)):
        rec = trace.reader.record(i)
        if any(x.ext_type == 11 for x in rec.extended):
            out.append((rec, decode_event(rec, trace)))
    return out


def _perfview_time(ns: int, digits: int) -> str:
    t = dt.datetime(1970, 1, 1) + dt.timedelta(microseconds=ns // 1000)
    text = t.strftime("%y/%m/%d %H:%M:%S")
    return text + t.strftime(".%f")[: digits + 1] if digits else text


def test_primitive_types_match_perfview() -> None:
    events = _events("perfview_primitive-types.etl")
    assert len(events) == 5  # "COUNT solar_system/PrimitiveTypesTest:5"
    for (rec, dec), want in zip(events, PERFVIEW, strict=True):
        (datalen, s, b, ch, i16, i32, u16, u32, i64, u64, guid, ftime, stime) = want
        assert (dec.provider_name, dec.symbol) == ("solar_system", "PrimitiveTypesTest")
        assert (rec.pid, rec.tid) == (33984, 21768)
        assert len(rec.payload) == datalen
        v = dec.values
        assert v["string_type"] == s and v["boolean_type"] == int(b) and v["char_type"] == ch
        assert (v["int16_type"], v["int32_type"], v["uint16_type"], v["uint32_type"]) == (i16, i32, u16, u32)
        # the event declares both 64-bit fields as UInt64; PerfView reads every 64-bit integer as a
        # signed long (DynamicTraceEventParser.cs: Int64/UInt64/HexInt64 → typeof(long))
        assert v["int64_type"] - (1 << 64) == i64 and v["uint64_type"] == u64
        assert str(v["guid_type"]).startswith(guid)
        assert _perfview_time(v["file_time_type"], 2) == ftime
        # PerfView prints this SYSTEMTIME with ".03" hundredths whatever its wMilliseconds say;
        # the milliseconds here equal the FILETIME's (both were taken from one clock reading)
        assert _perfview_time(v["system_time_type"], 0) == stime
        assert v["system_time_type"] // 1_000_000 % 1000 == v["file_time_type"] // 1_000_000 % 1000
        fields = {f.label: f for f in dec.layers[0].fields[0].children}
        assert fields["char_type"].display == f"{ch} ('{chr(ch)}')"
        assert fields["boolean_type"].display == str(b)
        assert fields["guid_type"].fdef.type is FieldType.GUID
        assert fields["file_time_type"].fdef.type is FieldType.TIME


def test_self_describing_struct_matches_perfview() -> None:
    """microsoft/perfview TraceEvent.Tests/Regression/Issue1618.cs: MySource/TestEvent payload 0
    renders as { "b":"Hello", "c":"World!" }."""
    ((rec, dec),) = _events("perfview_SelfDescribingSingleEvent.etl")
    assert (dec.provider_name, dec.symbol) == ("MySource", "TestEvent")
    assert dec.values == {"a": {"b": "Hello", "c": "World!"}}
    a = dec.layers[0].fields[0].children[0]
    assert a.display == '{ "b":"Hello", "c":"World!" }'
    assert [c.label for c in a.children] == ["b", "c"]
    b = a.children[0]
    assert rec.record[b.start:b.start + b.length] == "Hello\0".encode("utf-16-le")
    assert dec.protocol == "MySource_MySource" and dec.description == "MySource_MySource:TestEvent"


def _check_ranges(rec, dec: DecodedEvent) -> None:
    """Every byte of the payload belongs to exactly one field, in order, and each string field's
    bytes hold its text."""
    node = dec.layers[0].fields[0]
    pos = rec.payload_offset
    for f in node.children:
        assert f.start == pos, f.label
        raw = rec.record[f.start:f.start + f.length]
        if isinstance(f.value, str) and f.value:
            assert f.value.encode("utf-16-le") in raw or f.value.encode("utf-8") in raw, f.label
        pos += f.length
    assert pos == rec.payload_offset + len(rec.payload)


def test_amsi_events() -> None:
    events = _events("etlparser_AMSITrace.etl")
    assert len(events) == 19
    for rec, dec in events:
        assert dec.provider_name == "AmsiTrace" and dec.symbol in ("AmsiScript",)
        assert dec.values["Engine"].startswith(("PowerShell_", "VBScript", "JScript"))
        # "Raw Script" is a UInt16 array with OutType String: UTF-16 text, the same as "Script"
        assert dec.values["Raw Script"] == dec.values["Script"]
        _check_ranges(rec, dec)
    assert REGISTRY.get("AmsiTrace_AmsiTrace.AmsiScript.Raw_Script") is None  # names live in the trace's overlay


def test_lxcore_events_and_provider_traits() -> None:
    events = _events("etlparser_lxcore_kernel.etl")
    assert len(events) == 2
    for rec, dec in events:
        assert dec.provider_name == "Microsoft.Windows.Subsystem.LxCore"
        assert dec.protocol == "LxCore_MicrosoftWindowsSubsystemLxCore"
        assert provider_names(rec.provider, rec) == (dec.provider_name, dec.protocol)
        traits = parse_provider_traits(next(x.data for x in rec.extended if x.ext_type == 12))
        raw = next(x.data for x in rec.extended if x.ext_type == 12)
        assert traits.group == uuid.UUID(bytes_le=raw[raw.index(b"\x13\x00\x01") + 3:][:16])
        assert dec.symbol == "BreakPoint"
        assert [f.label for f in dec.layers[0].fields[0].children] == [
            "ErrorLevel", "instanceId", "LxPid", "LxTid", "LxNs", "ExecutablePath", "Function", "Line", "Message"]
        _check_ranges(rec, dec)
    # both strings are plain ASCII in the payload bytes (hexdump: 4c 78 70 49 6e 73 74 …)
    assert {d.values["Function"] for _, d in events} == {"LxpInstanceStart", "LxpDrvFsTypeMount"}
    assert all(d.values["LxPid"] == -1 and d.values["Line"] > 0 for _, d in events)


# -- events built here ---------------------------------------------------------------------------

def meta_field(name: str, in_type: int, out_type: int | None = None, *, ccount: int | None = None,
               vcount: bool = False, tags: bytes = b"", schema: bytes | None = None) -> bytes:
    in_meta = in_type | (0x20 if ccount is not None else 0) | (0x40 if vcount else 0) | (0x60 if schema else 0)
    body = name.encode() + b"\0"
    if out_type is not None or tags:
        body += bytes([in_meta | 0x80, (out_type or 0) | (0x80 if tags else 0)]) + tags
    else:
        body += bytes([in_meta])
    if ccount is not None:
        body += struct.pack("<H", ccount)
    if schema is not None:
        body += struct.pack("<H", len(schema)) + schema
    return body


def event_meta(name: str, *fields: bytes, tags: bytes = b"\x00") -> bytes:
    body = tags + name.encode() + b"\0" + b"".join(fields)
    return struct.pack("<H", len(body) + 2) + body


def provider_meta(name: str, group: uuid.UUID | None = None) -> bytes:
    body = name.encode() + b"\0"
    if group is not None:
        body += struct.pack("<HB", 19, 1) + group.bytes_le
    return struct.pack("<H", len(body) + 2) + body


TL_GUID = uuid.UUID("b3864c38-4273-58c5-545b-8b3608343471")  # "MyProvider" (TraceLoggingDynamic test)


def tl_record(meta: bytes, payload: bytes, provider: str = "MyProvider", ptr: int = 8):
    return make_record(TL_GUID, 0, payload, ptr=ptr, ext=[(12, provider_meta(provider)), (11, meta)])


def test_synthetic_tracelogging_event_with_every_shape() -> None:
    meta = event_meta(
        "Conn",
        meta_field("ports", 6, 7, vcount=True),                # UInt16[] as network-order ports
        meta_field("ids", 7, ccount=3),                        # Int32[3]
        meta_field("addr", 8, 8),                              # UInt32 IPv4
        meta_field("who", 22),                                 # counted UTF-16 string
        meta_field("blob", 14),                                # Binary: u16 size + bytes
        meta_field("peer", 24, 2, vcount=True),                # struct[] of the next 2 fields
        meta_field("host", 2),
        meta_field("ok", 13),
        meta_field("ptr", 21, tags=b"\x81\x01"),               # HexInt64 with field tags
        meta_field("wide", 6, 2, ccount=3),                    # UInt16[3] as text
        meta_field("custom", 14, schema=b"\x01\x02\x03"),      # custom schema: counted bytes
        tags=b"\x85\x01",
    )
    payload = (struct.pack("<H", 2) + struct.pack(">HH", 443, 8080)
               + struct.pack("<iii", -1, 0, 7)
               + bytes([10, 1, 2, 3])
               + struct.pack("<H", 6) + "bob".encode("utf-16-le")
               + struct.pack("<H", 3) + b"\xaa\xbb\xcc"
               + struct.pack("<H", 2) + b"a\0" + struct.pack("<I", 1) + b"bc\0" + struct.pack("<I", 0)
               + struct.pack("<Q", 0xDEADBEEF)
               + "hi!".encode("utf-16-le")
               + struct.pack("<H", 2) + b"\x01\x02")
    rec = tl_record(meta, payload)
    parsed = parse_event_metadata(meta)
    assert parsed.name == "Conn" and parsed.tags == 0x85 & 0x7F | (1 << 7)
    dec = decode_event(rec)
    assert not dec.problems
    v = dec.values
    assert v["ports"] == [443, 8080] and v["ids"] == [-1, 0, 7] and v["addr"] == 0x0A010203
    assert v["who"] == "bob" and v["blob"] == b"\xaa\xbb\xcc"
    assert v["peer"] == [{"host": "a", "ok": 1}, {"host": "bc", "ok": 0}]
    assert v["ptr"] == 0xDEADBEEF and v["wide"] == "hi!" and v["custom"] == b"\x01\x02"
    node = dec.layers[0].fields[0]
    assert sum(c.length for c in node.children) == len(payload)
    peer = next(c for c in node.children if c.label == "peer")
    assert [c.label for c in peer.children] == ["peer[0]", "peer[1]"]
    host = peer.children[1].children[0]
    assert host.value == "bc" and rec.record[host.start:host.start + host.length] == b"bc\0"
    addr = next(c for c in node.children if c.label == "addr")
    assert addr.display == "10.1.2.3" and addr.fdef.type is FieldType.IPV4
    assert dec.protocol == "MyProvider_MyProvider" and dec.description == "MyProvider_MyProvider:Conn"
    assert dec.layers[0].fields[0].fdef.meta == {"provider": str(TL_GUID), "tracelogging": True}


@pytest.mark.parametrize("cut", [3, 5, 9])
def test_damaged_metadata_shows_the_payload_as_hex(cut: int) -> None:
    # size | tag | "Evt\0" | "a\0" UInt32 | "b\0" Struct(1) | "c\0" Int32: cut inside the name,
    # inside "Evt", and before a's type byte
    meta = event_meta("Evt", meta_field("a", 8), meta_field("b", 24, 1), meta_field("c", 7))
    broken = struct.pack("<H", 200) + meta[2:cut]  # and the size claims more than there is
    dec = decode_event(tl_record(broken, b"\x01\x02\x03\x04"))
    assert dec.problems[0].startswith("damaged TraceLogging metadata")
    assert dec.layers[0].fields[0].value == b"\x01\x02\x03\x04"
    assert dec.description.startswith(dec.protocol + ":")


def test_metadata_size_larger_than_the_item_is_tolerated() -> None:
    meta = event_meta("Evt", meta_field("a", 8), meta_field("b", 24, 1), meta_field("c", 7))
    dec = decode_event(tl_record(struct.pack("<H", 200) + meta[2:], struct.pack("<Ii", 9, -9)))
    assert not dec.problems and dec.values == {"a": 9, "b": {"c": -9}}


def test_short_tracelogging_payload() -> None:
    meta = event_meta("Evt", meta_field("a", 8), meta_field("s", 1), meta_field("c", 10))
    dec = decode_event(tl_record(meta, struct.pack("<I", 5) + "xy".encode("utf-16-le")))
    assert dec.values == {"a": 5, "s": "xy"}  # the string runs to the end without its NUL
    assert "c" in dec.problems[0]


def test_fields_keep_their_registry_names_after_the_schema_caches_evict_them() -> None:
    from tracemon.traces.etw import decode
    from tracemon.traces.etw import tracelogging as tl

    meta = event_meta("Evt", meta_field("a", 8), meta_field("s", 1))
    rec = tl_record(meta, struct.pack("<I", 5) + "xy\0".encode("utf-16-le"))
    before = [(c.label, c.fdef) for c in decode_event(rec).layers[0].fields[0].children]
    assert all(fdef is not None for _, fdef in before)
    old = tl.parse_event_metadata(meta)  # alive, so the schema parsed again gets new objects (and ids)
    tl.parse_event_metadata.cache_clear()  # what thousands of other TraceLogging schemas would do
    with decode._templates.lock:
        decode._templates.data.clear()
    after = [(c.label, c.fdef) for c in decode_event(rec).layers[0].fields[0].children]
    assert after == before
    assert tl.parse_event_metadata(meta) is not old


def test_nested_counts_of_empty_structs_stop_at_the_value_bound() -> None:
    """Metadata from the file can nest constant-count arrays of empty structs: no payload byte
    bounds them, so 1000 x 1000 elements would be a million values (60000 x 60000 a hang)."""
    meta = event_meta("Evt", meta_field("a", 24, 1, ccount=1000), meta_field("b", 24, 0, ccount=1000),
                      meta_field("c", 8))
    payload = bytes(1000) + struct.pack("<I", 7)
    dec = decode_event(tl_record(meta, payload))
    assert len(dec.problems) == 1 and "more than 131072 values" in dec.problems[0]
    node = dec.layers[0].fields[0]
    assert sum(c.length for c in node.children if c.start >= 0) == len(payload)  # shown as bytes
    assert [c.label for c in node.children if c.start < 0] == ["a", "c"]  # neither decoded
    assert node.children[-1].display == "(missing: not decoded: too many values before it)"


@settings(max_examples=300, deadline=None)
@given(meta=st.binary(min_size=0, max_size=80), payload=st.binary(max_size=64))
def test_random_metadata_and_payloads_never_raise(meta: bytes, payload: bytes) -> None:
    dec = decode_event(tl_record(struct.pack("<H", len(meta) + 2) + meta, payload))
    assert dec.layers and dec.description.startswith(dec.protocol + ":")
    node = dec.layers[0].fields[0]
    if dec.problems and dec.problems[0].startswith("damaged"):  # the payload as one hex field
        assert node.value == payload and node.label == "UserData"
    else:  # decoded: every payload byte is shown once
        assert sum(c.length for c in node.children if c.start >= 0) == len(payload)
