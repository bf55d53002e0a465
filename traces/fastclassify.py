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

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from . import fasttunnels as _tunnels
from . import layeroffs
from . import tunnels as _tunnel_table
from .dissect import core as _core
from .fastwalk import View, Walk, walk
from .index import DIR_ETH_REVERSED, DIR_IP_REVERSED, DIR_L4_REVERSED, OUTER_SHIFT
from .keytable import KeyCache, KeyTable, cached_ids, unique_first

if TYPE_CHECKING:
    from .trace import Trace


def classify(trace: Trace, u8: np.ndarray, batch: dict[str, np.ndarray], links: np.ndarray,
             rows: np.ndarray, offs: np.ndarray) -> np.ndarray:
    """Classify what array operations can decide; return the rows left for the scalar path."""
    if len(rows) == 0 or len(u8) == 0:
        return rows
    v = View(u8)
    o = offs[rows]
    end = o + batch["length"][rows].astype(np.int64)
    w = walk(v, o, end, links[rows], tunnels=True)
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

    pd = proto[d]
    lp = d[((pd == 6) | (pd == 17)) & (family[d] > 0)]
    if len(lp):
        rev_ip = (dirflags[lp] & DIR_IP_REVERSED) != 0
        same = np.zeros(len(lp), dtype=bool)
        f4 = family[lp] == 4
        same[f4] = ip_src4[lp[f4]] == ip_dst4[lp[f4]]
        if src6 is not None and (~f4).any():
            same[~f4] = np.all(_halves(src6[lp[~f4]]) == _halves(dst6[lp[~f4]]), axis=1)
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


def _halves(a: np.ndarray) -> np.ndarray:
    """Rows of 16 big-endian bytes as two big-endian u64 (n × 2): compared, as the bytes are."""
    return np.ascontiguousarray(a).view(">u8")


def _lex_less(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise a < b for big-endian byte strings (n × 16)."""
    x, y = _halves(a), _halves(b)
    return (x[:, 0] < y[:, 0]) | ((x[:, 0] == y[:, 0]) & (x[:, 1] < y[:, 1]))
