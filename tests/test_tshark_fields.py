"""Every sample frame's addresses, ports, flags and protocol fields equal what tshark prints.

tshark is the independent oracle: for each pcap/pcapng/Netmon sample we run it once with
reassembly off (so each frame stands alone, as in our dissectors) and compare, frame by frame,
the frame count, the timestamps (exact ns, from the index) and a list of fields.  tshark prints
repeated fields comma-separated (the quoted IP header of an ICMP error, the inner Ethernet of a
pseudowire); ``Frame.values(name)`` must give the same values in the same order.

The helpers here are shared with ``test_dissect_synthetic.py``.
"""

from __future__ import annotations

import functools
import ipaddress
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import require_tshark, samples
from tracemon.traces import REGISTRY, Frame, open_trace

pytestmark = pytest.mark.tshark

# reassembly off (the issue's command); absolute sequence numbers so tcp.seq/tcp.ack/SACK edges
# are the values on the wire, as ours are
TSHARK_PREFS = ("-o", "ip.defragment:FALSE", "-o", "ipv6.defragment:FALSE",
                "-o", "tcp.desegment_tcp_streams:FALSE", "-o", "tcp.relative_sequence_numbers:FALSE",
                # a retransmitted segment's payload is dissected as we do (we keep no TCP state)
                "-o", "tcp.no_subdissector_on_error:FALSE")


# -- tshark values → our value types --------------------------------------------------------

def mac(s: str) -> int:
    return int(s.replace(":", "").replace("-", ""), 16)


def ip4(s: str) -> int:
    return int(ipaddress.IPv4Address(s))


def ip6(s: str) -> int:
    return int(ipaddress.IPv6Address(s))


def num(s: str) -> int:
    return int(s, 16) if s.lower().startswith("0x") else int(s)


def boolean(s: str) -> int:
    return {"1": 1, "0": 0, "true": 1, "false": 0}[s.lower()]


def text(s: str) -> str:
    return s


@dataclass(frozen=True, slots=True)
class Check:
    """One tshark field and how to read the same values from our frame (None: not comparable here)."""

    tshark: str
    convert: Callable[[str], Any]
    ours: Callable[[Frame], list[Any] | None]


def field(tshark: str, name: str, convert: Callable[[str], Any] = num) -> Check:
    return Check(tshark, convert, lambda f: f.values(name))


def across(tshark: str, names: Sequence[str], convert: Callable[[str], Any] = num) -> Check:
    """A tshark field that covers several of our fields (e.g. all DNS record sections), in order."""

    def ours(f: Frame) -> list[Any]:
        # keep the order the fields appear in the frame, as tshark does
        keys = {REGISTRY.canonical(n).lower() for n in names}  # (aliases such as TLS.ClientHello.X)
        return [x.value for x in f.walk() if x.fdef is not None and x.fdef.key in keys]

    return Check(tshark, convert, ours)


RR_SECTIONS = ("ARecord", "AuthorityRecord", "AdditionalRecord")
#: the protocols tshark shows with dns.* fields (LLMNR and mDNS; we name LLMNR's fields LLMNR.*)
DNS_FORMAT = ("DNS", "LLMNR")


def dns(tshark: str, leaf: str, convert: Callable[[str], Any] = num) -> Check:
    """A DNS field, whichever DNS-format protocol carries it."""
    return across(tshark, [f"{p}.{leaf}" for p in DNS_FORMAT], convert)


def rr(tshark: str, leaf: str, convert: Callable[[str], Any] = num, skip_types: Sequence[int] = ()) -> Check:
    """A DNS resource-record leaf over all three sections, in message order.

    ``skip_types``: record types for which tshark shows this value under another name (the owner
    of an SRV record is split into service/proto/name; an OPT record has no TTL).
    """
    nodes = {f"{p}.{s}".lower() for p in DNS_FORMAT for s in RR_SECTIONS}

    def ours(f: Frame) -> list[Any]:
        out = []
        for x in f.walk():
            if x.fdef is None or x.fdef.key not in nodes:
                continue
            kids = {c.fdef.leaf: c.value for c in x.children if c.fdef is not None}
            if kids.get("Type") in skip_types:
                continue
            out.extend(c.value for c in x.children if c.fdef is not None and c.fdef.leaf == leaf)
        return out

    return Check(tshark, convert, ours)


