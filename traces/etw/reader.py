"""The ETL reader: buffers → columnar index, and index rows → frames.

An ETL file is a chain of ETW buffers (ETW.md §1): each starts with a 0x48-byte
``WMI_BUFFER_HEADER``; uncompressed buffers are ``BufferSize`` apart, compressed ones are packed
back to back (``BufferSize`` is then the on-disk size).  Buffers belong to one CPU each, so the
index is built in file order and sorted by time in ``finish()``.

The index pass (``records.scan_job``) touches record headers only.  Compressed buffers are
inflated by our own MS-XCA decoder in a process pool (buffers are independent); the first batch
is scanned in this process so a UI gets frames at once.  Inflated buffers are not kept: ``frame(i)``
inflates the one it needs again (small LRU), which also works after an index cache restore.

Each frame gets a ``NetEvent`` layer (the EVENT_HEADER fields, Netmon's names) and the decoded
event layers (``decode.decode_event``, imported on the first frame).  Packet events
(NDIS-PacketCapture 1001/1003, PktMon 160/170) become packet frames that dissect like pcap frames.
"""

from __future__ import annotations

import os
import struct
import threading
import uuid
from collections import OrderedDict
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import layeroffs
from ..classify import classify_packets
from ..errors import DamagedRecord, TraceError, TraceWarning
from ..fields import REGISTRY, FieldType
from ..frame import Field, Frame, Layer
from ..index import DIR_RECEIVE, DIR_SEND, KIND_EVENT, KIND_PACKET, empty_batch
from ..packets import (
    FRAME,
    FRAME_CAPLEN,
    FRAME_MEDIA,
    FRAME_NUMBER,
    FRAME_ORIGLEN,
    FRAME_TIME,
    RecordMeta,
    build_packet_frame,
    format_time,
)
from ..protocols import MASK
from ..timezone import parse_time_zone, start_ft_ns, zone_description
from ..trace import Interface, Reader
from . import packets as pk
from .buffers import MAX_SESSION_BUFFER, refusal, session_limit
from .records import (
    BUFFER_HEADER,
    BUFFER_HEADER_LAYOUT,
    BUFFER_TYPE_HEADER,
    EVENT_TRACE_COMPRESSED_MODE,
    EXT_TYPES,
    FILETIME_EPOCH,
    FLAG_BUFFER_LOST,
    FLAG_COMPRESSED,
    FLAG_EVENTS_LOST,
    KERNEL_NAMES,
    KINDS,
    LOGFILE_HEADER_LAYOUT,
    LOGFILE_TAIL_LAYOUT,
    SYSTEM32,
    SYSTEM64,
    BufferError_,
    BufferInfo,
    Clock,
    EventRecord,
    RecordError,
    ScanResult,
    buffer_bytes,
    parse_record,
    scan_job,
    sid_text,
)

if TYPE_CHECKING:
    from ..trace import Trace

# -- detection ------------------------------------------------------------------------------------
#: the log header event: SYSTEM_TRACE_HEADER marker of a 32- or 64-bit session, hook 0
_HEADER_MARKERS = (0xC0010002, 0xC0020002)


def detect(head: bytes) -> bool:
    """An ETL file starts with a buffer header whose first record is the log header event."""
    if len(head) < 0x38:
        return False
    size, = struct.unpack_from("<I", head, 0)
    filled, = struct.unpack_from("<I", head, 0x30)
    if size < 0x48 + 0x20 or not 0x48 < filled:
        return False
    if len(head) >= 0x50:
        marker, = struct.unpack_from("<I", head, 0x48)
        hook, = struct.unpack_from("<H", head, 0x4E)
        return marker in _HEADER_MARKERS and hook == 0
    # a short head (callers that pass 64 bytes): buffer type HEADER and plausible sizes
    btype, = struct.unpack_from("<H", head, 0x36)
    return btype == BUFFER_TYPE_HEADER and filled <= max(size, 1 << 24) and head[:4] != b"\0\0\0\0"


# -- NetEvent: the EVENT_HEADER as Netmon names it --------------------------------------------------
R = REGISTRY
NETEVENT = R.protocol("NetEvent", "An ETW event (Netmon's NetEvent frame): its EVENT_HEADER and payload", origin="etw")
_H = "NetEvent.Header."
NE_HEADER = R.define("NetEvent.Header", FieldType.PROTOCOL, "The event's header", origin="etw")
NE_SIZE = R.define(_H + "Size", FieldType.UINT, "Size of the whole event record in bytes", origin="etw")
NE_TYPE = R.define(_H + "HeaderType", FieldType.UINT, "Record header type (marker byte 2: 0x13 = EVENT_HEADER64 …)",
                   origin="etw", enum={k: v.name for k, v in KINDS.items()})
NE_FLAGS = R.define(_H + "Flags", FieldType.UINT, "EVENT_HEADER flags (0x1 extended data …)", origin="etw")
NE_PROP = R.define(_H + "EventProperty", FieldType.UINT, "EVENT_HEADER EventProperty (0x1 XML …)", origin="etw")
NE_TID = R.define(_H + "ThreadId", FieldType.UINT, "Thread that logged the event", origin="etw")
NE_PID = R.define(_H + "ProcessId", FieldType.UINT, "Process that logged the event", origin="etw")
NE_TS = R.define(_H + "TimeStamp", FieldType.TIME, "Event time (UTC)", origin="etw")
NE_PROVIDER = R.define(_H + "ProviderId", FieldType.GUID, "Provider GUID (kernel events: the event group GUID)",
                       origin="etw")
NE_DESC = R.define(_H + "Descriptor", FieldType.PROTOCOL, "EVENT_DESCRIPTOR", origin="etw")
NE_ID = R.define(_H + "Descriptor.Id", FieldType.UINT, "Event id", origin="etw")
NE_VERSION = R.define(_H + "Descriptor.Version", FieldType.UINT, "Event version", origin="etw")
NE_CHANNEL = R.define(_H + "Descriptor.Channel", FieldType.UINT, "Channel (11 = TraceLogging)", origin="etw")
NE_LEVEL = R.define(_H + "Descriptor.Level", FieldType.UINT, "Level (1 critical … 5 verbose)", origin="etw",
                    enum={0: "Always", 1: "Critical", 2: "Error", 3: "Warning", 4: "Information", 5: "Verbose"})
NE_OPCODE = R.define(_H + "Descriptor.Opcode", FieldType.UINT, "Opcode (classic/kernel events: the event type)",
                     origin="etw")
