"""Connection-oriented DCE/RPC (MS-RPCE, C706 chapter 12) as Netmon's ``MSRPC`` parser names it:
the common header, bind / alter context with their presentation contexts (interfaces named),
bind_ack results, request opnums, responses, faults with their status names, and the auth
verifier (NTLMSSP handed to its dissector).

Carried on TCP 135 (the endpoint mapper), on any TCP port whose payload starts with a valid
header (``starts_pdu``, also made vectorised by ``fastapps``), and in SMB2 named-pipe WRITE,
READ and IOCTL (FSCTL_PIPE_TRANSCEIVE) data.  There is no reassembly: a segment on port 135 that
does not start a PDU says ``MSRPC: continued``; a PDU the segment cuts is read up to the cut and
marked ``[truncated]``.  Several PDUs in one segment are each read.

What other segments of the conversation bound is remembered per TCP conversation (``CallMemory``,
built by ``traces/convmemory.py`` when a frame is read from a trace), as tshark does: a response
gets the opnum of the latest earlier request with its call id, and a request the interface the
latest earlier bind or alter context gave its context id (on the same SMB2 pipe, by FileId).
Operations of the common interfaces are named (``SAMR SamrConnect5 (64)``, ``msrpc_ops``).
"""

from __future__ import annotations

import bisect
import re
import uuid
from collections.abc import Callable
from typing import Literal

from ..fields import REGISTRY, FieldType
from ..frame import Field, Layer
from ..ntstatus import NTSTATUS, status_text
from . import smb2
from .core import MEMORIES, TCP_HEURISTICS, TCP_PORTS, Ctx, Memory
from .msrpc_ops import operation

R = REGISTRY
PTYPES = {0: "Request", 1: "Ping", 2: "Response", 3: "Fault", 4: "Working", 5: "Nocall", 6: "Reject", 7: "Ack",
          8: "Cl_cancel", 9: "Fack", 10: "Cancel_ack", 11: "Bind", 12: "Bind Ack", 13: "Bind Nak",
          14: "Alter Context", 15: "Alter Context Response", 16: "Auth3", 17: "Shutdown", 18: "Co Cancel",
          19: "Orphaned"}
#: the packet types a connection-oriented PDU may have (C706 12.6.4)
CO_PTYPES = frozenset({0, 2, 3, 11, 12, 13, 14, 15, 16, 17, 18, 19})
PFC_FLAGS = ((0x01, "First"), (0x02, "Last"), (0x04, "PendingCancel"), (0x08, "Reserved"),
             (0x10, "ConcMpx"), (0x20, "DidNotExecute"), (0x40, "Maybe"), (0x80, "ObjectUuid"))
INTERFACES = {
    "e1af8308-5d1f-11c9-91a4-08002b14a0fa": "EPM",
    "12345778-1234-abcd-ef00-0123456789ab": "LSARPC",
    "12345778-1234-abcd-ef00-0123456789ac": "SAMR",
    "12345678-1234-abcd-ef00-01234567cffb": "NETLOGON",
    "e3514235-4b06-11d1-ab04-00c04fc2dcd2": "DRSUAPI",
    "4b324fc8-1670-01d3-1278-5a47bf6ee188": "SRVSVC",
    "6bffd098-a112-3610-9833-46c3f87e345a": "WKSSVC",
    "50abc2a4-574d-40b3-9d66-ee4fd5fba076": "DNSSERVER",
    "338cd001-2244-31f1-aaaa-900038001003": "WINREG",
    "367abb81-9844-35f1-ad32-98f038001003": "SVCCTL",
    "afa8bd80-7d8a-11c9-bef4-08002b102989": "MGMT",
    "000001a0-0000-0000-c000-000000000046": "ISystemActivator",
    "4d9f4ab8-7d1c-11cf-861e-0020af6e7c57": "IRemoteSCMActivator",
    "99fcfec4-5260-101b-bbcb-00aa0021347a": "IOXIDResolver",
    "82273fdc-e32a-18c3-3f78-827929dc23ea": "EVENTLOG",
    "f6beaff7-1e19-4fbb-9f8f-b89e2018337c": "EVEN6",
    "86d35949-83c9-4044-b424-db363231fd0c": "ITaskSchedulerService",
    "12345678-1234-abcd-ef00-0123456789ab": "SPOOLSS",
    "3919286a-b10c-11d0-9ba8-00c04fd92ef5": "DSSETUP",
    "c681d488-d850-11d0-8c52-00c04fd90f7e": "EFSRPC",
}
TRANSFER_SYNTAXES = {
    "8a885d04-1ceb-11c9-9fe8-08002b104860": "NDR",
    "71710533-beba-4937-8319-b5dbef9ccc36": "NDR64",
}
_BTFN = "6cb71c2c-9812-4540-"  # bind time feature negotiation: the rest of the UUID holds the bits
AUTH_TYPES = {0: "None", 9: "SPNEGO", 10: "NTLMSSP", 14: "Schannel", 16: "Kerberos", 68: "Netlogon",
              255: "Default"}
