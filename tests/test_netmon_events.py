"""Netmon 2.3 captures with NetEvent (ETW) frames, process and comment tables.

No public Netmon 3.x capture exists (samples/SOURCES.md), so this test writes one by the
documented layout (the same one Wireshark's wiretap/netmon.c reads) and checks that every part
reaches the frames: per-frame UTC time, media type, process, comment, and ETW events decoded by
the same decoders as an ETL file.
"""

from __future__ import annotations

import struct
import subprocess
import uuid
from pathlib import Path

import numpy as np
from conftest import require_tshark
from tracemon.traces import open_trace
from tracemon.traces.etw.writer import VMSWITCH_GUID, names
from tracemon.traces.export import write_pcapng
from tracemon.traces.index import KIND_EVENT, KIND_PACKET

FILETIME_1970 = 116444736000000000
T0 = 1_700_000_000_000_000_000  # ns
SWITCH = ("9F3C2A1B-0000-0000-0000-000000000001", "External Switch")
NIC = ("4D2A-NIC-GUID", "VM01 Network Adapter")


def _filetime(ns: int) -> int:
    return ns // 100 + FILETIME_1970


def netevent(provider: uuid.UUID, event_id: int, payload: bytes, *, pid: int, tid: int, ts_ns: int,
             level: int = 4) -> bytes:
    header = struct.pack("<HHHHIIq16sHBBBBHQQ16s", 0, 0, 0x40, 0, tid, pid, _filetime(ts_ns), provider.bytes_le,
                         event_id, 0, 0, level, 0, 0, 0x80, 0, bytes(16))
    ctx = struct.pack("<BBHHHB", 1, 0, 7, 0, len(payload), 0)
    body = header + ctx + payload
    return struct.pack("<H", len(body)) + body[2:]


