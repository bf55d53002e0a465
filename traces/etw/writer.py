"""Write ETL files: the test writer and the generator of the demo trace.

No public capture holds Hyper-V VmSwitch datapath events, so tests, benchmarks and the demo
write their own, with the layout real files have (ETW.md §1): a header buffer whose first record
is the log header event (``SYSTEM_TRACE_HEADER`` hook 0 + ``TRACE_LOGFILE_HEADER`` + logger and
file names), then per-CPU buffers of 8-aligned EVENT_HEADER records, flushed when full, so the
CPUs' timestamps interleave in the file.  With ``compressed=True`` every buffer but the first is
MS-XCA compressed and packed back to back (``BufferSize`` = on-disk size), as Windows' relogger
writes them.  The clock is QPC at ``perf_freq`` Hz.

The event helpers below (``vms_*``, ``ndis_*``, ``pktmon_*``) lay out payloads as the manifests
say: VmSwitch names are counted UTF-16 strings preceded by their length in characters
(``…NameLen``), ``BufferAddress`` is pointer-sized (4 bytes in 32-bit headers).
"""

from __future__ import annotations

import os
import struct
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from types import TracebackType

from .packets import (
    KW_NATIVE_802_11,
    KW_PACKET_END,
    KW_PACKET_START,
    KW_RECEIVE,
    KW_SEND,
    KW_VMSWITCH,
    KW_WIRELESS_WAN,
    NDIS_GUID,
    PKTMON_GUID,
    PKTMON_PACKET_LAYOUT,
    VMSWITCH_GUID,
)
from .records import (
    BUFFER_HEADER,
    BUFFER_HEADER_LAYOUT,
    BUFFER_TYPE_HEADER,
    EVENT_HEADER_LAYOUT,
    EVENT_TRACE_COMPRESSED_MODE,
    FILETIME_EPOCH,
    FLAG_COMPRESSED,
    FLAG_FLUSH_MARKER,
    FLAG_PROC_INDEX,
    LOGFILE_HEADER_LAYOUT,
    LOGFILE_TAIL_LAYOUT,
    SYSTEM_HEADER_LAYOUT,
)
from .xpress import compress

_U32 = struct.Struct("<I")


@dataclass(slots=True)
class _CpuBuffer:
    records: bytearray = field(default_factory=bytearray)
    last_raw: int = 0


