"""DNS over UDP and TCP, and the protocols that share its message format: mDNS (shown as DNS,
as Netmon does), LLMNR (its own name, ``LLMNR.QRecord.QuestionName`` …) and the NetBIOS name
service (``nbns.py``), each with the same field tree under its own protocol name.

Sections and their field names:

* ``DNS.QRecord``          questions: ``QuestionName``, ``QuestionType``, ``QuestionClass``
* ``DNS.ARecord``          answers
* ``DNS.AuthorityRecord``  authority section
* ``DNS.AdditionalRecord`` additional section

The three resource-record sections share their leaf names: ``Name``, ``Type``, ``Class``,
``TimeToLive``, ``DataLength`` and the typed data: ``IPAddress`` (A), ``IPv6Address`` (AAAA),
``CName``, ``PtrDomainName``, ``NameServer``, ``Preference``/``MailExchange`` (MX), ``Text`` (TXT,
one per string), SOA ``PrimaryServer``/``ResponsibleMailbox``/``SerialNumber``/``RefreshInterval``/
``RetryInterval``/``ExpireLimit``/``MinimumTTL``, SRV ``Priority``/``Weight``/``Port``/``Target``,
and ``Data`` (raw bytes) for every other type.  So ``DNS.ARecord.IPAddress == 10.0.0.1`` finds
answers, ``DNS.AdditionalRecord.IPAddress`` glue records.

Compressed names are followed only backwards (each pointer must point before every earlier
one), so no input can make the name reader loop.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping
from typing import NamedTuple

from ..fields import REGISTRY, FieldDef, FieldType
from ..frame import Field, Layer
from .core import TCP_PORTS, UDP_PORTS, Ctx, payload
from .text import ip4_text, ip6_text, new

R = REGISTRY
TYPE_NAMES = {
    1: "A", 2: "NS", 5: "CNAME", 6: "SOA", 12: "PTR", 13: "HINFO", 15: "MX", 16: "TXT", 28: "AAAA", 33: "SRV",
    35: "NAPTR", 39: "DNAME", 41: "OPT", 43: "DS", 46: "RRSIG", 47: "NSEC", 48: "DNSKEY", 50: "NSEC3",
    64: "SVCB", 65: "HTTPS", 99: "SPF", 251: "IXFR", 252: "AXFR", 255: "ANY", 257: "CAA",
}
CLASS_NAMES = {1: "Internet", 3: "Chaos", 4: "Hesiod", 254: "None", 255: "Any"}
OPCODE_NAMES = {0: "QUERY (Standard query)", 1: "IQUERY (Inverse query)", 2: "STATUS (Server status request)",
                4: "NOTIFY (Zone change notification)", 5: "UPDATE (Dynamic update)"}
RCODE_NAMES = {0: "Success", 1: "Format Error", 2: "Server Failure", 3: "Name Error", 4: "Not Implemented",
               5: "Refused", 6: "YX Domain", 7: "YX RR Set", 8: "NX RR Set", 9: "Not Authoritative",
               10: "Not Zone"}


class _Header:
    """The header field definitions of one DNS-format protocol (``DNS``, ``LLMNR``, ``NBTNS``)."""

    def __init__(self, p: str, types: Mapping[int, str]) -> None:
        self.tcp_length = R.define(f"{p}.TcpLength", FieldType.UINT, "Message length prefix (over TCP)")
        self.query_id = R.define(f"{p}.QueryIdentifier", FieldType.UINT,
                                 "Transaction id matching a response to its query")
        self.flags = R.define(f"{p}.Flags", FieldType.UINT, "The 16-bit flags word")
        self.response = R.define(f"{p}.Flags.Response", FieldType.BOOL, "1 for a response, 0 for a query (QR)")
        self.opcode = R.define(f"{p}.Flags.Opcode", FieldType.UINT, "Kind of query", enum={
            k: v.split(" ", 1)[0] for k, v in OPCODE_NAMES.items()})
        self.bits = (
            (R.define(f"{p}.Flags.AuthoritativeAnswer", FieldType.BOOL, "Answer from an authoritative server"),
             10, 2, (5, 1)),
            (R.define(f"{p}.Flags.Truncated", FieldType.BOOL, "Message was truncated"), 9, 2, (6, 1)),
            (R.define(f"{p}.Flags.RecursionDesired", FieldType.BOOL, "Recursion desired"), 8, 2, (7, 1)),
            (R.define(f"{p}.Flags.RecursionAvailable", FieldType.BOOL, "Recursion available"), 7, 3, (0, 1)),
            (R.define(f"{p}.Flags.Reserved", FieldType.BOOL, "Reserved bit (Z)"), 6, 3, (1, 1)),
            (R.define(f"{p}.Flags.AuthenticatedData", FieldType.BOOL, "Answer authenticated (DNSSEC)"),
             5, 3, (2, 1)),
            (R.define(f"{p}.Flags.CheckingDisabled", FieldType.BOOL,
                      "Checking disabled (DNSSEC; the broadcast bit in NetBIOS name service)"), 4, 3, (3, 1)),
        )
        self.rcode = R.define(f"{p}.Flags.ResponseCode", FieldType.UINT, "Response code", enum=RCODE_NAMES)
        self.counts = (R.define(f"{p}.QuestionCount", FieldType.UINT, "Number of questions"),
                       R.define(f"{p}.AnswerCount", FieldType.UINT, "Number of answer records"),
                       R.define(f"{p}.NameServerCount", FieldType.UINT, "Number of authority records"),
                       R.define(f"{p}.AdditionalCount", FieldType.UINT, "Number of additional records"))
        self.qrecord = R.define(f"{p}.QRecord", FieldType.PROTOCOL, "A question")
        self.q_name = R.define(f"{p}.QRecord.QuestionName", FieldType.STRING, "Name asked for")
        self.q_type = R.define(f"{p}.QRecord.QuestionType", FieldType.UINT, "Record type asked for", enum=types)
        self.q_class = R.define(f"{p}.QRecord.QuestionClass", FieldType.UINT, "Class asked for", enum=CLASS_NAMES)


_RR_LEAVES: tuple[tuple[str, FieldType, str], ...] = (
    ("Name", FieldType.STRING, "Owner name of the record"),
    ("Type", FieldType.UINT, "Record type"),
    ("Class", FieldType.UINT, "Record class"),
    ("TimeToLive", FieldType.UINT, "Seconds the record may be cached"),
    ("DataLength", FieldType.UINT, "Length of the record data"),
    ("IPAddress", FieldType.IPV4, "IPv4 address (A record)"),
    ("IPv6Address", FieldType.IPV6, "IPv6 address (AAAA record)"),
    ("CName", FieldType.STRING, "Canonical name (CNAME record)"),
    ("PtrDomainName", FieldType.STRING, "Domain name pointed to (PTR record)"),
    ("NameServer", FieldType.STRING, "Name server (NS record)"),
    ("Preference", FieldType.UINT, "Preference (MX record)"),
    ("MailExchange", FieldType.STRING, "Mail exchanger (MX record)"),
    ("Text", FieldType.STRING, "One character string (TXT record)"),
    ("PrimaryServer", FieldType.STRING, "Primary name server (SOA record)"),
    ("ResponsibleMailbox", FieldType.STRING, "Responsible mailbox (SOA record)"),
    ("SerialNumber", FieldType.UINT, "Zone serial number (SOA record)"),
    ("RefreshInterval", FieldType.UINT, "Refresh interval in seconds (SOA record)"),
    ("RetryInterval", FieldType.UINT, "Retry interval in seconds (SOA record)"),
    ("ExpireLimit", FieldType.UINT, "Expire limit in seconds (SOA record)"),
    ("MinimumTTL", FieldType.UINT, "Minimum / negative-caching TTL (SOA record)"),
    ("Priority", FieldType.UINT, "Priority (SRV record)"),
    ("Weight", FieldType.UINT, "Weight (SRV record)"),
    ("Port", FieldType.UINT, "Port (SRV record)"),
    ("Target", FieldType.STRING, "Target host (SRV record)"),
    ("Data", FieldType.BYTES, "Record data of other types"),
)


class _Section:
    """The field definitions of one resource-record section."""

    __slots__ = ("f", "node", "title")

    def __init__(self, p: str, name: str, title: str, description: str, types: Mapping[int, str]) -> None:
        self.node = R.define(f"{p}.{name}", FieldType.PROTOCOL, description)
        self.title = title
        enums = {"Type": types, "Class": CLASS_NAMES}
        self.f: dict[str, FieldDef] = {
            leaf: R.define(f"{p}.{name}.{leaf}", t, f"{d} ({title.lower()})", enum=enums.get(leaf))
            for leaf, t, d in _RR_LEAVES
        }




class Names:
    """Every definition of one DNS-format protocol: DNS itself, and the protocols that share its
    message format under their own names (LLMNR, NetBIOS name service), so that ``LLMNR`` and
    ``LLMNR.QRecord.QuestionName`` are found through the index's own presence bit."""

    def __init__(self, proto: str, description: str, *, types: Mapping[int, str] = TYPE_NAMES,
                 summary: Summary | None = None, netbios: NetBios | None = None) -> None:
        self.proto = R.protocol(proto, description)
        self.types = types
        self.h = _Header(proto, types)
        self.sections = (_Section(proto, "ARecord", "Answer", "An answer record", types),
                         _Section(proto, "AuthorityRecord", "Authority", "An authority-section record", types),
                         _Section(proto, "AdditionalRecord", "Additional", "An additional-section record", types))
        self.summary: Summary = summary or _dns_summary
        #: NetBIOS name service: names in the first-level encoding and its own record data
        self.netbios = netbios


