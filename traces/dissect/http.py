"""HTTP/1.x: request and status lines, headers, body (Netmon's ``HTTP`` parser names).

A segment on an HTTP port, or on any TCP port when its payload starts like HTTP (a method and a
space, or ``HTTP/1.``), is dissected here.  Reassembly is not done: a segment on an HTTP port that
does not start a message continues one (``HTTP: HTTP Payload``), and a header block the segment
cuts off is decoded up to the cut and marked ``[truncated]``.

The payload test is also made, vectorised, by the index's classifier (``fastclassify``), from
``PREFIXES``: what it calls HTTP and what this dissector calls HTTP are the same frames.
"""

from __future__ import annotations

from collections.abc import Callable

from ..fields import REGISTRY, FieldDef, FieldType
from ..frame import Layer
from .core import TCP_HEURISTICS, TCP_PORTS, Ctx

R = REGISTRY
HTTP = R.protocol("HTTP", "Hypertext Transfer Protocol (HTTP/1.x)")
REQUEST = R.define("HTTP.Request", FieldType.PROTOCOL, "A request (request line and headers)")
METHOD = R.define("HTTP.Request.Method", FieldType.STRING, "Request method (GET, POST …)")
URI = R.define("HTTP.Request.URI", FieldType.STRING, "Request target as sent")
REQ_VERSION = R.define("HTTP.Request.ProtocolVersion", FieldType.STRING, "Protocol version of a request")
RESPONSE = R.define("HTTP.Response", FieldType.PROTOCOL, "A response (status line and headers)")
RESP_VERSION = R.define("HTTP.Response.ProtocolVersion", FieldType.STRING, "Protocol version of a response")
STATUS = R.define("HTTP.Response.StatusCode", FieldType.UINT, "Status code (200, 404 …)")
REASON = R.define("HTTP.Response.Reason", FieldType.STRING, "Reason phrase of the status line")
HOST = R.define("HTTP.Host", FieldType.STRING, "Host header")
CONTENT_LENGTH = R.define("HTTP.ContentLength", FieldType.UINT, "Content-Length header")
CONTENT_TYPE = R.define("HTTP.ContentType", FieldType.STRING, "Content-Type header")
USER_AGENT = R.define("HTTP.UserAgent", FieldType.STRING, "User-Agent header")
SERVER = R.define("HTTP.Server", FieldType.STRING, "Server header")
LOCATION = R.define("HTTP.Location", FieldType.STRING, "Location header (redirects)")
AUTHORIZATION = R.define("HTTP.Authorization", FieldType.STRING, "Authorization header (scheme and token)")
WWW_AUTH = R.define("HTTP.WWWAuthenticate", FieldType.STRING, "WWW-Authenticate header")
CONNECTION = R.define("HTTP.Connection", FieldType.STRING, "Connection header")
TRANSFER_ENCODING = R.define("HTTP.TransferEncoding", FieldType.STRING, "Transfer-Encoding header")
HEADER = R.define("HTTP.HeaderField", FieldType.STRING, "Any other header, as 'Name: value'")
PAYLOAD = R.define("HTTP.Payload", FieldType.BYTES, "Body bytes in this segment, or the data a segment continues")
#: Netmon's parser property (``property.httphost``), so Message Analyzer's ``*HTTPHost`` finds it too
HOST_PROPERTY = R.define("Property.HTTPHost", FieldType.STRING, "Host of an HTTP request (Netmon property)")
# Message Analyzer's and Netmon NMAPI's spellings
R.alias("HTTP.Method", "HTTP.Request.Method")
R.alias("HTTP.Request.Command", "HTTP.Request.Method")
R.alias("HTTP.Uri", "HTTP.Request.URI")
R.alias("HTTP.StatusCode", "HTTP.Response.StatusCode")
R.alias("HTTP.Request.Host", "HTTP.Host")

_HEADERS = {"host": HOST, "content-length": CONTENT_LENGTH, "content-type": CONTENT_TYPE, "user-agent": USER_AGENT,
            "server": SERVER, "location": LOCATION, "authorization": AUTHORIZATION, "www-authenticate": WWW_AUTH,
            "connection": CONNECTION, "transfer-encoding": TRANSFER_ENCODING}
