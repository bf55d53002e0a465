"""LDAP (RFC 4511) on TCP and UDP 389 and the Global Catalog port 3268, as Netmon's ``LDAP``
parser names it: each LDAPMessage's message id and operation; a bind's version, name and
authentication (simple, or SASL and its mechanism); a search's base object, scope, filter
(rendered in RFC 4515 text, bounded) and attributes; the object a result entry, modify, add or
delete names; the result code of every response with its name.

BER is read with the bounded reader of ``ber.py``.  A segment may hold several messages (each
gets a node; the summary is the first one's and a count); a message cut by the segment is
decoded as far as it goes (``[truncated]``).  Every LDAPMessage starts with a SEQUENCE tag, so a
segment that does not is either SASL-wrapped traffic after a GSS-API bind (a 4-byte length,
then sealed bytes, which must not be read as BER) or the rest of an earlier message (``LDAP:
continued``); neither is reassembled.
"""

from __future__ import annotations

from ..fields import REGISTRY, FieldType
from ..frame import Field, Layer
from .ber import Ber
from .core import TCP_PORTS, UDP_PORTS, Ctx

R = REGISTRY
#: protocolOp: the [APPLICATION n] tag number, which is also Wireshark's ``ldap.protocolOp``
OPERATIONS = {0: "BindRequest", 1: "BindResponse", 2: "UnbindRequest", 3: "SearchRequest", 4: "SearchResultEntry",
              5: "SearchResultDone", 6: "ModifyRequest", 7: "ModifyResponse", 8: "AddRequest", 9: "AddResponse",
              10: "DelRequest", 11: "DelResponse", 12: "ModifyDNRequest", 13: "ModifyDNResponse",
              14: "CompareRequest", 15: "CompareResponse", 16: "AbandonRequest", 19: "SearchResultReference",
              23: "ExtendedRequest", 24: "ExtendedResponse", 25: "IntermediateResponse"}
#: the operations whose body is an LDAPResult
_RESULTS = frozenset({1, 5, 7, 9, 11, 13, 15, 24})
#: the operations whose body starts with the DN they act on (DelRequest's body is the DN)
_OBJECTS = frozenset({4, 6, 8, 10, 12, 14})
RESULT_CODES = {0: "success", 1: "operationsError", 2: "protocolError", 3: "timeLimitExceeded",
                4: "sizeLimitExceeded", 5: "compareFalse", 6: "compareTrue", 7: "authMethodNotSupported",
                8: "strongerAuthRequired", 10: "referral", 11: "adminLimitExceeded",
                12: "unavailableCriticalExtension", 13: "confidentialityRequired", 14: "saslBindInProgress",
                16: "noSuchAttribute", 17: "undefinedAttributeType", 18: "inappropriateMatching",
                19: "constraintViolation", 20: "attributeOrValueExists", 21: "invalidAttributeSyntax",
                32: "noSuchObject", 33: "aliasProblem", 34: "invalidDNSyntax", 36: "aliasDereferencingProblem",
                48: "inappropriateAuthentication", 49: "invalidCredentials", 50: "insufficientAccessRights",
                51: "busy", 52: "unavailable", 53: "unwillingToPerform", 54: "loopDetect", 64: "namingViolation",
                65: "objectClassViolation", 66: "notAllowedOnNonLeaf", 67: "notAllowedOnRDN",
                68: "entryAlreadyExists", 69: "objectClassModsProhibited", 71: "affectsMultipleDSAs", 80: "other"}
SCOPES = {0: "baseObject", 1: "singleLevel", 2: "wholeSubtree"}
AUTH_TYPES = {0: "simple", 3: "sasl"}

