"""Netmon files against tshark, frame by frame: the genuine Network Monitor 2.3 samples, and
Netmon 1.x and 2.x files that ``editcap`` writes from every pcap/pcapng sample.

For each file: the frame count, and per frame in order the time (to the ns), the frame and
captured lengths, the Ethernet/IP addresses and the TCP/UDP ports equal what tshark prints.
NetEvent frames: every header field equals tshark's ``netmon_event`` field.  Comments: every
frame's comment title is tshark's ``netmon_header.title_comment``.

editcap and tshark run with TZ=UTC: a Netmon 1.x/2.0 header holds the capture start as a local
SYSTEMTIME (Wireshark writes it with localtime() and reads it with mktime()); we read it as UTC.
Without editcap/tshark the tests skip, unless TRACEMON_REQUIRE_TSHARK is set.
"""

from __future__ import annotations

import functools
import os
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest
from conftest import require_tool, require_tshark, samples
from test_tshark_fields import epoch_ns, ip4, ip6, mac
from tracemon.traces import Frame, open_trace

pytestmark = pytest.mark.tshark

GENUINE = [p for p in samples("netmon", ".cap") if p.name.startswith("msprotod_")]
NETMON_SAMPLES = samples("netmon", ".cap")
SOURCES = [*samples("pcap", ".pcap"), *samples("pcapng", ".pcapng")]
CONVERSIONS = [(src, fmt) for src in SOURCES for fmt in ("netmon1", "netmon2")]
UTC = {**os.environ, "TZ": "UTC"}


def require_editcap() -> str:
    return require_tool("editcap")


@functools.lru_cache(maxsize=1)
def _workdir() -> Path:
    return Path(tempfile.mkdtemp(prefix="tracemon-netmon-"))


@functools.lru_cache(maxsize=64)
def converted(src: Path, fmt: str) -> Path | None:
    """``src`` written by ``editcap -F fmt`` (None when editcap cannot write its records)."""
    out = _workdir() / f"{src.name}.{fmt}.cap"
    done = subprocess.run([require_editcap(), "-F", fmt, str(src), str(out)], capture_output=True, text=True, check=False,
                          env=UTC, timeout=120)
    return out if done.returncode == 0 else None


def conversion(src: Path, fmt: str) -> Path:
    path = converted(src, fmt)
    if path is None:
        pytest.skip(f"editcap cannot write {src.name} as {fmt} (record types it does not support)")
    return path


@functools.lru_cache(maxsize=64)
def tshark(path: str, fields: tuple[str, ...]) -> list[list[str]]:
    cmd = [require_tshark(), "-r", path, "-T", "fields", "-E", "separator=/t", "-E", "occurrence=a"]
    for f in fields:
        cmd += ["-e", f]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, env=UTC, timeout=120).stdout
    return [line.split("\t") for line in out.splitlines()]


# -- per frame: count, order, time, lengths, addresses, ports --------------------------------

def _tso_without_tcp(frame: Frame) -> bool:
    """An IPv6 frame whose payload length is 0 (TCP segmentation offload): tshark reports its
    TCP header as malformed and shows no ports; we dissect it from the captured bytes."""
    return 0 in frame.values("IPv6.PayloadLength")


ADDRESS_FIELDS = (
    ("eth.src", "Ethernet.SourceAddress", mac), ("eth.dst", "Ethernet.DestinationAddress", mac),
    ("ip.src", "IPv4.SourceAddress", ip4), ("ip.dst", "IPv4.DestinationAddress", ip4),
    ("ipv6.src", "IPv6.SourceAddress", ip6), ("ipv6.dst", "IPv6.DestinationAddress", ip6),
    ("tcp.srcport", "TCP.SrcPort", int), ("tcp.dstport", "TCP.DstPort", int),
    ("udp.srcport", "UDP.SrcPort", int), ("udp.dstport", "UDP.DstPort", int),
)


def frame_differences(path: Path) -> list[str]:
    fields = ("frame.number", "frame.time_epoch", "frame.len", "frame.cap_len", *(f[0] for f in ADDRESS_FIELDS))
    rows = tshark(str(path), fields)
    problems: list[str] = []
    with open_trace(path, use_cache=False) as trace:
        if len(trace) != len(rows):
            return [f"{path.name}: {len(trace)} frames, tshark lists {len(rows)}"]
        for i, row in enumerate(rows):
            number, when, flen, caplen, *cells = row
            frame = trace.frame(i)
            where = f"{path.name} frame {i + 1}"
            if int(number) != frame.number:
                problems.append(f"{where}: tshark numbers it {number}")
            if int(trace.index.ts[i]) != epoch_ns(when) or frame.timestamp_ns != epoch_ns(when):
                problems.append(f"{where}: time {frame.timestamp_ns} ns, tshark {when}")
            if (frame.original_length, frame.captured_length) != (int(flen), int(caplen)):
                problems.append(f"{where}: lengths {frame.original_length}/{frame.captured_length}, "
                                f"tshark {flen}/{caplen}")
            for (name, ours, convert), cell in zip(ADDRESS_FIELDS, cells, strict=True):
                want = [convert(v) for v in cell.split(",")] if cell else []
                got = frame.values(ours)
                if got != want and not (not want and name.startswith("tcp.") and _tso_without_tcp(frame)):
                    problems.append(f"{where} {name}: tshark {want}, ours {got}")
            if len(problems) > 30:
                break
    return problems