AUTH_LEVELS = {1: "None", 2: "Connect", 3: "Call", 4: "Packet", 5: "Packet Integrity", 6: "Packet Privacy"}
RESULTS = {0: "Acceptance", 1: "User rejection", 2: "Provider rejection", 3: "Negotiate ACK"}
#: nca_s_* fault codes (C706 appendix E, MS-RPCE 2.2.2.11 / 3.1.1.5.5) and Win32 codes seen in faults
NCA_STATUS = {
    0x00000005: "ERROR_ACCESS_DENIED", 0x000006D8: "EPT_S_CANT_PERFORM_OP",
    0x000006F7: "RPC_X_BAD_STUB_DATA", 0x1C000001: "nca_s_fault_int_div_by_zero",
    0x1C000002: "nca_s_fault_addr_error", 0x1C000003: "nca_s_fault_fp_div_zero",
    0x1C000004: "nca_s_fault_fp_underflow", 0x1C000005: "nca_s_fault_fp_overflow",
    0x1C000006: "nca_s_fault_invalid_tag", 0x1C000007: "nca_s_fault_invalid_bound",
    0x1C000008: "nca_s_rpc_version_mismatch", 0x1C000009: "nca_s_unspec_reject",
    0x1C00000A: "nca_s_bad_actid", 0x1C00000B: "nca_s_who_are_you_failed",
    0x1C00000C: "nca_s_manager_not_entered", 0x1C00000D: "nca_s_fault_cancel",
    0x1C00000E: "nca_s_fault_ill_inst", 0x1C00000F: "nca_s_fault_fp_error",
    0x1C000010: "nca_s_fault_int_overflow", 0x1C000012: "nca_s_fault_unspec",
    0x1C000013: "nca_s_fault_remote_comm_failure", 0x1C000014: "nca_s_fault_pipe_empty",
    0x1C000015: "nca_s_fault_pipe_closed", 0x1C000016: "nca_s_fault_pipe_order",
    0x1C000017: "nca_s_fault_pipe_discipline", 0x1C000018: "nca_s_fault_pipe_comm_error",
    0x1C000019: "nca_s_fault_pipe_memory", 0x1C00001A: "nca_s_fault_context_mismatch",
    0x1C00001B: "nca_s_fault_remote_no_memory", 0x1C00001C: "nca_s_invalid_pres_context_id",
    0x1C00001D: "nca_s_unsupported_authn_level", 0x1C00001F: "nca_s_invalid_checksum",
    0x1C000020: "nca_s_invalid_crc", 0x1C000021: "nca_s_fault_user_defined",
    0x1C000022: "nca_s_fault_tx_open_failed", 0x1C000023: "nca_s_fault_codeset_conv_error",
    0x1C000024: "nca_s_fault_object_not_found", 0x1C000025: "nca_s_fault_no_client_stub",
    0x1C010002: "nca_s_op_rng_error", 0x1C010003: "nca_s_unk_if", 0x1C010006: "nca_s_wrong_boot_time",
    0x1C010009: "nca_s_you_crashed", 0x1C01000B: "nca_s_proto_error", 0x1C010013: "nca_s_out_args_too_big",
    0x1C010014: "nca_s_server_too_busy", 0x1C010017: "nca_s_unsupported_type",
}