LDAP = R.protocol("LDAP", "Lightweight Directory Access Protocol (RFC 4511), TCP and UDP 389 and 3268")
CONTINUED = R.define("LDAP.ContinuedData", FieldType.BYTES, "Bytes of a message begun in an earlier segment")
SASL_LENGTH = R.define("LDAP.SaslBuffer.Length", FieldType.UINT, "Length of a SASL-wrapped (sealed) buffer")
SASL_DATA = R.define("LDAP.SaslBuffer.Data", FieldType.BYTES, "The sealed bytes (not decrypted)")
MESSAGE = R.define("LDAP.LDAPMessage", FieldType.PROTOCOL, "One LDAPMessage")
MESSAGE_ID = R.define("LDAP.LDAPMessage.MessageID", FieldType.UINT, "Message id (pairs a response with its request)")
OPERATION = R.define("LDAP.LDAPMessage.ProtocolOp", FieldType.UINT, "Operation (the APPLICATION tag number)",
                     enum=OPERATIONS)
BIND_VERSION = R.define("LDAP.LDAPMessage.BindRequest.Version", FieldType.UINT, "LDAP version of a bind")
BIND_NAME = R.define("LDAP.LDAPMessage.BindRequest.Name", FieldType.STRING, "DN (or name) a bind authenticates")
AUTH_TYPE = R.define("LDAP.LDAPMessage.BindRequest.AuthenticationType", FieldType.UINT,
                     "Authentication choice: simple (0) or SASL (3)", enum=AUTH_TYPES)
MECHANISM = R.define("LDAP.LDAPMessage.BindRequest.SaslMechanism", FieldType.STRING,
                     "SASL mechanism (GSS-SPNEGO, GSSAPI, EXTERNAL …)")
BASE_OBJECT = R.define("LDAP.LDAPMessage.SearchRequest.BaseObject", FieldType.STRING, "DN the search starts at")
SCOPE = R.define("LDAP.LDAPMessage.SearchRequest.Scope", FieldType.UINT, "Search scope", enum=SCOPES)
FILTER = R.define("LDAP.LDAPMessage.SearchRequest.Filter", FieldType.STRING,
                  "Search filter in RFC 4515 text (bounded in depth and length)")
ATTRIBUTE = R.define("LDAP.LDAPMessage.SearchRequest.Attribute", FieldType.STRING, "An attribute the search asks for")
OBJECT_NAME = R.define("LDAP.LDAPMessage.ObjectName", FieldType.STRING,
                       "DN a result entry, modify, add, delete, modify DN or compare names")
REQUEST_NAME = R.define("LDAP.LDAPMessage.ExtendedRequest.RequestName", FieldType.STRING,
                        "OID of an extended operation")
RESULT_CODE = R.define("LDAP.LDAPMessage.LDAPResult.ResultCode", FieldType.UINT, "Result code of a response",
                       enum=RESULT_CODES)
MATCHED_DN = R.define("LDAP.LDAPMessage.LDAPResult.MatchedDN", FieldType.STRING, "Matched DN of a response")
DIAGNOSTIC = R.define("LDAP.LDAPMessage.LDAPResult.ErrorMessage", FieldType.STRING,
                      "Diagnostic message of a response")
R.alias("LDAP.MessageID", "LDAP.LDAPMessage.MessageID")
R.alias("LDAP.ProtocolOp", "LDAP.LDAPMessage.ProtocolOp")
R.alias("LDAP.ResultCode", "LDAP.LDAPMessage.LDAPResult.ResultCode")
R.alias("LDAP.BaseObject", "LDAP.LDAPMessage.SearchRequest.BaseObject")
R.alias("LDAP.Filter", "LDAP.LDAPMessage.SearchRequest.Filter")
R.alias("LDAP.ObjectName", "LDAP.LDAPMessage.ObjectName")
R.alias("LDAP.SaslMechanism", "LDAP.LDAPMessage.BindRequest.SaslMechanism")

#: messages read from one segment at most; filter nesting and text length rendered at most
MAX_MESSAGES = 64
MAX_FILTER_DEPTH = 8
MAX_FILTER_TEXT = 400
#: the largest SASL buffer taken for one (RFC 4422's default maximum is far below this)
_MAX_SASL = 1 << 24


