"""Vectorised classification of the common packet shapes (see classify.py).

A whole batch at once: the layer walk (``fastwalk.py``: Ethernet II with stacked VLAN tags, raw
IP and Linux SLL/SLL2 → ARP, or IPv4 (unfragmented) / IPv6 (no extension headers) → TCP, UDP and
what they carry, ICMP and ICMPv6 messages that quote no packet), then the frames' Ethernet, IP and
TCP/UDP conversations, interned through packed-key tables (``keytable.py``), and their layer
offsets (``layeroffs.py``).  VXLAN, Geneve and NVGRE frames are seen through: the tenant's frame
goes through the same walk again (``fasttunnels`` reads the tunnel headers; how such a frame is
indexed: ``tunnels.py``).  Everything else, and every frame where a dissector would have to
decide something about truncation or an unusual header, is returned to the caller for the
scalar path, which defines the result.  The dispatch tables are consulted so that a port or
protocol a dissector claims is never classified here behind its back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from . import fasttunnels as _tunnels
from . import layeroffs
from . import tunnels as _tunnel_table
from .dissect import core as _core
from .fastwalk import View, Walk, walk
from .index import DIR_ETH_REVERSED, DIR_IP_REVERSED, DIR_L4_REVERSED, OUTER_SHIFT
from .keytable import HashedKeys, KeyCache, KeyTable, WideKeys, cached_ids

try:  # the conversation passes in C (``_keys.c``), built at install time when a compiler is there
    from ._keys import conversations as _native_conv
    from ._keys import conversations6 as _native_conv6
except ImportError:  # pragma: no cover - exercised where no compiler was available
    _native_conv = _native_conv6 = None

if TYPE_CHECKING:
    from .index import ConversationTable
    from .trace import Trace


def walk_batch(u8: np.ndarray, batch: dict[str, np.ndarray], link_type: int) -> Walk | None:
    """The layer walk of every row of a batch of packets at their ``loc`` on one link type:
    ``classify``'s first step, which reads only the bytes (a reader may run it on another
    thread, ahead of the ``classify`` that is given it)."""
    n = len(batch["ts"])
    if not n or not len(u8):
        return None
    return walk_rows(u8, batch["loc"], batch["length"], np.full(n, link_type, dtype=np.int64))


def walk_rows(u8: np.ndarray, o: np.ndarray, length: np.ndarray, links: np.ndarray) -> Walk:
    """The layer walk of packets at byte offsets ``o`` of ``length`` bytes on per-row link types
    (``walk_batch``; pcapng, Netmon: a reader's walker thread makes it for the rows it then
    classifies)."""
    o = np.asarray(o, dtype=np.int64)
    return walk(View(u8), o, o + np.asarray(length, dtype=np.int64), np.asarray(links, dtype=np.int64), tunnels=True)


def classify(trace: Trace, u8: np.ndarray, batch: dict[str, np.ndarray], links: np.ndarray,
             rows: np.ndarray, offs: np.ndarray, walked: Walk | None = None) -> np.ndarray:
    """Classify what array operations can decide; return the rows left for the scalar path.
    ``walked``: ``walk_batch``'s walk of these rows, when a reader made it ahead."""
    if len(rows) == 0 or len(u8) == 0:
        return rows
    v = View(u8)
    o = offs[rows]
    end = o + batch["length"][rows].astype(np.int64)
    if walked is not None and len(walked.ok) != len(rows):
        raise ValueError(f"a walk of {len(walked.ok)} rows given for {len(rows)}")
    w = walked if walked is not None else walk(v, o, end, links[rows], tunnels=True)
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

    # layer offsets of plain frames (a tunnel frame holds two of each layer: its fields decode)
    layout = np.zeros(n, dtype=np.uint8)
    if len(plain):  # (a missing layer's -1 stays negative from the packet start: ``codes`` reads no layer)
        at = slice(None) if len(plain) == n else plain  # (every row, usually: no gathers)
        layout[at] = layeroffs.codes(trace, w.l3[at] - o[at], w.l4[at] - o[at], w.pay[at] - o[at], w.protos[at])
    columns = (("protos", w.protos), ("top", w.top), ("tcpflags", w.tcpflags), ("eth_conv", conv.eth),
               ("ip_conv", conv.ip), ("l4_conv", conv.l4), ("layout", layout))
    if n == len(batch["ts"]) and rows[0] == 0 and rows[-1] == n - 1:  # every row a packet (pcap): masked copies
        where = True if len(d) == n else done  # (every row done, usually: plain copies)
        for name, col in columns:
            np.copyto(batch[name], col, where=where, casting="unsafe")
        batch["dirflags"] |= conv.dirflags.astype(np.uint8)  # (0 on the rows not done)
    else:
        for name, col in columns:
            batch[name][out] = col[d]
        batch["dirflags"][out] |= conv.dirflags[d].astype(np.uint8)
    return rows[~done]