MSRPC = R.protocol("MSRPC", "Microsoft RPC: connection-oriented DCE/RPC (MS-RPCE) on TCP and SMB2 named pipes")
VERSION = R.define("MSRPC.RpcVers", FieldType.UINT, "RPC version (5)")
VERSION_MINOR = R.define("MSRPC.RpcVersMinor", FieldType.UINT, "RPC minor version (0 or 1)")
PTYPE = R.define("MSRPC.PType", FieldType.UINT, "PDU type (0 request, 2 response, 3 fault, 11 bind …)",
                 enum=PTYPES)
PFC_FLAGS_FIELD = R.define("MSRPC.PfcFlags", FieldType.UINT, "PDU flags (first/last fragment …)")
FLAG_FIELDS = {name: R.define(f"MSRPC.PfcFlags.{name}", FieldType.BOOL, f"Flag PFC_{name.upper()}")
               for _, name in PFC_FLAGS}
DREP = R.define("MSRPC.PackedDrep", FieldType.UINT, "Data representation (0x10: little-endian, ASCII, IEEE)")
FRAG_LENGTH = R.define("MSRPC.FragLength", FieldType.UINT, "Length of this PDU (fragment)")
AUTH_LENGTH = R.define("MSRPC.AuthLength", FieldType.UINT, "Length of the auth verifier's value")
CALL_ID = R.define("MSRPC.CallId", FieldType.UINT, "Call id pairing requests and responses")
MAX_XMIT = R.define("MSRPC.MaxXmitFrag", FieldType.UINT, "Largest fragment the sender sends")
MAX_RECV = R.define("MSRPC.MaxRecvFrag", FieldType.UINT, "Largest fragment the sender receives")
ASSOC_GROUP = R.define("MSRPC.AssocGroupId", FieldType.UINT, "Association group")
CONTEXT = R.define("MSRPC.PContext", FieldType.PROTOCOL, "A presentation context of a bind or alter context")
CONTEXT_ID = R.define("MSRPC.ContextId", FieldType.UINT, "Presentation context id")
INTERFACE = R.define("MSRPC.Interface", FieldType.STRING,
                     "Interface name (LSARPC, SAMR …) or its UUID; on a call, from its context's bind")
ABSTRACT_UUID = R.define("MSRPC.AbstractSyntax.Uuid", FieldType.STRING, "Interface UUID (abstract syntax)")
ABSTRACT_VERSION = R.define("MSRPC.AbstractSyntax.Version", FieldType.STRING, "Interface version major.minor")
TRANSFER_UUID = R.define("MSRPC.TransferSyntax.Uuid", FieldType.STRING, "Transfer syntax UUID (NDR, NDR64 …)")
TRANSFER_NAME = R.define("MSRPC.TransferSyntax", FieldType.STRING, "Transfer syntax name")
SEC_ADDR = R.define("MSRPC.SecondaryAddress", FieldType.STRING, "Secondary address (port) of a bind_ack")
RESULT = R.define("MSRPC.Result", FieldType.UINT, "Result of one context in a bind_ack", enum=RESULTS)
ALLOC_HINT = R.define("MSRPC.AllocHint", FieldType.UINT, "Size of the whole stub data")
OPNUM = R.define("MSRPC.OpNum", FieldType.UINT, "Operation number (a response: its request's, by call id)")
CANCEL_COUNT = R.define("MSRPC.CancelCount", FieldType.UINT, "Cancels received")
FAULT_STATUS = R.define("MSRPC.Fault.Status", FieldType.UINT, "Fault status (nca_s_* or NTSTATUS/Win32)")
STUB_DATA = R.define("MSRPC.StubData", FieldType.BYTES, "Stub data (the call's NDR-encoded arguments)")
AUTH = R.define("MSRPC.AuthVerifier", FieldType.PROTOCOL, "Auth verifier (sec_trailer and its value)")
AUTH_TYPE = R.define("MSRPC.AuthVerifier.AuthType", FieldType.UINT, "Security provider", enum=AUTH_TYPES)
AUTH_LEVEL = R.define("MSRPC.AuthVerifier.AuthLevel", FieldType.UINT, "Authentication level", enum=AUTH_LEVELS)
AUTH_VALUE = R.define("MSRPC.AuthVerifier.AuthValue", FieldType.BYTES, "The security provider's token")
CONTINUED = R.define("MSRPC.ContinuedData", FieldType.BYTES, "Bytes of a PDU begun in an earlier segment")
R.alias("MSRPCE", "MSRPC")
R.alias("DCERPC", "MSRPC")