def dissect_ldap(ctx: Ctx, off: int, end: int) -> None:
    """An LDAP segment or datagram: messages, SASL-sealed bytes, or the rest of an earlier message."""
    d = ctx.data
    if off >= end:
        return
    if _starts_message(d, off, end):
        layer = ctx.layer(LDAP, "", off, end - off)
        ctx.set_summary(layer, _messages(ctx, layer, off, end))
        return
    if end - off >= 5 and 0 < int.from_bytes(d[off : off + 4], "big") < _MAX_SASL:
        n = int.from_bytes(d[off : off + 4], "big")
        cut = " [truncated]" if off + 4 + n > end else ""
        layer = ctx.layer(LDAP, f"SASL encrypted payload, Length = {n}{cut}", off, end - off)
        layer.add(SASL_LENGTH, n, off, 4)
        stop = min(end, off + 4 + n)
        layer.add(SASL_DATA, d[off + 4 : stop], off + 4, stop - off - 4, display=f"{stop - off - 4} bytes")
        return
    layer = ctx.layer(LDAP, f"continued, {end - off} bytes", off, end - off)
    layer.add(CONTINUED, d[off:end], off, end - off, display=f"{end - off} bytes")


def _starts_message(d: bytes, off: int, end: int) -> bool:
    """Whether ``off`` starts an LDAPMessage: a SEQUENCE whose first element is a 1–4 byte INTEGER (a
    continuation that happens to start with 0x30 seldom passes), or a SEQUENCE header the segment cuts."""
    if d[off] != 0x30:
        return False
    h = Ber(d, end).header(off, end)
    if h is None:
        return end - off < 6
    _, at, stop, cut = h
    if at >= stop:
        return cut
    if d[at] != 0x02:
        return False
    return cut if at + 1 >= stop else 1 <= d[at + 1] <= 4


def _messages(ctx: Ctx, layer: Layer, off: int, end: int) -> str:
    ber = Ber(ctx.data, end)
    summaries: list[str] = []
    pos = off
    while pos < end and len(summaries) < MAX_MESSAGES and _starts_message(ctx.data, pos, end):
        h = ber.header(pos, end)
        if h is None:
            summaries.append("LDAPMessage [truncated]")
            break
        _, a, b, cut = h
        node = layer.add(MESSAGE, True, pos, b - pos, display="LDAPMessage")
        text = _message(ber, node, a, b)
        summaries.append(text + (" [truncated]" if cut and not text.endswith("[truncated]") else ""))
        node.display = text
        pos = b
    first = summaries[0]
    more = len(summaries) - 1
    return first + (f" (+{more} more LDAPMessage{'s' if more > 1 else ''})" if more else "")


def _message(ber: Ber, node: Field, start: int, stop: int) -> str:
    """LDAPMessage ::= SEQUENCE { messageID INTEGER, protocolOp CHOICE, controls [0] OPTIONAL }."""
    items = [(t, a, b) for t, _, a, b in ber.items(start, stop, 3)]
    op_at = ber.items(start, stop, 2)[-1][1] if len(items) > 1 else start
    if not items or items[0][0] != 0x02:
        return "Malformed LDAPMessage"
    mid = ber.number(items[0][1], items[0][2])
    if mid is None:
        return "Malformed LDAPMessage"
    node.add(MESSAGE_ID, mid, items[0][1], items[0][2] - items[0][1])
    if len(items) < 2:
        return f"MessageID = {mid} [truncated]"
    tag, a, b = items[1]
    op = tag & 0x1F
    if tag & 0xC0 != 0x40 or op not in OPERATIONS:
        return f"MessageID = {mid}, Unknown ProtocolOp (tag 0x{tag:02X})"
    name = OPERATIONS[op]
    node.add(OPERATION, op, op_at, 1, display=f"{name} ({op})", bits=(3, 5))  # the tag number
    facts: list[str] = []
    if op == 0:
        _bind(ber, node, a, b, facts)
    elif op == 3:
        _search(ber, node, a, b, facts)
    elif op in _RESULTS:
        _result(ber, node, a, b, facts)
    elif op == 10:
        dn = _text(ber, a, b)
        node.add(OBJECT_NAME, dn, a, b - a)
        facts.append(f"ObjectName = {dn}")
    elif op in _OBJECTS:
        first = ber.children(a, b, 1)
        if first and first[0][0] == 0x04:
            dn = _text(ber, first[0][1], first[0][2])
            node.add(OBJECT_NAME, dn, first[0][1], first[0][2] - first[0][1])
            facts.append(f"ObjectName = {dn}")
    elif op == 23:
        first = ber.children(a, b, 1)
        if first and first[0][0] == 0x80:
            oid = _text(ber, first[0][1], first[0][2])
            node.add(REQUEST_NAME, oid, first[0][1], first[0][2] - first[0][1])
            facts.append(f"RequestName = {oid}")
    return ", ".join([f"ProtocolOp = {name}", f"MessageID = {mid}", *facts])


