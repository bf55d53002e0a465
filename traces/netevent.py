"""Netmon NetEvent frames (media type 0xFFE0): an ETW event as Network Monitor 3.x stores it.

The layout is not the ETL record's.  It was read from Microsoft's published captures (the
MS-ADFSOD and MS-CCROD examples, checked field by field against tshark's ``netmon_event``):

====  ====  ===================================================================================
  0    80   EVENT_HEADER: Size u16, HeaderType u16, Flags u16, EventProperty u16, ThreadId u32,
            ProcessId u32, TimeStamp (FILETIME, UTC), ProviderId, EVENT_DESCRIPTOR (Id u16,
            Version, Channel, Level, Opcode u8, Task u16, Keyword u64), KernelTime u32 +
            UserTime u32 — or ProcessorTime u64 when Flags has NO_CPUTIME or PRIVATE_SESSION
            (the union of the Windows EVENT_HEADER) —, ActivityId
 80     4   ETW_BUFFER_CONTEXT: ProcessorNumber u8, Alignment u8 (ProcessorIndex u16 when Flags
            has PROCESSOR_INDEX), LoggerId u16
 84     2   ExtendedDataCount
 86     2   UserDataLength
 88     1   Reassembled
 89         extended data items (Reserved u16, ExtType u16, Linkage u16, DataSize u16, data),
            then UserData
====  ====  ===================================================================================

Unlike an ETL record's, ``Size`` and ``HeaderType`` are not the record size and marker type
(Netmon writes e.g. Size 52 with HeaderType 0 on a 125-byte frame); they are shown as stored.
Every field shown comes from the bytes its range points at.  The payload is decoded by the
ETL decoders (``etw.reader.describe_event``), so a NetEvent frame shows the same provider,
event and fields as the same event read from an ETL file.  Classic (MOF) and kernel events
(Flags CLASSIC_HEADER) are decoded as the ETL reader decodes classic records.
"""

from __future__ import annotations

import struct
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .etw.reader import (
    NE_ACTIVITY,
    NE_BUFCTX,
    NE_EXTCOUNT,
    NE_FLAGS,
    NE_HEADER,
    NE_KTIME,
    NE_LOGGER,
    NE_PID,
    NE_PROC,
    NE_PROP,
    NE_PROVIDER,
    NE_SIZE,
    NE_TID,
    NE_TS,
    NE_TYPE,
    NE_UDLEN,
    NE_USERDATA,
    NE_UTIME,
    NETEVENT,
    _extended_item,
    add_descriptor,
    describe_event,
)
from .etw.records import (
    EVENT_HEADER32,
    EVENT_HEADER64,
    FULL_HEADER32,
    FULL_HEADER64,
    GROUP_GUIDS,
    EventRecord,
    ExtendedItem,
)
from .fields import REGISTRY, FieldType
from .frame import Field, Frame, Layer
from .packets import (
    FRAME,
    FRAME_CAPLEN,
    FRAME_MEDIA,
    FRAME_NUMBER,
    FRAME_ORIGLEN,
    FRAME_TIME,
    RecordMeta,
    add_comments,
    add_interface,
    format_time,
)

if TYPE_CHECKING:
    from .trace import Trace

NETMON_NET_NETEVENT = 0xFFE0
FILETIME_1970 = 116444736000000000  # 100 ns ticks from 1601-01-01 to 1970-01-01

#: the fixed part of a NetEvent frame, up to the first extended data item
HEADER = struct.Struct("<HHHHIIQ16sHBBBBHQQ16sBBHHHB")
HEADER_SIZE = HEADER.size  # 89
_EXT_ITEM = struct.Struct("<HHHH")
#: extended data items read per event (a damaged count must not cost more)
MAX_EXTENDED_ITEMS = 64

