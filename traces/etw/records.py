"""ETW record headers: the layouts of every header kind, and one record as an ``EventRecord``.

A record starts with a 4-byte marker: byte 3 is the marker flags (0xC0 for trace headers, 0x90
for WPP ``TraceMessage`` records), byte 2 the header type, and the low 16 bits the record size
(EVENT_HEADER, EVENT_TRACE_HEADER, MESSAGE) or the version (system headers, whose size is at +4)
— ETW.md §1.3.  ``KINDS`` describes each header type once; the index pass (``walk``/``scan``
below) and ``parse_record`` both read it.

Kernel-logger events (system/perfinfo headers) carry no GUID, only a hook id whose high byte is
an event *group*; ``GROUP_GUIDS`` maps the group to the kernel provider GUID Windows consumers
report (``evntrace.h`` constants, e.g. ``ProcessGuid``).
"""

from __future__ import annotations

import struct
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .packetrows import PacketRows

# -- header types (marker byte 2) -----------------------------------------------------------
SYSTEM32, SYSTEM64 = 0x01, 0x02
COMPACT32, COMPACT64 = 0x03, 0x04
FULL_HEADER32, INSTANCE32 = 0x0A, 0x0B
MESSAGE = 0x0F
PERFINFO32, PERFINFO64 = 0x10, 0x11
EVENT_HEADER32, EVENT_HEADER64 = 0x12, 0x13
FULL_HEADER64, INSTANCE64 = 0x14, 0x15

HEADER_FLAGS = 0xC0
MESSAGE_FLAGS = 0x90

#: EVENT_HEADER.Flags bit: extended data items follow the 0x50-byte header
FLAG_EXTENDED_INFO = 0x0001


@dataclass(slots=True, frozen=True)
class Kind:
    """What a header type looks like in a buffer."""

    name: str
    #: fixed header size (the payload starts here, plus extra items for some system headers)
    header_size: int
    #: where the record size is: 0 = low 16 bits of the marker, 4 = u16 at +4
    size_at: int
    pointer_size: int
    #: offset of the raw 64-bit timestamp (-1: none in the fixed header)
    ts_at: int
    family: str  # "event", "system", "perfinfo", "classic", "message"


KINDS: dict[int, Kind] = {
    SYSTEM32: Kind("SYSTEM32", 0x20, 4, 4, 0x10, "system"),
    SYSTEM64: Kind("SYSTEM64", 0x20, 4, 8, 0x10, "system"),
    COMPACT32: Kind("COMPACT32", 0x18, 4, 4, 0x10, "system"),
    COMPACT64: Kind("COMPACT64", 0x18, 4, 8, 0x10, "system"),
    PERFINFO32: Kind("PERFINFO32", 0x10, 4, 4, 0x08, "perfinfo"),
    PERFINFO64: Kind("PERFINFO64", 0x10, 4, 8, 0x08, "perfinfo"),
    FULL_HEADER32: Kind("FULL_HEADER32", 0x30, 0, 4, 0x10, "classic"),
    FULL_HEADER64: Kind("FULL_HEADER64", 0x30, 0, 8, 0x10, "classic"),
    INSTANCE32: Kind("INSTANCE32", 0x48, 0, 4, 0x10, "classic"),
    INSTANCE64: Kind("INSTANCE64", 0x48, 0, 8, 0x10, "classic"),
    EVENT_HEADER32: Kind("EVENT_HEADER32", 0x50, 0, 4, 0x10, "event"),
    EVENT_HEADER64: Kind("EVENT_HEADER64", 0x50, 0, 8, 0x10, "event"),
    MESSAGE: Kind("MESSAGE", 0x08, 0, 0, -1, "message"),
}

#: marker >> 16 → header type, for every valid (flags, type) pair; WPP messages keep their own
#: byte 2 (reserved) so every 0x90xx maps to MESSAGE
MARKER_TYPES: dict[int, int] = {(HEADER_FLAGS << 8) | t: t for t in KINDS}
MARKER_TYPES.update({(MESSAGE_FLAGS << 8) | b: MESSAGE for b in range(256)})

