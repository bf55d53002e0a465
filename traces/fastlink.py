"""Vectorised classification of 802.1X (EAPOL/EAP), LLDP, ESP and AH for the index (see fastclassify.py).

Each rule mirrors its dissector (``dissect/eapol.py``, ``lldp.py``, ``ipsec.py``):

* EAPOL (0x888E): always an EAPOL layer; an EAP layer too when the type is EAP-Packet and some of
  its body was captured (nothing above EAP is ever a layer);
* LLDP (0x88CC): always one LLDP layer;
* ESP (IP protocol 50): one ESP layer when its 8-byte header is there (a shorter one goes to the
  scalar path);
* AH (IP protocol 51, after IPv4): the AH layer, then whatever its Next Header is, read from the
  end of AH as after IPv4; an AH cut short or a second AH goes to the scalar path.  After IPv6, AH
  is an extension header of the IPv6 layer, which the scalar path reads.

A dispatch-table entry someone replaced sends its rows to the scalar path, which defines the result.
"""

from __future__ import annotations

import numpy as np

from .dissect import core as _core
from .dissect import eapol as _eapol
from .dissect import ipsec as _ipsec
from .dissect import lldp as _lldp
from .gather import Gather
from .protocols import CODE, MASK

EAPOL, EAP, LLDP, ESP, AH = (MASK[n] for n in ("EAPOL", "EAP", "LLDP", "ESP", "AH"))


def ether_types() -> list[int]:
    """The EtherTypes ``ether`` decides (those still dispatched to the dissectors it mirrors)."""
    return [t for t, fn in ((0x888E, _eapol.dissect_eapol), (0x88CC, _lldp.dissect_lldp))
            if _core.ETHER_TYPES.get(t) is fn]


def ip_protocols() -> list[int]:
    """The IP protocols ``ipsec`` decides."""
    return [p for p, fn in ((50, _ipsec.dissect_esp), (51, _ipsec.dissect_ah)) if _core.IP_PROTOCOLS.get(p) is fn]


def ether(v: Gather, rows: np.ndarray, etype: np.ndarray, l3: np.ndarray, end: np.ndarray, protos: np.ndarray,
          top: np.ndarray, ok: np.ndarray) -> None:
    """Classify the EAPOL and LLDP frames among ``rows`` (whose link layer is read, EtherType at ``l3``)."""
    kinds = ether_types()
    if 0x888E in kinds:
        e = rows[etype[rows] == 0x888E]
        if len(e):
            p, stop = l3[e], end[e]
            body = np.minimum(stop, p + 4 + v.be16(p + 2)) - (p + 4)
            eap = (stop - p >= 4) & (v.read(p + 1, "u1") == 0) & (body > 0)
            protos[e] |= np.where(eap, np.uint64(EAPOL | EAP), np.uint64(EAPOL))
            top[e] = np.where(eap, CODE["EAP"], CODE["EAPOL"])
            ok[e] = True
    if 0x88CC in kinds:
        e = rows[etype[rows] == 0x88CC]
        protos[e] |= np.uint64(LLDP)
        top[e] = CODE["LLDP"]
        ok[e] = True


def ipsec(v: Gather, family: np.ndarray, proto: np.ndarray, l4: np.ndarray, l4end: np.ndarray, protos: np.ndarray,
          top: np.ndarray, ok: np.ndarray, fallback: np.ndarray) -> None:
    """ESP and AH rows among the IP rows not yet sent to the scalar path.  AH rows leave with
    ``proto``/``l4`` moved past AH, for the transport rules to go on from there."""
    handled = ip_protocols()
    live = (family > 0) & ~fallback
    if 51 in handled:
        fallback |= live & (family == 6) & (proto == 51)  # an IPv6 extension header: the IPv6 layer reads it
        a = np.flatnonzero(live & (family == 4) & (proto == 51))
        if len(a):
            size = (v.read(l4[a] + 1, "u1") + 2) * 4
            good = (l4end[a] - l4[a] >= 12) & (l4[a] + size <= l4end[a])
            fallback[a[~good]] = True
            a, size = a[good], size[good]
            protos[a] |= np.uint64(AH)
            top[a] = CODE["AH"]
            proto[a] = v.read(l4[a], "u1")
            l4[a] += size
            # AH in AH, or nothing after AH (the next dissector still runs, on no bytes): the dissectors
            fallback[a[(proto[a] == 51) | (l4[a] >= l4end[a])]] = True
    if 50 in handled:
        e = np.flatnonzero(live & ~fallback & (proto == 50))
        if len(e):
            good = l4end[e] - l4[e] >= 8
            fallback[e[~good]] = True
            e = e[good]
            protos[e] |= np.uint64(ESP)
            top[e] = CODE["ESP"]
            ok[e] = True
