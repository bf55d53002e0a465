"""Stateful Netmon properties computed per trace: TCP retransmits and conversation processes.

``Property.TCPRetransmit`` depends on every earlier segment of the connection, so it is computed
once per trace over its TCP frames (decoding each once), cached, and extended when the index
grows.  The rule (close to Wireshark's ``tcp.analysis.retransmission``): a segment that carries
sequence space (data, SYN or FIN) and starts before the highest sequence number already sent in
the same direction is a retransmit, except a keep-alive (at most one byte, one before that
number).  ``Property.TCPSynRetransmit`` is a SYN whose sequence number this direction already
sent in a SYN.  A SYN with a new initial sequence number starts a new connection.

``Conversation.ProcessId`` is the frame's process id when the trace records one, else the first
process id seen on the frame's TCP/UDP conversation.
"""

from __future__ import annotations

import ntpath
import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..traces.dissect.core import (
    LINKTYPE_ETHERNET,
    LINKTYPE_IPV4,
    LINKTYPE_IPV6,
    LINKTYPE_LINUX_SLL,
    LINKTYPE_RAW,
    LINKTYPE_RAW_12,
    LINKTYPE_RAW_14,
)
from ..traces.dissect.ethernet import VLAN_TPIDS
from ..traces.gather import Gather
from ..traces.index import DIR_L4_REVERSED, KIND_EVENT, KIND_PACKET, PID_UNKNOWN
from ..traces.protocols import MASK
from .indexed import TraceState, decoder, packet_offsets

_TCP = MASK["TCP"]
_WRAP = 1 << 32
_HALF = 1 << 31


def _before(a: int, b: int) -> bool:
    """Sequence number ``a`` comes before ``b`` (RFC 1982 serial arithmetic)."""
    return a != b and ((b - a) % _WRAP) < _HALF


@dataclass
class _Direction:
    next_seq: int = -1
    syn_seq: int = -1


@dataclass
class TcpAnalysis:
    """Retransmit flags for frames ``0..done``; ``tcp`` marks the frames that were analysed."""

    done: int = 0
    tcp: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    retransmit: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    syn_retransmit: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    dirs: dict[tuple[int, bool], _Direction] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


def tcp_analysis(trace: Any, state: TraceState, upto: int, cancel: threading.Event | None = None) -> TcpAnalysis:
    """The analysis extended to at least ``upto`` frames (less if cancelled)."""
    with state.lock:
        an = state.objects.get("tcp")
        if an is None:
            an = state.objects["tcp"] = TcpAnalysis()
    with an.lock:
        if an.done >= upto:
            return an
        _extend(trace, an, upto, cancel)
    return an


def _grow(arr: np.ndarray, n: int) -> np.ndarray:
    if len(arr) >= n:
        return arr
    out = np.zeros(max(n, 2 * len(arr)), dtype=arr.dtype)
    out[: len(arr)] = arr
    return out


#: TCP rows analysed per slice (bounds the Python lists made for one step)
_SLICE = 1 << 16


def _extend(trace: Any, an: TcpAnalysis, upto: int, cancel: threading.Event | None) -> None:
    idx = trace.index
    start = an.done
    protos = idx.column("protos")[start:upto]
    l4 = idx.column("l4_conv")[start:upto]
    rev = (idx.column("dirflags")[start:upto] & DIR_L4_REVERSED) != 0
    rows = np.flatnonzero(((protos & np.uint64(_TCP)) != 0) & (l4 != 0)) + start
    an.tcp = _grow(an.tcp, upto)
    an.retransmit = _grow(an.retransmit, upto)
    an.syn_retransmit = _grow(an.syn_retransmit, upto)
    decode = decoder(trace)
    dirs = an.dirs
    # in slices: Python lists of every TCP row's values at once cost ~100 MB on a 1 M-frame trace
    for at in range(0, len(rows), _SLICE):
        part = rows[at : at + _SLICE]
        ok, seqs, flag_words, payloads = raw_segments(trace, part)
        ok_l, seq_l, flags_l, plen_l = ok.tolist(), seqs.tolist(), flag_words.tolist(), payloads.tolist()
        keys_l = l4[part - start].tolist()
        rev_l = rev[part - start].tolist()
        for n, i in enumerate(part.tolist()):
            if ok_l[n]:
                seq, flags, payload = seq_l[n], flags_l[n], plen_l[n]
            else:
                if cancel is not None and n % 64 == 0 and cancel.is_set():
                    an.done = i
                    return
                seg = _segment(decode(i))
                if seg is None:
                    continue
                seq, flags, payload = seg
            key = (keys_l[n], rev_l[n])
            d = dirs.get(key)
            syn, fin, rst = flags & 0x02, flags & 0x01, flags & 0x04
            if syn and d is not None and d.syn_seq >= 0 and seq != d.syn_seq:
                d = None  # a new connection on the same ports
                dirs.pop((key[0], not key[1]), None)
            if d is None:
                d = dirs[key] = _Direction()
            an.tcp[i] = True
            length = payload + (1 if syn else 0) + (1 if fin else 0)
            if syn and d.syn_seq == seq:
                an.syn_retransmit[i] = True
                an.retransmit[i] = True
            elif length and not rst and d.next_seq >= 0 and _before(seq, d.next_seq):
                keep_alive = payload <= 1 and not syn and not fin and (seq + 1) % _WRAP == d.next_seq
                if not keep_alive:
                    an.retransmit[i] = True
            if syn:
                d.syn_seq = seq
            end = (seq + length) % _WRAP
            if length and (d.next_seq < 0 or _before(d.next_seq, end)):
                d.next_seq = end
    an.done = upto


