"""pcapng: sections in either byte order, many interfaces, EPB/SPB/OPB, options kept and shown.

The scan loop only chains block headers: runs of well-formed Enhanced Packet Blocks (nearly every
block of a real capture) in C (``_scan.pcapng_epbs``), every other block in Python; the packet
blocks are then decoded for the whole batch with NumPy.  Custom blocks become record frames,
as Wireshark shows them, so frame numbers match Wireshark's.  Unknown blocks are skipped with a
warning naming their offset and type.
"""

from __future__ import annotations

import bisect
import struct
from dataclasses import dataclass, field
from operator import attrgetter
from typing import TYPE_CHECKING, Any

import numpy as np

from .chains import EPB, MAX_BLOCK, MIN_EPB, SECTION_ENDIAN, SHB, is_pcapng
from .classify import PendingPackets
from .errors import DamagedRecord, TraceError, TraceWarning
from .fastclassify import walk_rows as _walk_packets
from .frame import Frame, Layer
from .gather import Gather, rows_at
from .index import COLUMNS, KIND_NOTIME, KIND_PACKET
from .packets import FRAME, PacketReader, RecordMeta, build_packet_frame
from .pcapng_options import (
    DIRECTION_FLAGS,
    DIRECTION_NAMES,
    EPB_OPTIONS,
    IDB_OPTIONS,
    OPB_OPTIONS,
    SHB_OPTIONS,
    epb_direction,
    parse_options,
    tsresol_scale,
    units_per_second,
)
from .pipeline import Walker
from .trace import Interface

try:  # the walk over runs of packet blocks in C (``_scan.c``), built at install time when a compiler is there
    from ._scan import pcapng_epbs as _native_epbs
except ImportError:  # pragma: no cover - the Python loop below does the same
    _native_epbs = None

if TYPE_CHECKING:
    from collections.abc import Iterator

    from .trace import Trace

IDB = 0x00000001
OPB = 0x00000002
SPB = 0x00000003
NRB = 0x00000004
ISB = 0x00000005
JOURNAL = 0x00000009
DSB = 0x0000000A
CUSTOM = (0x00000BAD, 0x40000BAD)
#: the smallest packet blocks: header, fixed fields and trailing length
MIN_PACKET_BLOCK = {EPB: MIN_EPB, OPB: 32, SPB: 16}
#: timestamps and offsets (ns) the vectorised EPB path handles: their sum stays inside int64
VECTOR_NS_LIMIT = 2**62
#: interfaces the index's ``iface`` column can number
MAX_INTERFACES = int(np.iinfo(COLUMNS["iface"]).max) + 1
FIRST_BATCH = 4096
BATCH = 131072
#: walk a batch's packets on a second thread while this one finds the next batch's blocks and
#: classifies the batch before it (``pipeline.Walker``); False: one thread
PIPELINE = True
#: unknown blocks reported one by one; the rest are counted in ``facts["unknown_blocks"]``
MAX_BLOCK_WARNINGS = 20
#: sections described one by one in ``facts["sections"]``; the rest are only counted
MAX_SECTION_FACTS = 1024

BLOCK_NAMES = {SHB: "Section Header", IDB: "Interface Description", OPB: "Packet (obsolete)",
               SPB: "Simple Packet", NRB: "Name Resolution", ISB: "Interface Statistics",
               EPB: "Enhanced Packet", JOURNAL: "systemd Journal Export", DSB: "Decryption Secrets",
               0x00000BAD: "Custom (copyable)", 0x40000BAD: "Custom (not copyable)"}

detect = is_pcapng


@dataclass(slots=True)
class Section:
    endian: str
    offset: int
    #: local interface id → global interface number
    interfaces: list[int] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)