NE_TASK = R.define(_H + "Descriptor.Task", FieldType.UINT, "Task", origin="etw")
NE_KEYWORD = R.define(_H + "Descriptor.Keyword", FieldType.UINT, "Keyword bit mask", origin="etw")
R.alias(_H + "Descriptor.Keywords", _H + "Descriptor.Keyword")
NE_HOOK = R.define(_H + "HookId", FieldType.UINT, "Kernel event hook id (group << 8 | type)", origin="etw")
NE_KTIME = R.define(_H + "KernelTime", FieldType.UINT, "Kernel-mode CPU ticks of the thread", origin="etw")
NE_UTIME = R.define(_H + "UserTime", FieldType.UINT, "User-mode CPU ticks of the thread", origin="etw")
NE_ACTIVITY = R.define(_H + "ActivityId", FieldType.GUID, "Activity id", origin="etw")
NE_BUFCTX = R.define("NetEvent.BufferContext", FieldType.PROTOCOL, "ETW_BUFFER_CONTEXT of the buffer", origin="etw")
NE_PROC = R.define("NetEvent.BufferContext.ProcessorNumber", FieldType.UINT, "CPU whose buffer held the event",
                   origin="etw")
NE_LOGGER = R.define("NetEvent.BufferContext.LoggerId", FieldType.UINT, "ETW session id", origin="etw")
NE_EXTCOUNT = R.define("NetEvent.ExtendedDataCount", FieldType.UINT, "Number of extended data items", origin="etw")
NE_UDLEN = R.define("NetEvent.UserDataLength", FieldType.UINT, "Payload bytes", origin="etw")
NE_EXT = R.define("NetEvent.ExtendedData", FieldType.PROTOCOL, "An extended data item", origin="etw")
NE_EXT_TYPE = R.define("NetEvent.ExtendedData.ExtType", FieldType.UINT, "Extended data item type", origin="etw",
                       enum=EXT_TYPES)
NE_EXT_SIZE = R.define("NetEvent.ExtendedData.DataSize", FieldType.UINT, "Extended data item size", origin="etw")
NE_EXT_RELATED = R.define("NetEvent.ExtendedData.RelatedActivityId", FieldType.GUID, "Related activity id",
                          origin="etw")
NE_EXT_SID = R.define("NetEvent.ExtendedData.Sid", FieldType.STRING, "Security id of the user", origin="etw")
NE_EXT_TSID = R.define("NetEvent.ExtendedData.TsId", FieldType.UINT, "Terminal session id", origin="etw")
NE_EXT_MATCH = R.define("NetEvent.ExtendedData.StackTrace.MatchId", FieldType.UINT, "Stack match id", origin="etw")
NE_EXT_ADDR = R.define("NetEvent.ExtendedData.StackTrace.Address", FieldType.UINT, "Return address", origin="etw")
NE_EXT_KEY = R.define("NetEvent.ExtendedData.StackKey", FieldType.UINT, "Stack key", origin="etw")
NE_EXT_PSK = R.define("NetEvent.ExtendedData.ProcessStartKey", FieldType.UINT, "Process start key", origin="etw")
NE_EXT_EVKEY = R.define("NetEvent.ExtendedData.EventKey", FieldType.UINT, "Event key", origin="etw")
NE_EXT_SCHEMA = R.define("NetEvent.ExtendedData.TraceLoggingSchema", FieldType.BYTES,
                         "TraceLogging event metadata", origin="etw")
NE_EXT_PROVNAME = R.define("NetEvent.ExtendedData.ProviderName", FieldType.STRING,
                           "Provider name from the provider traits", origin="etw")
NE_EXT_TRAITS = R.define("NetEvent.ExtendedData.ProviderTraits", FieldType.BYTES, "Provider traits", origin="etw")
NE_EXT_GUID = R.define("NetEvent.ExtendedData.Guid", FieldType.GUID, "Control/container GUID", origin="etw")
NE_EXT_DATA = R.define("NetEvent.ExtendedData.Data", FieldType.BYTES, "Item bytes", origin="etw")
NE_USERDATA = R.define("NetEvent.UserData", FieldType.BYTES, "The event payload (UserData)", origin="etw")

NETEVENT_MEDIA = 0xFFE0  # Netmon's media type of NetEvent frames
_NETEVENT_BIT = MASK.get("NetEvent", 0)


def _guid_text(g: uuid.UUID | None) -> str:
    return "{" + str(g).upper() + "}" if g is not None else ""


def add_descriptor(hdr: Field, event_id: int, version: int, channel: int, level: int, opcode: int, task: int,
                   keyword: int) -> None:
    """The EVENT_DESCRIPTOR at bytes 40–55 of an EVENT_HEADER (ETL records and Netmon NetEvents)."""
    d = hdr.add(NE_DESC, True, 40, 16, display="", label="Descriptor")
    d.add(NE_ID, event_id, 40, 2)
    d.add(NE_VERSION, version, 42, 1)
    d.add(NE_CHANNEL, channel, 43, 1)
    d.add(NE_LEVEL, level, 44, 1)
    d.add(NE_OPCODE, opcode, 45, 1)
    d.add(NE_TASK, task, 46, 2)
    d.add(NE_KEYWORD, keyword, 48, 8, display=f"0x{keyword:016X}")


