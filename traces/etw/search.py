"""``contains "…"`` over an ETL trace's events without decoding them one by one.

An event's ``FrameData`` is its record's bytes, or, for a packet event, the packet inside the
record.  The records are read in chunks (``bulk.record_chunks``: buffers inflated once each, in
C where it is built) and each chunk searched at once (``bytesearch.rows_holding``).  What that
decides:

* an event that is not a packet: its record is its ``FrameData``, so the search is the answer;
* a packet event whose record lacks the needle: its packet, a slice of the record, lacks it too;
* a packet event whose record holds it, a packet assembled from several events, an 802.11 packet
  (whose Protected bit is cleared, as ndiscap logs decrypted frames), a record the bulk read
  could not take: the decoder decides, as before.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..bytesearch import rows_holding
from ..index import KIND_PACKET
from .bulk import record_chunks

LINK_80211 = 105


def records_holding(reader: Any, rows: np.ndarray, needles: list[bytes], ignore_case: bool,
                    native: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(value, known) per row of ``rows``: whether its ``FrameData`` holds any of ``needles``,
    and where that is decided (elsewhere the caller decodes the frame)."""
    trace = reader.trace
    idx = trace.index
    rows = np.asarray(rows, dtype=np.int64)
    n = len(rows)
    packet = (idx.column("kind")[rows] & KIND_PACKET) != 0
    wifi_ifaces = [k for k, iface in enumerate(trace.interfaces) if getattr(iface, "link_type", None) == LINK_80211]
    wifi = packet & np.isin(idx.column("iface")[rows], wifi_ifaces) if wifi_ifaces else np.zeros(n, dtype=bool)
    flipped = _protected_variants(needles)
    hit = np.zeros(n, dtype=bool)
    known = np.ones(n, dtype=bool)
    for ch in record_chunks(reader, rows, native=native):
        blob = ch.blob.tobytes()
        found = rows_holding(blob, ch.start, ch.length, needles, ignore_case)
        if found is None:  # (never, as record_chunks lays records out; the answer stays right if so)
            known[ch.sel] = False
            continue
        hit[ch.sel] = found
        known[ch.sel[ch.bad]] = False
        if flipped and wifi[ch.sel].any():
            near = rows_holding(blob, ch.start, ch.length, flipped, ignore_case)
            known[ch.sel[wifi[ch.sel] & (near if near is not None else True)]] = False
    if packet.any():
        known &= ~(packet & hit)  # the needle may lie in the record's header, not its packet
        if reader.multi:
            loc = idx.column("loc")[rows].astype(np.uint64)
            known &= ~(packet & np.isin(loc, np.fromiter(reader.multi, dtype=np.uint64, count=len(reader.multi))))
    return hit & known, known


def _protected_variants(needles: list[bytes]) -> list[bytes]:
    """An 802.11 packet is its record's bytes with the Protected bit (0x40 of byte 1) cleared.  A
    needle found in such a packet but not in its record covers that byte with a byte lacking 0x40,
    which the record holds with 0x40 set: so a record holding none of these variants (each needle
    with one such byte's 0x40 set) has a packet holding none of the needles.  (In any letter
    case too: letters all have 0x40 set, so the byte is not a letter, and lowering keeps it.)"""
    return [n[:j] + bytes([n[j] | 0x40]) + n[j + 1 :] for n in needles for j in range(len(n)) if not n[j] & 0x40]