# -- kernel event groups (hook id >> 8) → provider GUID ------------------------------------
_GROUPS: list[tuple[int, str, str]] = [
    (0x00, "68fdd900-4a3e-11d1-84f4-0000f80464e3", "EventTrace"),
    (0x01, "3d6fa8d4-fe05-11d0-9dda-00c04fd7ba7c", "DiskIo"),
    (0x02, "3d6fa8d3-fe05-11d0-9dda-00c04fd7ba7c", "PageFault"),
    (0x03, "3d6fa8d0-fe05-11d0-9dda-00c04fd7ba7c", "Process"),
    (0x04, "90cbdc39-4a3e-11d1-84f4-0000f80464e3", "FileIo"),
    (0x05, "3d6fa8d1-fe05-11d0-9dda-00c04fd7ba7c", "Thread"),
    (0x06, "9a280ac0-c8e0-11d1-84e2-00c04fb998a2", "TcpIp"),
    (0x07, "3282fc76-feed-498e-8aa7-e70f459d430e", "Job"),
    (0x08, "bf3a50c5-a9c9-4988-a005-2df0b7c80f80", "UdpIp"),
    (0x09, "ae53722e-c863-11d2-8659-00c04fa321a1", "Registry"),
    (0x0A, "13976d09-a327-438c-950b-7f03192815c7", "DbgPrint"),
    (0x0B, "01853a65-418f-4f36-aefc-dc0f1d2fd235", "EventTraceConfig"),
    (0x0C, "99134383-5248-43fc-834b-529454e75df3", "EventTraceSpare1"),
    (0x0D, "42695762-ea50-497a-9068-5cbbb35e0b95", "Wnf"),
    (0x0E, "0268a8b6-74fd-4302-9dd0-6e8f1795c0cf", "Pool"),
    (0x0F, "ce1dbfb4-137e-4da6-87b0-3f59aa102cbc", "PerfInfo"),
    (0x10, "222962ab-6180-4b88-a825-346b75f2a24a", "Heap"),
    (0x11, "89497f50-effe-4440-8cf2-ce6b1cdcaca7", "Object"),
    (0x12, "e43445e0-0903-48c3-b878-ff0fccebdd04", "Power"),
    (0x13, "a9152f00-3f58-4bee-92a1-70c7d079d5dd", "ModBound"),
    (0x14, "2cb15d1d-5fc1-11d2-abe1-00a0c911f518", "ImageLoad"),
    (0x15, "b2d14872-7c5b-463d-8419-ee9bf7d23e04", "Dpc"),
    (0x16, "7687a439-f752-45b8-b741-321aec0f8df9", "Cc"),
    (0x17, "3ac66736-cc59-4cff-8115-8df50e39816b", "CritSec"),
    (0x18, "def2fe46-7bd6-4b80-bd94-f57fe20d0ce3", "StackWalk"),
    (0x19, "9aec974b-5b8e-4118-9b92-3186d8002ce5", "UmsEvent"),
    (0x1A, "45d8cccd-539f-4b72-a8b7-5c683142609a", "ALPC"),
    (0x1B, "d837ca92-12b9-44a5-ad6a-3a65b3578aa8", "SplitIo"),
    (0x1C, "c861d0e2-a2c1-4d36-9f9c-970bab943a12", "ThreadPool"),
    (0x1D, "7f2a405c-69b5-4bf9-a1f5-30e8f1afab5e", "HypervisorTrace"),
    (0x1E, "2ce9a149-effe-42f0-a635-a1d39e26c8f2", "HypervisorXTrace"),
]
GROUP_GUIDS: dict[int, uuid.UUID] = {g: uuid.UUID(s) for g, s, _ in _GROUPS}
KERNEL_NAMES: dict[uuid.UUID, str] = {uuid.UUID(s): f"MSNT_SystemTrace.{n}" for _, s, n in _GROUPS}
NULL_GUID = uuid.UUID(int=0)


