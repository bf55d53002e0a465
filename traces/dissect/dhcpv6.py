"""DHCPv6 (RFC 8415) on UDP 546 and 547, as Netmon's ``DHCPv6`` parser names it: the message type
and transaction id; relay-forward/relay-reply with hop count, link and peer addresses and the
relayed message (dissected in turn); and the options that say what happened — client and server
DUIDs (type, link-layer address), IA_NA/IA_TA/IA_PD with their addresses and prefixes and
lifetimes, status codes with their names and messages, DNS servers, the domain search list, the
client FQDN, the option request list, elapsed time, preference, vendor class.  Other options keep
their code and data.

Every payload on these ports is a DHCPv6 layer (the index's port rule relies on it); options are
read within their lengths and nesting is bounded, so a hostile length or depth cannot run away.
"""

from __future__ import annotations

from ..fields import REGISTRY, FieldType
from ..frame import Field
from .core import UDP_PORTS, Ctx
from .text import ip6_text

R = REGISTRY
MESSAGE_TYPES = {1: "Solicit", 2: "Advertise", 3: "Request", 4: "Confirm", 5: "Renew", 6: "Rebind", 7: "Reply",
                 8: "Release", 9: "Decline", 10: "Reconfigure", 11: "Information-request", 12: "Relay-forw",
                 13: "Relay-reply", 14: "Leasequery", 15: "Leasequery-reply", 16: "Leasequery-done",
                 17: "Leasequery-data", 18: "Reconfigure-request", 19: "Reconfigure-reply", 20: "DHCPv4-query",
                 21: "DHCPv4-response"}
OPTION_NAMES = {1: "Client Identifier", 2: "Server Identifier", 3: "IA_NA", 4: "IA_TA", 5: "IA Address",
                6: "Option Request", 7: "Preference", 8: "Elapsed Time", 9: "Relay Message", 11: "Authentication",
                12: "Server Unicast", 13: "Status Code", 14: "Rapid Commit", 15: "User Class", 16: "Vendor Class",
                17: "Vendor-specific Information", 18: "Interface-Id", 19: "Reconfigure Message",
                20: "Reconfigure Accept", 21: "SIP Server Domain Names", 22: "SIP Servers", 23: "DNS Servers",
                24: "Domain Search List", 25: "IA_PD", 26: "IA Prefix", 27: "NIS Servers", 31: "SNTP Servers",
                32: "Information Refresh Time", 37: "Remote-Id", 38: "Subscriber-Id", 39: "Client FQDN",
                56: "NTP Server", 79: "Client Link-layer Address", 82: "SOL_MAX_RT", 83: "INF_MAX_RT"}
STATUS_CODES = {0: "Success", 1: "UnspecFail", 2: "NoAddrsAvail", 3: "NoBinding", 4: "NotOnLink", 5: "UseMulticast",
                6: "NoPrefixAvail", 7: "UnknownQueryType", 8: "MalformedQuery", 9: "NotConfigured", 10: "NotAllowed",
                11: "QueryTerminated", 12: "DataMissing", 13: "CatchUpComplete", 14: "NotSupported",
                15: "TLSConnectionRefused", 16: "AddressInUse", 17: "ConfigurationConflict",
                18: "MissingBindingInformation", 19: "OutdatedBindingInformation", 20: "ServerShuttingDown",
                21: "DNSUpdateNotSupported", 22: "ExcessiveTimeSkew"}
DUID_TYPES = {1: "link-layer address plus time", 2: "vendor-assigned", 3: "link-layer address", 4: "UUID"}

