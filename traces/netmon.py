"""Microsoft Network Monitor 1.x (``RTSS``) and 2.x (``GMBU``) capture files.

The file header (CAPTUREFILE_HEADER_VALUES, 72 bytes; Wireshark pads its own files to 128, so
the first frame sits at 72 in files Netmon 3.4 or Message Analyzer wrote and at 128 in others)
points at a frame table: one u32 file offset per frame, written at the end of the capture.  Each
record is a small header (1.x: time delta u32 ms, lengths u16; 2.x: u64 µs, lengths u32), the
frame bytes and, from 2.1 on, a trailer: the frame's media type (2.2: and an index into the
process table; 2.3: and a UTC FILETIME and a time zone index).  Media type 0xFFE0 frames are ETW
events (``netevent.py``); the comment and process tables are in ``netmon_tables.py``.

The frame table is the only list of frames, so a file cut short (a capture copied while it was
written, a partial download) has none: then the records are walked from the header, each checked
before it is kept, and the walk stops at the first one that does not fit.  A table entry that
points at no valid record is skipped (entries are independent) and reported.

Layout as documented in Netmon 3.x's help and read by Wireshark's wiretap/netmon.c.
"""

from __future__ import annotations

import calendar
import struct
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from .classify import PendingPackets
from .dissect.core import (
    LINK_TYPE_NAMES,
    LINK_TYPES,
    LINKTYPE_ETHERNET,
    LINKTYPE_IEEE802_11,
    LINKTYPE_RAW,
    Ctx,
    payload,
)
from .errors import DamagedRecord, TraceError, TraceWarning
from .fastclassify import walk_rows as _walk_packets
from .frame import Frame, Layer
from .gather import rows_at
from .index import FAMILY_EVENT, KIND_EVENT, KIND_NOTIME, KIND_PACKET, PID_UNKNOWN, empty_batch
from .netmon_tables import ProcessInfo, TableDamage, read_comments, read_processes
from .packets import FRAME, PacketReader, RecordMeta, build_packet_frame, format_time
from .pipeline import Walker
from .protocols import MASK
from .trace import Interface

if TYPE_CHECKING:
    from .trace import Trace

#: CAPTUREFILE_HEADER_VALUES: magic, version, media type, SYSTEMTIME and 12 u32 offsets/lengths
HEADER_SIZE = 72
#: Wireshark (and Netmon 1.x) pad the header to this size
PADDED_HEADER_SIZE = 128
#: the part of it every version has (Wireshark writes and reads these 64 bytes; the last two
#: fields, ConversationStatsOffset/Length, are unused)
_HEADER = struct.Struct("<4sBBH8HIIIIIIIIII")
MAX_FRAME = 256 * 1024  # Wireshark's WTAP_MAX_PACKET_SIZE_STANDARD
MAX_TABLE_ENTRIES = 512 * 1024 * 1024  # Wireshark's bound: a 4 GiB file of 8-byte records
FILETIME_EPOCH_DIFF = 11644473600  # seconds from 1601-01-01 to 1970-01-01
#: FILETIMEs a walked 2.3 record may carry (1980 … 2200): anything else is not a record
_FT_MIN = (315532800 + FILETIME_EPOCH_DIFF) * 10_000_000
_FT_MAX = (7258118400 + FILETIME_EPOCH_DIFF) * 10_000_000
WALK_BATCH = 65536
#: frames a batch of the frame table holds (the first one fewer, so the first rows come soon)
FIRST_BATCH = 4096
BATCH = 131072
#: walk a batch's packets on a second thread while this one reads the next batch (``pipeline.Walker``)
PIPELINE = True

#: our link type for Netmon's 802.11 frames, which start with a Netmon metadata header
LINKTYPE_NETMON_80211 = 0x10006
NETMON_NET_PCAP_BASE = 0xE000
NETMON_NET_NETEVENT = 0xFFE0
NETMON_NET_NETWORK_INFO_EX = 0xFFFB
NETMON_NET_PAYLOAD_HEADER = 0xFFFC
NETMON_NET_NETWORK_INFO = 0xFFFD
NETMON_NET_DNS_CACHE = 0xFFFE
NETMON_NET_NETMON_FILTER = 0xFFFF
#: media types Netmon writes only for its own bookkeeping; Wireshark skips them too
SKIPPED_MEDIA = (NETMON_NET_PAYLOAD_HEADER, NETMON_NET_NETWORK_INFO, NETMON_NET_DNS_CACHE)
_SPECIAL_MEDIA = frozenset({NETMON_NET_NETEVENT, NETMON_NET_NETWORK_INFO_EX, *SKIPPED_MEDIA, NETMON_NET_NETMON_FILTER})