def sid_text(data: bytes) -> str:
    """A security id as text (``S-1-5-32-544``): extended item 2 and ``win:SID`` payload fields.
    A SID cut short shows the sub-authorities that are there."""
    if len(data) < 8:
        return data.hex()
    rev, count = data[0], data[1]
    auth = int.from_bytes(data[2:8], "big")
    count = min(count, (len(data) - 8) // 4)
    subs = struct.unpack_from(f"<{count}I", data, 8)
    return "S-" + "-".join([str(rev), str(auth), *map(str, subs)])


#: hook group 3 (Process) opcode 10 is an image load, reported under the ImageLoad group's GUID
IMAGE_LOAD_HOOK = 0x030A


def kernel_guid(hook_id: int) -> uuid.UUID:
    """The provider GUID of a system/perfinfo event."""
    return GROUP_GUIDS.get(0x14 if hook_id == IMAGE_LOAD_HOOK else hook_id >> 8, NULL_GUID)


# -- extended data items --------------------------------------------------------------------
EXT_TYPES: dict[int, str] = {
    1: "RelatedActivityId", 2: "Sid", 3: "TsId", 4: "InstanceInfo", 5: "StackTrace32",
    6: "StackTrace64", 7: "PebsIndex", 8: "PmcCounters", 9: "PsmKey", 10: "EventKey",
    11: "EventSchemaTl", 12: "ProvTraits", 13: "ProcessStartKey", 14: "ControlGuid",
    15: "QpcDelta", 16: "ContainerId", 17: "StackKey32", 18: "StackKey64",
}


@dataclass(slots=True)
class ExtendedItem:
    """One EVENT_HEADER extended data item; ``offset`` is where ``data`` starts in the record."""

    ext_type: int
    offset: int
    data: bytes

    @property
    def name(self) -> str:
        return EXT_TYPES.get(self.ext_type, f"Type{self.ext_type}")


@dataclass(slots=True)
class EventRecord:
    """One ETW record of any header kind, with the header fields the consumer API exposes."""

    header_type: int
    pointer_size: int
    provider: uuid.UUID | None
    event_id: int
    version: int
    channel: int
    level: int
    opcode: int
    task: int
    keyword: int
    pid: int
    tid: int
    timestamp_ns: int
    raw_timestamp: int
    activity_id: uuid.UUID | None
    flags: int
    event_property: int
    extended: list[ExtendedItem]
    payload: bytes
    payload_offset: int
    record: bytes
    hook_id: int
    kind_name: str
    #: ETW_BUFFER_CONTEXT of the buffer the record came from
    processor: int = 0
    logger_id: int = 0
    kernel_time: int = 0
    user_time: int = 0
    #: MESSAGE records: sequence number / component id when present
    extra: dict[str, int] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return len(self.record)

    @property
    def family(self) -> str:
        """The header family: "event", "system", "perfinfo", "classic" or "message" (``Kind.family``)."""
        return KINDS[self.header_type].family


class RecordError(ValueError):
    """A record whose header does not fit (reported with its buffer and offset by the caller)."""


# -- layouts (the reader parses them, the test writer packs them) -------------------------------
#: the packed EVENT_HEADER (0x50 bytes, ETW.md §1.4): Size, HeaderType, MarkerFlags, Flags,
#: EventProperty, ThreadId, ProcessId, TimeStamp, ProviderId, EVENT_DESCRIPTOR {Id, Version,
#: Channel, Level, Opcode, Task, Keyword}, KernelTime, UserTime, ActivityId
EVENT_HEADER_LAYOUT = struct.Struct("<HBBHHIIq16sHBBBBHQII16s")
#: the part of SYSTEM_TRACE_HEADER that full and compact headers share: Version, HeaderType,
#: MarkerFlags, Size, HookId, ThreadId, ProcessId, TimeStamp (full headers add KernelTime, UserTime)
SYSTEM_HEADER_LAYOUT = struct.Struct("<HBBHHIIq")
#: WMI_BUFFER_HEADER (0x48 bytes, ETW.md §1.1): BufferSize, SavedOffset, CurrentOffset,
#: ReferenceCount, TimeStamp, SequenceNumber, ClockType/Frequency, ProcessorIndex, LoggerId, State,
#: Offset (FilledBytes), BufferFlag, BufferType, ReferenceTime union
BUFFER_HEADER_LAYOUT = struct.Struct("<IIIIqqQHHIIHH16s")
#: TRACE_LOGFILE_HEADER (ETW.md §1.2) up to CpuSpeedInMHz: BufferSize, Version, ProviderVersion,
#: NumberOfProcessors, EndTime, TimerResolution, MaximumFileSize, LogFileMode, BuffersWritten,
#: StartBuffers, PointerSize, EventsLost, CpuSpeedInMHz
LOGFILE_HEADER_LAYOUT = struct.Struct("<IIIIqIIIIIIII")
#: … and after the two name pointers and the time zone: BootTime, PerfFreq, StartTime,
#: ReservedFlags (the clock type), BuffersLost
LOGFILE_TAIL_LAYOUT = struct.Struct("<qqqII")
_PERF = struct.Struct("<HBBHHq")
_FULL = struct.Struct("<HBBBBHIIq16sII")
_MSG = struct.Struct("<HBBHH")
_EXT = struct.Struct("<HHHH")
_U32 = struct.Struct("<I")


def system_extra_bytes(version: int) -> int:
    """Extra 8-byte items after a system header (PMC counters / stack keys announced in Version)."""
    extra = 8 if version & 0x8000 else 0
    return extra + 8 * ((version & 0x0700) >> 8)


def parse_extended(rec: bytes, start: int, end: int) -> tuple[list[ExtendedItem], int]:
    """Extended items from ``start``; returns them and where the user payload begins."""
    items: list[ExtendedItem] = []
    pos = start
    for _ in range(64):  # bound: a linkage loop in damaged data never spins
        if pos + 8 > end:
            break
        item_size, ext_type, linkage, data_size = _EXT.unpack_from(rec, pos)
        data_end = min(pos + 8 + data_size, end)
        items.append(ExtendedItem(ext_type, pos + 8, bytes(rec[pos + 8 : data_end])))
        step = item_size if item_size >= 8 else 8 + ((data_size + 7) & ~7)
        pos += step
        if not linkage & 1:
            break
    return items, min(pos, end)


def parse_record(rec: bytes, to_ns: Callable[[int], int] | None = None, processor: int = 0,
                 logger_id: int = 0) -> EventRecord:
    """Decode the header of one whole record (``rec`` = exactly the record's bytes).

    ``to_ns`` converts a raw timestamp to UTC ns (``Clock.to_ns``); without it ``timestamp_ns``
    is 0.
    """
    if len(rec) < 8:
        raise RecordError(f"record of {len(rec)} bytes is shorter than any header")
    marker = _U32.unpack_from(rec, 0)[0]
    htype = MARKER_TYPES.get(marker >> 16)
    if htype is None:
        raise RecordError(f"unknown record marker 0x{marker:08X}")
    kind = KINDS[htype]
    size = len(rec)
    if size < kind.header_size:
        raise RecordError(f"{kind.name} record of {size} bytes is shorter than its {kind.header_size}-byte header")
    provider: uuid.UUID | None = None
    event_id = version = channel = level = opcode = task = keyword = 0
    pid = tid = 0xFFFFFFFF
    raw = 0
    activity: uuid.UUID | None = None
    flags = prop = hook = ktime = utime = 0
    extended: list[ExtendedItem] = []
    extra: dict[str, int] = {}
    payload_at = kind.header_size
    fam = kind.family
    if fam == "event":
        (_, _, _, flags, prop, tid, pid, raw, guid, event_id, version, channel, level, opcode, task, keyword,
         ktime, utime, act) = EVENT_HEADER_LAYOUT.unpack_from(rec, 0)
        provider = uuid.UUID(bytes_le=guid)
        activity = uuid.UUID(bytes_le=act)
        if flags & FLAG_EXTENDED_INFO:
            extended, payload_at = parse_extended(rec, 0x50, size)
    elif fam == "system":
        ver, _, _, _, hook, tid, pid, raw = SYSTEM_HEADER_LAYOUT.unpack_from(rec, 0)
        version = ver & 0xFF
        opcode = hook & 0xFF
        provider = kernel_guid(hook)
        if kind.header_size == 0x20:
            ktime, utime = struct.unpack_from("<II", rec, 0x18)
        payload_at = min(size, kind.header_size + system_extra_bytes(ver))
    elif fam == "perfinfo":
        ver, _, _, _, hook, raw = _PERF.unpack_from(rec, 0)
        version = ver & 0xFF
        opcode = hook & 0xFF
        provider = kernel_guid(hook)
        payload_at = min(size, kind.header_size + system_extra_bytes(ver))
    elif fam == "classic":
        _, _, _, opcode, level, version, tid, pid, raw, guid, ktime, utime = _FULL.unpack_from(rec, 0)
        provider = uuid.UUID(bytes_le=guid)
        if htype in (INSTANCE32, INSTANCE64):
            extra["InstanceId"], extra["ParentInstanceId"] = struct.unpack_from("<II", rec, 0x30)
    else:  # MESSAGE
        _, _, _, event_id, prop = _MSG.unpack_from(rec, 0)
        pos = 8
        if prop & 0x01 and pos + 4 <= size:  # TRACE_MESSAGE_SEQUENCE
            extra["Sequence"] = _U32.unpack_from(rec, pos)[0]
            pos += 4
        if prop & 0x04 and pos + 4 <= size:  # TRACE_MESSAGE_COMPONENTID
            extra["ComponentId"] = _U32.unpack_from(rec, pos)[0]
            pos += 4
        elif prop & 0x02 and pos + 16 <= size:  # TRACE_MESSAGE_GUID
            provider = uuid.UUID(bytes_le=bytes(rec[pos : pos + 16]))
            pos += 16
        if prop & 0x08 and pos + 8 <= size:  # TRACE_MESSAGE_TIMESTAMP
            raw = struct.unpack_from("<q", rec, pos)[0]
            pos += 8
        if prop & 0x20 and pos + 8 <= size:  # TRACE_MESSAGE_SYSTEMINFO
            tid, pid = struct.unpack_from("<II", rec, pos)
            pos += 8
        payload_at = pos
    if fam in ("system", "perfinfo"):
        hook_id = hook
    else:
        hook_id = 0
    return EventRecord(
        header_type=htype,
        pointer_size=kind.pointer_size or 8,
        provider=provider,
        event_id=event_id,
        version=version,
        channel=channel,
        level=level,
        opcode=opcode,
        task=task,
        keyword=keyword,
        pid=pid,
        tid=tid,
        timestamp_ns=to_ns(raw) if to_ns is not None and (raw or fam != "message") else 0,
        raw_timestamp=raw,
        activity_id=activity,
        flags=flags,
        event_property=prop,
        extended=extended,
        payload=bytes(rec[payload_at:size]),
        payload_offset=payload_at,
        record=bytes(rec),
        hook_id=hook_id,
        kind_name=kind.name,
        processor=processor,
        logger_id=logger_id,
        kernel_time=ktime,
        user_time=utime,
        extra=extra,
    )


# -- clock -------------------------------------------------------------------------------------
#: FILETIME of 1970-01-01 (100 ns units since 1601)
FILETIME_EPOCH = 116444736000000000


@dataclass(slots=True, frozen=True)
class Clock:
    """Raw record timestamps → UTC (ETW.md §1.2).

    UTC = StartTime + (raw − raw of the log header event) × 10⁷ / frequency, in FILETIME units;
    a system-time clock (ReservedFlags 2) already counts FILETIME.
    """

    start_filetime: int
    raw0: int
    frequency: int
    system_time: bool = False

    def to_ns(self, raw: int) -> int:
        if self.system_time:
            return (raw - FILETIME_EPOCH) * 100
        q, r = divmod(raw - self.raw0, self.frequency)
        return (self.start_filetime - FILETIME_EPOCH + q * 10_000_000 + r * 10_000_000 // self.frequency) * 100

    def to_ns_array(self, raw: Any) -> Any:
        import numpy as np

        raw = np.asarray(raw, dtype=np.int64)
        if self.system_time:
            return (raw - FILETIME_EPOCH) * 100
        q, r = np.divmod(raw - self.raw0, self.frequency)
        ft = q * 10_000_000 + (r * 10_000_000) // self.frequency
        return (ft + (self.start_filetime - FILETIME_EPOCH)) * 100


# -- scanning buffers into index columns -----------------------------------------------------------
BUFFER_HEADER = BUFFER_HEADER_LAYOUT.size  # 0x48
PADDING_MARKER = 0xFFFFFFFF
#: ``marker >> 16`` → minimum record size, by where the size is stored
_SIZE_AT_0: dict[int, int] = {}
_SIZE_AT_4: dict[int, int] = {}
for _hi, _t in MARKER_TYPES.items():
    (_SIZE_AT_4 if KINDS[_t].size_at == 4 else _SIZE_AT_0)[_hi] = KINDS[_t].header_size


@dataclass(slots=True)
class BufferSpan:
    """One buffer's records inside a scan blob (the mmap, or inflated buffers side by side)."""

    number: int
    base: int  # where the buffer header starts in the blob
    end: int  # base + FilledBytes, clipped to what exists
    processor: int = 0
    #: records the buffer may hold (``buffers.max_records``); None = as many as fit
    max_records: int | None = None


@dataclass(slots=True)
class ScanResult:
    """What scanning a batch of buffers found; ``cols`` has one row per record, in buffer order."""

    cols: dict[str, Any]
    guids: list[uuid.UUID]
    #: the first record of each GUID in this batch (naming TraceLogging providers needs one)
    samples: list[bytes]
    #: the packet events of the batch (None when there are none)
    packets: PacketRows | None
    #: (row, provider, event id, record bytes) for NDIS 1002 / PktMon 20
    side: list[tuple[int, uuid.UUID, int, bytes]]
    #: (buffer number, offset in the buffer, cause)
    damage: list[tuple[int, int, str]]


_GROUP_TABLE: Any = None


def _group_table() -> Any:
    """(257, 16) uint8: bytes_le of ``kernel_guid`` for each hook group, row 256 for an image load."""
    global _GROUP_TABLE
    if _GROUP_TABLE is None:
        import numpy as np

        hooks = [g << 8 for g in range(256)] + [IMAGE_LOAD_HOOK]
        _GROUP_TABLE = np.array([np.frombuffer(kernel_guid(h).bytes_le, dtype=np.uint8) for h in hooks])
    return _GROUP_TABLE


try:  # the record chain in C (``_records.c``); ``_walk_python`` is the reference
    from ._records import etw_records as _native_walk
except ImportError:  # pragma: no cover - depends on the build
    _native_walk = None

_SIZE_TABLES: Any = None


def _size_tables() -> tuple[Any, Any]:
    """``_SIZE_AT_0`` and ``_SIZE_AT_4`` as int16[65536] (marker >> 16 → header size, -1: none)."""
    global _SIZE_TABLES
    if _SIZE_TABLES is None:
        import numpy as np

        tables = []
        for sizes in (_SIZE_AT_0, _SIZE_AT_4):
            t = np.full(65536, -1, dtype=np.int16)
            t[list(sizes)] = list(sizes.values())
            tables.append(t)
        _SIZE_TABLES = tuple(tables)
    return _SIZE_TABLES


def _damage_text(kind: int, a: int, b: int) -> str:
    """Why a buffer's records stop early: 1 more than ``a`` records, 2 unknown marker ``a``, 3 size
    ``a`` under the header size of marker type ``b`` (marker >> 16), 4 a record of ``a`` bytes with
    ``b`` left."""
    if kind == 1:
        return f"more than {a} records, more than its compressed bytes can encode (the rest is skipped)"
    if kind == 2:
        return f"unknown record header 0x{a:08X} (the rest of this buffer is skipped)"
    if kind == 3:
        mn = _SIZE_AT_0.get(b, _SIZE_AT_4.get(b))
        return f"record size {a} is smaller than its {KINDS[MARKER_TYPES[b]].name} header ({mn} bytes)"
    return f"record of {a} bytes overruns the buffer's filled bytes ({b} left)"


def walk(blob: Any, spans: list[BufferSpan]) -> tuple[Any, list[int], list[tuple[int, int, str]]]:
    """Chain the records of each buffer: record offsets, records per buffer, damage found.

    The one per-record loop of the index pass, in C (``_walk_python`` without it); every other
    column is gathered with NumPy.  A damaged record ends its buffer (the next buffer is
    independent).
    """
    if _native_walk is None:
        return _walk_python(blob, spans)
    import numpy as np

    bases = np.array([sp.base for sp in spans], dtype=np.int64)
    ends = np.array([sp.end for sp in spans], dtype=np.int64)
    caps = np.array([-1 if sp.max_records is None else sp.max_records for sp in spans], dtype=np.int64)
    starts, counts, bad = _native_walk(blob, bases, ends, caps, BUFFER_HEADER, *_size_tables())
    damage = [(spans[k].number, at, _damage_text(kind, a, b)) for k, at, kind, a, b in bad]
    return np.frombuffer(starts, dtype=np.int64), np.frombuffer(counts, dtype=np.int64).tolist(), damage


def _walk_python(blob: Any, spans: list[BufferSpan]) -> tuple[list[int], list[int], list[tuple[int, int, str]]]:
    """``walk`` in Python: the reference of ``_records.etw_records``."""
    u32 = _U32.unpack_from
    u16 = struct.Struct("<H").unpack_from
    s0 = _SIZE_AT_0.get
    s4 = _SIZE_AT_4.get
    offs: list[int] = []
    app = offs.append
    counts: list[int] = []
    damage: list[tuple[int, int, str]] = []
    for sp in spans:
        off = sp.base + BUFFER_HEADER
        end = sp.end
        n0 = len(offs)
        cap = sp.max_records
        # records are at least 8 bytes: ``cap - count`` more cannot end before ``check_at``, so
        # the count is looked at a few times per buffer, not once per record
        check_at = end if cap is None else off + cap * 8
        while off + 8 <= end:
            if off >= check_at:
                count = len(offs) - n0
                if count >= cap:  # type: ignore[operator]
                    damage.append((sp.number, off - sp.base, _damage_text(1, cap, 0)))  # type: ignore[arg-type]
                    break
                check_at = off + (cap - count) * 8  # type: ignore[operator]
            m = u32(blob, off)[0]
            if m == PADDING_MARKER:
                break
            hi = m >> 16
            mn = s0(hi)
            if mn is not None:
                size = m & 0xFFFF
            else:
                mn = s4(hi)
                if mn is None:
                    damage.append((sp.number, off - sp.base, _damage_text(2, m, 0)))
                    break
                size = u16(blob, off + 4)[0]
            if size < mn:
                damage.append((sp.number, off - sp.base, _damage_text(3, size, hi)))
                break
            if off + size > end:
                damage.append((sp.number, off - sp.base, _damage_text(4, size, end - off)))
                break
            app(off)
            off += (size + 7) & ~7
        counts.append(len(offs) - n0)
    return offs, counts, damage


def distinct_guids(guid: Any) -> tuple[Any, Any, Any]:
    """``np.unique`` of the rows of a (n, 16) uint8 matrix of GUIDs, as their bytes sort, with the
    first row of each and each row's index: grouped by ``dictcode.unique_rows`` (a 64-bit hash of
    each; a batch holds a handful of providers, and sorting a million 16-byte keys as bytes took a
    twentieth of a trace's scan), then the few distinct GUIDs put in the order of their bytes."""
    import numpy as np

    from ..dictcode import unique_rows

    g = np.ascontiguousarray(guid, dtype=np.uint8).reshape(-1, 16)
    first, inv = unique_rows(g)
    order = np.lexsort(g[first].T[::-1])  # the distinct GUIDs as their bytes sort
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    return g[first[order]], first[order], rank[inv]


def scan(blob: Any, spans: list[BufferSpan], clock: Clock) -> ScanResult:
    """Index columns for every record in ``spans`` (see ``walk`` for the record chain)."""
    import numpy as np
    from numpy.lib.stride_tricks import sliding_window_view

    offs_found, counts, damage = walk(blob, spans)
    n = len(offs_found)
    u8 = np.frombuffer(blob, dtype=np.uint8)
    offs = np.asarray(offs_found, dtype=np.int64)
    # loc = buffer number << 32 | offset in the buffer
    bases = np.repeat(np.array([sp.base for sp in spans], dtype=np.int64), counts)
    numbers = np.repeat(np.array([sp.number for sp in spans], dtype=np.uint64), counts)
    procs = np.repeat(np.array([sp.processor for sp in spans], dtype=np.uint16), counts)
    loc = (numbers << np.uint64(32)) | (offs - bases).astype(np.uint64)
    # every header column lies in a record's first 0x50 bytes: one row of them per record (a short
    # record at the very end reads zeros past the blob)
    width = 0x50
    if n:
        padded = u8 if int(offs.max()) + width <= len(u8) else np.concatenate([u8, np.zeros(width, dtype=np.uint8)])
        h = sliding_window_view(padded, width)[offs]
    else:
        h = np.zeros((0, width), dtype=np.uint8)

    def col(a: int, b: int, dt: str) -> Any:
        return np.ascontiguousarray(h[:, a:b]).view(dt).reshape(n)

    htype = h[:, 2].copy()
    is_msg = h[:, 3] == MESSAGE_FLAGS
    htype[is_msg] = MESSAGE
    is_ev = (htype == EVENT_HEADER32) | (htype == EVENT_HEADER64)
    is_perf = (htype == PERFINFO32) | (htype == PERFINFO64)
    is_sys = (htype <= COMPACT64) | is_perf
    is_classic = ~(is_ev | is_sys | is_msg)
    length = np.where(is_sys, col(4, 6, "<u2"), col(0, 2, "<u2")).astype(np.uint32)  # Kind.size_at
    raw = np.where(is_perf, col(8, 16, "<i8"), col(16, 24, "<i8"))
    pid = np.where(is_perf | is_msg, np.uint32(0xFFFFFFFF), col(12, 16, "<u4"))
    event_id = np.where(is_ev, col(40, 42, "<u2"), np.where(is_msg, col(4, 6, "<u2"), 0)).astype(np.uint16)
    level = np.where(is_ev, h[:, 44], np.where(is_classic, h[:, 5], 0)).astype(np.uint8)
    opcode = np.where(is_ev, h[:, 45], np.where(is_classic, h[:, 4], np.where(is_sys, h[:, 6], 0)))
    keyword = np.where(is_ev, col(48, 56, "<u8"), np.uint64(0))
    # the rest of the header as NetEvent.Header shows it (parse_record is the definition)
    family = np.select([is_ev, is_perf, is_sys, is_msg], [1, 3, 2, 5], 4).astype(np.uint8)  # index.FAMILY_*
    version = np.where(is_ev, h[:, 42], np.where(is_sys, h[:, 0], np.where(is_classic, col(6, 8, "<u2"), 0)))
    channel = np.where(is_ev, h[:, 43], 0).astype(np.uint8)
    task = np.where(is_ev, col(46, 48, "<u2"), 0).astype(np.uint16)
    tid = np.where(is_perf | is_msg, np.uint32(0xFFFFFFFF), col(8, 12, "<u4"))
    guid = h[:, 24:40].copy()
    if is_sys.any():
        hook = col(6, 8, "<u2")
        row = np.where(hook == IMAGE_LOAD_HOOK, 256, hook >> 8)
        guid[is_sys] = _group_table()[row[is_sys]]
    # WPP messages: optional fields decide where the GUID, timestamp and ids are
    if is_msg.any():
        for r in np.flatnonzero(is_msg):
            o = int(offs[r])
            rec = parse_record(bytes(blob[o : o + int(length[r])]))
            if rec.raw_timestamp:
                raw[r] = rec.raw_timestamp
            else:  # no timestamp of its own: the previous record's time
                raw[r] = raw[r - 1] if r else 0
            pid[r] = rec.pid
            tid[r] = rec.tid
            guid[r] = np.frombuffer((rec.provider or NULL_GUID).bytes_le, dtype=np.uint8)
    ts = clock.to_ns_array(raw) if n else np.zeros(0, dtype=np.int64)
    uniq, first, inv = distinct_guids(guid)
    guids = [uuid.UUID(bytes_le=bytes(u)) for u in uniq]
    samples = [bytes(blob[int(offs[i]) : int(offs[i]) + int(length[i])]) for i in first]
    cols = {
        "loc": loc,
        "length": length,
        "ts": ts.astype(np.int64),
        "guid": inv.astype(np.uint16).reshape(n),
        "event_id": event_id,
        "level": level,
        "opcode": opcode.astype(np.uint8),
        "pid": pid.astype(np.uint32),
        "tid": tid.astype(np.uint32),
        "family": family,
        "version": version.astype(np.uint16),
        "channel": channel,
        "task": task,
        "keyword": keyword.astype(np.uint64),
    }
    from .packetrows import packet_rows  # (packetrows reads this module's record layout)

    pkts, side = packet_rows(blob, u8, offs, length, htype, keyword, event_id, cols["guid"], guids, procs,
                              is_ev, h)
    return ScanResult(cols, guids, samples, pkts, side, damage)


# -- one batch of buffers, in this process or a worker ---------------------------------------------
#: WMI_BUFFER_HEADER.BufferFlag bits (ETW.md §1.1) and the BufferType of the first buffer
FLAG_FLUSH_MARKER = 0x01
FLAG_EVENTS_LOST = 0x02
FLAG_BUFFER_LOST = 0x04
FLAG_PROC_INDEX = 0x20
FLAG_COMPRESSED = 0x40
BUFFER_TYPE_HEADER = 4
#: TRACE_LOGFILE_HEADER.LogFileMode bit of a session that compresses its buffers
EVENT_TRACE_COMPRESSED_MODE = 0x04000000


@dataclass(slots=True, frozen=True)
class BufferInfo:
    """One buffer of the file (a row of the reader's buffer table)."""

    number: int
    file_offset: int
    disk_size: int
    filled: int
    flags: int
    processor: int

    @property
    def compressed(self) -> bool:
        return bool(self.flags & FLAG_COMPRESSED)


class BufferError_(ValueError):
    """A buffer that cannot be read (corrupt compressed data, truncated)."""


def buffer_bytes(src: Any, info: BufferInfo) -> bytes:
    """The buffer as the writer filled it: header + records (inflated when compressed)."""
    out = bytearray(_buffer_length(src, info))
    _buffer_into(src, info, memoryview(out))
    return bytes(out)


def _buffer_length(src: Any, info: BufferInfo) -> int:
    """The bytes of ``buffer_bytes``: FilledBytes when compressed, else what of the buffer the file holds."""
    return info.filled if info.compressed else max(0, min(info.filled, info.disk_size, len(src) - info.file_offset))


def _buffer_into(src: Any, info: BufferInfo, out: memoryview) -> None:
    """``buffer_bytes`` into ``out`` (of ``_buffer_length`` bytes)."""
    from .xpress import XpressError, decompress

    size = len(src)
    fo = info.file_offset
    if info.compressed:
        stop = fo + min(info.disk_size, info.filled)
        if stop > size:
            raise BufferError_(f"compressed buffer is cut off by the end of the file ({size - fo} of "
                               f"{min(info.disk_size, info.filled)} bytes)")
        body = info.filled - BUFFER_HEADER
        try:  # (a FilledBytes under the header's size is refused by the decoder, as any size out of range)
            decompress(src[fo + BUFFER_HEADER : stop], body, out[BUFFER_HEADER:] if body >= 0 else None)
        except XpressError as e:
            raise BufferError_(f"compressed data does not inflate: {e}") from None
        out[:BUFFER_HEADER] = src[fo : fo + BUFFER_HEADER]  # (inside the file: ``stop`` is past it)
        return
    out[:] = src[fo : fo + len(out)]


_MAPS: dict[str, Any] = {}


def _source(path: str) -> Any:
    """The file, memory-mapped once per worker process."""
    mm = _MAPS.get(path)
    if mm is None:
        import mmap

        with open(path, "rb") as f:
            mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        _MAPS.clear()
        _MAPS[path] = mm
    return mm


def scan_job(src: Any, infos: list[BufferInfo], clock: Clock) -> tuple[ScanResult, int]:
    """Inflate (when needed) and scan a batch of buffers; ``src`` is the mapped file or its path.

    Returns the scan result and the number of inflated bytes.  Unreadable buffers become damage
    entries and are skipped.  The buffers are laid side by side in one blob (each at a multiple
    of 8), inflated straight into it.
    """
    from .buffers import max_records

    if isinstance(src, str):
        src = _source(src)
    places: list[tuple[BufferInfo, int, int]] = []  # (buffer, where in the blob, its length there)
    pos = 0
    for info in infos:
        n = _buffer_length(src, info)
        places.append((info, pos, n))
        pos += n + (-n & 7)
    import numpy as np

    blob = np.empty(pos + 8, dtype=np.uint8)  # (every byte written below: no zeroing first)
    view = memoryview(blob)
    spans: list[BufferSpan] = []
    bad: list[tuple[int, int, str]] = []
    inflated = 0
    for info, at, n in places:
        blob[at + n : at + n + (-n & 7)] = 0  # the padding after each buffer
        try:
            _buffer_into(src, info, view[at : at + n])
        except BufferError_ as e:
            blob[at : at + n] = 0  # (what was inflated before the damage is not kept)
            bad.append((info.number, 0, str(e)))
            continue
        if info.compressed:
            inflated += n
        spans.append(BufferSpan(info.number, at, at + n, info.processor, max_records(info)))
    blob[pos:] = 0  # (and 8 bytes after the last)
    result = scan(blob, spans, clock)
    result.damage[:0] = bad
    return result, inflated