#: reads an integer of n bytes at p in the PDU's byte order (its data representation)
_Reader = Callable[[int, int], int]
PORTS = (135,)
HEADER = 16
MAX_PDUS = 64
MAX_CONTEXTS = 32
#: ``fn(ctx, start, end)`` for an NTLMSSP auth value (ntlmssp.py registers its blob dissector)
AUTH_BLOBS: list[Callable[[Ctx, int, int], None]] = []


def starts_pdu(d: bytes, off: int, end: int) -> bool:
    """Whether ``d[off:end]`` starts a connection-oriented PDU: version 5.0/5.1, a c/o packet type,
    a data representation Windows sends (integer and character bits, zero padding) and a fragment
    length that holds the header and the auth verifier.  ``fastapps`` makes the same test."""
    if end - off < HEADER or d[off] != 5 or d[off + 1] > 1 or d[off + 2] not in CO_PTYPES:
        return False
    if d[off + 4] & 0xEE or d[off + 5] > 3 or d[off + 6] or d[off + 7]:
        return False
    big = not d[off + 4] & 0x10
    frag = int.from_bytes(d[off + 8 : off + 10], "big" if big else "little")
    auth = int.from_bytes(d[off + 10 : off + 12], "big" if big else "little")
    return frag >= HEADER + (auth + 8 if auth else 0)


def uuid_text(raw: bytes) -> str:
    """A UUID in its wire (little-endian fields) form, as text."""
    return str(uuid.UUID(bytes_le=bytes(raw)))


def dissect_msrpc(ctx: Ctx, off: int, end: int) -> None:
    """Each PDU in ``off:end``; a segment that does not start one continues a PDU."""
    d = ctx.data
    if not starts_pdu(d, off, end):
        layer = ctx.layer(MSRPC, "continued", off, end - off)
        layer.add(CONTINUED, d[off:end], off, end - off, display=f"{end - off} bytes")
        return
    layer = ctx.layer(MSRPC, "", off, end - off)
    parts: list[str] = []
    auths: list[tuple[int, int]] = []
    call = _Calls(ctx, {})
    pos = off
    for _ in range(MAX_PDUS):
        text, frag = _pdu(layer, d, pos, end, auths, call)
        parts.append(text)
        pos += frag
        if pos >= end or not starts_pdu(d, pos, end):
            break
    if pos < end and len(parts) < MAX_PDUS and not starts_pdu(d, pos, end):
        layer.add(CONTINUED, d[pos:end], pos, end - pos, display=f"{end - pos} bytes")
    ctx.set_summary(layer, "; ".join(parts))
    for start, stop in auths:
        for fn in AUTH_BLOBS:
            fn(ctx, start, stop)


class _Calls:
    """One segment's view of its conversation: binds earlier in the segment (context id →
    interface), the conversation's ``CallMemory`` (asked for once, when a PDU needs it), and what
    this segment binds and calls, noted for the memory's build (``ctx.notes["msrpc"]``)."""

    __slots__ = ("_asked", "_memory", "bound", "ctx", "pipe")

    def __init__(self, ctx: Ctx, bound: dict[int, str]) -> None:
        self.ctx, self.bound = ctx, bound
        self.pipe: bytes | None = ctx.notes.get("msrpc_pipe")  # type: ignore[assignment]
        self._memory: CallMemory | None = None
        self._asked = False

    def memory(self) -> CallMemory | None:
        if not self._asked:
            self._asked = True
            history = self.ctx.history
            found = history.recall("msrpc") if history is not None else None
            self._memory = found if isinstance(found, CallMemory) else None
        return self._memory

    def note(self, event: tuple) -> None:
        self.ctx.notes.setdefault("msrpc", []).append(event)  # type: ignore[union-attr]

    def interface(self, ctx_id: int) -> str | None:
        iface = self.bound.get(ctx_id)
        if iface is None and (mem := self.memory()) is not None:
            iface = mem.interface(self.ctx.row, self.pipe, ctx_id)
        return iface