DHCPV6 = R.protocol("DHCPv6", "Dynamic Host Configuration Protocol for IPv6 (RFC 8415), UDP 546 and 547")
MSG_TYPE = R.define("DHCPv6.MessageType", FieldType.UINT, "Message type", enum=MESSAGE_TYPES)
XID = R.define("DHCPv6.TransactionID", FieldType.UINT, "Transaction id (pairs a reply with its request)")
HOP_COUNT = R.define("DHCPv6.HopCount", FieldType.UINT, "Relays the message has passed (relay messages)")
LINK_ADDRESS = R.define("DHCPv6.LinkAddress", FieldType.IPV6, "Address of the client's link (relay messages)")
PEER_ADDRESS = R.define("DHCPv6.PeerAddress", FieldType.IPV6, "Address of the client or relay (relay messages)")
OPTION = R.define("DHCPv6.Option", FieldType.PROTOCOL, "One option")
OPTION_CODE = R.define("DHCPv6.Option.Code", FieldType.UINT, "Option code", enum=OPTION_NAMES)
OPTION_LENGTH = R.define("DHCPv6.Option.Length", FieldType.UINT, "Option length")
OPTION_DATA = R.define("DHCPv6.Option.Data", FieldType.BYTES, "Data of an option not read further")
CLIENT_DUID = R.define("DHCPv6.ClientDUID", FieldType.BYTES, "Client's DUID (Client Identifier option)")
SERVER_DUID = R.define("DHCPv6.ServerDUID", FieldType.BYTES, "Server's DUID (Server Identifier option)")
DUID_TYPE = R.define("DHCPv6.DUIDType", FieldType.UINT, "DUID type", enum=DUID_TYPES)
DUID_MAC = R.define("DHCPv6.DUIDLinkLayerAddress", FieldType.MAC, "Link-layer address in a DUID (Ethernet)")
IAID = R.define("DHCPv6.IAID", FieldType.UINT, "Identity association id (IA_NA, IA_TA, IA_PD)")
T1 = R.define("DHCPv6.T1", FieldType.UINT, "Seconds until the client renews (IA_NA, IA_PD)")
T2 = R.define("DHCPv6.T2", FieldType.UINT, "Seconds until the client rebinds (IA_NA, IA_PD)")
IA_ADDRESS = R.define("DHCPv6.IAAddress", FieldType.IPV6, "An address of an IA_NA or IA_TA")
PREFIX = R.define("DHCPv6.IAPrefix", FieldType.IPV6, "A delegated prefix of an IA_PD")
PREFIX_LENGTH = R.define("DHCPv6.PrefixLength", FieldType.UINT, "Length of a delegated prefix")
PREFERRED = R.define("DHCPv6.PreferredLifetime", FieldType.UINT, "Preferred lifetime of an address or prefix, s")
VALID = R.define("DHCPv6.ValidLifetime", FieldType.UINT, "Valid lifetime of an address or prefix, s")
STATUS_CODE = R.define("DHCPv6.StatusCode", FieldType.UINT, "Status code (0 success)", enum=STATUS_CODES)
STATUS_MESSAGE = R.define("DHCPv6.StatusMessage", FieldType.STRING, "Status message text")
REQUESTED = R.define("DHCPv6.RequestedOption", FieldType.UINT, "An option the client asks for", enum=OPTION_NAMES)
PREFERENCE = R.define("DHCPv6.Preference", FieldType.UINT, "Server preference (255: use this server now)")
ELAPSED = R.define("DHCPv6.ElapsedTime", FieldType.UINT, "Time since the client began, hundredths of a second")
DNS_SERVER = R.define("DHCPv6.DNSServer", FieldType.IPV6, "A recursive DNS server")
DOMAIN = R.define("DHCPv6.DomainSearchList", FieldType.STRING, "A domain of the search list")
CLIENT_FQDN = R.define("DHCPv6.ClientFQDN", FieldType.STRING, "Client's fully qualified domain name")
ENTERPRISE = R.define("DHCPv6.EnterpriseNumber", FieldType.UINT,
                      "IANA enterprise number (vendor options; 311 Microsoft)")
VENDOR_CLASS = R.define("DHCPv6.VendorClassData", FieldType.STRING, "Vendor class data (e.g. MSFT 5.0)")
RELAY_MESSAGE = R.define("DHCPv6.RelayMessage", FieldType.PROTOCOL, "The message a relay forwards")
R.alias("DHCPv6.MsgType", "DHCPv6.MessageType")
R.alias("DHCPv6.XID", "DHCPv6.TransactionID")
R.alias("DHCPv6.DNSServers", "DHCPv6.DNSServer")
R.alias("DHCPv6.DomainList", "DHCPv6.DomainSearchList")

#: options read from one message, relay nesting followed, labels read from one name, at most
MAX_OPTIONS = 128
MAX_DEPTH = 8
_MAX_LABELS = 64
_IPV6 = 16


def _u16(d: bytes, p: int) -> int:
    return (d[p] << 8) | d[p + 1]


def _u32(d: bytes, p: int) -> int:
    return int.from_bytes(d[p : p + 4], "big")


class _Facts:
    """What the summary says: the first address or prefix, DUID, and a failing status."""

    __slots__ = ("address", "status")

    def __init__(self) -> None:
        self.address = ""
        self.status: int | None = None


