"""Kerberos v5 (RFC 4120) on TCP and UDP 88, as Netmon's ``KerberosV5`` parser names it: the
message type (AS/TGS request and response, AP-REQ/REP, KRB-ERROR), error code with its name,
realm, client and service principal names, and the error text.

ASN.1 DER is read with a small bounded reader: every length is checked against what the segment
holds, so a message cut by the segment is decoded as far as it goes (``[truncated]``) and no
length can make the reader run or allocate past the bytes.  Over TCP a 4-byte record mark comes
first; a segment that does not start with one continues a message (``KerberosV5: Continued``).
"""

from __future__ import annotations

from ..fields import REGISTRY, FieldType
from ..frame import Field, Layer
from . import smb2
from .ber import Ber
from .core import TCP_PORTS, UDP_PORTS, Ctx

R = REGISTRY
MESSAGE_TYPES = {10: "AS Request", 11: "AS Response", 12: "TGS Request", 13: "TGS Response", 14: "AP Request",
                 15: "AP Response", 20: "KRB_SAFE", 21: "KRB_PRIV", 22: "KRB_CRED", 30: "KRB_ERROR"}
ERRORS = {0: "KDC_ERR_NONE", 6: "KDC_ERR_C_PRINCIPAL_UNKNOWN", 7: "KDC_ERR_S_PRINCIPAL_UNKNOWN",
          12: "KDC_ERR_POLICY", 14: "KDC_ERR_ETYPE_NOSUPP", 16: "KDC_ERR_PADATA_TYPE_NOSUPP",
          17: "KDC_ERR_TRTYPE_NOSUPP", 18: "KDC_ERR_CLIENT_REVOKED", 23: "KDC_ERR_KEY_EXPIRED",
          24: "KDC_ERR_PREAUTH_FAILED", 25: "KDC_ERR_PREAUTH_REQUIRED", 31: "KRB_AP_ERR_BAD_INTEGRITY",
          32: "KRB_AP_ERR_TKT_EXPIRED", 34: "KRB_AP_ERR_REPEAT", 37: "KRB_AP_ERR_SKEW", 41: "KRB_AP_ERR_MODIFIED",
          52: "KRB_ERR_RESPONSE_TOO_BIG", 60: "KRB_ERR_GENERIC", 68: "KDC_ERR_WRONG_REALM"}
#: [APPLICATION n] tag byte → message type
_APP_TAGS = APP_TAGS = {0x60 | t: t for t in MESSAGE_TYPES}

KERBEROS = R.protocol("KerberosV5", "Kerberos version 5 (RFC 4120), TCP and UDP 88")
RECORD_MARK = R.define("KerberosV5.RecordMark", FieldType.UINT, "Length of the message (over TCP)")
CONTINUED = R.define("KerberosV5.ContinuedData", FieldType.BYTES, "Bytes of a message begun in an earlier segment")
MESSAGE = R.define("KerberosV5.Message", FieldType.PROTOCOL, "The message")
PVNO = R.define("KerberosV5.Message.ProtocolVersion", FieldType.UINT, "Protocol version (5)")
MSG_TYPE = R.define("KerberosV5.Message.MessageType", FieldType.UINT, "Message type", enum=MESSAGE_TYPES)
ERROR_CODE = R.define("KerberosV5.Message.ErrorCode", FieldType.UINT, "Error code of a KRB_ERROR", enum=ERRORS)
REALM = R.define("KerberosV5.Message.Realm", FieldType.STRING, "Realm (of the request, ticket or error)")
CNAME = R.define("KerberosV5.Message.CName", FieldType.STRING, "Client principal name (parts joined by /)")
SNAME = R.define("KerberosV5.Message.SName", FieldType.STRING, "Service principal name (parts joined by /)")
ETEXT = R.define("KerberosV5.Message.EText", FieldType.STRING, "Error text")
R.alias("Kerberos", "KerberosV5")