# EVENT_HEADER.Flags
FLAG_EXTENDED_INFO = 0x0001
FLAG_PRIVATE_SESSION = 0x0002
FLAG_NO_CPUTIME = 0x0010
FLAG_32_BIT_HEADER = 0x0020
FLAG_CLASSIC_HEADER = 0x0100
FLAG_PROCESSOR_INDEX = 0x0200
_FLAG_NAMES = ((0x0001, "ExtendedInfo"), (0x0002, "PrivateSession"), (0x0004, "StringOnly"),
               (0x0008, "TraceMessage"), (0x0010, "NoCpuTime"), (0x0020, "32BitHeader"),
               (0x0040, "64BitHeader"), (0x0100, "ClassicHeader"), (0x0200, "ProcessorIndex"))

_H = "NetEvent.Header."
NE_PTIME = REGISTRY.define(_H + "ProcessorTime", FieldType.UINT,
                           "CPU time of the event (when Flags has NoCpuTime or PrivateSession)", origin="etw")
NE_ALIGN = REGISTRY.define("NetEvent.BufferContext.Alignment", FieldType.UINT, "Alignment byte of the buffer context",
                           origin="etw")
NE_PINDEX = REGISTRY.define("NetEvent.BufferContext.ProcessorIndex", FieldType.UINT,
                            "CPU whose buffer held the event (when Flags has ProcessorIndex)", origin="etw")
NE_REASSEMBLED = REGISTRY.define("NetEvent.Reassembled", FieldType.UINT, "Netmon's reassembly marker", origin="etw")

#: kernel event group GUID → group number (the high byte of the hook id an ETL file would carry)
_KERNEL_GROUPS = {guid: group for group, guid in GROUP_GUIDS.items()}


@dataclass(slots=True)
class NetEventHeader:
    """The fixed header of a NetEvent frame and where its parts are."""

    size: int
    header_type: int
    flags: int
    event_property: int
    tid: int
    pid: int
    timestamp: int  # FILETIME
    provider: uuid.UUID
    event_id: int
    version: int
    channel: int
    level: int
    opcode: int
    task: int
    keyword: int
    processor_time: int
    activity_id: uuid.UUID
    processor: int
    alignment: int
    logger_id: int
    ext_count: int
    user_data_length: int
    reassembled: int
    extended: list[ExtendedItem] = field(default_factory=list)
    #: where the user data starts and how much of it the frame holds
    user_data_offset: int = HEADER_SIZE
    user_data_present: int = 0

    @property
    def classic(self) -> bool:
        return bool(self.flags & FLAG_CLASSIC_HEADER)

    @property
    def pointer_size(self) -> int:
        return 4 if self.flags & FLAG_32_BIT_HEADER else 8

    @property
    def processor_time_union(self) -> bool:
        """True when bytes 56..64 hold ProcessorTime rather than KernelTime and UserTime."""
        return bool(self.flags & (FLAG_NO_CPUTIME | FLAG_PRIVATE_SESSION))


def parse_header(data: bytes) -> NetEventHeader:
    """The header of a NetEvent frame; ``data`` must hold at least ``HEADER_SIZE`` bytes.

    Extended data items are read while they fit in the frame (at most ``MAX_EXTENDED_ITEMS``);
    the user data is what follows them, cut to what the frame holds."""
    (size, htype, flags, prop, tid, pid, ts, guid, eid, ver, chan, level, opcode, task, keyword, cpu_time,
     activity, cpu, align, logger, ext_count, user_len, reassembled) = HEADER.unpack_from(data, 0)
    h = NetEventHeader(size, htype, flags, prop, tid, pid, ts, uuid.UUID(bytes_le=guid), eid, ver, chan, level,
                       opcode, task, keyword, cpu_time, uuid.UUID(bytes_le=activity), cpu, align, logger, ext_count,
                       user_len, reassembled)
    pos = HEADER_SIZE
    for _ in range(min(ext_count, MAX_EXTENDED_ITEMS)):
        if pos + _EXT_ITEM.size > len(data):
            break
        _reserved, ext_type, _linkage, ext_size = _EXT_ITEM.unpack_from(data, pos)
        if pos + _EXT_ITEM.size + ext_size > len(data):
            break
        start = pos + _EXT_ITEM.size
        h.extended.append(ExtendedItem(ext_type, start, bytes(data[start : start + ext_size])))
        pos = start + ext_size
    h.user_data_offset = pos
    h.user_data_present = max(0, min(user_len, len(data) - pos))
    return h