def dissect_dhcpv6(ctx: Ctx, off: int, end: int) -> None:
    if off >= end:
        return
    layer = ctx.layer(DHCPV6, "", off, end - off)
    node = Field(None, None, "", off, end - off, "", [])  # the message's fields go on the layer itself
    facts = _Facts()
    summary, problem = _message(ctx.data, node, off, end, facts, 0)
    layer.fields += node.children
    ctx.set_summary(layer, summary)
    if problem:
        ctx.short(layer, problem)


def _message(d: bytes, node: Field, off: int, end: int, facts: _Facts, depth: int) -> tuple[str, str]:
    """A message's fields into ``node``; returns (summary, what was wrong or "")."""
    kind = d[off]
    name = MESSAGE_TYPES.get(kind, f"Unknown ({kind})")
    node.add(MSG_TYPE, kind, off, 1, display=f"{name} ({kind})")
    if kind in (12, 13):
        if end - off < 34:
            return name, f"{end - off} bytes, a relay message header needs 34"
        hops = d[off + 1]
        node.add(HOP_COUNT, hops, off + 1, 1)
        link, peer = d[off + 2 : off + 18], d[off + 18 : off + 34]
        node.add(LINK_ADDRESS, int.from_bytes(link, "big"), off + 2, 16, display=ip6_text(link))
        node.add(PEER_ADDRESS, int.from_bytes(peer, "big"), off + 18, 16, display=ip6_text(peer))
        inner: list[str] = []
        problem = _options(d, node, off + 34, end, facts, depth, inner)
        text = f"{name}, HopCount = {hops}, LinkAddress = {ip6_text(link)}, PeerAddress = {ip6_text(peer)}"
        return (f"{text}; {inner[0]}" if inner else text), problem
    if end - off < 4:
        return name, f"{end - off} bytes, a DHCPv6 header needs 4"
    xid = int.from_bytes(d[off + 1 : off + 4], "big")
    node.add(XID, xid, off + 1, 3, display=f"0x{xid:06X}")
    problem = _options(d, node, off + 4, end, facts, depth, [])
    parts = [name, f"TransactionID = 0x{xid:06X}"]
    if facts.address:
        parts.append(facts.address)
    if facts.status:
        parts.append(f"Status = {STATUS_CODES.get(facts.status, facts.status)}")
    return ", ".join(parts), problem


def _options(d: bytes, node: Field, p: int, end: int, facts: _Facts, depth: int, inner: list[str]) -> str:
    """Options in ``p:end`` into ``node``; returns what was wrong, or ""."""
    for _ in range(MAX_OPTIONS):
        if p >= end:
            return ""
        if end - p < 4:
            return f"{end - p} bytes left, an option header needs 4"
        code, n = _u16(d, p), _u16(d, p + 2)
        name = OPTION_NAMES.get(code, f"Option {code}")
        opt = node.add(OPTION, True, p, 4 + n, display=name)
        opt.add(OPTION_CODE, code, p, 2, display=f"{name} ({code})")
        opt.add(OPTION_LENGTH, n, p + 2, 2)
        a, b = p + 4, p + 4 + n
        if b > end:
            opt.length = end - p
            return f"option {name} needs {n} bytes, {end - a} left"
        problem = _option(d, opt, code, a, b, facts, depth, inner)
        if problem:
            return problem
        p = b
    return ""