@dataclass(slots=True)
class _Conversations:
    eth: np.ndarray
    ip: np.ndarray
    l4: np.ndarray
    dirflags: np.ndarray

    @classmethod
    def zeros(cls, n: int) -> _Conversations:
        return cls(*(np.zeros(n, dtype=np.int64) for _ in range(4)))


def _conversations(trace: Trace, w: Walk, d: np.ndarray, conv: _Conversations,
                   tunnel: tuple[np.ndarray, np.ndarray] | None) -> bool:
    """Intern the conversations of rows ``d`` of ``w`` into ``conv``, ids numbered in the order
    they first come: each frame's Ethernet and IPv4 ones, then the TCP/UDP ones over IPv4, then
    the IPv6 ones and the TCP/UDP ones over IPv6.  ``tunnel``: for a tunnel's tenants, per row of
    ``d`` the tunnel entry and the ``tunnels.network_key`` (the parents of their Ethernet and IP
    conversations).  False: beyond what the packed keys hold."""
    if not len(d):
        return True
    family, proto = w.family, w.proto
    i6 = np.flatnonzero(family == 6) if len(d) == len(family) else d[family[d] == 6]  # (d: sorted, distinct)
    six = len(i6) > 0 and w.src6 is not None and w.dst6 is not None
    if tunnel is None and native_conversations():
        _native(trace, w, d, conv)
        if six:
            _native6(trace, w, i6, conv)
        return True
    pd = proto[d]
    l4 = ((pd == 6) | (pd == 17)) & (family[d] > 0)
    tid = np.zeros(len(w.ok), dtype=np.int64)
    net = np.zeros(len(w.ok), dtype=np.int64)
    if tunnel is not None:
        tid[d], net[d] = tunnel
    if not _eth(trace, w, d[w.is_eth[d]], conv, tid if tunnel is not None else None):
        return False
    _ip4(trace, w, d[family[d] == 4], conv, net, tunnel)
    if not _l4(trace, w, d[l4 & (family[d] == 4)], conv):
        return False
    if six:
        assert w.src6 is not None and w.dst6 is not None
        s, t_ = w.src6[i6], w.dst6[i6]
        swap = _lex_less(t_, s)  # dst < src → dst is side A
        lo = np.where(swap[:, None], t_, s)
        hi = np.where(swap[:, None], s, t_)
        conv.ip[i6] = _intern_pairs6(lo, hi, trace, net[i6] if tunnel is not None else None)
        conv.dirflags[i6] |= np.where(swap, DIR_IP_REVERSED, 0)
    return _l4(trace, w, d[l4 & (family[d] == 6)], conv)


def native_conversations() -> bool:
    """Whether the C conversation pass runs (where ``_keys.c`` was built)."""
    return _native_conv is not None and KeyCache is HashedKeys


#: ``_keys.conversations``' flag bits are the index's direction bits (the C pass writes 1, 2, 4)
if (DIR_ETH_REVERSED, DIR_IP_REVERSED, DIR_L4_REVERSED) != (1, 2, 4):  # pragma: no cover - a guard
    raise ImportError("the index's direction bits are not the C conversation pass's flags")


