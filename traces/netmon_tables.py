"""The optional tables of a Netmon 2.2+ capture file: frame comments and processes.

Both are found through the file header (offset and length/count) and are read when the file
is opened.  Damage in them costs the rest of that table, never a frame: the reader reports it
and goes on.  Layouts as Wireshark's wiretap/netmon.c reads them (Netmon 3.4's "Capture File
Format" help):

* comment table, one entry per comment: NumFramePerComment u32 (always 1), FrameOffset u32 (the
  frame's record offset, as in the frame table), TitleLength u32, Title (UTF-16LE),
  DescLength u32, Description (an RTF document, ANSI);
* process table: Version u16, then per process PathSize u32, Path (UTF-16LE), IconSize u32,
  icon bytes, PID u32, LocalPort u16, pad u16, RemotePort u16, pad u16, IsIPv6 u32, LocalAddr
  and RemoteAddr (16 bytes each; an IPv4 address is the first 4, a little-endian u32).
  A 2.2+ frame's trailer holds an index into this table.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass, field

from .rtf import rtf_to_text

#: Wireshark's bounds: larger values are damage, not data
MAX_COMMENT_TABLE = 512 * 1024 * 1024
MAX_PROCESSES = 512 * 1024
MAX_PATH_BYTES = 65536


class TableDamage(ValueError):
    """A table entry that does not fit; ``offset`` is where it starts."""

    def __init__(self, offset: int, cause: str) -> None:
        super().__init__(cause)
        self.offset = offset
        self.cause = cause


@dataclass(slots=True)
class Comment:
    title: str
    description: str  # plain text (RTF reduced)

    def text(self) -> str:
        """``Title: description`` (what ``Frame.comments`` holds), or the one that is set."""
        if self.title and self.description:
            return f"{self.title}: {self.description}"
        return self.title or self.description


@dataclass(slots=True)
class Comments:
    """Comments by frame record offset, and the damage that stopped the table (if any)."""

    by_offset: dict[int, list[Comment]] = field(default_factory=dict)
    damage: TableDamage | None = None


def utf16z(raw: bytes) -> str:
    """A counted UTF-16LE string that may end with (or contain) a NUL: the text before it."""
    if len(raw) % 2:
        raw = raw[:-1]
    return raw.decode("utf-16-le", "replace").split("\x00", 1)[0]


def read_comments(buf: bytes | memoryview, off: int, length: int) -> Comments:
    out = Comments()
    if length == 0:
        return out
    size = len(buf)
    if length > MAX_COMMENT_TABLE:
        out.damage = TableDamage(off, f"comment table length {length} is larger than any comment table")
        return out
    if off + length > size:
        out.damage = TableDamage(off, f"comment table ({length} bytes at offset {off}) runs past the end of the file "
                                      f"({size} bytes)")
        return out
    end = off + length
    pos = off
    while end - pos > 16:  # an entry needs 12 bytes, a title and a description length
        entry = pos
        _count, frame_off, title_len = struct.unpack_from("<III", buf, pos)
        pos += 12
        if title_len == 0 or title_len > end - pos - 4:
            out.damage = TableDamage(entry, f"comment title length {title_len} does not fit in the comment table")
            break
        title = utf16z(bytes(buf[pos : pos + title_len]))
        pos += title_len
        desc_len, = struct.unpack_from("<I", buf, pos)
        pos += 4
        if desc_len > end - pos:
            out.damage = TableDamage(entry, f"comment description length {desc_len} does not fit in the comment "
                                            "table")
            break
        desc = rtf_to_text(bytes(buf[pos : pos + desc_len]).split(b"\x00", 1)[0])
        pos += desc_len
        out.by_offset.setdefault(frame_off, []).append(Comment(title.strip(), desc))
    return out


@dataclass(slots=True)
class ProcessInfo:
    path: str
    pid: int
    local_port: int
    remote_port: int
    ipv6: bool
    local_address: str
    remote_address: str

    @property
    def name(self) -> str:
        return self.path.replace("\\", "/").rsplit("/", 1)[-1]


def _address(raw: bytes, ipv6: bool) -> str:
    if ipv6:
        return str(ipaddress.IPv6Address(raw))
    return str(ipaddress.IPv4Address(int.from_bytes(raw[:4], "little")))


def read_processes(buf: bytes | memoryview, off: int, count: int) -> tuple[list[ProcessInfo], TableDamage | None]:
    """The process table (index = a frame trailer's process index) and the damage that stopped it."""
    out: list[ProcessInfo] = []
    if not off or not count:
        return out, None
    size = len(buf)
    if count > MAX_PROCESSES:
        return out, TableDamage(off, f"process table count {count} is larger than any process table")
    if off + 2 > size:
        return out, TableDamage(off, f"process table at offset {off} is past the end of the file ({size} bytes)")
    pos = off + 2  # version
    for n in range(count):
        entry = pos
        if pos + 4 > size:
            return out, TableDamage(entry, f"process {n} is past the end of the file")
        path_len, = struct.unpack_from("<I", buf, pos)
        if path_len > MAX_PATH_BYTES or pos + 4 + path_len + 4 > size:
            return out, TableDamage(entry, f"process {n}: path length {path_len} does not fit")
        path = utf16z(bytes(buf[pos + 4 : pos + 4 + path_len]))
        pos += 4 + path_len
        icon, = struct.unpack_from("<I", buf, pos)
        if pos + 4 + icon + 48 > size:
            return out, TableDamage(entry, f"process {n}: icon size {icon} does not fit")
        pos += 4 + icon
        pid, lport, _pad1, rport, _pad2, is6 = struct.unpack_from("<IHHHHI", buf, pos)
        pos += 16
        la, ra = bytes(buf[pos : pos + 16]), bytes(buf[pos + 16 : pos + 32])
        pos += 32
        out.append(ProcessInfo(path, pid, lport, rport, bool(is6), _address(la, bool(is6)), _address(ra, bool(is6))))
    return out, None


__all__ = ["Comment", "Comments", "ProcessInfo", "TableDamage", "read_comments", "read_processes", "utf16z"]