def _text(ber: Ber, a: int, b: int) -> str:
    return ber.d[a:b].decode("utf-8", "replace")


def _bind(ber: Ber, node: Field, a: int, b: int, facts: list[str]) -> None:
    """BindRequest: version INTEGER, name LDAPDN, authentication CHOICE { simple [0], sasl [3] }."""
    for tag, at, x, y in ber.items(a, b, 3):
        if tag == 0x02 and (v := ber.number(x, y)) is not None:
            node.add(BIND_VERSION, v, x, y - x)
            facts.append(f"Version = {v}")
        elif tag == 0x04:
            dn = _text(ber, x, y)
            node.add(BIND_NAME, dn, x, y - x)
            if dn:
                facts.append(f"Name = {dn}")
        elif tag in (0x80, 0xA3):
            kind = tag & 0x1F
            node.add(AUTH_TYPE, kind, at, 1, display=f"{AUTH_TYPES[kind]} ({kind})", bits=(3, 5))
            facts.append(f"AuthenticationType = {AUTH_TYPES[kind]}")
            if kind == 3:
                mech = ber.children(x, y, 1)
                if mech and mech[0][0] == 0x04:
                    m = _text(ber, mech[0][1], mech[0][2])
                    node.add(MECHANISM, m, mech[0][1], mech[0][2] - mech[0][1])
                    facts.append(f"Mechanism = {m}")


def _search(ber: Ber, node: Field, a: int, b: int, facts: list[str]) -> None:
    """SearchRequest: baseObject, scope, derefAliases, sizeLimit, timeLimit, typesOnly, filter, attributes."""
    for i, (tag, start, x, y) in enumerate(ber.items(a, b, 8)):
        if i == 0 and tag == 0x04:
            dn = _text(ber, x, y)
            node.add(BASE_OBJECT, dn, x, y - x)
            facts.append(f"BaseObject = {dn}")
        elif i == 1 and tag == 0x0A and (v := ber.number(x, y)) is not None:
            node.add(SCOPE, v, x, y - x, display=f"{SCOPES.get(v, 'Unknown')} ({v})")
        elif i == 6:
            text = _filter(ber, tag, x, y, 0)
            if len(text) > MAX_FILTER_TEXT:
                text = text[:MAX_FILTER_TEXT] + "…"
            node.add(FILTER, text, start, y - start)
            facts.append(f"Filter = {text}")
        elif i == 7 and tag == 0x30:
            for t, p, q in ber.children(x, y):
                if t == 0x04:
                    node.add(ATTRIBUTE, _text(ber, p, q), p, q - p)


_COMPARE = {0xA3: "=", 0xA5: ">=", 0xA6: "<=", 0xA8: "~="}


def _value(ber: Ber, a: int, b: int) -> str:
    """An assertion value in RFC 4515 text: printable ASCII as is, the rest and specials escaped."""
    out = []
    for c in ber.d[a : min(b, a + MAX_FILTER_TEXT)]:
        out.append(chr(c) if 0x20 <= c < 0x7F and c not in b"*()\\" else f"\\{c:02x}")
    return "".join(out)


