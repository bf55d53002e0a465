"""The ``DNS.QRecord.QuestionName`` field column: one batch pass over only the DNS frames.

A DNS query or answer over UDP in an Ethernet frame has its question right after the 12-byte
DNS header; the layer offsets follow from the Ethernet type (one VLAN tag allowed), the IPv4
header length (IPv6 without extension headers) and the UDP header.  The labels of the name are
walked for all frames at once (one array step per label), and the wire names dictionary-encoded;
only the distinct names are turned into text, by the dissector's own ``read_name``.

Frames outside that shape (DNS over TCP, tunnels and ICMP quotes, several questions, compression
pointers in the question, fragments, non-Ethernet links, ETL packets whose bytes are not in the
file as such) are left to decoding.  ``dissect/dns.py`` is the definition.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .dictcode import Tables, encode_rows, rows_at
from .dissect.dns import read_name
from .fieldcols import CODE_ABSENT, CODE_DECODE, FieldColumn, checkpoint, register
from .fields import FieldDef
from .protocols import FLAGS, MASK

try:  # the question scan in C (``_scan.c``), built at install time when a compiler is there
    from ._scan import dns_questions as _native_questions
except ImportError:  # pragma: no cover - exercised where no compiler was available
    _native_questions = None

QUESTION_NAME = "dns.qrecord.questionname"
MAX_LABELS = 128
#: bytes of each DNS frame read first (headers and a question name of up to ~60 bytes), then for the
#: few frames whose name goes on (names up to ~220 bytes; longer: decoded)
FIRST_WINDOW, WINDOW = 128, 320
_MULTI = ("ICMP", "ICMPv6", "GRE", "MPLS", "IPinIP", "VXLAN", "Geneve", "NVGRE", "Nested", "TCP")


@register
def plan_dns(trace: Any, fdef: FieldDef) -> tuple[str, Any] | None:
    if fdef.name.lower() != QUESTION_NAME or "DNS" not in MASK:
        return None
    reader = getattr(trace, "reader", None)
    if reader is None or getattr(trace, "buf", None) is None or reader.packet_offsets(np.zeros(0, np.int64)) is None:
        return None
    return "dns-qname|1", lambda: build(trace, fdef)


def _text(raw: bytes) -> str:
    return read_name(raw, 0, 0, len(raw))[0]


def build(trace: Any, fdef: FieldDef) -> FieldColumn:
    idx = trace.index
    n = len(idx)
    protos = idx.column("protos")
    codes = np.full(n, CODE_ABSENT, dtype=np.int32)
    rows = np.flatnonzero((protos & np.uint64(MASK["DNS"])) != 0)
    if not len(rows):
        return FieldColumn(fdef.name, codes=codes, how="DNS batch pass")
    multi = 0
    for name in _MULTI:
        multi |= (MASK[name] if name in MASK else FLAGS[name])
    links = np.array([i.link_type for i in trace.interfaces] or [0], dtype=np.int64)
    iface = idx.column("iface")[rows].astype(np.int64)
    ok = ((protos[rows] & np.uint64(multi)) == 0) & (links[np.minimum(iface, len(links) - 1)] == 1)
    ok &= (idx.column("kind")[rows] & 2) == 0  # ETW packet events: bytes are inside records
    base = reader_offsets(trace, rows)
    cap = idx.column("length")[rows].astype(np.int64)
    file = np.frombuffer(trace.buf, dtype=np.uint8)
    tables = Tables()
    for a in range(0, len(rows), STEP):  # steps bound the window matrices (STEP x FIRST_WINDOW bytes)
        checkpoint(a, len(rows))
        b = min(len(rows), a + STEP)
        # a first pass reads FIRST_WINDOW bytes of every DNS frame; the few whose question name
        # goes on past it are read again with the whole WINDOW
        state, c, table = _pass(file, base[a:b], cap[a:b], ok[a:b].copy(), FIRST_WINDOW)
        c = tables.add(c, state == _NAME, table)
        more = np.flatnonzero(state == _RETRY)
        if len(more):
            state2, c2, table2 = _pass(file, base[a:b][more], cap[a:b][more], ok[a:b][more], WINDOW)
            state2[state2 == _RETRY] = _DECODE
            state[more] = state2
            c[more] = tables.add(c2, state2 == _NAME, table2)
        part = rows[a:b]
        codes[part[state == _DECODE]] = CODE_DECODE
        codes[part[state == _NAME]] = c[state == _NAME]
    return FieldColumn(fdef.name, codes=codes, table=tables.table, how="DNS batch pass over DNS frames")


#: DNS frames per step of a build
STEP = 1 << 17


_NAME, _DECODE, _RETRY = 1, 2, 3


def _pass(file: np.ndarray, base: np.ndarray, cap: np.ndarray, ok: np.ndarray,
          window: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(state per row: _NAME / _DECODE / _RETRY (the name goes on past ``window``), code of the
    name, table) of the frames at ``base`` whose layout ``ok`` has not ruled out: in C
    (``_scan.dns_questions``) when it was built, else ``_pass_numpy``, its reference."""
    if _native_questions is None or not file.flags.c_contiguous:
        return _pass_numpy(file, base, cap, ok, window)
    raw_state, raw_at, raw_len = _native_questions(file, np.ascontiguousarray(base, dtype=np.int64),
                                                   np.ascontiguousarray(cap, dtype=np.int64),
                                                   np.ascontiguousarray(ok, dtype=np.uint8), window, MAX_LABELS)
    state = np.frombuffer(raw_state, dtype=np.int8).copy()
    sel = np.flatnonzero(state == _NAME)
    at = np.maximum(base[sel], 0) + np.frombuffer(raw_at, dtype=np.int64)[sel]
    codes, table, long = encode_rows(file, sel, at, np.frombuffer(raw_len, dtype=np.int64)[sel], len(base), _text)
    state[long] = _DECODE
    return state, codes, table