_RAW_IP_LINKS = (LINKTYPE_RAW, LINKTYPE_RAW_12, LINKTYPE_RAW_14, LINKTYPE_IPV4, LINKTYPE_IPV6)
_BIG_ENDIAN = {1: "u1", 2: ">u2", 4: ">u4"}


def packet_heads(trace: Any, rows: np.ndarray, width: int = 128) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Where each row's packet bytes are: (bytes, offset of each row's first byte in them, captured
    length).  A packet file is used in place (its records are in the mmap at ``loc``); otherwise
    the first ``width`` bytes of each row are copied.  The length is 0 for ETW events, whose raw
    bytes are an event record."""
    idx = trace.index
    n = len(rows)
    length = idx.column("length")[rows].astype(np.int64)
    kind = idx.column("kind")[rows]
    length[(kind & (KIND_PACKET | KIND_EVENT)) != KIND_PACKET] = 0
    offsets = packet_offsets(trace, rows)
    if offsets is not None:
        return np.frombuffer(trace.buf, dtype=np.uint8), offsets, length
    heads = np.zeros(n * width, dtype=np.uint8)
    for k in np.flatnonzero(length).tolist():
        raw = bytes(trace.raw(int(rows[k])))[:width]
        heads[k * width : k * width + len(raw)] = np.frombuffer(raw, dtype=np.uint8)
    return heads, np.arange(n, dtype=np.int64) * width, np.minimum(length, width)


def raw_segments(trace: Any, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(usable, sequence number, flags, payload length) of the TCP header of each row, read from
    the packet bytes for the plain shapes (Ethernet [+VLAN] / raw IP / SLL → IPv4 without
    fragmentation or IPv6 without extension headers → TCP) with array operations.  Rows not
    ``usable`` are decoded.  The values follow the dissector's rules (payload length from the IP
    length), and a test checks they equal the decoded ``TCP.SequenceNumber``, ``TCP.Flags`` and
    ``TCP.PayloadLength`` on every sample."""
    n = len(rows)
    zeros = np.zeros(n, dtype=np.int64)
    if n == 0:
        return np.zeros(n, dtype=bool), zeros, zeros, zeros
    data, first, end = packet_heads(trace, rows)
    gather = Gather(data)
    idx = trace.index
    links_table = np.array([i.link_type for i in trace.interfaces] or [-1], dtype=np.int64)
    iface = idx.column("iface")[rows].astype(np.int64)
    link = np.where(iface < len(links_table), links_table[np.minimum(iface, len(links_table) - 1)], -1)

    def at(off: np.ndarray, size: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """The big-endian value of ``size`` bytes at ``off`` in each row's packet, and where it lies inside."""
        valid = (off >= 0) & (off + size <= end)
        v = gather.read(np.where(valid, first + off, 0), _BIG_ENDIAN[size])
        return np.where(valid, v, 0), valid

    base = np.zeros(n, dtype=np.int64)
    ip = np.full(n, -1, dtype=np.int64)
    eth = link == LINKTYPE_ETHERNET
    off = base + 12
    etype, ok = at(off, 2)
    for _ in range(2):  # up to two VLAN tags
        tagged = eth & ok & np.isin(etype, VLAN_TPIDS)
        off = np.where(tagged, off + 4, off)
        etype2, ok2 = at(off, 2)
        etype = np.where(tagged, etype2, etype)
        ok = np.where(tagged, ok2, ok)
    ip = np.where(eth & ok & np.isin(etype, (0x0800, 0x86DD)), off + 2, ip)
    ip = np.where(np.isin(link, _RAW_IP_LINKS), base, ip)
    sll_proto, sll_ok = at(base + 14, 2)
    ip = np.where((link == LINKTYPE_LINUX_SLL) & sll_ok & np.isin(sll_proto, (0x0800, 0x86DD)), base + 16, ip)
    have = ip >= 0
    vhl, v_ok = at(ip)
    ver = vhl >> 4
    # IPv4 without fragmentation
    ihl = (vhl & 0xF) * 4
    total, t_ok = at(ip + 2, 2)
    frag, f_ok = at(ip + 6, 2)
    proto, p_ok = at(ip + 9)
    v4 = have & v_ok & (ver == 4) & (ihl >= 20) & t_ok & f_ok & p_ok & (proto == 6) & ((frag & 0x3FFF) == 0) & \
        (total >= ihl)
    # IPv6 without extension headers
    nh, nh_ok = at(ip + 6)
    plen6, pl_ok = at(ip + 4, 2)
    v6 = have & v_ok & (ver == 6) & nh_ok & (nh == 6) & pl_ok & (plen6 > 0)
    tcp = np.where(v4, ip + ihl, ip + 40)
    l4_len = np.where(v4, total - ihl, plen6)
    captured = idx.column("length")[rows].astype(np.int64)  # the header check uses the whole packet
    data_end = np.minimum(captured, np.where(v4, ip + total, ip + 40 + plen6))
    word, w_ok = at(tcp + 12, 2)
    thl = (word >> 12) * 4
    seq, s_ok = at(tcp + 4, 4)
    usable = (v4 | v6) & w_ok & s_ok & (thl >= 20) & (tcp + thl <= data_end) & (l4_len >= thl)
    return usable, seq, word & 0x0FFF, l4_len - thl


def _segment(frame: Any) -> tuple[int, int, int] | None:
    """(sequence number, flags, payload length) of the frame's first TCP header (not one quoted
    inside an ICMP error)."""
    for layer in frame.layers:
        name = layer.protocol.name
        if name in ("ICMP", "ICMPv6"):
            return None
        if name != "TCP":
            continue
        seq = flags = payload = None
        for f in layer.walk():
            if f.fdef is None:
                continue
            key = f.fdef.key
            if key == "tcp.sequencenumber":
                seq = f.value
            elif key == "tcp.flags":
                flags = f.value
            elif key == "tcp.payloadlength":
                payload = f.value
        if seq is None or flags is None:
            return None
        return int(seq), int(flags), int(payload or 0)
    return None


# -- processes ----------------------------------------------------------------------------------

@dataclass
class ConversationPids:
    done: int = 0
    by_conv: np.ndarray = field(default_factory=lambda: np.full(1, PID_UNKNOWN, dtype=np.uint32))
    lock: threading.Lock = field(default_factory=threading.Lock)


def conversation_pids(trace: Any, state: TraceState, upto: int) -> np.ndarray:
    """Per TCP/UDP conversation: the first known process id of its frames (up to ``upto``)."""
    with state.lock:
        cp = state.objects.get("conv_pid")
        if cp is None:
            cp = state.objects["conv_pid"] = ConversationPids()
    with cp.lock:
        if cp.done < upto:
            idx = trace.index
            pid = idx.column("pid")[cp.done : upto]
            conv = idx.column("l4_conv")[cp.done : upto]
            sel = (pid != PID_UNKNOWN) & (conv != 0)
            if sel.any():
                convs, first = np.unique(conv[sel], return_index=True)
                pids = pid[sel][first]
                size = int(convs.max()) + 1
                if len(cp.by_conv) < size:
                    grown = np.full(max(size, 2 * len(cp.by_conv)), PID_UNKNOWN, dtype=np.uint32)
                    grown[: len(cp.by_conv)] = cp.by_conv
                    cp.by_conv = grown
                fresh = cp.by_conv[convs] == PID_UNKNOWN
                cp.by_conv[convs[fresh]] = pids[fresh]
            cp.done = upto
        return cp.by_conv


def frame_pids(trace: Any, state: TraceState, start: int, stop: int) -> np.ndarray:
    """``Conversation.ProcessId`` of rows ``start:stop`` (PID_UNKNOWN where nothing is known)."""
    idx = trace.index
    pid = idx.column("pid")[start:stop].copy()
    unknown = pid == PID_UNKNOWN
    if unknown.any():
        by_conv = conversation_pids(trace, state, len(idx))
        conv = idx.column("l4_conv")[start:stop].astype(np.int64)
        conv = np.where(conv < len(by_conv), conv, 0)
        pid[unknown] = by_conv[conv[unknown]]
    return pid


def name_values(path: str) -> list[str]:
    """A process matches by executable name (``chrome.exe``) or full path."""
    base = ntpath.basename(path.replace("/", "\\"))
    return [base, path] if base != path else [path]


# -- SYNs nobody answered -------------------------------------------------------------------------

def syn_unanswered(trace: Any, state: TraceState) -> tuple[np.ndarray, np.ndarray]:
    """(TCP frames of a known connection, SYNs without ACK whose connection has no frame at all in
    the other direction).  Index columns only; recomputed when the index grows (an answer may
    come later in the file)."""
    idx = trace.index
    n = len(idx)
    cached = state.objects.get("syn_unanswered")
    if cached is not None and cached[0] == n:
        return cached[1], cached[2]
    arrays = state.conv(trace, "l4")
    conv = idx.column("l4_conv").astype(np.int64)
    conv = np.where(conv < arrays.n, conv, 0)
    tcp = ((idx.column("protos") & np.uint64(_TCP)) != 0) & (conv != 0) & (arrays.proto[conv] == 6)
    rev = ((idx.column("dirflags") & DIR_L4_REVERSED) != 0).astype(np.int64)
    seen = np.zeros(2 * max(arrays.n, 1), dtype=bool)
    seen[(conv * 2 + rev)[tcp]] = True
    syn = tcp & ((idx.column("tcpflags") & 0x12) == 0x02)
    unanswered = syn & ~seen[conv * 2 + (1 - rev)]
    state.objects["syn_unanswered"] = (n, tcp, unanswered)
    return tcp, unanswered