@pytest.mark.parametrize("path", NETMON_SAMPLES, ids=lambda p: p.name)
def test_netmon_samples_match_tshark_frame_by_frame(path: Path) -> None:
    problems = frame_differences(path)
    assert not problems, "\n".join(problems)


def test_genuine_netmon_23_samples_open_with_every_frame() -> None:
    """Netmon 3.4 / Message Analyzer write a 72-byte header: the first frame is at offset 72."""
    counts = {p.name.split("_")[1]: len(open_trace(p, use_cache=False)) for p in GENUINE}
    if not counts:
        pytest.skip("no genuine Netmon samples")
    assert counts == {"MS-AUTHSOD": 66, "MS-ADOD": 193, "MS-WMOD": 92, "MS-ADFSOD": 732, "MS-CCROD": 1280}


@pytest.mark.parametrize(("src", "fmt"), CONVERSIONS, ids=lambda x: x if isinstance(x, str) else x.name)
def test_editcap_netmon_files_match_tshark_frame_by_frame(src: Path, fmt: str) -> None:
    path = conversion(src, fmt)
    problems = frame_differences(path)
    assert not problems, "\n".join(problems)
    # and they hold the frames of the file they were written from, in order
    with open_trace(path, use_cache=False) as nm, open_trace(src, use_cache=False) as orig:
        assert [nm.raw(i) for i in range(len(nm))] == [orig.raw(i) for i in range(len(orig))]


# -- NetEvent headers -------------------------------------------------------------------------

def _guid(s: str) -> uuid.UUID:
    return uuid.UUID(s)


#: tshark netmon_event field → (our field, how to read tshark's text)
NETEVENT_FIELDS = (
    ("netmon_event.size", "NetEvent.Header.Size", int),
    ("netmon_event.header_type", "NetEvent.Header.HeaderType", int),
    ("netmon_event.flags", "NetEvent.Header.Flags", lambda s: int(s, 16)),
    ("netmon_event.event_property", "NetEvent.Header.EventProperty", lambda s: int(s, 16)),
    ("netmon_event.thread_id", "NetEvent.Header.ThreadId", int),
    ("netmon_event.process_id", "NetEvent.Header.ProcessId", int),
    ("netmon_event.provider_id", "NetEvent.Header.ProviderId", _guid),
    ("netmon_event.event_desc.id", "NetEvent.Header.Descriptor.Id", int),
    ("netmon_event.event_desc.version", "NetEvent.Header.Descriptor.Version", int),
    ("netmon_event.event_desc.channel", "NetEvent.Header.Descriptor.Channel", int),
    ("netmon_event.event_desc.level", "NetEvent.Header.Descriptor.Level", int),
    ("netmon_event.event_desc.opcode", "NetEvent.Header.Descriptor.Opcode", lambda s: int(s, 16)),
    ("netmon_event.event_desc.task", "NetEvent.Header.Descriptor.Task", int),
    ("netmon_event.event_desc.keyword", "NetEvent.Header.Descriptor.Keyword", lambda s: int(s, 16)),
    ("netmon_event.activity_id", "NetEvent.Header.ActivityId", _guid),
    ("netmon_event.logger_id", "NetEvent.BufferContext.LoggerId", int),
    ("netmon_event.extended_data_count", "NetEvent.ExtendedDataCount", int),
    ("netmon_event.user_data_length", "NetEvent.UserDataLength", int),
    ("netmon_event.reassembled", "NetEvent.Reassembled", int),
)
WITH_EVENTS = [p for p in GENUINE if "ADFSOD" in p.name or "CCROD" in p.name]


@pytest.mark.parametrize("path", WITH_EVENTS, ids=lambda p: p.name)
def test_netevent_header_fields_are_tsharks(path: Path) -> None:
    rows = tshark(str(path), ("netmon_event.timestamp", *(f[0] for f in NETEVENT_FIELDS)))
    events = 0
    problems: list[str] = []
    with open_trace(path, use_cache=False) as trace:
        for i, row in enumerate(rows):
            frame = trace.frame(i)
            if frame.kind != "event":
                assert not row[1], f"frame {i + 1}: tshark sees a NetEvent"
                continue
            events += 1
            for (name, ours, convert), cell in zip(NETEVENT_FIELDS, row[1:], strict=True):
                if frame.values(ours) != [convert(cell)]:
                    problems.append(f"frame {i + 1} {name}: tshark {cell}, ours {frame.values(ours)}")
            assert frame.values("NetEvent.Header.TimeStamp") == [frame.timestamp_ns]
    assert events and not problems, "\n".join(problems[:30])


# -- comments ----------------------------------------------------------------------------------

@pytest.mark.parametrize("path", GENUINE, ids=lambda p: p.name)
def test_comment_titles_are_tsharks_and_descriptions_are_plain_text(path: Path) -> None:
    rows = tshark(str(path), ("netmon_header.title_comment",))
    commented = 0
    with open_trace(path, use_cache=False) as trace:
        for i, (title,) in enumerate(rows):
            comments = trace.frame(i).comments
            if not title:
                assert comments == [], f"frame {i + 1}"
                continue
            commented += 1
            assert len(comments) == 1 and comments[0].startswith(f"{title}: "), (i + 1, comments, title)
            text = comments[0]
            for markup in ("{\\", "\\rtf", "fonttbl", "colortbl", "\\par", "\x00"):
                assert markup not in text, (i + 1, markup, text)
    assert commented  # every genuine sample carries Netmon comments
