"""Vectorised classification of the common packet shapes (see classify.py).

Handles, with NumPy array operations over a whole batch: Ethernet II (with stacked VLAN tags),
raw IP and Linux SLL/SLL2 link layers → ARP, or IPv4 (unfragmented, no tunnels) / IPv6 (no
extension headers) → TCP, UDP (and what they carry, by port or payload prefix: ``fastapps``),
ICMP and ICMPv6 messages that carry no embedded packet; and VXLAN, Geneve and NVGRE frames, whose
tenant frame goes through the same walk again (``fasttunnels`` reads the tunnel headers; how such a
frame is indexed: ``tunnels.py``).  Everything else — and every frame where a dissector would have to decide something
about truncation or an unusual header — is returned to the caller for the scalar path, which
defines the result.  The dispatch tables are consulted so that a port or protocol a dissector
claims is never classified here behind its back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from . import fastapps, fastlink, layeroffs
from . import fasttunnels as _tunnels
from . import tunnels as _tunnel_table
from .dissect import core as _core
from .gather import Gather, rows_at
from .index import DIR_ETH_REVERSED, DIR_IP_REVERSED, DIR_L4_REVERSED, OUTER_SHIFT
from .keytable import KeyCache, KeyTable, cached_ids, unique_first
from .protocols import CODE, MASK

try:  # the layer walk in C (``_scan.c``), built at install time when a compiler is there
    from ._scan import walk_headers as _native_walk
except ImportError:  # pragma: no cover - exercised where no compiler was available
    _native_walk = None

if TYPE_CHECKING:
    from .trace import Trace

ETH, VLAN, SLL, ARP, IPV4, IPV6 = (MASK[n] for n in ("Ethernet", "VLAN", "SLL", "ARP", "IPv4", "IPv6"))
TCP, UDP, ICMP, ICMPV6 = (MASK[n] for n in ("TCP", "UDP", "ICMP", "ICMPv6"))
VLAN_TPIDS = (0x8100, 0x88A8, 0x9100)
# ICMP types whose body embeds the offending packet: the scalar dissector shows it as layers
ICMP_EMBEDDING = (3, 4, 5, 11, 12)
ICMPV6_EMBEDDING = (1, 2, 3, 4)


class _View(Gather):
    """Big-endian network fields at per-row positions (bounds are checked by the caller)."""

    def b(self, pos: np.ndarray) -> np.ndarray:
        return self.read(pos, "u1")

    def bytes16(self, pos: np.ndarray) -> np.ndarray:
        idx = np.clip(pos[:, None] + np.arange(16), 0, self.size - 1)
        return self.u8[idx]

    def block(self, pos: np.ndarray, width: int) -> np.ndarray:
        """The ``width`` bytes at each position (rows × width): one gather for a whole header, where
        reading its fields one by one takes a gather per byte.  A position too close to the end of
        the buffer is moved back (the caller's bounds checks reject such rows)."""
        return rows_at(self.u8, pos, width)


def _be(cols: np.ndarray) -> np.ndarray:
    """Big-endian integers (int64) from rows of up to 8 bytes."""
    n, k = cols.shape
    wide = np.zeros((n, 8), dtype=np.uint8)
    wide[:, 8 - k :] = cols
    return wide.view(">u8").ravel().astype(np.int64)


def classify(trace: Trace, u8: np.ndarray, batch: dict[str, np.ndarray], links: np.ndarray,
             rows: np.ndarray, offs: np.ndarray) -> np.ndarray:
    """Classify what array operations can decide; return the rows left for the scalar path."""
    if len(rows) == 0 or len(u8) == 0:
        return rows
    v = _View(u8)
    o = offs[rows]
    end = o + batch["length"][rows].astype(np.int64)
    w = _walk(v, o, end, links[rows], tunnels=True)
    n = len(rows)
    tun = _Tenant.of(v, w)
    if tun is not None:
        w.fallback[tun.rows[~tun.done]] = True
    done = w.ok & ~w.fallback
    if not done.any():
        return rows
    d = np.flatnonzero(done)
    out = rows[d]
    conv = _Conversations.zeros(n)
    if tun is not None:
        td = tun.rows[tun.done]  # rows of ``w`` that are tunnel frames seen through
        plain = d[~np.isin(d, td)]
    else:
        td, plain = d[:0], d
    if not _conversations(trace, w, plain, conv, None):
        return rows
    if len(td):
        # the outer conversations, then the tunnel entries, then the tenant's under them
        outer = _Conversations.zeros(n)
        if not _conversations(trace, w, td, outer, None):
            return rows
        assert tun is not None
        t = tun.rows_done
        tids = _intern_tunnels(trace, tun.code[t], tun.vni[t], outer.eth[td], outer.ip[td], outer.l4[td])
        networks = (tun.code[t] << 24) | tun.vni[t]  # tunnels.network_key
        inner = _Conversations.zeros(len(tun.rows))
        if not _conversations(trace, tun.inner, t, inner, (tids, networks)):
            return rows
        conv.eth[td], conv.ip[td], conv.l4[td] = inner.eth[t], inner.ip[t], inner.l4[t]
        conv.dirflags[td] = inner.dirflags[t] | (outer.dirflags[td] << OUTER_SHIFT)
        w.protos[td] |= tun.inner.protos[t] | tun.bits[t]
        w.top[td] = tun.inner.top[t]
        w.tcpflags[td] = tun.inner.tcpflags[t]

    batch["protos"][out] = w.protos[d]
    batch["top"][out] = w.top[d]
    batch["tcpflags"][out] = w.tcpflags[d]
    batch["dirflags"][out] |= conv.dirflags[d].astype(np.uint8)
    batch["eth_conv"][out] = conv.eth[d]
    batch["ip_conv"][out] = conv.ip[d]
    batch["l4_conv"][out] = conv.l4[d]
    # layer offsets of plain frames (a tunnel frame holds two of each layer: its fields decode)
    layout = np.zeros(len(d), dtype=np.uint8)
    if len(plain):
        at = np.searchsorted(d, plain)
        layout[at] = layeroffs.codes(trace, w.l3[plain] - o[plain], np.where(w.l4[plain] >= 0, w.l4[plain] - o[plain], -1),
                                     np.where(w.pay[plain] >= 0, w.pay[plain] - o[plain], -1), w.protos[plain])
    batch["layout"][out] = layout
    return rows[~done]


@dataclass(slots=True)
class _Walk:
    """What the layer walk read, per row (``fallback``: the scalar path decides the row)."""

    ok: np.ndarray
    fallback: np.ndarray
    protos: np.ndarray
    top: np.ndarray
    is_eth: np.ndarray
    eth_src: np.ndarray
    eth_dst: np.ndarray
    family: np.ndarray
    ip_src4: np.ndarray
    ip_dst4: np.ndarray
    src6: np.ndarray | None
    dst6: np.ndarray | None
    proto: np.ndarray
    sport: np.ndarray
    dport: np.ndarray
    tcpflags: np.ndarray
    #: where the network layer, the transport layer and the application payload start (-1: none)
    l3: np.ndarray
    l4: np.ndarray
    pay: np.ndarray
    #: tunnel rows (``tunnels=True`` only): the tunnel's code, where its header starts and ends
    tunnel: np.ndarray
    tunnel_at: np.ndarray
    tunnel_end: np.ndarray


def _walk_numpy(v: _View, o: np.ndarray, end: np.ndarray, link: np.ndarray, *, tunnels: bool) -> _Walk:
    """The layer walk over frames at ``o:end`` on ``link``: link layer, IP, transport, apps.
    With ``tunnels``, VXLAN/Geneve/NVGRE rows are left for ``_Tenant`` instead of the scalar path.
    (``_walk`` runs the plain shapes in C and only the rest here; this is the reference.)"""
    n = len(o)
    ok = np.zeros(n, dtype=bool)  # rows this pass has decided
    fallback = np.zeros(n, dtype=bool)
    protos = np.zeros(n, dtype=np.uint64)
    etype = np.full(n, -1, dtype=np.int64)
    l3 = np.zeros(n, dtype=np.int64)
    tunnel = np.zeros(n, dtype=np.int64)
    tunnel_at = np.zeros(n, dtype=np.int64)

    # -- link layers -----------------------------------------------------------------------
    is_eth = (link == _core.LINKTYPE_ETHERNET) & (end - o >= 14)
    eth_src = np.zeros(n, dtype=np.int64)
    eth_dst = np.zeros(n, dtype=np.int64)
    if is_eth.any():
        e = np.flatnonzero(is_eth)
        hdr = v.block(o[e], 14)
        eth_dst[e] = _be(hdr[:, 0:6])
        eth_src[e] = _be(hdr[:, 6:12])
        etype[e] = _be(hdr[:, 12:14])
        l3[e] = o[e] + 14
        protos[e] |= np.uint64(ETH)
        for _ in range(3):  # stacked VLAN tags
            tagged = is_eth & np.isin(etype, VLAN_TPIDS)
            if not tagged.any():
                break
            t = np.flatnonzero(tagged)
            short = l3[t] + 4 > end[t]
            fallback[t[short]] = True
            t = t[~short]
            protos[t] |= np.uint64(VLAN)
            etype[t] = v.be16(l3[t] + 2)
            l3[t] += 4
        fallback |= is_eth & np.isin(etype, VLAN_TPIDS)  # deeper stacks
    raw = np.isin(link, (_core.LINKTYPE_RAW, _core.LINKTYPE_RAW_12, _core.LINKTYPE_RAW_14)) & (end > o)
    if raw.any():
        r = np.flatnonzero(raw)
        ver = v.b(o[r]) >> 4
        etype[r] = np.where(ver == 4, 0x0800, np.where(ver == 6, 0x86DD, -1))
        l3[r] = o[r]
    known_link = is_eth | raw  # rows whose link header this pass has read
    for lt, et in ((_core.LINKTYPE_IPV4, 0x0800), (_core.LINKTYPE_IPV6, 0x86DD)):
        m = (link == lt) & (end > o)
        etype[m] = et
        l3[m] = o[m]
        known_link |= m
    for lt, hdr, at in ((_core.LINKTYPE_LINUX_SLL, 16, 14), (_core.LINKTYPE_LINUX_SLL2, 20, 0)):
        m = (link == lt) & (end - o >= hdr)
        known_link |= m
        if m.any():
            s = np.flatnonzero(m)
            etype[s] = v.be16(o[s] + at)
            l3[s] = o[s] + hdr
            protos[s] |= np.uint64(SLL)
    fallback |= ~known_link
    # only EtherTypes this pass understands, and only when no one re-registered them
    handled_types = [t for t in (0x0800, 0x86DD, 0x0806) if t in _core.ETHER_TYPES] + fastlink.ether_types()
    fallback |= ~np.isin(etype, handled_types)

    # the Protocol Name so far: the innermost link layer read
    top = np.select([(protos & np.uint64(bit)) != 0 for bit in (SLL, VLAN, ETH)],
                    [CODE["SLL"], CODE["VLAN"], CODE["Ethernet"]], 0).astype(np.int64)

    # -- ARP ---------------------------------------------------------------------------------
    arp = ~fallback & (etype == 0x0806)
    if arp.any():
        a = np.flatnonzero(arp)
        good = (l3[a] + 28 <= end[a]) & (v.be16(l3[a]) == 1) & (v.be16(l3[a] + 2) == 0x0800) & \
               (v.b(l3[a] + 4) == 6) & (v.b(l3[a] + 5) == 4)
        fallback[a[~good]] = True
        a = a[good]
        protos[a] |= np.uint64(ARP)
        top[a] = CODE["ARP"]
        ok[a] = True

    # -- EAPOL, LLDP --------------------------------------------------------------------------------
    fastlink.ether(v, np.flatnonzero(~fallback), etype, l3, end, protos, top, ok)

    # -- IPv4 / IPv6 ---------------------------------------------------------------------------
    family = np.zeros(n, dtype=np.int64)
    ip_src4 = np.zeros(n, dtype=np.int64)
    ip_dst4 = np.zeros(n, dtype=np.int64)
    proto = np.full(n, -1, dtype=np.int64)
    l4 = np.zeros(n, dtype=np.int64)
    l4end = np.zeros(n, dtype=np.int64)

    v4 = ~fallback & (etype == 0x0800)
    if v4.any():
        i = np.flatnonzero(v4)
        hdr = v.block(l3[i], 20)
        first = hdr[:, 0].astype(np.int64)
        ihl = (first & 15) * 4
        tot = _be(hdr[:, 2:4])
        frag = _be(hdr[:, 6:8])
        good = ((first >> 4) == 4) & (ihl >= 20) & (l3[i] + ihl <= end[i]) & (tot >= ihl) & ((frag & 0x3FFF) == 0)
        fallback[i[~good]] = True
        i, ihl, tot, hdr = i[good], ihl[good], tot[good], hdr[good]
        family[i] = 4
        proto[i] = hdr[:, 9]
        ip_src4[i] = _be(hdr[:, 12:16])
        ip_dst4[i] = _be(hdr[:, 16:20])
        l4[i] = l3[i] + ihl
        l4end[i] = np.minimum(end[i], l3[i] + tot)
        protos[i] |= np.uint64(IPV4)
        top[i] = CODE["IPv4"]

    v6 = ~fallback & (etype == 0x86DD)
    src6 = dst6 = None
    if v6.any():
        i = np.flatnonzero(v6)
        good = (l3[i] + 40 <= end[i]) & ((v.b(l3[i]) >> 4) == 6)
        fallback[i[~good]] = True
        i = i[good]
        family[i] = 6
        proto[i] = v.b(l3[i] + 6)
        l4[i] = l3[i] + 40
        l4end[i] = np.minimum(end[i], l3[i] + 40 + v.be16(l3[i] + 4))
        protos[i] |= np.uint64(IPV6)
        top[i] = CODE["IPv6"]
        src6 = np.zeros((n, 16), dtype=np.uint8)
        dst6 = np.zeros((n, 16), dtype=np.uint8)
        src6[i] = v.bytes16(l3[i] + 8)
        dst6[i] = v.bytes16(l3[i] + 24)

    fastlink.ipsec(v, family, proto, l4, l4end, protos, top, ok, fallback)  # AH moves proto and l4 past it
    isip = family > 0
    handled_ip = [p for p in (6, 17, 1, 58) if p in _core.IP_PROTOCOLS] + fastlink.ip_protocols()
    if tunnels and _tunnels.gre_handled():
        handled_ip.append(47)
    fallback |= isip & ~np.isin(proto, handled_ip)
    # an IPv4 protocol 58 or IPv6 protocol 1 is odd: leave it to the dissectors
    fallback |= ((family == 4) & (proto == 58)) | ((family == 6) & (proto == 1))

    # -- transport -------------------------------------------------------------------------------
    sport = np.zeros(n, dtype=np.int64)
    dport = np.zeros(n, dtype=np.int64)
    tcpflags = np.zeros(n, dtype=np.int64)
    pay = np.full(n, -1, dtype=np.int64)  # where the application payload starts (layer offsets)
    live = isip & ~fallback

    t = np.flatnonzero(live & (proto == 6))
    if len(t):
        hdr = v.block(l4[t], 14)
        doff = (hdr[:, 12].astype(np.int64) >> 4) * 4
        good = (l4[t] + 20 <= l4end[t]) & (doff >= 20) & (l4[t] + doff <= l4end[t])
        fallback[t[~good]] = True
        t, doff, hdr = t[good], doff[good], hdr[good]
        sport[t] = _be(hdr[:, 0:2])
        dport[t] = _be(hdr[:, 2:4])
        tcpflags[t] = hdr[:, 13]
        pay[t] = l4[t] + doff
        bits, app_top, claimed = fastapps.tcp(v, sport[t], dport[t], l4[t] + doff, l4end[t] - l4[t] - doff)
        fallback[t[claimed]] = True
        keep = ~claimed
        t, bits, app_top = t[keep], bits[keep], app_top[keep]
        protos[t] |= np.uint64(TCP) | bits
        top[t] = np.where(app_top >= 0, app_top, CODE["TCP"])
        ok[t] = True

    u = np.flatnonzero(live & (proto == 17))
    if len(u):
        good = l4[u] + 8 <= l4end[u]
        fallback[u[~good]] = True
        u = u[good]
        sport[u] = v.be16(l4[u])
        dport[u] = v.be16(l4[u] + 2)
        pay[u] = l4[u] + 8
        if tunnels:  # VXLAN / Geneve: the tenant's frame is read by _Tenant
            code = _tunnels.udp_tunnels(sport[u], dport[u], l4end[u] - l4[u] - 8)
            tu = u[code > 0]
            tunnel[tu], tunnel_at[tu] = code[code > 0], l4[tu] + 8
            ulen = v.be16(l4[tu] + 4)  # the datagram's end, where ``dissect_udp`` stops the payload
            l4end[tu] = np.where((ulen >= 8) & (l4[tu] + ulen < l4end[tu]), l4[tu] + ulen, l4end[tu])
            protos[tu] |= np.uint64(UDP)
            ok[tu] = True
            u = u[code == 0]
        bits, app_top, claimed = fastapps.udp(v, sport[u], dport[u], l4end[u] - l4[u] - 8, l4[u] + 8)
        fallback[u[claimed]] = True
        keep = ~claimed
        u, bits, app_top = u[keep], bits[keep], app_top[keep]
        protos[u] |= np.uint64(UDP) | bits
        top[u] = np.where(app_top >= 0, app_top, CODE["UDP"])
        ok[u] = True

    for pnum, bit, name, embedding in ((1, ICMP, "ICMP", ICMP_EMBEDDING), (58, ICMPV6, "ICMPv6", ICMPV6_EMBEDDING)):
        c = np.flatnonzero(live & (proto == pnum))
        if len(c):
            good = (l4[c] + 8 <= l4end[c]) & ~np.isin(v.b(l4[c]), embedding)
            fallback[c[~good]] = True
            c = c[good]
            protos[c] |= np.uint64(bit)
            top[c] = CODE[name]
            ok[c] = True

    g = np.flatnonzero(live & (proto == 47))  # (only with ``tunnels``): NVGRE, read by _Tenant
    if len(g):
        tunnel[g], tunnel_at[g] = _tunnels.NVGRE, l4[g]
        ok[g] = True

    return _Walk(ok, fallback, protos, top, is_eth, eth_src, eth_dst, family, ip_src4, ip_dst4, src6, dst6, proto,
                 sport, dport, tcpflags, l3, np.where(family > 0, l4, -1), pay, tunnel, tunnel_at, l4end)


#: ``_scan.walk_headers``' columns, in order
WALK_COLUMNS = ("state", "linkbits", "eth_src", "eth_dst", "family", "ip_src4", "ip_dst4", "proto", "l3", "l4",
                "l4end", "sport", "dport", "tcpflags", "pay")
_S_TCP, _S_UDP, _S_ICMP, _S_ARP = 1, 2, 3, 4
_LINKTYPES = np.array([_core.LINKTYPE_ETHERNET, _core.LINKTYPE_RAW, _core.LINKTYPE_RAW_12, _core.LINKTYPE_RAW_14,
                       _core.LINKTYPE_IPV4, _core.LINKTYPE_IPV6, _core.LINKTYPE_LINUX_SLL, _core.LINKTYPE_LINUX_SLL2],
                      dtype=np.int64)
_EMBEDDING4 = sum(1 << t for t in ICMP_EMBEDDING)
_EMBEDDING6 = sum(1 << t for t in ICMPV6_EMBEDDING)


def _native_walk_applies() -> bool:
    """Whether the C walk's fixed rules are the dispatch tables' (else every row walks in NumPy)."""
    return (_native_walk is not None and all(t in _core.ETHER_TYPES for t in (0x0800, 0x86DD))
            and all(p in _core.IP_PROTOCOLS for p in (6, 17, 1, 58)))


def _walk(v: _View, o: np.ndarray, end: np.ndarray, link: np.ndarray, *, tunnels: bool) -> _Walk:
    """``_walk_numpy``'s answer: the plain shapes (IPv4/IPv6 over Ethernet, VLAN, SLL or raw IP, then
    TCP, UDP or ICMP; ARP) read by ``_scan.walk_headers`` in one pass, their applications classified in
    NumPy, and every other row (tunnels, IPsec, fragments, anything unusual) walked by
    ``_walk_numpy`` itself."""
    n = len(o)
    if not n or not _native_walk_applies() or not v.u8.flags.c_contiguous:
        return _walk_numpy(v, o, end, link, tunnels=tunnels)
    o = np.ascontiguousarray(o, dtype=np.int64)
    cols = tuple(np.zeros(n, dtype=np.int64) for _ in WALK_COLUMNS)
    out6 = np.zeros((n, 32), dtype=np.uint8)
    _native_walk(v.u8, o, np.ascontiguousarray(end, dtype=np.int64), np.ascontiguousarray(link, dtype=np.int64), cols,
                 out6, _LINKTYPES, _EMBEDDING4, _EMBEDDING6, 0x0806 in _core.ETHER_TYPES)
    col = dict(zip(WALK_COLUMNS, cols, strict=True))
    state = col["state"]
    sport, dport, l4, l4end, pay = col["sport"], col["dport"], col["l4"], col["l4end"], col["pay"]
    ok = state != 0
    fallback = np.zeros(n, dtype=bool)
    linkbits = col["linkbits"]
    family = col["family"]
    protos = np.where(linkbits & 1, np.uint64(ETH), np.uint64(0)) | np.where(linkbits & 2, np.uint64(VLAN),
                                                                            np.uint64(0))
    protos |= np.where(linkbits & 4, np.uint64(SLL), np.uint64(0))
    protos |= np.where(family == 4, np.uint64(IPV4), np.where(family == 6, np.uint64(IPV6), np.uint64(0)))
    top = np.where(family == 4, CODE["IPv4"], CODE["IPv6"]).astype(np.int64)
    a = np.flatnonzero(state == _S_ARP)
    if len(a):
        protos[a] |= np.uint64(ARP)
        top[a] = CODE["ARP"]
    tunnel = np.zeros(n, dtype=np.int64)
    t = np.flatnonzero(state == _S_TCP)
    if len(t):
        bits, app_top, claimed = fastapps.tcp(v, sport[t], dport[t], pay[t], l4end[t] - pay[t])
        fallback[t[claimed]] = True
        ok[t[claimed]] = False
        protos[t] |= np.uint64(TCP) | bits
        top[t] = np.where(app_top >= 0, app_top, CODE["TCP"])
    u = np.flatnonzero(state == _S_UDP)
    if len(u) and tunnels:  # VXLAN / Geneve: the NumPy walk hands them to _Tenant
        code = _tunnels.udp_tunnels(sport[u], dport[u], l4end[u] - l4[u] - 8)
        state[u[code > 0]] = 0
        u = u[code == 0]
    if len(u):
        bits, app_top, claimed = fastapps.udp(v, sport[u], dport[u], l4end[u] - l4[u] - 8, l4[u] + 8)
        fallback[u[claimed]] = True
        ok[u[claimed]] = False
        protos[u] |= np.uint64(UDP) | bits
        top[u] = np.where(app_top >= 0, app_top, CODE["UDP"])
    c = np.flatnonzero(state == _S_ICMP)
    if len(c):
        v4 = family[c] == 4
        protos[c] |= np.where(v4, np.uint64(ICMP), np.uint64(ICMPV6))
        top[c] = np.where(v4, CODE["ICMP"], CODE["ICMPv6"])
    six = family == 6
    w = _Walk(ok, fallback, protos, top, (linkbits & 1) != 0, col["eth_src"], col["eth_dst"], family, col["ip_src4"],
              col["ip_dst4"], out6[:, :16] if six.any() else None, out6[:, 16:] if six.any() else None, col["proto"],
              sport, dport, col["tcpflags"], col["l3"], np.where(family > 0, l4, -1), pay, tunnel,
              np.zeros(n, dtype=np.int64), l4end)
    rest = np.flatnonzero(state == 0)
    if len(rest):
        _merge(w, rest, _walk_numpy(v, o[rest], end[rest], link[rest], tunnels=tunnels))
    return w


def _merge(w: _Walk, rows: np.ndarray, sub: _Walk) -> None:
    """Put the walk ``sub`` of ``w``'s ``rows`` in its place."""
    for name in _Walk.__slots__:  # type: ignore[attr-defined]
        part = getattr(sub, name)
        whole = getattr(w, name)
        if name in ("src6", "dst6"):
            if part is None:
                if whole is not None:
                    whole[rows] = 0
                continue
            if whole is None:
                whole = np.zeros((len(w.ok), 16), dtype=np.uint8)
                setattr(w, name, whole)
        whole[rows] = part


@dataclass(slots=True)
class _Conversations:
    eth: np.ndarray
    ip: np.ndarray
    l4: np.ndarray
    dirflags: np.ndarray

    @classmethod
    def zeros(cls, n: int) -> _Conversations:
        return cls(*(np.zeros(n, dtype=np.int64) for _ in range(4)))


def _conversations(trace: Trace, w: _Walk, d: np.ndarray, conv: _Conversations,
                   tunnel: tuple[np.ndarray, np.ndarray] | None) -> bool:
    """Intern the conversations of rows ``d`` of ``w`` into ``conv``.  ``tunnel``: for a tunnel's
    tenants, per row of ``d`` the tunnel entry and the ``tunnels.network_key`` (the parents of
    their Ethernet and IP conversations).  False: beyond what the packed keys hold."""
    if not len(d):
        return True
    eth_src, eth_dst, family, ip_src4, ip_dst4 = w.eth_src, w.eth_dst, w.family, w.ip_src4, w.ip_dst4
    src6, dst6, proto, sport, dport = w.src6, w.dst6, w.proto, w.sport, w.dport
    dirflags, eth_conv, ip_conv, l4_conv = conv.dirflags, conv.eth, conv.ip, conv.l4
    tid = np.zeros(len(w.ok), dtype=np.int64)
    net = np.zeros(len(w.ok), dtype=np.int64)
    if tunnel is not None:
        tid[d], net[d] = tunnel

    # -- conversations: ids interned in order of first appearance --------------------------------
    e = d[w.is_eth[d]]
    if len(e):
        lo = np.minimum(eth_src[e], eth_dst[e])
        hi = np.maximum(eth_src[e], eth_dst[e])
        got = _intern_eth(trace, lo, hi) if tunnel is None else _intern_eth_tenant(trace, lo, hi, tid[e])
        if got is None:
            return False
        eth_conv[e] = got
        dirflags[e] |= np.where(eth_src[e] != lo, DIR_ETH_REVERSED, 0)

    i4 = d[family[d] == 4]
    if len(i4):
        s, t_ = ip_src4[i4], ip_dst4[i4]
        lo, hi = np.minimum(s, t_), np.maximum(s, t_)
        ip_conv[i4] = _intern_ip4(trace, lo, hi) if tunnel is None else _intern_ip4_tenant(trace, lo, hi, net[i4])
        dirflags[i4] |= np.where(s != lo, DIR_IP_REVERSED, 0)
    i6 = d[family[d] == 6]
    if len(i6) and src6 is not None and dst6 is not None:
        s, t_ = src6[i6], dst6[i6]
        swap = _lex_less(t_, s)  # dst < src → dst is side A
        lo = np.where(swap[:, None], t_, s)
        hi = np.where(swap[:, None], s, t_)
        ip_conv[i6] = _intern_pairs6(lo, hi, trace, net[i6] if tunnel is not None else None)
        dirflags[i6] |= np.where(swap, DIR_IP_REVERSED, 0)

    lp = d[np.isin(proto[d], (6, 17)) & (family[d] > 0)]
    if len(lp):
        rev_ip = (dirflags[lp] & DIR_IP_REVERSED) != 0
        same = np.zeros(len(lp), dtype=bool)
        f4 = family[lp] == 4
        same[f4] = ip_src4[lp[f4]] == ip_dst4[lp[f4]]
        if src6 is not None and (~f4).any():
            same[~f4] = np.all(src6[lp[~f4]] == dst6[lp[~f4]], axis=1)
        swap = np.where(same, sport[lp] > dport[lp], rev_ip)
        pa = np.where(swap, dport[lp], sport[lp])
        pb = np.where(swap, sport[lp], dport[lp])
        cid = ip_conv[lp]
        if int(cid.max()) >= 1 << 29:  # beyond the packed key's range: let the scalar path do it
            return False
        key = (cid << 34) | ((proto[lp] == 17).astype(np.int64) << 32) | (pa << 16) | pb
        table = trace.l4_conversations

        def make(new: np.ndarray, _rows: np.ndarray) -> list[int]:
            new = new.astype(np.int64)  # keys stay below 2**63: ip_conv < 2**29 was checked
            cs, prs = (new >> 34).tolist(), np.where((new >> 32) & 1, 17, 6).tolist()
            pas, pbs = ((new >> 16) & 0xFFFF).tolist(), (new & 0xFFFF).tolist()
            return table.intern_many(list(zip(cs, prs, pas, pbs, strict=True)), pas, pbs, cs, prs)

        l4_conv[lp] = cached_ids(_caches(trace)["l4"], key.astype(np.uint64), make)
        dirflags[lp] |= np.where(swap, DIR_L4_REVERSED, 0)
    return True


@dataclass(slots=True)
class _Tenant:
    """The tunnel rows of a walk and the walk over their tenants' frames."""

    rows: np.ndarray  # rows of the outer walk
    code: np.ndarray
    vni: np.ndarray
    bits: np.ndarray  # presence bits of the tunnel's own layers
    inner: _Walk
    done: np.ndarray  # per tunnel row: seen through (else the scalar path decides the frame)

    @property
    def rows_done(self) -> np.ndarray:
        return np.flatnonzero(self.done)

    @classmethod
    def of(cls, v: _View, w: _Walk) -> _Tenant | None:
        rows = np.flatnonzero((w.tunnel > 0) & w.ok & ~w.fallback)
        if not len(rows):
            return None
        code = w.tunnel[rows]
        readable, vni, at = _tunnels.header(v, code, w.tunnel_at[rows], w.tunnel_end[rows])
        stop = w.tunnel_end[rows]
        inner = _walk(v, at, stop, np.full(len(rows), _core.LINKTYPE_ETHERNET, dtype=np.int64), tunnels=False)
        bits = np.array([_tunnels.BITS.get(int(c), 0) for c in range(max(_tunnels.BITS) + 1)], dtype=np.uint64)[code]
        done = readable & inner.ok & ~inner.fallback
        return cls(rows, code, vni, bits, inner, done)


def _caches(trace: Trace) -> dict[str, KeyTable]:
    caches: dict[str, KeyTable] | None = trace.__dict__.get("_fast_keys")
    if caches is None:
        caches = trace.__dict__["_fast_keys"] = {"mac": KeyCache(), "eth": KeyCache(), "ip4": KeyCache(),
                                                 "l4": KeyCache()}
    return caches


def _mac_ids(trace: Trace, macs: np.ndarray) -> np.ndarray:
    """A stable small id per MAC address (for packing MAC pairs into one u64)."""
    registry = trace.__dict__.setdefault("_fast_macs", {})

    def make(new: np.ndarray, _rows: np.ndarray) -> list[int]:
        return [registry.setdefault(m, len(registry) + 1) for m in new.tolist()]

    return cached_ids(_caches(trace)["mac"], macs.astype(np.uint64), make)


def _intern_eth(trace: Trace, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    table = trace.eth_conversations
    ids = _mac_ids(trace, np.concatenate([lo, hi]))
    n = len(lo)
    keys = (ids[:n].astype(np.uint64) << np.uint64(32)) | ids[n:].astype(np.uint64)

    def make(_new: np.ndarray, rows: np.ndarray) -> list[int]:
        a, b = lo[rows].tolist(), hi[rows].tolist()
        return table.intern_many(list(zip(a, b, strict=True)), a, b)

    return cached_ids(_caches(trace)["eth"], keys, make)


def _intern_ip4(trace: Trace, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    table = trace.ip_conversations
    keys = (lo.astype(np.uint64) << np.uint64(32)) | hi.astype(np.uint64)

    def make(new: np.ndarray, _rows: np.ndarray) -> list[int]:
        a = (new >> np.uint64(32)).astype(np.int64).tolist()
        b = (new & np.uint64(0xFFFFFFFF)).astype(np.int64).tolist()
        n = len(a)
        return table.intern_many([(4, x, y) for x, y in zip(a, b, strict=True)], a, b, [0] * n, [4] * n)

    return cached_ids(_caches(trace)["ip4"], keys, make)


def _small_ids(trace: Trace, name: str, keys: np.ndarray) -> np.ndarray:
    """A stable small id (from 1) per distinct u64 key, for packing a key with more bits."""
    registry = trace.__dict__.setdefault(f"_fast_{name}", {})

    def make(new: np.ndarray, _rows: np.ndarray) -> list[int]:
        return [registry.setdefault(k, len(registry) + 1) for k in new.tolist()]

    return cached_ids(_caches(trace).setdefault(name, KeyCache()), keys.astype(np.uint64), make)


_TENANT_BITS = 21  # tunnel ids and pair ids packed side by side into one u64 key


def _intern_eth_tenant(trace: Trace, lo: np.ndarray, hi: np.ndarray, tid: np.ndarray) -> np.ndarray | None:
    """``_intern_eth`` for a tunnel's tenants (the tunnel id is part of the key); None when the ids
    outgrow the packed key (the scalar path takes the rows)."""
    table = trace.eth_conversations
    ids = _mac_ids(trace, np.concatenate([lo, hi]))
    n = len(lo)
    if max(int(ids.max()), int(tid.max())) >= 1 << _TENANT_BITS:
        return None
    keys = (ids[:n].astype(np.uint64) << np.uint64(2 * _TENANT_BITS)) | (ids[n:].astype(np.uint64) << np.uint64(
        _TENANT_BITS)) | tid.astype(np.uint64)

    def make(_new: np.ndarray, rows: np.ndarray) -> list[int]:
        a, b, t = lo[rows].tolist(), hi[rows].tolist(), tid[rows].tolist()
        return table.intern_many(list(zip(a, b, t, strict=True)), a, b, t)

    return cached_ids(_caches(trace).setdefault("eth_tenant", KeyCache()), keys, make)


def _intern_ip4_tenant(trace: Trace, lo: np.ndarray, hi: np.ndarray, tid: np.ndarray) -> np.ndarray:
    """``_intern_ip4`` for a tunnel's tenants: the address pair's small id and ``tid``, the virtual
    network's key (< 2**30)."""
    table = trace.ip_conversations
    pair = _small_ids(trace, "ip4_pairs", (lo.astype(np.uint64) << np.uint64(32)) | hi.astype(np.uint64))
    keys = (pair.astype(np.uint64) << np.uint64(32)) | tid.astype(np.uint64)

    def make(_new: np.ndarray, rows: np.ndarray) -> list[int]:
        a, b, t = lo[rows].tolist(), hi[rows].tolist(), tid[rows].tolist()
        n = len(a)
        return table.intern_many([(4, x, y, z) for x, y, z in zip(a, b, t, strict=True)], a, b, t, [4] * n)

    return cached_ids(_caches(trace).setdefault("ip4_tenant", KeyCache()), keys, make)


def _intern_tunnels(trace: Trace, code: np.ndarray, vni: np.ndarray, eth: np.ndarray, ip: np.ndarray,
                    l4: np.ndarray) -> np.ndarray:
    """Tunnel entry ids (``tunnels.intern``) for per-row outer conversations and network ids."""
    # the outer conversations as one small id (the TCP/UDP one implies the IP one), then with the tunnel
    outer = _small_ids(trace, "tunnel_outer", (eth.astype(np.uint64) << np.uint64(33)) | (
        (l4 == 0).astype(np.uint64) << np.uint64(32)) | np.where(l4 != 0, l4, ip).astype(np.uint64))
    keys = (outer.astype(np.uint64) << np.uint64(32)) | (code.astype(np.uint64) << np.uint64(24)) | vni.astype(
        np.uint64)

    def make(_new: np.ndarray, rows: np.ndarray) -> list[int]:
        return [_tunnel_table.intern(trace, int(code[r]), int(vni[r]), int(eth[r]), int(ip[r]), int(l4[r]))
                for r in rows.tolist()]

    return cached_ids(_caches(trace).setdefault("tunnels", KeyCache()), keys, make)


def _intern_pairs6(lo: np.ndarray, hi: np.ndarray, trace: Trace, tid: np.ndarray | None = None) -> np.ndarray:
    """IPv6 conversation ids; ``tid``: the virtual network of each row's tenant (part of the key)."""
    parts = [lo, hi] if tid is None else [lo, hi, tid.astype(">u8").view(np.uint8).reshape(-1, 8)]
    both = np.ascontiguousarray(np.concatenate(parts, axis=1))
    keys = both.view(np.dtype((np.void, both.shape[1]))).ravel()
    _, first, inv = unique_first(keys)
    a = [int.from_bytes(both[r, :16].tobytes(), "big") for r in first]
    b = [int.from_bytes(both[r, 16:32].tobytes(), "big") for r in first]
    n = len(a)
    if tid is None:
        got = trace.ip_conversations.intern_many([(6, x, y) for x, y in zip(a, b, strict=True)], a, b, [0] * n,
                                                 [6] * n)
    else:
        t = [int(tid[r]) for r in first]
        got = trace.ip_conversations.intern_many([(6, x, y, z) for x, y, z in zip(a, b, t, strict=True)], a, b, t,
                                                 [6] * n)
    return np.asarray(got, dtype=np.int64)[inv]


def _lex_less(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise a < b for big-endian byte strings (n × 16)."""
    diff = a != b
    first = np.argmax(diff, axis=1)
    rows = np.arange(len(a))
    return diff.any(axis=1) & (a[rows, first] < b[rows, first])
