"""RDP's connection setup on TCP 3389, as Netmon's parsers name it (MS-RDPBCGR §2.2.1.1–2.2.1.2):
``TPKT`` (RFC 1006: version, length), ``X224`` (ISO 8073 class 0: connection request, connection
confirm, data, disconnect request, with references and class) and ``RDPBCGR`` for what RDP adds to
the X.224 connection PDUs — the routing token or ``Cookie: mstshash=`` of the request, and the
negotiation request (protocols the client can do: standard RDP security, TLS, CredSSP (HYBRID),
RDSTLS, HYBRID_EX, RDSAAD; flags), response (the protocol the server picked) or failure (why).

Once TLS or CredSSP is selected every later byte of the connection is TLS, so a segment on port
3389 that does not start with a TPKT header (version 3, reserved 0) is handed to the TLS dissector
(records, or the rest of one).  The MCS/T.125 data inside X.224 data PDUs is not decoded.
"""

from __future__ import annotations

from ..fields import REGISTRY, FieldType
from .core import TCP_PORTS, Ctx, payload
from .tls import dissect_tls

R = REGISTRY
X224_TYPES = {0xE: "Connection Request", 0xD: "Connection Confirm", 0xF: "Data", 0x8: "Disconnect Request",
              0x7: "Error"}
#: MS-RDPBCGR's protocol flags, by the names Netmon and the specification use
PROTOCOLS = {0x1: "PROTOCOL_SSL", 0x2: "PROTOCOL_HYBRID", 0x4: "PROTOCOL_RDSTLS", 0x8: "PROTOCOL_HYBRID_EX",
             0x10: "PROTOCOL_RDSAAD"}
#: what the protocols are, for the summary
PROTOCOL_SHORT = {0: "RDP", 0x1: "TLS", 0x2: "CredSSP", 0x4: "RDSTLS", 0x8: "CredSSP-EX", 0x10: "RDSAAD"}
NEG_TYPES = {1: "RDP_NEG_REQ", 2: "RDP_NEG_RSP", 3: "RDP_NEG_FAILURE"}
FAILURES = {1: "SSL_REQUIRED_BY_SERVER", 2: "SSL_NOT_ALLOWED_BY_SERVER", 3: "SSL_CERT_NOT_ON_SERVER",
            4: "INCONSISTENT_FLAGS", 5: "HYBRID_REQUIRED_BY_SERVER", 6: "SSL_WITH_USER_AUTH_REQUIRED_BY_SERVER"}

TPKT = R.protocol("TPKT", "ISO transport over TCP (RFC 1006): RDP's outer framing on TCP 3389")
TPKT_VERSION = R.define("TPKT.Version", FieldType.UINT, "Version (3)")
TPKT_LENGTH = R.define("TPKT.PacketLength", FieldType.UINT, "Length of the TPKT packet, header included")
X224 = R.protocol("X224", "ISO 8073 class 0 transport (X.224) inside TPKT")
X224_LI = R.define("X224.LengthIndicator", FieldType.UINT, "Header length after this byte")
X224_TYPE = R.define("X224.Type", FieldType.UINT, "PDU type (the code's high nibble)", enum=X224_TYPES)
X224_DST = R.define("X224.DestinationReference", FieldType.UINT, "Destination reference")
X224_SRC = R.define("X224.SourceReference", FieldType.UINT, "Source reference")
X224_CLASS = R.define("X224.ClassOptions", FieldType.UINT, "Class and options (0 for RDP)")
X224_EOT = R.define("X224.EOT", FieldType.BOOL, "Last data unit of a data PDU")
RDP = R.protocol("RDPBCGR", "Remote Desktop Protocol basic connectivity (MS-RDPBCGR): connection negotiation")
COOKIE = R.define("RDPBCGR.Cookie", FieldType.STRING, "Cookie of a connection request (mstshash=user)")
ROUTING_TOKEN = R.define("RDPBCGR.RoutingToken", FieldType.STRING,
                         "Routing token of a connection request (a load balancer's Cookie: msts=…)")
