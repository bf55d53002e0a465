"""Classic libpcap files: both byte orders, µs and ns timestamps, any link type.

The scan loop only chains record headers (in C, or one ``unpack_from`` per record); timestamps
and lengths are then gathered for the whole batch at once and the frames are classified by
``classify.py``.  The gather and the layer walk of the next batch run on a second thread while
this one finishes classifying the batch before it (``PIPELINE``).
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

import numpy as np

from .chains import PCAP_HEADER, PCAP_MAGICS, PCAP_MAX_RECORD, PCAP_RECORD
from .classify import classify_packets
from .errors import DamagedRecord, TraceError
from .fastclassify import walk_batch
from .gather import Gather, rows_at
from .index import KIND_PACKET
from .packets import PacketReader, RecordMeta
from .pipeline import Ahead, Walker
from .trace import Interface

try:  # the record walk in C (``_scan.c``), built at install time when a compiler is there
    from ._scan import pcap_records as _native_records
except ImportError:  # pragma: no cover - the Python loop below does the same
    _native_records = None

if TYPE_CHECKING:
    from collections.abc import Iterator

    from .fastwalk import Walk
    from .trace import Trace

MAGICS, HEADER, RECORD, MAX_RECORD = PCAP_MAGICS, PCAP_HEADER, PCAP_RECORD, PCAP_MAX_RECORD
FIRST_BATCH = 4096
BATCH = 65536  # (with the walk ahead, two batches are in memory at once: a smaller one keeps the peak)
#: walk the next batch on a second thread while this one classifies (``scan``); False: one thread
PIPELINE = True


def detect(head: bytes) -> bool:
    return head[:4] in MAGICS


class PcapReader(PacketReader):
    format_name = "pcap"

    def __init__(self, trace: Trace) -> None:
        super().__init__(trace)
        buf = self.buf
        if len(buf) < HEADER:
            raise TraceError(trace.path, f"truncated pcap file header ({len(buf)} of {HEADER} bytes)", 0)
        self.endian, self.ns_scale = MAGICS[bytes(buf[:4])]
        major, minor, zone, _sigfigs, snaplen, network = struct.unpack_from(self.endian + "HHiIII", buf, 4)
        self.link_type = network & 0x03FFFFFF
        self.fcs_len = (network >> 29) & 7 if network & 0x10000000 else 0
        self.snaplen = snaplen
        trace.interfaces = [Interface(self.link_type, "pcap", "", snaplen,
                                      1_000_000 if self.ns_scale == 1000 else 1_000_000_000)]
        trace.facts.update({
            "format": "pcap",
            "version": f"{major}.{minor}",
            "byte_order": "little-endian" if self.endian == "<" else "big-endian",
            "timestamp_resolution": "microseconds" if self.ns_scale == 1000 else "nanoseconds",
            "snaplen": snaplen,
            "thiszone": zone,
        })
        self.position = HEADER

    def scan(self) -> Iterator[dict[str, np.ndarray]]:
        self.gather = Gather(self.buf)
        u8 = self.gather.u8
        first = len(self.trace.index)  # (each record is a row: the rows the chained batches take)
        if not PIPELINE:
            for starts, end, heads in self._chain():
                batch = self._batch(u8, *self._prepare(u8, starts, first, heads))
                first += len(starts)
                self.position = end
                yield batch
            return
        # Two threads: while this one finds a batch's records and classifies the batch before it
        # (conversations, the scalar path), the walker gathers and walks that batch (``_prepare``,
        # the larger half).  Their C loops run without the interpreter lock; the batches come out in
        # order, so the index is the one-thread index.
        ahead: tuple[Ahead, int] | None = None
        walker = Walker()
        try:
            for starts, end, heads in self._chain():
                if first == 0:  # room for the whole file, so that every batch is written in place
                    self.trace.reserve_rows(len(starts), end)
                job = (walker.submit(self._prepare, u8, starts, first, heads), end)
                first += len(starts)
                if ahead is not None:
                    yield self._finish(u8, *ahead)
                ahead = job
        except DamagedRecord:  # after the last good batch, which is still to come
            if ahead is not None:
                yield self._finish(u8, *ahead)
            raise
        finally:  # stopped by an error or closed: no walk goes on reading the file behind it
            walker.close()
        if ahead is not None:
            yield self._finish(u8, *ahead)

    def _finish(self, u8: np.ndarray, prepared: Ahead, end: int) -> dict[str, np.ndarray]:
        batch = self._batch(u8, *prepared.result())
        self.position = end  # (the pages up to here may go: the next batch's walk is past them)
        return batch

    def _chain(self) -> Iterator[tuple[np.ndarray, int, np.ndarray | None]]:
        """Record offsets, a batch at a time, with where the batch ends and, when ``readahead``
        read them, the first 12 bytes of their headers; raises DamagedRecord after the last good
        batch.  The batches are the same with or without the records read ahead (conversations
        and layouts are numbered a batch at a time)."""
        size = len(self.buf)
        pos = HEADER
        want = FIRST_BATCH
        early, early_end, early_heads = np.zeros(0, dtype=np.int64), HEADER, None
        ahead, self.trace.records_ahead = self.trace.records_ahead, None
        if ahead is not None:
            early, early_end, early_heads = ahead.result()
        k = 0  # the records read ahead up to here are yielded
        while pos < size:
            damage = None
            if k < len(early):
                j = min(k + want, len(early))
                starts, heads = early[k:j], early_heads[k:j] if early_heads is not None else None
                pos = int(early[j]) if j < len(early) else early_end
                if j - k < want and pos < size:  # the walk ahead ended inside this batch: walked on here
                    more, pos, damage = self._walk(pos, want - (j - k), size)
                    starts, heads = np.concatenate([starts, more]), None
                k = j
            else:
                starts, pos, damage = self._walk(pos, want, size)
                heads = None
            if len(starts):
                yield starts, pos, heads
            if damage is not None:
                self.position = pos
                raise damage
            want = BATCH

    def _walk(self, pos: int, want: int, size: int) -> tuple[np.ndarray, int, DamagedRecord | None]:
        """Up to ``want`` record offsets from ``pos``: runs of sane records in C when it was built,
        the records it stops at (and everything, without it) in Python."""
        parts: list[np.ndarray] = []
        n = 0
        damage: DamagedRecord | None = None
        native = _native_records
        while n < want and pos < size and damage is None:
            if native is not None:
                raw, pos = native(self.buf, pos, want - n, self.endian == "<", MAX_RECORD)
                got = np.frombuffer(raw, dtype=np.int64)
                if len(got):
                    parts.append(got)
                    n += len(got)
                    continue
            # no native walker, or it stopped at a record to look at closer: one step in Python
            starts, pos, damage = self._walk_python(pos, 1 if native is not None else want - n, size)
            if starts:
                parts.append(np.array(starts, dtype=np.int64))
                n += len(starts)
        starts_all = parts[0] if len(parts) == 1 else np.concatenate(parts) if parts else np.zeros(0, np.int64)
        return starts_all, pos, damage

    def _walk_python(self, pos: int, want: int, size: int) -> tuple[list[int], int, DamagedRecord | None]:
        buf = self.buf
        unpack = struct.Struct(self.endian + "I").unpack_from
        limit = MAX_RECORD
        starts: list[int] = []
        append = starts.append
        damage: DamagedRecord | None = None
        n = 0
        try:
            while n < want and pos < size:
                caplen = unpack(buf, pos + 8)[0]
                end = pos + RECORD + caplen
                if end > size or caplen > limit or not caplen:  # rare: look closer
                    damage = self._damage(pos, caplen, size)
                    if damage is not None:
                        break
                append(pos)
                pos = end
                n += 1
        except struct.error:  # fewer than 12 bytes left: a truncated record header
            if pos < size:
                damage = DamagedRecord(pos, f"truncated record header ({size - pos} of 16 bytes)")
        return starts, pos, damage

    def _damage(self, pos: int, caplen: int, size: int) -> DamagedRecord | None:
        """Why the record at ``pos`` cannot be read (None: a zero-length packet, which is fine)."""
        if caplen > MAX_RECORD:
            return DamagedRecord(pos, f"record length {caplen} is larger than any packet (limit {MAX_RECORD})")
        if pos + RECORD + caplen > size:
            if pos + RECORD > size:
                return DamagedRecord(pos, f"truncated record header ({size - pos} of 16 bytes)")
            return DamagedRecord(pos, f"truncated record: {caplen} bytes announced, "
                                      f"{size - pos - RECORD} left in the file")
        if struct.unpack_from(self.endian + "I", self.buf, pos + 12)[0] == 0:
            return DamagedRecord(pos, "record with zero length")
        return None

    def _prepare(self, u8: np.ndarray, starts: np.ndarray, first: int,
                 heads: np.ndarray | None = None) -> tuple[dict[str, np.ndarray], Walk | None]:
        """A batch's columns from its record headers, and its layer walk: what reads only the
        file (the pipeline's other thread runs it).  ``first``: the index row of its first record
        (the batch is written in the index's memory when there is room: ``FrameIndex.slots``);
        ``heads``: the first 12 bytes of each header when ``readahead`` has read them."""
        # the first 12 bytes of each record header in one gather: seconds, fraction, captured length
        if heads is None:
            heads = rows_at(u8, starts, 12)
        head = heads.view(self.endian + "u4").astype(np.int64)
        sec, frac, caplen = head[:, 0], head[:, 1], head[:, 2]
        batch = self.trace.index.slots(int(first), len(starts))
        batch["loc"][:] = starts + RECORD
        batch["length"][:] = caplen
        batch["ts"][:] = sec * 1_000_000_000 + frac * self.ns_scale
        batch["kind"][:] = KIND_PACKET
        return batch, walk_batch(u8, batch, self.link_type)

    def _batch(self, u8: np.ndarray, batch: dict[str, np.ndarray], walked: Walk | None) -> dict[str, np.ndarray]:
        classify_packets(self.trace, u8, batch, self.link_type, walked=walked)
        return batch

    def record_meta(self, i: int, loc: int, length: int) -> RecordMeta:
        orig = struct.unpack_from(self.endian + "I", self.buf, loc - 4)[0]
        return RecordMeta(orig)
