"""Export frames: packet frames to pcapng (etl2pcapng's conventions for ETW packets), and the
visible columns to CSV or JSON.

Files are written through ``safefile.open_output``: to a temporary name beside the target,
renamed when complete (an interrupted export never leaves a half-written file under the chosen
name); ``-`` is standard output and a device or FIFO is written in place.
"""

from __future__ import annotations

import csv
import json
import os
import struct
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .columns import Column, ColumnFormatter
from .dissect.core import LINKTYPE_IEEE802_11
from .index import DIR_RECEIVE, DIR_SEND, KIND_EVENT, KIND_PACKET
from .netmon import LINKTYPE_NETMON_80211, netmon_80211_header_length
from .safefile import is_stdout, open_output
from .text import csv_cell

if TYPE_CHECKING:
    from .trace import Trace

Progress = Callable[[int, int], None]


@dataclass(slots=True)
class ExportResult:
    path: Path
    written: int
    skipped: int  # rows that are not packets (ETW events, records) and have no pcapng form

    def __str__(self) -> str:
        extra = f", {self.skipped} non-packet frames skipped" if self.skipped else ""
        where = "standard output" if is_stdout(self.path) else self.path
        return f"wrote {self.written} frames to {where}{extra}"


def _opt(code: int, value: bytes) -> bytes:
    pad = (-len(value)) % 4
    return struct.pack("<HH", code, len(value)) + value + b"\0" * pad


def _block(btype: int, body: bytes) -> bytes:
    total = 12 + len(body)
    return struct.pack("<II", btype, total) + body + struct.pack("<I", total)


def write_pcapng(trace: Trace, rows: Sequence[int] | np.ndarray, path: str | os.PathLike[str], *,
                 progress: Progress | None = None, cancel: threading.Event | None = None) -> ExportResult:
    """Write the packet frames among ``rows`` (0-based) to a pcapng file."""
    target = Path(path)
    rows = np.asarray(rows, dtype=np.int64)
    idx = trace.index
    kind, iface, loc, timestamps, dirflags = idx.kind, idx.iface, idx.loc, idx.ts, idx.dirflags
    packets = rows[(kind[rows] & KIND_PACKET) != 0]
    skipped = len(rows) - len(packets)
    with open_output(target, "wb") as out:
        shb = struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1) + _opt(4, b"tracemon") + _opt(0, b"")
        out.write(_block(0x0A0D0D0A, shb))
        ids: dict[int, int] = {}
        total = len(packets)
        for n, i in enumerate(packets.tolist()):
            if cancel is not None and cancel.is_set():
                raise InterruptedError("export cancelled")
            g = int(iface[i])
            if g not in ids:
                ids[g] = len(ids)
                out.write(_block(1, _idb(trace, g)))
            if int(kind[i]) & KIND_EVENT:
                frame = trace.frame(i)
                data, orig = frame.data, frame.original_length
                comments = [f"PID={frame.process_id} TID={frame.thread_id}"] if frame.process_id is not None else []
                comments += [f"{k}={v}" for k, v in frame.meta.items() if k in ("VlanId", "SrcPortId", "SrcNicName",
                                                                                  "SrcPortName", "Component", "DropReason")]
            else:
                data = trace.raw(i)
                orig = trace.reader.record_meta(i, int(loc[i]), len(data)).original_length \
                    if hasattr(trace.reader, "record_meta") else len(data)
                comments = []
                if _link_type(trace, g) == LINKTYPE_NETMON_80211:  # no pcap link type: plain 802.11
                    cut = netmon_80211_header_length(data)
                    data, orig = data[cut:], max(0, orig - cut)
            ts = int(timestamps[i])
            opts = b""
            flags = int(dirflags[i])
            if flags & DIR_SEND:
                opts += _opt(2, struct.pack("<I", 2))
            elif flags & DIR_RECEIVE:
                opts += _opt(2, struct.pack("<I", 1))
            for c in comments:
                opts += _opt(1, c.encode("utf-8"))
            if opts:
                opts += _opt(0, b"")
            body = struct.pack("<IIIII", ids[g], (ts >> 32) & 0xFFFFFFFF, ts & 0xFFFFFFFF, len(data),
                               max(orig, len(data)))
            body += data + b"\0" * ((-len(data)) % 4) + opts
            out.write(_block(6, body))
            if progress is not None and (n % 4096 == 0 or n + 1 == total):
                progress(n + 1, total)
    return ExportResult(target, len(packets), skipped)


def _link_type(trace: Trace, g: int) -> int:
    return trace.interfaces[g].link_type if g < len(trace.interfaces) else -1


def _idb(trace: Trace, g: int) -> bytes:
    iface = trace.interfaces[g] if g < len(trace.interfaces) else None
    link = _link_type(trace, g)
    # Netmon's 802.11 frames are written without their metadata header; no dissector: Ethernet
    link = LINKTYPE_IEEE802_11 if link == LINKTYPE_NETMON_80211 else link if link >= 0 else 1
    snap = iface.snaplen if iface is not None else 0
    body = struct.pack("<HHI", link & 0xFFFF, 0, snap)
    if iface is not None and iface.name:
        body += _opt(2, iface.name.encode("utf-8"))
    if iface is not None and iface.description:
        body += _opt(3, iface.description.encode("utf-8"))
    body += _opt(9, bytes([9]))  # nanosecond timestamps
    body += _opt(0, b"")
    return body


def write_table(trace: Trace, rows: Sequence[int] | np.ndarray, columns: Sequence[Column],
                path: str | os.PathLike[str], fmt: str = "csv", *, formatter: ColumnFormatter | None = None,
                progress: Progress | None = None, cancel: threading.Event | None = None) -> ExportResult:
    """Write the given columns of ``rows`` as CSV (header row) or JSON (a list of objects)."""
    if fmt not in ("csv", "json"):
        raise ValueError(f"unknown table format {fmt!r} (csv or json)")
    target = Path(path)
    fmtr = formatter or ColumnFormatter(trace)
    rows = np.asarray(rows, dtype=np.int64)
    total = len(rows)
    with open_output(target, "w") as out:
        titles = [c.title for c in columns]
        writer = csv.writer(out) if fmt == "csv" else None
        if writer is not None:
            writer.writerow([csv_cell(t) for t in titles])
        else:
            out.write("[\n")
        cells = fmtr.rows(columns, rows) if writer is not None else fmtr.values(columns, rows)
        for n, values in enumerate(cells):
            if cancel is not None and cancel.is_set():
                raise InterruptedError("export cancelled")
            if writer is not None:
                writer.writerow([csv_cell(v) for v in values])
            else:
                out.write(("," if n else "") + json.dumps(dict(zip(titles, values, strict=True))) + "\n")
            if progress is not None and (n % 4096 == 0 or n + 1 == total):
                progress(n + 1, total)
        if writer is None:
            out.write("]\n")
    return ExportResult(target, total, 0)