METHODS = ("GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "CONNECT", "TRACE", "PATCH")
#: what a payload starts with when it starts an HTTP message (each at most 8 bytes)
PREFIXES: tuple[bytes, ...] = (*(m.encode() + b" " for m in METHODS), b"HTTP/1.")
#: tshark's default HTTP ports, less SSDP's 1900 (UDP-style HTTP, not this)
PORTS = (80, 3128, 3132, 5985, 8080, 8088, 11371, 2869, 2710, 47001)
MAX_HEADERS = 256  # header lines read from one segment
#: ``fn(ctx, value, start, length)`` for Authorization / WWW-Authenticate values (ntlmssp.py)
AUTH_HEADERS: list[Callable[[Ctx, str, int, int], None]] = []


def starts_message(d: bytes, off: int, end: int) -> bool:
    head = d[off : min(end, off + 8)]
    return any(head.startswith(p) for p in PREFIXES)


def dissect_http(ctx: Ctx, off: int, end: int) -> None:
    """An HTTP port: a message when the payload starts one, else the payload of one."""
    if starts_message(ctx.data, off, end):
        _message(ctx, off, end)
    else:
        layer = ctx.layer(HTTP, "HTTP Payload", off, end - off)
        layer.add(PAYLOAD, ctx.data[off:end], off, end - off, display=f"{end - off} bytes")


def _message(ctx: Ctx, off: int, end: int) -> None:
    d = ctx.data
    layer = ctx.layer(HTTP, "", off, end - off)
    eol = d.find(b"\n", off, end)
    line_end = end if eol < 0 else eol
    line = d[off:line_end].rstrip(b"\r").decode("latin-1")
    if line.startswith("HTTP/"):
        version, _, rest = line.partition(" ")
        code_text, space, reason = rest.partition(" ")
        node = layer.add(RESPONSE, True, off, line_end - off, display=line)
        node.add(RESP_VERSION, version, off, len(version))
        at = off + len(version) + 1
        code = int(code_text) if code_text.isascii() and code_text.isdigit() and len(code_text) == 3 else None
        if code is not None:
            node.add(STATUS, code, at, 3)
            if space:
                node.add(REASON, reason, at + 4, len(reason))
        summary = f"Response, {version}, Status: {code_text} {reason}".rstrip()
    else:
        method, space, rest = line.partition(" ")
        uri, _, version = rest.rpartition(" ") if rest.count(" ") else (rest, "", "")
        node = layer.add(REQUEST, True, off, line_end - off, display=line)
        node.add(METHOD, method, off, len(method))
        if space:
            node.add(URI, uri, off + len(method) + 1, len(uri))
        if version:
            node.add(REQ_VERSION, version, off + len(method) + 2 + len(uri), len(version))
        summary = f"Request, {method} {uri}"
    if eol < 0:
        ctx.set_summary(layer, summary + " [truncated]")
        return
    pos, complete = _headers(ctx, layer, node, eol + 1, end)
    if not complete:
        summary += " [truncated]"
    elif pos < end:
        layer.add(PAYLOAD, d[pos:end], pos, end - pos, display=f"{end - pos} bytes")
    ctx.set_summary(layer, summary)
    # what authentication headers carry comes after (a layer of its own, once the summary is set)
    for f in layer.fields:
        if f.fdef is AUTHORIZATION or f.fdef is WWW_AUTH:
            for fn in AUTH_HEADERS:
                fn(ctx, f.value, f.start, f.length)


def _headers(ctx: Ctx, layer: Layer, node: object, pos: int, end: int) -> tuple[int, bool]:
    """Header lines from ``pos``; returns where the body starts and whether the blank line was seen."""
    host = HOST_PROPERTY if getattr(node, "fdef", None) is REQUEST else None
    return read_headers(ctx, layer, pos, end, _HEADERS, HEADER, CONTENT_LENGTH, host)


def read_headers(ctx: Ctx, layer: Layer, pos: int, end: int, known: dict[str, FieldDef], other: FieldDef,
                 length: FieldDef | None = None, host: FieldDef | None = None) -> tuple[int, bool]:
    """Header lines from ``pos`` into ``layer`` (HTTP's and HTTP-like protocols' such as SSDP):
    a header whose lower-case name is in ``known`` as that field (``length``: as a number when it
    is one; the Host header also as ``host`` when given), any other as ``other`` ('Name: value').
    Returns where the body starts and whether the blank line ending the headers was seen."""
    d = ctx.data
    for _ in range(MAX_HEADERS):
        if pos >= end:
            return pos, False
        eol = d.find(b"\n", pos, end)
        if eol < 0:
            return pos, False
        raw = d[pos:eol].rstrip(b"\r")
        if not raw:
            return eol + 1, True
        text = raw.decode("latin-1")
        name, colon, value = text.partition(":")
        value = value.strip()
        fdef = known.get(name.strip().lower()) if colon else None
        start = pos + (text.find(value, len(name) + 1) if value else len(text))
        if fdef is not None and fdef is length:
            if value.isascii() and value.isdigit():
                layer.add(fdef, int(value), start, len(value))
            else:
                layer.add(other, text, pos, len(raw))
        elif fdef is not None:
            layer.add(fdef, value, start, len(value))
            if host is not None and fdef is HOST:
                layer.add(host, value, start, len(value))
        else:
            layer.add(other, text, pos, len(raw))
        pos = eol + 1
    return pos, False


for _port in PORTS:
    TCP_PORTS[_port] = dissect_http
TCP_HEURISTICS.append((starts_message, _message))
