"""GSS-API tokens in HTTP authentication headers (``Authorization: Negotiate <base64>``,
``WWW-Authenticate: Negotiate <base64>``, and WinRM's ``Kerberos <base64>``), as Netmon's
``GSSAPI`` parser names them: the initial token's mechanism, SPNEGO's NegTokenInit (the
mechanisms offered) and NegTokenResp (negotiation state, the mechanism the server took), and
the token they carry — a Kerberos AP-REQ, AP-REP or KRB-ERROR (the ``KerberosV5`` dissector
reads it) or an NTLMSSP message (the ``NTLMSSP`` dissector).

The token is base64 text in the frame: the layers decoded from it have no bytes of their own in
the frame, so their fields carry no byte range (the header's range says where they came from),
as for NTLMSSP in HTTP.  None of them becomes the frame's Protocol Name (the carrier stays HTTP).
"""

from __future__ import annotations

import base64
import binascii

from ..fields import REGISTRY, FieldType
from ..frame import Field, Layer
from . import http, kerberos, ntlmssp
from .ber import Ber
from .core import Ctx

R = REGISTRY
OIDS = {"1.3.6.1.5.5.2": "SPNEGO", "1.2.840.113554.1.2.2": "Kerberos 5", "1.2.840.48018.1.2.2": "MS Kerberos 5",
        "1.2.840.113554.1.2.2.3": "Kerberos 5 user to user", "1.3.6.1.4.1.311.2.2.10": "NTLMSSP",
        "1.3.6.1.4.1.311.2.2.30": "NEGOEX"}
NEG_STATES = {0: "accept-completed", 1: "accept-incomplete", 2: "reject", 3: "request-mic"}
#: RFC 1964 token ids (the two bytes after the Kerberos OID: 01 00 is an AP-REQ), read little-endian as
#: tshark and Netmon show them
TOKEN_IDS = {0x0001: "KRB5_AP_REQ", 0x0002: "KRB5_AP_REP", 0x0003: "KRB5_ERROR"}

GSSAPI = R.protocol("GSSAPI", "GSS-API token (RFC 2743) and SPNEGO (RFC 4178) negotiation, in HTTP authentication")
THIS_MECH = R.define("GSSAPI.OID", FieldType.STRING, "Mechanism of an initial token (SPNEGO, Kerberos 5)")
INIT = R.define("GSSAPI.NegTokenInit", FieldType.PROTOCOL, "SPNEGO's first token: the mechanisms the client offers")
MECH_TYPE = R.define("GSSAPI.NegTokenInit.MechType", FieldType.STRING, "An offered mechanism (OID)")
RESP = R.define("GSSAPI.NegTokenResp", FieldType.PROTOCOL, "SPNEGO's later tokens")
NEG_STATE = R.define("GSSAPI.NegTokenResp.NegState", FieldType.UINT, "Negotiation state (0 done, 1 continue, 2 reject)",
                     enum=NEG_STATES)
SUPPORTED_MECH = R.define("GSSAPI.NegTokenResp.SupportedMech", FieldType.STRING, "Mechanism the server chose (OID)")
MECH_TOKEN = R.define("GSSAPI.MechToken", FieldType.BYTES, "The chosen mechanism's token")
MIC = R.define("GSSAPI.MechListMIC", FieldType.BYTES, "Integrity check of the mechanism list")
TOKEN_ID = R.define("GSSAPI.KerberosTokenID", FieldType.UINT, "Kerberos token id (RFC 1964)", enum=TOKEN_IDS)
R.alias("SPNEGO", "GSSAPI")
R.alias("GSSAPI.MechType", "GSSAPI.NegTokenInit.MechType")
R.alias("GSSAPI.NegState", "GSSAPI.NegTokenResp.NegState")
R.alias("GSSAPI.NegResult", "GSSAPI.NegTokenResp.NegState")
R.alias("GSSAPI.SupportedMech", "GSSAPI.NegTokenResp.SupportedMech")

_SCHEMES = ("negotiate", "kerberos")
_KRB5 = ("1.2.840.113554.1.2.2", "1.2.840.48018.1.2.2")
_NTLMSSP = "1.3.6.1.4.1.311.2.2.10"
#: mechanisms listed from one NegTokenInit, nesting of tokens in tokens, at most
_MAX_MECHS = 16
_MAX_DEPTH = 3


