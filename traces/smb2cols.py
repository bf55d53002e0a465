"""SMB2 name columns: ``SMB2.TreeConnect.Path`` and ``SMB2.FileName`` (CREATE), in one batch pass
over only the SMB2 frames.

``dissect/smb2.py`` is the definition.  A segment on the NetBIOS session port (139, 445) that
holds one NbtSS session message carrying one SMB2 message (no NextCommand) is read at fixed
offsets: the command and flags from the header, and for a TREE_CONNECT or CREATE request the
(offset, length) pair of its UTF-16 name.  Only the distinct names are decoded.

Left to decoding: frames ``appwalk`` does not follow, segments with a second NbtSS message or
compounded SMB2 messages, and anything but an SMB2 header after the NbtSS one (transform and
compression headers carry no names: absent).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import appwalk
from .dissect import nbns as _nbns
from .dissect import smb2 as _smb2
from .fieldcols import CODE_ABSENT, CODE_DECODE, FieldColumn, encode_bytes, register
from .fields import FieldDef
from .gather import Gather
from .protocols import MASK

#: field → (command, offset of its (offset, length) pair in the request body, body bytes needed)
FIELDS = {_smb2.TREE_PATH.name.lower(): (3, 4, 8), _smb2.FILE_NAME.name.lower(): (5, 44, 48)}
_MAGIC = int.from_bytes(b"\xfeSMB", "big")
_SEALED = (int.from_bytes(b"\xfdSMB", "big"), int.from_bytes(b"\xfcSMB", "big"))


@register
def plan_smb2(trace: Any, fdef: FieldDef) -> tuple[str, Any] | None:
    name = fdef.name.lower()
    if name not in FIELDS or "SMB2" not in MASK or not appwalk.usable(trace):
        return None
    if _nbns.SESSION_PAYLOADS.get(b"\xfeSMB") is not _smb2.dissect_smb2:
        return None
    return f"smb2|{name}|1", lambda: build(trace, fdef)


def _text(raw: bytes) -> str:
    return raw.decode("utf-16-le", "replace")


def build(trace: Any, fdef: FieldDef) -> FieldColumn:
    cmd_want, pair, need = FIELDS[fdef.name.lower()]
    n = len(trace.index)
    p = appwalk.tcp_payloads(trace, "SMB2")
    g = Gather(trace.buf)
    codes = np.full(n, CODE_ABSENT, dtype=np.int32)
    follow = p.ok & appwalk.claimed_by(p, _nbns.dissect_nbtss)
    at, end = p.start, p.start + p.length
    kind, flags = g.read(at, "u1"), g.read(at + 1, "u1")
    length = ((flags & 1) << 16) | g.be16(at + 2)
    stop = np.minimum(end, at + 4 + length)
    magic = g.be32(at + 4)
    session = follow & (stop - at >= 8) & (kind == 0) & ((flags & 0xFE) == 0)
    sure = session & (at + 4 + length >= end)  # one NbtSS message: a second may hold more names
    sealed = sure & np.isin(magic, _SEALED)
    off = at + 4
    nxt = g.read(off + 20, "<u4")
    whole = sure & (magic == _MAGIC) & (stop - off >= 64)
    short = sure & (magic == _MAGIC) & (stop - off < 64)  # a header cut short: no fields
    sure_one = whole & (nxt == 0)
    cmd, response = g.read(off + 12, "<u2"), g.read(off + 16, "<u4") & 1
    body = off + 64
    ask = sure_one & (cmd == cmd_want) & (response == 0) & (body + need <= stop)
    start = off + g.read(body + pair, "<u2")
    size = g.read(body + pair + 2, "<u2")
    named = ask & (size > 0) & (start < stop) & (start >= off)
    size = np.minimum(size, stop - start) & ~1
    known = sealed | short | sure_one
    codes[p.rows[~known]] = CODE_DECODE
    sel = np.flatnonzero(named)
    c, table, too_long = encode_bytes(g.u8, start[sel], size[sel], _text)
    codes[p.rows[sel]] = np.where(too_long, CODE_DECODE, c)
    return FieldColumn(fdef.name, codes=codes, table=table, how="SMB2 batch pass over SMB2 frames")