def _native(trace: Trace, w: Walk, d: np.ndarray, conv: _Conversations) -> None:
    """The Ethernet, IPv4 and TCP/UDP-over-IPv4 conversations of rows ``d`` (no tunnel's tenants)
    in one C pass (``_keys.conversations``); ``_eth``, ``_ip4`` and ``_l4`` are its reference.

    The pass numbers a table's new keys from the id its conversation table gives next, which
    is their id whenever that table does not know one of them already (it may: the scalar
    path interns conversations too); only then are they renumbered."""
    caches = _caches(trace)
    eth_t, l4_t = caches.setdefault("eth_wide", WideKeys(2)), caches.setdefault("l4_wide", WideKeys(2))
    ip_t = caches["ip4"]
    assert isinstance(eth_t, WideKeys) and isinstance(l4_t, WideKeys) and isinstance(ip_t, HashedKeys)
    convs = (trace.eth_conversations, trace.ip_conversations, trace.l4_conversations)
    nexts = tuple(len(c) + 1 for c in convs)  # the id each conversation table gives next
    n = len(d)
    rows = np.ascontiguousarray(d, dtype=np.int64)
    cols = tuple(np.ascontiguousarray(c, dtype=bool if k == 0 else np.int64) for k, c in enumerate(
        (w.is_eth, w.eth_src, w.eth_dst, w.family, w.ip_src4, w.ip_dst4, w.proto, w.sport, w.dport)))
    eth, ip, l4 = (np.empty(n, dtype=np.int64) for _ in range(3))
    flags = np.empty(n, dtype=np.uint8)
    try:
        eth_new, ip_new, l4_new = _claimed(
            lambda at, specs, bases, outs: _native_conv(rows[at:], cols, *specs, bases, outs),
            n, (eth_t, ip_t, l4_t), nexts, (eth, ip, l4, flags))
        if len(eth_new):
            r = d[eth_new]
            lo = np.minimum(w.eth_src[r], w.eth_dst[r])
            hi = np.maximum(w.eth_src[r], w.eth_dst[r])
            a, b = lo.tolist(), hi.tolist()
            real = _added(trace, convs[0], lambda: list(zip(a, b, strict=True)), a, b)
            eth = _settled(eth, nexts[0], real, lambda ids: eth_t.settle(np.stack([lo, hi], axis=1), ids))
        if len(ip_new):
            r = d[ip_new]
            lo4 = np.minimum(w.ip_src4[r], w.ip_dst4[r])
            hi4 = np.maximum(w.ip_src4[r], w.ip_dst4[r])
            a, b = lo4.tolist(), hi4.tolist()
            k = len(a)
            real = _added(trace, convs[1], lambda: [(4, x, y) for x, y in zip(a, b, strict=True)], a, b, [0] * k,
                          [4] * k)
            ip = _settled(ip, nexts[1], real, lambda ids: ip_t.settle(_pack32(lo4, hi4), ids))
        if len(l4_new):
            r = d[l4_new]
            s, t_ = w.ip_src4[r], w.ip_dst4[r]
            pair = _pack32(np.minimum(s, t_), np.maximum(s, t_))
            l4 = _new_l4(trace, w, r, flags[l4_new], ip[l4_new], pair[:, None], l4_t, l4, nexts[2])
    except BaseException:  # numbers the conversation tables did not give must not outlive this call
        _forget_native(trace)
        raise
    at = slice(None) if n == len(conv.eth) else d  # (every row, usually: d is sorted, distinct)
    conv.eth[at] = eth
    conv.ip[at] = ip  # (0 for IPv6 rows: set next)
    conv.l4[at] = l4
    conv.dirflags[at] |= flags


