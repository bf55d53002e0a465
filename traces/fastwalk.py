"""The index's layer walk over a batch of packets: link layer, IP, transport, applications.

``walk`` reads, for every row, the link header (Ethernet II with stacked VLAN tags, raw IP,
Linux SLL/SLL2), then ARP or an unfragmented IPv4 / fixed IPv6 header, then TCP, UDP (and what
they carry, by port or payload prefix: ``fastapps``) or an ICMP / ICMPv6 message that quotes no
packet; EAPOL, LLDP, ESP and AH (``fastlink``); and marks VXLAN, Geneve and NVGRE rows for the
tenant walk (``fastclassify._Tenant``).  The plain shapes are read in C (``_walk.walk_headers``)
and the rest with NumPy array operations (``walk_numpy``, the reference the C pass is tested
against).  Every row a dissector would look closer at (a cut header, an unusual value, a port or
protocol someone registered a dissector for) is marked ``fallback``: the scalar path decides it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import fastapps, fastlink
from . import fasttunnels as _tunnels
from .dissect import core as _core
from .gather import Gather, rows_at
from .protocols import CODE, MASK

try:  # the layer walk in C (``_walk.c``), built at install time when a compiler is there
    from ._walk import walk_headers as _native_walk
except ImportError:  # pragma: no cover - exercised where no compiler was available
    _native_walk = None

ETH, VLAN, SLL, ARP, IPV4, IPV6 = (MASK[n] for n in ("Ethernet", "VLAN", "SLL", "ARP", "IPv4", "IPv6"))
TCP, UDP, ICMP, ICMPV6 = (MASK[n] for n in ("TCP", "UDP", "ICMP", "ICMPv6"))
VLAN_TPIDS = (0x8100, 0x88A8, 0x9100)
# ICMP types whose body embeds the offending packet: the scalar dissector shows it as layers
ICMP_EMBEDDING = (3, 4, 5, 11, 12)
ICMPV6_EMBEDDING = (1, 2, 3, 4)


class View(Gather):
    """Big-endian network fields at per-row positions (bounds are checked by the caller)."""

    def b(self, pos: np.ndarray) -> np.ndarray:
        return self.read(pos, "u1")

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


@dataclass(slots=True)
class Walk:
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


def walk_numpy(v: View, o: np.ndarray, end: np.ndarray, link: np.ndarray, *, tunnels: bool) -> Walk:
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
        addrs = v.block(l3[i] + 8, 32)  # source and destination, in bounds: l3 + 40 <= end
        src6[i], dst6[i] = addrs[:, :16], addrs[:, 16:]

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
        _carried(t, fastapps.tcp(v, sport[t], dport[t], l4[t] + doff, l4end[t] - l4[t] - doff), TCP, "TCP",
                 ok, fallback, protos, top)

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
        _carried(u, fastapps.udp(v, sport[u], dport[u], l4end[u] - l4[u] - 8, l4[u] + 8), UDP, "UDP",
                 ok, fallback, protos, top)

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

    return Walk(ok, fallback, protos, top, is_eth, eth_src, eth_dst, family, ip_src4, ip_dst4, src6, dst6, proto,
                sport, dport, tcpflags, l3, np.where(family > 0, l4, -1), pay, tunnel, tunnel_at, l4end)


def _carried(rows: np.ndarray, apps: tuple[np.ndarray, np.ndarray, np.ndarray], layer: int, name: str,
             ok: np.ndarray, fallback: np.ndarray, protos: np.ndarray, top: np.ndarray) -> None:
    """What ``fastapps`` found on TCP or UDP ``rows`` (presence bits, Protocol Name or -1,
    claimed): claimed rows go to the scalar path, the others are decided with their application."""
    bits, app_top, claimed = apps
    fallback[rows[claimed]] = True
    keep = ~claimed
    rows, bits, app_top = rows[keep], bits[keep], app_top[keep]
    protos[rows] |= np.uint64(layer) | bits
    top[rows] = np.where(app_top >= 0, app_top, CODE[name])
    ok[rows] = True


#: ``_walk.walk_headers``' columns, in order
WALK_COLUMNS = ("state", "linkbits", "eth_src", "eth_dst", "family", "ip_src4", "ip_dst4", "proto", "l3", "l4",
                "l4end", "sport", "dport", "tcpflags", "pay")
_S_TCP, _S_UDP, _S_ICMP, _S_ARP = 1, 2, 3, 4
_LINKTYPES = np.array([_core.LINKTYPE_ETHERNET, _core.LINKTYPE_RAW, _core.LINKTYPE_RAW_12, _core.LINKTYPE_RAW_14,
                       _core.LINKTYPE_IPV4, _core.LINKTYPE_IPV6, _core.LINKTYPE_LINUX_SLL, _core.LINKTYPE_LINUX_SLL2],
                      dtype=np.int64)
_EMBEDDING4 = sum(1 << t for t in ICMP_EMBEDDING)
_EMBEDDING6 = sum(1 << t for t in ICMPV6_EMBEDDING)
#: the layers' presence bits ``_walk.walk_apps`` sets
_LAYER_BITS = {"ETH": ETH, "VLAN": VLAN, "SLL": SLL, "IPV4": IPV4, "IPV6": IPV6, "ARP": ARP, "ICMP": ICMP,
               "ICMPV6": ICMPV6, "TCP": TCP, "UDP": UDP}
#: classify the C walk's TCP and UDP rows in C (False: ``_carries``, its NumPy reference)
NATIVE_APPS = True


def native_walk_applies() -> bool:
    """Whether the C walk's fixed rules are the dispatch tables' (else every row walks in NumPy)."""
    return (_native_walk is not None and all(t in _core.ETHER_TYPES for t in (0x0800, 0x86DD))
            and all(p in _core.IP_PROTOCOLS for p in (6, 17, 1, 58)))


def walk(v: View, o: np.ndarray, end: np.ndarray, link: np.ndarray, *, tunnels: bool) -> Walk:
    """``walk_numpy``'s answer: the plain shapes (IPv4/IPv6 over Ethernet, VLAN, SLL or raw IP, then
    TCP, UDP or ICMP; ARP) read by ``_walk.walk_headers`` in one pass, their applications classified by
    ``_walk.walk_apps`` in another (``_carries`` in NumPy without it, or without ``NATIVE_APPS``), and
    every other row (tunnels, IPsec, fragments, anything unusual) walked by ``walk_numpy`` itself."""
    n = len(o)
    if not n or not native_walk_applies() or not v.u8.flags.c_contiguous:
        return walk_numpy(v, o, end, link, tunnels=tunnels)
    o = np.ascontiguousarray(o, dtype=np.int64)
    cols = tuple(np.zeros(n, dtype=np.int64) for _ in WALK_COLUMNS)
    out6 = np.zeros((n, 32), dtype=np.uint8)
    _native_walk(v.u8, o, np.ascontiguousarray(end, dtype=np.int64), np.ascontiguousarray(link, dtype=np.int64), cols,
                 out6, _LINKTYPES, _EMBEDDING4, _EMBEDDING6, 0x0806 in _core.ETHER_TYPES)
    col = dict(zip(WALK_COLUMNS, cols, strict=True))
    state, family, l4, l4end = col["state"], col["family"], col["l4"], col["l4end"]
    u = np.flatnonzero(state == _S_UDP)
    if len(u) and tunnels:  # VXLAN / Geneve: the NumPy walk hands them to _Tenant
        code = _tunnels.udp_tunnels(col["sport"][u], col["dport"][u], l4end[u] - l4[u] - 8)
        state[u[code > 0]] = 0
    plan = fastapps.native_plan(_LAYER_BITS) if NATIVE_APPS else None
    if plan is not None:  # what TCP and UDP carry, and every row's bits, in one C pass
        protos, top = np.zeros(n, dtype=np.uint64), np.zeros(n, dtype=np.int64)
        ok, fallback = np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
        fastapps._native_apps(v.u8, cols, (protos, top, ok, fallback), *plan)
    else:
        ok, fallback, protos, top = _carries(v, col)
    six = family == 6
    w = Walk(ok, fallback, protos, top, (col["linkbits"] & 1) != 0, col["eth_src"], col["eth_dst"], family,
             col["ip_src4"], col["ip_dst4"], out6[:, :16] if six.any() else None, out6[:, 16:] if six.any() else None,
             col["proto"], col["sport"], col["dport"], col["tcpflags"], col["l3"], np.where(family > 0, l4, -1),
             col["pay"], np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64), l4end)
    rest = np.flatnonzero(state == 0)
    if len(rest):
        _merge(w, rest, walk_numpy(v, o[rest], end[rest], link[rest], tunnels=tunnels))
    return w


def _carries(v: View, col: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(ok, fallback, presence bits, Protocol Name) of the rows ``_walk.walk_headers`` decided
    (columns ``col``), their applications classified by ``fastapps.tcp``/``udp``: what
    ``_walk.walk_apps`` does in one pass, and its reference."""
    state, family, linkbits = col["state"], col["family"], col["linkbits"]
    sport, dport, l4, l4end, pay = col["sport"], col["dport"], col["l4"], col["l4end"], col["pay"]
    ok = (state == _S_ICMP) | (state == _S_ARP)  # TCP and UDP rows: once their applications are known
    fallback = np.zeros(len(state), dtype=bool)
    protos = np.where(linkbits & 1, np.uint64(ETH), np.uint64(0)) | np.where(linkbits & 2, np.uint64(VLAN),
                                                                            np.uint64(0))
    protos |= np.where(linkbits & 4, np.uint64(SLL), np.uint64(0))
    protos |= np.where(family == 4, np.uint64(IPV4), np.where(family == 6, np.uint64(IPV6), np.uint64(0)))
    top = np.where(family == 4, CODE["IPv4"], CODE["IPv6"]).astype(np.int64)
    a = np.flatnonzero(state == _S_ARP)
    if len(a):
        protos[a] |= np.uint64(ARP)
        top[a] = CODE["ARP"]
    t = np.flatnonzero(state == _S_TCP)
    if len(t):
        _carried(t, fastapps.tcp(v, sport[t], dport[t], pay[t], l4end[t] - pay[t]), TCP, "TCP", ok, fallback, protos,
                 top)
    u = np.flatnonzero(state == _S_UDP)
    if len(u):
        _carried(u, fastapps.udp(v, sport[u], dport[u], l4end[u] - l4[u] - 8, l4[u] + 8), UDP, "UDP", ok, fallback,
                 protos, top)
    c = np.flatnonzero(state == _S_ICMP)
    if len(c):
        v4 = family[c] == 4
        protos[c] |= np.where(v4, np.uint64(ICMP), np.uint64(ICMPV6))
        top[c] = np.where(v4, CODE["ICMP"], CODE["ICMPv6"])
    return ok, fallback, protos, top


def _merge(w: Walk, rows: np.ndarray, sub: Walk) -> None:
    """Put the walk ``sub`` of ``w``'s ``rows`` in its place."""
    for name in Walk.__slots__:  # type: ignore[attr-defined]
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