def _filter(ber: Ber, tag: int, a: int, b: int, depth: int) -> str:
    """Filter ::= CHOICE { and [0], or [1], not [2], equalityMatch [3], substrings [4], greaterOrEqual [5],
    lessOrEqual [6], present [7], approxMatch [8], extensibleMatch [9] }, as RFC 4515 text."""
    if depth >= MAX_FILTER_DEPTH:
        return "(…)"
    if tag in (0xA0, 0xA1):
        parts = []
        size = 0
        for t, x, y in ber.children(a, b):
            part = _filter(ber, t, x, y, depth + 1)
            parts.append(part)
            size += len(part)
            if size > MAX_FILTER_TEXT:
                parts.append("…")
                break
        return f"({'&' if tag == 0xA0 else '|'}{''.join(parts)})"
    if tag == 0xA2:
        inner = ber.inner(a, b)
        return f"(!{_filter(ber, inner[0], inner[1], inner[2], depth + 1) if inner else ''})"
    if tag in _COMPARE:
        items = ber.children(a, b, 2)
        if len(items) == 2 and items[0][0] == items[1][0] == 0x04:
            return f"({_value(ber, items[0][1], items[0][2])}{_COMPARE[tag]}{_value(ber, items[1][1], items[1][2])})"
        return "(?)"
    if tag == 0x87:
        return f"({_value(ber, a, b)}=*)"
    if tag == 0xA4:
        items = ber.children(a, b, 2)
        if len(items) == 2 and items[0][0] == 0x04 and items[1][0] == 0x30:
            pieces = ber.children(items[1][1], items[1][2])
            text = "*".join(_value(ber, x, y) for _, x, y in pieces)
            if pieces and pieces[0][0] != 0x80:
                text = "*" + text
            if pieces and pieces[-1][0] != 0x82:
                text += "*"
            return f"({_value(ber, items[0][1], items[0][2])}={text})"
        return "(?)"
    if tag == 0xA9:
        parts = {t: (x, y) for t, x, y in ber.children(a, b, 4)}
        rule = f":{_value(ber, *parts[0x81])}" if 0x81 in parts else ""
        kind = _value(ber, *parts[0x82]) if 0x82 in parts else ""
        dn = ":dn" if 0x84 in parts and ber.d[parts[0x84][0] : parts[0x84][1]] not in (b"", b"\x00") else ""
        value = _value(ber, *parts[0x83]) if 0x83 in parts else ""
        return f"({kind}{dn}{rule}:={value})"
    return "(?)"


def _result(ber: Ber, node: Field, a: int, b: int, facts: list[str]) -> None:
    """LDAPResult ::= resultCode ENUMERATED, matchedDN LDAPDN, diagnosticMessage LDAPString, …"""
    items = ber.children(a, b, 3)
    if not items or items[0][0] != 0x0A:
        return
    code = ber.number(items[0][1], items[0][2])
    if code is None:
        return
    name = RESULT_CODES.get(code, "Unknown")
    node.add(RESULT_CODE, code, items[0][1], items[0][2] - items[0][1], display=f"{name} ({code})")
    facts.append(f"Status: {name[0].upper()}{name[1:]}" + ("" if code in RESULT_CODES else f" ({code})"))
    if len(items) > 1 and items[1][0] == 0x04 and items[1][2] > items[1][1]:
        node.add(MATCHED_DN, _text(ber, items[1][1], items[1][2]), items[1][1], items[1][2] - items[1][1])
    if len(items) > 2 and items[2][0] == 0x04 and items[2][2] > items[2][1]:
        msg = _text(ber, items[2][1], items[2][2])
        node.add(DIAGNOSTIC, msg, items[2][1], items[2][2] - items[2][1])
        if code:
            facts.append(f"ErrorMessage = {msg[:120]}")


for _port in (389, 3268):
    TCP_PORTS[_port] = dissect_ldap
    UDP_PORTS[_port] = dissect_ldap