class _Der(Ber):
    """The BER reader plus Kerberos' strings and principal names."""

    __slots__ = ()

    def text(self, start: int, stop: int) -> tuple[str, int, int] | None:
        h = self.inner(start, stop)
        if h is None or h[0] not in (0x1B, 0x0C, 0x16, 0x13):
            return None
        return self.d[h[1] : h[2]].decode("latin-1"), h[1], h[2]

    def principal(self, start: int, stop: int) -> str:
        """PrincipalName ::= SEQUENCE { name-type [0], name-string [1] SEQUENCE OF KerberosString }."""
        seq = self.inner(start, stop)
        if seq is None or seq[0] != 0x30:
            return ""
        for tag, a, b in self.children(seq[1], seq[2]):
            if tag == 0xA1:
                names = self.inner(a, b)
                if names is None:
                    return ""
                parts = [self.d[x:y].decode("latin-1") for t, x, y in self.children(names[1], names[2]) if t == 0x1B]
                return "/".join(parts)
        return ""


def dissect_kerberos_tcp(ctx: Ctx, off: int, end: int) -> None:
    d = ctx.data
    if end - off >= 5 and d[off] & 0x80 == 0 and d[off + 4] in _APP_TAGS:
        layer = ctx.layer(KERBEROS, "", off, end - off)
        mark = int.from_bytes(d[off : off + 4], "big")
        layer.add(RECORD_MARK, mark, off, 4)
        ctx.set_summary(layer, message(ctx, layer, off + 4, min(end, off + 4 + mark)))
    else:
        layer = ctx.layer(KERBEROS, f"Continued Data: {end - off} Bytes", off, end - off)
        layer.add(CONTINUED, d[off:end], off, end - off, display=f"{end - off} bytes")


def dissect_kerberos_udp(ctx: Ctx, off: int, end: int) -> None:
    layer = ctx.layer(KERBEROS, "", off, end - off)
    ctx.set_summary(layer, message(ctx, layer, off, end))


def message(ctx: Ctx, layer: Layer, off: int, end: int) -> str:
    """The message at ``off`` in ``ctx.data``: its fields into ``layer``; returns its summary (also
    for the messages GSS-API tokens carry, spnego.py)."""
    der = _Der(ctx.data, end)
    h = der.header(off, end)
    kind = _APP_TAGS.get(h[0]) if h is not None else None
    if h is None or kind is None:
        return "Unknown message"
    _, a, b, cut = h
    node = layer.add(MESSAGE, True, off, b - off, display=MESSAGE_TYPES[kind])
    seq = der.inner(a, b)
    facts: dict[str, str] = {}
    if seq is not None and seq[0] == 0x30:
        _fields(der, node, kind, seq[1], seq[2], facts)
    name = MESSAGE_TYPES[kind]
    if kind == 30:
        code = facts.get("error")
        text = f"KRB_ERROR  - {ERRORS.get(int(code), 'Error')} ({code})" if code is not None else "KRB_ERROR"
    else:
        text = name + "".join(f" {k}: {facts[k]}" for k in ("Cname", "Realm", "Sname") if facts.get(k))
    return text + (" [truncated]" if cut or (seq is not None and seq[2] < b) else "")


#: field number → what it holds, per message kind (requests keep theirs inside req-body [4])
_KDC_REP = {0: "pvno", 1: "type", 3: "realm", 4: "cname", 5: "ticket"}
_ERROR = {0: "pvno", 1: "type", 6: "error", 7: "realm", 8: "cname", 9: "realm", 10: "sname", 11: "etext"}
_AP_REQ = {0: "pvno", 1: "type", 3: "ticket"}
_REQ = {1: "pvno", 2: "type", 3: "padata", 4: "body"}
_REQ_BODY = {1: "cname", 2: "realm", 3: "sname"}
_TICKET = {1: "realm", 2: "sname"}


def _fields(der: _Der, node: Field, kind: int, start: int, stop: int, facts: dict[str, str]) -> None:
    layout = _REQ if kind in (10, 12) else _KDC_REP if kind in (11, 13) else _ERROR if kind == 30 else \
        _AP_REQ if kind == 14 else {0: "pvno", 1: "type"}
    _walk(der, node, layout, start, stop, facts)


