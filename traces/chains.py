"""Where a capture's packet records are, found before its reader is loaded: the pcap record chain
and the first run of pcapng packet blocks, by the readers' own C walks (``_scan.c``), with the
little of each format those walks need.  Light on purpose: ``readahead`` runs them while the
reader modules, the dissectors they load and the filter compiler are still being imported."""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

import numpy as np

from .gather import rows_at

try:  # built at install time when a compiler is there
    from ._scan import pcap_records, pcapng_epbs
except ImportError:  # pragma: no cover - the readers walk in Python, and nothing is read ahead
    pcap_records = pcapng_epbs = None

# -- pcap -------------------------------------------------------------------------------------------
PCAP_MAGICS = {
    b"\xd4\xc3\xb2\xa1": ("<", 1000),  # little-endian, µs
    b"\xa1\xb2\xc3\xd4": (">", 1000),
    b"\x4d\x3c\xb2\xa1": ("<", 1),  # little-endian, ns
    b"\xa1\xb2\x3c\x4d": (">", 1),
}
PCAP_HEADER = 24
PCAP_RECORD = 16
#: larger records are damage, not packets (Wireshark's limit is 256 KiB for most link types)
PCAP_MAX_RECORD = 64 * 1024 * 1024

# -- pcapng -----------------------------------------------------------------------------------------
SHB = 0x0A0D0D0A
EPB = 0x00000006
BYTE_ORDER_MAGIC = 0x1A2B3C4D
#: the byte-order magic as a section header stores it → that section's struct byte order
SECTION_ENDIAN = {struct.pack("<I", BYTE_ORDER_MAGIC): "<", struct.pack(">I", BYTE_ORDER_MAGIC): ">"}
MAX_BLOCK = 256 * 1024 * 1024
#: the smallest Enhanced Packet Block: header, fixed fields and trailing length
MIN_EPB = 32
#: blocks before the first packet block that ``pcapng_ahead`` looks through (section header, interfaces)
AHEAD_BLOCKS = 64

Walk = tuple[Callable[..., Any], tuple[Any, ...]]


def pcap_ahead(buf: Any, limit: int) -> Walk | None:
    """The walk ``readahead`` runs for a pcap file, as a function and its arguments: ``_pcap``
    over ``limit`` records at most (None: not a pcap file, or no C walk)."""
    magic = PCAP_MAGICS.get(bytes(buf[:4]))
    if magic is None or pcap_records is None:
        return None
    return _pcap, (buf, min(limit, len(buf) // PCAP_RECORD), magic[0] == "<")


def _pcap(buf: Any, limit: int, little: bool) -> tuple[np.ndarray, int, np.ndarray]:
    """The first ``limit`` records' offsets, the position after the last, and the first 12 bytes
    of each one's header (``PcapReader._prepare``'s gather): two C calls without the
    interpreter lock."""
    raw, end = pcap_records(buf, PCAP_HEADER, limit, little, PCAP_MAX_RECORD)
    starts = np.frombuffer(raw, dtype=np.int64)
    return starts, end, rows_at(np.frombuffer(buf, dtype=np.uint8), starts, 12)


def is_pcapng(head: bytes) -> bool:
    """Whether ``head`` (a file's first 12 bytes or more) starts a pcapng section header."""
    return head[:4] == struct.pack("<I", SHB) and head[8:12] in SECTION_ENDIAN


def pcapng_ahead(buf: Any, limit: int) -> Walk | None:
    """The walk ``readahead`` runs for a pcapng file: ``_pcapng``, ``limit`` blocks at most
    (None: not a pcapng file, or no C walk)."""
    if not is_pcapng(bytes(buf[:12])) or pcapng_epbs is None:
        return None
    return _pcapng, (buf, min(limit, len(buf) // MIN_EPB))


def _pcapng(buf: Any, limit: int) -> tuple[bytes, int, int] | None:
    """The first section's first run of well-formed Enhanced Packet Blocks, as the reader's own C
    walk finds it (``PcapngReader._blocks``): their offsets (int64), where the run starts and the
    position after it; None when no packet block comes within ``AHEAD_BLOCKS`` blocks."""
    endian = SECTION_ENDIAN[bytes(buf[8:12])]
    hdr = struct.Struct(endian + "II").unpack_from
    pos, size = 0, len(buf)
    for _ in range(AHEAD_BLOCKS):  # the section header and interface descriptions before the packets
        if pos + 12 > size:
            return None
        btype, blen = hdr(buf, pos)
        if btype == EPB:
            break
        if blen < 12 or blen & 3 or blen > size - pos or (btype == SHB and pos):
            return None
        pos += blen
    else:
        return None
    raw, end = pcapng_epbs(buf, pos, limit, endian == "<", MAX_BLOCK)
    return (raw, pos, end) if raw else None