def when(check: Check, name: str | Sequence[str], value: Any) -> Check:
    """``check`` only on frames where field ``name`` (or one of the names) has ``value`` (tshark
    omits it elsewhere)."""
    names = [name] if isinstance(name, str) else list(name)
    return Check(check.tshark, check.convert,
                 lambda f: check.ours(f) if any(value in f.values(n) for n in names) else [])


def vlan(tshark: str, leaf: str, tpid: int) -> Check:
    """A VLAN tag field for tags of one TPID: tshark names 802.1Q ``vlan.*``, 802.1ad ``ieee8021ad.*``."""

    def ours(f: Frame) -> list[Any]:
        out = []
        for layer in f.layers:
            if layer.name == "VLAN":
                vals = {x.fdef.leaf: x.value for x in layer.walk() if x.fdef is not None}
                if vals.get("TPID") == tpid and leaf in vals:
                    out.append(vals[leaf])
        return out

    return Check(tshark, num, ours)


def on_port(port: int, check: Check) -> Check:
    """``check`` only on frames to or from ``port`` (tshark also decodes what GSS-API carries in
    SMB2 and HTTP, which we do not)."""

    def ours(f: Frame) -> list[Any] | None:
        return check.ours(f) if port in f.values("TCP.Port") + f.values("UDP.Port") else None

    return Check(check.tshark, check.convert, ours)


def comma_text(tshark: str, names: Sequence[str]) -> Check:
    """A text field whose values may hold commas, which tshark also uses between values: compared
    as the comma-separated pieces."""
    return Check(tshark, text, lambda f: [p for n in names for v in f.values(n) for p in v.split(",")])


def smb2_when(tshark: str, name: str, command: int, response: int, convert: Callable[[str], Any] = num) -> Check:
    """An SMB2 field compared only on frames holding that command's request (``response`` 0) or
    response: tshark also repeats some (the tree, the file name) from its session tracking in
    messages that do not carry them, which a stateless dissector cannot do."""

    def ours(f: Frame) -> list[Any] | None:
        out, seen = [], False
        for layer in f.layers:
            if layer.name != "SMB2":
                continue
            header: dict[str, Any] = {}
            for x in layer.walk():
                if x.fdef is None:
                    continue
                if x.fdef.key == "smb2.header":
                    header = {}
                elif x.fdef.leaf in ("Command", "ServerToRedir"):
                    header[x.fdef.leaf] = x.value
                    seen |= header.get("Command") == command and header.get("ServerToRedir") == response
                elif x.fdef.key == name.lower() and header.get("Command") == command and \
                        header.get("ServerToRedir") == response:
                    out.append(x.value)
        return out if seen else None

    return Check(tshark, convert, ours)


#: the issue's field list: addresses, ports and flags
BASE_CHECKS = [
    field("eth.src", "Ethernet.SourceAddress", mac),
    field("eth.dst", "Ethernet.DestinationAddress", mac),
    field("ip.src", "IPv4.SourceAddress", ip4),
    field("ip.dst", "IPv4.DestinationAddress", ip4),
    field("ipv6.src", "IPv6.SourceAddress", ip6),
    field("ipv6.dst", "IPv6.DestinationAddress", ip6),
    field("tcp.srcport", "TCP.SrcPort"),
    field("tcp.dstport", "TCP.DstPort"),
    field("udp.srcport", "UDP.SrcPort"),
    field("udp.dstport", "UDP.DstPort"),
    field("tcp.flags", "TCP.Flags"),
]