def _pdu(layer: Layer, d: bytes, off: int, end: int, auths: list[tuple[int, int]],
         calls: _Calls) -> tuple[str, int]:
    """One PDU (its header known valid): its summary and its fragment length."""
    order: Literal["little", "big"] = "little" if d[off + 4] & 0x10 else "big"

    def u(p: int, n: int) -> int:
        return int.from_bytes(d[p : p + n], order)

    ptype, flags, frag, alen, call = d[off + 2], d[off + 3], u(off + 8, 2), u(off + 10, 2), u(off + 12, 4)
    stop = min(end, off + frag)
    cut = off + frag > end
    name = PTYPES.get(ptype, f"PType {ptype}")
    node = layer.add(PTYPE, ptype, off + 2, 1, display=f"{name} ({ptype})")
    node.add(VERSION, d[off], off, 1)
    node.add(VERSION_MINOR, d[off + 1], off + 1, 1)
    fl = node.add(PFC_FLAGS_FIELD, flags, off + 3, 1, display=f"0x{flags:02X}")
    for bit, (mask, fname) in enumerate(PFC_FLAGS):
        fl.add(FLAG_FIELDS[fname], int(bool(flags & mask)), off + 3, 1, bits=(7 - bit, 1))
    drep = int.from_bytes(d[off + 4 : off + 8], "little")  # as Netmon shows it: 0x10
    node.add(DREP, drep, off + 4, 4, display=f"0x{drep:X}")
    node.add(FRAG_LENGTH, frag, off + 8, 2)
    node.add(AUTH_LENGTH, alen, off + 10, 2)
    node.add(CALL_ID, call, off + 12, 4, display=f"0x{call:X}")
    body = off + HEADER
    # the auth verifier: an 8-byte sec_trailer then auth_length bytes, at the end of the fragment
    body_end = off + frag - (alen + 8 if alen else 0)
    text = ""
    if ptype in (11, 14):
        text = _bind(node, d, u, body, min(stop, body_end), call, calls)
    elif ptype in (12, 15):
        text = _bind_ack(node, d, u, off, min(stop, body_end), call)
    elif ptype == 0 and body + 8 <= stop:
        hint, ctx_id, opnum = u(body, 4), u(body + 4, 2), u(body + 6, 2)
        node.add(ALLOC_HINT, hint, body, 4, display=f"0x{hint:X}")
        node.add(CONTEXT_ID, ctx_id, body + 4, 2, display=f"0x{ctx_id:X}")
        node.add(OPNUM, opnum, body + 6, 2, display=f"0x{opnum:X}")
        stub = body + 8 + (16 if flags & 0x80 else 0)
        _stub(node, d, stub, min(stop, body_end))
        text = f"Call=0x{call:X} Opnum=0x{opnum:X} Context=0x{ctx_id:X} Hint=0x{hint:X}"
        iface = calls.interface(ctx_id)
        calls.note(("request", calls.pipe, call, opnum, ctx_id, calls.bound.get(ctx_id)))
        if iface is not None:  # the bind of this context: earlier in the segment or the conversation
            node.add(INTERFACE, iface, body + 4, 2)
            text = f"{operation(iface, opnum)} {text}"
    elif ptype in (2, 3) and body + 8 <= stop:
        hint, ctx_id, cancels = u(body, 4), u(body + 4, 2), d[body + 6]
        node.add(ALLOC_HINT, hint, body, 4, display=f"0x{hint:X}")
        node.add(CONTEXT_ID, ctx_id, body + 4, 2, display=f"0x{ctx_id:X}")
        node.add(CANCEL_COUNT, cancels, body + 6, 1)
        text = f"Call=0x{call:X} Context=0x{ctx_id:X} Hint=0x{hint:X} Cancels=0x{cancels:X}"
        mem = calls.memory()
        request = mem.request(calls.ctx.row, calls.pipe, call) if mem is not None else None
        what = ""
        if request is not None:  # the request with this call id, earlier in the conversation
            opnum, iface = request
            node.add(OPNUM, opnum, off + 12, 4, display=f"0x{opnum:X}")
            if iface is not None:
                node.add(INTERFACE, iface, off + 12, 4)
            what = f"{operation(iface, opnum)} " if iface is not None else f"Opnum=0x{opnum:X} "
            text = what + text
        if ptype == 3 and body + 12 <= stop:
            status = u(body + 8, 4)
            node.add(FAULT_STATUS, status, body + 8, 4, display=fault_text(status))
            text = f"{what}Call=0x{call:X} Context=0x{ctx_id:X} Status={fault_text(status)} Cancels=0x{cancels:X}"
        elif ptype == 2:
            _stub(node, d, body + 8, min(stop, body_end))
    else:
        text = f"Call=0x{call:X}"
    if alen and body_end >= body and body_end + 8 <= stop:
        _auth(node, d, body_end, min(stop, body_end + 8 + alen), alen, auths)
    summary = f"c/o {name}: {text}" if text else f"c/o {name}"
    return summary + (" [truncated]" if cut else ""), max(frag, HEADER)


