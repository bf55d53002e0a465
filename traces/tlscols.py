"""The TLS ClientHello server name (SNI) and record content type columns, in one batch pass
over only the TLS frames.

``dissect/tls.py`` is the definition.  For every frame whose ports give the TCP payload to the
TLS dissector, the records of the segment are walked together (one array step per record, at
most ``tls.MAX_RECORDS``); a handshake record holding exactly one ClientHello message is a
candidate, and its hello is walked at fixed steps (version, random, session id, cipher suites,
compression methods) and then extension by extension (one array step per extension) to the
``server_name`` extension, whose first entry is the name.  Only the distinct names become text.

The RDP port's segments that do not start a TPKT header are TLS too (``rdp.dissect_rdp_port``).

Left to decoding: frames ``appwalk`` does not follow, RDP segments starting a TPKT header, a handshake record that is neither one
message nor encrypted (several handshake messages in one record), two ClientHellos or two
``server_name`` extensions, a name list whose first entry is not a host name or that has a
second entry, more than ``tls.MAX_RECORDS`` records or ``tls.MAX_ITEMS`` extensions.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import appwalk
from .dissect import rdp as _rdp
from .dissect import tls as _tls
from .fieldcols import ABSENT, CODE_ABSENT, CODE_DECODE, DECODE, PRESENT, FieldColumn, encode_bytes, register
from .fields import FieldDef
from .gather import Gather
from .protocols import MASK

SNI = _tls.CLIENT_HELLO.server_name
CONTENT_TYPE = _tls.CONTENT_TYPE
_TYPES = np.zeros(256, dtype=bool)
_TYPES[list(_tls.HANDSHAKE_TYPES)] = True
_CONTENT = np.zeros(256, dtype=bool)
_CONTENT[list(_tls.CONTENT_TYPES)] = True


@register
def plan_tls(trace: Any, fdef: FieldDef) -> tuple[str, Any] | None:
    name = fdef.name.lower()
    if name not in (SNI.name.lower(), CONTENT_TYPE.name.lower()) or "TLS" not in MASK or not appwalk.usable(trace):
        return None
    if name == CONTENT_TYPE.name.lower():
        return "tls-content-type|2", lambda: build_content_type(trace, fdef)
    return "tls-sni|2", lambda: build(trace, fdef)


def _starts_record(byte: Any, q: np.ndarray, e: np.ndarray) -> np.ndarray:
    """``tls.starts_record`` at ``q`` of segments ending at ``e``."""
    return (e - q >= 3) & _CONTENT[byte(q)] & (byte(q + 1) == 3) & (byte(q + 2) <= 4)


def _followed(p: appwalk.Payloads, byte: Any) -> np.ndarray:
    """Rows whose payload goes to the TLS dissector: the TLS port's, and RDP's segments that do not
    start a TPKT header (``rdp.dissect_rdp_port``)."""
    tpkt = (p.length >= 4) & (byte(p.start) == 3) & (byte(p.start + 1) == 0)
    return p.ok & (appwalk.claimed_by(p, _tls.dissect_tls) | (appwalk.claimed_by(p, _rdp.dissect_rdp_port) & ~tpkt))


def build_content_type(trace: Any, fdef: FieldDef) -> FieldColumn:
    """``TLS.Record.ContentType``: the records of each segment walked as the dissector walks them
    (at most ``tls.MAX_RECORDS``); a segment holding one record gets its type, one with several
    is left to decoding (a column holds one value a frame), one that starts no record (continued
    data) has none."""
    n = len(trace.index)
    p = appwalk.tcp_payloads(trace, "TLS")
    byte = Gather(trace.buf).byte
    follow = _followed(p, byte)
    rows = np.flatnonzero(follow)
    q, e = p.start[rows], p.start[rows] + p.length[rows]
    have = _starts_record(byte, q, e)
    # a second record after the first (past ``tls.MAX_RECORDS`` >= 2 the dissector reads no more)
    stop = np.minimum(e, q + 5 + ((byte(q + 3) << 8) | byte(q + 4)))
    several = have & (e - q >= 5) & (stop < e) & _starts_record(byte, stop, e)
    state = np.full(n, ABSENT, dtype=np.uint8)
    values = np.zeros(n, dtype=np.uint8)
    state[p.rows[~follow]] = DECODE
    state[p.rows[rows[have]]] = np.where(several[have], DECODE, PRESENT)
    values[p.rows[rows[have & ~several]]] = byte(q[have & ~several])
    return FieldColumn(fdef.name, values=values, state=state, how="TLS record walk over TLS frames")


def _text(raw: bytes) -> str:
    return raw.decode("latin-1")


def build(trace: Any, fdef: FieldDef) -> FieldColumn:
    n = len(trace.index)
    p = appwalk.tcp_payloads(trace, "TLS")
    g = Gather(trace.buf)
    u8, byte = g.u8, g.byte
    codes = np.full(n, CODE_ABSENT, dtype=np.int32)
    follow = _followed(p, byte)
    codes[p.rows[~follow]] = CODE_DECODE
    rows = np.flatnonzero(follow)
    end = p.start[rows] + p.length[rows]
    unsure = np.zeros(len(rows), dtype=bool)
    hello = np.full(len(rows), -1, dtype=np.int64)  # where the one ClientHello's body starts
    hello_end = np.zeros(len(rows), dtype=np.int64)
    pos = p.start[rows].copy()
    active = np.arange(len(rows))

    for i in range(_tls.MAX_RECORDS + 1):
        if not len(active):
            break
        q, e = pos[active], end[active]
        starts = _starts_record(byte, q, e)
        if i == _tls.MAX_RECORDS:  # the dissector stops here: what follows is payload
            unsure[active[starts]] = True
            break
        active, q, e = active[starts], q[starts], e[starts]
        full = e - q >= 5  # else a record cut short: the last one, nothing in it
        rlen = g.be16(q + 3)
        body = q + 5
        stop = np.minimum(e, body + rlen)
        hs = full & (byte(q) == 22) & (body + 4 <= stop) & _TYPES[byte(body)]
        mlen = (byte(body + 1) << 16) | (byte(body + 2) << 8) | byte(body + 3)
        single = hs & (4 + mlen == rlen)
        ch = single & (byte(body) == 1)
        unsure[active[hs & ~single]] = True  # several messages (or not a handshake that tiles)
        seen = active[ch]
        unsure[seen[hello[seen] >= 0]] = True
        hello[seen] = body[ch] + 4
        hello_end[seen] = np.minimum(stop[ch], body[ch] + 4 + mlen[ch])
        pos[active] = np.where(full, stop, e)
        go = full & (stop < e)
        active = active[go]
    sel = np.flatnonzero((hello >= 0) & ~unsure)
    name_at, name_len, state = _walk(g, hello[sel], hello_end[sel])
    unsure[sel[state == 2]] = True
    codes[p.rows[rows[unsure]]] = CODE_DECODE
    have = sel[state == 1]
    c, table, too_long = encode_bytes(u8, name_at[state == 1], name_len[state == 1], _text)
    codes[p.rows[rows[have]]] = np.where(too_long, CODE_DECODE, c)
    return FieldColumn(fdef.name, codes=codes, table=table, how="TLS batch pass over TLS frames")


def _walk(g: Gather, h: np.ndarray, end: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(name start, name length, state: 0 none / 1 one name / 2 unsure) of the ClientHellos
    whose bodies are ``h:end``, as ``tls._hello`` reads them."""
    k = len(h)
    byte = g.byte

    state = np.zeros(k, dtype=np.int64)
    name_at = np.zeros(k, dtype=np.int64)
    name_len = np.zeros(k, dtype=np.int64)
    ok = h + 35 <= end
    q = h + 34
    q = q + 1 + byte(q)
    ok &= q <= end  # the session id fits
    ok &= q + 2 <= end
    q = q + 2 + g.be16(q)  # cipher suites
    ok &= q + 1 <= end
    q = q + 1 + byte(q)  # compression methods
    ok &= q + 2 <= end
    ext_end = np.minimum(end, q + 2 + g.be16(q))
    q = q + 2
    sni = np.full(k, -1, dtype=np.int64)
    sni_end = np.zeros(k, dtype=np.int64)
    active = np.flatnonzero(ok)
    for _ in range(_tls.MAX_ITEMS):
        if not len(active):
            break
        at, ee = q[active], ext_end[active]
        more = at + 4 <= ee
        active, at, ee = active[more], at[more], ee[more]
        etype, n = g.be16(at), g.be16(at + 2)
        s = active[etype == 0]
        state[s[sni[s] >= 0]] = 2  # a second server_name extension
        sni[s] = at[etype == 0] + 4
        sni_end[s] = np.minimum(ee[etype == 0], at[etype == 0] + 4 + n[etype == 0])
        q[active] = at + 4 + n
    state[active] = 2  # more extensions than the dissector reads
    m = np.flatnonzero((sni >= 0) & (state == 0))
    s, e = sni[m] + 2, sni_end[m]  # past the list length
    entry = s + 3 <= e
    nlen = g.be16(s + 1)
    fits = entry & (s + 3 + nlen <= e)
    host = fits & (byte(s) == 0)
    second = s + 3 + nlen + 3 <= e  # a further entry: it may be a second name
    state[m[fits & (~host | second)]] = 2
    one = m[host & ~second]
    state[one] = 1
    name_at[one] = (s + 3)[host & ~second]
    name_len[one] = nlen[host & ~second]
    return name_at, name_len, state
