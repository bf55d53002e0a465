"""Microsoft Network Monitor 1.x (``RTSS``) and 2.x (``GMBU``) capture files.

The file header points at a frame table (one u32 file offset per frame); each record is a small
header, the frame bytes and, from 2.1 on, a trailer with the frame's media type (2.2: an index
into the process table; 2.3: a UTC FILETIME).  Media type 0xFFE0 frames are ETW events
(NetEvent: a user-mode EVENT_HEADER, buffer context and extended data, then the payload).
Layout as documented in Netmon 3.x's help and implemented by Wireshark's wiretap/netmon.c.
"""

from __future__ import annotations

import calendar
import struct
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from .classify import classify_packets
from .dissect.core import LINK_TYPES, LINKTYPE_ETHERNET, LINKTYPE_IEEE802_11, LINKTYPE_RAW, Ctx, payload
from .errors import DamagedRecord, TraceError, TraceWarning
from .frame import Frame, Layer
from .index import KIND_EVENT, KIND_NOTIME, KIND_PACKET, PID_UNKNOWN, empty_batch
from .packets import FRAME, PacketReader, RecordMeta, build_packet_frame, format_time
from .trace import Interface

if TYPE_CHECKING:
    from collections.abc import Iterator

    from .trace import Trace

HEADER_SIZE = 128
MAX_FRAME = 256 * 1024  # Wireshark's WTAP_MAX_PACKET_SIZE_STANDARD
FILETIME_EPOCH_DIFF = 11644473600  # seconds from 1601-01-01 to 1970-01-01

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

# Netmon media type → pcap link type (-1: no dissector; shown as payload)
MEDIA_LINK = {0: LINKTYPE_ETHERNET, 1: LINKTYPE_ETHERNET, 2: 6, 3: 10, 4: -1, 5: -1,
              6: LINKTYPE_NETMON_80211, 7: LINKTYPE_RAW, 8: LINKTYPE_RAW, 9: LINKTYPE_RAW}
MEDIA_NAMES = {0: "Ethernet", 1: "Ethernet", 2: "Token Ring", 3: "FDDI", 4: "ATM/WAN", 5: "IP over 1394",
               6: "WiFi", 7: "Tunnel", 8: "Wireless WAN", 9: "Raw IP", NETMON_NET_NETEVENT: "NetEvent",
               NETMON_NET_NETWORK_INFO_EX: "NetworkInfoEx", NETMON_NET_NETMON_FILTER: "NetmonFilter"}


def detect(head: bytes) -> bool:
    return head[:4] in (b"GMBU", b"RTSS") and len(head) >= 6 and head[5] in (1, 2)


def media_link_type(media: int) -> int:
    if (media & 0xF000) == NETMON_NET_PCAP_BASE and media < 0xE080:
        return media & 0x0FFF
    return MEDIA_LINK.get(media, -1)


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