def fault_text(status: int) -> str:
    """``nca_s_unk_if (0x1C010003)``, an NTSTATUS by its name, else the number."""
    if status in NCA_STATUS:
        return f"{NCA_STATUS[status]} (0x{status:08X})"
    return status_text(status) if status in NTSTATUS else f"0x{status:08X}"


def _stub(node: Field, d: bytes, start: int, stop: int) -> None:
    if stop > start:
        node.add(STUB_DATA, d[start:stop], start, stop - start, display=f"{stop - start} bytes")


def _syntax(d: bytes, at: int, u: _Reader) -> tuple[str, str]:
    """(UUID text, version text) of a p_syntax_id_t at ``at`` (20 bytes)."""
    ver = u(at + 16, 2), u(at + 18, 2)
    return uuid_text(d[at : at + 16]), f"{ver[0]}.{ver[1]}"


def _bind(node: Field, d: bytes, u: _Reader, body: int, stop: int, call: int, calls: _Calls) -> str:
    if body + 12 > stop:
        return f"Call=0x{call:X}"
    xmit, recv, group = u(body, 2), u(body + 2, 2), u(body + 4, 4)
    node.add(MAX_XMIT, xmit, body, 2, display=f"0x{xmit:X}")
    node.add(MAX_RECV, recv, body + 2, 2, display=f"0x{recv:X}")
    node.add(ASSOC_GROUP, group, body + 4, 4, display=f"0x{group:X}")
    count = d[body + 8]
    at = body + 12
    first = ""
    for _ in range(min(count, MAX_CONTEXTS)):
        if at + 24 > stop:
            break
        ctx_id, n_transfer = u(at, 2), d[at + 2]
        uid, ver = _syntax(d, at + 4, u)
        iface = INTERFACES.get(uid, uid)
        item = node.add(CONTEXT, True, at, min(stop, at + 24 + 20 * n_transfer) - at, display=f"{iface} V{ver}")
        item.add(CONTEXT_ID, ctx_id, at, 2, display=f"0x{ctx_id:X}")
        item.add(INTERFACE, iface, at + 4, 16)
        item.add(ABSTRACT_UUID, uid, at + 4, 16)
        item.add(ABSTRACT_VERSION, ver, at + 20, 4)
        first = first or f"UUID{{{uid}}} {iface if iface != uid else ''}"
        calls.bound.setdefault(ctx_id, iface)
        calls.note(("bind", calls.pipe, ctx_id, iface))
        at += 24
        for _ in range(n_transfer):
            if at + 20 > stop:
                break
            tid, _tver = _syntax(d, at, u)
            tname = TRANSFER_SYNTAXES.get(tid) or ("Bind Time Feature Negotiation" if tid.startswith(_BTFN) else tid)
            item.add(TRANSFER_UUID, tid, at, 16)
            item.add(TRANSFER_NAME, tname, at, 20)
            at += 20
    return f"{first}  Call=0x{call:X}  Assoc Grp=0x{group:X}  Xmit=0x{xmit:X}  Recv=0x{recv:X}"