NEG_TYPE = R.define("RDPBCGR.NegotiationType", FieldType.UINT, "1 request, 2 response, 3 failure", enum=NEG_TYPES)
NEG_FLAGS = R.define("RDPBCGR.NegotiationFlags", FieldType.UINT, "Flags of the negotiation structure")
REQUESTED = R.define("RDPBCGR.RequestedProtocols", FieldType.UINT,
                     "Security protocols the client supports (0 standard RDP; 1 TLS; 2 CredSSP; 8 HYBRID_EX …)")
REQUESTED_NAME = R.define("RDPBCGR.RequestedProtocols.Protocol", FieldType.STRING, "One requested protocol's name")
SELECTED = R.define("RDPBCGR.SelectedProtocol", FieldType.UINT, "Security protocol the server selected",
                    enum={0: "PROTOCOL_RDP", **PROTOCOLS})
FAILURE = R.define("RDPBCGR.FailureCode", FieldType.UINT, "Why the server refused the negotiation", enum=FAILURES)
R.alias("RDP", "RDPBCGR")
R.alias("RDPBCGR.RequestedProtocol", "RDPBCGR.RequestedProtocols")
R.alias("TPKT.Length", "TPKT.PacketLength")

#: TPKT packets read from one segment at most
MAX_PACKETS = 16
_MAX_COOKIE = 1024


def protocol_names(flags: int) -> list[str]:
    """Names of the flags set in a requestedProtocols value (``PROTOCOL_RDP`` when none is)."""
    names = [name for bit, name in PROTOCOLS.items() if flags & bit]
    rest = flags & ~sum(PROTOCOLS)
    if rest:
        names.append(f"0x{rest:X}")
    return names or ["PROTOCOL_RDP"]


def _short(flags: int) -> str:
    parts = [PROTOCOL_SHORT[bit] for bit in PROTOCOLS if flags & bit]
    rest = flags & ~sum(PROTOCOLS)
    return ", ".join(parts + ([f"0x{rest:X}"] if rest else [])) or "RDP"


def starts_tpkt(d: bytes, off: int, end: int) -> bool:
    return end - off >= 4 and d[off] == 3 and d[off + 1] == 0


def dissect_rdp_port(ctx: Ctx, off: int, end: int) -> None:
    """Port 3389: TPKT packets, else TLS (after negotiation the connection is TLS throughout)."""
    if not starts_tpkt(ctx.data, off, end):
        dissect_tls(ctx, off, end)
        return
    for _ in range(MAX_PACKETS):
        off = _tpkt(ctx, off, end)
        if off >= end:
            return
        if not starts_tpkt(ctx.data, off, end):
            break
    payload(ctx, off, end)


def _tpkt(ctx: Ctx, off: int, end: int) -> int:
    """One TPKT packet and what it carries; returns where the next one starts."""
    d = ctx.data
    length = (d[off + 2] << 8) | d[off + 3]
    stop = min(end, off + max(length, 4))
    layer = ctx.layer(TPKT, f"Version = 3, Length = {length}", off, stop - off)
    layer.add(TPKT_VERSION, 3, off, 1)
    layer.add(TPKT_LENGTH, length, off + 2, 2)
    if length < 7:
        ctx.malformed(layer, f"length {length} leaves no room for an X.224 header")
        return stop
    if off + length > end:
        ctx.set_summary(layer, f"Version = 3, Length = {length} [truncated]")
    if stop <= off + 4:
        ctx.short(layer, "the X.224 header is missing")
        return stop
    _x224(ctx, off + 4, stop)
    return stop