def _native6(trace: Trace, w: Walk, i6: np.ndarray, conv: _Conversations) -> None:
    """``_native`` for the IPv6 rows ``i6``: their IP conversations and the TCP/UDP ones over them
    (``_keys.conversations6``), numbered after the IPv4 ones, as the reference does."""
    caches = _caches(trace)
    ip_t, l4_t = caches.setdefault("ip6_wide", WideKeys(4)), caches.setdefault("l46_wide", WideKeys(5))
    assert isinstance(ip_t, WideKeys) and isinstance(l4_t, WideKeys) and w.src6 is not None and w.dst6 is not None
    convs = (trace.ip_conversations, trace.l4_conversations)
    nexts = tuple(len(c) + 1 for c in convs)
    n = len(i6)
    rows = np.ascontiguousarray(i6, dtype=np.int64)
    addrs = (np.ascontiguousarray(w.src6[i6], dtype=np.uint8), np.ascontiguousarray(w.dst6[i6], dtype=np.uint8))
    cols = tuple(np.ascontiguousarray(c, dtype=np.int64) for c in (w.proto, w.sport, w.dport))
    ip, l4 = np.empty(n, dtype=np.int64), np.empty(n, dtype=np.int64)
    flags = np.empty(n, dtype=np.uint8)
    try:
        ip_new, l4_new = _claimed(
            lambda at, specs, bases, outs: _native_conv6(rows[at:], (addrs[0][at:], addrs[1][at:]), cols, *specs, bases,
                                                         outs),
            n, (ip_t, l4_t), nexts, (ip, l4, flags))
        if len(ip_new):
            lo, hi = _sides6(w, i6[ip_new], flags[ip_new])
            a = [int.from_bytes(x, "big") for x in map(bytes, lo)]
            b = [int.from_bytes(x, "big") for x in map(bytes, hi)]
            k = len(a)
            real = _added(trace, convs[0], lambda: [(6, x, y) for x, y in zip(a, b, strict=True)], a, b, [0] * k,
                          [6] * k)
            ip = _settled(ip, nexts[0], real, lambda ids: ip_t.settle(np.concatenate([_halves(lo), _halves(hi)], axis=1),
                                                                       ids))
        if len(l4_new):
            r = i6[l4_new]
            lo, hi = _sides6(w, r, flags[l4_new])
            l4 = _new_l4(trace, w, r, flags[l4_new], ip[l4_new], np.concatenate([_halves(lo), _halves(hi)], axis=1),
                         l4_t, l4, nexts[1])
    except BaseException:
        _forget_native(trace)
        raise
    conv.ip[i6] = ip
    conv.l4[i6] = l4
    conv.dirflags[i6] |= flags


def _claimed(run: Callable[[int, tuple, tuple, tuple], tuple], n: int, tables: tuple[KeyTable | WideKeys, ...],
             nexts: tuple[int, ...], outs: tuple[np.ndarray, ...]) -> list[np.ndarray]:
    """Run a C conversation pass over ``n`` rows (``run(first_row, specs, bases, outs)``), again
    from where it stopped each time a table would have passed half full (then grown); per
    table, the rows where its new keys first came.  The keys of ``tables`` are counted; a
    table's new ones are numbered on from its entry of ``nexts``."""
    new: list[list[np.ndarray]] = [[] for _ in tables]
    fresh = [0] * len(tables)
    done = 0
    while done < n:
        *firsts, got = run(done, tuple(t.spec(1) for t in tables),  # type: ignore[union-attr]
                           tuple(nexts[k] + fresh[k] for k in range(len(tables))), tuple(o[done:] for o in outs))
        for k, t in enumerate(tables):
            rows_k = np.frombuffer(firsts[k], dtype=np.int64) + done
            new[k].append(rows_k)
            t.count += len(rows_k)  # type: ignore[union-attr]
            fresh[k] += len(rows_k)
        done += got
    return [np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64) for parts in new]


def _new_l4(trace: Trace, w: Walk, r: np.ndarray, flags: np.ndarray, cids: np.ndarray, pair: np.ndarray,
            table: WideKeys, l4: np.ndarray, first: int) -> np.ndarray:
    """Intern the TCP/UDP conversations new to a C pass (first come at walk rows ``r``, with the
    pass's ``flags`` and their IP conversations ``cids``), ``pair`` the words of their address
    pair in the pass's key; ``l4`` the pass's ids, settled (``_settled``)."""
    swap = (flags & 4) != 0
    pa = np.where(swap, w.dport[r], w.sport[r])
    pb = np.where(swap, w.sport[r], w.dport[r])
    udp = w.proto[r] == 17
    cs, prs = cids.tolist(), np.where(udp, 17, 6).tolist()
    pas, pbs = pa.tolist(), pb.tolist()
    real = _added(trace, trace.l4_conversations, lambda: list(zip(cs, prs, pas, pbs, strict=True)), pas, pbs,
                  cs, prs)
    ports = (udp.astype(np.uint64) << np.uint64(32)) | (pa.astype(np.uint64) << np.uint64(16)) | pb.astype(np.uint64)
    return _settled(l4, first, real, lambda ids: table.settle(np.concatenate([pair, ports[:, None]], axis=1), ids))