def _bind_ack(node: Field, d: bytes, u: _Reader, off: int, stop: int, call: int) -> str:
    body = off + HEADER
    if body + 10 > stop:
        return f"Call=0x{call:X}"
    xmit, recv, group, alen = u(body, 2), u(body + 2, 2), u(body + 4, 4), u(body + 8, 2)
    node.add(MAX_XMIT, xmit, body, 2, display=f"0x{xmit:X}")
    node.add(MAX_RECV, recv, body + 2, 2, display=f"0x{recv:X}")
    node.add(ASSOC_GROUP, group, body + 4, 4, display=f"0x{group:X}")
    at = body + 10
    addr = d[at : min(stop, at + alen)].split(b"\0", 1)[0].decode("latin-1")
    node.add(SEC_ADDR, addr, at, min(stop, at + alen) - at)
    at = off + ((at + alen - off + 3) & ~3)  # padded to 4 from the PDU's start
    results: list[str] = []
    if at + 4 <= stop:
        count = d[at]
        at += 4
        for _ in range(min(count, MAX_CONTEXTS)):
            if at + 24 > stop:
                break
            res = u(at, 2)
            node.add(RESULT, res, at, 2, display=RESULTS.get(res, str(res)))
            results.append(RESULTS.get(res, str(res)))
            at += 24
    shown = f" Addr={addr}" if addr else ""
    return f"Call=0x{call:X}  Assoc Grp=0x{group:X}  Xmit=0x{xmit:X}  Recv=0x{recv:X}{shown}" + (
        f"  Results: {', '.join(results)}" if results else "")


def _auth(node: Field, d: bytes, at: int, stop: int, alen: int, auths: list[tuple[int, int]]) -> None:
    kind, level = d[at], d[at + 1]
    auth = node.add(AUTH, True, at, stop - at, display=AUTH_TYPES.get(kind, str(kind)))
    auth.add(AUTH_TYPE, kind, at, 1, display=f"{AUTH_TYPES.get(kind, 'Unknown')} ({kind})")
    auth.add(AUTH_LEVEL, level, at + 1, 1, display=f"{AUTH_LEVELS.get(level, 'Unknown')} ({level})")
    value = at + 8
    if stop > value:
        auth.add(AUTH_VALUE, d[value:stop], value, stop - value, display=f"{alen} bytes")
        if kind in (9, 10):
            auths.append((value, stop))


def from_smb2(ctx: Ctx, start: int, stop: int) -> None:
    """SMB2 named-pipe data (WRITE, READ, IOCTL FSCTL_PIPE_TRANSCEIVE) that starts a PDU; the
    pipe's FileId (when the message carries one: not a READ response) keys its binds."""
    if starts_pdu(ctx.data, start, stop):
        ctx.notes["msrpc_pipe"] = _pipe_file(ctx, start)
        try:
            dissect_msrpc(ctx, start, stop)
        finally:
            ctx.notes.pop("msrpc_pipe", None)


_RELATED = b"\xff" * 16  # a compounded message's "the FileId of the one before"


def _pipe_file(ctx: Ctx, start: int) -> bytes | None:
    """The FileId of the SMB2 message whose data starts at ``start``."""
    layer = next((la for la in reversed(ctx.layers) if la.protocol is smb2.SMB2), None)
    if layer is None:
        return None
    fid: bytes | None = None
    for f in layer.fields:
        if f.start >= start:
            break
        if f.fdef is smb2.HEADER:
            fid = fid if f.children and _related(f) else None
        elif f.fdef is smb2.FILE_ID and f.value != _RELATED:
            fid = bytes(f.value)
    return fid


def _related(header: Field) -> bool:
    return any(c.fdef is smb2.FLAG_RELATED and c.value for f in header.children if f.fdef is smb2.FLAGS
               for c in f.children)


