"""Per-frame layer offsets: where L3, L4 and the application payload start in a frame's bytes.

The vectorised classifier (``fastclassify.py``) walks the link, VLAN, IPv4/IPv6 and TCP/UDP/ICMP
headers of the common frames in arrays anyway; it hands the offsets it found here, and the index
keeps them as one byte per frame: a code into the trace's table of distinct (L3, L4, payload)
triples (``Trace.layouts``; a trace has a few dozen: link headers × IP header lengths × TCP
header lengths).  Field columns (``fixedcols.py``) turn a field at a fixed position inside its
layer into one gather over the frames carrying that layer.

The general path (``packets.scalar_rows``) gives the offsets of the layers whose fixed fields
the dissector put where ``fixedfields.FIXED`` says.  Code 0 means "not known": frames with more
than one instance of a layer (tunnels, ICMP errors), layers cut short or unusual, packets an ETW
trace assembled from several events, and every layout past the 255th.  Offsets are relative to
the start of the row's bytes: the packet (``loc`` in a pcap, the packet data of a pcapng block
or Netmon record) or, for an ETW packet event, its event record (``shift``).  ``NONE`` marks a
layer the frame does not have.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .keytable import KeyCache, cached_ids
from .protocols import FLAGS, MASK

if TYPE_CHECKING:
    from .trace import Trace

#: a layer the frame does not have (table entries are uint16)
NONE = 0xFFFF
#: table entries beyond this get code 0 (the column is one byte)
MAX_LAYOUTS = 255
#: the table's first entry: code 0, "not known"
UNKNOWN = (NONE, NONE, NONE)


def codes(trace: Trace, l3: np.ndarray, l4: np.ndarray, pay: np.ndarray, protos: np.ndarray) -> np.ndarray:
    """Layout codes for rows whose offsets (from the packet start; negative or ``NONE``: no such
    layer) the classifier found, with their presence masks: a frame that may hold a second
    instance of a layer (``multi_instance``) gets 0.  Triples seen before are one table lookup a
    row (``keytable``); one Python step per new distinct triple."""
    n = len(l3)
    if n == 0:
        return np.zeros(0, dtype=np.uint8)
    packed = (_clipped(l3) << np.uint64(32)) | (_clipped(l4) << np.uint64(16)) | _clipped(pay)
    table = trace.layouts
    known = trace.__dict__.setdefault("_layout_codes", {})
    seen = trace.__dict__.get("_layout_keys")
    if len(known) != len(table) or seen is None or seen[0] is not table:  # new, or the table was replaced
        known.clear()
        known.update({t: c for c, t in enumerate(table)})
        seen = trace.__dict__["_layout_keys"] = (table, KeyCache())

    def make(new: np.ndarray, _rows: np.ndarray) -> np.ndarray:
        out = np.zeros(len(new), dtype=np.int64)
        for j, key in enumerate(new.tolist()):
            t = (key >> 32, (key >> 16) & 0xFFFF, key & 0xFFFF)
            code = known.get(t)
            if code is None:
                if len(table) > MAX_LAYOUTS:
                    continue  # full (for good: the table only grows): 0, the frame is decoded for such a field
                code = known[t] = len(table)
                table.append(t)
            out[j] = code
        return out

    got = cached_ids(seen[1], packed, make).astype(np.uint8)
    got[multi_instance(protos)] = 0
    return got


#: protocols whose presence means a frame may carry a second IP / TCP / UDP header (an ICMP error
#: quotes the offending packet; a tunnel carries an inner frame), and flags saying the same
MULTI_INSTANCE = ("ICMP", "ICMPv6", "GRE", "MPLS", "IPinIP", "Nested", "VXLAN", "NVGRE", "Geneve")
_MULTI_BITS = 0
for _name in MULTI_INSTANCE:
    _MULTI_BITS |= MASK[_name] if _name in MASK else FLAGS[_name]
_V4V6 = MASK["IPv4"] | MASK["IPv6"]
_TCPUDP = MASK["TCP"] | MASK["UDP"]
_ICMP = MASK["ICMP"] | MASK["ICMPv6"]


def multi_instance(protos: np.ndarray) -> np.ndarray:
    """Rows whose presence mask allows a second instance of an IP, TCP, UDP or ICMP header.

    ICMP itself is one header: a frame carrying it is multi-instance only with another IP layer
    inside, which the index flags as ``IPinIP`` (the vectorised classifier takes no ICMP error)."""
    p = np.asarray(protos, dtype=np.uint64)
    out = (p & np.uint64(_MULTI_BITS & ~_ICMP)) != 0
    out |= (p & np.uint64(_V4V6)) == np.uint64(_V4V6)
    out |= (p & np.uint64(_TCPUDP)) == np.uint64(_TCPUDP)
    return out


def shift(trace: Trace, code: np.ndarray, delta: np.ndarray) -> np.ndarray:
    """Codes of the same layouts moved by ``delta`` bytes (an ETW packet's offset in its record)."""
    table = table_array(trace)
    code = np.asarray(code, dtype=np.intp)
    trip = table[np.where(code < len(table), code, 0)]
    moved = np.where(trip == NONE, -1, trip + np.asarray(delta, dtype=np.int64)[:, None])
    out = codes(trace, moved[:, 0], moved[:, 1], moved[:, 2], np.zeros(len(code), dtype=np.uint64))
    out[code == 0] = 0
    return out


def _clipped(a: np.ndarray) -> np.ndarray:
    """Offsets as table entries (uint64): ``NONE`` for a negative one (read as unsigned, it is
    past ``NONE``) and for one past the 16 bits."""
    return np.minimum(np.asarray(a, dtype=np.int64).astype(np.uint64), np.uint64(NONE))


def table_array(trace: Trace) -> np.ndarray:
    """``Trace.layouts`` as an (n, 3) int64 array (``NONE`` where a layer is missing)."""
    return np.array(trace.layouts or [UNKNOWN], dtype=np.int64).reshape(-1, 3)
