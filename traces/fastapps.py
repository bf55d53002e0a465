"""Vectorised classification of what TCP and UDP carry, for the index (see fastclassify.py).

The dissectors decide the application protocol by port (the lower well-known port first, as
``udp.by_port`` does) and, for TCP payload no port claims, by a payload-prefix test (HTTP).  The
index needs only the presence bits and the Protocol Name, and for the protocols here those
follow from the port and the first bytes of the payload, so a batch is classified with array
operations instead of dissecting each frame in Python.  Each rule mirrors its dissector:

* an HTTP port, a TLS port: any payload is that protocol (a message, or the data of one);
* NetBIOS session service (139, 445): an NbtSS header, then SMB2 or SMB by the magic after it;
  a segment that holds a second message goes to the scalar path;
* no port: HTTP when the payload starts with one of ``http.PREFIXES``;
* UDP DNS-format protocols (DNS, mDNS, LLMNR, NBTNS): the 12-byte header must be there.

A port whose dissector has no rule here (someone registered another one) sends its rows to
the scalar path, which defines the result; ``tests/test_classify.py`` checks both agree.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .dissect import core as _core
from .dissect import dns as _dns
from .dissect import http as _http
from .dissect import nbns as _nbns
from .dissect import smb as _smb
from .dissect import tls as _tls
from .gather import Gather
from .protocols import CODE, MASK

#: TCP dissector → the protocol any non-empty payload on its port is
_TCP_WHOLE: dict[Callable[..., None], str] = {_http.dissect_http: "HTTP", _tls.dissect_tls: "TLS"}
#: UDP dissector → its DNS-format protocol
_UDP_DNS: dict[Callable[..., None], str] = {_dns.dissect_dns: "DNS", _dns.dissect_llmnr: "LLMNR",
                                            _nbns.dissect_nbtns: "NBTNS"}
_NBSS_TYPES = np.array(sorted(_nbns.SS_TYPE.enum or {}), dtype=np.int64)
_SESSION_DISSECTORS = {"SMB": _smb.dissect_smb, "SMB2": _smb.smb2.dissect_smb2}


def _app_port(sport: np.ndarray, dport: np.ndarray, table: dict[int, object]) -> np.ndarray:
    """The port whose dissector ``by_port`` runs (lower port first), or -1."""
    ports = np.array(sorted(table), dtype=np.int64)
    lo, hi = np.minimum(sport, dport), np.maximum(sport, dport)
    return np.where(np.isin(lo, ports), lo, np.where(np.isin(hi, ports), hi, -1))


def tcp(v: Gather, sport: np.ndarray, dport: np.ndarray, pl: np.ndarray,
        plen: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(presence bits, Protocol Name code or -1 for plain TCP, rows for the scalar path) of TCP rows
    whose payload is ``plen`` bytes at ``pl``."""
    n = len(sport)
    bits = np.zeros(n, dtype=np.uint64)
    top = np.full(n, -1, dtype=np.int64)
    fallback = np.zeros(n, dtype=bool)
    has = plen > 0
    app = _app_port(sport, dport, _core.TCP_PORTS)
    for port in np.unique(app[has & (app >= 0)]).tolist():
        rows = np.flatnonzero(has & (app == port))
        fn = _core.TCP_PORTS[port]
        name = _TCP_WHOLE.get(fn)
        if name is not None:
            bits[rows] |= np.uint64(MASK[name])
            top[rows] = CODE[name]
        elif fn is _nbns.dissect_nbtss:
            _nbtss(v, rows, pl, plen, bits, top, fallback)
        else:
            fallback[rows] = True
    rest = np.flatnonzero(has & (app < 0))
    if len(rest):
        _heuristics(v, rest, pl, plen, bits, top, fallback)
    return bits, top, fallback


def _heuristics(v: Gather, rows: np.ndarray, pl: np.ndarray, plen: np.ndarray, bits: np.ndarray,
                top: np.ndarray, fallback: np.ndarray) -> None:
    known = [(test, fn) for test, fn in _core.TCP_HEURISTICS if test is _http.starts_message]
    if len(known) != len(_core.TCP_HEURISTICS):  # a test we cannot make here: let the dissectors decide
        fallback[rows] = True
        return
    if not known:
        return
    width = max(len(p) for p in _http.PREFIXES)
    cand = rows[plen[rows] >= min(len(p) for p in _http.PREFIXES)]
    if not len(cand):
        return
    head = np.stack([v.read(pl[cand] + k, "u1") for k in range(width)], axis=1)
    avail = plen[cand]
    hit = np.zeros(len(cand), dtype=bool)
    for p in _http.PREFIXES:
        want = np.frombuffer(p, dtype=np.uint8).astype(np.int64)
        hit |= (avail >= len(p)) & np.all(head[:, : len(p)] == want, axis=1)
    h = cand[hit]
    bits[h] |= np.uint64(MASK["HTTP"])
    top[h] = CODE["HTTP"]


def _nbtss(v: Gather, rows: np.ndarray, pl: np.ndarray, plen: np.ndarray, bits: np.ndarray, top: np.ndarray,
           fallback: np.ndarray) -> None:
    """``nbns.dissect_nbtss``: a valid header or a continuation; what the first message carries."""
    bits[rows] |= np.uint64(MASK["NbtSS"])
    top[rows] = CODE["NbtSS"]
    p, n = pl[rows], plen[rows]
    kind, flags = v.read(p, "u1"), v.read(p + 1, "u1")
    valid = (n >= 4) & np.isin(kind, _NBSS_TYPES) & ((flags & 0xFE) == 0)
    length = ((flags & 1) << 16) | v.be16(p + 2)
    # a second message in the segment: the scalar path reads the chain
    fallback[rows[valid & (length > 0) & (4 + length < n)]] = True
    body = np.minimum(length, n - 4)
    carried = valid & (kind == 0) & (body >= 4)
    magic = v.be32(p + 4)
    for key, fn in _nbns.SESSION_PAYLOADS.items():
        m = rows[carried & (magic == int.from_bytes(key, "big"))]
        name = _smb.SESSION_PROTOCOLS.get(key)
        if name is None or _SESSION_DISSECTORS.get(name) is not fn:  # not ours: the dissectors decide
            fallback[m] = True
            continue
        bits[m] |= np.uint64(MASK[name])
        top[m] = CODE[name]


def udp(v: Gather, sport: np.ndarray, dport: np.ndarray, plen: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """As ``tcp`` for UDP rows (the payload's first bytes are not needed by any rule yet)."""
    n = len(sport)
    bits = np.zeros(n, dtype=np.uint64)
    top = np.full(n, -1, dtype=np.int64)
    fallback = np.zeros(n, dtype=bool)
    app = _app_port(sport, dport, _core.UDP_PORTS)
    has = plen > 0
    for port in np.unique(app[has & (app >= 0)]).tolist():
        rows = np.flatnonzero(has & (app == port))
        name = _UDP_DNS.get(_core.UDP_PORTS[port])
        if name is None:
            fallback[rows] = True
            continue
        # a header there in full, or the dissector decides what a stub is
        full = plen[rows] >= _DNS_HEADER
        fallback[rows[~full]] = True
        ok = rows[full]
        bits[ok] |= np.uint64(MASK[name])
        top[ok] = CODE[name]
    return bits, top, fallback


_DNS_HEADER = 12
