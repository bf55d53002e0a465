"""Netmon files: every version and header size, NetEvent frames, comments, processes, Wi-Fi
media, and files whose frame table is missing or damaged (crafted files and the samples)."""

from __future__ import annotations

import struct
import uuid
from pathlib import Path

import pytest
from conftest import sample, samples
from netmon_craft import ARP, RTF, START_NS, UDP, Proc, Rec, netevent, write
from tracemon.filters import compile_filter
from tracemon.traces import Frame, Trace, open_trace
from tracemon.traces.columns import STANDARD, ColumnFormatter
from tracemon.traces.errors import TraceError
from tracemon.traces.etw.writer import VMSWITCH_GUID, EtlWriter, names
from tracemon.traces.fields import FieldType
from tracemon.traces.index import KIND_EVENT
from tracemon.traces.stats import trace_stats

ADFSOD = "netmon/msprotod_MS-ADFSOD_Example1_WIN2016_X64_WIN10_X64_Domain.cap"
CCROD = "netmon/msprotod_MS-CCROD_Example2Peer1Version1_Win2016_X64_Win10_X64_Domain_CePark.cap"
AUTHSOD = "netmon/msprotod_MS-AUTHSOD_Example3-1_Win2016_X64_Win2016_X64_Domain.cap"
NETMON_SAMPLES = samples("netmon", ".cap")


# -- versions and header sizes ------------------------------------------------------------------

@pytest.mark.parametrize("version", [(1, 1), (2, 0), (2, 1), (2, 2), (2, 3)], ids=lambda v: f"{v[0]}.{v[1]}")
@pytest.mark.parametrize("header", [72, 128])
def test_every_version_and_header_size(tmp_path: Path, version: tuple[int, int], header: int) -> None:
    """1.x used to raise a NumPy ValueError; a 72-byte header used to give 0 frames."""
    recs = [Rec(ARP, START_NS + 5_000_000), Rec(UDP, START_NS + 7_000_000, orig=100)]
    path = tmp_path / "v.cap"
    write(path, recs, version=version, header=header)
    trace = open_trace(path, use_cache=False)
    assert not trace.warnings
    assert len(trace) == 2 and trace.facts["version"] == f"{version[0]}.{version[1]}"
    assert trace.index.ts.tolist() == [START_NS + 5_000_000, START_NS + 7_000_000]
    assert [trace.raw(0), trace.raw(1)] == [ARP, UDP]
    frames = [trace.frame(0), trace.frame(1)]
    assert [f.protocol_name for f in frames] == ["ARP", "UDP"]
    assert (frames[1].original_length, frames[1].captured_length) == (100, len(UDP))


def test_a_header_shorter_than_its_fixed_fields_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "short.cap"
    path.write_bytes(b"GMBU\x03\x02" + bytes(40))
    with pytest.raises(TraceError, match="truncated Netmon header"):
        open_trace(path, use_cache=False)


# -- NetEvent frames ---------------------------------------------------------------------------

def _int_fields_match_bytes(frame: Frame) -> int:
    """Every unsigned field of the NetEvent layer equals the little-endian bytes at its range."""
    checked = 0
    ne = next(layer for layer in frame.layers if layer.name == "NetEvent")
    for f in ne.walk():
        if f.fdef is None or f.start < 0:
            continue
        raw = frame.data[f.start : f.start + f.length]
        if f.fdef.type is FieldType.UINT and f.length in (1, 2, 4, 8):
            assert f.value == int.from_bytes(raw, "little"), (f.name, f.value, raw.hex())
            checked += 1
        elif f.fdef.type is FieldType.GUID:
            assert f.value == uuid.UUID(bytes_le=raw), f.name
            checked += 1
        elif f.fdef.type is FieldType.BYTES:
            assert f.value == raw, f.name
    return checked


@pytest.mark.parametrize("rel", [ADFSOD, CCROD])
def test_every_netevent_field_is_read_from_the_bytes_its_range_points_at(rel: str) -> None:
    """Size and HeaderType used to come from elsewhere (``Size: 125 [0:2]`` where the bytes say 52)."""
    trace = open_trace(sample(rel), use_cache=False)
    events = [i for i in range(len(trace)) if trace.index.kind[i] & KIND_EVENT]
    assert events
    for i in events:
        frame = trace.frame(i)
        assert _int_fields_match_bytes(frame) >= 20
        assert frame.first("NetEvent.Header.Size") == struct.unpack_from("<H", frame.data)[0]
    first = trace.frame(events[0])
    assert first.first("NetEvent.Header.Size") == 52 and first.first("NetEvent.Header.HeaderType") == 0


