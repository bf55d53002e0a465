"""Crafted hostile traces (issue 12), built with the project's own writers: the decompression-bomb
ETL, an ETL whose records outnumber its compressed bytes, a pcapng of empty section headers and
one with blocks of unknown type.  ``test_hostile_files.py`` opens them, and its fuzz test mutates
them as seeds.
"""

from __future__ import annotations

import struct
from pathlib import Path

from tracemon.traces.etw import writer as W
from tracemon.traces.etw.records import BUFFER_HEADER, FLAG_COMPRESSED, FLAG_PROC_INDEX
from tracemon.traces.etw.xpress import decompress

#: a 16-byte PERFINFO64 record (the smallest record the index takes): Version, type 0x11,
#: flags 0xC0, Size 16, HookId 0x0F00, TimeStamp
PERFINFO_RECORD = struct.pack("<HBBHHq", 2, 0x11, 0xC0, 16, 0x0F00, 7_350_000_100)


def xpress_repeat(unit: bytes, out_size: int, pad: int = 0) -> bytes:
    """MS-XCA data that inflates to ``unit`` repeated up to ``out_size`` bytes: ``unit`` (and
    ``pad`` more bytes of it) as literals, then one match at distance ``len(unit)`` whose 32-bit
    length covers the rest: the ten bytes that make a bomb.  ``pad`` lowers the ratio."""
    n = len(unit)
    literals = unit * (1 + pad // n)
    if not 0 < n <= 0x2000 or out_size <= len(literals) + 3:
        raise ValueError("a unit of at most 8 KiB and an output longer than the literals")
    out = bytearray()
    items = list(literals) + [None]  # None: the match
    for k in range(0, len(items) + 31, 32):
        group = items[k : k + 32]
        flags = 0
        for item in group:
            flags = (flags << 1) | (item is None)
        flags = (flags << (32 - len(group))) | ((1 << (32 - len(group))) - 1)  # end-of-data ones
        out += struct.pack("<I", flags)
        for item in group:
            if item is None:
                out += struct.pack("<H", ((n - 1) << 3) | 7) + bytes([15, 255])
                out += struct.pack("<HI", 0, out_size - len(literals) - 3)
            else:
                out.append(item)
        if None in group:
            break
    data = bytes(out)
    assert decompress(data, out_size)[len(literals) - n : len(literals) + n] == unit * 2
    return data


def etl_bomb(path: Path, buffers: int, *, claim: int = 1 << 24, session: int = 64 * 1024,
             pad: int = 0, record: bytes = PERFINFO_RECORD) -> Path:
    """A compressed ETL whose ``buffers`` buffers each claim ``claim`` filled bytes of ``record``
    (the log header declares ``session``-byte buffers)."""
    with W.EtlWriter(path, compressed=True, buffer_size=session):
        pass  # the header buffer only
    body = xpress_repeat(record, claim - BUFFER_HEADER, pad)
    disk = BUFFER_HEADER + len(body)
    with open(path, "ab") as f:
        f.writelines(W._buffer_header(disk, claim, 0, k + 1, k % 2, FLAG_COMPRESSED | FLAG_PROC_INDEX, 0) + body
                     for k in range(buffers))
    return path


def small_etl(path: Path, n: int = 300, *, compressed: bool = True) -> Path:
    """An ordinary ETL of VmSwitch events (the control: nothing in it is refused)."""
    nic, sw = ("NIC-GUID", "web01 Network Adapter"), ("SW-GUID", "External")
    with W.EtlWriter(path, compressed=compressed, buffer_size=4096) as w:
        for i in range(n):
            W.vms_nbl(w, W.VM_NBL_RECEIVE, nic, sw, 0x1000 + i, ts_ns=w.start_ns + 1000 * (i + 1), cpu=i % 2)
    return path


# -- pcapng ---------------------------------------------------------------------------------------
def shb(endian: str = "<") -> bytes:
    return struct.pack(endian + "IIIHHq", 0x0A0D0D0A, 28, 0x1A2B3C4D, 1, 0, -1) + struct.pack(endian + "I", 28)


def block(btype: int, body: bytes, endian: str = "<") -> bytes:
    n = 12 + len(body) + (-len(body) % 4)
    return struct.pack(endian + "II", btype, n) + body + bytes(-len(body) % 4) + struct.pack(endian + "I", n)


def idb(link: int = 1) -> bytes:
    return block(1, struct.pack("<HHI", link, 0, 0))


def epb(data: bytes, ts: int = 1000, iface: int = 0) -> bytes:
    return block(6, struct.pack("<IIIII", iface, ts >> 32, ts & 0xFFFFFFFF, len(data), len(data)) + data)


def frame_bytes(k: int) -> bytes:
    """A 60-byte Ethernet frame that says which one it is."""
    return bytes.fromhex("ffffffffffff020000000001") + b"\x08\x06" + bytes([k % 256]) * 46


def pcapng_empty_sections(path: Path, sections: int) -> Path:
    """``sections`` empty section headers, with one real packet in the middle and at the end."""
    half = sections // 2
    path.write_bytes(shb() * half + shb() + idb() + epb(frame_bytes(1), 1000)
                     + shb() * (sections - half - 2) + shb() + idb() + epb(frame_bytes(2), 2000))
    return path


def pcapng_unknown_blocks(path: Path, unknown: list[int]) -> Path:
    """A packet, then a block of each type in ``unknown``, then a second packet."""
    odd = b"".join(block(t, b"\xab" * 8) for t in unknown)
    path.write_bytes(shb() + idb() + epb(frame_bytes(1), 1000) + odd + epb(frame_bytes(2), 2000))
    return path
