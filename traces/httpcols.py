"""HTTP field columns: ``HTTP.Host``, ``HTTP.Request.Method``, ``HTTP.Request.URI``,
``HTTP.Response.StatusCode`` and ``HTTP.Response.ProtocolVersion``, in one batch pass over only
the HTTP frames.

``dissect/http.py`` is the definition: a segment whose payload starts with a method and a space
(or ``HTTP/1.``) is a message, any other segment on an HTTP port is payload only.  For the
messages, the first ``FIRST_WINDOW`` bytes of every payload (``WINDOW`` for the few whose headers go
on) are gathered into one array and the line structure is found for all of them at once: the
positions of ``\\n`` split lines, the first line of each message is its request or status line,
and the first empty line (nothing but ``\\r``) ends its headers.  A Host header is a header line
starting ``host:`` in any case; its value (the text after the colon, stripped) is
dictionary-encoded.  Only the distinct values become text.

Left to decoding: frames ``appwalk`` does not follow, a header block not ended within the
window, more than ``MAX_LINES`` header lines, two Host headers, a header line starting with white
space or with ``host`` and white space (its name may strip to ``host``), a request line ending in
more than one ``\\r``, a status code with non-ASCII digits (the dissector fails on such a
message: all its fields).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import appwalk
from .dictcode import Tables, encode_rows
from .dissect import http as _http
from .fieldcols import (
    ABSENT,
    CODE_ABSENT,
    CODE_DECODE,
    DECODE,
    PRESENT,
    FieldColumn,
    checkpoint,
    register,
    rows_at,
)
from .fields import FieldDef
from .protocols import MASK

try:  # the Host header scan in C (``_scan.c``), built at install time when a compiler is there
    from ._scan import http_host as _native_host
except ImportError:  # pragma: no cover - exercised where no compiler was available
    _native_host = None

#: payload bytes of each message read first, and for the messages whose headers go on (longer: decoded)
FIRST_WINDOW, WINDOW = 256, 4096
#: HTTP messages per step of a build
STEP = 1 << 16
#: what a request starts with (``_scan.http_host`` tells requests from responses by it)
_METHODS = tuple(m.encode() + b" " for m in _http.METHODS)
#: header lines followed (the dissector reads up to ``http.MAX_HEADERS``)
MAX_LINES = min(200, _http.MAX_HEADERS - 1)
FIELDS = {f.name.lower(): f.name for f in (_http.HOST, _http.METHOD, _http.URI, _http.STATUS, _http.RESP_VERSION)}
#: bytes Python's ``str.strip`` removes from latin-1 text
_SPACE = np.zeros(256, dtype=bool)
_SPACE[[*range(9, 14), *range(0x1C, 0x21), 0x85, 0xA0]] = True
_LOWER = np.arange(256, dtype=np.uint8)
_LOWER[65:91] += 32


@register
def plan_http(trace: Any, fdef: FieldDef) -> tuple[str, Any] | None:
    name = fdef.name.lower()
    if name not in FIELDS or "HTTP" not in MASK or not appwalk.usable(trace):
        return None
    return f"http|{name}|1", lambda: build(trace, fdef)


def _text(raw: bytes) -> str:
    return raw.decode("latin-1")


def _value(raw: bytes) -> str:
    return raw.decode("latin-1").strip()


def build(trace: Any, fdef: FieldDef) -> FieldColumn:
    name = fdef.name.lower()
    n = len(trace.index)
    p = appwalk.tcp_payloads(trace, "HTTP")
    port = appwalk.claimed_by(p, _http.dissect_http)
    # a payload no port claims is HTTP only when it starts a message (else another test took it)
    starts = _starts(trace, p)
    follow = p.ok & (port | (appwalk.unclaimed(p) & starts))
    numeric = name == _http.STATUS.name.lower()
    state = np.zeros(len(p.rows), dtype=np.uint8)  # ABSENT / PRESENT / DECODE per HTTP row
    state[~follow] = DECODE
    msg = np.flatnonzero(follow & starts)  # the rest: payload of a message, no fields
    codes = np.full(len(p.rows), CODE_ABSENT, dtype=np.int32)
    values = np.zeros(len(p.rows), dtype=np.uint16)
    tables = Tables()
    native = name == _http.HOST.name.lower() and _native_host is not None
    for a in range(0, len(msg), STEP):  # steps: a cancel between them; they bound the window matrices
        checkpoint(a, len(msg))
        part = msg[a : a + STEP]
        if native:  # one pass in C, no window matrices
            got, c, table = _hosts(trace, p.start[part], p.length[part])
            c = tables.add(c, got == PRESENT, table)
        else:
            m = _Messages(trace, p.start[part], p.length[part], FIRST_WINDOW)
            got, c, table = _field(name, m)
            if not numeric:
                c = tables.add(c, got == PRESENT, table)
            more = np.flatnonzero(m.short)
            if len(more):  # header blocks longer than the first window: again with the whole window
                got2, c2, table2 = _field(name, _Messages(trace, p.start[part[more]], p.length[part[more]], WINDOW))
                got[more] = got2
                c[more] = c2 if numeric else tables.add(c2, got2 == PRESENT, table2)
        state[part] = got
        if numeric:
            values[part] = c
        else:
            codes[part] = np.where(got == PRESENT, c, codes[part])
    table = tables.table
    how = "HTTP batch pass over HTTP frames"
    if numeric:
        col_state = np.zeros(n, dtype=np.uint8)
        col_values = np.zeros(n, dtype=np.uint16)
        col_state[p.rows] = state
        col_values[p.rows] = np.where(state == PRESENT, values, 0)
        return FieldColumn(fdef.name, values=col_values, state=col_state, how=how)
    col_codes = np.full(n, CODE_ABSENT, dtype=np.int32)
    codes[state == DECODE] = CODE_DECODE
    col_codes[p.rows] = codes
    return FieldColumn(fdef.name, codes=col_codes, table=table, how=how)


def _hosts(trace: Any, start: np.ndarray, length: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(state, codes, table) of the Host header of the messages at ``start`` (``length`` bytes each), read
    by ``_scan.http_host`` as far as ``WINDOW`` bytes: what ``_Messages.host`` finds in its two
    passes (the first ``FIRST_WINDOW`` bytes, then ``WINDOW`` for the messages it must)."""
    file = np.frombuffer(trace.buf, dtype=np.uint8)
    raw_state, raw_at, raw_len = _native_host(file, np.ascontiguousarray(start, dtype=np.int64),
                                              np.ascontiguousarray(length, dtype=np.int64), WINDOW, MAX_LINES, _METHODS)
    state = np.frombuffer(raw_state, dtype=np.uint8).copy()
    at, ln = np.frombuffer(raw_at, dtype=np.int64), np.frombuffer(raw_len, dtype=np.int64)
    h = np.flatnonzero(state == PRESENT)
    codes, table, long = encode_rows(file, h, at[h], ln[h], len(state), _value)
    state[long] = DECODE
    return state, codes, table