class NetBios(NamedTuple):
    """How the NetBIOS name service differs from DNS (see ``nbns.py``)."""

    name: Callable[[str], str]  # decoded text of a name read as DNS labels
    rdata: Callable[[bytes, Field, dict[str, FieldDef], int, int, int], str]  # like ``_rdata``


#: (query id, response bit, opcode, rcode, question texts, answer texts) → the layer's summary
Summary = Callable[[int, int, int, int, list[str], list[str]], str]


_HEADER = struct.Struct("!HHHHHH")
_RR = struct.Struct("!HHIH")
_SOA = struct.Struct("!IIIII")
_SRV = struct.Struct("!HHH")
MAX_NAME = 255
_PRINTABLE = frozenset(range(0x21, 0x7F)) - {ord("."), ord("\\")}


class _Bad(Exception):
    """A name or record that cannot be read; caught at the message level."""


class _Short(_Bad):
    """The message ends in the middle of a name or record (cut by the capture, or malformed)."""


def read_name(d: bytes, pos: int, base: int, end: int) -> tuple[str, int]:
    """Read a possibly compressed name at ``pos``; returns (text, offset after it in place).

    ``base`` is where the DNS message starts (pointers are relative to it).
    """
    labels: list[str] = []
    total = 0
    after = -1
    limit = pos  # every pointer must go before this: strictly backwards, so the walk ends
    while True:
        if pos >= end:
            raise _Short("name runs past the end of the message")
        n = d[pos]
        if n == 0:
            pos += 1
            break
        if n & 0xC0 == 0xC0:
            if pos + 1 >= end:
                raise _Short("compression pointer cut short")
            target = base + (((n & 0x3F) << 8) | d[pos + 1])
            if after < 0:
                after = pos + 2
            if target >= limit:
                raise _Bad(f"compression pointer to offset {target - base} does not point backwards")
            limit = target
            pos = target
            continue
        if n & 0xC0:
            raise _Bad(f"unsupported label type 0x{n & 0xC0:02X}")
        if pos + 1 + n > end:
            raise _Short("label runs past the end of the message")
        total += n + 1
        if total > MAX_NAME:
            raise _Bad("name longer than 255 bytes")
        raw = d[pos + 1 : pos + 1 + n]
        if all(c in _PRINTABLE for c in raw):
            labels.append(raw.decode("ascii"))
        else:
            labels.append("".join(chr(c) if c in _PRINTABLE else f"\\{c:03d}" for c in raw))
        pos += 1 + n
    return (".".join(labels) if labels else "<Root>"), (after if after >= 0 else pos)