class NetmonReader(PacketReader):
    format_name = "netmon"

    def __init__(self, trace: Trace) -> None:
        super().__init__(trace)
        buf = self.buf
        path = trace.path
        if len(buf) < HEADER_SIZE:
            raise TraceError(path, f"truncated Netmon header ({len(buf)} of {HEADER_SIZE} bytes)", 0)
        self.v1 = bytes(buf[:4]) == b"RTSS"
        (minor, major, network, year, month, _dow, day, hour, minute, sec, msec, ft_off, ft_len,
         _ud_off, _ud_len, cm_off, cm_len, pi_off, pi_count, _ni_off, _ni_len) = struct.unpack_from(
            "<BBH8HIIIIIIIIII", buf, 4)
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
        if ft_len % 4 or ft_len == 0:
            raise TraceError(path, f"frame table length {ft_len} is not a positive multiple of 4", 4 + 28)
        if ft_off + ft_len > len(buf):
            raise TraceError(path, f"frame table ({ft_len} bytes at offset {ft_off}) runs past the end of the "
                                   f"file ({len(buf)} bytes)", 4 + 24)
        self.frame_table = np.frombuffer(buf, dtype="<u4", count=ft_len // 4, offset=ft_off).astype(np.int64)
        self.per_frame_media = major == 2 and minor >= 1
        #: frame record header: 1.x time delta u32 ms and two u16 lengths; 2.x u64 µs and two u32
        self.hdr_len = 8 if self.v1 else 16
        self.trailer = 0 if not self.per_frame_media else 2 if minor == 1 else 6 if minor == 2 else 15
        self.comments: dict[int, list[str]] = {}
        self.processes: list[ProcessInfo] = []
        self._process_of_pid: dict[int, ProcessInfo] = {}  # the first entry of each pid
        #: NetEvent provider GUID → (provider code, Protocol Name code), named once per provider
        self._event_codes: dict[uuid.UUID, tuple[int, int]] = {}
        self.media_ifaces: dict[int, int] = {}
        trace.facts.update({"format": "netmon", "version": f"{major}.{minor}",
                            "capture_start": format_time(self.start_ns),
                            "media_type": MEDIA_NAMES.get(network, str(network))})
        if major == 2 and minor >= 2:
            self._read_comments(cm_off, cm_len)
            self._read_processes(pi_off, pi_count)
        if self.processes:
            trace.facts["processes"] = [f"{p.pid} {p.path}" for p in self.processes]
            for p in self.processes:
                if p.pid != PID_UNKNOWN:
                    self._process_of_pid.setdefault(p.pid, p)

    # -- optional tables: damage there costs the table, never the frames --------------------
    def _read_comments(self, off: int, length: int) -> None:
        buf = self.buf
        if length == 0:
            return
        end = min(off + length, len(buf))
        pos = off
        try:
            while pos + 12 <= end:
                _n, frame_off, title_len = struct.unpack_from("<III", buf, pos)
                pos += 12
                if title_len == 0 or pos + title_len + 4 > end:
                    raise ValueError(f"comment title length {title_len}")
                title = bytes(buf[pos : pos + title_len]).decode("utf-16-le", "replace").rstrip("\x00")
                pos += title_len
                desc_len = struct.unpack_from("<I", buf, pos)[0]
                pos += 4
                if pos + desc_len > end:
                    raise ValueError(f"comment description length {desc_len}")
                desc = bytes(buf[pos : pos + desc_len]).decode("latin-1", "replace").rstrip("\x00")
                pos += desc_len
                self.comments.setdefault(frame_off, []).append(f"{title}: {desc}" if desc else title)
        except (ValueError, struct.error) as e:
            self.trace.warnings.append(TraceWarning(self.path, pos, f"comment table damaged ({e}); later comments skipped"))

    def _read_processes(self, off: int, count: int) -> None:
        buf = self.buf
        if not off or not count:
            return
        pos = off + 2  # version
        try:
            for _ in range(min(count, 512 * 1024)):
                path_len = struct.unpack_from("<I", buf, pos)[0]
                if path_len > 65536 or pos + 4 + path_len > len(buf):
                    raise ValueError(f"process path length {path_len}")
                path = bytes(buf[pos + 4 : pos + 4 + path_len]).decode("utf-16-le", "replace").split("\x00")[0]
                pos += 4 + path_len
                icon = struct.unpack_from("<I", buf, pos)[0]
                if pos + 4 + icon > len(buf):
                    raise ValueError(f"process icon size {icon}")
                pos += 4 + icon
                pid, lport, _p1, rport, _p2, is6 = struct.unpack_from("<IHHHHI", buf, pos)
                pos += 16
                la = bytes(buf[pos : pos + 16])
                ra = bytes(buf[pos + 16 : pos + 32])
                pos += 32
                if is6:
                    import ipaddress

                    lt, rt = str(ipaddress.IPv6Address(la)), str(ipaddress.IPv6Address(ra))
                else:
                    lt = ".".join(str(b) for b in la[:4][::-1])
                    rt = ".".join(str(b) for b in ra[:4][::-1])
                self.processes.append(ProcessInfo(path, pid, lport, rport, bool(is6), lt, rt))
        except (ValueError, struct.error) as e:
            self.trace.warnings.append(TraceWarning(self.path, pos, f"process table damaged ({e}); later entries skipped"))

    # -- scanning ---------------------------------------------------------------------------
    def scan(self) -> Iterator[dict[str, np.ndarray]]:
        buf = self.buf
        size = len(buf)
        u8 = np.frombuffer(buf, dtype=np.uint8)
        table = self.frame_table
        step = 4096
        i = 0
        while i < len(table):
            offs = table[i : i + step]
            i += len(offs)
            batch, damage = self._batch(u8, offs, size)
            if len(batch["ts"]):
                yield batch
            self.position = int(offs[-1]) if len(offs) else size
            if damage is not None:
                raise damage
            step = 131072

    def _batch(self, u8: np.ndarray, offs: np.ndarray, size: int) -> tuple[dict[str, np.ndarray], DamagedRecord | None]:
        damage = None
        hdr_len = self.hdr_len
        n = len(offs)
        # validate record headers in the file before gathering them
        bad = np.flatnonzero((offs < HEADER_SIZE) | (offs + hdr_len > size))
        cut = int(bad[0]) if len(bad) else n
        if self.v1:
            hdr = u8[offs[:cut, None] + np.arange(8)].reshape(-1).view("<u4").reshape(-1, 2)
            delta_ns = hdr[:, 0].astype(np.int64) * 1_000_000
            lens = hdr[:, 1].view("<u2").reshape(-1, 2)
            caplen = lens[:, 1].astype(np.int64)  # [:, 0] is the original length, read per frame later
        else:
            raw = u8[offs[:cut, None] + np.arange(16)].reshape(-1)
            delta = raw.view("<u8")[::2].copy()
            words = raw.view("<u4").reshape(-1, 4)
            caplen = words[:, 3].astype(np.int64)  # [:, 2] is the original length
            # microseconds as an unsigned value, ×10 wrapping to a signed count of 100 ns (Netmon's rule)
            delta_ns = (delta * np.uint64(10)).view(np.int64) * 100
        ends = offs[:cut] + hdr_len + caplen + self.trailer
        over = np.flatnonzero((caplen > MAX_FRAME) | (ends > size))
        if len(over) and int(over[0]) < cut:
            cut = int(over[0])
        if cut < n:
            o = int(offs[cut])
            if o < HEADER_SIZE or o + hdr_len > size:
                damage = DamagedRecord(o, f"frame table entry {cut} points outside the file (offset {o})")
            elif caplen[cut] > MAX_FRAME:
                damage = DamagedRecord(o, f"frame length {int(caplen[cut])} is larger than any frame "
                                          f"(limit {MAX_FRAME})")
            else:
                damage = DamagedRecord(o, f"truncated frame: {int(caplen[cut])} bytes announced, "
                                          f"{size - o - hdr_len} left in the file")
        offs, caplen, delta_ns = offs[:cut], caplen[:cut], delta_ns[:cut]
        m = len(offs)
        batch = empty_batch(m)
        batch["loc"][:] = offs
        batch["length"][:] = caplen
        batch["ts"][:] = self.start_ns + delta_ns
        data_off = offs + hdr_len
        if self.per_frame_media:
            toff = data_off + caplen
            media = (u8[toff].astype(np.int64) | (u8[toff + 1].astype(np.int64) << 8))
            if self.minor >= 2 and self.processes:
                pidx = u8[toff[:, None] + 2 + np.arange(4)].reshape(-1).view("<u4").astype(np.int64)
                known = pidx < len(self.processes)
                pids = np.array([p.pid for p in self.processes], dtype=np.int64)
                batch["pid"][known] = pids[pidx[known]]
            if self.minor >= 3:
                ft = u8[toff[:, None] + 6 + np.arange(8)].reshape(-1).view("<u8").astype(np.int64)
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
        if len(packets):
            classify_packets(self.trace, u8, batch, links, rows=packets, data_off=data_off)
        for r in np.flatnonzero(is_event):
            self._index_event(batch, int(r), int(data_off[r]), int(caplen[r]))
        if skip.any():
            keep = ~skip
            batch = {k: v[keep] for k, v in batch.items()}
        return batch, damage

    def _iface(self, media: int) -> int:
        code = self.media_ifaces.get(media)
        if code is None:
            self.trace.interfaces.append(Interface(media_link_type(media), MEDIA_NAMES.get(media, f"media {media:#x}"),
                                                   f"Netmon media type {media:#x}"))
            code = self.media_ifaces[media] = len(self.trace.interfaces) - 1
        return code

    def _index_event(self, batch: dict[str, np.ndarray], r: int, off: int, length: int) -> None:
        if length < _NETEVENT.size:
            batch["top"][r] = self.trace.protocol_code("NetEvent")
            return
        ev = parse_netevent(bytes(self.buf[off : off + length]))
        codes = self._event_codes.get(ev["provider"]) or self._provider(ev["provider"])
        batch["provider"][r], batch["top"][r] = codes
        batch["event_id"][r] = ev["id"]
        batch["level"][r] = ev["level"]
        batch["opcode"][r] = ev["opcode"]
        batch["pid"][r] = ev["pid"] if ev["pid"] != 0xFFFFFFFF else PID_UNKNOWN

    def _provider(self, guid: uuid.UUID) -> tuple[int, int]:
        """Codes for a provider not seen before; past the ETL reader's limit (damage, most likely)
        events are indexed without a provider, as NetEvent, and counted."""
        from .etw.reader import MAX_PROVIDERS

        if len(self._event_codes) >= MAX_PROVIDERS:
            facts = self.trace.facts
            if not facts.get("providers_over_limit"):
                self.trace.warnings.append(TraceWarning(
                    self.path, None, f"more than {MAX_PROVIDERS} distinct provider GUIDs (damaged records?): the "
                                     "events of the others are indexed without a provider"))
            facts["providers_over_limit"] = facts.get("providers_over_limit", 0) + 1
            return 0, self.trace.protocol_code("NetEvent")
        name, protocol = _provider_names(guid)
        codes = self._event_codes[guid] = (self.trace.provider_code(str(guid), name, protocol),
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
        return RecordMeta(orig, list(self.comments.get(loc, [])), meta)

    def frame(self, i: int) -> Frame:
        idx = self.trace.index
        loc = int(idx.loc[i])
        data = self.raw(i)
        g = int(idx.iface[i])
        kind = int(idx.kind[i])
        meta = self.record_meta(i, loc, len(data))
        if kind & KIND_EVENT:
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
                     description=f"{name}:{len(data)} bytes", registry=self.trace.registry)

    def state(self) -> dict[str, Any]:
        return {"media_ifaces": {str(k): v for k, v in self.media_ifaces.items()}}

    def restore(self, state: dict[str, Any]) -> None:
        self.media_ifaces = {int(k): v for k, v in state["media_ifaces"].items()}


# -- NetEvent frames ------------------------------------------------------------------------

_NETEVENT = struct.Struct("<HHHHIIq16sHBBBBHQQ16sBBHHHB")


def parse_netevent(data: bytes) -> dict[str, Any]:
    """The user-mode EVENT_HEADER + ETW_BUFFER_CONTEXT Netmon stores for an ETW event frame."""
    (size, htype, flags, prop, tid, pid, ts, guid, eid, ver, chan, level, opcode, task, keyword, cpu_time,
     activity, cpu, _align, logger, ext_count, user_len, _reass) = _NETEVENT.unpack_from(data, 0)
    pos = _NETEVENT.size
    extended = []
    for _ in range(min(ext_count, 64)):
        if pos + 8 > len(data):
            break
        _res, ext_type, _link, ext_size = struct.unpack_from("<HHHH", data, pos)
        extended.append((ext_type, pos + 8, data[pos + 8 : pos + 8 + ext_size]))
        pos += 8 + ext_size
    return {"size": size, "header_type": htype, "flags": flags, "event_property": prop, "tid": tid, "pid": pid,
            "timestamp": ts, "provider": uuid.UUID(bytes_le=guid), "id": eid, "version": ver, "channel": chan,
            "level": level, "opcode": opcode, "task": task, "keyword": keyword, "processor_time": cpu_time,
            "activity_id": uuid.UUID(bytes_le=activity), "processor": cpu, "logger_id": logger,
            "extended": extended, "user_data_offset": pos, "user_data_length": min(user_len, max(0, len(data) - pos))}


def _provider_names(guid: uuid.UUID) -> tuple[str, str]:
    from .etw.naming import provider_names

    return provider_names(guid, None)


def netevent_record(data: bytes, ts_ns: int) -> Any:
    """An ``etw.records.EventRecord`` for a Netmon NetEvent frame, so the ETW decoders read it."""
    from .etw.records import EventRecord, ExtendedItem

    ev = parse_netevent(data)
    flags = ev["flags"]
    pointer = 4 if flags & 0x20 else 8
    start = ev["user_data_offset"]
    payload = data[start : start + ev["user_data_length"]]
    cpu_time = ev["processor_time"]
    return EventRecord(
        header_type=0x12 if pointer == 4 else 0x13, pointer_size=pointer, provider=ev["provider"],
        event_id=ev["id"], version=ev["version"], channel=ev["channel"], level=ev["level"], opcode=ev["opcode"],
        task=ev["task"], keyword=ev["keyword"], pid=ev["pid"], tid=ev["tid"], timestamp_ns=ts_ns,
        raw_timestamp=ev["timestamp"], activity_id=ev["activity_id"], flags=flags, event_property=ev["event_property"],
        extended=[ExtendedItem(t, off, d) for t, off, d in ev["extended"]], payload=payload, payload_offset=start,
        record=data, hook_id=0, kind_name="EVENT_HEADER32" if pointer == 4 else "EVENT_HEADER64",
        processor=ev["processor"], logger_id=ev["logger_id"], kernel_time=cpu_time & 0xFFFFFFFF,
        user_time=cpu_time >> 32)


def netevent_frame(trace: Trace, i: int, data: bytes, meta: RecordMeta) -> Frame:
    """A Netmon NetEvent frame, decoded by the same ETW decoders as an ETL record."""
    ts = int(trace.index.ts[i])
    if len(data) < _NETEVENT.size:
        layer = Layer(FRAME, f"NetEvent record too short ({len(data)} bytes)", 0, len(data))
        return Frame(index=i, timestamp_ns=ts, data=data, layers=[layer], captured_length=len(data),
                     original_length=meta.original_length, kind="event", protocol_name="NetEvent",
                     description=f"NetEvent:record too short ({len(data)} bytes)", registry=trace.registry)
    from .etw.reader import describe_event, event_frame

    rec = netevent_record(data, ts)
    ne, layers, protocol, description, extra = describe_event(trace, i, rec)
    frame = event_frame(trace, i, rec, [ne, *layers], protocol, description, extra)
    frame.comments = list(meta.comments)
    return frame


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
