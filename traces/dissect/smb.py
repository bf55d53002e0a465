"""SMB (CIFS, MS-CIFS) headers, enough to name the command and its status, the NEGOTIATE dialects
(a client offering SMB 2 opens with one) and the file name of NT CREATE ANDX; and the table of
what a NetBIOS session message carries (SMB, SMB2, the SMB3 transform headers).
"""

from __future__ import annotations

import struct

from ..fields import REGISTRY, FieldType
from ..ntstatus import NTSTATUS, is_error, status_text
from . import nbns, smb2
from .core import Ctx

R = REGISTRY
COMMANDS = {0x04: "Close", 0x08: "Query Information", 0x24: "Locking AndX", 0x25: "Transaction",
            0x2B: "Echo", 0x2D: "Open AndX", 0x2E: "Read AndX", 0x2F: "Write AndX", 0x32: "Transaction2",
            0x71: "Tree Disconnect", 0x72: "Negotiate Protocol", 0x73: "Session Setup AndX", 0x74: "Logoff AndX",
            0x75: "Tree Connect AndX", 0xA0: "NT Transact", 0xA2: "NT Create AndX", 0xA4: "NT Cancel"}

SMB = R.protocol("SMB", "Server Message Block (SMB1 / CIFS) header")
COMMAND = R.define("SMB.Command", FieldType.UINT, "Command", enum=COMMANDS)
STATUS = R.define("SMB.Status", FieldType.UINT, "NT status")
STATUS_CODE = R.define("SMB.Status.Code", FieldType.UINT, "The NTSTATUS value", enum=NTSTATUS)
FLAGS = R.define("SMB.Flags", FieldType.UINT, "Flags (bit 7: reply)")
FLAGS2 = R.define("SMB.Flags2", FieldType.UINT, "Flags2 (bit 15: Unicode strings)")
TREE_ID = R.define("SMB.TreeId", FieldType.UINT, "Tree id")
PROCESS_ID = R.define("SMB.ProcessId", FieldType.UINT, "Process id (low 16 bits)")
USER_ID = R.define("SMB.UserId", FieldType.UINT, "User id")
MULTIPLEX_ID = R.define("SMB.MultiplexId", FieldType.UINT, "Multiplex id")
ANDX_COMMAND = R.define("SMB.AndXCommand", FieldType.UINT, "Command chained after an AndX command (0xFF: none)",
                        enum=COMMANDS)
DIALECT = R.define("SMB.Dialect", FieldType.STRING, "Dialect offered by NEGOTIATE (one per dialect)")
FILE_NAME = R.define("SMB.FileName", FieldType.STRING, "File name of an NT CREATE ANDX request")

_ANDX = frozenset((0x24, 0x2D, 0x2E, 0x2F, 0x73, 0x74, 0x75, 0xA2))
_HDR = struct.Struct("<4sBIBHH8sHHHHH")
MAX_DIALECTS = 64

#: the magic after the NbtSS header → the protocol it starts (the index's classifier reads it)
SESSION_PROTOCOLS = {b"\xffSMB": "SMB", b"\xfeSMB": "SMB2", b"\xfdSMB": "SMB2", b"\xfcSMB": "SMB2"}


def dissect_smb(ctx: Ctx, off: int, end: int) -> None:
    d = ctx.data
    layer = ctx.layer(SMB, "", off, end - off)
    if end - off < 32:
        ctx.set_summary(layer, "[truncated]")
        return
    _, cmd, status, flags, flags2, _pid_hi, _sig, _res, tid, pid, uid, mid = _HDR.unpack_from(d, off)
    name = COMMANDS.get(cmd, f"Command 0x{cmd:02X}")
    layer.add(COMMAND, cmd, off + 4, 1, display=f"{name} (0x{cmd:02X})")
    st = layer.add(STATUS, status, off + 5, 4, display=status_text(status))
    st.add(STATUS_CODE, status, off + 5, 4, display=status_text(status))
    layer.add(FLAGS, flags, off + 9, 1, display=f"0x{flags:02X}")
    layer.add(FLAGS2, flags2, off + 10, 2, display=f"0x{flags2:04X}")
    layer.add(TREE_ID, tid, off + 24, 2)
    layer.add(PROCESS_ID, pid, off + 26, 2)
    layer.add(USER_ID, uid, off + 28, 2)
    layer.add(MULTIPLEX_ID, mid, off + 30, 2)
    if cmd in _ANDX and off + 34 <= end and d[off + 32] >= 2:
        layer.add(ANDX_COMMAND, d[off + 33], off + 33, 1)
    reply = flags & 0x80
    text = f"{'R' if reply else 'C'} {name}"
    if reply and is_error(status):
        text += f", Status = {status_text(status)}"
    elif cmd == 0x72 and not reply:
        text += _dialects(ctx, layer, off + 32, end)
    elif cmd == 0xA2 and not reply:
        text += _create_name(ctx, layer, off, end, bool(flags2 & 0x8000))
    ctx.set_summary(layer, text)


def _dialects(ctx: Ctx, layer: object, pos: int, end: int) -> str:
    d = ctx.data
    if pos + 3 > end or d[pos] != 0:
        return ""
    pos += 3  # WordCount 0, ByteCount
    names = []
    while pos < end and d[pos] == 2 and len(names) < MAX_DIALECTS:
        stop = d.find(b"\0", pos + 1, end)
        if stop < 0:
            break
        text = d[pos + 1 : stop].decode("latin-1")
        layer.add(DIALECT, text, pos + 1, stop - pos - 1)  # type: ignore[attr-defined]
        names.append(text)
        pos = stop + 1
    return ", Dialect = " + ", ".join(names) if names else ""


def _create_name(ctx: Ctx, layer: object, off: int, end: int, unicode: bool) -> str:
    d = ctx.data
    words = off + 32
    if words + 1 + 48 + 2 > end or d[words] != 24:
        return ""
    n = d[words + 6] | (d[words + 7] << 8)
    pos = words + 1 + 48 + 2
    if unicode and (pos - off) % 2:
        pos += 1  # pad to an even offset from the header
    n = max(0, min(n, end - pos))
    raw = d[pos : pos + n]
    text = raw.decode("utf-16-le", "replace") if unicode else raw.decode("latin-1")
    text = text.rstrip("\0")
    layer.add(FILE_NAME, text, pos, n)  # type: ignore[attr-defined]
    return f", File = {text}"


nbns.SESSION_PAYLOADS[b"\xffSMB"] = dissect_smb
for _magic in (b"\xfeSMB", b"\xfdSMB", b"\xfcSMB"):
    nbns.SESSION_PAYLOADS[_magic] = smb2.dissect_smb2