def _dns_summary(qid: int, response: int, opcode: int, rcode: int, questions: list[str], answers: list[str]) -> str:
    head = f"QueryId = 0x{qid:04X}, {OPCODE_NAMES.get(opcode, f'Opcode {opcode}')}, "
    if response:
        summary = head + f"Response - {RCODE_NAMES.get(rcode, f'Code {rcode}')}"
        if answers:
            summary += ", " + ", ".join(answers[:4]) + (", ..." if len(answers) > 4 else "")
        return summary
    return head + (f"Query  for {questions[0]}" if questions else "Query")


DNS_NAMES = Names("DNS", "Domain Name System")
DNS = DNS_NAMES.proto
ANSWER, AUTHORITY, ADDITIONAL = DNS_NAMES.sections
LLMNR_NAMES = Names("LLMNR", "Link-Local Multicast Name Resolution (RFC 4795): DNS's format on UDP 5355")


def dissect_llmnr(ctx: Ctx, off: int, end: int) -> None:
    message(ctx, LLMNR_NAMES, off, off, end, None)


def dissect_dns(ctx: Ctx, off: int, end: int) -> None:
    message(ctx, DNS_NAMES, off, off, end, None)


def dissect_dns_tcp(ctx: Ctx, off: int, end: int) -> None:
    """DNS over TCP: a 2-byte length, then the message (only what this segment holds)."""
    if end - off < 2:
        payload(ctx, off, end)
        return
    length = (ctx.data[off] << 8) | ctx.data[off + 1]
    message(ctx, DNS_NAMES, off, off + 2, min(end, off + 2 + length), length)
    if off + 2 + length < end:
        payload(ctx, off + 2 + length, end)