def write_netmon(path: Path, frames: list[tuple[int, int, bytes, int]], process: tuple[str, int],
                 comment: tuple[int, str, str]) -> None:
    """frames: (time ns, media type, bytes, process index)."""
    out = bytearray(128)
    offsets = []
    for ts, media, data, proc in frames:
        offsets.append(len(out))
        out += struct.pack("<QII", (ts - T0) // 1000, len(data), len(data)) + data
        out += struct.pack("<HIQB", media, proc, _filetime(ts), 0)
    table_off = len(out)
    out += struct.pack(f"<{len(offsets)}I", *offsets)
    proc_off = len(out)
    path_text = process[0].encode("utf-16-le") + b"\0\0"
    out += struct.pack("<H", 1) + struct.pack("<I", len(path_text)) + path_text + struct.pack("<I", 0)
    out += struct.pack("<IHHHHI", process[1], 50000, 0, 443, 0, 0) + bytes(32)
    com_off = len(out)
    frame_no, title, desc = comment
    t = title.encode("utf-16-le")
    out += struct.pack("<III", 1, offsets[frame_no], len(t)) + t + struct.pack("<I", len(desc)) + desc.encode()
    com_len = len(out) - com_off
    hdr = b"GMBU" + struct.pack("<BBH8HIIIIIIIIII", 3, 2, 1, 2023, 11, 2, 14, 22, 13, 20, 0, table_off,
                                4 * len(offsets), 0, 0, com_off, com_len, proc_off, 1, 0, 0)
    out[: len(hdr)] = hdr
    path.write_bytes(bytes(out))


def test_netevent_frames_decode_like_etl_events(tmp_path: Path) -> None:
    arp = bytes.fromhex("ffffffffffff00155d0000010806" "0001080006040001" "00155d000001" "0a000001"
                        "000000000000" "0a000002") + bytes(18)
    drop = netevent(VMSWITCH_GUID, 54, names(NIC, SWITCH) + struct.pack("<I", 0xC000023C), pid=4, tid=88,
                    ts_ns=T0 + 2_000_000)
    path = tmp_path / "vmswitch.cap"
    write_netmon(path, [(T0 + 1_000_000, 1, arp, 0), (T0 + 2_000_000, 0xFFE0, drop, 0xFFFFFFFF)],
                 ("C:\\Windows\\System32\\svchost.exe", 1234), (0, "Look here", "the ARP that started it"))
    trace = open_trace(path, use_cache=False)
    assert len(trace) == 2 and not trace.warnings
    np.testing.assert_array_equal(trace.index.ts, [T0 + 1_000_000, T0 + 2_000_000])
    assert list(trace.index.kind) == [KIND_PACKET, KIND_EVENT]
    # the packet: its process comes from the process table, its comment from the comment table
    packet = trace.frame(0)
    assert packet.protocol_name == "ARP" and packet.process_id == 1234
    assert packet.comments == ["Look here: the ARP that started it"]
    assert packet.meta["Process"] == "svchost.exe (1234)"
    # the event: indexed by provider and id, decoded by the VmSwitch schema
    assert int(trace.index.event_id[1]) == 54 and int(trace.index.pid[1]) == 4
    event = trace.frame(1)
    assert event.kind == "event"
    assert event.protocol_name == "VMSWITCH_MicrosoftWindowsHyperVVmSwitch"
    assert event.process_id == 4 and event.thread_id == 88
    assert event.has("VMSWITCH_MicrosoftWindowsHyperVVmSwitch.VM_NBL_INCOMING_DROP")
    assert event.first("VMSWITCH_MicrosoftWindowsHyperVVmSwitch.VM_NBL_INCOMING_DROP.NicFName") == NIC[1]
    assert event.first("VMSWITCH_MicrosoftWindowsHyperVVmSwitch.VM_NBL_INCOMING_DROP.SwitchFName") == SWITCH[1]
    assert event.first("NetEvent.Header.Descriptor.Id") == 54
    reason = event.fields("VMSWITCH_MicrosoftWindowsHyperVVmSwitch.VM_NBL_INCOMING_DROP.DropReason")[0]
    assert reason.value == 0xC000023C
    # byte ranges point into the NetEvent frame bytes
    assert event.data[reason.start : reason.start + reason.length] == struct.pack("<I", 0xC000023C)


def test_truncated_netevent_is_shown_not_fatal(tmp_path: Path) -> None:
    short = netevent(VMSWITCH_GUID, 58, b"", pid=4, tid=8, ts_ns=T0)[:40]
    path = tmp_path / "short.cap"
    write_netmon(path, [(T0, 0xFFE0, short, 0xFFFFFFFF)], ("x.exe", 1), (0, "t", ""))
    trace = open_trace(path, use_cache=False)
    frame = trace.frame(0)
    assert frame.kind == "event" and "too short" in frame.description


def test_media_types_become_interfaces_in_order_of_appearance(tmp_path: Path) -> None:
    arp = bytes.fromhex("ffffffffffff00155d0000010806") + bytes(28)
    event = netevent(VMSWITCH_GUID, 58, b"", pid=4, tid=8, ts_ns=T0)
    path = tmp_path / "order.cap"
    write_netmon(path, [(T0, 0xFFE0, event, 0xFFFFFFFF), (T0 + 1000, 1, arp, 0), (T0 + 2000, 0xFFE0, event, 0)],
                 ("x.exe", 77), (0, "t", ""))
    trace = open_trace(path, use_cache=False)
    assert [i.name for i in trace.interfaces] == ["NetEvent", "Ethernet"]
    assert trace.index.iface.tolist() == [0, 1, 0]
    assert trace.index.pid.tolist()[1:] == [77, 4]  # the packet's from the process table, the event's own


def test_netmon_wifi_frames_export_as_plain_802_11(tmp_path: Path) -> None:
    """Netmon 802.11 frames carry a metadata header no pcap link type has: the export drops it."""
    sa, da, bssid = bytes.fromhex("00155d000001"), bytes.fromhex("00155d000002"), bytes.fromhex("00155d0000aa")
    ip = bytes.fromhex("4500001c00010000401100000a0000010a000002") + bytes.fromhex("0035d43100080000")
    wifi = b"\x08\x01\x2c\x00" + bssid + sa + da + b"\x10\x00" + b"\xaa\xaa\x03\x00\x00\x00\x08\x00" + ip
    meta = bytes([2]) + struct.pack("<H", 32) + bytes(29)  # version, header length, radio facts
    path = tmp_path / "wifi.cap"
    write_netmon(path, [(T0, 6, meta + wifi, 0)], ("x.exe", 1), (0, "t", ""))
    trace = open_trace(path, use_cache=False)
    source = trace.frame(0)
    assert source.protocol_name == "UDP" and source.first("WiFi.SourceAddress") == int.from_bytes(sa, "big")
    out = tmp_path / "wifi.pcapng"
    write_pcapng(trace, [0], out)
    copy = open_trace(out, use_cache=False)
    assert copy.interfaces[0].link_type == 105
    assert copy.raw(0) == wifi
    frame = copy.frame(0)
    assert frame.protocols[1:] == source.protocols[1:]  # all but the Frame layer
    exe = require_tshark()
    sa_text = subprocess.run([exe, "-r", str(out), "-T", "fields", "-e", "wlan.sa", "-e", "udp.srcport"],
                             capture_output=True, text=True, check=True).stdout.split()
    assert sa_text == ["00:15:5d:00:00:01", "53"]


def test_netevent_providers_are_bounded_like_the_etl_reader(tmp_path: Path) -> None:
    from tracemon.traces.etw.reader import MAX_PROVIDERS

    n = MAX_PROVIDERS + 3  # each event from a provider of its own: damage, most likely
    frames = [(T0 + k, 0xFFE0, netevent(uuid.UUID(int=k + 1), 1, b"", pid=4, tid=8, ts_ns=T0 + k), 0xFFFFFFFF)
              for k in range(n)]
    path = tmp_path / "providers.cap"
    write_netmon(path, frames, ("x.exe", 1), (0, "t", ""))
    trace = open_trace(path, use_cache=False)
    assert len(trace) == n
    assert len(trace.providers) == MAX_PROVIDERS + 1  # code 0 is "not ETW"
    assert trace.index.provider.tolist()[-3:] == [0, 0, 0] and trace.facts["providers_over_limit"] == 3
    assert "more than" in trace.warnings[0].cause
    assert trace.frame(n - 1).kind == "event"