def filetime_ns(ft: int) -> int:
    return (ft - FILETIME_1970) * 100


def event_record(h: NetEventHeader, data: bytes, ts_ns: int) -> EventRecord:
    """The ``etw.records.EventRecord`` the ETW decoders read, for a NetEvent frame.

    A classic or kernel event (CLASSIC_HEADER) becomes a classic record, its event type in the
    opcode, with the hook id an ETL kernel-logger record of the same group would carry; any
    other event is an EVENT_HEADER record."""
    payload = bytes(data[h.user_data_offset : h.user_data_offset + h.user_data_present])
    hook = 0
    if h.classic:
        htype = FULL_HEADER32 if h.pointer_size == 4 else FULL_HEADER64
        group = _KERNEL_GROUPS.get(h.provider)
        if group is not None:
            hook = (group << 8) | h.opcode
    else:
        htype = EVENT_HEADER32 if h.pointer_size == 4 else EVENT_HEADER64
    kernel, user = (0, 0) if h.processor_time_union else (h.processor_time & 0xFFFFFFFF, h.processor_time >> 32)
    return EventRecord(
        header_type=htype, pointer_size=h.pointer_size, provider=h.provider, event_id=h.event_id, version=h.version,
        channel=h.channel, level=h.level, opcode=h.opcode, task=h.task, keyword=h.keyword, pid=h.pid, tid=h.tid,
        timestamp_ns=ts_ns, raw_timestamp=h.timestamp, activity_id=h.activity_id, flags=h.flags,
        event_property=h.event_property, extended=list(h.extended), payload=payload,
        payload_offset=h.user_data_offset, record=bytes(data), hook_id=hook,
        kind_name="NetEvent (classic)" if h.classic else "NetEvent",
        processor=h.processor if not h.flags & FLAG_PROCESSOR_INDEX else h.processor | (h.alignment << 8),
        logger_id=h.logger_id, kernel_time=kernel, user_time=user)


def _flags_text(flags: int) -> str:
    names = [name for bit, name in _FLAG_NAMES if flags & bit]
    return f"0x{flags:04X}" + (f" ({', '.join(names)})" if names else "")