#: further protocol fields the samples exercise
EXTRA_CHECKS = [
    field("eth.type", "Ethernet.EtherType"),
    vlan("vlan.id", "VlanId", 0x8100),
    vlan("ieee8021ad.id", "VlanId", 0x88A8),
    field("mpls.label", "MPLS.Label"),
    field("null.family", "Loopback.Family"),
    field("arp.opcode", "ARP.Operation"),
    field("arp.src.hw_mac", "ARP.SenderMacAddress", mac),
    field("arp.src.proto_ipv4", "ARP.SenderIPAddress", ip4),
    field("arp.dst.hw_mac", "ARP.TargetMacAddress", mac),
    field("arp.dst.proto_ipv4", "ARP.TargetIPAddress", ip4),
    field("ip.proto", "IPv4.NextProtocol"),
    field("ip.ttl", "IPv4.TTL"),
    field("ip.len", "IPv4.TotalLength"),
    field("ip.id", "IPv4.Identification"),
    field("ip.flags.mf", "IPv4.Flags.MoreFragments", boolean),
    field("ip.frag_offset", "IPv4.FragmentOffset"),
    field("ipv6.plen", "IPv6.PayloadLength"),
    field("ipv6.nxt", "IPv6.NextProtocol"),
    field("ipv6.hlim", "IPv6.HopLimit"),
    field("ipv6.fraghdr.offset", "IPv6.FragmentHeader.FragmentOffset"),
    field("ipv6.fraghdr.more", "IPv6.FragmentHeader.MoreFragments", boolean),
    field("ipv6.fraghdr.ident", "IPv6.FragmentHeader.Identification"),
    field("tcp.seq", "TCP.SequenceNumber"),
    field("tcp.ack", "TCP.AcknowledgementNumber"),
    field("tcp.window_size_value", "TCP.Window"),
    field("tcp.len", "TCP.PayloadLength"),
    Check("tcp.hdr_len", num, lambda f: [4 * v for v in f.values("TCP.DataOffset")]),
    field("tcp.flags.syn", "TCP.Flags.Syn", boolean),
    field("tcp.flags.reset", "TCP.Flags.Reset", boolean),
    field("tcp.options.mss_val", "TCP.Options.MaxSegmentSize"),
    field("tcp.options.wscale.shift", "TCP.Options.WindowScale"),
    field("tcp.options.sack_le", "TCP.Options.Sack.LeftEdge"),
    field("tcp.options.timestamp.tsval", "TCP.Options.Timestamps.Value"),
    field("tcp.options.timestamp.tsecr", "TCP.Options.Timestamps.EchoReply"),
    field("udp.length", "UDP.TotalLength"),
    field("icmp.type", "ICMP.Type"),
    field("icmp.code", "ICMP.Code"),
    field("icmp.ident", "ICMP.Identifier"),
    field("icmp.seq", "ICMP.SequenceNumber"),
    field("icmpv6.type", "ICMPv6.Type"),
    field("icmpv6.code", "ICMPv6.Code"),
    field("igmp.type", "IGMP.Type"),
    field("igmp.maddr", "IGMP.GroupAddress", ip4),
    dns("dns.id", "QueryIdentifier"),
    dns("dns.flags.response", "Flags.Response", boolean),
    # tshark shows RA and RCODE in responses only; we show every flag bit of every message
    when(dns("dns.flags.rcode", "Flags.ResponseCode"), [f"{p}.Flags.Response" for p in DNS_FORMAT], 1),
    dns("dns.count.queries", "QuestionCount"),
    dns("dns.count.answers", "AnswerCount"),
    dns("dns.count.auth_rr", "NameServerCount"),
    dns("dns.count.add_rr", "AdditionalCount"),
    dns("dns.qry.name", "QRecord.QuestionName", text),
    dns("dns.qry.type", "QRecord.QuestionType"),
    rr("dns.resp.name", "Name", text, skip_types=(33,)),
    rr("dns.resp.type", "Type"),
    rr("dns.a", "IPAddress", ip4),
    rr("dns.aaaa", "IPv6Address", ip6),
    rr("dns.cname", "CName", text),
    field("dhcp.option.dhcp", "DHCP.MessageType"),
    field("dhcp.id", "DHCP.TransactionID"),
    across("dhcp.hw.mac_addr", ["DHCP.ClientHardwareAddress", "DHCP.ClientIdentifier.MacAddress"], mac),
    field("dhcp.ip.your", "DHCP.YourIP", ip4),
]


def lso(check: Check) -> Check:
    """``check`` except on IPv6 frames whose payload length is 0: a large-send-offload segment
    as Windows captures it, which tshark reads as a broken jumbogram and dissects no further
    (we dissect what was captured)."""
    return Check(check.tshark, check.convert,
                 lambda f: None if 0 in f.values("IPv6.PayloadLength") else check.ours(f))