def _pass_numpy(file: np.ndarray, base: np.ndarray, cap: np.ndarray, ok: np.ndarray,
                window: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """``_pass`` in NumPy: the fallback, and the reference the C pass is tested against."""
    k = len(base)
    # the first ``window`` bytes of every frame side by side: every later read is inside this
    # matrix (one gather from the file instead of one per header field and label)
    # (bytes past a frame's end are the next frame's: every value read for a frame kept below
    # lies before its DNS question's end, which is checked against the captured length)
    mat = rows_at(file, base, window)
    flat = mat.reshape(-1)
    row0 = np.arange(k, dtype=np.int64) * window

    def b(at: np.ndarray, r: np.ndarray | None = None) -> np.ndarray:
        return flat[(row0 if r is None else row0[r]) + np.minimum(at, window - 1)].astype(np.int64)

    def be16(at: np.ndarray) -> np.ndarray:
        return (b(at) << 8) | b(at + 1)

    frame_end = cap
    etype = be16(np.full(k, 12))
    vlan = etype == 0x8100
    etype = np.where(vlan, be16(np.full(k, 16)), etype)
    l3 = np.where(vlan, 18, 14)
    v4 = etype == 0x0800
    v6 = etype == 0x86DD
    ihl = (b(l3) & 15) * 4
    frag = be16(l3 + 6) & 0x3FFF
    ok &= (v4 & (b(l3) >> 4 == 4) & (ihl >= 20) & (b(l3 + 9) == 17) & (frag == 0)) | \
        (v6 & (b(l3) >> 4 == 6) & (b(l3 + 6) == 17))
    l4 = np.where(v4, l3 + ihl, l3 + 40)
    ip_end = np.where(v4, l3 + be16(l3 + 2), l3 + 40 + be16(l3 + 4))
    end = np.minimum(frame_end, ip_end)
    udp_len = be16(l4 + 4)
    end = np.where(udp_len >= 8, np.minimum(end, l4 + udp_len), end)
    dns = l4 + 8
    ok &= dns + 12 <= end
    qd = be16(dns + 4)
    ok &= qd == 1  # no question (absent) or several: the dissector decides
    start = dns + 12
    pos = start.copy()
    done = np.zeros(k, dtype=bool)
    retry = np.zeros(k, dtype=bool)
    active = np.flatnonzero(ok)
    for _ in range(MAX_LABELS):
        if not len(active):
            break
        p = pos[active]
        in_msg = p < end[active]
        in_window = p < window
        ok[active[~(in_msg & in_window)]] = False
        retry[active[in_msg & ~in_window]] = True
        keep = in_msg & in_window
        active, p = active[keep], p[keep]
        lab = b(p, active)
        zero = lab == 0
        done[active[zero]] = True
        plain = (lab & 0xC0) == 0
        ok[active[~zero & ~plain]] = False  # a pointer or reserved label type
        go = ~zero & plain
        active, p, lab = active[go], p[go], lab[go]
        pos[active] = p + 1 + lab
    ok &= done
    after = pos + 1
    ok &= after + 4 <= end  # QTYPE and QCLASS, else the dissector calls the question cut short
    ok &= after - start <= 255
    retry |= ok & (after > window)
    ok &= after <= window
    state = np.where(ok, _NAME, np.where(retry, _RETRY, _DECODE)).astype(np.int8)
    sel = np.flatnonzero(ok)
    codes, table, long = encode_rows(flat, sel, sel * window + start[sel], (after - start)[sel], k, _text)
    state[long] = _DECODE
    return state, codes, table


def reader_offsets(trace: Any, rows: np.ndarray) -> np.ndarray:
    got = trace.reader.packet_offsets(rows)
    return np.asarray(got, dtype=np.int64)