def message(ctx: Ctx, names: Names, start: int, off: int, end: int, tcp_length: int | None) -> None:
    """One DNS-format message at ``off:end`` as a layer of ``names.proto`` (``start`` is where
    the layer begins: before a TCP length prefix when there is one)."""
    d = ctx.data
    h = names.h
    layer = ctx.layer(names.proto, "", start, end - start)
    if tcp_length is not None:
        layer.add(h.tcp_length, tcp_length, start, 2)
    if end - off < 12:
        # a cut-short header (snaplen, a quoted packet): show the words that are there
        words = [(d[p] << 8) | d[p + 1] for p in range(off, end - 1, 2)]
        _header(layer, h, off, words)
        ctx.short(layer, f"{end - off} bytes, a {names.proto.name} header needs 12")
        payload(ctx, off + 2 * len(words), end)
        return
    qid, flags, qd, an, ns, ar = _HEADER.unpack_from(d, off)
    _header(layer, h, off, [qid, flags, qd, an, ns, ar])
    response = flags >> 15
    opcode = (flags >> 11) & 15
    rcode = flags & 15
    pos = off + 12
    questions: list[str] = []
    answers: list[str] = []
    problem = ""
    short = False
    try:
        for _ in range(qd):
            pos = _question(d, names, layer, pos, off, end, questions)
        for section, count in zip(names.sections, (an, ns, ar), strict=True):
            for _ in range(count):
                pos = _record(d, names, layer, section, pos, off, end,
                              answers if section is names.sections[0] else None)
    except _Bad as e:
        problem, short = str(e), isinstance(e, _Short)
    ctx.set_summary(layer, names.summary(qid, response, opcode, rcode, questions, answers))
    if problem:
        (ctx.short if short else ctx.malformed)(layer, problem)
        layer.length = pos - start
        payload(ctx, pos, end)
    elif pos < end:
        layer.length = pos - start
        payload(ctx, pos, end)