def oid_text(b: bytes) -> str:
    """Dotted text of an OID's content bytes ("" when malformed)."""
    if not b or b[-1] & 0x80:
        return ""
    parts: list[int] = []
    v = 0
    for c in b[:64]:
        v = (v << 7) | (c & 0x7F)
        if not c & 0x80:
            parts.append(v)
            v = 0
    first = parts[0]
    head = [0, first] if first < 40 else [1, first - 40] if first < 80 else [2, first - 80]
    return ".".join(str(p) for p in head + parts[1:])


def _named(oid: str) -> str:
    return f"{oid} ({OIDS[oid]})" if oid in OIDS else oid


def from_http_header(ctx: Ctx, value: str, start: int, length: int) -> None:
    """A GSS-API token in a ``Negotiate``/``Kerberos`` header value at ``start`` (raw NTLMSSP under
    ``Negotiate`` is NTLMSSP's own, see ntlmssp.from_http_header)."""
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() not in _SCHEMES or not token:
        return
    try:
        raw = base64.b64decode(token.strip(), validate=True)
    except (binascii.Error, ValueError):
        return
    if not raw or raw[0] not in (0x60, 0xA0, 0xA1):
        return
    sub = Ctx(raw, ctx.registry)
    _token(sub, 0, len(raw), 0)
    for layer in sub.layers:
        _unranged(layer, start, length)
        ctx.layers.append(layer)


def _unranged(layer: Layer, start: int, length: int) -> None:
    """Fields decoded from base64 have no bytes in the frame; the layer spans the header."""
    layer.start, layer.length = start, length
    stack: list[Field] = list(layer.fields)
    while stack:
        f = stack.pop()
        f.start, f.length, f.bits = -1, 0, None
        stack.extend(f.children)


def _token(sub: Ctx, off: int, end: int, depth: int) -> None:
    """The GSS-API token at ``off`` in ``sub.data``: a GSSAPI layer and what it carries."""
    d = sub.data
    ber = Ber(d, end)
    layer = Layer(GSSAPI, "", off, end - off)
    sub.layers.append(layer)
    h = ber.header(off, end)
    if h is None:
        layer.summary = "Malformed token"
        return
    tag, a, b, _ = h
    if tag == 0x60:  # InitialContextToken: thisMech OID, then the mechanism's token
        oid_h = ber.header(a, b)
        if oid_h is None or oid_h[0] != 0x06:
            layer.summary = "Malformed initial token"
            return
        oid = oid_text(d[oid_h[1] : oid_h[2]])
        layer.add(THIS_MECH, oid, oid_h[1], oid_h[2] - oid_h[1], display=_named(oid))
        rest = oid_h[2]
        if oid == "1.3.6.1.5.5.2":
            inner = ber.header(rest, b)
            if inner is not None and inner[0] == 0xA0:
                layer.summary = _init(sub, layer, ber, inner[1], inner[2], depth)
                return
            layer.summary = "SPNEGO, Malformed NegTokenInit"
            return
        if oid in _KRB5 and rest + 2 <= b:
            layer.summary = _kerberos(sub, layer, rest, b)
            return
        layer.summary = f"InitialContextToken, {OIDS.get(oid, oid)}"
        return
    if tag == 0xA0:
        layer.summary = _init(sub, layer, ber, a, b, depth)
    elif tag == 0xA1:
        layer.summary = _resp(sub, layer, ber, a, b, depth)
    else:
        layer.summary = f"Unknown token (tag 0x{tag:02X})"


def _kerberos(sub: Ctx, layer: Layer, at: int, end: int) -> str:
    d = sub.data
    tok = d[at] | (d[at + 1] << 8)
    name = TOKEN_IDS.get(tok, f"0x{tok:04X}")
    layer.add(TOKEN_ID, tok, at, 2, display=f"{name} (0x{tok:04X})")
    msg = Layer(kerberos.KERBEROS, "", at + 2, end - at - 2)
    msg.summary = kerberos.message(sub, msg, at + 2, end)
    sub.layers.append(msg)
    return f"Kerberos, {name}"


