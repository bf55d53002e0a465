"""Write Netmon capture files for tests: any version, header size, comments and processes.

The layout is the one ``traces/netmon.py`` documents (Wireshark's wiretap/netmon.c reads the
same): a file header, frame records, then the frame table and the optional tables.
"""

from __future__ import annotations

import ipaddress
import struct
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

FILETIME_1970 = 116444736000000000
START_NS = 1_700_000_000_000_000_000  # 2023-11-14 22:13:20 UTC


@dataclass
class Rec:
    data: bytes
    ts_ns: int = START_NS
    media: int = 1
    process: int = 0xFFFFFFFF
    orig: int | None = None


@dataclass
class Proc:
    path: str
    pid: int
    local: str = "10.0.0.1"
    remote: str = "10.0.0.2"
    lport: int = 50000
    rport: int = 443


@dataclass
class Layout:
    """Where the writer put things (offsets of the records and tables)."""

    offsets: list[int] = field(default_factory=list)
    table: int = 0
    comments: int = 0
    processes: int = 0


def _address(text: str) -> tuple[bytes, bool]:
    ip = ipaddress.ip_address(text)
    if ip.version == 6:
        return ip.packed, True
    return int(ip).to_bytes(4, "little") + bytes(12), False


def write(path: Path, records: Sequence[Rec], *, version: tuple[int, int] = (2, 3), header: int = 72,
          comments: Sequence[tuple[int, str, bytes]] = (), processes: Sequence[Proc] = ()) -> Layout:
    """A Netmon file; ``comments`` are (record number, title, description bytes)."""
    major, minor = version
    v1 = major == 1
    out = bytearray(header)
    lay = Layout()
    for r in records:
        lay.offsets.append(len(out))
        orig = len(r.data) if r.orig is None else r.orig
        if v1:
            out += struct.pack("<IHH", (r.ts_ns - START_NS) // 1_000_000, orig, len(r.data))
        else:
            out += struct.pack("<QII", (r.ts_ns - START_NS) // 1000, orig, len(r.data))
        out += r.data
        if major == 2 and minor >= 1:
            out += struct.pack("<H", r.media)
            if minor >= 2:
                out += struct.pack("<I", r.process)
            if minor >= 3:
                out += struct.pack("<QB", r.ts_ns // 100 + FILETIME_1970, 0)
    lay.table = len(out)
    out += struct.pack(f"<{len(records)}I", *lay.offsets)
    lay.comments = len(out) if comments else 0
    for n, title, desc in comments:
        t = title.encode("utf-16-le") + b"\0\0"
        out += struct.pack("<III", 1, lay.offsets[n], len(t)) + t + struct.pack("<I", len(desc)) + desc
    comments_len = len(out) - lay.comments if comments else 0
    lay.processes = len(out) if processes else 0
    if processes:
        out += struct.pack("<H", 1)
        for p in processes:
            text = p.path.encode("utf-16-le") + b"\0\0"
            la, six = _address(p.local)
            ra, _ = _address(p.remote)
            out += struct.pack("<I", len(text)) + text + struct.pack("<I", 4) + b"ICON"
            out += struct.pack("<IHHHHI", p.pid, p.lport, 0, p.rport, 0, int(six)) + la + ra
    tm = time.gmtime(START_NS // 1_000_000_000)
    hdr = (b"RTSS" if v1 else b"GMBU") + struct.pack(
        "<BBH8HIIIIIIIIII", minor, major, 1, tm.tm_year, tm.tm_mon, 0, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
        (START_NS // 1_000_000) % 1000, lay.table, 4 * len(records), 0, 0, lay.comments, comments_len,
        lay.processes, len(processes), 0, 0)
    out[: len(hdr)] = hdr
    path.write_bytes(bytes(out))
    return lay


ARP = bytes.fromhex("ffffffffffff00155d0000010806" "0001080006040001" "00155d000001" "0a000001"
                    "000000000000" "0a000002") + bytes(18)
UDP = (bytes.fromhex("00155d00000200155d0000010800") + bytes.fromhex("4500001c00010000401100000a0000010a000002")
       + bytes.fromhex("d431003500080000"))

RTF = (rb"{\rtf1\ansi\ansicpg1252\deff0{\fonttbl{\f0\fnil\fcharset0 Segoe UI;}}{\colortbl ;\red0\green0\blue0;}"
       rb"{\*\generator Riched20 10.0;}\viewkind4\uc1\pard\f0\fs17 Step\tab 1\par Caf\'e9 \u8364? ok\par}" + b"\0")


def netevent(provider: uuid.UUID, event_id: int, payload: bytes, *, pid: int, tid: int, ts_ns: int,
              flags: int = 0x40, ext: bytes = b"", ext_count: int = 0) -> bytes:
    """A NetEvent frame (Netmon's layout, see traces/netevent.py): header, buffer context, counts,
    extended data items, payload."""
    header = struct.pack("<HHHHIIQ16sHBBBBHQQ16s", 77, 5, flags, 0, tid, pid, ts_ns // 100 + FILETIME_1970,
                         provider.bytes_le, event_id, 0, 0, 4, 0, 0, 0x80, 0x0000000200000003, bytes(16))
    return header + struct.pack("<BBHHHB", 1, 7, 9, ext_count, len(payload), 0) + ext + payload