def _enum(v: int, names: Mapping[int, str]) -> str:
    name = names.get(v)
    return f"{v} ({name})" if name is not None else str(v)


_BIT = ("0", "1")


def _header(layer: Layer, h: _Header, off: int, words: list[int]) -> None:
    """The header fields, as many as ``words`` holds (id, flags, then the four counts)."""
    put = layer.fields.append
    if words:
        qid = words[0]
        put(new(h.query_id, qid, f"0x{qid:04X} ({qid})", off, 2))
    if len(words) > 1:
        flags = words[1]
        f = new(h.flags, flags, f"0x{flags:04X}", off + 2, 2)
        kids = f.children
        kids.append(new(h.response, flags >> 15, _BIT[flags >> 15], off + 2, 1, (0, 1)))
        opcode = (flags >> 11) & 15
        kids.append(new(h.opcode, opcode, _enum(opcode, h.opcode.enum or {}), off + 2, 1, (1, 4)))
        for fdef, shift, at, bits in h.bits:
            bit = (flags >> shift) & 1
            kids.append(new(fdef, bit, _BIT[bit], off + at, 1, bits))
        kids.append(new(h.rcode, flags & 15, _enum(flags & 15, RCODE_NAMES), off + 3, 1, (4, 4)))
        put(f)
    for i, fdef in enumerate(h.counts):
        if len(words) > 2 + i:
            put(new(fdef, words[2 + i], str(words[2 + i]), off + 4 + 2 * i, 2))


def _name(d: bytes, names: Names, pos: int, base: int, end: int) -> tuple[str, int]:
    name, after = read_name(d, pos, base, end)
    return (names.netbios.name(name) if names.netbios is not None else name), after


def _question(d: bytes, names: Names, layer: Layer, pos: int, base: int, end: int, out: list[str]) -> int:
    name, p = _name(d, names, pos, base, end)
    if p + 4 > end:
        raise _Short("question cut short")
    qtype, qclass = (d[p] << 8) | d[p + 1], (d[p + 2] << 8) | d[p + 3]
    types = names.types
    tname = types.get(qtype, str(qtype))
    cname = CLASS_NAMES.get(qclass & 0x7FFF, str(qclass))
    text = f"{name} of type {tname} on class {cname}"
    h = names.h
    q = new(h.qrecord, True, text, pos, p + 4 - pos)
    q.children += (new(h.q_name, name, name, pos, p - pos), new(h.q_type, qtype, _enum(qtype, types), p, 2),
                   new(h.q_class, qclass, _enum(qclass, CLASS_NAMES), p + 2, 2))
    layer.fields.append(q)
    out.append(name if names.netbios is not None else text)
    return p + 4


def _record(d: bytes, names: Names, layer: Layer, sec: _Section, pos: int, base: int, end: int,
            out: list[str] | None) -> int:
    name, p = _name(d, names, pos, base, end)
    if p + 10 > end:
        raise _Short(f"{sec.title.lower()} record header cut short")
    rtype, rclass, ttl, rdlen = _RR.unpack_from(d, p)
    rdata = p + 10
    stop = rdata + rdlen
    if stop > end:
        raise _Short(f"{sec.title.lower()} record data of {rdlen} bytes runs past the end")
    f = sec.f
    types = names.types
    node = new(sec.node, True, "", pos, stop - pos)
    node.children += (new(f["Name"], name, name, pos, p - pos), new(f["Type"], rtype, _enum(rtype, types), p, 2),
                      new(f["Class"], rclass, _enum(rclass, CLASS_NAMES), p + 2, 2),
                      new(f["TimeToLive"], ttl, str(ttl), p + 4, 4), new(f["DataLength"], rdlen, str(rdlen), p + 8, 2))
    layer.fields.append(node)
    if names.netbios is not None:
        text = names.netbios.rdata(d, node, f, rtype, rdata, stop)
    else:
        text = _rdata(d, node, f, rtype, rdata, stop, base, end)
    node.display = f"{name} of type {types.get(rtype, rtype)} on class " \
                   f"{CLASS_NAMES.get(rclass & 0x7FFF, rclass)}" + (f": {text}" if text else "")
    if out is not None and text:
        out.append(text)
    return stop