def test_kernel_events_decode_as_the_etl_reader_decodes_them() -> None:
    """A classic kernel Process event (DCStart, opcode 3) in a NetEvent frame and the same event
    from an ETL kernel logger: same provider, same Protocol Name and Description, same index keys."""
    netmon = open_trace(sample(ADFSOD), use_cache=False)
    etl = open_trace(sample("etl/etlparser_ShutdownPerfDiagLogger.etl"), use_cache=False)

    def first_process_dcstart(trace: Trace) -> int:
        for i in range(len(trace)):
            p = trace.providers[int(trace.index.provider[i])]
            if p.guid.strip("{}").lower() == "3d6fa8d0-fe05-11d0-9dda-00c04fd7ba7c" and trace.index.opcode[i] == 3:
                return i
        raise AssertionError("no Process DCStart event")

    a, b = first_process_dcstart(netmon), first_process_dcstart(etl)
    fa, fb = netmon.frame(a), etl.frame(b)
    assert fa.protocol_name == fb.protocol_name == "SystemTrace_Process"
    assert fa.description == fb.description == "SystemTrace_Process:Hook 0x0303, Opcode 3"
    assert [layer.label or layer.name for layer in fa.layers[2:]] == [layer.label or layer.name for layer in fb.layers[2:]]
    assert int(netmon.index.event_id[a]) == int(etl.index.event_id[b]) == 0
    # the trace statistics (and the tree) group the provider's events alike
    providers = {p["protocol"]: p for p in trace_stats(netmon)["providers"]}
    assert {"SystemTrace_Process", "SystemTrace_EventTrace", "SystemTrace_EventTraceConfig"} <= set(providers)
    assert {e["name"] for e in providers["SystemTrace_Process"]["events"]} >= {"Opcode 3", "Opcode 4"}


def test_a_manifest_event_decodes_the_same_in_a_netevent_frame_and_an_etl_file(tmp_path: Path) -> None:
    nic, switch = ("4D2A-NIC-GUID", "VM01 Network Adapter"), ("9F3C2A1B-0000-0000-0000-000000000001", "External")
    payload = names(nic, switch) + struct.pack("<I", 0xC000023C)
    ts = START_NS + 2_000_000
    etl_path = tmp_path / "drop.etl"
    with EtlWriter(etl_path, start_ns=START_NS) as w:
        w.event(VMSWITCH_GUID, 54, payload, ts_ns=ts, pid=4, tid=88)
    ext = struct.pack("<HHHH", 0, 3, 0, 4) + struct.pack("<I", 7)  # a terminal session id item
    nm_path = tmp_path / "drop.cap"
    write(nm_path, [Rec(netevent(VMSWITCH_GUID, 54, payload, pid=4, tid=88, ts_ns=ts, ext=ext, ext_count=1), ts,
                        media=0xFFE0)])
    etl = open_trace(etl_path, use_cache=False)
    nm = open_trace(nm_path, use_cache=False)
    fe = next(etl.frame(i) for i in range(len(etl)) if etl.frame(i).protocol_name.startswith("VMSWITCH"))
    fn = nm.frame(0)
    assert fn.protocol_name == fe.protocol_name and fn.description == fe.description
    decoded = [[(f.name, f.display) for f in layer.walk()] for layer in fn.layers[2:]]
    assert decoded == [[(f.name, f.display) for f in layer.walk()] for layer in fe.layers[2:]]
    assert fn.process_id == 4 and fn.thread_id == 88
    # the NetEvent layer of the Netmon frame, from its own bytes
    assert _int_fields_match_bytes(fn) >= 20
    assert fn.first("NetEvent.ExtendedData.TsId") == 7
    assert fn.first("NetEvent.Header.KernelTime") == 3 and fn.first("NetEvent.Header.UserTime") == 2
    assert fn.first("NetEvent.BufferContext.ProcessorNumber") == 1
    assert fn.first("NetEvent.BufferContext.Alignment") == 7
    # indexed by provider and event, and answered from the index like an ETL event
    assert compile_filter("VMSWITCH_MicrosoftWindowsHyperVVmSwitch.VM_NBL_INCOMING_DROP", trace=nm).evaluate(
        nm, 0, 1).tolist() == [True]
    assert compile_filter("NetEvent", trace=nm).evaluate(nm, 0, 1).tolist() == [True]


