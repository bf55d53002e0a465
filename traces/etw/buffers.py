"""What an ETW buffer may claim: the limits that keep a crafted ETL file from acting as a bomb.

A compressed buffer says how many bytes it inflates to (``FilledBytes``), and the MS-XCA format
lets a ten-byte match repeat a record for gigabytes: a 3.8 KB file once indexed 13.4 million
records in 1.8 GB.  The reader therefore checks every compressed buffer before inflating it:

* it may not inflate past the session's buffer size, which the log header declares
  (``TRACE_LOGFILE_HEADER.BufferSize``; a session never fills more than one buffer);
* it may not inflate more than ``MAX_INFLATE_RATIO`` times its compressed bytes (real buffers
  compress 1-14x: ``tests/test_hostile_files.py`` measures the samples);
* its records may not outnumber what its compressed bytes can encode: a record with a
  timestamp of its own costs at least a few compressed bytes (the samples spend 6 or more), so
  at most ``RECORDS_PER_COMPRESSED_BYTE`` records per byte are indexed and the rest of the
  buffer is reported as damage.

Refused buffers are reported with their number and file offset; the buffers after them are read
as usual (the chain follows the on-disk sizes, which the refusal does not doubt).  Memory then
stays proportional to the file: at most one index row per compressed byte.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .records import BufferInfo

#: bytes of a WMI_BUFFER_HEADER (records.BUFFER_HEADER; not imported: records imports this module)
HEADER = 0x48
#: the largest session buffer believed when the log header's BufferSize is missing or absurd
MAX_SESSION_BUFFER = 1 << 26
#: inflated bytes per compressed byte beyond which a buffer is refused; LZ77 with an 8 KiB
#: window cannot reach it on records whose timestamps differ
MAX_INFLATE_RATIO = 1024
#: index rows per compressed byte of a buffer (the samples: at most 0.16)
RECORDS_PER_COMPRESSED_BYTE = 1
#: records any compressed buffer may hold, however small (a header plus a few tiny events)
MIN_RECORD_ALLOWANCE = 64


def session_limit(declared: int) -> int:
    """The most bytes a buffer of this session can fill, from the log header's BufferSize."""
    return declared if HEADER < declared <= MAX_SESSION_BUFFER else MAX_SESSION_BUFFER


def refusal(info: BufferInfo, limit: int) -> str | None:
    """Why the compressed buffer ``info`` is not inflated (None when its claims are plausible);
    ``limit`` is ``session_limit`` of the file's log header."""
    if not info.compressed:
        return None
    packed = max(0, min(info.disk_size, info.filled) - HEADER)
    inflated = info.filled - HEADER
    if info.filled > limit:
        return (f"claims to inflate to {info.filled} bytes, more than the {limit}-byte buffers the "
                "log header declares")
    if inflated > max(packed, 1) * MAX_INFLATE_RATIO:
        return (f"claims to inflate {packed} compressed bytes to {inflated} (more than "
                f"{MAX_INFLATE_RATIO}x, which real buffers never reach)")
    return None


def max_records(info: BufferInfo) -> int | None:
    """How many records the buffer may hold (None: no limit beyond its bytes, when uncompressed)."""
    if not info.compressed:
        return None
    packed = max(0, min(info.disk_size, info.filled) - HEADER)
    return MIN_RECORD_ALLOWANCE + packed * RECORDS_PER_COMPRESSED_BYTE