def _rdata(d: bytes, node: Field, f: dict[str, FieldDef], rtype: int, pos: int, stop: int, base: int,
           end: int) -> str:
    """Add the typed data fields of one record; returns its short text for summaries."""
    n = stop - pos
    add = node.add

    def name_at(p: int) -> tuple[str, int]:
        # pointers may lead anywhere earlier in the message, but the name must end inside the record
        name, after = read_name(d, p, base, end)
        if after > stop:
            raise _Bad(f"name in {TYPE_NAMES.get(rtype, rtype)} data runs past its record")
        return name, after

    if rtype == 1 and n == 4:
        text = ip4_text(d[pos:stop])
        node.children.append(new(f["IPAddress"], int.from_bytes(d[pos:stop], "big"), text, pos, 4))
        return text
    if rtype == 28 and n == 16:
        text = ip6_text(d[pos:stop])
        node.children.append(new(f["IPv6Address"], int.from_bytes(d[pos:stop], "big"), text, pos, 16))
        return text
    if rtype in (2, 5, 12):
        name, p = name_at(pos)
        add(f[{2: "NameServer", 5: "CName", 12: "PtrDomainName"}[rtype]], name, pos, p - pos)
        return name
    if rtype == 15 and n >= 3:
        add(f["Preference"], (d[pos] << 8) | d[pos + 1], pos, 2)
        name, p = name_at(pos + 2)
        add(f["MailExchange"], name, pos + 2, p - pos - 2)
        return name
    if rtype == 16:
        p = pos
        texts = []
        while p < stop:
            k = d[p]
            if p + 1 + k > stop:
                raise _Short("TXT string runs past its record")
            s = d[p + 1 : p + 1 + k].decode("utf-8", "backslashreplace")
            add(f["Text"], s, p, 1 + k)
            texts.append(s)
            p += 1 + k
        return " ".join(texts)
    if rtype == 6:
        mname, p = name_at(pos)
        add(f["PrimaryServer"], mname, pos, p - pos)
        rname, q = name_at(p)
        add(f["ResponsibleMailbox"], rname, p, q - p)
        if q + 20 > stop:
            raise _Short("SOA record cut short")
        leaves = ("SerialNumber", "RefreshInterval", "RetryInterval", "ExpireLimit", "MinimumTTL")
        for i, (leaf, value) in enumerate(zip(leaves, _SOA.unpack_from(d, q), strict=True)):
            add(f[leaf], value, q + 4 * i, 4)
        return mname
    if rtype == 33 and n >= 7:
        prio, weight, port = _SRV.unpack_from(d, pos)
        add(f["Priority"], prio, pos, 2)
        add(f["Weight"], weight, pos + 2, 2)
        add(f["Port"], port, pos + 4, 2)
        target, p = name_at(pos + 6)
        add(f["Target"], target, pos + 6, p - pos - 6)
        return f"{target}:{port}"
    if n:
        add(f["Data"], d[pos:stop], pos, n)
    return ""


for _port in (53, 5353):
    UDP_PORTS[_port] = dissect_dns
UDP_PORTS[5355] = dissect_llmnr
TCP_PORTS[53] = dissect_dns_tcp
