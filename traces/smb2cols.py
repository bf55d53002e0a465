"""SMB2 columns: ``SMB2.TreeConnect.Path`` and ``SMB2.FileName`` (CREATE), and a response's
``SMB2.Header.Status``, in one batch pass over only the SMB2 frames.

``dissect/smb2.py`` is the definition.  A segment on the NetBIOS session port (139, 445) that
holds one NbtSS session message carrying one SMB2 message (no NextCommand) is read at fixed
offsets: the command and flags from the header, and for a TREE_CONNECT or CREATE request the
(offset, length) pair of its UTF-16 name.  Only the distinct names are decoded.

Left to decoding: frames ``appwalk`` does not follow, segments with a second NbtSS message or
compounded SMB2 messages, and anything but an SMB2 header after the NbtSS one (transform and
compression headers carry no names: absent).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from . import appwalk
from .dissect import nbns as _nbns
from .dissect import smb2 as _smb2
from .fieldcols import ABSENT, CODE_ABSENT, CODE_DECODE, DECODE, PRESENT, FieldColumn, encode_bytes, register
from .fields import FieldDef
from .gather import Gather
from .protocols import MASK

#: field → (command, offset of its (offset, length) pair in the request body, body bytes needed)
FIELDS = {_smb2.TREE_PATH.name.lower(): (3, 4, 8), _smb2.FILE_NAME.name.lower(): (5, 44, 48)}
_MAGIC = int.from_bytes(b"\xfeSMB", "big")
_SEALED = (int.from_bytes(b"\xfdSMB", "big"), int.from_bytes(b"\xfcSMB", "big"))


#: the header's status (a response's NTSTATUS) and the same value as Netmon's ``.Code``
STATUS_FIELDS = (_smb2.STATUS.name.lower(), _smb2.STATUS_CODE.name.lower())


@register
def plan_smb2(trace: Any, fdef: FieldDef) -> tuple[str, Any] | None:
    name = fdef.name.lower()
    if (name not in FIELDS and name not in STATUS_FIELDS) or "SMB2" not in MASK or not appwalk.usable(trace):
        return None
    if _nbns.SESSION_PAYLOADS.get(b"\xfeSMB") is not _smb2.dissect_smb2:
        return None
    if name in STATUS_FIELDS:
        return "smb2|status|1", lambda: build_status(trace, fdef)
    return f"smb2|{name}|1", lambda: build(trace, fdef)


def _text(raw: bytes) -> str:
    return raw.decode("utf-16-le", "replace")


@dataclass(slots=True)
class _Headers:
    """The SMB2 frames' payloads read at fixed offsets: which hold one NbtSS message carrying one
    whole SMB2 header (``one``), and where it starts (``off``) and the segment ends (``stop``)."""

    p: appwalk.Payloads
    g: Gather
    off: np.ndarray
    stop: np.ndarray
    one: np.ndarray  # one NbtSS message, one SMB2 message (no NextCommand), a whole header
    known: np.ndarray  # ``one``, or no SMB2 header to read (a transform header, one cut short)


def _headers(trace: Any) -> _Headers:
    p = appwalk.tcp_payloads(trace, "SMB2")
    g = Gather(trace.buf)
    follow = p.ok & appwalk.claimed_by(p, _nbns.dissect_nbtss)
    at, end = p.start, p.start + p.length
    kind, flags = g.read(at, "u1"), g.read(at + 1, "u1")
    length = ((flags & 1) << 16) | g.be16(at + 2)
    stop = np.minimum(end, at + 4 + length)
    magic = g.be32(at + 4)
    session = follow & (stop - at >= 8) & (kind == 0) & ((flags & 0xFE) == 0)
    sure = session & (at + 4 + length >= end)  # one NbtSS message: a second may hold more
    sealed = sure & np.isin(magic, _SEALED)
    off = at + 4
    nxt = g.read(off + 20, "<u4")
    whole = sure & (magic == _MAGIC) & (stop - off >= 64)
    short = sure & (magic == _MAGIC) & (stop - off < 64)  # a header cut short: no fields
    one = whole & (nxt == 0)
    return _Headers(p, g, off, stop, one, sealed | short | one)


def build(trace: Any, fdef: FieldDef) -> FieldColumn:
    cmd_want, pair, need = FIELDS[fdef.name.lower()]
    n = len(trace.index)
    h = _headers(trace)
    p, g, off, stop = h.p, h.g, h.off, h.stop
    codes = np.full(n, CODE_ABSENT, dtype=np.int32)
    cmd, response = g.read(off + 12, "<u2"), g.read(off + 16, "<u4") & 1
    body = off + 64
    ask = h.one & (cmd == cmd_want) & (response == 0) & (body + need <= stop)
    start = off + g.read(body + pair, "<u2")
    size = g.read(body + pair + 2, "<u2")
    named = ask & (size > 0) & (start < stop) & (start >= off)
    size = np.minimum(size, stop - start) & ~1
    codes[p.rows[~h.known]] = CODE_DECODE
    sel = np.flatnonzero(named)
    c, table, too_long = encode_bytes(g.u8, start[sel], size[sel], _text)
    codes[p.rows[sel]] = np.where(too_long, CODE_DECODE, c)
    return FieldColumn(fdef.name, codes=codes, table=table, how="SMB2 batch pass over SMB2 frames")


def build_status(trace: Any, fdef: FieldDef) -> FieldColumn:
    """``SMB2.Header.Status`` (and its ``.Code``): a response's NTSTATUS, at byte 8 of its header."""
    n = len(trace.index)
    h = _headers(trace)
    p, g, off = h.p, h.g, h.off
    state = np.full(n, ABSENT, dtype=np.uint8)
    values = np.zeros(n, dtype=np.uint32)
    state[p.rows[~h.known]] = DECODE
    response = h.one & ((g.read(off + 16, "<u4") & 1) == 1)
    sel = np.flatnonzero(response)
    state[p.rows[sel]] = PRESENT
    values[p.rows[sel]] = g.read(off[sel] + 8, "<u4")
    return FieldColumn(fdef.name, values=values, state=state, how="SMB2 batch pass over SMB2 frames")