def _field(name: str, m: _Messages) -> tuple[np.ndarray, np.ndarray, list[str]]:
    if name == _http.HOST.name.lower():
        return m.host()
    if name == _http.METHOD.name.lower():
        return m.method()
    if name == _http.URI.name.lower():
        return m.uri()
    if name == _http.RESP_VERSION.name.lower():
        return m.response_version()
    return m.status()


def _starts(trace: Any, p: appwalk.Payloads) -> np.ndarray:
    """``http.starts_message`` for every row's payload."""
    file = np.frombuffer(trace.buf, dtype=np.uint8)
    # the first 8 bytes of each payload as one big-endian number: a prefix is its top bytes
    head = np.ascontiguousarray(rows_at(file, p.start, 8)).view(">u8").reshape(-1)
    hit = np.zeros(len(p.rows), dtype=bool)
    for x in _http.PREFIXES:
        shift = np.uint64(8 * (8 - len(x)))
        hit |= (p.length >= len(x)) & ((head >> shift) == np.uint64(int.from_bytes(x, "big")))
    return hit & p.ok


class _Messages:
    """The line structure of many HTTP messages (payloads that start one) at once."""

    def __init__(self, trace: Any, start: np.ndarray, length: np.ndarray, window: int) -> None:
        self.cut = length > window  # the window does not hold the whole payload
        ln = np.minimum(length, window)
        k = len(start)
        if window <= FIRST_WINDOW:  # one gather of equal rows (past a payload: the next frame's bytes)
            mat = rows_at(np.frombuffer(trace.buf, dtype=np.uint8), start, window)
            cat, at = mat.reshape(-1), np.arange(k, dtype=np.int64) * window
            nl = np.flatnonzero(cat == 10)
            frame = nl // window
        else:
            cat, at = appwalk.joined(trace.buf, start, ln)
            nl = np.flatnonzero(cat == 10)
            frame = np.searchsorted(at, nl, side="right") - 1
        self.cat, self.at, self.ln, self.k = cat, at, ln, k
        stop = at + ln
        inside = nl < stop[frame]  # (every later search is bounded by these lines)
        nl, frame = nl[inside], frame[inside]
        first = np.ones(len(nl), dtype=bool)  # the first '\n' of each message ends its first line
        first[1:] = frame[1:] != frame[:-1]
        self.has_nl = np.zeros(k, dtype=bool)
        self.has_nl[frame[first]] = True
        self.line_end = stop.copy()
        self.line_end[frame[first]] = nl[first]
        self.nl, self.frame, self.first = nl, frame, first
        #: the messages whose first line this window could not read (a larger one may)
        self.short = ~self.has_nl & self.cut
        self._mlen: np.ndarray | None = None
        # a status code the dissector fails on: every field of such a message is decoded
        odd = np.flatnonzero(cat >= 0xB2)
        odd_row = np.searchsorted(at, odd, side="right") - 1
        on_line = odd < self.line_end[odd_row] if len(odd) else np.zeros(0, dtype=bool)
        self.broken = self._code()[3] if on_line.any() else np.zeros(k, dtype=bool)

    def host(self) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """The Host header: a line starting ``host:`` in any case.  A line starting with white
        space, or ``host`` and white space (either may strip to the name ``host``), leaves its
        message to decoding."""
        cat, k, nl, frame = self.cat, self.k, self.nl, self.frame
        # header lines: every '\n' after a message's first ends one, starting after the one before
        hdr = np.flatnonzero(~self.first)
        ls, le, hf = nl[hdr - 1] + 1, nl[hdr], frame[hdr]
        size = le - ls
        top = len(cat) - 1
        b0 = cat[ls]  # (ls < le or ls == le: the '\n' itself, never '\r' or white space)
        last = cat[np.maximum(le - 1, 0)]
        # an empty line is nothing but '\r' (one, nearly always; more are counted)
        empty = (size == 0) | ((size == 1) & (b0 == 13))
        maybe = np.flatnonzero((size > 1) & (b0 == 13) & (last == 13))
        if len(maybe):
            cr = np.flatnonzero(cat == 13)
            m_ls, m_le = ls[maybe], le[maybe]
            empty[maybe] = np.searchsorted(cr, m_le) - np.searchsorted(cr, m_ls) == m_le - m_ls
        # the first empty line of each message ends its headers (none: the segment cuts them)
        never = np.iinfo(np.int64).max
        ends = np.full(k, never)
        e = np.flatnonzero(empty)
        if len(e):
            firsts = np.ones(len(e), dtype=bool)
            firsts[1:] = hf[e[1:]] != hf[e[:-1]]
            ends[hf[e[firsts]]] = hdr[e[firsts]]
        keep = hdr < ends[hf]
        count = np.bincount(hf[keep], minlength=k)
        ended = ends < never
        short = self.short | (~ended & self.cut)
        self.short = short
        ls, le, hf, b0, size = ls[keep], le[keep], hf[keep], b0[keep], size[keep]
        spaced = hf[_SPACE[b0]]  # messages with a header line starting with white space
        # only lines starting with h or H can name the header: the next four bytes of those are read
        cand = np.flatnonzero((_LOWER[b0] == 104) & (size >= 5))
        ls, le, hf = ls[cand], le[cand], hf[cand]
        word = np.stack([_LOWER[cat[np.minimum(ls + j, top)]] for j in range(1, 5)], axis=1)
        named = np.all(word[:, :3] == np.frombuffer(b"ost", np.uint8), axis=1)
        is_host = named & (word[:, 3] == 58)
        hosts = np.bincount(hf[is_host], minlength=k)
        state = np.where(hosts == 1, PRESENT, ABSENT).astype(np.uint8)
        unsure = short | (count > MAX_LINES) | self.broken
        state[(hosts > 1) | unsure] = DECODE
        state[spaced] = DECODE
        state[hf[named & _SPACE[word[:, 3]]]] = DECODE  # "host" and white space
        h = np.flatnonzero(is_host)
        h = h[state[hf[h]] == PRESENT]
        codes, table, long = encode_rows(cat, hf[h], ls[h] + 5, le[h] - ls[h] - 5, k, _value)
        state[long] = DECODE
        return state, codes, table

    def _line(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(start, end with one trailing ``\\r`` off, unsure) of each message's first line."""
        cat, start = self.cat, self.at
        end = self.line_end
        cr = (end > start) & (cat[np.maximum(end - 1, 0)] == 13)
        end = end - cr
        unsure = ((~self.has_nl & self.cut) | (cr & (end > start) & (cat[np.maximum(end - 1, 0)] == 13)))
        return start, end, unsure

    def _method_len(self) -> np.ndarray:
        """Length of the method (0: a status line): the prefix it starts with names it."""
        if self._mlen is not None:
            return self._mlen
        cat, at = self.cat, self.at
        out = np.zeros(self.k, dtype=np.int64)
        for m in _http.METHODS:
            x = np.frombuffer(m.encode() + b" ", np.uint8)
            hit = self.ln >= len(x)
            for j, ch in enumerate(x):
                hit &= cat[np.minimum(at + j, len(cat) - 1)] == ch
            out[hit] = len(m)
        self._mlen = out
        return out

    def method(self) -> tuple[np.ndarray, np.ndarray, list[str]]:
        mlen = self._method_len()
        table = list(_http.METHODS)
        codes = np.zeros(self.k, dtype=np.int32)
        for j, m in enumerate(table):
            x = np.frombuffer(m.encode() + b" ", np.uint8)
            hit = mlen == len(m)
            for i, ch in enumerate(x):
                hit &= self.cat[np.minimum(self.at + i, len(self.cat) - 1)] == ch
            codes[hit] = j
        state = np.where(mlen > 0, PRESENT, ABSENT).astype(np.uint8)
        state[self.broken] = DECODE
        return state, codes, table

    def _spaces(self) -> np.ndarray:
        return np.flatnonzero(self.cat == 32)

    def _line_spaces(self, start: np.ndarray, end: np.ndarray, count: int) -> list[np.ndarray]:
        """Where the first ``count`` spaces of each first line ``start:end`` are (``end`` where the
        line has fewer)."""
        sp = self._spaces()
        i = np.searchsorted(sp, start)
        out = []
        for j in range(count):
            at = sp[np.minimum(i + j, len(sp) - 1)] if len(sp) else end
            out.append(np.where((i + j < len(sp)) & (at < end), at, end))
        return out

    def uri(self) -> tuple[np.ndarray, np.ndarray, list[str]]:
        start, end, unsure = self._line()
        mlen = self._method_len()
        req = mlen > 0
        sp = self._spaces()
        after = start + mlen + 1  # the URI starts after the method's space
        last = sp[np.maximum(np.searchsorted(sp, end) - 1, 0)] if len(sp) else np.zeros(self.k, np.int64)
        stop = np.where(last > after - 1, last, end)  # rest.rpartition(" ") when rest has a space
        stop = np.maximum(stop, after)
        return self._first_line_text(req, unsure, after, stop)

    def response_version(self) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """A status line's first word (``line.partition(" ")``): every response has one, so its
        presence is the ``HTTP.Response`` node's."""
        start, end, unsure = self._line()
        resp = self._method_len() == 0  # a payload starting ``HTTP/1.``
        (s1,) = self._line_spaces(start, end, 1)
        return self._first_line_text(resp, unsure, start, s1)

    def _first_line_text(self, has: np.ndarray, unsure: np.ndarray, start: np.ndarray,
                         stop: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """A field that messages ``has`` hold as the text ``start:stop`` of their first line: its
        state (an ``unsure`` first line, a broken message, a value too long: decoded) and codes."""
        state = np.where(has, PRESENT, ABSENT).astype(np.uint8)
        state[(has & unsure) | self.broken] = DECODE
        sel = np.flatnonzero(state == PRESENT)
        codes, table, long = encode_rows(self.cat, sel, start[sel], stop[sel] - start[sel], self.k, _text)
        state[long] = DECODE
        return state, codes, table

    def _code(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(status line with a 3-digit code, its value, the line is unsure, the code has digits
        ``str.isdigit`` takes but ``int`` refuses: the dissector fails on that message)."""
        start, end, unsure = self._line()
        cat = self.cat
        resp = self._method_len() == 0  # a payload starting ``HTTP/1.``
        s1, s2 = self._line_spaces(start, end, 2)
        three = resp & (s1 < end) & (s2 - s1 - 1 == 3)
        d = np.stack([cat[np.minimum(s1 + j, len(cat) - 1)].astype(np.int64) for j in (1, 2, 3)], axis=1)
        ascii = np.all((d >= 48) & (d <= 57), axis=1)
        other = np.all(((d >= 48) & (d <= 57)) | (d == 0xB2) | (d == 0xB3) | (d == 0xB9), axis=1)
        value = (d[:, 0] - 48) * 100 + (d[:, 1] - 48) * 10 + (d[:, 2] - 48)
        return three & ascii, value, resp & unsure, three & other & ~ascii

    def status(self) -> tuple[np.ndarray, np.ndarray, list[str]]:
        code, value, unsure, _ = self._code()
        state = np.where(code, PRESENT, ABSENT).astype(np.uint8)
        state[unsure | self.broken] = DECODE
        return state, np.where(state == PRESENT, value, 0), []
