"""SMB2/SMB3 (MS-SMB2) in a NetBIOS session message: the 64-byte header of each compounded
message and the request/response fields incidents turn on (dialects, tree path, file name and
disposition, read/write offsets and lengths, IOCTL codes, error responses).

Names follow Netmon's SMB2 parser and Message Analyzer (``SMB2.FileName``,
``smb2.header.Status.code == 0xC0000022``, ``smb2.ErrorMessage``).  The summary is Netmon's:
``C   CREATE (0x5), File=share\\dir\\x.txt, Mid = 27``; a response with an error status names it.
A message the segment cuts short is decoded up to the cut and marked ``[truncated]``.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

from ..fields import REGISTRY, FieldDef, FieldType
from ..frame import Field, Layer
from ..ntstatus import NTSTATUS, status_text
from .core import Ctx

R = REGISTRY
COMMANDS = {0: "NEGOTIATE", 1: "SESSION SETUP", 2: "LOGOFF", 3: "TREE CONNECT", 4: "TREE DISCONNECT", 5: "CREATE",
            6: "CLOSE", 7: "FLUSH", 8: "READ", 9: "WRITE", 10: "LOCK", 11: "IOCTL", 12: "CANCEL", 13: "ECHO",
            14: "QUERY DIRECTORY", 15: "CHANGE NOTIFY", 16: "QUERY INFO", 17: "SET INFO", 18: "OPLOCK BREAK"}
DIALECTS = {0x0202: "SMB 2.0.2", 0x0210: "SMB 2.1", 0x0300: "SMB 3.0", 0x0302: "SMB 3.0.2", 0x0311: "SMB 3.1.1",
            0x02FF: "SMB 2.???"}
DISPOSITIONS = {0: "Supersede", 1: "Open", 2: "Create", 3: "Open If", 4: "Overwrite", 5: "Overwrite If"}
CREATE_ACTIONS = {0: "Superseded", 1: "Opened", 2: "Created", 3: "Overwritten"}
SHARE_TYPES = {1: "Disk", 2: "Pipe", 3: "Print"}
IOCTLS = {0x00060194: "FSCTL_DFS_GET_REFERRALS", 0x000601B0: "FSCTL_DFS_GET_REFERRALS_EX",
          0x0011C017: "FSCTL_PIPE_TRANSCEIVE", 0x00110018: "FSCTL_PIPE_WAIT", 0x0011400C: "FSCTL_PIPE_PEEK",
          0x00140078: "FSCTL_SRV_REQUEST_RESUME_KEY", 0x001440F2: "FSCTL_SRV_COPYCHUNK",
          0x001480F2: "FSCTL_SRV_COPYCHUNK_WRITE", 0x001401D4: "FSCTL_LMR_REQUEST_RESILIENCY",
          0x001401FC: "FSCTL_QUERY_NETWORK_INTERFACE_INFO", 0x00140204: "FSCTL_VALIDATE_NEGOTIATE_INFO",
          0x00144064: "FSCTL_SRV_ENUMERATE_SNAPSHOTS", 0x00090078: "FSCTL_GET_REPARSE_POINT",
          0x000900A4: "FSCTL_SET_REPARSE_POINT", 0x000980C8: "FSCTL_SET_ZERO_DATA"}

SMB2 = R.protocol("SMB2", "Server Message Block 2 and 3")
_H = "SMB2.Header"
HEADER = R.define(_H, FieldType.PROTOCOL, "The 64-byte header of one (possibly compounded) message")
STRUCTURE_SIZE = R.define(f"{_H}.StructureSize", FieldType.UINT, "Header size (64)")
CREDIT_CHARGE = R.define(f"{_H}.CreditCharge", FieldType.UINT, "Credits this message costs")
STATUS = R.define(f"{_H}.Status", FieldType.UINT, "NT status of a response")
STATUS_CODE = R.define(f"{_H}.Status.Code", FieldType.UINT, "The NTSTATUS value (0xC0000022 …)", enum=NTSTATUS)
CHANNEL_SEQUENCE = R.define(f"{_H}.ChannelSequence", FieldType.UINT, "Channel sequence of a request (SMB 3.x)")
COMMAND = R.define(f"{_H}.Command", FieldType.UINT, "Command", enum=COMMANDS)
CREDITS = R.define(f"{_H}.Credits", FieldType.UINT, "Credits requested or granted")
FLAGS = R.define(f"{_H}.Flags", FieldType.UINT, "Header flags")
FLAG_RESPONSE = R.define(f"{_H}.Flags.ServerToRedir", FieldType.BOOL, "1 in a response")
FLAG_ASYNC = R.define(f"{_H}.Flags.AsyncCommand", FieldType.BOOL, "Async header (AsyncId instead of TreeId)")
FLAG_RELATED = R.define(f"{_H}.Flags.RelatedOperations", FieldType.BOOL, "Compounded with the message before")
FLAG_SIGNED = R.define(f"{_H}.Flags.Signed", FieldType.BOOL, "Message is signed")
NEXT_COMMAND = R.define(f"{_H}.NextCommand", FieldType.UINT, "Offset of the next compounded message (0: last)")
MESSAGE_ID = R.define(f"{_H}.MessageId", FieldType.UINT, "Message id (Mid) pairing request and response")
ASYNC_ID = R.define(f"{_H}.AsyncId", FieldType.UINT, "Async id (async responses)")
TREE_ID = R.define(f"{_H}.TreeId", FieldType.UINT, "Tree id (share)")
SESSION_ID = R.define(f"{_H}.SessionId", FieldType.UINT, "Session id")
SIGNATURE = R.define(f"{_H}.Signature", FieldType.BYTES, "Signature")
ERROR = R.define("SMB2.ErrorMessage", FieldType.PROTOCOL, "Error response body")
ERROR_BYTES = R.define("SMB2.ErrorMessage.ByteCount", FieldType.UINT, "Bytes of error data")
DIALECT = R.define("SMB2.NegotiateRequest.Dialect", FieldType.UINT, "Offered dialect (one per dialect)", enum=DIALECTS)
DIALECT_REVISION = R.define("SMB2.NegotiateResponse.DialectRevision", FieldType.UINT, "Chosen dialect", enum=DIALECTS)
SECURITY_BUFFER = R.define("SMB2.SessionSetup.SecurityBuffer", FieldType.BYTES, "GSS-API token (SPNEGO, NTLMSSP, Kerberos)")
TREE_PATH = R.define("SMB2.TreeConnect.Path", FieldType.STRING, "Share path (\\\\server\\share)")
SHARE_TYPE = R.define("SMB2.TreeConnect.ShareType", FieldType.UINT, "Share type", enum=SHARE_TYPES)
FILE_NAME = R.define("SMB2.FileName", FieldType.STRING, "File name of a CREATE request")
DESIRED_ACCESS = R.define("SMB2.Create.DesiredAccess", FieldType.UINT, "Access mask asked for")
DISPOSITION = R.define("SMB2.Create.CreateDisposition", FieldType.UINT, "What to do if the file exists",
                       enum=DISPOSITIONS)
CREATE_OPTIONS = R.define("SMB2.Create.CreateOptions", FieldType.UINT, "Create options")
CREATE_ACTION = R.define("SMB2.Create.CreateAction", FieldType.UINT, "What the server did", enum=CREATE_ACTIONS)
FILE_ID = R.define("SMB2.FileId", FieldType.BYTES, "File id (persistent and volatile parts)")
OFFSET = R.define("SMB2.Offset", FieldType.UINT, "File offset of a READ or WRITE")
LENGTH = R.define("SMB2.Length", FieldType.UINT, "Bytes asked for (READ) or written (WRITE)")
DATA_LENGTH = R.define("SMB2.DataLength", FieldType.UINT, "Bytes returned by a READ")
CTL_CODE = R.define("SMB2.Ioctl.CtlCode", FieldType.UINT, "IOCTL / FSCTL code", enum=IOCTLS)
SEARCH_PATTERN = R.define("SMB2.QueryDirectory.FileName", FieldType.STRING, "Search pattern of QUERY DIRECTORY")
R.alias("SMB2.Status", f"{_H}.Status.Code")
R.alias("SMB2.Command", f"{_H}.Command")
R.alias("SMB2.MessageId", f"{_H}.MessageId")
R.alias("SMB2.SessionId", f"{_H}.SessionId")
R.alias("SMB2.TreeId", f"{_H}.TreeId")

TRANSFORM = R.define("SMB2.TransformHeader", FieldType.PROTOCOL, "SMB3 encryption (0xFD) or compression (0xFC) header")
TRANSFORM_SESSION = R.define("SMB2.TransformHeader.SessionId", FieldType.UINT, "Session whose key encrypts it")

_HDR = struct.Struct("<4sHHIHHIIQ")  # through MessageId
MAX_COMPOUND = 32
#: ``fn(ctx, start, end)`` for each SESSION SETUP security buffer (ntlmssp.py)
SECURITY_BLOBS: list[Callable[[Ctx, int, int], None]] = []
#: ``fn(ctx, start, end)`` for named-pipe data: WRITE request, READ response and FSCTL_PIPE_TRANSCEIVE
#: input/output (dcerpc.py, which decides by the first bytes whether an RPC PDU is there)
PIPE_PAYLOADS: list[Callable[[Ctx, int, int], None]] = []
FSCTL_PIPE_TRANSCEIVE = 0x0011C017


def dissect_smb2(ctx: Ctx, off: int, end: int) -> None:
    d = ctx.data
    layer = ctx.layer(SMB2, "", off, end - off)
    if d[off] in (0xFD, 0xFC):
        _transform(ctx, layer, off, end)
        return
    parts = []
    pos = off
    blobs: list[tuple[int, int]] = []  # security tokens
    pipes: list[tuple[int, int]] = []  # pipe data (WRITE, READ, TRANSCEIVE)
    for _ in range(MAX_COMPOUND):
        text, nxt = _message(ctx, layer, pos, end, blobs, pipes)
        parts.append(text)
        if nxt <= 0 or pos + nxt >= end or pos + nxt + 4 > end or d[pos + nxt : pos + nxt + 4] != b"\xfeSMB":
            break
        pos += nxt
    ctx.set_summary(layer, "; ".join(parts))
    for start, stop in blobs:  # security tokens become layers of their own after the summary is set
        for fn in SECURITY_BLOBS:
            fn(ctx, start, stop)
    for start, stop in pipes:
        for fn in PIPE_PAYLOADS:
            fn(ctx, start, stop)


def _transform(ctx: Ctx, layer: Layer, off: int, end: int) -> None:
    d = ctx.data
    node = layer.add(TRANSFORM, True, off, min(end - off, 52), display="")
    if end - off >= 52 and d[off] == 0xFD:
        sid = int.from_bytes(d[off + 44 : off + 52], "little")
        node.add(TRANSFORM_SESSION, sid, off + 44, 8, display=f"0x{sid:016X}")
        ctx.set_summary(layer, f"Transform Header (encrypted), SessionId = 0x{sid:016X}")
    else:
        ctx.set_summary(layer, "Transform Header" + (" [truncated]" if end - off < 52 else ""))


def _message(ctx: Ctx, layer: Layer, off: int, end: int, blobs: list[tuple[int, int]],
             pipes: list[tuple[int, int]]) -> tuple[str, int]:
    """One message at ``off``: its summary and NextCommand (0 when it is the last)."""
    d = ctx.data
    if end - off < 64:
        layer.add(HEADER, True, off, end - off, display="[truncated]")
        return "[truncated]", 0
    _, size, charge, status, cmd, credits, flags, nxt, mid = _HDR.unpack_from(d, off)
    response = flags & 1
    hdr = layer.add(HEADER, True, off, 64, display="")
    hdr.add(STRUCTURE_SIZE, size, off + 4, 2)
    hdr.add(CREDIT_CHARGE, charge, off + 6, 2)
    if response:
        st = hdr.add(STATUS, status, off + 8, 4, display=status_text(status))
        st.add(STATUS_CODE, status, off + 8, 4, display=status_text(status))
    else:  # a request's status bytes are its channel sequence (SMB 3.x) and reserved
        hdr.add(CHANNEL_SEQUENCE, status & 0xFFFF, off + 8, 2, display=str(status & 0xFFFF))
    name = COMMANDS.get(cmd, f"Command {cmd}")
    hdr.add(COMMAND, cmd, off + 12, 2, display=f"{name} (0x{cmd:X})")
    hdr.add(CREDITS, credits, off + 14, 2)
    fl = hdr.add(FLAGS, flags, off + 16, 4, display=f"0x{flags:08X}")
    for fdef, bit in ((FLAG_RESPONSE, 0), (FLAG_ASYNC, 1), (FLAG_RELATED, 2), (FLAG_SIGNED, 3)):
        fl.add(fdef, (flags >> bit) & 1, off + 16, 1, display=str((flags >> bit) & 1), bits=(7 - bit, 1))
    hdr.add(NEXT_COMMAND, nxt, off + 20, 4)
    hdr.add(MESSAGE_ID, mid, off + 24, 8)
    if flags & 2:
        aid = int.from_bytes(d[off + 32 : off + 40], "little")
        hdr.add(ASYNC_ID, aid, off + 32, 8, display=f"0x{aid:X}")
    else:
        tid = int.from_bytes(d[off + 36 : off + 40], "little")
        hdr.add(TREE_ID, tid, off + 36, 4, display=f"0x{tid:X}")
    sid = int.from_bytes(d[off + 40 : off + 48], "little")
    hdr.add(SESSION_ID, sid, off + 40, 8, display=f"0x{sid:016X}")
    hdr.add(SIGNATURE, d[off + 48 : off + 64], off + 48, 16, display=d[off + 48 : off + 64].hex())
    hdr.display = f"{'R' if response else 'C'} {name}"
    stop = min(end, off + nxt) if nxt else end
    text = f"{'R' if response else 'C'}   {name} (0x{cmd:X})"
    body = off + 64
    if response and status:
        text += f", Status = {status_text(status)}"
    if response and _error_body(d, cmd, status, body, stop):
        err = layer.add(ERROR, True, body, stop - body, display=status_text(status))
        err.add(ERROR_BYTES, int.from_bytes(d[body + 4 : body + 8], "little"), body + 4, 4)
    else:
        extra = _body(ctx, layer, cmd, response, off, body, stop, blobs)
        _pipe_data(d, cmd, response, off, body, stop, pipes)
        text += extra
    if off + 64 > end or (nxt == 0 and _declared_end(d, cmd, response, off, body, stop) > end):
        text += " [truncated]"
    return f"{text}, Mid = {mid}", nxt


def _error_body(d: bytes, cmd: int, status: int, body: int, stop: int) -> bool:
    """Whether a response body is the error response (MS-SMB2 2.2.2): a non-zero status and a
    9-byte structure, except where the status still comes with the command's own response
    (more processing in SESSION SETUP, whose response is 9 bytes too; a buffer overflow)."""
    if not status or stop - body < 8 or _u16(d, body) != 9:
        return False
    return not ((cmd == 1 and status == 0xC0000016) or (status == 0x80000005 and cmd in (8, 11, 16)))


def _declared_end(d: bytes, cmd: int, response: int, off: int, body: int, stop: int) -> int:
    """Where a READ response's or WRITE request's data ends by its own lengths (else ``stop``)."""
    if cmd == 8 and response and body + 8 <= stop:
        return off + d[body + 2] + int.from_bytes(d[body + 4 : body + 8], "little")
    if cmd == 9 and not response and body + 8 <= stop:
        return off + int.from_bytes(d[body + 2 : body + 4], "little") + int.from_bytes(d[body + 4 : body + 8], "little")
    return stop


def _pipe_data(d: bytes, cmd: int, response: int, off: int, body: int, stop: int,
               pipes: list[tuple[int, int]]) -> None:
    """Where a WRITE request's, READ response's or FSCTL_PIPE_TRANSCEIVE's data lies (cut at ``stop``)."""
    if cmd == 9 and not response and body + 8 <= stop:
        start, n = off + _u16(d, body + 2), _u32(d, body + 4)
    elif cmd == 8 and response and body + 8 <= stop:
        start, n = off + d[body + 2], _u32(d, body + 4)
    elif cmd == 11 and body + 40 <= stop and _u32(d, body + 4) == FSCTL_PIPE_TRANSCEIVE:
        at = body + (32 if response else 24)
        start, n = off + _u32(d, at), _u32(d, at + 4)
    else:
        return
    if n and off + 64 <= start < stop:
        pipes.append((start, min(stop, start + n)))