def test_processor_time_replaces_kernel_and_user_time_when_the_flags_say_so(tmp_path: Path) -> None:
    path = tmp_path / "ptime.cap"
    write(path, [Rec(netevent(uuid.UUID(int=5), 1, b"xy", pid=4, tid=8, ts_ns=START_NS, flags=0x50 | 0x200),
                     START_NS, media=0xFFE0)])
    frame = open_trace(path, use_cache=False).frame(0)
    assert frame.first("NetEvent.Header.ProcessorTime") == 0x0000000200000003
    assert frame.first("NetEvent.Header.KernelTime") is None
    assert frame.first("NetEvent.BufferContext.ProcessorIndex") == 1 | (7 << 8)
    assert _int_fields_match_bytes(frame) >= 20


def test_a_short_netevent_is_shown_not_fatal(tmp_path: Path) -> None:
    path = tmp_path / "short.cap"
    write(path, [Rec(netevent(VMSWITCH_GUID, 58, b"", pid=4, tid=8, ts_ns=START_NS)[:40], START_NS, media=0xFFE0)])
    frame = open_trace(path, use_cache=False).frame(0)
    assert frame.kind == "event" and "too short" in frame.description


# -- comments and processes --------------------------------------------------------------------

def test_comments_show_title_and_plain_text(tmp_path: Path) -> None:
    path = tmp_path / "comments.cap"
    write(path, [Rec(ARP), Rec(UDP), Rec(netevent(VMSWITCH_GUID, 58, b"", pid=4, tid=8, ts_ns=START_NS),
                                     media=0xFFE0)],
          comments=[(0, "First", RTF), (2, "On an event", b"plain, not RTF"), (0, "Second", b"")])
    trace = open_trace(path, use_cache=False)
    assert not trace.warnings
    arp, udp, event = (trace.frame(i) for i in range(3))
    assert arp.comments == ["First: Step    1\nCafé € ok", "Second"]
    assert udp.comments == []
    assert event.comments == ["On an event: plain, not RTF"]
    assert event.values("Frame.Comment") == event.comments and arp.values("Frame.Comment") == arp.comments


def test_a_damaged_comment_table_costs_the_comments_not_the_frames(tmp_path: Path) -> None:
    path = tmp_path / "badcomments.cap"
    lay = write(path, [Rec(ARP), Rec(UDP)], comments=[(0, "ok", b"one"), (1, "bad", b"two")])
    raw = bytearray(path.read_bytes())
    second = lay.comments + 12 + len("ok\0".encode("utf-16-le")) + 4 + 3
    struct.pack_into("<I", raw, second + 8, 1 << 30)  # the second title length
    path.write_bytes(bytes(raw))
    trace = open_trace(path, use_cache=False)
    assert len(trace) == 2 and trace.frame(0).comments == ["ok: one"] and trace.frame(1).comments == []
    assert any("comment title length" in w.cause and w.offset == second for w in trace.warnings)


def test_process_table_fills_the_process_column_and_details(tmp_path: Path) -> None:
    path = tmp_path / "procs.cap"
    procs = [Proc("C:\\Windows\\System32\\svchost.exe", 1234, "192.168.1.5", "10.1.2.3"),
             Proc("C:\\Program Files\\app\\client.exe", 4321, "2001:db8::1", "2001:db8::2", 51000, 8443)]
    write(path, [Rec(ARP, process=0), Rec(UDP, process=1), Rec(UDP, process=0xFFFFFFFF), Rec(ARP, process=7)],
          version=(2, 2), processes=procs)
    trace = open_trace(path, use_cache=False)
    assert not trace.warnings
    fmt = ColumnFormatter(trace)
    assert [fmt.text(STANDARD["process"], i) for i in range(4)] == ["svchost.exe (1234)", "client.exe (4321)", "", ""]
    assert trace.frame(0).meta["Process"] == "svchost.exe (1234)" and trace.frame(0).process_id == 1234
    assert trace.frame(1).meta["ProcessPath"] == "C:\\Program Files\\app\\client.exe"
    assert "Process" not in trace.frame(2).meta and trace.frame(2).process_id is None
    reader = trace.reader
    assert [(p.local_address, p.remote_address, p.local_port, p.remote_port) for p in reader.processes] == [
        ("192.168.1.5", "10.1.2.3", 50000, 443), ("2001:db8::1", "2001:db8::2", 51000, 8443)]
    assert trace.facts["processes"] == ["1234 C:\\Windows\\System32\\svchost.exe",
                                        "4321 C:\\Program Files\\app\\client.exe"]
    cf = compile_filter('Conversation.ProcessName.Contains("client")', trace=trace)
    assert cf.evaluate(trace, 0, 4).tolist() == [False, True, True, False]  # by conversation