class EtlWriter:
    """An ETL file being written; use as a context manager or call ``close()``."""

    def __init__(self, path: str | os.PathLike[str], *, cpus: int = 2, buffer_size: int = 64 * 1024,
                 compressed: bool = False, pointer_size: int = 8, start_ns: int = 1_700_000_000_000_000_000,
                 perf_freq: int = 10_000_000, qpc_start: int = 7_350_000_000, logger_name: str = "tracemon writer",
                 build: int = 20348, cpu_mhz: int = 2400, log_file_name: str | None = None) -> None:
        if buffer_size < 1024 or buffer_size % 8:
            raise ValueError("buffer_size must be a multiple of 8 and at least 1024")
        self.path = os.fspath(path)
        self.cpus = cpus
        self.buffer_size = buffer_size
        self.compressed = compressed
        self.pointer_size = pointer_size
        self.start_ns = start_ns
        self.perf_freq = perf_freq
        self.qpc_start = qpc_start
        self.logger_name = logger_name
        self.log_file_name = self.path if log_file_name is None else log_file_name
        self.build = build
        self.cpu_mhz = cpu_mhz
        self._f = open(self.path, "wb")  # noqa: SIM115 — closed in close()
        self._cpu = [_CpuBuffer() for _ in range(cpus)]
        self._sequence = 1
        self._buffers = 1
        self._last_ns = start_ns
        self.events = 0
        self._header_size = 1024 if compressed else buffer_size
        self._f.write(b"\0" * self._header_size)  # the header buffer, written at close()

    # -- records ------------------------------------------------------------------------------
    def raw_timestamp(self, ts_ns: int) -> int:
        return self.qpc_start + (ts_ns - self.start_ns) * self.perf_freq // 1_000_000_000

    def event(self, provider: uuid.UUID, event_id: int, payload: bytes = b"", *, ts_ns: int, cpu: int = 0,
              pid: int = 4, tid: int = 0, version: int = 0, channel: int = 0, level: int = 4, opcode: int = 0,
              task: int = 0, keyword: int = 0, header32: bool = False, activity: uuid.UUID | None = None,
              extended: Sequence[tuple[int, bytes]] = ()) -> None:
        """Append one EVENT_HEADER record (``extended``: (ExtType, data) items)."""
        ext = bytearray()
        for i, (etype, data) in enumerate(extended):
            item = 8 + len(data)
            item += -item & 7
            ext += struct.pack("<HHHH", item, etype, 1 if i + 1 < len(extended) else 0, len(data))
            ext += data + b"\0" * (item - 8 - len(data))
        size = 0x50 + len(ext) + len(payload)
        if size > 0xFFFF:
            raise ValueError(f"event of {size} bytes does not fit a record")
        hdr = EVENT_HEADER_LAYOUT.pack(size, 0x12 if header32 else 0x13, 0xC0, 1 if ext else 0, 0, tid, pid,
                        self.raw_timestamp(ts_ns), provider.bytes_le, event_id, version, channel, level, opcode,
                        task, keyword, 0, 0, (activity or uuid.UUID(int=0)).bytes_le)
        self._last_ns = max(self._last_ns, ts_ns)
        self.record(cpu, hdr + bytes(ext) + payload, self.raw_timestamp(ts_ns))

    def record(self, cpu: int, data: bytes, raw_ts: int = 0) -> None:
        """Append raw record bytes to a CPU's buffer (tests write damaged or unusual records this way)."""
        buf = self._cpu[cpu % self.cpus]
        need = len(data) + (-len(data) & 7)
        if BUFFER_HEADER + len(buf.records) + need > self.buffer_size:
            self._flush(cpu % self.cpus)
            if BUFFER_HEADER + need > self.buffer_size:
                raise ValueError(f"record of {len(data)} bytes does not fit a {self.buffer_size}-byte buffer")
        buf.records += data + b"\0" * (need - len(data))
        buf.last_raw = max(buf.last_raw, raw_ts)
        self.events += 1

    # -- buffers ------------------------------------------------------------------------------
    def _flush(self, cpu: int) -> None:
        buf = self._cpu[cpu]
        if not buf.records:
            return
        filled = BUFFER_HEADER + len(buf.records)
        body = bytes(buf.records)
        flags = FLAG_PROC_INDEX
        if self.compressed:
            packed = compress(body)
            if len(packed) < len(body):
                body = packed
                flags |= FLAG_COMPRESSED
            disk = BUFFER_HEADER + len(body)
        else:
            disk = self.buffer_size
        header = _buffer_header(disk, filled, buf.last_raw, self._sequence, cpu, flags, 0)
        self._f.write(header + body)
        if not self.compressed:
            self._f.write(b"\xff" * (disk - BUFFER_HEADER - len(body)))
        self._sequence += 1
        self._buffers += 1
        buf.records = bytearray()

    def close(self) -> None:
        if self._f.closed:
            return
        for cpu in range(self.cpus):
            self._flush(cpu)
        head = self._header_buffer()
        self._f.seek(0)
        self._f.write(head)
        self._f.close()

    def _header_buffer(self) -> bytes:
        ptr = self.pointer_size
        ft = self.start_ns // 100 + FILETIME_EPOCH
        end_ft = self._last_ns // 100 + FILETIME_EPOCH
        mode = 0x00000001 | (EVENT_TRACE_COMPRESSED_MODE if self.compressed else 0)
        lh = bytearray()
        lh += LOGFILE_HEADER_LAYOUT.pack(self.buffer_size, 0x0A | (0 << 8) | (1 << 16) | (5 << 24), self.build,
                                         self.cpus, end_ft, 156250, 0, mode, self._buffers, 1, ptr, 0, self.cpu_mhz)
        lh += b"\0" * (2 * ptr)  # LoggerName / LogFileName pointers (meaningless in a file)
        tz = bytearray(0xAC)
        name = "Coordinated Universal Time".encode("utf-16-le")[:62]
        tz[4 : 4 + len(name)] = name
        lh += tz + b"\0" * 4
        lh += LOGFILE_TAIL_LAYOUT.pack(ft - 10_000_000_000, self.perf_freq, ft, 1, 0)
        names = (self.logger_name + "\0").encode("utf-16-le") + (self.log_file_name + "\0").encode("utf-16-le")
        size = 0x20 + len(lh) + len(names)
        sys_hdr = (SYSTEM_HEADER_LAYOUT.pack(2, 0x02 if ptr == 8 else 0x01, 0xC0, size, 0, 0, 0, self.qpc_start)
                   + bytes(8))  # KernelTime, UserTime
        rec = sys_hdr + bytes(lh) + names
        rec += b"\0" * (-len(rec) & 7)
        filled = BUFFER_HEADER + len(rec)
        if filled > self._header_size:
            raise ValueError("logger and file names too long for the header buffer")
        header = _buffer_header(self._header_size, filled, 0, 0, 0, FLAG_FLUSH_MARKER, BUFFER_TYPE_HEADER)
        return (header + rec).ljust(self._header_size, b"\xff")

    def __enter__(self) -> EtlWriter:  # noqa: PYI034
        return self

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


