"""Tunnel headers for the vectorised classifier (see fastclassify.py and tunnels.py).

For UDP rows on a VXLAN or Geneve port and IP protocol 47 rows, these read the tunnel header
with array operations and say where the tenant's Ethernet frame starts, so that ``fastclassify``
runs its layer walk again there.  Each rule mirrors its dissector; anything the dissector would
treat otherwise (a short header, Geneve version ≠ 0 or a payload other than Ethernet, GRE that is
not NVGRE) goes to the scalar path, which defines the result:

* VXLAN (``vxlan.dissect_vxlan``): 8 bytes, the VNI in bytes 4–6, Ethernet after;
* Geneve (``geneve.dissect_geneve``): version 0, options within the datagram, protocol 0x6558;
* NVGRE (``gre.dissect_gre``): version 0, key present, protocol 0x6558; the key's upper 24 bits
  are the VSID; checksum/routing and sequence words before and after the key are skipped.

The UDP port choice is ``udp.by_port``'s: the lower port's dissector if it has one, else the
higher's, and an empty payload goes to none.
"""

from __future__ import annotations

import numpy as np

from .dissect import core as _core
from .dissect import ethernet as _ethernet
from .dissect import geneve as _geneve
from .dissect import gre as _gre
from .dissect import vxlan as _vxlan
from .gather import Gather
from .protocols import CODE, MASK

VXLAN, GENEVE, NVGRE = CODE["VXLAN"], CODE["Geneve"], CODE["NVGRE"]
#: presence bits of each tunnel's own layers (NVGRE is carried by a GRE layer)
BITS = {VXLAN: MASK["VXLAN"], GENEVE: MASK["Geneve"], NVGRE: MASK["NVGRE"] | MASK["GRE"]}
_UDP_DISSECTORS = {_vxlan.dissect_vxlan: VXLAN, _geneve.dissect_geneve: GENEVE}
_tables: dict[tuple[tuple[int, int], ...], tuple[np.ndarray, np.ndarray]] = {}


def _udp_table() -> tuple[np.ndarray, np.ndarray]:
    """(port → tunnel code or 0, port → a dissector claims it), rebuilt when the table changes."""
    table = _core.UDP_PORTS
    key = tuple(sorted((p, id(fn)) for p, fn in table.items()))
    got = _tables.get(key)
    if got is None:
        code = np.zeros(65536, dtype=np.int64)
        claimed = np.zeros(65536, dtype=bool)
        for port, fn in table.items():
            claimed[port] = True
            code[port] = _UDP_DISSECTORS.get(fn, 0)
        _tables.clear()
        got = _tables[key] = (code, claimed)
    return got


def udp_tunnels(sport: np.ndarray, dport: np.ndarray, plen: np.ndarray) -> np.ndarray:
    """Per UDP row, the tunnel code its payload goes to (0: none)."""
    code, claimed = _udp_table()
    lo, hi = np.minimum(sport, dport), np.maximum(sport, dport)
    out = np.where(claimed[lo], code[lo], code[hi])
    out[plen <= 0] = 0
    return out


def gre_handled() -> bool:
    """Whether IP protocol 47 is still the GRE dissector that hands NVGRE on (else: scalar)."""
    return _core.IP_PROTOCOLS.get(47) is _gre.dissect_gre


def _bridged_ethernet() -> bool:
    """Whether Geneve's payload type 0x6558 still goes to the Ethernet dissector."""
    return _core.ETHER_TYPES.get(_geneve.TRANSPARENT_ETHERNET) is _ethernet.dissect_ethernet


def header(v: Gather, code: np.ndarray, at: np.ndarray, end: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(readable, network id, tenant frame offset) of the tunnel header of kind ``code`` at ``at``
    (the UDP payload, or the GRE header for NVGRE), ``end`` the end of its bytes."""
    n = len(code)
    ok = np.zeros(n, dtype=bool)
    vni = np.zeros(n, dtype=np.int64)
    inner = np.zeros(n, dtype=np.int64)
    avail = end - at
    x = np.flatnonzero(code == VXLAN)
    if len(x):
        good = avail[x] >= 8
        x = x[good]
        ok[x] = True
        vni[x] = v.be32(at[x] + 4) >> 8
        inner[x] = at[x] + 8
    g = np.flatnonzero(code == GENEVE)
    if len(g) and _bridged_ethernet():
        first = np.where(avail[g] >= 1, v.read(at[g], "u1"), 0)
        size = _geneve.HEADER + 4 * (first & 0x3F)
        good = (avail[g] >= _geneve.HEADER) & ((first >> 6) == 0) & (size <= avail[g])
        g, size = g[good], size[good]
        good = v.be16(at[g] + 2) == _geneve.TRANSPARENT_ETHERNET
        g, size = g[good], size[good]
        ok[g] = True
        vni[g] = v.be32(at[g] + 4) >> 8
        inner[g] = at[g] + size
    r = np.flatnonzero(code == NVGRE)
    if len(r):
        flags = np.where(avail[r] >= 4, v.be16(at[r]), 0)
        c_or_r = ((flags >> 15) | (flags >> 14)) & 1
        k, s = (flags >> 13) & 1, (flags >> 12) & 1
        size = 4 + 4 * c_or_r + 4 * k + 4 * s
        good = (avail[r] >= 4) & ((flags & 7) == 0) & (k == 1) & (size <= avail[r])
        good &= v.be16(at[r] + 2) == 0x6558
        r, c_or_r, size = r[good], c_or_r[good], size[good]
        ok[r] = True
        vni[r] = v.be32(at[r] + 4 + 4 * c_or_r) >> 8
        inner[r] = at[r] + size
    return ok, vni, inner