def test_netmon_wifi_media_type_is_named(tmp_path: Path) -> None:
    meta = bytes([2]) + struct.pack("<H", 32) + bytes(29)
    wifi = b"\x08\x01\x2c\x00" + bytes(18) + b"\x10\x00" + b"\xaa\xaa\x03\x00\x00\x00\x08\x00" + UDP[14:]
    path = tmp_path / "wifi.cap"
    write(path, [Rec(meta + wifi, media=6)])
    frame = open_trace(path, use_cache=False).frame(0)
    media = frame.fields("Frame.MediaType")[0]
    assert "unknown" not in media.display and "802.11" in media.display and "WiFi" in media.display
    assert "802.11" in frame.layers[0].summary


# -- a missing or damaged frame table ----------------------------------------------------------

@pytest.mark.parametrize("path", NETMON_SAMPLES, ids=lambda p: p.name)
def test_a_file_cut_short_keeps_every_whole_frame(path: Path, tmp_path: Path) -> None:
    """The frame table is written last: a cut file has none, and used to keep nothing."""
    full = open_trace(path, use_cache=False)
    data = path.read_bytes()
    ends = [int(full.index.loc[i]) for i in range(len(full))]
    for keep in (len(data) * 2 // 3, len(data) // 3, ends[1] + 20):
        cut = tmp_path / f"cut{keep}.cap"
        cut.write_bytes(data[:keep])
        trace = open_trace(cut, use_cache=False)
        # every record that ends before the cut is kept, in order, and nothing else
        whole = [i for i in range(len(full)) if int(full.index.loc[i]) + full.reader.hdr_len + int(full.index.length[i])
                 + full.reader.trailer <= keep]
        assert len(trace) == len(whole) > 0
        assert [trace.raw(i) for i in range(len(trace))] == [full.raw(i) for i in whole]
        assert trace.index.ts.tolist() == full.index.ts[: len(whole)].tolist()
        w = trace.warnings[0]
        assert "frame table" in w.cause and "walking" in w.cause and w.frames_kept == len(trace)
        assert str(cut) in w.message and w.offset is not None


def test_a_zeroed_table_length_is_walked_to_the_end(tmp_path: Path) -> None:
    path = tmp_path / "notable.cap"
    lay = write(path, [Rec(ARP, START_NS + 1000 * k) for k in range(5)], comments=[(3, "c", b"x")])
    raw = bytearray(path.read_bytes())
    struct.pack_into("<I", raw, 28, 0)  # FrameTableLength
    path.write_bytes(bytes(raw))
    trace = open_trace(path, use_cache=False)
    assert len(trace) == 5 and trace.frame(3).comments == ["c: x"]
    assert "lists no frame table" in trace.warnings[0].cause and "5 frames" in trace.warnings[0].cause
    assert trace.warnings[0].offset == lay.table  # the walk stopped where the tables begin


def test_a_walk_stops_at_the_first_record_that_does_not_fit(tmp_path: Path) -> None:
    path = tmp_path / "damaged.cap"
    lay = write(path, [Rec(ARP, START_NS + 1000 * k) for k in range(6)])
    raw = bytearray(path.read_bytes())
    struct.pack_into("<I", raw, 28, 0)
    struct.pack_into("<H", raw, lay.offsets[4] + 16 + len(ARP), 0x7777)  # record 4: unknown media type
    path.write_bytes(bytes(raw))
    trace = open_trace(path, use_cache=False)
    assert len(trace) == 4
    w = trace.warnings[0]
    assert w.offset == lay.offsets[4] and "unknown media type 0x7777" in w.cause and w.frames_kept == 4


def test_damaged_table_entries_are_skipped_and_the_others_kept(tmp_path: Path) -> None:
    path = tmp_path / "entries.cap"
    lay = write(path, [Rec(ARP, START_NS + 1000 * k) for k in range(6)])
    raw = bytearray(path.read_bytes())
    struct.pack_into("<I", raw, lay.table + 4 * 1, 10)  # into the header
    struct.pack_into("<I", raw, lay.offsets[3] + 12, 1 << 20)  # record 3: a frame larger than any
    path.write_bytes(bytes(raw))
    trace = open_trace(path, use_cache=False)
    assert trace.index.ts.tolist() == [START_NS + 1000 * k for k in (0, 2, 4, 5)]
    w = trace.warnings[0]
    assert "entry 1" in w.cause and "2 entries skipped" in w.cause and "into the file header" in w.cause