def _buffer_header(disk: int, filled: int, raw_ts: int, seq: int, cpu: int, flags: int, btype: int) -> bytes:
    return BUFFER_HEADER_LAYOUT.pack(disk, filled, filled, 0, raw_ts, seq, 0, cpu, 0, 3, filled, flags, btype, b"\0" * 16)


# -- payloads -----------------------------------------------------------------------------------------
Name = tuple[str, str]  # (internal name, friendly name)


def counted(text: str) -> bytes:
    """A VmSwitch ``XxxNameLen`` + ``XxxName`` pair: length in UTF-16 characters, then the text."""
    data = text.encode("utf-16-le")
    return _U32.pack(len(data) // 2) + data


def names(*pairs: Name) -> bytes:
    return b"".join(counted(a) + counted(b) for a, b in pairs)


def utf16z(text: str) -> bytes:
    return (text + "\0").encode("utf-16-le")


def pointer(value: int, header32: bool) -> bytes:
    return struct.pack("<I", value & 0xFFFFFFFF) if header32 else struct.pack("<Q", value)


# VmSwitch event ids (ETW.md §4.3; the symbol names are inferred from the event shapes)
VM_NBL_INCOMING_DROP = 54
VM_NBL_OUTGOING_DROP = 55
VM_NBL_RECEIVE = 56
VM_NBL_ROUTE = 57
VM_NBL_DELIVER = 58
VM_NBL_EXTENSION_DROP = 59
VM_NBL_EXTENSION_VETO = 60
VMSWITCH_KEYWORD = 0x80


def vms(w: EtlWriter, event_id: int, payload: bytes, **kw: object) -> None:
    kw.setdefault("keyword", VMSWITCH_KEYWORD)
    w.event(VMSWITCH_GUID, event_id, payload, **kw)  # type: ignore[arg-type]


def vms_switch(w: EtlWriter, event_id: int, switch: Name, flags: int = 0, owner: int = 0, **kw: object) -> None:
    """Switch lifecycle (9, 42, 43, 62, 64, 66): SwitchName/FName, Flags, OwnerService."""
    vms(w, event_id, names(switch) + struct.pack("<II", flags, owner), **kw)


def vms_port(w: EtlWriter, event_id: int, port: Name, switch: Name, flags: int = 0, owner: int = 0,
             **kw: object) -> None:
    """Port lifecycle (67, 69, 71): PortName/FName, SwitchName/FName, Flags, OwnerService."""
    vms(w, event_id, names(port, switch) + struct.pack("<II", flags, owner), **kw)


def vms_nic_port(w: EtlWriter, event_id: int, nic: Name, port: Name, switch: Name, **kw: object) -> None:
    """NIC connected to a port on a switch (17, 232)."""
    vms(w, event_id, names(nic, port, switch), **kw)


def vms_vm(w: EtlWriter, vm_name: str, vm_id: str, **kw: object) -> None:
    """Event 102: VMName, VMId."""
    vms(w, 102, counted(vm_name) + counted(vm_id), **kw)


def vms_drop(w: EtlWriter, event_id: int, nic: Name, switch: Name, reason: int, **kw: object) -> None:
    """NBL dropped (54 incoming / 55 outgoing): Nic, Switch, DropReason."""
    vms(w, event_id, names(nic, switch) + _U32.pack(reason), **kw)


def vms_nbl(w: EtlWriter, event_id: int, nic: Name, switch: Name, address: int, **kw: object) -> None:
    """NBL received (56) / delivered (58): Nic, Switch, BufferAddress (pointer-sized)."""
    vms(w, event_id, names(nic, switch) + pointer(address, bool(kw.get("header32"))), **kw)


def vms_route(w: EtlWriter, src: Name, dst: Name, switch: Name, address: int, **kw: object) -> None:
    """NBL routed (57): SrcNic, DestNic, Switch, BufferAddress."""
    vms(w, VM_NBL_ROUTE, names(src, dst, switch) + pointer(address, bool(kw.get("header32"))), **kw)


def vms_extension_drop(w: EtlWriter, extension: str, src: Name, dst: Name, switch: Name, **kw: object) -> None:
    """NBL dropped by an extension (59)."""
    vms(w, VM_NBL_EXTENSION_DROP, counted(extension) + names(src, dst, switch), **kw)


def vms_extension_veto(w: EtlWriter, src: Name, switch: Name, ext_guid: str, ext_name: str, reason: str,
                       **kw: object) -> None:
    """Extension drop with a reason string (60)."""
    vms(w, VM_NBL_EXTENSION_VETO, names(src, switch) + counted(ext_guid) + counted(ext_name) + counted(reason), **kw)


def ndis_keyword(send: bool, medium: str = "ethernet", start: bool = True, end: bool = True) -> int:
    kw = 0x60000000000 | (KW_SEND if send else KW_RECEIVE)
    kw |= {"ethernet": 0x1, "wifi": KW_NATIVE_802_11, "wwan": KW_WIRELESS_WAN}[medium]
    if start:
        kw |= KW_PACKET_START
    if end:
        kw |= KW_PACKET_END
    return kw


def ndis_packet(w: EtlWriter, frame: bytes, *, miniport: int, lower: int, send: bool, medium: str = "ethernet",
                fragments: int = 1, **kw: object) -> None:
    """NDIS-PacketCapture 1001; ``fragments`` > 1 writes a pre-8.1 multi-event packet."""
    step = -(-len(frame) // fragments) if frame else 0
    parts = [frame[i : i + step] for i in range(0, len(frame), step)] if step else [b""]
    for n, part in enumerate(parts):
        keyword = ndis_keyword(send, medium, n == 0, n == len(parts) - 1)
        payload = struct.pack("<III", miniport, lower, len(part)) + part
        w.event(NDIS_GUID, 1001, payload, keyword=keyword, **kw)  # type: ignore[arg-type]


def ndis_vmswitch_packet(w: EtlWriter, frame: bytes, *, miniport: int, lower: int, port_id: int, port_name: str,
                         nic_name: str, nic_type: str, send: bool, destinations: Iterable[int] = (),
                         vlan: int = 0, rss_hash: int = 0, **kw: object) -> None:
    """NDIS-PacketCapture 1003: a VMSwitch port capture with the NBL's OOB info array."""
    dests = list(destinations)
    ptr = 4 if kw.get("header32") else 8
    oob = bytearray(12 * ptr)
    fmt = "<I" if ptr == 4 else "<Q"
    struct.pack_into(fmt, oob, 4 * ptr, (vlan & 0xFFF) << 4)
    struct.pack_into(fmt, oob, 8 * ptr, rss_hash)
    payload = (struct.pack("<III", miniport, lower, port_id) + utf16z(port_name) + utf16z(nic_name)
               + utf16z(nic_type) + _U32.pack(len(dests)) + b"".join(struct.pack("<Q", d) for d in dests)
               + _U32.pack(len(frame)) + frame + _U32.pack(len(oob)) + bytes(oob))
    keyword = ndis_keyword(send) | KW_VMSWITCH
    w.event(NDIS_GUID, 1003, payload, keyword=keyword, **kw)  # type: ignore[arg-type]


def pktmon_component(w: EtlWriter, component: int, ctype: int, name: str, description: str, **kw: object) -> None:
    """PktMon 20: a component's id, type, name and description."""
    w.event(PKTMON_GUID, 20, struct.pack("<HH", component, ctype) + utf16z(name) + utf16z(description),
            **kw)  # type: ignore[arg-type]


def pktmon_packet(w: EtlWriter, frame: bytes, *, group: int, component: int, send: bool, packet_type: int = 1,
                  appearance: int = 1, edge: int = 1, drop_reason: int = 0, **kw: object) -> None:
    """PktMon 160 (or 170 when ``drop_reason`` is set)."""
    payload = PKTMON_PACKET_LAYOUT.pack(group, 1, appearance, 4 if send else 3, packet_type, component, edge, 0,
                                        drop_reason, 0, len(frame), len(frame)) + frame
    w.event(PKTMON_GUID, 170 if drop_reason else 160, payload, **kw)  # type: ignore[arg-type]