#: the protocols above TCP and UDP
APP_CHECKS = [lso(c) for c in [
    field("http.request.method", "HTTP.Request.Method", text),
    comma_text("http.request.uri", ["HTTP.Request.URI"]),
    field("http.response.code", "HTTP.Response.StatusCode"),
    comma_text("http.host", ["HTTP.Host"]),
    field("http.content_length_header", "HTTP.ContentLength"),
    field("tls.record.content_type", "TLS.Record.ContentType"),
    field("tls.record.version", "TLS.Record.Version"),
    field("tls.handshake.type", "TLS.Handshake.HandShakeType"),
    field("tls.handshake.extensions_server_name", "TLS.ClientHello.ServerName", text),
    across("tls.handshake.ciphersuite", ["TLS.ClientHello.CipherSuite", "TLS.ServerHello.CipherSuite"]),
    across("tls.handshake.extensions.supported_version",
           ["TLS.ClientHello.SupportedVersion", "TLS.ServerHello.SupportedVersion"]),
    across("tls.handshake.extensions_alpn_str", ["TLS.ClientHello.ALPN", "TLS.ServerHello.ALPN"], text),
    field("tls.alert_message.desc", "TLS.Alert.Description"),
    field("nbss.type", "NbtSS.Type"),
    field("nbss.length", "NbtSS.Length"),
    across("smb.cmd", ["SMB.Command", "SMB.AndXCommand"]),
    field("smb2.cmd", "SMB2.Header.Command"),
    field("smb2.nt_status", "SMB2.Header.Status"),
    field("smb2.msg_id", "SMB2.Header.MessageId"),
    field("smb2.sesid", "SMB2.Header.SessionId"),
    smb2_when("smb2.filename", "SMB2.FileName", 5, 0, text),
    smb2_when("smb2.tree", "SMB2.TreeConnect.Path", 3, 0, text),
    smb2_when("smb2.create.disposition", "SMB2.Create.CreateDisposition", 5, 0),
    field("smb2.ioctl.function", "SMB2.Ioctl.CtlCode"),
    smb2_when("smb2.file_offset", "SMB2.Offset", 8, 0),
    smb2_when("smb2.read_length", "SMB2.Length", 8, 0),
    across("smb2.dialect", ["SMB2.NegotiateRequest.Dialect", "SMB2.NegotiateResponse.DialectRevision"]),
    field("ntlmssp.messagetype", "NTLMSSP.MessageType"),
    field("ntlmssp.auth.username", "NTLMSSP.UserName", text),
    field("ntlmssp.auth.domain", "NTLMSSP.DomainName", text),
    field("ntlmssp.auth.hostname", "NTLMSSP.Workstation", text),
    field("ntlmssp.ntlmserverchallenge", "NTLMSSP.ServerChallenge", bytes.fromhex),
    on_port(88, field("kerberos.msg_type", "KerberosV5.Message.MessageType")),
    on_port(88, field("kerberos.error_code", "KerberosV5.Message.ErrorCode")),
    on_port(88, field("kerberos.e_text", "KerberosV5.Message.EText", text)),
    field("vxlan.vni", "VXLAN.VNI"),
    field("geneve.version", "Geneve.Version"),
    field("geneve.flags.oam", "Geneve.Flags.OAM"),
    field("geneve.flags.critical", "Geneve.Flags.Critical"),
    field("geneve.proto_type", "Geneve.ProtocolType"),
    field("geneve.vni", "Geneve.VNI"),
    field("geneve.option.class", "Geneve.Option.Class"),
    field("geneve.option.type", "Geneve.Option.Type"),
    # tshark: the options' total bytes, then each option's bytes with its 4-byte header
    Check("geneve.option.length", num, lambda f: ([4 * w for w in f.values("Geneve.OptionsLength")]
                                                   + [4 + 4 * n for n in f.values("Geneve.Option.Length")])),
    field("gre.key", "GRE.Key"),
    field("nbns.id", "NBTNS.QueryIdentifier"),
    # tshark adds what the suffix means to a record's name: "FILESRV<20> (Server service)"
    across("nbns.name", ["NBTNS.QRecord.QuestionName", *(f"NBTNS.{s}.Name" for s in RR_SECTIONS)],
           lambda s: s.split(" (")[0]),
    across("nbns.addr", [f"NBTNS.{s}.IPAddress" for s in RR_SECTIONS], ip4),
]]
EXTRA_CHECKS += APP_CHECKS


@functools.lru_cache(maxsize=32)
def tshark_rows(path: str, fields: tuple[str, ...]) -> list[list[str]]:
    """``tshark -T fields`` output for ``path``: one row per frame, one string per field."""
    exe = require_tshark()
    cmd = [exe, "-r", path, *TSHARK_PREFS, "-T", "fields", "-E", "separator=/t"]
    for f in ("frame.number", "frame.time_epoch", *fields):
        cmd += ["-e", f]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=120).stdout
    return [line.split("\t") for line in out.splitlines()]