def netevent_layer(rec: EventRecord, ts_ns: int) -> Layer:
    """The NetEvent layer: every header field with its byte range inside ``rec.record``."""
    kind = KINDS[rec.header_type]
    fam = kind.family
    layer = Layer(NETEVENT, "", 0, len(rec.record))
    hdr = layer.add(NE_HEADER, True, 0, min(rec.payload_offset, len(rec.record)), display="",
                    label="Header")
    hdr.add(NE_SIZE, rec.size, kind.size_at, 2)
    hdr.add(NE_TYPE, rec.header_type, 2, 1, display=f"0x{rec.header_type:02X} ({rec.kind_name})")
    if fam == "event":
        hdr.add(NE_FLAGS, rec.flags, 4, 2, display=f"0x{rec.flags:04X}")
        hdr.add(NE_PROP, rec.event_property, 6, 2, display=f"0x{rec.event_property:04X}")
        hdr.add(NE_TID, rec.tid, 8, 4)
        hdr.add(NE_PID, rec.pid, 12, 4)
        hdr.add(NE_TS, ts_ns, 16, 8, display=format_time(ts_ns))
        hdr.add(NE_PROVIDER, rec.provider, 24, 16)
        add_descriptor(hdr, rec.event_id, rec.version, rec.channel, rec.level, rec.opcode, rec.task, rec.keyword)
        hdr.add(NE_KTIME, rec.kernel_time, 56, 4)
        hdr.add(NE_UTIME, rec.user_time, 60, 4)
        hdr.add(NE_ACTIVITY, rec.activity_id, 64, 16)
    elif fam in ("system", "perfinfo"):
        hdr.add(NE_HOOK, rec.hook_id, 6, 2, display=f"0x{rec.hook_id:04X}")
        if fam == "system":
            hdr.add(NE_TID, rec.tid, 8, 4)
            hdr.add(NE_PID, rec.pid, 12, 4)
            hdr.add(NE_TS, ts_ns, 16, 8, display=format_time(ts_ns))
        else:
            hdr.add(NE_TS, ts_ns, 8, 8, display=format_time(ts_ns))
        hdr.add(NE_PROVIDER, rec.provider, -1, 0)
        d = hdr.add(NE_DESC, True, 0, 2, display="", label="Descriptor")
        d.add(NE_ID, rec.event_id, -1, 0)
        d.add(NE_VERSION, rec.version, 0, 1)
        d.add(NE_OPCODE, rec.opcode, 6, 1)
        if rec.header_type in (SYSTEM32, SYSTEM64):
            hdr.add(NE_KTIME, rec.kernel_time, 0x18, 4)
            hdr.add(NE_UTIME, rec.user_time, 0x1C, 4)
    elif fam == "classic":
        hdr.add(NE_TID, rec.tid, 8, 4)
        hdr.add(NE_PID, rec.pid, 12, 4)
        hdr.add(NE_TS, ts_ns, 16, 8, display=format_time(ts_ns))
        hdr.add(NE_PROVIDER, rec.provider, 24, 16)
        d = hdr.add(NE_DESC, True, 4, 4, display="", label="Descriptor")
        d.add(NE_ID, rec.event_id, -1, 0)
        d.add(NE_OPCODE, rec.opcode, 4, 1)
        d.add(NE_LEVEL, rec.level, 5, 1)
        d.add(NE_VERSION, rec.version, 6, 2)
        hdr.add(NE_KTIME, rec.kernel_time, 40, 4)
        hdr.add(NE_UTIME, rec.user_time, 44, 4)
    else:  # WPP message
        d = hdr.add(NE_DESC, True, 4, 2, display="", label="Descriptor")
        d.add(NE_ID, rec.event_id, 4, 2)
        hdr.add(NE_PROP, rec.event_property, 6, 2, display=f"0x{rec.event_property:04X}")
        if rec.provider is not None:
            hdr.add(NE_PROVIDER, rec.provider, -1, 0)
        if rec.raw_timestamp:
            hdr.add(NE_TS, ts_ns, -1, 0, display=format_time(ts_ns))
        if rec.pid != 0xFFFFFFFF:
            hdr.add(NE_TID, rec.tid, -1, 0)
            hdr.add(NE_PID, rec.pid, -1, 0)
    ctx = layer.add(NE_BUFCTX, True, -1, 0, display="", label="BufferContext")
    ctx.add(NE_PROC, rec.processor)
    ctx.add(NE_LOGGER, rec.logger_id)
    if rec.extended:
        layer.add(NE_EXTCOUNT, len(rec.extended))
    layer.add(NE_UDLEN, len(rec.payload))
    for item in rec.extended:
        _extended_item(layer, item.ext_type, item.offset, item.data, rec.pointer_size)
    layer.add(NE_USERDATA, rec.payload, rec.payload_offset, len(rec.payload))
    name = _guid_text(rec.provider) if rec.provider is not None else "?"
    layer.summary = f"{rec.kind_name} Provider = {name}, Id = {rec.event_id}, Opcode = {rec.opcode}"
    return layer


def _extended_item(layer: Layer, ext_type: int, off: int, data: bytes, ptr: int) -> None:
    name = EXT_TYPES.get(ext_type, f"Type{ext_type}")
    node = layer.add(NE_EXT, True, off - 8, 8 + len(data), display=name, label=f"ExtendedData ({name})")
    node.add(NE_EXT_TYPE, ext_type, off - 6, 2)
    node.add(NE_EXT_SIZE, len(data), off - 2, 2)
    n = len(data)
    if ext_type in (1, 14, 16) and n >= 16:  # related activity id, control guid, container id
        node.add(NE_EXT_RELATED if ext_type == 1 else NE_EXT_GUID, uuid.UUID(bytes_le=data[:16]), off, 16)
    elif ext_type == 2 and n >= 8:
        node.add(NE_EXT_SID, sid_text(data), off, n)
    elif ext_type == 3 and n >= 4:
        node.add(NE_EXT_TSID, struct.unpack_from("<I", data)[0], off, 4)
    elif ext_type in (5, 6) and n >= 8:
        node.add(NE_EXT_MATCH, struct.unpack_from("<Q", data)[0], off, 8)
        step = 4 if ext_type == 5 else 8
        for i, p in enumerate(range(8, n - step + 1, step)):
            if i >= 256:
                break
            v = struct.unpack_from("<I" if step == 4 else "<Q", data, p)[0]
            node.add(NE_EXT_ADDR, v, off + p, step, display=f"0x{v:0{step * 2}X}")
    elif ext_type in (10, 13) and n >= 8:
        node.add(NE_EXT_EVKEY if ext_type == 10 else NE_EXT_PSK, struct.unpack_from("<Q", data)[0], off, 8)
    elif ext_type in (17, 18) and n >= 8:
        node.add(NE_EXT_MATCH, struct.unpack_from("<Q", data)[0], off, 8)
        fmt = "<Q" if ext_type == 18 else "<I"
        node.add(NE_EXT_KEY, struct.unpack_from(fmt, data, 8)[0] if n >= 8 + struct.calcsize(fmt) else 0,
                 off + 8, n - 8)
    elif ext_type == 11:
        node.add(NE_EXT_SCHEMA, data, off, n)
    elif ext_type == 12:
        pname = data[2:].split(b"\0", 1)[0].decode("utf-8", "replace") if n > 2 else ""
        node.add(NE_EXT_PROVNAME, pname, off + 2, len(pname.encode()) + 1 if pname else 0)
        node.add(NE_EXT_TRAITS, data, off, n)
    else:
        node.add(NE_EXT_DATA, data, off, n)


# -- names ---------------------------------------------------------------------------------------------
def _provider_names(guid: uuid.UUID, rec: EventRecord | None, errors: list[str]) -> tuple[str, str]:
    from .naming import provider_names  # with the schema store: imported when the first batch is named

    try:
        return provider_names(guid, rec)
    except Exception as e:  # noqa: BLE001 — a naming bug must not stop the index pass
        errors.append(f"provider_names({guid}): {type(e).__name__}: {e}")
    return KERNEL_NAMES.get(guid, str(guid)), "NetEvent"