def netevent_layer(h: NetEventHeader, data: bytes) -> Layer:
    """The NetEvent layer of a Netmon NetEvent frame: each field from the bytes at its range."""
    layer = Layer(NETEVENT, "", 0, len(data))
    hdr = layer.add(NE_HEADER, True, 0, 80, display="", label="Header")
    hdr.add(NE_SIZE, h.size, 0, 2)
    hdr.add(NE_TYPE, h.header_type, 2, 2, display=str(h.header_type))
    hdr.add(NE_FLAGS, h.flags, 4, 2, display=_flags_text(h.flags))
    hdr.add(NE_PROP, h.event_property, 6, 2, display=f"0x{h.event_property:04X}")
    hdr.add(NE_TID, h.tid, 8, 4)
    hdr.add(NE_PID, h.pid, 12, 4)
    ts = filetime_ns(h.timestamp)
    hdr.add(NE_TS, ts, 16, 8, display=format_time(ts))
    hdr.add(NE_PROVIDER, h.provider, 24, 16)
    add_descriptor(hdr, h.event_id, h.version, h.channel, h.level, h.opcode, h.task, h.keyword)
    if h.processor_time_union:
        hdr.add(NE_PTIME, h.processor_time, 56, 8)
    else:
        hdr.add(NE_KTIME, h.processor_time & 0xFFFFFFFF, 56, 4)
        hdr.add(NE_UTIME, h.processor_time >> 32, 60, 4)
    hdr.add(NE_ACTIVITY, h.activity_id, 64, 16)
    ctx = layer.add(NE_BUFCTX, True, 80, 4, display="", label="BufferContext")
    if h.flags & FLAG_PROCESSOR_INDEX:
        ctx.add(NE_PINDEX, h.processor | (h.alignment << 8), 80, 2)
    else:
        ctx.add(NE_PROC, h.processor, 80, 1)
        ctx.add(NE_ALIGN, h.alignment, 81, 1)
    ctx.add(NE_LOGGER, h.logger_id, 82, 2)
    layer.add(NE_EXTCOUNT, h.ext_count, 84, 2)
    layer.add(NE_UDLEN, h.user_data_length, 86, 2)
    layer.add(NE_REASSEMBLED, h.reassembled, 88, 1)
    for item in h.extended:
        _extended_item(layer, item.ext_type, item.offset, item.data, h.pointer_size)
    payload = bytes(data[h.user_data_offset : h.user_data_offset + h.user_data_present])
    layer.add(NE_USERDATA, payload, h.user_data_offset, len(payload))
    return layer


def _frame_layer(trace: Trace, i: int, ts: int, data: bytes, meta: RecordMeta, iface: int) -> Layer:
    top = Layer(FRAME, "", 0, len(data))
    top.add(FRAME_NUMBER, i + 1)
    top.add(FRAME_TIME, ts, display=format_time(ts))
    top.add(FRAME_CAPLEN, len(data))
    top.add(FRAME_ORIGLEN, meta.original_length)
    top.add(FRAME_MEDIA, NETMON_NET_NETEVENT, display=f"{NETMON_NET_NETEVENT} (NetEvent)")
    add_interface(top, trace, iface)
    add_comments(top, meta.comments)
    for k, v in meta.options.items():
        top.add(None, v, display=str(v), label=k)
    top.summary = f"Number = {i + 1}, Captured Frame Length = {len(data)}, MediaType = NetEvent"
    return top


def netevent_frame(trace: Trace, i: int, data: bytes, meta: RecordMeta) -> Frame:
    """A Netmon NetEvent frame, its payload decoded by the same ETW decoders as an ETL record."""
    idx = trace.index
    ts = int(idx.ts[i])
    iface = int(idx.iface[i])
    top = _frame_layer(trace, i, ts, data, meta, iface)
    common: dict[str, Any] = {
        "index": i, "timestamp_ns": ts, "data": data, "captured_length": len(data),
        "original_length": meta.original_length, "interface": iface, "link_type": -1, "kind": "event",
        "comments": list(meta.comments), "registry": trace.registry,
    }
    if len(data) < HEADER_SIZE:
        note = f"NetEvent record too short ({len(data)} of {HEADER_SIZE} header bytes)"
        layer = Layer(NETEVENT, note, 0, len(data), [Field(None, data, data.hex(" "), 0, len(data), "Data")])
        return Frame(layers=[top, layer], protocol_name="NetEvent", description=f"NetEvent:{note}",
                     meta=dict(meta.options), **common)
    h = parse_header(data)
    rec = event_record(h, data, ts)
    ne_etl, layers, protocol, description, extra = describe_event(trace, i, rec)
    ne = netevent_layer(h, data)
    ne.summary = ne_etl.summary
    return Frame(layers=[top, ne, *layers], protocol_name=protocol, description=description,
                 process_id=None if h.pid == 0xFFFFFFFF else h.pid,
                 thread_id=None if h.tid == 0xFFFFFFFF else h.tid,
                 meta={**meta.options, **extra}, **common)


__all__ = ["HEADER_SIZE", "NetEventHeader", "event_record", "netevent_frame", "netevent_layer", "parse_header"]
