"""The ETW log header event (``EventTrace``, hook 0x0000) shown field by field.

Every ETL file starts with it: a ``SYSTEM_TRACE_HEADER`` whose payload is ``TRACE_LOGFILE_HEADER``
followed by the logger and log file names (ETW.md §1.2).  The reader takes the clock, the time
zone and the lost-event counts from it; here the same bytes become the details of frame 1, so an
engineer sees in the trace itself how it was recorded: the session, the clock, the OS build, and
whether events or buffers were lost.
"""

from __future__ import annotations

import struct

from ..frame import Field
from ..packets import format_time
from ..timezone import parse_time_zone, start_ft_ns, zone_description
from .packets import utf16z
from .records import EVENT_TRACE_COMPRESSED_MODE, FILETIME_EPOCH, LOGFILE_HEADER_LAYOUT, LOGFILE_TAIL_LAYOUT

CLOCK_TYPES = {0: "raw", 1: "QPC", 2: "system time", 3: "CPU cycle counter"}
#: LogFileMode bits (EVENT_TRACE_*_MODE, evntrace.h) worth naming
LOG_FILE_MODES = [
    (0x00000001, "sequential file"), (0x00000002, "circular file"), (0x00000004, "append"),
    (0x00000008, "new file"), (0x00000020, "preallocate"), (0x00000040, "non-stoppable"),
    (0x00000080, "secure"), (0x00000100, "real time"), (0x00000200, "delay open file"),
    (0x00000400, "buffering"), (0x00000800, "private logger"), (0x00001000, "add header"),
    (0x00002000, "size in KB"), (0x00004000, "global sequence"), (0x00008000, "local sequence"),
    (0x00010000, "relog"), (0x00020000, "private in process"), (0x01000000, "paged memory"),
    (0x02000000, "system logger"), (EVENT_TRACE_COMPRESSED_MODE, "compressed"), (0x08000000, "independent session"),
    (0x10000000, "no per-processor buffering"), (0x80000000, "add to triage dump"),
]
_NAMES = ("BufferSize", "Version", "ProviderVersion", "NumberOfProcessors", "EndTime", "TimerResolution",
          "MaximumFileSize", "LogFileMode", "BuffersWritten", "StartBuffers", "PointerSize", "EventsLost",
          "CpuSpeedInMHz")
_TAIL_NAMES = ("BootTime", "PerfFreq", "StartTime", "ReservedFlags", "BuffersLost")
_TZ_SIZE = 0xAC


def _filetime(ft: int) -> str:
    return format_time((ft - FILETIME_EPOCH) * 100) if ft > 0 else "(not set)"


def _modes(mode: int) -> str:
    names = [n for bit, n in LOG_FILE_MODES if mode & bit]
    return f"0x{mode:08X}" + (f" ({', '.join(names)})" if names else "")


def header_fields(payload: bytes, base: int, pointer_size: int) -> tuple[str, list[Field]] | None:
    """(summary, fields) of a log header payload starting at byte ``base`` of the frame; None when
    the payload is too short to be one."""
    ptr = 8 if pointer_size == 8 else 4
    tail = 0x38 + 2 * ptr + _TZ_SIZE + 4
    if len(payload) < tail + LOGFILE_TAIL_LAYOUT.size:
        return None
    head = LOGFILE_HEADER_LAYOUT.unpack_from(payload, 0)
    v = dict(zip(_NAMES, head, strict=True))
    v.update(zip(_TAIL_NAMES, LOGFILE_TAIL_LAYOUT.unpack_from(payload, tail), strict=True))
    sizes = [struct.calcsize(c) for c in LOGFILE_HEADER_LAYOUT.format.lstrip("<")]
    offsets = [sum(sizes[:k]) for k in range(len(sizes))]
    tail_sizes = [struct.calcsize(c) for c in LOGFILE_TAIL_LAYOUT.format.lstrip("<")]
    tail_offsets = [tail + sum(tail_sizes[:k]) for k in range(len(tail_sizes))]
    version = v["Version"]
    display = {
        "BufferSize": f"{v['BufferSize']:,} bytes",
        "Version": f"{version & 0xFF}.{(version >> 8) & 0xFF} (0x{version:08X})",
        "ProviderVersion": f"{v['ProviderVersion']} (OS build)",
        "EndTime": _filetime(v["EndTime"]),
        "TimerResolution": f"{v['TimerResolution'] / 10_000:g} ms",
        "MaximumFileSize": f"{v['MaximumFileSize']} MB" if v["MaximumFileSize"] else "0 (no limit)",
        "LogFileMode": _modes(v["LogFileMode"]),
        "CpuSpeedInMHz": f"{v['CpuSpeedInMHz']} MHz",
        "BootTime": _filetime(v["BootTime"]),
        "PerfFreq": f"{v['PerfFreq']:,} Hz",
        "StartTime": _filetime(v["StartTime"]),
        "ReservedFlags": f"{v['ReservedFlags']} (clock: {CLOCK_TYPES.get(v['ReservedFlags'], 'unknown')})",
    }
    fields: list[Field] = []
    for name, off, size in zip(_NAMES, offsets, sizes, strict=True):
        fields.append(Field(None, v[name], display.get(name, str(v[name])), base + off, size, name))
    tz_at = 0x38 + 2 * ptr
    zone = parse_time_zone(payload, tz_at)
    zone_text = zone_description(zone, start_ft_ns(v["StartTime"])) if zone is not None else "(not set)"
    fields.append(Field(None, zone_text, zone_text, base + tz_at, _TZ_SIZE, "TimeZone"))
    for name, off, size in zip(_TAIL_NAMES, tail_offsets, tail_sizes, strict=True):
        fields.append(Field(None, v[name], display.get(name, str(v[name])), base + off, size, name))
    names_at = tail + 0x20
    logger, pos = utf16z(payload, names_at, len(payload))
    fields.append(Field(None, logger, logger, base + names_at, pos - names_at, "LoggerName"))
    logfile, end = utf16z(payload, pos, len(payload))
    fields.append(Field(None, logfile, logfile, base + pos, end - pos, "LogFileName"))
    summary = (f"Header, LoggerName = {logger}, EventsLost = {v['EventsLost']}, "
               f"BuffersLost = {v['BuffersLost']}")
    return summary, fields
