"""NTLMSSP (MS-NLMP) wherever it is carried: SMB2 SESSION SETUP security buffers (bare or inside
SPNEGO) and HTTP ``Authorization`` / ``WWW-Authenticate`` headers (``NTLM`` or ``Negotiate`` and
base64).

The message is an extra layer that does not become the frame's Protocol Name (the carrier stays
SMB2 or HTTP, as in Netmon), with Netmon's summary as ``Property.NTLMSSPSummary``
(``NTLM AUTHENTICATE MESSAGE Version:NTLM v2, Domain: CONTOSO, User: alice, Workstation: PC01``).

A message found in base64 text has no bytes of its own in the frame: its fields carry no byte
range (the carrying header's range says where it came from).
"""

from __future__ import annotations

import base64
import binascii

from ..fields import REGISTRY, FieldType
from ..frame import Layer
from . import dcerpc, http, smb2
from .core import Ctx

R = REGISTRY
MESSAGE_TYPES = {1: "NEGOTIATE", 2: "CHALLENGE", 3: "AUTHENTICATE"}
NTLMSSP = R.protocol("NTLMSSP", "NT LAN Manager authentication (MS-NLMP), inside SMB2, HTTP and others")
MESSAGE_TYPE = R.define("NTLMSSP.MessageType", FieldType.UINT, "1 negotiate, 2 challenge, 3 authenticate",
                        enum=MESSAGE_TYPES)
FLAGS = R.define("NTLMSSP.NegotiateFlags", FieldType.UINT, "Negotiate flags")
DOMAIN = R.define("NTLMSSP.DomainName", FieldType.STRING, "Domain of the account (AUTHENTICATE) or asked for")
USER = R.define("NTLMSSP.UserName", FieldType.STRING, "Account name (AUTHENTICATE)")
WORKSTATION = R.define("NTLMSSP.Workstation", FieldType.STRING, "Client machine name")
TARGET = R.define("NTLMSSP.TargetName", FieldType.STRING, "Server's domain or name (CHALLENGE)")
CHALLENGE = R.define("NTLMSSP.ServerChallenge", FieldType.BYTES, "Server challenge (CHALLENGE)")
NT_RESPONSE_LENGTH = R.define("NTLMSSP.NtChallengeResponseLength", FieldType.UINT,
                              "Length of the NT response: 24 is NTLM v1, more is NTLM v2")
SUMMARY = R.define("Property.NTLMSSPSummary", FieldType.STRING, "Netmon's NTLMSSP summary of the message")

SIGNATURE = b"NTLMSSP\x00"
_UNICODE = 0x00000001


def _le(d: bytes, p: int, n: int) -> int:
    return int.from_bytes(d[p : p + n], "little")


def dissect_blob(ctx: Ctx, off: int, end: int, data: bytes | None = None) -> None:
    """An NTLMSSP message at the first signature in ``off:end`` of the frame, or in ``data``
    (bytes decoded from the frame at ``off:end``, whose fields then have no byte ranges)."""
    src = ctx.data if data is None else data
    lo, hi = (off, end) if data is None else (0, len(data))
    at = src.find(SIGNATURE, lo, hi)
    if at < 0 or hi - at < 12:
        return
    ranged = data is None

    def pos(p: int, n: int) -> tuple[int, int]:
        return (p, n) if ranged else (-1, 0)

    kind = _le(src, at + 8, 4)
    name = MESSAGE_TYPES.get(kind, f"type {kind}")
    layer = Layer(NTLMSSP, "", *((at, hi - at) if ranged else (off, end - off)))
    ctx.layers.append(layer)  # not ctx.layer(): the carrier stays the Protocol Name
    layer.add(MESSAGE_TYPE, kind, *pos(at + 8, 4), display=f"{name} ({kind})")
    parts = [f"NTLM {name} MESSAGE"]

    def string(field_at: int, unicode: bool) -> tuple[str, int, int] | None:
        if field_at + 8 > hi:
            return None
        n, o = _le(src, field_at, 2), _le(src, field_at + 4, 4)
        start = at + o
        if not n or start + n > hi:
            return None
        raw = src[start : start + n]
        return (raw.decode("utf-16-le", "replace") if unicode else raw.decode("latin-1")), start, n

    if kind == 3 and at + 64 <= hi:
        flags = _le(src, at + 60, 4)
        layer.add(FLAGS, flags, *pos(at + 60, 4), display=f"0x{flags:08X}")
        nt_len = _le(src, at + 20, 2)
        layer.add(NT_RESPONSE_LENGTH, nt_len, *pos(at + 20, 2))
        parts[0] += f" Version:NTLM v{2 if nt_len > 24 else 1}"
        for fdef, field_at, label in ((DOMAIN, 28, "Domain"), (USER, 36, "User"), (WORKSTATION, 44, "Workstation")):
            got = string(at + field_at, bool(flags & _UNICODE))
            if got is not None:
                layer.add(fdef, got[0], *pos(got[1], got[2]))
                parts.append(f"{label}: {got[0]}")
    elif kind == 2 and at + 32 <= hi:
        flags = _le(src, at + 20, 4)
        layer.add(FLAGS, flags, *pos(at + 20, 4), display=f"0x{flags:08X}")
        layer.add(CHALLENGE, src[at + 24 : at + 32], *pos(at + 24, 8), display=src[at + 24 : at + 32].hex())
        got = string(at + 12, bool(flags & _UNICODE))
        if got is not None:
            layer.add(TARGET, got[0], *pos(got[1], got[2]))
            parts.append(f"Target: {got[0]}")
    elif kind == 1 and at + 16 <= hi:
        flags = _le(src, at + 12, 4)
        layer.add(FLAGS, flags, *pos(at + 12, 4), display=f"0x{flags:08X}")
    summary = ", ".join(parts)
    layer.add(SUMMARY, summary, *pos(at, hi - at))
    layer.summary = summary


def from_http_header(ctx: Ctx, value: str, start: int, length: int) -> None:
    """``NTLM <base64>`` or ``Negotiate <base64>`` from an HTTP header value at ``start``."""
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() not in ("ntlm", "negotiate") or not token:
        return
    try:
        raw = base64.b64decode(token.strip(), validate=True)
    except (binascii.Error, ValueError):
        return
    if raw.startswith(SIGNATURE):  # (inside a GSS-API/SPNEGO token it is spnego.py's to hand on)
        dissect_blob(ctx, start, start + length, raw)


smb2.SECURITY_BLOBS.append(dissect_blob)
http.AUTH_HEADERS.append(from_http_header)
dcerpc.AUTH_BLOBS.append(dissect_blob)