def _inner(sub: Ctx, off: int, end: int, depth: int) -> str:
    """A mechanism token inside SPNEGO: another GSS-API token (Kerberos) or an NTLMSSP message."""
    d = sub.data
    if d.startswith(ntlmssp.SIGNATURE, off, end):
        ntlmssp.dissect_blob(sub, off, end)
        return "NTLMSSP"
    if off < end and d[off] in kerberos.APP_TAGS:  # a bare Kerberos message
        msg = Layer(kerberos.KERBEROS, "", off, end - off)
        msg.summary = kerberos.message(sub, msg, off, end)
        sub.layers.append(msg)
        return "Kerberos"
    if depth < _MAX_DEPTH and off < end and d[off] == 0x60:
        _token(sub, off, end, depth + 1)
        return "Kerberos" if sub.layers[-1].protocol is kerberos.KERBEROS else ""
    return ""


def _fields(ber: Ber, a: int, b: int) -> dict[int, tuple[int, int]]:
    """[n] → (content start, content end) of a SEQUENCE's context-tagged elements."""
    seq = ber.inner(a, b)
    if seq is None or seq[0] != 0x30:
        return {}
    return {t & 0x1F: (x, y) for t, x, y in ber.children(seq[1], seq[2], 8) if t & 0xE0 == 0xA0}


def _init(sub: Ctx, layer: Layer, ber: Ber, a: int, b: int, depth: int) -> str:
    """NegTokenInit ::= SEQUENCE { mechTypes [0], reqFlags [1], mechToken [2], mechListMIC [3] }."""
    items = _fields(ber, a, b)
    node = layer.add(INIT, True, a, b - a, display="NegTokenInit")
    mechs: list[str] = []
    if 0 in items:
        seq = ber.inner(*items[0])
        if seq is not None and seq[0] == 0x30:
            for t, x, y in ber.children(seq[1], seq[2], _MAX_MECHS):
                if t == 0x06:
                    oid = oid_text(sub.data[x:y])
                    node.add(MECH_TYPE, oid, x, y - x, display=_named(oid))
                    mechs.append(OIDS.get(oid, oid))
    carried = ""
    if 2 in items:
        tok = ber.inner(*items[2])
        if tok is not None and tok[0] == 0x04:
            node.add(MECH_TOKEN, sub.data[tok[1] : tok[2]], tok[1], tok[2] - tok[1], display=f"{tok[2] - tok[1]} bytes")
            carried = _inner(sub, tok[1], tok[2], depth)
    text = "SPNEGO NegTokenInit" + (f", MechTypes = {', '.join(mechs)}" if mechs else "")
    return text + (f", {carried}" if carried else "")


def _resp(sub: Ctx, layer: Layer, ber: Ber, a: int, b: int, depth: int) -> str:
    """NegTokenResp ::= SEQUENCE { negState [0], supportedMech [1], responseToken [2], mechListMIC [3] }."""
    items = _fields(ber, a, b)
    node = layer.add(RESP, True, a, b - a, display="NegTokenResp")
    parts = ["SPNEGO NegTokenResp"]
    if 0 in items:
        h = ber.inner(*items[0])
        state = ber.number(h[1], h[2]) if h is not None and h[0] == 0x0A else None
        if state is not None:
            node.add(NEG_STATE, state, h[1], h[2] - h[1], display=f"{NEG_STATES.get(state, 'Unknown')} ({state})")
            parts.append(f"NegState = {NEG_STATES.get(state, state)}")
    if 1 in items:
        h = ber.inner(*items[1])
        if h is not None and h[0] == 0x06:
            oid = oid_text(sub.data[h[1] : h[2]])
            node.add(SUPPORTED_MECH, oid, h[1], h[2] - h[1], display=_named(oid))
            parts.append(f"SupportedMech = {OIDS.get(oid, oid)}")
    if 2 in items:
        tok = ber.inner(*items[2])
        if tok is not None and tok[0] == 0x04:
            node.add(MECH_TOKEN, sub.data[tok[1] : tok[2]], tok[1], tok[2] - tok[1], display=f"{tok[2] - tok[1]} bytes")
            carried = _inner(sub, tok[1], tok[2], depth)
            if carried:
                parts.append(carried)
    if 3 in items:
        h = ber.inner(*items[3])
        if h is not None and h[0] == 0x04:
            node.add(MIC, sub.data[h[1] : h[2]], h[1], h[2] - h[1], display=sub.data[h[1] : h[2]].hex())
    return ", ".join(parts)


http.AUTH_HEADERS.append(from_http_header)