@functools.lru_cache(maxsize=1)
def tshark_field_names() -> frozenset[str]:
    """Every field name this tshark knows (``tshark -G fields``)."""
    out = subprocess.run([require_tshark(), "-G", "fields"], capture_output=True, text=True, check=True,
                         timeout=120).stdout
    return frozenset(line.split("\t")[2] for line in out.splitlines() if line.startswith("F\t"))


def known_checks(checks: Sequence[Check]) -> list[Check]:
    """The checks whose tshark field exists in this tshark build (once each, in order).

    Field names are those of tshark 4.0 (Debian 12, what CI installs); a tshark that renamed
    one skips that check rather than failing every file.  The issue's own field list is not
    filtered (``test_issue_fields_exist``).
    """
    names = tshark_field_names()
    seen: set[str] = set()
    out = []
    for c in checks:
        if c.tshark not in seen and c.tshark in names:
            seen.add(c.tshark)
            out.append(c)
    return out


def epoch_ns(s: str) -> int:
    sec, _, frac = s.partition(".")
    return int(sec) * 1_000_000_000 + int((frac + "000000000")[:9])


def tso_difference(check: Check, frame: Frame, want: list[Any], got: list[Any]) -> bool:
    """A difference that is tshark's reading of a TCP segmentation offload frame, not ours.

    Windows captures hold sent segments before the NIC splits them: the IP length field is 0.
    For IPv4 tshark shows ``ip.len`` as the length it presumes (the captured IP bytes) where we
    show the 0 that is in the bytes; for IPv6 it calls the TCP header malformed and shows no
    TCP fields, where we dissect it from the captured bytes."""
    if check.tshark == "ip.len":
        return got == [0] * len(got) and 0 in frame.values("IPv4.TotalLength") and len(want) == len(got)
    return check.tshark.startswith("tcp.") and not want and 0 in frame.values("IPv6.PayloadLength")


def frame_problems(frame: Frame, checks: Sequence[Check], cells: Sequence[str], where: str) -> list[str]:
    """Each check whose values in ``frame`` differ from tshark's ``cells`` (one per check)."""
    problems = []
    for c, cell in zip(checks, cells, strict=True):
        want = [c.convert(v) for v in cell.split(",")] if cell else []
        got = c.ours(frame)
        if got is not None and got != want and not tso_difference(c, frame, want, got):
            problems.append(f"{where} {c.tshark}: tshark {want!r}, ours {got!r} ({' > '.join(frame.protocols)})")
    return problems


def compare(path: Path, checks: Sequence[Check], *, max_report: int = 40) -> list[str]:
    """All differences between tshark and us on ``path`` (empty when they agree)."""
    rows = tshark_rows(str(path), tuple(c.tshark for c in checks))
    problems: list[str] = []
    with open_trace(path, use_cache=False) as trace:
        if len(trace) != len(rows):
            return [f"{path.name}: {len(trace)} frames, tshark has {len(rows)}"]
        for i, row in enumerate(rows):
            if row[1] and int(trace.index.ts[i]) != epoch_ns(row[1]):
                problems.append(f"frame {i + 1}: timestamp {int(trace.index.ts[i])} ns, tshark {row[1]}")
            problems += frame_problems(trace.frame(i), checks, row[2:], f"frame {i + 1}")
            if len(problems) >= max_report:
                break
    return problems


SAMPLE_FILES = [*samples("pcap"), *samples("pcapng"), *samples("netmon")]


@pytest.mark.parametrize("path", SAMPLE_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_addresses_ports_and_flags_match_tshark(path: Path) -> None:
    problems = compare(path, BASE_CHECKS)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("path", SAMPLE_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_protocol_fields_match_tshark(path: Path) -> None:
    problems = compare(path, known_checks(EXTRA_CHECKS))
    assert not problems, "\n".join(problems)


def test_issue_fields_exist() -> None:
    missing = [c.tshark for c in BASE_CHECKS if c.tshark not in tshark_field_names()]
    assert not missing
    # and most of the extra ones: a tshark that renamed many would make the comparison hollow
    assert len(known_checks(EXTRA_CHECKS)) >= 0.9 * len(EXTRA_CHECKS)


def test_there_are_samples_of_every_format() -> None:
    assert {p.parent.name for p in SAMPLE_FILES} == {"pcap", "pcapng", "netmon"}