# Netmon media type → pcap link type (-1: no dissector; shown as payload)
MEDIA_LINK = {0: LINKTYPE_ETHERNET, 1: LINKTYPE_ETHERNET, 2: 6, 3: 10, 4: -1, 5: -1,
              6: LINKTYPE_NETMON_80211, 7: LINKTYPE_RAW, 8: LINKTYPE_RAW, 9: LINKTYPE_RAW}
MEDIA_NAMES = {0: "Ethernet", 1: "Ethernet", 2: "Token Ring", 3: "FDDI", 4: "ATM/WAN", 5: "IP over 1394",
               6: "WiFi", 7: "Tunnel", 8: "Wireless WAN", 9: "Raw IP", NETMON_NET_NETEVENT: "NetEvent",
               NETMON_NET_NETWORK_INFO_EX: "NetworkInfoEx", NETMON_NET_NETMON_FILTER: "NetmonFilter"}
_NETEVENT_BIT = np.uint64(MASK.get("NetEvent", 0))
_NETEVENT_HEADER = 89  # netevent.HEADER_SIZE (not imported: the index pass needs no ETW decoder)

LINK_TYPE_NAMES.setdefault(LINKTYPE_NETMON_80211, "Netmon 802.11 / WiFi")


def detect(head: bytes) -> bool:
    return head[:4] in (b"GMBU", b"RTSS") and len(head) >= 6 and head[5] in (1, 2)


def media_link_type(media: int) -> int:
    if (media & 0xF000) == NETMON_NET_PCAP_BASE and media < 0xE080:
        return media & 0x0FFF
    return MEDIA_LINK.get(media, -1)


def known_media(media: int) -> bool:
    """A media type some Netmon version writes (what a walked record's trailer must hold)."""
    return media in MEDIA_LINK or media in _SPECIAL_MEDIA or (media & 0xF000) == NETMON_NET_PCAP_BASE and media <= 0xE08A