def _option(d: bytes, opt: Field, code: int, a: int, b: int, facts: _Facts, depth: int, inner: list[str]) -> str:
    n = b - a
    if code in (1, 2):
        opt.add(CLIENT_DUID if code == 1 else SERVER_DUID, d[a:b], a, n, display=d[a:b].hex())
        _duid(d, opt, a, b)
    elif code in (3, 4, 25) and n >= (4 if code == 4 else 12):
        opt.add(IAID, _u32(d, a), a, 4, display=f"0x{_u32(d, a):08X}")
        if code == 4:
            return _options(d, opt, a + 4, b, facts, depth, inner)
        opt.add(T1, _u32(d, a + 4), a + 4, 4)
        opt.add(T2, _u32(d, a + 8), a + 8, 4)
        return _options(d, opt, a + 12, b, facts, depth, inner)
    elif code == 5 and n >= 24:
        text = ip6_text(d[a : a + 16])
        opt.add(IA_ADDRESS, int.from_bytes(d[a : a + 16], "big"), a, 16, display=text)
        opt.add(PREFERRED, _u32(d, a + 16), a + 16, 4)
        opt.add(VALID, _u32(d, a + 20), a + 20, 4)
        facts.address = facts.address or f"Address = {text}"
        return _options(d, opt, a + 24, b, facts, depth, inner)
    elif code == 26 and n >= 25:
        opt.add(PREFERRED, _u32(d, a), a, 4)
        opt.add(VALID, _u32(d, a + 4), a + 4, 4)
        plen = d[a + 8]
        opt.add(PREFIX_LENGTH, plen, a + 8, 1)
        text = ip6_text(d[a + 9 : a + 25])
        opt.add(PREFIX, int.from_bytes(d[a + 9 : a + 25], "big"), a + 9, 16, display=text)
        facts.address = facts.address or f"Prefix = {text}/{plen}"
        return _options(d, opt, a + 25, b, facts, depth, inner)
    elif code == 13 and n >= 2:
        status = _u16(d, a)
        opt.add(STATUS_CODE, status, a, 2, display=f"{STATUS_CODES.get(status, 'Unknown')} ({status})")
        if n > 2:
            opt.add(STATUS_MESSAGE, d[a + 2 : b].decode("utf-8", "replace"), a + 2, n - 2)
        if status and facts.status is None:
            facts.status = status
    elif code == 6:
        for q in range(a, b - 1, 2):
            c = _u16(d, q)
            opt.add(REQUESTED, c, q, 2, display=f"{OPTION_NAMES.get(c, 'Unknown')} ({c})")
    elif code == 7 and n == 1:
        opt.add(PREFERENCE, d[a], a, 1)
    elif code == 8 and n == 2:
        v = _u16(d, a)
        opt.add(ELAPSED, v, a, 2, display=f"{v} ({v * 10} ms)")
    elif code == 23:
        for q in range(a, b - _IPV6 + 1, _IPV6):
            opt.add(DNS_SERVER, int.from_bytes(d[q : q + 16], "big"), q, 16, display=ip6_text(d[q : q + 16]))
    elif code == 24:
        q = a
        for _ in range(MAX_OPTIONS):
            if q >= b:
                break
            name, nxt = _name(d, q, b)
            opt.add(DOMAIN, name, q, nxt - q)
            q = nxt
    elif code == 39 and n >= 1:
        name, nxt = _name(d, a + 1, b)
        opt.add(CLIENT_FQDN, name, a + 1, nxt - a - 1)
    elif code == 16 and n >= 4:
        opt.add(ENTERPRISE, _u32(d, a), a, 4)
        q = a + 4
        while q + 2 <= b:
            m = _u16(d, q)
            opt.add(VENDOR_CLASS, d[q + 2 : min(b, q + 2 + m)].decode("latin-1"), q + 2, min(b, q + 2 + m) - q - 2)
            q += 2 + m
    elif code == 9 and n >= 1:
        if depth >= MAX_DEPTH:
            return f"relay messages nested deeper than {MAX_DEPTH}"
        rel = opt.add(RELAY_MESSAGE, True, a, n)
        summary, problem = _message(d, rel, a, b, facts, depth + 1)
        rel.display = summary
        inner.append(summary)
        return problem
    elif n:
        opt.add(OPTION_DATA, d[a:b], a, n, display=d[a:b].hex())
    return ""


def _duid(d: bytes, opt: Field, a: int, b: int) -> None:
    if b - a < 2:
        return
    kind = _u16(d, a)
    opt.add(DUID_TYPE, kind, a, 2, display=f"{DUID_TYPES.get(kind, 'Unknown')} ({kind})")
    mac = a + (8 if kind == 1 else 4 if kind == 3 else b)  # DUID-LLT: type, hw type, time; DUID-LL: type, hw type
    if kind in (1, 3) and b - mac == 6 and _u16(d, a + 2) == 1:
        opt.add(DUID_MAC, int.from_bytes(d[mac:b], "big"), mac, 6)


def _name(d: bytes, p: int, end: int) -> tuple[str, int]:
    """A name in DNS wire format without compression (RFC 8415 §10); returns it and where it ends.
    A name the option cuts is shown as far as it goes."""
    labels: list[str] = []
    for _ in range(_MAX_LABELS):
        if p >= end:
            break
        n = d[p]
        if n == 0:
            return ".".join(labels), p + 1
        if n > 63 or p + 1 + n > end:
            return ".".join(labels), end
        labels.append(d[p + 1 : p + 1 + n].decode("latin-1"))
        p += 1 + n
    return ".".join(labels), min(p, end)


UDP_PORTS[546] = dissect_dhcpv6
UDP_PORTS[547] = dissect_dhcpv6