class _RunAhead:
    """``_native_epbs`` answered from the run ``chains.pcapng_ahead`` walked (``raw``, from
    ``first`` to ``end``) when the reader asks at the run's next block, and by the C walk
    everywhere else: the same offsets, the run taken in part when a batch ends inside it."""

    def __init__(self, raw: bytes, first: int, end: int) -> None:
        self.offsets = np.frombuffer(raw, dtype=np.int64)
        self.raw, self.end, self.at, self.taken = raw, end, first, 0

    def __call__(self, buf: Any, pos: int, want: int, little: bool, limit: int) -> tuple[Any, int]:
        left = len(self.offsets) - self.taken
        if pos != self.at or not left:
            return _native_epbs(buf, pos, want, little, limit)  # type: ignore[misc]
        k, t = min(want, left), self.taken
        self.taken = t + k
        self.at = int(self.offsets[self.taken]) if k < left else self.end
        return memoryview(self.raw)[8 * t : 8 * (t + k)], self.at


class PcapngReader(PacketReader):
    format_name = "pcapng"

    def __init__(self, trace: Trace) -> None:
        super().__init__(trace)
        if len(self.buf) < 28:
            raise TraceError(trace.path, f"truncated pcapng section header ({len(self.buf)} bytes)", 0)
        self.sections: list[Section] = []
        #: per global interface: (multiply, divide, offset ns) for timestamps
        self.scales: list[tuple[int, int, int]] = []
        #: block offsets of the packet blocks that carry an opt_comment (None: not known, an old cache)
        self.comment_locs: list[int] | None = []
        #: the thread walking batches ahead (``PIPELINE``), for the length of a scan
        self._walker: Walker | None = None
        trace.facts["format"] = "pcapng"
        trace.facts["sections"] = []

    # -- scanning ---------------------------------------------------------------------------
    def scan(self) -> Iterator[dict[str, np.ndarray]]:
        try:
            yield from self._blocks()
        finally:  # stopped by an error or closed: no walk goes on reading the file behind it
            if self._walker is not None:
                self._walker.close()
                self._walker = None

    def _blocks(self) -> Iterator[dict[str, np.ndarray]]:
        """The batches of the file, in order: the next batch's blocks are found (and its packets
        walked on the walker thread) before the batch ahead of it is classified and given."""
        buf = self.buf
        size = len(buf)
        u8 = np.frombuffer(buf, dtype=np.uint8)
        pos = 0
        endian = "<"
        hdr = struct.Struct("<II").unpack_from
        trail = struct.Struct("<I").unpack_from
        want = FIRST_BATCH
        early, self.trace.records_ahead = self.trace.records_ahead, None
        run = early.result() if early is not None else None  # (what ``readahead`` walked)
        native = _RunAhead(*run) if run is not None and _native_epbs is not None else _native_epbs
        section: Section | None = None
        rows = 0  # rows of the batches before this one
        section_rows = 0  # rows before the current section began
        ahead: tuple[_Columns, int] | None = None
        while pos < size:
            # block offsets of this batch's rows, in file order: runs found in C, and the blocks the
            # loop below took one at a time (gathered into one array when the batch is done)
            runs: list[np.ndarray] = []
            singles: list[int] = []
            append = singles.append
            others: dict[int, int] = {}  # row → block type, for the rows that are not EPBs
            damage: DamagedRecord | None = None
            n = 0
            while pos < size and n < want:
                if native is not None and section is not None:  # a run of well-formed EPBs, in C
                    raw, pos = native(buf, pos, want - n, endian == "<", MAX_BLOCK)
                    if raw:
                        if singles:
                            runs.append(np.array(singles, dtype=np.int64))
                            singles.clear()
                        runs.append(np.frombuffer(raw, dtype=np.int64))
                        n += len(runs[-1])
                        continue
                if pos + 12 > size:
                    damage = DamagedRecord(pos, f"truncated block header ({size - pos} bytes left)")
                    break
                btype, blen = hdr(buf, pos)
                end = pos + blen
                # the common case first: a well-formed Enhanced Packet Block in a known section
                if (btype == EPB and 32 <= blen <= MAX_BLOCK and not blen & 3 and end <= size
                        and section is not None and trail(buf, end - 4)[0] == blen):
                    append(pos)
                    n += 1
                    pos = end
                    continue
                if btype == SHB:
                    if (section is not None and rows + n == section_rows and not section.interfaces
                            and self.sections and self.sections[-1] is section):
                        # nothing refers to a section without rows or interfaces: forget it, so
                        # a file of empty section headers costs no memory per section
                        self.sections.pop()
                    section_rows = rows + n
                    try:
                        section = self._section(pos)
                    except DamagedRecord as e:
                        damage = e
                        break
                    endian = section.endian
                    hdr = struct.Struct(endian + "II").unpack_from
                    trail = struct.Struct(endian + "I").unpack_from
                    btype, blen = hdr(buf, pos)
                damage = self._check_block(pos, btype, blen, size, trail, section)
                if damage is not None:
                    break
                if btype in (EPB, SPB, OPB, JOURNAL) or btype in CUSTOM:
                    others[n] = btype
                    append(pos)
                    n += 1
                elif btype == IDB:
                    try:
                        self._interface(section, pos, blen)  # type: ignore[arg-type]
                    except DamagedRecord as e:
                        damage = e
                        break
                elif btype not in BLOCK_NAMES:
                    self._unknown_block(pos, btype, blen)
                pos += blen
            first = rows
            rows += n
            if singles:
                runs.append(np.array(singles, dtype=np.int64))
            starts = np.concatenate(runs) if len(runs) > 1 else runs[0] if runs else np.zeros(0, dtype=np.int64)
            if len(starts):
                kinds = [(others.get(k, EPB), p) for k, p in enumerate(starts.tolist())] if others else None
                if first == 0:  # room for the whole file, so that every batch is written in place
                    self.trace.reserve_rows(len(starts), pos)
                cols = self._columns(u8, starts, kinds, section, first)
                if cols.walkable and PIPELINE:
                    if self._walker is None:
                        self._walker = Walker()
                    cols.walk_ahead(self._walker, u8, _walk_packets)
                if ahead is not None:  # the batch before this one, classified now
                    yield from self._finish(u8, *ahead)
                    ahead = None
                if cols.walk is not None and damage is None:
                    ahead = (cols, pos)  # (classified once the next batch is found)
                else:
                    yield from self._finish(u8, cols, pos)
                    damage = damage or cols.damage
            if damage is not None:
                if ahead is not None:  # (the damage came before this batch's first row)
                    yield from self._finish(u8, *ahead)
                self.position = pos
                raise damage
            if ahead is None:
                self.position = pos
            want = BATCH
        if ahead is not None:
            yield from self._finish(u8, *ahead)
        self.position = pos  # (past blocks after the last batch's too)

    def _unknown_block(self, pos: int, btype: int, blen: int) -> None:
        """A block of a type this reader does not know (a damaged type field, or a new or local
        block type) is skipped, never silently: each of the first ``MAX_BLOCK_WARNINGS`` gets a
        warning naming its offset and type, and ``facts["unknown_blocks"]`` counts them all."""
        facts = self.trace.facts
        count = facts.get("unknown_blocks", 0) + 1
        facts["unknown_blocks"] = count
        if count > MAX_BLOCK_WARNINGS:
            return
        local = " (a local-use type)" if btype & 0x80000000 else ""
        more = ("; further unknown blocks are only counted (facts['unknown_blocks'])"
                if count == MAX_BLOCK_WARNINGS else "")
        self.trace.warnings.append(TraceWarning(
            self.trace.path, pos, f"skipped a block of unknown type 0x{btype:08X}{local}, {blen} bytes{more}"))

    def _check_block(self, pos: int, btype: int, blen: int, size: int, trail: Any,
                     section: Section | None) -> DamagedRecord | None:
        """Why the block at ``pos`` cannot be used (None when it can)."""
        if blen < 12 or blen % 4:
            return DamagedRecord(pos, f"invalid block length {blen} (must be a multiple of 4, at least 12)")
        if blen > MAX_BLOCK:
            return DamagedRecord(pos, f"block length {blen} is larger than any block (limit {MAX_BLOCK})")
        if pos + blen > size:
            return DamagedRecord(pos, f"truncated {BLOCK_NAMES.get(btype, 'unknown')} block: "
                                      f"{blen} bytes announced, {size - pos} left in the file")
        tail = trail(self.buf, pos + blen - 4)[0]
        if tail != blen:
            return DamagedRecord(pos, f"block length {blen} does not match the trailing length {tail}")
        if section is None:
            return DamagedRecord(pos, "block before the first section header")
        if btype in MIN_PACKET_BLOCK and blen < MIN_PACKET_BLOCK[btype]:
            return DamagedRecord(pos, f"{BLOCK_NAMES[btype].lower()} block too short ({blen} bytes)")
        return None

    def _section(self, pos: int) -> Section:
        buf = self.buf
        if pos + 28 > len(buf):
            raise DamagedRecord(pos, "truncated section header block")
        magic = bytes(buf[pos + 8 : pos + 12])
        endian = SECTION_ENDIAN.get(magic)
        if endian is None:
            raise DamagedRecord(pos + 8, f"bad byte-order magic {magic.hex()} in section header")
        blen = struct.unpack_from(endian + "I", buf, pos + 4)[0]
        if blen < 28 or blen % 4 or pos + blen > len(buf):
            raise DamagedRecord(pos, f"invalid section header block length {blen}")
        major, minor, _seclen = struct.unpack_from(endian + "HHq", buf, pos + 12)
        if major != 1:
            raise DamagedRecord(pos + 12, f"unsupported pcapng version {major}.{minor}")
        opts, comments = parse_options(buf, pos + 24, pos + blen - 4, endian, SHB_OPTIONS)
        section = Section(endian, pos, [], opts)
        if comments:
            opts["comments"] = comments
        self.sections.append(section)
        facts = self.trace.facts
        facts["section_count"] = facts.get("section_count", 0) + 1
        if len(facts["sections"]) < MAX_SECTION_FACTS:
            facts["sections"].append({"offset": pos, "version": f"{major}.{minor}",
                                      "byte_order": "little-endian" if endian == "<" else "big-endian", **opts})
        return section

    def _interface(self, section: Section, pos: int, blen: int) -> None:
        buf = self.buf
        if blen < 20:
            raise DamagedRecord(pos, f"interface description block too short ({blen} bytes)")
        if len(self.trace.interfaces) >= MAX_INTERFACES:
            raise DamagedRecord(pos, f"more than {MAX_INTERFACES} interface descriptions")
        link, _res, snaplen = struct.unpack_from(section.endian + "HHI", buf, pos + 8)
        opts, comments = parse_options(buf, pos + 16, pos + blen - 4, section.endian, IDB_OPTIONS)
        if comments:
            opts["comments"] = comments
        # an option of the wrong length keeps its hex text (shown as is): the default applies
        resol = opts.get("if_tsresol")
        per_second = units_per_second(resol if isinstance(resol, int) else None)
        mult, div = tsresol_scale(per_second)
        tsoffset = opts.get("if_tsoffset", 0)
        offset_ns = (tsoffset if isinstance(tsoffset, int) else 0) * 1_000_000_000
        iface = Interface(link, str(opts.get("if_name", "")), str(opts.get("if_description", "")), snaplen,
                          per_second, offset_ns, opts)
        self.trace.interfaces.append(iface)
        self.scales.append((mult, div, offset_ns))
        section.interfaces.append(len(self.trace.interfaces) - 1)

    def _columns(self, u8: np.ndarray, starts: np.ndarray, rows: list[tuple[int, int]] | None,
                 section: Section | None, first: int) -> _Columns:
        """Index rows for a batch of blocks (``rows`` = (type, offset) pairs, None when all are
        EPBs; ``first``: the index row of the first, where the batch is written when there is
        room), but for what classification fills; damage inside the batch keeps the rows before it."""
        n = len(starts)
        batch = self.trace.index.slots(first, n)
        data_off = np.zeros(n, dtype=np.int64)
        links = np.full(n, -1, dtype=np.int64)
        damage: DamagedRecord | None = None
        done = False
        if rows is None and section is not None and starts[0] > section.offset:
            done = self._epb_vector(u8, starts, section, batch, data_off, links)
        if not done and rows is None:
            rows = [(EPB, p) for p in starts.tolist()]
        if not done:
            last_ts = 0
            for r, (btype, pos) in enumerate(rows or ()):
                try:
                    last_ts = self._row_scalar(r, btype, pos, batch, data_off, links, last_ts)
                except DamagedRecord as e:
                    damage = e
                    batch = {k: v[:r] for k, v in batch.items()}
                    data_off, links = data_off[:r], links[:r]
                    break
        packets = np.flatnonzero(batch["kind"] & KIND_PACKET)
        return _Columns(batch, data_off, links, packets, vector=done, damage=damage)

    def _finish(self, u8: np.ndarray, cols: _Columns, end: int) -> Iterator[dict[str, np.ndarray]]:
        """Classify a batch's packets (with their walk when it was made ahead) and give the batch;
        ``end``: where its blocks end (the pages before it may go)."""
        batch = cols.batch
        cols.classify(self.trace, u8)
        self.position = end
        if len(batch["ts"]):
            yield batch

    def _epb_vector(self, u8: np.ndarray, starts: np.ndarray, section: Section, batch: dict[str, np.ndarray],
                    data_off: np.ndarray, links: np.ndarray) -> bool:
        """All-EPB batch of one section in array operations; False when a row needs the slow path."""
        e = section.endian
        # the block header in one gather: type, length, interface, timestamp (high, low), captured length
        head = rows_at(u8, starts, 24).view(e + "u4").astype(np.int64)
        blen, local, caplen = head[:, 1], head[:, 2], head[:, 5]
        if np.any(local >= len(section.interfaces)) or np.any(caplen > blen - 32):
            return False  # the scalar path finds and reports the damaged block
        glob = np.asarray(section.interfaces, dtype=np.int64)[local]
        units = (head[:, 3].astype(np.uint64) << np.uint64(32)) | head[:, 4].astype(np.uint64)
        used, which = np.unique(glob, return_inverse=True)
        scales = [self.scales[k] for k in used.tolist()]
        if any(div != 1 or not -VECTOR_NS_LIMIT < off < VECTOR_NS_LIMIT for _, div, off in scales):
            return False  # exotic resolutions and offsets need exact integer arithmetic
        mult = np.array([m for m, _, _ in scales], dtype=np.int64)[which]
        off = np.array([o for _, _, o in scales], dtype=np.int64)[which]
        if np.any(units >= np.uint64(VECTOR_NS_LIMIT) // mult.astype(np.uint64)):
            return False
        batch["loc"][:] = starts
        batch["length"][:] = caplen
        batch["ts"][:] = units.astype(np.int64) * mult + off
        batch["iface"][:] = glob
        batch["kind"][:] = KIND_PACKET
        data_off[:] = starts + 28
        links[:] = np.array([i.link_type for i in self.trace.interfaces], dtype=np.int64)[glob]
        # direction from epb_flags needs the options: only look when the block has any
        for r in np.flatnonzero(blen > 32 + ((caplen + 3) & ~3)):
            opts, comments = self._packet_options(int(starts[r]), int(caplen[r]), int(blen[r]), e, EPB_OPTIONS)
            batch["dirflags"][r] |= DIRECTION_FLAGS.get(epb_direction(opts), 0)
            self._note_comments(int(starts[r]), comments)
        return True

    def _packet_options(self, pos: int, caplen: int, blen: int, endian: str,
                        names: dict[int, str]) -> tuple[dict[str, Any], list[str]]:
        """The options of an EPB/OPB: after the packet bytes, padded to 4, up to the trailing length."""
        return parse_options(self.buf, pos + 28 + ((caplen + 3) & ~3), pos + blen - 4, endian, names)

    def _note_comments(self, pos: int, comments: list[str]) -> None:
        """Remember that the block at ``pos`` has a comment (``Frame.Comment`` filters without decoding)."""
        if comments and self.comment_locs is not None:
            self.comment_locs.append(pos)

    def _row_scalar(self, r: int, btype: int, pos: int, batch: dict[str, np.ndarray], data_off: np.ndarray,
                    links: np.ndarray, last_ts: int) -> int:
        buf = self.buf
        section = self._section_at(pos)
        e = section.endian
        blen = struct.unpack_from(e + "I", buf, pos + 4)[0]
        batch["loc"][r] = pos
        if btype == EPB or btype == OPB:
            if btype == EPB:
                local, hi, lo, caplen, _orig = struct.unpack_from(e + "IIIII", buf, pos + 8)
            else:
                local, _drops, hi, lo, caplen, _orig = struct.unpack_from(e + "HHIIII", buf, pos + 8)
            if local >= len(section.interfaces):
                raise DamagedRecord(pos, f"packet block names interface {local}, but the section has "
                                         f"{len(section.interfaces)}")
            if caplen > blen - 32:
                raise DamagedRecord(pos, f"captured length {caplen} exceeds the block ({blen} bytes)")
            g = section.interfaces[local]
            mult, div, off = self.scales[g]
            ts = ((hi << 32) | lo) * mult // div + off
            if not -(2**63) <= ts < 2**63:
                raise DamagedRecord(pos + 12, f"timestamp {(hi << 32) | lo} is outside the representable range")
            batch["length"][r] = caplen
            batch["ts"][r] = ts
            batch["iface"][r] = g
            batch["kind"][r] = KIND_PACKET
            data_off[r] = pos + 28
            links[r] = self.trace.interfaces[g].link_type
            if blen > 32 + ((caplen + 3) & ~3):  # the block has options
                opts, comments = self._packet_options(pos, caplen, blen, e, EPB_OPTIONS if btype == EPB else OPB_OPTIONS)
                if btype == EPB:
                    batch["dirflags"][r] |= DIRECTION_FLAGS.get(epb_direction(opts), 0)
                self._note_comments(pos, comments)
            return ts
        if btype == SPB:
            if not section.interfaces:
                raise DamagedRecord(pos, "simple packet block without an interface description")
            g = section.interfaces[0]
            orig = struct.unpack_from(e + "I", buf, pos + 8)[0]
            snap = self.trace.interfaces[g].snaplen or orig
            caplen = min(orig, snap, blen - 16)
            batch["length"][r] = caplen
            batch["ts"][r] = last_ts  # no timestamp in an SPB: keep the order, flag the row
            batch["iface"][r] = g
            batch["kind"][r] = KIND_PACKET | KIND_NOTIME
            data_off[r] = pos + 12
            links[r] = self.trace.interfaces[g].link_type
            return last_ts
        # custom / journal blocks: record frames without a timestamp, as Wireshark lists them
        batch["length"][r] = blen
        batch["ts"][r] = last_ts
        batch["kind"][r] = KIND_NOTIME
        batch["top"][r] = self.trace.protocol_code("PCAPNG")
        return last_ts

    def _section_at(self, pos: int) -> Section:
        """The section a block at ``pos`` belongs to (sections are kept in file order)."""
        k = bisect.bisect_right(self.sections, pos, key=attrgetter("offset"))
        if k == 0:
            raise DamagedRecord(pos, "block before the first section header")
        return self.sections[k - 1]

    # -- frames -----------------------------------------------------------------------------
    def _block(self, i: int) -> tuple[int, int, int, Section]:
        pos = int(self.trace.index.loc[i])
        section = self._section_at(pos)
        btype, blen = struct.unpack_from(section.endian + "II", self.buf, pos)
        return pos, btype, blen, section

    def packet_offsets(self, rows: np.ndarray) -> np.ndarray | None:
        loc = self.trace.index.loc[rows].astype(np.int64)
        btype = Gather(self.buf).read(loc, "<u4")
        btype = np.where(btype > 0xFFFF, btype >> 24, btype)  # big-endian sections read byte-swapped
        return loc + np.where((btype == EPB) | (btype == OPB), 28, np.where(btype == SPB, 12, 0))

    def raw(self, i: int) -> bytes:
        return self._data(i, *self._block(i)[:3])

    def _data(self, i: int, pos: int, btype: int, blen: int) -> bytes:
        """Row ``i``'s bytes: the packet of a packet block, else the whole block."""
        if btype in (EPB, OPB, SPB):
            start = pos + (12 if btype == SPB else 28)
            return bytes(self.buf[start : start + int(self.trace.index.length[i])])
        return bytes(self.buf[pos : pos + blen])

    def record_meta(self, i: int, loc: int, length: int) -> RecordMeta:
        return self._meta(length, *self._block(i))

    def _meta(self, length: int, pos: int, btype: int, blen: int, section: Section) -> RecordMeta:
        e = section.endian
        if btype not in (EPB, OPB):  # an SPB: its original length, nothing else (not even a time)
            return RecordMeta(struct.unpack_from(e + "I", self.buf, pos + 8)[0], no_timestamp="simple packet block")
        orig = struct.unpack_from(e + "I", self.buf, pos + 24)[0]
        opts, comments = self._packet_options(pos, length, blen, e, EPB_OPTIONS if btype == EPB else OPB_OPTIONS)
        return RecordMeta(orig, comments, opts, DIRECTION_NAMES.get(epb_direction(opts), ""))

    def frame(self, i: int) -> Frame:
        block = self._block(i)
        pos, btype, blen, section = block
        idx = self.trace.index
        if btype in (EPB, OPB, SPB):
            data = self._data(i, pos, btype, blen)
            g = int(idx.iface[i])
            link = self.trace.interfaces[g].link_type
            meta = self._meta(len(data), *block)
            return build_packet_frame(self.trace, i, int(idx.ts[i]), data, link, g, meta)
        data = bytes(self.buf[pos : pos + blen])
        name = BLOCK_NAMES.get(btype, f"block type 0x{btype:08X}")
        layer = Layer(FRAME, f"{name} block, {blen} bytes", 0, blen)
        if btype in CUSTOM and blen >= 16:
            pen = struct.unpack_from(section.endian + "I", self.buf, pos + 8)[0]
            layer.add(None, pen, 8, 4, display=str(pen), label="Private Enterprise Number")
        return Frame(index=i, timestamp_ns=int(idx.ts[i]), data=data, layers=[layer], captured_length=blen,
                     original_length=blen, kind="record", protocol_name="PCAPNG",
                     description=f"PCAPNG:{name} block", registry=self.trace.registry,
                     meta={"block_type": f"0x{btype:08X}", "no_timestamp": f"{name.lower()} block"})

    def state(self) -> dict[str, Any]:
        return {"sections": [{"endian": s.endian, "offset": s.offset, "interfaces": s.interfaces,
                              "options": s.options} for s in self.sections],
                "scales": self.scales, "comment_locs": self.comment_locs}

    def restore(self, state: dict[str, Any]) -> None:
        self.sections = [Section(s["endian"], s["offset"], list(s["interfaces"]), dict(s["options"]))
                         for s in state["sections"]]
        self.scales = [tuple(s) for s in state["scales"]]  # type: ignore[misc]
        locs = state.get("comment_locs")
        self.comment_locs = [int(x) for x in locs] if isinstance(locs, list) else None


@dataclass(slots=True)
class _Columns(PendingPackets):
    """A batch with the columns its blocks give, waiting for classification (``PcapngReader._finish``)."""

    vector: bool = False  # every row an EPB of one section, read in array operations
    damage: DamagedRecord | None = None

    @property
    def walkable(self) -> bool:
        """Whether the batch's walk can be made ahead: every row a packet, and no damage."""
        return self.vector and self.damage is None and 0 < len(self.packets) == len(self.batch["ts"])