def _u16(d: bytes, p: int) -> int:
    return d[p] | (d[p + 1] << 8)


def _u32(d: bytes, p: int) -> int:
    return int.from_bytes(d[p : p + 4], "little")


def _string(layer: Layer, fdef: FieldDef, d: bytes, base: int, at: int, stop: int) -> str | None:
    """The UTF-16LE string whose (offset from ``base``, length) u16 pair is at ``at``: a field and
    its text (cut at ``stop``, then marked), or None when it is empty or starts past ``stop``."""
    start, n = base + _u16(d, at), _u16(d, at + 2)
    if n == 0 or start >= stop or start < base:
        return None
    cut = start + n > stop
    n = min(n, stop - start) & ~1
    text = d[start : start + n].decode("utf-16-le", "replace")
    layer.add(fdef, text, start, n)
    return text + (" [truncated]" if cut else "")


def _add(node: Layer | Field, fdef: FieldDef, d: bytes, at: int, width: int, stop: int,
         names: dict[int, str] | None = None) -> int | None:
    """A little-endian integer field when its bytes are there; returns the value."""
    if at + width > stop:
        return None
    v = int.from_bytes(d[at : at + width], "little")
    shown = f"{names[v]} ({v})" if names and v in names else None
    node.add(fdef, v, at, width, display=shown)
    return v