def _x224(ctx: Ctx, off: int, end: int) -> None:
    d = ctx.data
    li = d[off]
    kind = d[off + 1] >> 4 if off + 1 < end else -1
    name = X224_TYPES.get(kind, f"Type 0x{kind:X}")
    hdr_end = min(end, off + 1 + li)
    layer = ctx.layer(X224, name, off, hdr_end - off)
    layer.add(X224_LI, li, off, 1)
    if kind < 0:
        ctx.short(layer, "the PDU type is missing")
        return
    layer.add(X224_TYPE, kind, off + 1, 1, display=f"{name} (0x{kind:X})", bits=(0, 4))
    if kind == 0xF:
        if li >= 2 and off + 2 < end:
            layer.add(X224_EOT, d[off + 2] >> 7, off + 2, 1, bits=(0, 1))
        payload(ctx, hdr_end, end, "MCS (T.125)")
        return
    if kind not in (0xE, 0xD, 0x8) or li < 6:
        payload(ctx, hdr_end, end)
        return
    if off + 7 > end:
        ctx.short(layer, f"{end - off} bytes, an X.224 {name} needs 7")
        return
    layer.add(X224_DST, (d[off + 2] << 8) | d[off + 3], off + 2, 2)
    layer.add(X224_SRC, (d[off + 4] << 8) | d[off + 5], off + 4, 2)
    layer.add(X224_CLASS, d[off + 6], off + 6, 1, display=f"0x{d[off + 6]:02X}")
    cut = off + 1 + li > end
    if cut:
        ctx.set_summary(layer, f"{name} [truncated]")
    if kind == 0x8 or hdr_end <= off + 7:
        payload(ctx, hdr_end, end)
        return
    _rdp(ctx, kind, off + 7, hdr_end, cut)
    payload(ctx, hdr_end, end)


def _rdp(ctx: Ctx, kind: int, off: int, end: int, cut: bool) -> None:
    """The variable part of a connection request/confirm: cookie or routing token, then the
    negotiation structure."""
    d = ctx.data
    layer = ctx.layer(RDP, "", off, end - off)
    parts = ["Connection Request" if kind == 0xE else "Connection Confirm"]
    p = off
    if kind == 0xE and d[p] != 1:  # a request's text line comes first (RDP_NEG_REQ's type is 1)
        eol = d.find(b"\r\n", p, min(end, p + _MAX_COOKIE))
        stop = end if eol < 0 else eol
        text = d[p:stop].decode("latin-1")
        if text.startswith("Cookie: ") and not text.startswith("Cookie: msts="):
            layer.add(COOKIE, text[8:], p + 8, stop - p - 8)
            parts.append(f"Cookie = {text[8:]}")
        else:
            layer.add(ROUTING_TOKEN, text, p, stop - p)  # "Cookie: msts=…" (MS-RDPBCGR §2.2.1.1)
            parts.append(f"RoutingToken = {text}")
        p = end if eol < 0 else eol + 2
    if end - p >= 8 and d[p] in NEG_TYPES:
        neg = d[p]
        value = int.from_bytes(d[p + 4 : p + 8], "little")
        layer.add(NEG_TYPE, neg, p, 1, display=f"{NEG_TYPES[neg]} ({neg})")
        layer.add(NEG_FLAGS, d[p + 1], p + 1, 1, display=f"0x{d[p + 1]:02X}")
        if neg == 1:
            node = layer.add(REQUESTED, value, p + 4, 4, display=f"0x{value:08X} ({' | '.join(protocol_names(value))})")
            for name in protocol_names(value):
                node.add(REQUESTED_NAME, name, p + 4, 4)
            parts.append(f"RequestedProtocols = {_short(value)}")
        elif neg == 2:
            names = {0: "PROTOCOL_RDP", **PROTOCOLS}
            layer.add(SELECTED, value, p + 4, 4, display=f"{names.get(value, 'Unknown')} (0x{value:08X})")
            parts.append(f"SelectedProtocol = {PROTOCOL_SHORT.get(value, f'0x{value:X}')}")
        else:
            layer.add(FAILURE, value, p + 4, 4, display=f"{FAILURES.get(value, 'Unknown')} ({value})")
            parts.append(f"Failure = {FAILURES.get(value, value)}")
    elif p < end and not cut:
        ctx.malformed(layer, f"{end - p} bytes after the cookie are not a negotiation structure")
    ctx.set_summary(layer, ", ".join(parts) + (" [truncated]" if cut else ""))


TCP_PORTS[3389] = dissect_rdp_port