class NetmonReader(PacketReader):
    format_name = "netmon"

    def __init__(self, trace: Trace) -> None:
        super().__init__(trace)
        buf = self.buf
        path = trace.path
        size = len(buf)
        if size < _HEADER.size:
            raise TraceError(path, f"truncated Netmon header ({size} of {_HEADER.size} bytes)", 0)
        (magic, minor, major, network, year, month, _dow, day, hour, minute, sec, msec, ft_off, ft_len,
         ud_off, _ud_len, cm_off, cm_len, pi_off, pi_count, ni_off, _ni_len) = _HEADER.unpack_from(buf, 0)
        self.v1 = magic == b"RTSS"
        self.major, self.minor = major, minor
        if major not in (1, 2):
            raise TraceError(path, f"unsupported Netmon format version {major}.{minor}", 4)
        try:
            start = calendar.timegm((year, month, day, hour, minute, sec, 0, 0, 0))
        except (OverflowError, ValueError):
            raise TraceError(path, f"invalid capture start time {year}-{month}-{day} {hour}:{minute}:{sec}", 8) from None
        # the header holds a SYSTEMTIME without a zone; like Wireshark on a UTC system we read it as UTC
        self.start_ns = start * 1_000_000_000 + msec * 1_000_000
        if not 1601 <= year <= 2200 or not -(2**62) < self.start_ns < 2**62:
            raise TraceError(path, f"invalid capture start year {year} in the file header", 8)
        self.file_media = network
        self.per_frame_media = major == 2 and minor >= 1
        #: frame record header: 1.x time delta u32 ms and two u16 lengths; 2.x u64 µs and two u32
        self.hdr_len = 8 if self.v1 else 16
        self.trailer = 0 if not self.per_frame_media else 2 if minor == 1 else 6 if minor == 2 else 15
        #: where a walk of the records must stop: the first table written after them
        self._table_offsets = [o for o in (ft_off, ud_off, cm_off, pi_off, ni_off) if o >= HEADER_SIZE]
        self.frame_table: np.ndarray | None = None
        self.table_problem = self._check_frame_table(ft_off, ft_len, size)
        if self.table_problem is None:
            self.frame_table = np.frombuffer(buf, dtype="<u4", count=ft_len // 4, offset=ft_off).astype(np.int64)
        self.comments: dict[int, list[str]] = {}
        self.processes: list[ProcessInfo] = []
        self._process_of_pid: dict[int, ProcessInfo] = {}  # the first entry of each pid
        #: problems in the optional tables, reported when the scan ends (after any lost frames)
        self._table_damage: list[TableDamage] = []
        #: NetEvent provider GUID → (provider code, Protocol Name code), named once per provider
        self._event_codes: dict[bytes, tuple[int, int]] = {}
        self.media_ifaces: dict[int, int] = {}
        trace.facts.update({"format": "netmon", "version": f"{major}.{minor}",
                            "capture_start": format_time(self.start_ns),
                            "media_type": MEDIA_NAMES.get(network, str(network))})
        if major == 2 and minor >= 2:
            self._read_tables(cm_off, cm_len, pi_off, pi_count)

    @staticmethod
    def _check_frame_table(off: int, length: int, size: int) -> str | None:
        """Why the frame table cannot be used (None when it can)."""
        if length == 0:
            return "the file header lists no frame table"
        if length % 4:
            return f"frame table length {length} is not a multiple of 4"
        if length // 4 > MAX_TABLE_ENTRIES:
            return f"frame table length {length} is larger than any frame table"
        if off < HEADER_SIZE:
            return f"frame table offset {off} is inside the file header"
        if off + length > size:
            return (f"frame table ({length} bytes at offset {off}) is past the end of the file ({size} bytes; "
                    "the file was cut short?)")
        return None

    # -- optional tables: damage there costs the table, never the frames --------------------
    def _read_tables(self, cm_off: int, cm_len: int, pi_off: int, pi_count: int) -> None:
        comments = read_comments(self.buf, cm_off, cm_len)
        self.comments = {off: [c.text() for c in entries] for off, entries in comments.by_offset.items()}
        if comments.damage is not None:
            self._table_damage.append(comments.damage)
        self.processes, damage = read_processes(self.buf, pi_off, pi_count)
        if damage is not None:
            self._table_damage.append(damage)
        if self.processes:
            self.trace.facts["processes"] = [f"{p.pid} {p.path}" for p in self.processes]
            for p in self.processes:
                if p.pid != PID_UNKNOWN:
                    self._process_of_pid.setdefault(p.pid, p)

    def finish(self) -> None:
        for d in self._table_damage:
            what = "comment" if "comment" in d.cause else "process"
            self.trace.warnings.append(TraceWarning(self.path, d.offset, f"{d.cause}; the rest of the {what} table "
                                                                         "was skipped"))

    # -- scanning ---------------------------------------------------------------------------
    def scan(self) -> Iterator[dict[str, np.ndarray]]:
        u8 = np.frombuffer(self.buf, dtype=np.uint8)
        if self.frame_table is not None:
            yield from self._scan_table(u8)
        else:
            yield from self._walk(u8)

    def _scan_table(self, u8: np.ndarray) -> Iterator[dict[str, np.ndarray]]:
        table = self.frame_table
        assert table is not None
        size = len(u8)
        step = FIRST_BATCH
        i = 0
        skipped = 0
        first: tuple[int, int, str] | None = None  # (entry, offset, cause) of the first bad entry
        # Two threads, as pcap's (``PIPELINE``): a batch's packets are walked on the walker while
        # this one reads the next batch's records and classifies the batch before it
        ahead: tuple[_Pending, int] | None = None
        walker: Walker | None = None
        try:
            while i < len(table):
                offs = table[i : i + step]
                rows, bad, cause = self._batch(u8, offs, size)
                if len(bad):
                    skipped += len(bad)
                    if first is None:
                        first = (i + int(bad[0]), int(offs[bad[0]]), cause)
                i += len(offs)
                if PIPELINE and len(rows.packets):
                    walker = walker or Walker()
                    rows.walk_ahead(walker, u8, _walk_packets)
                if ahead is not None:
                    yield from self._given(u8, *ahead)
                    ahead = None
                if rows.walk is not None:  # (classified once the next batch is read)
                    ahead = (rows, min(int(offs[-1]), size))
                else:
                    yield from self._given(u8, rows, min(int(offs[-1]), size))
                step = BATCH
            if ahead is not None:
                yield from self._given(u8, *ahead)
        finally:  # stopped by an error or closed: no walk goes on reading the file behind it
            if walker is not None:
                walker.close()
        if first is not None:
            entry, off, cause = first
            more = f" ({skipped} entries skipped, the first is entry {entry})" if skipped > 1 else \
                f" (entry {entry} skipped)"
            self.trace.warnings.append(TraceWarning(self.path, off, f"frame table entry {entry}: {cause}{more}"))

    def _given(self, u8: np.ndarray, rows: _Pending, position: int) -> Iterator[dict[str, np.ndarray]]:
        batch = self._finish(u8, rows)
        self.position = position
        if len(batch["ts"]):
            yield batch

    def _walk(self, u8: np.ndarray) -> Iterator[dict[str, np.ndarray]]:
        """The frames of a file whose frame table is missing, record after record from the header."""
        size = len(u8)
        start = HEADER_SIZE
        ok, _end, _why = self._record_at(start, size)
        if not ok and size > PADDED_HEADER_SIZE and self._record_at(PADDED_HEADER_SIZE, size)[0]:
            start = PADDED_HEADER_SIZE  # a header padded to 128 bytes (Wireshark, Netmon 1.x)
        limit = min([o for o in self._table_offsets if o > start] or [size])
        pos, found, cause = start, 0, ""
        offsets: list[int] = []
        while pos < limit:
            ok, end, why = self._record_at(pos, size)
            if not ok or end > limit:
                cause = why if not ok else f"the record at offset {pos} runs into the table at offset {limit}"
                break
            offsets.append(pos)
            pos = end
            if len(offsets) >= WALK_BATCH or pos >= limit:
                rows, _bad, _ = self._batch(u8, np.array(offsets, dtype=np.int64), size)
                found += len(offsets)
                offsets.clear()
                self.position = pos
                yield self._finish(u8, rows)
        if offsets:
            rows, _bad, _ = self._batch(u8, np.array(offsets, dtype=np.int64), size)
            found += len(offsets)
            self.position = pos
            yield self._finish(u8, rows)
        stopped = f"; the walk stopped at a record that does not fit ({cause})" if cause else ""
        raise DamagedRecord(pos, f"{self.table_problem}: {found} frames found by walking the records from offset "
                                 f"{start}{stopped}")

    def _record_at(self, pos: int, size: int) -> tuple[bool, int, str]:
        """(plausible, end, why not) for a walked record at ``pos``: it fits in the file, its
        lengths are sane, and a 2.1+ trailer names a known media type (2.3: a FILETIME in range)."""
        buf = self.buf
        if pos + self.hdr_len > size:
            return False, pos, f"{size - pos} bytes left, less than a record header"
        if self.v1:
            orig, caplen = struct.unpack_from("<HH", buf, pos + 4)
        else:
            orig, caplen = struct.unpack_from("<II", buf, pos + 8)
        if caplen == 0 or caplen > MAX_FRAME or orig < caplen:
            return False, pos, f"implausible lengths (captured {caplen}, original {orig})"
        end = pos + self.hdr_len + caplen + self.trailer
        if end > size:
            return False, pos, f"truncated frame: {caplen} bytes announced, {size - pos - self.hdr_len} left in the file"
        if self.per_frame_media:
            t = pos + self.hdr_len + caplen
            media, = struct.unpack_from("<H", buf, t)
            if not known_media(media):
                return False, pos, f"unknown media type {media:#x}"
            if self.minor >= 3:
                ft, = struct.unpack_from("<Q", buf, t + 6)
                if not _FT_MIN <= ft <= _FT_MAX:
                    return False, pos, f"time stamp {ft} out of range"
        return True, end, ""

    def _batch(self, u8: np.ndarray, offs: np.ndarray, size: int) -> tuple[_Pending, np.ndarray, str]:
        """The index rows of the records at ``offs``, the positions of the entries that point at
        no record that fits (left out), and why the first of those does not."""
        hdr_len = self.hdr_len
        outside = (offs < HEADER_SIZE) | (offs + hdr_len > size)
        safe = np.where(outside, HEADER_SIZE, offs)
        raw = rows_at(u8, safe, hdr_len)  # (n, hdr_len); every row inside the file (``safe``)
        if self.v1:
            delta_ns = np.ascontiguousarray(raw[:, 0:4]).view("<u4").ravel().astype(np.int64) * 1_000_000
            caplen = np.ascontiguousarray(raw[:, 6:8]).view("<u2").ravel().astype(np.int64)
        else:
            delta = np.ascontiguousarray(raw[:, 0:8]).view("<u8").ravel()
            caplen = np.ascontiguousarray(raw[:, 12:16]).view("<u4").ravel().astype(np.int64)
            # microseconds as an unsigned value, ×10 wrapping to a signed count of 100 ns (Netmon's rule)
            delta_ns = (delta * np.uint64(10)).view(np.int64) * 100
        ends = safe + hdr_len + caplen + self.trailer
        huge = ~outside & (caplen > MAX_FRAME)
        cut = ~outside & ~huge & (ends > size)
        bad = np.flatnonzero(outside | huge | cut)
        cause = ""
        if len(bad):
            b = int(bad[0])
            o = int(offs[b])
            if outside[b]:
                cause = f"points outside the file (offset {o})" if o >= HEADER_SIZE else \
                    f"points into the file header (offset {o})"
            elif huge[b]:
                cause = f"frame length {int(caplen[b])} is larger than any frame (limit {MAX_FRAME})"
            else:
                cause = f"truncated frame: {int(caplen[b])} bytes announced, {size - o - hdr_len} left in the file"
            keep = np.ones(len(offs), dtype=bool)
            keep[bad] = False
            offs, caplen, delta_ns = offs[keep], caplen[keep], delta_ns[keep]
        return self._rows(u8, offs, caplen, delta_ns), bad, cause

    def _rows(self, u8: np.ndarray, offs: np.ndarray, caplen: np.ndarray, delta_ns: np.ndarray) -> _Pending:
        """The index rows of the records at ``offs`` but for what classification and the events
        fill (``_finish``; new media types become interfaces here, in the order they come)."""
        m = len(offs)
        batch = empty_batch(m)
        batch["loc"][:] = offs
        batch["length"][:] = caplen
        batch["ts"][:] = self.start_ns + delta_ns
        data_off = offs + self.hdr_len
        if self.per_frame_media:
            toff = data_off + caplen
            media = (u8[toff].astype(np.int64) | (u8[toff + 1].astype(np.int64) << 8))
            if self.minor >= 2 and self.processes:
                pidx = _gather_u(u8, toff + 2, 4)
                known = pidx < len(self.processes)
                pids = np.array([p.pid for p in self.processes], dtype=np.int64)
                batch["pid"][known] = pids[pidx[known]]
            if self.minor >= 3:
                ft = _gather_u(u8, toff + 6, 8)
                batch["ts"][:] = (ft - FILETIME_EPOCH_DIFF * 10_000_000) * 100
        else:
            media = np.full(m, self.file_media, dtype=np.int64)
        # a handful of media types per file: map each distinct one, not each frame; new ones
        # become interfaces in the order they first appear
        kinds, first, which = np.unique(media, return_index=True, return_inverse=True)
        order = np.argsort(first)
        codes = np.empty(len(kinds), dtype=np.int64)
        codes[order] = [self._iface(k) for k in kinds[order].tolist()]
        batch["iface"][:] = codes[which]
        links = np.array([media_link_type(k) for k in kinds.tolist()], dtype=np.int64)[which]
        is_event = media == NETMON_NET_NETEVENT
        is_record = np.isin(media, (NETMON_NET_NETWORK_INFO_EX, NETMON_NET_NETMON_FILTER))
        skip = np.isin(media, SKIPPED_MEDIA)
        batch["kind"][:] = np.where(is_event, KIND_EVENT, np.where(is_record, 0, KIND_PACKET))
        if is_record.any():
            batch["kind"][is_record] |= KIND_NOTIME if self.minor < 3 else 0
        packets = np.flatnonzero(batch["kind"] & KIND_PACKET)
        return _Pending(batch, data_off, links, packets, events=np.flatnonzero(is_event), caplen=caplen, skip=skip)

    def _finish(self, u8: np.ndarray, rows: _Pending) -> dict[str, np.ndarray]:
        """Classify a batch's packets (with their walk when it was made ahead) and index its events."""
        rows.classify(self.trace, u8)
        batch, events = rows.batch, rows.events
        if len(events):
            self._index_events(u8, batch, events, rows.data_off[events], rows.caplen[events])
        if rows.skip.any():
            keep = ~rows.skip
            batch = {k: v[keep] for k, v in batch.items()}
        return batch

    def _iface(self, media: int) -> int:
        code = self.media_ifaces.get(media)
        if code is None:
            self.trace.interfaces.append(Interface(media_link_type(media), MEDIA_NAMES.get(media, f"media {media:#x}"),
                                                   f"Netmon media type {media:#x}"))
            code = self.media_ifaces[media] = len(self.trace.interfaces) - 1
        return code

    def _index_events(self, u8: np.ndarray, batch: dict[str, np.ndarray], rows: np.ndarray, data_off: np.ndarray,
                      length: np.ndarray) -> None:
        """Provider, event id, level, opcode and process of NetEvent rows, from their headers."""
        batch["protos"][rows] |= _NETEVENT_BIT
        short = length < _NETEVENT_HEADER
        if short.any():
            batch["top"][rows[short]] = self.trace.protocol_code("NetEvent")
        rows, off = rows[~short], data_off[~short]
        if not len(rows):
            return
        hdr = u8[off[:, None] + np.arange(_NETEVENT_HEADER)]
        guids = np.ascontiguousarray(hdr[:, 24:40])
        batch["event_id"][rows] = _le(hdr[:, 40:42])
        batch["level"][rows] = hdr[:, 44]
        batch["opcode"][rows] = hdr[:, 45]
        pid = _le(hdr[:, 12:16])
        batch["pid"][rows] = pid  # 0xFFFFFFFF (none) is PID_UNKNOWN
        batch["tid"][rows] = _le(hdr[:, 8:12])
        batch["desc"][rows] = self.trace.descriptor_codes(np.full(len(rows), FAMILY_EVENT), hdr[:, 42], hdr[:, 43],
                                                          _le(hdr[:, 46:48]), _le(hdr[:, 48:56]))
        keys, which = np.unique(guids.view("V16").ravel(), return_inverse=True)
        codes = np.array([self._event_codes.get(bytes(k)) or self._provider(bytes(k)) for k in keys], dtype=np.int64)
        batch["provider"][rows] = codes[which, 0]
        batch["top"][rows] = codes[which, 1]

    def _provider(self, raw: bytes) -> tuple[int, int]:
        """Codes for a provider not seen before; past the ETL reader's limit (damage, most likely)
        events are indexed without a provider, as NetEvent, and counted."""
        from .etw.naming import provider_names
        from .etw.reader import MAX_PROVIDERS

        if len(self._event_codes) >= MAX_PROVIDERS:
            facts = self.trace.facts
            if not facts.get("providers_over_limit"):
                self.trace.warnings.append(TraceWarning(
                    self.path, None, f"more than {MAX_PROVIDERS} distinct provider GUIDs (damaged records?): the "
                                     "events of the others are indexed without a provider"))
            facts["providers_over_limit"] = facts.get("providers_over_limit", 0) + 1
            return 0, self.trace.protocol_code("NetEvent")
        guid = uuid.UUID(bytes_le=raw)
        name, protocol = provider_names(guid, None)
        codes = self._event_codes[raw] = (self.trace.provider_code(str(guid), name, protocol),
                                          self.trace.protocol_code(protocol))
        return codes

    # -- frames -----------------------------------------------------------------------------
    def packet_offsets(self, rows: np.ndarray) -> np.ndarray | None:
        return self.trace.index.loc[rows].astype(np.int64) + self.hdr_len

    def raw(self, i: int) -> bytes:
        off = int(self.trace.index.loc[i]) + self.hdr_len
        return bytes(self.buf[off : off + int(self.trace.index.length[i])])

    def record_meta(self, i: int, loc: int, length: int) -> RecordMeta:
        if self.v1:
            orig = struct.unpack_from("<H", self.buf, loc + 4)[0]
        else:
            orig = struct.unpack_from("<I", self.buf, loc + 8)[0]
        meta: dict[str, Any] = {}
        process = self._process_of_pid.get(int(self.trace.index.pid[i]))
        if process is not None:
            meta["Process"] = f"{process.name} ({process.pid})"
            meta["ProcessPath"] = process.path
        return RecordMeta(orig, list(self.comments.get(loc, [])), meta)

    def frame(self, i: int) -> Frame:
        idx = self.trace.index
        loc = int(idx.loc[i])
        data = self.raw(i)
        g = int(idx.iface[i])
        kind = int(idx.kind[i])
        meta = self.record_meta(i, loc, len(data))
        if kind & KIND_EVENT:
            from .netevent import netevent_frame

            return netevent_frame(self.trace, i, data, meta)
        if kind & KIND_PACKET:
            link = self.trace.interfaces[g].link_type
            frame = build_packet_frame(self.trace, i, int(idx.ts[i]), data, link, g, meta)
            pid = int(idx.pid[i])
            if pid != PID_UNKNOWN:
                frame.process_id = pid
            return frame
        name = self.trace.interfaces[g].name
        layer = Layer(FRAME, f"Netmon {name} record, {len(data)} bytes", 0, len(data))
        return Frame(index=i, timestamp_ns=int(idx.ts[i]), data=data, layers=[layer], captured_length=len(data),
                     original_length=meta.original_length, kind="record", protocol_name=name,
                     description=f"{name}:{len(data)} bytes", comments=list(meta.comments),
                     registry=self.trace.registry)

    def state(self) -> dict[str, Any]:
        return {"media_ifaces": {str(k): v for k, v in self.media_ifaces.items()}}

    def restore(self, state: dict[str, Any]) -> None:
        self.media_ifaces = {int(k): v for k, v in state["media_ifaces"].items()}


def _gather_u(u8: np.ndarray, offs: np.ndarray, width: int) -> np.ndarray:
    """Little-endian unsigned integers of ``width`` bytes at each of ``offs`` (as int64; a u64
    wraps as two's complement)."""
    raw = np.ascontiguousarray(u8[offs[:, None] + np.arange(width)])
    return raw.view(f"<u{width}").ravel().astype(np.int64)


def _le(cols: np.ndarray) -> np.ndarray:
    """The little-endian unsigned integers held by the rows of a (n, width) byte matrix."""
    width = cols.shape[1]
    return np.ascontiguousarray(cols).view(f"<u{width}").ravel()


# -- Netmon's 802.11 metadata header ----------------------------------------------------------

def netmon_80211_header_length(data: bytes, off: int = 0, end: int | None = None) -> int:
    """Length of the metadata header (version u8, length u16 LE, radio facts) in front of a
    Netmon 802.11 frame at ``data[off:end]``; 0 when there is no valid one."""
    end = len(data) if end is None else end
    if end - off < 3:
        return 0
    hlen = data[off + 1] | (data[off + 2] << 8)
    return hlen if 3 <= hlen <= end - off else 0


def _dissect_netmon_80211(ctx: Ctx, off: int, end: int) -> None:
    """Netmon 802.11: the metadata header, then an IEEE 802.11 frame."""
    hlen = netmon_80211_header_length(ctx.data, off, end)
    wifi = LINK_TYPES.get(LINKTYPE_IEEE802_11)
    if not hlen or wifi is None:
        payload(ctx, off, end)
        return
    ctx.call(wifi, off + hlen, end)


LINK_TYPES[LINKTYPE_NETMON_80211] = _dissect_netmon_80211

__all__ = ["NetmonReader", "ProcessInfo", "detect", "media_link_type", "netmon_80211_header_length"]


@dataclass(slots=True, kw_only=True)
class _Pending(PendingPackets):
    """A batch's rows before classification and the events (``NetmonReader._finish``)."""

    events: np.ndarray  # the rows that are NetEvent records
    caplen: np.ndarray
    skip: np.ndarray  # rows left out of the index (their media type carries nothing to show)