def _body(ctx: Ctx, layer: Layer, cmd: int, response: int, off: int, body: int, stop: int,
          blobs: list[tuple[int, int]]) -> str:
    """The command's fields; returns the text the summary adds."""
    d = ctx.data
    if cmd == 0:
        if not response and body + 36 <= stop:
            count = _u16(d, body + 2)
            shown = []
            for at in range(body + 36, min(stop - 1, body + 36 + 2 * count), 2):
                v = _u16(d, at)
                layer.add(DIALECT, v, at, 2, display=DIALECTS.get(v, f"0x{v:04X}"))
                shown.append(DIALECTS.get(v, f"0x{v:04X}"))
            return ", Dialects = " + ", ".join(shown) if shown else ""
        if response and body + 6 <= stop:
            v = _u16(d, body + 4)
            layer.add(DIALECT_REVISION, v, body + 4, 2, display=DIALECTS.get(v, f"0x{v:04X}"))
            return f", Dialect = {DIALECTS.get(v, f'0x{v:04X}')}"
        return ""
    if cmd == 1:
        at = body + (12 if not response else 4)
        if at + 4 <= stop:
            boff, blen = _u16(d, at), _u16(d, at + 2)
            start, n = off + boff, max(0, min(blen, stop - off - boff))
            if boff and n:
                layer.add(SECURITY_BUFFER, d[start : start + n], start, n, display=f"{blen} bytes")
                blobs.append((start, start + n))
        return ""
    if cmd == 3:
        if not response and body + 8 <= stop:
            text = _string(layer, TREE_PATH, d, off, body + 4, stop)
            return f", Path = {text}" if text is not None else ""
        if response:
            v = _add(layer, SHARE_TYPE, d, body + 2, 1, stop, SHARE_TYPES)
            return f", ShareType = {SHARE_TYPES.get(v, v)}" if v is not None else ""
        return ""
    if cmd == 5:
        return _create(d, layer, response, off, body, stop)
    if cmd in (8, 9):
        if response:
            if cmd == 8 and body + 8 <= stop:
                n = _u32(d, body + 4)
                layer.add(DATA_LENGTH, n, body + 4, 4)
                return f", Length = {n}"
            if cmd == 9 and body + 8 <= stop:
                n = _u32(d, body + 4)
                layer.add(LENGTH, n, body + 4, 4)
                return f", Count = {n}"
            return ""
        if body + 32 > stop:
            return ""
        n, offset = _u32(d, body + 4), int.from_bytes(d[body + 8 : body + 16], "little")
        layer.add(LENGTH, n, body + 4, 4)
        layer.add(OFFSET, offset, body + 8, 8)
        layer.add(FILE_ID, d[body + 16 : body + 32], body + 16, 16, display=d[body + 16 : body + 32].hex())
        return f", Offset = {offset}, Length = {n}"
    if cmd == 11 and body + 24 <= stop:  # request and response alike
        code = _u32(d, body + 4)
        layer.add(CTL_CODE, code, body + 4, 4, display=f"{IOCTLS.get(code, 'Unknown')} (0x{code:08X})")
        layer.add(FILE_ID, d[body + 8 : body + 24], body + 8, 16, display=d[body + 8 : body + 24].hex())
        return f", {IOCTLS.get(code, f'Ctl 0x{code:08X}')}"
    if cmd == 6 and not response and body + 24 <= stop:
        layer.add(FILE_ID, d[body + 8 : body + 24], body + 8, 16, display=d[body + 8 : body + 24].hex())
    if cmd == 14 and not response and body + 32 <= stop:
        text = _string(layer, SEARCH_PATTERN, d, off, body + 24, stop)
        return f", SearchPattern = {text}" if text is not None else ""
    return ""


def _create(d: bytes, layer: Layer, response: int, off: int, body: int, stop: int) -> str:
    if response:
        if body + 80 > stop:
            return ""
        _add(layer, CREATE_ACTION, d, body + 4, 4, stop, CREATE_ACTIONS)
        layer.add(FILE_ID, d[body + 64 : body + 80], body + 64, 16, display=d[body + 64 : body + 80].hex())
        return f", FileId = {d[body + 72 : body + 80][::-1].hex()}"
    if body + 48 > stop:
        return ""
    _add(layer, DESIRED_ACCESS, d, body + 24, 4, stop)
    _add(layer, DISPOSITION, d, body + 36, 4, stop, DISPOSITIONS)
    _add(layer, CREATE_OPTIONS, d, body + 40, 4, stop)
    text = _string(layer, FILE_NAME, d, off, body + 44, stop)  # none: the share's root
    return f", File = {text}" if text is not None else ""