# -- the reader -------------------------------------------------------------------------------------
FIRST_BATCH_BUFFERS = 2
BATCH_BYTES = 8 << 20  # inflated bytes per batch
POOL_MIN_COMPRESSED = 1 << 20  # compressed bytes worth starting worker processes for
POOL_MIN_BYTES = 16 << 20  # uncompressed buffer bytes worth it (scanning in two workers: ~1.5x)
MAX_BUFFERS = 1 << 24
CACHE_BUFFERS = 64
#: inflated bytes those buffers may hold together (64 buffers of a pktmon session's 16 MiB, or of
#: a crafted header's 64 MiB, would otherwise keep gigabytes for a small file)
CACHE_BYTES = 64 << 20
#: distinct provider GUIDs indexed with a provider code: real captures have tens to hundreds; a
#: damaged file with a new GUID in every record would otherwise make the provider and protocol
#: tables grow with every record (and overflow the 16-bit index columns)
MAX_PROVIDERS = 4096
#: interfaces the 16-bit index column can number; packets of further ones stay plain events
MAX_INTERFACES = 1 << 16


class EtlReader(Reader):
    format_name = "etl"

    def __init__(self, trace: Trace) -> None:
        super().__init__(trace)
        self.size = len(self.buf)
        self.buffers: list[BufferInfo] = []
        #: numbers of the compressed buffers whose claims ``buffers.refusal`` does not believe
        self.refused: set[int] = set()
        self.session_limit = MAX_SESSION_BUFFER
        self.chain_damage: tuple[int, str] | None = None
        self._lru: OrderedDict[int, bytes] = OrderedDict()
        self._lru_bytes = 0
        self._lru_lock = threading.Lock()
        self._guid_codes: dict[uuid.UUID, int] = {}
        self._top_of_code: dict[int, int] = {}
        self._iface_of: dict[tuple[Any, ...], int] = {}
        self._pktmon_ifaces: dict[int, list[int]] = {}
        self.components: dict[int, tuple[str, str]] = {}
        #: loc of the last event of a multi-event packet → [(loc, start, length), …] of its fragments
        self.multi: dict[int, list[tuple[int, int, int]]] = {}
        #: loc of a packet → Wi-Fi receive metadata (NDIS 1002) logged just before it
        self.wifi: dict[int, dict[str, Any]] = {}
        self._pending: dict[tuple[Any, ...], list[tuple[int, int, int, bytes]]] = {}
        self._pending_wifi: dict[str, Any] | None = None
        #: batch packet index → bytes of a multi-event packet assembled in ``_sequential``
        self._assembled: dict[int, bytes] = {}
        self.records = 0
        self.packets = 0
        self.inflated_bytes = 0
        self._read_header()
        self._walk_buffers()

    # -- the log header and the buffer chain ---------------------------------------------------
    def _read_header(self) -> None:
        buf, path = self.buf, self.path
        if self.size < 0x48 + 0x20 + 0x110:
            raise TraceError(path, f"too short for an ETL file ({self.size} bytes)", 0)
        marker, = struct.unpack_from("<I", buf, 0x48)
        if marker not in _HEADER_MARKERS:
            raise TraceError(path, f"the first record is not the ETW log header (marker 0x{marker:08X})", 0x48)
        ptr = 8 if marker == 0xC0020002 else 4
        rec_size, = struct.unpack_from("<H", buf, 0x4C)
        raw0, = struct.unpack_from("<q", buf, 0x48 + 0x10)
        h = 0x48 + 0x20
        (bsize, version, build, ncpu, end_ft, timer_res, max_size, mode, written, _start_buffers, psize,
         lost, cpu_mhz) = LOGFILE_HEADER_LAYOUT.unpack_from(buf, h)
        tail = h + (0xF8 if ptr == 8 else 0xF0)
        if self.size < tail + LOGFILE_TAIL_LAYOUT.size:
            raise TraceError(path, f"the ETW log header is cut short ({self.size} bytes; its fields run to byte "
                                   f"{tail + LOGFILE_TAIL_LAYOUT.size})", 0x48)
        boot_ft, perf_freq, start_ft, clock_type, buffers_lost = LOGFILE_TAIL_LAYOUT.unpack_from(buf, tail)
        names_at = tail + 0x20
        rec_end = 0x48 + rec_size
        logger_name, pos = pk.utf16z(buf, names_at, min(rec_end, self.size))
        logfile_name, _ = pk.utf16z(buf, pos, min(rec_end, self.size))
        if clock_type == 2:
            freq = 10_000_000
        elif clock_type == 3:
            freq = cpu_mhz * 1_000_000
        else:
            freq = perf_freq
        if freq <= 0:
            freq = 10_000_000
        self.clock = Clock(start_ft, raw0, freq, system_time=clock_type == 2)
        self.pointer_size = ptr
        self.session_limit = session_limit(bsize)
        self.facts_header = {
            "format": "ETL (Event Trace Log)",
            "pointer_size": psize or ptr,
            "clock_type": {0: "raw", 1: "QPC", 2: "system time", 3: "CPU cycle counter"}.get(clock_type,
                                                                                             str(clock_type)),
            "perf_freq": perf_freq,
            "start_time": _ft_text(start_ft),
            "end_time": _ft_text(end_ft),
            "boot_time": _ft_text(boot_ft),
            "os_version": f"{version & 0xFF}.{(version >> 8) & 0xFF}",
            "os_build": build,
            "number_of_processors": ncpu,
            "cpu_speed_mhz": cpu_mhz,
            "buffer_size": bsize,
            "buffers_written": written,
            "events_lost": lost,
            "buffers_lost": buffers_lost,
            "log_file_mode": f"0x{mode:08X}",
            "compressed": bool(mode & EVENT_TRACE_COMPRESSED_MODE),
            "timer_resolution": timer_res,
            "maximum_file_size_mb": max_size,
            "logger_name": logger_name,
            "log_file_name": logfile_name,
        }
        # TIME_ZONE_INFORMATION sits right before BootTime (after the two name pointers)
        zone = parse_time_zone(buf, tail - 0xB0)
        self.trace.time_zone = zone
        if zone is not None:
            self.facts_header["time_zone"] = zone_description(zone, start_ft_ns(start_ft))
        self.trace.facts.update(self.facts_header)
        if lost:
            self.trace.warnings.append(TraceWarning(path, None, f"the session lost {lost} events while capturing"))
        if buffers_lost:
            self.trace.warnings.append(TraceWarning(path, None, f"the session lost {buffers_lost} buffers"))

    def _walk_buffers(self) -> None:
        """The buffer table: headers only, following BufferSize (the on-disk size)."""
        buf, size = self.buf, self.size
        off = 0
        lost_flags = 0
        while off < size and len(self.buffers) < MAX_BUFFERS:
            if off + BUFFER_HEADER > size:
                self.chain_damage = (off, (f"buffer {len(self.buffers)}: truncated buffer header "
                                          f"({size - off} of {BUFFER_HEADER} bytes at the end of the file)"))
                break
            (bsize, _saved, _current, _refs, _ts, _seq, _clock, proc, _logger, _state, filled, flags, _btype,
             _union) = BUFFER_HEADER_LAYOUT.unpack_from(buf, off)
            n = len(self.buffers)
            if bsize < BUFFER_HEADER:
                self.chain_damage = (off, (f"buffer {n}: buffer size {bsize} is smaller than a buffer header; "
                                          "the buffers after it cannot be found"))
                break
            if filled > bsize and not flags & FLAG_COMPRESSED:
                self.chain_damage = (off, f"buffer {n}: {filled} filled bytes in a {bsize}-byte buffer")
                break
            if flags & (FLAG_EVENTS_LOST | FLAG_BUFFER_LOST):
                lost_flags += 1
            info = BufferInfo(n, off, bsize, filled, flags, proc)
            self.buffers.append(info)
            why = refusal(info, self.session_limit)
            if why is not None:  # kept in the table (numbers stay file order), never inflated
                self.refused.add(n)
                self.trace.warnings.append(TraceWarning(self.path, off, f"compressed buffer {n} (file offset "
                                                                        f"{off}) {why}: it is skipped"))
            if off + bsize > size:
                self.chain_damage = (off, (f"buffer {n}: {bsize}-byte buffer runs past the end of the file "
                                          f"({size - off} bytes left)"))
                break
            off += bsize
        if lost_flags:
            self.trace.warnings.append(TraceWarning(self.path, None, f"{lost_flags} buffers are flagged "
                                                                     "EVENTS_LOST or BUFFER_LOST"))
        compressed = [b for b in self.buffers if b.compressed]
        self.trace.facts["buffers"] = len(self.buffers)
        self.trace.facts["compressed_buffers"] = len(compressed)

    # -- scanning -----------------------------------------------------------------------------
    def _batches(self) -> list[list[BufferInfo]]:
        out: list[list[BufferInfo]] = []
        cur: list[BufferInfo] = []
        acc = 0
        for b in self.buffers:
            if b.number in self.refused:
                continue
            cur.append(b)
            acc += max(b.filled, 0)
            limit = FIRST_BATCH_BUFFERS if not out else None
            if (limit is not None and len(cur) >= limit) or acc >= BATCH_BYTES:
                out.append(cur)
                cur, acc = [], 0
        if cur:
            out.append(cur)
        return out

    def scan(self) -> Iterator[dict[str, np.ndarray]]:
        batches = self._batches()
        compressed = sum(min(b.disk_size, b.filled) for batch in batches for b in batch if b.compressed)
        pool = None
        results: Iterator[tuple[ScanResult, int]]
        filled = sum(b.filled for batch in batches for b in batch)
        worth = compressed >= POOL_MIN_COMPRESSED or filled >= POOL_MIN_BYTES
        if len(batches) > 1 and worth and (os.cpu_count() or 1) > 1:
            pool = _start_pool()
        try:
            results = self._results(batches, pool)
            for (result, inflated), infos in zip(results, batches, strict=False):
                self.inflated_bytes += inflated
                self.position = min(self.size, infos[-1].file_offset + infos[-1].disk_size)
                for number, off, cause in result.damage:
                    b = self.buffers[number]
                    where = "inflated buffer" if b.compressed else "buffer"
                    self.trace.warnings.append(TraceWarning(
                        self.path, b.file_offset + (0 if b.compressed else off),
                        f"{where} {number} (file offset {b.file_offset}), offset {off}: {cause}"))
                batch = self._batch(result)
                if len(batch["ts"]):
                    yield batch
        finally:
            if pool is not None:
                pool.shutdown(wait=False, cancel_futures=True)
        if self.chain_damage is not None:
            off, cause = self.chain_damage
            self.chain_damage = None
            raise DamagedRecord(off, cause)

    def _results(self, batches: list[list[BufferInfo]], pool: Any) -> Iterator[tuple[ScanResult, int]]:
        """Scan results in batch order: the first batch here, the rest in the pool when there is one."""
        if not batches:
            return
        yield scan_job(self.buf, batches[0], self.clock)
        rest = batches[1:]
        if pool is None:
            for infos in rest:
                yield scan_job(self.buf, infos, self.clock)
            return
        from concurrent.futures import Future

        window = 4
        futures: list[Future[tuple[ScanResult, int]]] = []
        i = 0
        done = 0
        broken = False
        while done < len(rest):
            while not broken and i < len(rest) and len(futures) < window:
                try:
                    futures.append(pool.submit(scan_job, self.path, rest[i], self.clock))
                except Exception:  # noqa: BLE001 — a pool that cannot start: scan here
                    broken = True
                    break
                i += 1
            if futures:
                fut = futures.pop(0)
                try:
                    res = fut.result()
                except Exception:  # noqa: BLE001 — worker died (memory, signal): redo it here
                    broken = True
                    self.trace.check_file_during_scan()  # unless it died of the file shrinking (SIGBUS)
                    res = scan_job(self.buf, rest[done], self.clock)
                yield res
                done += 1
            else:
                yield scan_job(self.buf, rest[done], self.clock)
                done += 1
                i = max(i, done)

    def _batch(self, result: ScanResult) -> dict[str, np.ndarray]:
        trace = self.trace
        cols = result.cols
        n = len(cols["ts"])
        # written where it goes in the index when there is room (the trace appends it next)
        batch = trace.index.slots(len(trace.index), n)
        for name in ("loc", "length", "ts", "event_id", "level", "opcode", "pid", "tid"):
            batch[name][:] = cols[name]
        batch["desc"][:] = trace.descriptor_codes(cols["family"], cols["version"], cols["channel"], cols["task"],
                                                  cols["keyword"])
        codes = np.zeros(len(result.guids), dtype=np.uint16)
        tops = np.zeros(len(result.guids), dtype=np.uint16)
        for j, guid in enumerate(result.guids):
            code = self._guid_codes.get(guid)
            if code is None and len(self._guid_codes) >= MAX_PROVIDERS:
                # indexed without a provider (code 0), shown as NetEvent
                self._over_limit("providers_over_limit", f"more than {MAX_PROVIDERS} distinct provider GUIDs "
                                 "(damaged records?): the records of the others are indexed without a provider")
                tops[j] = trace.protocol_code("NetEvent")
                continue
            if code is None:
                sample = None
                try:
                    sample = parse_record(result.samples[j], self.clock.to_ns)
                except RecordError:
                    pass
                errors: list[str] = []
                name, proto = _provider_names(guid, sample, errors)
                if errors:
                    trace.facts.setdefault("naming_errors", []).extend(errors)
                code = trace.provider_code(str(guid), name, proto)
                self._guid_codes[guid] = code
                self._top_of_code[code] = trace.protocol_code(proto)
            codes[j] = code
            tops[j] = self._top_of_code[code]
        g = cols["guid"]
        batch["provider"][:] = codes[g]
        batch["top"][:] = tops[g]
        batch["kind"][:] = KIND_EVENT
        batch["protos"][:] = _NETEVENT_BIT
        self.records += n
        if result.packets or result.side:
            self._packets(result, batch)
        return batch

    def _over_limit(self, fact: str, warning: str) -> None:
        """Count what went over a limit in ``facts[fact]``; warn the first time."""
        facts = self.trace.facts
        if not facts.get(fact):
            self.trace.warnings.append(TraceWarning(self.path, None, warning))
        facts[fact] = facts.get(fact, 0) + 1

    def _packets(self, result: ScanResult, batch: dict[str, np.ndarray]) -> None:
        """File packet events: interfaces, direction, multi-event assembly, then classification."""
        pr = result.packets
        wifi_meta = False
        for _r, prov, eid, rec in result.side:
            if prov == pk.NDIS_GUID and eid == pk.NDIS_METADATA:
                wifi_meta = True
            else:  # PktMon component names: order does not matter
                self._side_event(prov, eid, rec)
        if pr is None or not len(pr.rows):
            if wifi_meta:
                for _r, prov, eid, rec in result.side:
                    if eid == pk.NDIS_METADATA:
                        self._side_event(prov, eid, rec)
            return
        # each interface key's first packet names it (one pass, not one scan of the rows per key)
        first = np.full(len(pr.keys), -1, dtype=np.int64)
        used, at = np.unique(pr.key, return_index=True)
        first[used] = at
        ifaces = np.array([self._interface(key, int(pr.link[i]), int(pr.miniport[i])) if i >= 0 else -1
                           for key, i in zip(pr.keys, first.tolist(), strict=True)], dtype=np.int64)
        single = pr.first & pr.last
        if bool(single.all()) and not wifi_meta and not self._pending:
            keep = np.arange(len(pr.rows))
        else:
            keep = self._sequential(result, pr, batch)
        keep = keep[ifaces[pr.key[keep]] >= 0]  # packets on interfaces over the limit stay events
        if not len(keep):
            self._assembled = {}
            return
        rows = pr.rows[keep]
        self.packets += len(rows)
        batch["kind"][rows] = KIND_EVENT | KIND_PACKET
        batch["iface"][rows] = ifaces[pr.key[keep]]
        d = pr.direction[keep]
        batch["dirflags"][rows] = np.where(d == pk.SEND, DIR_SEND, np.where(d == pk.RECEIVE, DIR_RECEIVE, 0))
        data, loc, length = pr.data, pr.offset[keep], pr.length[keep]
        assembled = np.zeros(len(keep), dtype=bool)
        if self._assembled:
            assembled = np.array([int(j) in self._assembled for j in keep.tolist()], dtype=bool)
            data, loc, length = self._with_assembled(pr, keep, data, loc, length)
        sub = empty_batch(len(rows))
        sub["loc"][:] = loc
        sub["length"][:] = length
        classify_packets(self.trace, data, sub, pr.link[keep].astype(np.int64))
        for name in ("protos", "top", "tcpflags", "eth_conv", "ip_conv", "l4_conv"):
            batch[name][rows] = sub[name]
        # layer offsets from the record's start (an assembled packet is in no record as such)
        sub["layout"][assembled] = 0
        batch["layout"][rows] = layeroffs.shift(self.trace, sub["layout"], pr.start[keep])
        batch["protos"][rows] |= np.uint64(_NETEVENT_BIT)
        batch["dirflags"][rows] |= sub["dirflags"]

    def _sequential(self, result: ScanResult, pr: Any, batch: dict[str, np.ndarray]) -> np.ndarray:
        """Multi-event packets (before Windows 8.1) and Wi-Fi metadata events, in record order."""
        loc = batch["loc"]
        events: list[tuple[int, int, int]] = [(r, 0, j) for j, (r, prov, eid, _rec) in enumerate(result.side)
                                              if prov == pk.NDIS_GUID and eid == pk.NDIS_METADATA]
        events += [(int(r), 1, j) for j, r in enumerate(pr.rows)]
        events.sort()
        keep: list[int] = []
        self._assembled = {}
        for _r, what, j in events:
            if what == 0:
                _, prov, eid, rec = result.side[j]
                self._side_event(prov, eid, rec)
                continue
            here = int(loc[pr.rows[j]])
            if not (pr.first[j] and pr.last[j]):
                key = (int(pr.processor[j]), pr.keys[int(pr.key[j])])
                if pr.first[j]:
                    self._pending[key] = []
                parts = self._pending.get(key)
                if parts is None:  # a continuation without its start: it stays an event
                    continue
                frag = bytes(pr.data[pr.offset[j] : pr.offset[j] + pr.length[j]])
                parts.append((here, int(pr.start[j]), int(pr.length[j]), frag))
                if not pr.last[j]:
                    continue
                del self._pending[key]
                if len(parts) > 1:
                    self.multi[here] = [(lc, st, ln) for lc, st, ln, _ in parts]
                    self._assembled[j] = b"".join(p[3] for p in parts)
            if self._pending_wifi is not None:
                self.wifi[here] = self._pending_wifi
                self._pending_wifi = None
            keep.append(j)
        return np.array(keep, dtype=np.int64)

    def _with_assembled(self, pr: Any, keep: np.ndarray, data: np.ndarray, loc: np.ndarray,
                        length: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Point multi-event packets at their assembled bytes (appended after the batch's data)."""
        extra = []
        loc = loc.copy()
        length = length.copy()
        pos = len(data)
        for n, j in enumerate(keep):
            whole = self._assembled.get(int(j))
            if whole is not None:
                loc[n], length[n] = pos, len(whole)
                extra.append(whole)
                pos += len(whole)
        self._assembled = {}
        if not extra:
            return data, loc, length
        return np.concatenate([data, np.frombuffer(b"".join(extra), dtype=np.uint8)]), loc, length

    def _side_event(self, prov: uuid.UUID, eid: int, rec_bytes: bytes) -> None:
        try:
            rec = parse_record(rec_bytes)
        except RecordError:
            return
        if prov == pk.NDIS_GUID and eid == pk.NDIS_METADATA:
            self._pending_wifi = pk.wifi_metadata(rec_bytes, rec.payload_offset)
        elif prov == pk.PKTMON_GUID and eid == pk.PKTMON_COMPONENT:
            comp = pk.pktmon_component(rec_bytes, rec.payload_offset)
            if comp is None:
                return
            cid, _ctype, name, desc = comp
            self.components[cid] = (name, desc)
            for n in self._pktmon_ifaces.get(cid, []):
                iface = self.trace.interfaces[n]
                iface.name, iface.description = name or iface.name, desc

    def _interface(self, key: tuple[Any, ...], link: int, miniport: int) -> int:
        n = self._iface_of.get(key)
        if n is not None:
            return n
        if len(self.trace.interfaces) >= MAX_INTERFACES:
            self._over_limit("interfaces_over_limit", f"more than {MAX_INTERFACES} interfaces (damaged records?): "
                             "the packets of the others are indexed as plain events")
            return -1
        name, desc = pk.interface_name(key, link, self.components)
        if key[0] != "pktmon" and miniport and key[1] != miniport:
            desc = (f"LWF over IfIndex {miniport}" + (f" {desc}" if desc else "")).strip()
        opts: dict[str, Any] = {}
        if key[0] in ("ndis", "vnic"):
            opts["ifIndex"] = key[1]
            opts["MiniportIfIndex"] = miniport
        if key[0] == "vnic":
            opts.update({"SourcePortId": key[2], "VlanId": key[3], "SourceNicType": key[4],
                         "SourcePortName": key[5]})
        if key[0] == "pktmon":
            opts["ComponentId"] = key[1]
        n = len(self.trace.interfaces)
        self.trace.interfaces.append(Interface(link, name, desc, 65535, 10_000_000, 0, opts))
        self._iface_of[key] = n
        if key[0] == "pktmon":
            self._pktmon_ifaces.setdefault(key[1], []).append(n)
        return n

    def finish(self) -> None:
        idx = self.trace.index
        if len(idx):
            ts = idx.ts
            if len(ts) > 1 and bool(np.any(ts[1:] < ts[:-1])):
                idx.reorder(np.argsort(ts, kind="stable"))
        facts = self.trace.facts
        facts["records"] = self.records
        facts["packet_events"] = self.packets
        facts["inflated_bytes"] = self.inflated_bytes
        if self._pending:
            facts["unfinished_multi_event_packets"] = len(self._pending)
        self._pending.clear()

    # -- random access ------------------------------------------------------------------------
    def _buffer(self, number: int) -> bytes | memoryview:
        info = self.buffers[number]
        if number in self.refused:  # no index row points here; a damaged cache row might
            raise TraceError(self.path, f"buffer {number} was refused (implausible compressed size)",
                             info.file_offset)
        if not info.compressed:
            return memoryview(self.buf)[info.file_offset : info.file_offset + min(info.disk_size, info.filled)]
        with self._lru_lock:  # the UI thread and filter workers decode frames at the same time
            data = self._lru.get(number)
            if data is not None:
                self._lru.move_to_end(number)
                return data
        try:
            data = buffer_bytes(self.buf, info)
        except BufferError_ as e:
            raise TraceError(self.path, f"buffer {number}: {e}", info.file_offset) from None
        with self._lru_lock:
            if number not in self._lru:
                self._lru[number] = data
                self._lru_bytes += len(data)
            while len(self._lru) > 1 and (len(self._lru) > CACHE_BUFFERS or self._lru_bytes > CACHE_BYTES):
                self._lru_bytes -= len(self._lru.popitem(last=False)[1])
        return data

    def _record_bytes(self, loc: int, length: int) -> tuple[bytes, BufferInfo]:
        number, off = loc >> 32, loc & 0xFFFFFFFF
        if number >= len(self.buffers):
            raise TraceError(self.path, f"index row points at buffer {number}, the file has {len(self.buffers)}")
        data = self._buffer(number)
        return bytes(data[off : off + length]), self.buffers[number]

    def record(self, i: int) -> EventRecord:
        """The record of index row ``i`` with its header fields decoded."""
        loc, length, ts = self.trace.index.row(i, "loc", "length", "ts")
        rec, info = self._record_bytes(loc, length)
        r = parse_record(rec, self.clock.to_ns, info.processor)
        r.timestamp_ns = ts
        return r

    def _packet(self, i: int, rec: EventRecord) -> tuple[bytes, pk.PacketInfo] | None:
        if rec.provider is None:
            return None
        info = pk.locate(rec.provider, rec.event_id, rec.keyword, rec.record, rec.payload_offset, rec.pointer_size)
        if info is None:
            return None
        loc = int(self.trace.index.loc[i])
        parts = self.multi.get(loc)
        if parts:
            chunks = []
            for lc, st, ln in parts:
                b, _ = self._record_bytes(lc, st + ln)
                chunks.append(b[st : st + ln])
            data = b"".join(chunks)
            info.meta["Fragments"] = len(parts)
        else:
            data = rec.record[info.start : info.start + info.length]
        if info.clear_protected and len(data) > 1 and data[1] & 0x40:
            data = data[:1] + bytes([data[1] & 0xBF]) + data[2:]
            info.meta["Note"] = "802.11 Protected flag cleared (ndiscap logs decrypted frames)"
        return data, info

    def raw(self, i: int) -> bytes:
        rec = self.record(i)
        if int(self.trace.index.kind[i]) & KIND_PACKET:
            got = self._packet(i, rec)
            if got is not None:
                return got[0]
        return rec.record

    def frame(self, i: int) -> Frame:
        rec = self.record(i)
        ne, layers, protocol, description, meta = describe_event(self.trace, i, rec)
        if int(self.trace.index.kind[i]) & KIND_PACKET:
            got = self._packet(i, rec)
            if got is not None:
                return self._packet_frame(i, rec, rec.timestamp_ns, got[0], got[1], [ne, *layers], meta)
        return event_frame(self.trace, i, rec, [ne, *layers], protocol, description, meta)

    def _packet_frame(self, i: int, rec: EventRecord, ts: int, data: bytes, info: pk.PacketInfo,
                      extra: list[Layer], meta: dict[str, Any]) -> Frame:
        idx = self.trace.index
        iface = int(idx.iface[i])
        loc = int(idx.loc[i])
        opts = dict(meta)
        opts.update(info.meta)
        wifi = self.wifi.get(loc)
        if wifi:
            opts.update(wifi)
        comments = [f"PID={rec.pid} TID={rec.tid}"]
        if info.iface[0] == "pktmon":
            comp = self.components.get(info.iface[1])
            if comp:
                opts["Component"] = comp[0]
        orig = info.original_length or pk.original_length(data, info.link_type, len(data))
        direction = pk.DIRECTION_TEXT.get(info.direction, "")
        # the header and event layers describe the record; keep byte ranges that fall in the packet
        for layer in extra:
            _rebase(layer, info.start, len(data))
        rmeta = RecordMeta(max(orig, len(data)), comments, opts, direction)
        frame = build_packet_frame(self.trace, i, ts, data, info.link_type, iface, rmeta, extra_layers=extra)
        frame.process_id = None if rec.pid == 0xFFFFFFFF else rec.pid
        frame.thread_id = None if rec.tid == 0xFFFFFFFF else rec.tid
        frame.meta.update(opts)
        return frame

    # -- index cache -------------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return {
            "components": {str(k): list(v) for k, v in self.components.items()},
            "multi": {str(k): [list(p) for p in v] for k, v in self.multi.items()},
            "wifi": {str(k): v for k, v in self.wifi.items()},
            "records": self.records,
            "packets": self.packets,
        }

    def restore(self, state: dict[str, Any]) -> None:
        self.components = {int(k): (str(v[0]), str(v[1])) for k, v in state.get("components", {}).items()}
        self.multi = {int(k): [(int(a), int(b), int(c)) for a, b, c in v] for k, v in state.get("multi", {}).items()}
        self.wifi = {int(k): dict(v) for k, v in state.get("wifi", {}).items()}
        self.records = int(state.get("records", 0))
        self.packets = int(state.get("packets", 0))
        self.chain_damage = None  # already reported in the cached warnings


def describe_event(trace: Any, i: int, rec: EventRecord) -> tuple[Layer, list[Layer], str, str, dict[str, Any]]:
    """The NetEvent header layer, the decoded event layers, Protocol Name, Description and meta
    of an event record (ETL records and Netmon NetEvent frames alike)."""
    ts = rec.timestamp_ns
    ne = netevent_layer(rec, ts)
    layers: list[Layer] = []
    protocol = "NetEvent"
    description = ""
    code = int(trace.index.provider[i])
    prov = trace.providers[code] if code < len(trace.providers) else None
    if prov is not None and prov.protocol:
        protocol = prov.protocol
    from .decode import decode_event

    symbol = ""
    decode_error = ""
    try:
        dec = decode_event(rec, trace)
        layers = dec.layers
        protocol = dec.protocol or protocol
        description = dec.description
        symbol = dec.symbol or ""
    except Exception as e:  # noqa: BLE001 — show the header and the error, never fail the row
        decode_error = f"{type(e).__name__}: {e}"
    if not description:
        description = _fallback_description(rec, prov.name if prov is not None else "")
    if not description.startswith(protocol + ":"):
        description = f"{protocol}:{description}"
    ne.summary = description.split(":", 1)[1] if ":" in description else ne.summary
    meta: dict[str, Any] = {"HeaderKind": rec.kind_name}
    if symbol:
        meta["Symbol"] = symbol
    if decode_error:
        meta["DecodeError"] = decode_error
    return ne, layers, protocol, description, meta


def event_frame(trace: Any, i: int, rec: EventRecord, layers: list[Layer], protocol: str, description: str,
                meta: dict[str, Any]) -> Frame:
    """A frame for an ETW event that carries no packet: Frame layer, NetEvent, decoded layers."""
    ts = rec.timestamp_ns
    top = Layer(FRAME, "", 0, rec.size)
    top.add(FRAME_NUMBER, i + 1)
    top.add(FRAME_TIME, ts, display=format_time(ts))
    top.add(FRAME_CAPLEN, rec.size)
    top.add(FRAME_ORIGLEN, rec.size)
    top.add(FRAME_MEDIA, NETEVENT_MEDIA, display=f"{NETEVENT_MEDIA} (NetEvent)")
    top.summary = f"Number = {i + 1}, Captured Frame Length = {rec.size}, MediaType = NetEvent"
    return Frame(
        index=i,
        timestamp_ns=ts,
        data=rec.record,
        layers=[top, *layers],
        captured_length=rec.size,
        original_length=rec.size,
        interface=0,
        link_type=-1,
        kind="event",
        protocol_name=protocol,
        description=description,
        process_id=None if rec.pid == 0xFFFFFFFF else rec.pid,
        thread_id=None if rec.tid == 0xFFFFFFFF else rec.tid,
        meta=meta,
        registry=trace.registry,
    )


def _rebase(layer: Layer, delta: int, limit: int) -> None:
    def fix(f: Field) -> None:
        if f.start >= 0:
            s = f.start - delta
            if s < 0 or s + f.length > limit:
                f.start, f.length = -1, 0
            else:
                f.start = s
        for c in f.children:
            fix(c)

    for f in layer.fields:
        fix(f)
    s = layer.start - delta
    if s < 0 or s + layer.length > limit:
        layer.start, layer.length = 0, 0
    else:
        layer.start = s


def _fallback_description(rec: EventRecord, provider_name: str) -> str:
    who = provider_name or (_guid_text(rec.provider) if rec.provider else "WPP")
    if rec.family in ("system", "perfinfo"):
        return f"{who} Opcode = {rec.opcode} (hook 0x{rec.hook_id:04X})"
    if rec.family == "classic":
        return f"{who} Type = {rec.opcode}, Version = {rec.version}"
    return f"{who} Id = {rec.event_id}, Version = {rec.version}, Opcode = {rec.opcode}, Task = {rec.task}"


def _ft_text(ft: int) -> str:
    return format_time((ft - FILETIME_EPOCH) * 100) if ft > 0 else ""


def _start_pool() -> Any:
    """Two worker processes for inflating and scanning buffers (None when they cannot start).

    A single-threaded caller forks (fast, and the main script is not imported again); with other
    threads running (the TUI scans in a worker thread) forking is unsafe, so the forkserver
    starts clean workers — which, like every spawn-style start, import the caller's main module
    under the name ``__mp_main__`` (scripts need the usual ``if __name__ == "__main__"`` guard).
    """
    try:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        methods = mp.get_all_start_methods()
        if threading.active_count() == 1 and "fork" in methods:
            ctx = mp.get_context("fork")
        else:
            ctx = mp.get_context("forkserver" if "forkserver" in methods else "spawn")
        return ProcessPoolExecutor(max_workers=min(2, os.cpu_count() or 1), mp_context=ctx)
    except (OSError, ValueError, ImportError):
        return None


__all__ = ["EtlReader", "detect", "netevent_layer"]