#: calls and binds one conversation's memory holds at most (a later frame gets no answer)
MAX_CALLS = 100_000


class CallMemory:
    """One conversation's binds and requests, in frame order: what a later PDU's context id and
    call id name.  Built forward (``_add_frame``) over the conversation's MSRPC frames."""

    __slots__ = ("_binds", "_calls", "_count", "full_after")

    def __init__(self) -> None:
        #: (pipe, context id) → (rows, interfaces)
        self._binds: dict[tuple[bytes | None, int], tuple[list[int], list[str]]] = {}
        #: call id → (rows, (pipe, opnum, interface))
        self._calls: dict[int, tuple[list[int], list[tuple[bytes | None, int, str | None]]]] = {}
        self._count = 0
        #: the last row recorded when the memory filled up (-1: it did not)
        self.full_after = -1

    def _room(self, row: int) -> bool:
        if self.full_after >= 0:
            return False
        if self._count >= MAX_CALLS:
            self.full_after = row - 1
            return False
        self._count += 1
        return True

    def add_bind(self, row: int, pipe: bytes | None, ctx_id: int, iface: str) -> None:
        if self._room(row):
            rows, ifaces = self._binds.setdefault((pipe, ctx_id), ([], []))
            rows.append(row)
            ifaces.append(iface)

    def add_request(self, row: int, pipe: bytes | None, call: int, opnum: int, iface: str | None) -> None:
        if self._room(row):
            rows, items = self._calls.setdefault(call, ([], []))
            rows.append(row)
            items.append((pipe, opnum, iface))

    def _known(self, row: int) -> bool:
        return self.full_after < 0 or row <= self.full_after + 1

    def interface(self, row: int, pipe: bytes | None, ctx_id: int) -> str | None:
        """The interface the latest bind before ``row`` gave ``ctx_id`` on ``pipe``."""
        found = self._binds.get((pipe, ctx_id))
        if found is None or not self._known(row):
            return None
        k = bisect.bisect_left(found[0], row)
        return found[1][k - 1] if k else None

    def request(self, row: int, pipe: bytes | None, call: int) -> tuple[int, str | None] | None:
        """(opnum, interface) of the latest request before ``row`` with call id ``call`` (on
        ``pipe`` when the response's pipe is known)."""
        found = self._calls.get(call)
        if found is None or not self._known(row):
            return None
        rows, items = found
        for k in range(bisect.bisect_left(rows, row) - 1, -1, -1):
            rpipe, opnum, iface = items[k]
            if pipe is None or rpipe == pipe:
                return opnum, iface
        return None


def _add_frame(state: object, row: int, ctx: Ctx) -> bool:
    """Add what one frame bound and called (``ctx.notes``) to a ``CallMemory``; False once full."""
    mem = state
    if not isinstance(mem, CallMemory):
        return False
    for event in ctx.notes.get("msrpc", ()):  # type: ignore[attr-defined]
        if event[0] == "bind":
            _, pipe, ctx_id, iface = event
            mem.add_bind(row, pipe, ctx_id, iface)
        else:
            _, pipe, call, opnum, ctx_id, iface = event  # iface: bound earlier in its segment
            mem.add_request(row, pipe, call, opnum, iface or mem.interface(row, pipe, ctx_id))
    return mem.full_after < 0


#: a request, bind or alter context header (version 5.0/5.1, a data representation ``starts_pdu``
#: accepts) anywhere in a frame's bytes: frames without one add nothing to a ``CallMemory``
_CALL_OR_BIND = re.compile(rb"\x05[\x00\x01][\x00\x0b\x0e].[\x00\x01\x10\x11][\x00-\x03]\x00\x00", re.DOTALL)


def _may_call_or_bind(raw: bytes) -> bool:
    return _CALL_OR_BIND.search(raw) is not None


for _port in PORTS:
    TCP_PORTS[_port] = dissect_msrpc
TCP_HEURISTICS.append((starts_pdu, dissect_msrpc))
smb2.PIPE_PAYLOADS.append(from_smb2)
MEMORIES["msrpc"] = Memory("MSRPC", CallMemory, _add_frame, _may_call_or_bind)