def _walk(der: _Der, node: Field, layout: dict[int, str], start: int, stop: int, facts: dict[str, str]) -> None:
    for tag, a, b in der.children(start, stop):
        what = layout.get(tag - 0xA0) if 0xA0 <= tag <= 0xBF else None
        if what in ("pvno", "type", "error"):
            v = der.uint(a, b)
            if v is None:
                continue
            h = der.inner(a, b)
            at, n = (h[1], h[2] - h[1]) if h is not None else (a, 0)
            if what == "pvno":
                node.add(PVNO, v, at, n)
            elif what == "type":
                node.add(MSG_TYPE, v, at, n, display=f"{MESSAGE_TYPES.get(v, 'Unknown')} ({v})")
            else:
                node.add(ERROR_CODE, v, at, n, display=f"{ERRORS.get(v, 'Unknown')} ({v})")
                facts["error"] = str(v)
        elif what in ("realm", "etext"):
            t = der.text(a, b)
            if t is not None:
                node.add(REALM if what == "realm" else ETEXT, t[0], t[1], t[2] - t[1])
                facts.setdefault("Realm" if what == "realm" else "EText", t[0])
        elif what in ("cname", "sname"):
            name = der.principal(a, b)
            if name:
                node.add(CNAME if what == "cname" else SNAME, name, a, b - a)
                facts.setdefault(what.capitalize(), name)
        elif what == "body":
            seq = der.inner(a, b)
            if seq is not None and seq[0] == 0x30:
                _walk(der, node, _REQ_BODY, seq[1], seq[2], facts)
        elif what == "padata":
            _padata(der, node, a, b)
        elif what == "ticket":
            app = der.inner(a, b)  # Ticket ::= [APPLICATION 1] SEQUENCE
            seq = der.inner(app[1], app[2]) if app is not None and app[0] == 0x61 else None
            if seq is not None and seq[0] == 0x30:
                _walk(der, node, _TICKET, seq[1], seq[2], facts)


def _padata(der: _Der, node: Field, start: int, stop: int) -> None:
    """The AP-REQ a TGS request carries in its PA-TGS-REQ (padata-type 1), as a nested message."""
    seq = der.inner(start, stop)
    if seq is None or seq[0] != 0x30:
        return
    for tag, a, b in der.children(seq[1], seq[2]):
        if tag != 0x30:
            continue
        items = {t: (x, y) for t, x, y in der.children(a, b)}
        if 0xA1 not in items or 0xA2 not in items or der.uint(*items[0xA1]) != 1:
            continue
        value = der.inner(*items[0xA2])
        app = der.inner(value[1], value[2]) if value is not None and value[0] == 0x04 else None
        if app is None or app[0] != 0x6E:
            continue
        inner = node.add(MESSAGE, True, app[1], app[2] - app[1], display=MESSAGE_TYPES[14])
        body = der.inner(app[1], app[2])
        if body is not None and body[0] == 0x30:
            _walk(der, inner, _AP_REQ, body[1], body[2], {})


#: the Kerberos mechanism OIDs in a GSS-API token (RFC 1964), Microsoft's first
_KRB5_OIDS = (bytes.fromhex("06092a864882f712010202"), bytes.fromhex("06092a864886f712010202"))


def from_gss(ctx: Ctx, off: int, end: int) -> None:
    """A Kerberos message in a GSS-API token (inside SPNEGO in an SMB2 SESSION SETUP): the mechanism
    OID, a 2-byte token id, then the message.  A layer of its own; the carrier stays the Protocol Name."""
    d = ctx.data
    for oid in _KRB5_OIDS:
        at = d.find(oid, off, end)
        while at >= 0:
            msg = at + len(oid) + 2
            if msg < end and d[msg] in _APP_TAGS:
                layer = Layer(KERBEROS, "", msg, end - msg)
                ctx.layers.append(layer)
                layer.summary = message(ctx, layer, msg, end)
                return
            at = d.find(oid, at + 1, end)


TCP_PORTS[88] = dissect_kerberos_tcp
UDP_PORTS[88] = dissect_kerberos_udp
smb2.SECURITY_BLOBS.append(from_gss)