def _sides6(w: Walk, r: np.ndarray, flags: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The two addresses of IPv6 rows ``r`` (n × 16 bytes), side A first (flag 2: the source is B)."""
    assert w.src6 is not None and w.dst6 is not None
    s, t_ = w.src6[r], w.dst6[r]
    rev = ((flags & 2) != 0)[:, None]
    return np.where(rev, t_, s), np.where(rev, s, t_)


def _forget_native(trace: Trace) -> None:
    """Empty the C passes' tables (after a failure left numbers in them no conversation table gave):
    from then on they may not hold every key of a conversation table (``_added``)."""
    caches = _caches(trace)
    for name in ("eth_wide", "l4_wide", "ip6_wide", "l46_wide"):
        caches.pop(name, None)
    caches["ip4"] = KeyCache()
    trace.__dict__["_fast_keys_partial"] = True


def _added(trace: Trace, table: ConversationTable, keys: Callable[[], list], a: list, b: list,
           parent: list | None = None, proto: list | None = None) -> list[int]:
    """The ids of the conversations new to a C pass: appended as they are while the pass's tables
    hold every key ``table`` has (none emptied, nothing interned another way: the scalar path,
    tunnels), else interned by ``keys()``, which finds those the table knew already."""
    if table.interned == 0 and not trace.__dict__.get("_fast_keys_partial"):
        return table.append_new(a, b, parent, proto)
    return table.intern_many(keys(), a, b, parent, proto)


def _settled(ids: np.ndarray, first: int, real: list[int], put: Callable[[np.ndarray], None]) -> np.ndarray:
    """``ids`` where the C pass numbered new keys ``first``, ``first`` + 1, … in the order they
    came and their conversation table gave them ``real``: the same numbers (the usual case), or
    renumbered, in ``ids`` and in the key table (``put``)."""
    got = np.asarray(real, dtype=np.int64)
    if np.array_equal(got, np.arange(first, first + len(got))):
        return ids
    put(got)
    late = ids >= first
    ids[late] = got[ids[late] - first]
    return ids


def _eth(trace: Trace, w: Walk, e: np.ndarray, conv: _Conversations, tid: np.ndarray | None) -> bool:
    """The Ethernet conversations of rows ``e``; ``tid``: per row of the walk, the tunnel entry
    of a tenant's frame."""
    if not len(e):
        return True
    eth_src, eth_dst = w.eth_src, w.eth_dst
    lo = np.minimum(eth_src[e], eth_dst[e])
    hi = np.maximum(eth_src[e], eth_dst[e])
    got = _intern_eth(trace, lo, hi) if tid is None else _intern_eth_tenant(trace, lo, hi, tid[e])
    if got is None:
        return False
    conv.eth[e] = got
    conv.dirflags[e] |= np.where(eth_src[e] != lo, DIR_ETH_REVERSED, 0)
    return True


def _ip4(trace: Trace, w: Walk, i4: np.ndarray, conv: _Conversations, net: np.ndarray,
         tunnel: tuple[np.ndarray, np.ndarray] | None) -> None:
    """The IPv4 conversations of rows ``i4``; ``net``: per row of the walk, a tenant's network."""
    if not len(i4):
        return
    s, t_ = w.ip_src4[i4], w.ip_dst4[i4]
    lo, hi = np.minimum(s, t_), np.maximum(s, t_)
    conv.ip[i4] = _intern_ip4(trace, lo, hi) if tunnel is None else _intern_ip4_tenant(trace, lo, hi, net[i4])
    conv.dirflags[i4] |= np.where(s != lo, DIR_IP_REVERSED, 0)


def _l4(trace: Trace, w: Walk, lp: np.ndarray, conv: _Conversations) -> bool:
    """The TCP/UDP conversations of rows ``lp`` (their IP conversations interned)."""
    if not len(lp):
        return True
    family, ip_src4, ip_dst4, src6, dst6 = w.family, w.ip_src4, w.ip_dst4, w.src6, w.dst6
    sport, dport, proto = w.sport, w.dport, w.proto
    rev_ip = (conv.dirflags[lp] & DIR_IP_REVERSED) != 0
    same = np.zeros(len(lp), dtype=bool)
    f4 = family[lp] == 4
    same[f4] = ip_src4[lp[f4]] == ip_dst4[lp[f4]]
    if src6 is not None and dst6 is not None and (~f4).any():
        same[~f4] = np.all(_halves(src6[lp[~f4]]) == _halves(dst6[lp[~f4]]), axis=1)
    swap = np.where(same, sport[lp] > dport[lp], rev_ip)
    pa = np.where(swap, dport[lp], sport[lp])
    pb = np.where(swap, sport[lp], dport[lp])
    cid = conv.ip[lp]
    if int(cid.max()) >= 1 << 29:  # beyond the packed key's range: let the scalar path do it
        return False
    key = (cid << 34) | ((proto[lp] == 17).astype(np.int64) << 32) | (pa << 16) | pb
    table = trace.l4_conversations

    def make(new: np.ndarray, _rows: np.ndarray) -> list[int]:
        new = new.astype(np.int64)  # keys stay below 2**63: ip_conv < 2**29 was checked
        cs, prs = (new >> 34).tolist(), np.where((new >> 32) & 1, 17, 6).tolist()
        pas, pbs = ((new >> 16) & 0xFFFF).tolist(), (new & 0xFFFF).tolist()
        return table.intern_many(list(zip(cs, prs, pas, pbs, strict=True)), pas, pbs, cs, prs)

    conv.l4[lp] = cached_ids(_caches(trace)["l4"], key.astype(np.uint64), make)
    conv.dirflags[lp] |= np.where(swap, DIR_L4_REVERSED, 0)
    return True


@dataclass(slots=True)
class _Tenant:
    """The tunnel rows of a walk and the walk over their tenants' frames."""

    rows: np.ndarray  # rows of the outer walk
    code: np.ndarray
    vni: np.ndarray
    bits: np.ndarray  # presence bits of the tunnel's own layers
    inner: Walk
    done: np.ndarray  # per tunnel row: seen through (else the scalar path decides the frame)

    @property
    def rows_done(self) -> np.ndarray:
        return np.flatnonzero(self.done)

    @classmethod
    def of(cls, v: View, w: Walk) -> _Tenant | None:
        rows = np.flatnonzero((w.tunnel > 0) & w.ok & ~w.fallback)
        if not len(rows):
            return None
        code = w.tunnel[rows]
        readable, vni, at = _tunnels.header(v, code, w.tunnel_at[rows], w.tunnel_end[rows])
        stop = w.tunnel_end[rows]
        inner = walk(v, at, stop, np.full(len(rows), _core.LINKTYPE_ETHERNET, dtype=np.int64), tunnels=False)
        bits = np.array([_tunnels.BITS.get(int(c), 0) for c in range(max(_tunnels.BITS) + 1)], dtype=np.uint64)[code]
        done = readable & inner.ok & ~inner.fallback
        return cls(rows, code, vni, bits, inner, done)


def _caches(trace: Trace) -> dict[str, KeyTable | WideKeys]:
    caches: dict[str, KeyTable | WideKeys] | None = trace.__dict__.get("_fast_keys")
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
    keys = _pack32(ids[:n], ids[n:])

    def make(_new: np.ndarray, rows: np.ndarray) -> list[int]:
        a, b = lo[rows].tolist(), hi[rows].tolist()
        return table.intern_many(list(zip(a, b, strict=True)), a, b)

    return cached_ids(_caches(trace)["eth"], keys, make)


def _intern_ip4(trace: Trace, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    table = trace.ip_conversations
    keys = _pack32(lo, hi)

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
    pair = _small_ids(trace, "ip4_pairs", _pack32(lo, hi))
    keys = _pack32(pair, tid)

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
    _, where, inv = np.unique(keys, return_index=True, return_inverse=True)
    order = np.argsort(where)  # interned in the order they first come, as every other table is
    first = where[order]
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
    ids = np.empty(len(order), dtype=np.int64)
    ids[order] = got
    return ids[inv.ravel()]


def _pack32(hi: np.ndarray, lo: np.ndarray) -> np.ndarray:
    """Two columns of values below 2**32 as one u64 key each: ``hi << 32 | lo``."""
    return (hi.astype(np.uint64) << np.uint64(32)) | lo.astype(np.uint64)


def _halves(a: np.ndarray) -> np.ndarray:
    """Rows of 16 big-endian bytes as two big-endian u64 (n × 2): compared, as the bytes are."""
    return np.ascontiguousarray(a).view(">u8")


def _lex_less(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise a < b for big-endian byte strings (n × 16)."""
    x, y = _halves(a), _halves(b)
    return (x[:, 0] < y[:, 0]) | ((x[:, 0] == y[:, 0]) & (x[:, 1] < y[:, 1]))
