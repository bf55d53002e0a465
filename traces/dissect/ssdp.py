"""SSDP (UPnP discovery: HTTP-style messages over UDP 1900), as Netmon's ``SSDP`` parser names it:
the request line (``M-SEARCH *``, ``NOTIFY *``) or status line of a search response, and the
headers discovery is made of — Host, ST (search target), NT and NTS (notification type and
sub-type: ``ssdp:alive``, ``ssdp:byebye``), USN, Location, Server, MAN, MX, Cache-Control.  The
header lines are read by the HTTP dissector's reader.

Every payload on port 1900 is an SSDP layer (the index's port rule relies on it); one that does
not start like a message is kept as data.
"""

from __future__ import annotations

from ..fields import REGISTRY, FieldType
from .core import UDP_PORTS, Ctx
from .http import read_headers

R = REGISTRY
SSDP = R.protocol("SSDP", "Simple Service Discovery Protocol (UPnP), UDP 1900")
REQUEST = R.define("SSDP.Request", FieldType.PROTOCOL, "A request (M-SEARCH, NOTIFY) and its headers")
METHOD = R.define("SSDP.Request.Method", FieldType.STRING, "Request method (M-SEARCH, NOTIFY)")
URI = R.define("SSDP.Request.URI", FieldType.STRING, "Request target (*)")
REQ_VERSION = R.define("SSDP.Request.ProtocolVersion", FieldType.STRING, "Protocol version of a request")
RESPONSE = R.define("SSDP.Response", FieldType.PROTOCOL, "A search response (status line and headers)")
RESP_VERSION = R.define("SSDP.Response.ProtocolVersion", FieldType.STRING, "Protocol version of a response")
STATUS = R.define("SSDP.Response.StatusCode", FieldType.UINT, "Status code of a search response")
REASON = R.define("SSDP.Response.Reason", FieldType.STRING, "Reason phrase of the status line")
HOST = R.define("SSDP.Host", FieldType.STRING, "Host header (239.255.255.250:1900, [FF02::C]:1900)")
ST = R.define("SSDP.SearchTarget", FieldType.STRING, "ST header: what a search looks for, or a response found")
NT = R.define("SSDP.NotificationType", FieldType.STRING, "NT header: the type a NOTIFY announces")
NTS = R.define("SSDP.NotificationSubType", FieldType.STRING, "NTS header: ssdp:alive, ssdp:byebye, ssdp:update")
USN = R.define("SSDP.USN", FieldType.STRING, "USN header: unique service name")
LOCATION = R.define("SSDP.Location", FieldType.STRING, "Location header: URL of the device description")
SERVER = R.define("SSDP.Server", FieldType.STRING, "Server header")
MAN = R.define("SSDP.Man", FieldType.STRING, "MAN header (\"ssdp:discover\")")
MX = R.define("SSDP.MX", FieldType.STRING, "MX header: seconds a device may wait before answering")
CACHE_CONTROL = R.define("SSDP.CacheControl", FieldType.STRING, "Cache-Control header (max-age)")
USER_AGENT = R.define("SSDP.UserAgent", FieldType.STRING, "User-Agent header")
HEADER = R.define("SSDP.HeaderField", FieldType.STRING, "Any other header, as 'Name: value'")
DATA = R.define("SSDP.Data", FieldType.BYTES, "Bytes that do not start an SSDP message, or a body")
R.alias("SSDP.ST", "SSDP.SearchTarget")
R.alias("SSDP.NT", "SSDP.NotificationType")
R.alias("SSDP.NTS", "SSDP.NotificationSubType")
R.alias("SSDP.Method", "SSDP.Request.Method")
R.alias("SSDP.StatusCode", "SSDP.Response.StatusCode")

_HEADERS = {"host": HOST, "st": ST, "nt": NT, "nts": NTS, "usn": USN, "location": LOCATION, "server": SERVER,
            "man": MAN, "mx": MX, "cache-control": CACHE_CONTROL, "user-agent": USER_AGENT}
#: the largest method name taken as one (M-SEARCH, NOTIFY, SUBSCRIBE …)
_MAX_METHOD = 16


def _starts_message(line: bytes) -> bool:
    if line.startswith(b"HTTP/"):
        return True
    method, space, rest = line.partition(b" ")
    return bool(space) and 0 < len(method) <= _MAX_METHOD and method.replace(b"-", b"").isalpha() and \
        method.upper() == method and rest.rstrip().endswith((b"HTTP/1.1", b"HTTP/1.0"))


def dissect_ssdp(ctx: Ctx, off: int, end: int) -> None:
    d = ctx.data
    if off >= end:
        return
    eol = d.find(b"\n", off, end)
    line_end = end if eol < 0 else eol
    raw = d[off:line_end].rstrip(b"\r")
    if not _starts_message(raw):
        layer = ctx.layer(SSDP, f"Not a message, {end - off} bytes", off, end - off)
        layer.add(DATA, d[off:end], off, end - off, display=f"{end - off} bytes")
        return
    layer = ctx.layer(SSDP, "", off, end - off)
    line = raw.decode("latin-1")
    if line.startswith("HTTP/"):
        version, _, rest = line.partition(" ")
        code_text, space, reason = rest.partition(" ")
        node = layer.add(RESPONSE, True, off, line_end - off, display=line)
        node.add(RESP_VERSION, version, off, len(version))
        if code_text.isascii() and code_text.isdigit() and len(code_text) == 3:
            node.add(STATUS, int(code_text), off + len(version) + 1, 3)
            if space:
                node.add(REASON, reason, off + len(version) + 5, len(reason))
        summary = f"Response, {version}, Status: {code_text} {reason}".rstrip()
    else:
        method, _, rest = line.partition(" ")
        uri, _, version = rest.rpartition(" ")
        node = layer.add(REQUEST, True, off, line_end - off, display=line)
        node.add(METHOD, method, off, len(method))
        node.add(URI, uri, off + len(method) + 1, len(uri))
        node.add(REQ_VERSION, version, off + len(method) + 2 + len(uri), len(version))
        summary = f"Request, {method} {uri}"
    if eol < 0:
        ctx.set_summary(layer, summary + " [truncated]")
        return
    pos, complete = read_headers(ctx, layer, eol + 1, end, _HEADERS, HEADER)
    if complete and pos < end:
        layer.add(DATA, d[pos:end], pos, end - pos, display=f"{end - pos} bytes")
    facts = {f.fdef: f.value for f in reversed(layer.fields) if f.fdef in (ST, NT, NTS, LOCATION)}
    for fdef, label in ((ST, "ST"), (NT, "NT"), (NTS, "NTS"), (LOCATION, "Location")):
        if facts.get(fdef):
            summary += f", {label} = {facts[fdef]}"
    ctx.set_summary(layer, summary if complete else summary + " [truncated]")


UDP_PORTS[1900] = dissect_ssdp
