"""Hand-built frames for what the samples lack, each checked against tshark.

The samples are mostly Ethernet/IPv4/TCP; these frames cover the other link types (SLL, SLL2,
NULL, LOOP, raw IP, 802.11, radiotap), IPv4 options and fragments, IPv6 extension headers,
ICMP/ICMPv6 messages, TCP options, DNS record types with compression, DHCP options, GRE,
MPLS, stacked VLANs and LLC/SNAP.  The frames are written to a pcap per link type; tshark reads
that file and its field values are the expected results (nothing expected is computed by us).
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from test_tshark_fields import (
    BASE_CHECKS,
    EXTRA_CHECKS,
    Check,
    boolean,
    dns,
    field,
    frame_problems,
    ip4,
    ip6,
    known_checks,
    mac,
    num,
    rr,
    text,
    tshark_rows,
    vlan,
    when,
)
from tracemon.traces import Frame
from tracemon.traces.craft import checksum
from tracemon.traces.dissect import dissect

pytestmark = pytest.mark.tshark


# -- frame builders -----------------------------------------------------------------------

def m(s: str) -> bytes:
    return bytes.fromhex(s.replace(":", ""))


def a4(s: str) -> bytes:
    return ipaddress.IPv4Address(s).packed


def a6(s: str) -> bytes:
    return ipaddress.IPv6Address(s).packed


MAC_A, MAC_B, MAC_C, MAC_D = m("00:11:22:33:44:55"), m("66:77:88:99:aa:bb"), m("02:00:5e:10:00:01"), m(
    "0a:0b:0c:0d:0e:0f")


def eth(etype: int, payload: bytes, dst: bytes = MAC_B, src: bytes = MAC_A) -> bytes:
    return dst + src + struct.pack("!H", etype) + payload


def ipv4(proto: int, payload: bytes, src: str = "10.0.0.1", dst: str = "10.0.0.2", *, ident: int = 0x1234,
         ttl: int = 64, flags: int = 0, frag: int = 0, options: bytes = b"", total: int | None = None) -> bytes:
    hl = 20 + len(options)
    assert hl % 4 == 0
    total = hl + len(payload) if total is None else total
    hdr = struct.pack("!BBHHHBBH4s4s", 0x40 | hl // 4, 0, total, ident, (flags << 13) | frag, ttl, proto, 0,
                      a4(src), a4(dst)) + options
    hdr = hdr[:10] + struct.pack("!H", checksum(hdr)) + hdr[12:]
    return hdr + payload


def ipv6(nxt: int, payload: bytes, src: str = "2001:db8::1", dst: str = "2001:db8::2", hlim: int = 64) -> bytes:
    return struct.pack("!IHBB", 0x60000000 | (0x2E << 20) | 0x12345, len(payload), nxt, hlim) + a6(src) + a6(
        dst) + payload


def tcp(sport: int, dport: int, flags: int, payload: bytes = b"", *, seq: int = 1000, ack: int = 0,
        window: int = 8192, options: bytes = b"", urgent: int = 0) -> bytes:
    assert len(options) % 4 == 0
    word = ((20 + len(options)) // 4) << 12 | flags
    return struct.pack("!HHIIHHHH", sport, dport, seq, ack, word, window, 0, urgent) + options + payload


def udp(sport: int, dport: int, payload: bytes) -> bytes:
    return struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload


def icmp(typ: int, code: int, rest: bytes, body: bytes = b"") -> bytes:
    msg = struct.pack("!BBH", typ, code, 0) + rest + body
    return msg[:2] + struct.pack("!H", checksum(msg)) + msg[4:]


def icmpv6(typ: int, code: int, body: bytes) -> bytes:
    return struct.pack("!BBH", typ, code, 0) + body


def labels(name: str) -> bytes:
    return b"".join(bytes([len(p)]) + p.encode() for p in name.split(".") if p)


class DnsMessage:
    """Builds a DNS message, remembering where names start so records can point at them."""

    def __init__(self, qid: int, flags: int) -> None:
        self.qid, self.flags = qid, flags
        self.body = bytearray()
        self.counts = [0, 0, 0, 0]
        self.at: dict[str, int] = {}

    def name(self, name: str, suffix: str | None = None) -> bytes:
        """``name`` written out, ending in a pointer to ``suffix`` when given."""
        if suffix is None:
            return labels(name) + b"\0"
        return labels(name) + struct.pack("!H", 0xC000 | self.at[suffix])

    def mark(self, key: str, extra: int = 0) -> None:
        self.at[key] = 12 + len(self.body) + extra

    def question(self, qname: bytes, qtype: int, qclass: int = 1) -> None:
        self.body += qname + struct.pack("!HH", qtype, qclass)
        self.counts[0] += 1

    def record(self, section: int, owner: bytes, rtype: int, rdata: bytes, *, ttl: int = 300, rclass: int = 1) -> int:
        """Append a record; returns the message offset of its data."""
        self.body += owner + struct.pack("!HHIH", rtype, rclass, ttl, len(rdata))
        start = 12 + len(self.body)
        self.body += rdata
        self.counts[section] += 1
        return start

    def bytes(self) -> bytes:
        return struct.pack("!HHHHHH", self.qid, self.flags, *self.counts) + bytes(self.body)


def dns_query(qid: int, name: str, qtype: int = 1) -> bytes:
    msg = DnsMessage(qid, 0x0100)
    msg.question(labels(name) + b"\0", qtype)
    return msg.bytes()


def dns_response() -> bytes:
    """A response with every record type we decode, compressed names and all three sections."""
    msg = DnsMessage(0x1A2B, 0x8180)
    msg.mark("www.example.com")
    msg.mark("example.com", 4)
    msg.question(msg.name("www.example.com"), 1)

    def ptr(key: str) -> bytes:
        return struct.pack("!H", 0xC000 | msg.at[key])
    cname_at = msg.record(1, ptr("www.example.com"), 5, msg.name("web", "example.com"))
    msg.at["web"] = cname_at
    msg.record(1, ptr("web"), 1, a4("93.184.216.34"))
    msg.record(1, ptr("web"), 28, a6("2606:2800:220:1:248:1893:25c8:1946"))
    msg.record(1, ptr("example.com"), 15, struct.pack("!H", 10) + msg.name("mail", "example.com"))
    msg.record(1, ptr("example.com"), 16, b"\x0bv=spf1 -all\x05hello")
    msg.record(1, msg.name("_sip._tcp", "example.com"), 33, struct.pack("!HHH", 1, 2, 5060)
               + msg.name("sip", "example.com"))
    msg.record(1, msg.name("34.216.184.93.in-addr.arpa"), 12, ptr("www.example.com"))
    ns_at = msg.record(2, ptr("example.com"), 2, msg.name("ns1", "example.com"))
    msg.at["ns1"] = ns_at
    msg.record(2, ptr("example.com"), 6, ptr("ns1") + msg.name("hostmaster", "example.com")
               + struct.pack("!IIIII", 2024010101, 7200, 3600, 1209600, 300))
    msg.record(3, ptr("ns1"), 1, a4("192.0.2.53"))
    msg.record(3, ptr("example.com"), 257, b"\x00\x05issueletsencrypt.org")
    msg.record(3, b"\0", 41, b"", ttl=0, rclass=4096)
    return msg.bytes()


def dhcp(op: int, xid: int, options: bytes, *, yiaddr: str = "0.0.0.0", ciaddr: str = "0.0.0.0") -> bytes:
    head = struct.pack("!BBBBIHH4s4s4s4s", op, 1, 6, 0, xid, 3, 0x8000, a4(ciaddr), a4(yiaddr), a4("0.0.0.0"),
                       a4("0.0.0.0"))
    chaddr = MAC_A + bytes(10)
    return head + chaddr + b"boot-server".ljust(64, b"\0") + bytes(128) + b"\x63\x82\x53\x63" + options


def opt(code: int, data: bytes) -> bytes:
    return bytes([code, len(data)]) + data


DHCP_DISCOVER = dhcp(1, 0x3D1D5B3E, opt(53, b"\x01") + opt(61, b"\x01" + MAC_A) + opt(50, a4("10.0.0.77"))
                     + opt(12, b"host1") + opt(55, bytes([1, 3, 6, 15, 51])) + opt(57, b"\x05\xdc")
                     + opt(60, b"MSFT 5.0") + b"\xff")
DHCP_ACK = dhcp(2, 0x3D1D5B3E, opt(53, b"\x05") + opt(54, a4("10.0.0.1")) + opt(51, struct.pack("!I", 86400))
                + opt(1, a4("255.255.255.0")) + opt(3, a4("10.0.0.1")) + opt(6, a4("10.0.0.1") + a4("8.8.8.8"))
                + opt(58, struct.pack("!I", 43200)) + opt(59, struct.pack("!I", 75600)) + opt(15, b"corp.example")
                + b"\xff" + bytes(7), yiaddr="10.0.0.77")

TCP_SYN_OPTIONS = (b"\x02\x04\x05\xb4" + b"\x04\x02" + b"\x08\x0a" + struct.pack("!II", 123456, 0) + b"\x01"
                   + b"\x03\x03\x08")
TCP_SACK_OPTIONS = b"\x01\x01\x05\x12" + struct.pack("!IIII", 5000, 6000, 7000, 8000)
IPV4_OPTIONS = b"\x01" + b"\x07\x07\x04" + a4("10.9.9.9")  # NOP, Record Route (one slot)


def ethernet_frames() -> list[bytes]:
    q = dns_query(0x0101, "www.example.com")
    inner_udp = ipv4(17, udp(53000, 53, q), ident=7)
    frames = [
        eth(0x0800, ipv4(6, tcp(52342, 80, 0x002, seq=123, options=TCP_SYN_OPTIONS), options=IPV4_OPTIONS)),
        eth(0x0800, ipv4(6, tcp(80, 52342, 0x010, b"x" * 10, seq=5, ack=124, options=TCP_SACK_OPTIONS))),
        eth(0x0800, ipv4(6, tcp(1025, 443, 0x1C0 | 0x18, b"hello", options=b"\x02\x04\x05\x78\x00\x00\x00\x00"))),
        eth(0x0800, ipv4(6, tcp(4000, 53, 0x018, struct.pack("!H", len(q)) + q))),
        eth(0x0800, ipv4(17, udp(53, 53000, dns_response()), src="10.0.0.53")),
        eth(0x0800, ipv4(17, udp(68, 67, DHCP_DISCOVER), src="0.0.0.0", dst="255.255.255.255")),
        eth(0x0800, ipv4(17, udp(67, 68, DHCP_ACK), src="10.0.0.1", dst="10.0.0.77")),
        # fragments: the first one is dissected, the second is a Fragment payload
        eth(0x0800, ipv4(17, udp(5000, 53, q)[:16], ident=99, flags=1)),
        eth(0x0800, ipv4(17, b"z" * 16, ident=99, frag=2)),
        eth(0x0800, ipv4(1, icmp(8, 0, struct.pack("!HH", 0x42, 7), b"ping" * 8))),
        eth(0x0800, ipv4(1, icmp(0, 0, struct.pack("!HH", 0x42, 7), b"ping" * 8), src="10.0.0.2", dst="10.0.0.1")),
        eth(0x0800, ipv4(1, icmp(11, 0, bytes(4), ipv4(6, tcp(1111, 22, 0x002))[:28]), src="192.0.2.254")),
        eth(0x0800, ipv4(1, icmp(3, 4, struct.pack("!HH", 0, 1400), inner_udp), src="192.0.2.254")),
        eth(0x0800, ipv4(1, icmp(5, 1, a4("10.0.0.254"), ipv4(17, udp(1, 2, b""))), src="10.0.0.253")),
        eth(0x0800, ipv4(1, icmp(13, 0, struct.pack("!HH", 1, 2), struct.pack("!III", 1000, 0, 0)))),
        eth(0x0800, ipv4(2, bytes([0x22, 0, 0, 0, 0, 0, 0, 2]) + bytes([4, 0, 0, 1]) + a4("239.1.1.1") + a4(
            "10.0.0.9") + bytes([3, 0, 0, 0]) + a4("239.2.2.2"), dst="224.0.0.22")),
        eth(0x0800, ipv4(2, bytes([0x11, 100, 0, 0]) + a4("239.1.1.1") + bytes([0x02, 125, 0, 1]) + a4("10.0.0.9"),
                         dst="239.1.1.1")),
        eth(0x0800, ipv4(2, bytes([0x17, 0, 0, 0]) + a4("239.1.1.1"), dst="224.0.0.2")),
        eth(0x0800, ipv4(47, struct.pack("!HHII", 0x3000, 0x0800, 0xABCD, 5) + ipv4(
            17, udp(1234, 5678, b"in gre"), src="172.16.0.1", dst="172.16.0.2"), src="198.51.100.1")),
        eth(0x0800, ipv4(47, struct.pack("!HH", 0, 0x6558) + eth(0x0806, arp(1, MAC_C, "10.1.1.1", bytes(6),
                                                                            "10.1.1.2"), dst=b"\xff" * 6))),
        eth(0x0800, ipv4(4, ipv4(17, udp(7, 7, b"ipip"), src="10.8.0.1", dst="10.8.0.2"))),
        eth(0x0800, ipv4(41, ipv6(17, udp(7, 7, b"6in4")))),
        eth(0x88A8, struct.pack("!HH", 0x2064, 0x8100) + struct.pack("!HH", 0x0065, 0x0800)
            + ipv4(17, udp(1000, 2000, b"qinq"))),
        eth(0x0806, arp(2, MAC_B, "10.0.0.2", MAC_A, "10.0.0.1") + bytes(18)),
        eth(0x8847, struct.pack("!II", (100 << 12) | 0x0040, (200 << 12) | 0x0140) + ipv6(59, b"")),
        eth(0x8847, struct.pack("!I", (300 << 12) | 0x01FF) + bytes(4) + eth(
            0x0800, ipv4(1, icmp(8, 0, struct.pack("!HH", 1, 1), b"pw")), dst=MAC_D, src=MAC_C)),
        # IEEE 802.3 with LLC/SNAP carrying IPv4
        MAC_B + MAC_A + struct.pack("!H", 8 + 28 + 4) + b"\xaa\xaa\x03\x00\x00\x00\x08\x00"
        + ipv4(17, udp(9, 9, b"snap")),
    ]
    return frames + ipv6_frames(lambda p: eth(0x86DD, p, dst=m("33:33:00:00:00:01")))


def arp(op: int, sha: bytes, spa: str, tha: bytes, tpa: str) -> bytes:
    return struct.pack("!HHBBH", 1, 0x0800, 6, 4, op) + sha + a4(spa) + tha + a4(tpa)


def ipv6_frames(wrap: Callable[[bytes], bytes]) -> list[bytes]:
    q = dns_query(0x0202, "example.org", 28)
    hop_by_hop = bytes([60, 0]) + b"\x05\x02\x00\x00" + b"\x01\x00"  # router alert, PadN(0)
    dest_opts = bytes([43, 0]) + b"\x00" * 6  # six Pad1
    routing = bytes([44, 2, 0, 1]) + bytes(4) + a6("2001:db8::99")
    frag_first = bytes([17, 0]) + struct.pack("!HI", 0x0001, 0xFEED)
    frag_later = bytes([17, 0]) + struct.pack("!HI", 0x00A0, 0xFEED)
    ns = icmpv6(135, 0, bytes(4) + a6("2001:db8::2") + b"\x01\x01" + MAC_A)
    na = icmpv6(136, 0, bytes([0x60, 0, 0, 0]) + a6("2001:db8::2") + b"\x02\x01" + MAC_B)
    ra = icmpv6(134, 0, struct.pack("!BBHII", 64, 0xC0, 1800, 30000, 1000) + b"\x01\x01" + MAC_C
                + b"\x05\x01\x00\x00" + struct.pack("!I", 1500)
                + bytes([3, 4, 64, 0xC0]) + struct.pack("!III", 86400, 14400, 0) + a6("2001:db8:1::"))
    rs = icmpv6(133, 0, bytes(4) + b"\x01\x01" + MAC_A)
    echo = icmpv6(128, 0, struct.pack("!HH", 0x77, 3) + b"abcdefgh")
    quoted = ipv6(17, udp(40000, 33434, b"trace"), src="2001:db8::2", dst="2001:db8::77")
    unreachable = icmpv6(1, 4, bytes(4) + quoted)
    too_big = icmpv6(2, 0, struct.pack("!I", 1280) + quoted)
    mld2 = icmpv6(143, 0, struct.pack("!HH", 0, 1) + bytes([4, 0, 0, 0]) + a6("ff02::1:ff00:2"))
    return [wrap(p) for p in (
        ipv6(0, hop_by_hop + dest_opts + routing + frag_first + udp(5353, 53, q)),
        ipv6(44, frag_later + b"y" * 24),
        ipv6(58, ns, src="fe80::1", dst="ff02::1:ff00:2", hlim=255),
        ipv6(58, na, src="fe80::2", dst="fe80::1", hlim=255),
        ipv6(58, ra, src="fe80::1", dst="ff02::1", hlim=255),
        ipv6(58, rs, src="fe80::3", dst="ff02::2", hlim=255),
        ipv6(58, echo),
        ipv6(58, unreachable, src="2001:db8::fe"),
        ipv6(58, too_big, src="2001:db8::fe"),
        ipv6(0, bytes([58, 0]) + b"\x05\x02\x00\x00\x01\x00" + mld2, src="fe80::3", dst="ff02::16", hlim=1),
        ipv6(6, tcp(443, 50000, 0x012, seq=77, ack=1001, options=TCP_SYN_OPTIONS)),
    )]


def ip_frames() -> list[bytes]:
    return [ipv4(17, udp(1000, 53, dns_query(3, "raw.example"))), ipv6(6, tcp(1, 2, 0x004))]


def wifi_frames() -> list[bytes]:
    snap_ip = b"\xaa\xaa\x03\x00\x00\x00\x08\x00" + ipv4(17, udp(5000, 53, dns_query(4, "wifi.example")))
    snap_arp = b"\xaa\xaa\x03\x00\x00\x00\x08\x06" + arp(1, MAC_C, "10.2.0.5", bytes(6), "10.2.0.1")
    snap_v6 = b"\xaa\xaa\x03\x00\x00\x00\x86\xdd" + ipv6(6, tcp(80, 1234, 0x011))
    seq = struct.pack("<H", 42 << 4)
    beacon_body = bytes(8) + struct.pack("<HH", 100, 0x0431) + b"\x00\x07CorpNet" + b"\x01\x02\x82\x84"
    return [
        # ToDS data: A1 = BSSID, A2 = SA, A3 = DA
        b"\x08\x01" + b"\x2c\x00" + MAC_B + MAC_A + MAC_D + seq + snap_ip,
        # FromDS data: A1 = DA, A2 = BSSID, A3 = SA
        b"\x08\x02" + b"\x2c\x00" + b"\xff" * 6 + MAC_B + MAC_C + seq + snap_arp,
        # 4-address QoS data (WDS/mesh)
        b"\x88\x03" + b"\x2c\x00" + MAC_B + MAC_A + MAC_D + seq + MAC_C + b"\x05\x00" + snap_v6,
        # protected data: the body is not dissected
        b"\x08\x41" + b"\x2c\x00" + MAC_B + MAC_A + MAC_D + seq + bytes(8) + b"\x99" * 40,
        b"\x80\x00" + b"\x00\x00" + b"\xff" * 6 + MAC_B + MAC_B + seq + beacon_body,
        b"\x40\x00" + b"\x00\x00" + b"\xff" * 6 + MAC_A + b"\xff" * 6 + seq + b"\x00\x00" + b"\x01\x01\x82",
        b"\xd4\x00" + b"\x00\x00" + MAC_A,  # ACK
        b"\xb4\x00" + b"\x10\x00" + MAC_B + MAC_A,  # RTS
        b"\x48\x11" + b"\x2c\x00" + MAC_B + MAC_A + MAC_B + seq,  # null data, power save
        b"\xc8\x01" + b"\x2c\x00" + MAC_B + MAC_A + MAC_B + seq + b"\x00\x00",  # QoS null
        # extension frames (type 3) have one address: a DMG beacon's BSSID (then 20 bytes of fixed
        # fields and the elements), an S1G beacon's source, none known for the other subtypes
        b"\x0c\x00" + b"\x00\x00" + MAC_B + struct.pack("<Q", 123456) + bytes(12) + b"\x00\x04Test",
        b"\x1c\x00" + b"\x00\x00" + MAC_A + struct.pack("<I", 1000) + b"\x05" + b"\x00\x03s1g",
        b"\x2c\x00" + b"\x00\x00" + MAC_A + MAC_B + bytes(10),
    ]


def radiotap_frames() -> list[bytes]:
    data = b"\x08\x01" + b"\x2c\x00" + MAC_B + MAC_A + MAC_D + struct.pack("<H", 7 << 4) + (
        b"\xaa\xaa\x03\x00\x00\x00\x08\x00" + ipv4(17, udp(1, 2, b"rt")))
    # TSFT, Flags (FCS at end), Rate, Channel, dBm signal, dBm noise, Antenna
    present = (1 << 0) | (1 << 1) | (1 << 2) | (1 << 3) | (1 << 5) | (1 << 6) | (1 << 11)
    fields = struct.pack("<Q", 123456789) + bytes([0x10, 108]) + struct.pack("<HH", 2437, 0x00A0) + bytes(
        [0xD8, 0xA1, 1])
    hdr = struct.pack("<BBHI", 0, 0, 8 + len(fields), present) + fields
    fcs = b"\xde\xad\xbe\xef"
    # two presence words (bit 31), then MCS; fields align after both words
    present2 = (1 << 31) | (1 << 1) | (1 << 19)
    fields2 = bytes([0x00]) + bytes([0x07, 0x00, 7])
    hdr2 = struct.pack("<BBHII", 0, 0, 12 + len(fields2), present2, 0) + fields2
    # three presence words, the radiotap namespace restarting in each (bit 29): per-antenna
    # signal and antenna after the first word's fields, each aligned from the header start
    w3 = ((1 << 0) | (1 << 1) | (1 << 2) | (1 << 3) | (1 << 5) | (1 << 14) | (1 << 29) | (1 << 31),
          (1 << 5) | (1 << 11) | (1 << 29) | (1 << 31), (1 << 5) | (1 << 11))
    fields3 = struct.pack("<Q", 0x1122334455) + bytes([0x00, 12]) + struct.pack("<HH", 5180, 0x0140) + bytes(
        [0xC4]) + b"\0" + struct.pack("<H", 0) + bytes([0xC2, 0, 0xC6, 1])
    hdr3 = struct.pack("<BBH3I", 0, 0, 16 + len(fields3), *w3) + fields3
    # a vendor namespace (bit 30) between two radiotap ones: its 6-byte header, then skip_length
    # bytes of vendor data, then the radiotap namespace again
    w4 = ((1 << 1) | (1 << 30) | (1 << 31), (1 << 0) | (1 << 29) | (1 << 31), (1 << 5) | (1 << 11))
    fields4 = b"\x00\x00" + bytes([0x00, 0x11, 0x22, 3]) + struct.pack("<H", 5) + b"VVVVV" + bytes([0xB0, 2])
    hdr4 = struct.pack("<BBH3I", 0, 0, 16 + len(fields4), *w4) + fields4
    # a second word continuing the radiotap namespace (bits 32-63: none defined)
    hdr5 = struct.pack("<BBHII", 0, 0, 13, (1 << 5) | (1 << 31), 0) + b"\xbb"
    return [hdr + data + fcs, hdr2 + data, hdr3 + data, hdr4 + data, hdr5 + data]


PRISM_DIDS = ((1, 0, 100), (2, 0, 200), (3, 0, 6), (4, 0, 0x1234), (5, 1, 0), (6, 0, 0xFFFFFFC0),
              (7, 0, 0xFFFFFFA0), (8, 0, 22), (9, 0, 1), (10, 0, 52))


def prism(endian: str, msgcode: int = 0x44, dev: bytes = b"wlan0") -> bytes:
    """A Prism monitor header in either byte order; msgcode 0x41 uses the other DID numbering."""
    did = (lambda n: n << 16 | 0x44) if msgcode == 0x44 else (lambda n: n << 12 | 0x41)
    items = b"".join(struct.pack(endian + "IHHI", did(n), status, 4, v) for n, status, v in PRISM_DIDS)
    return struct.pack(endian + "II", msgcode, 144) + dev.ljust(16, b"\0") + items


def prism_frames() -> list[bytes]:
    data = b"\x08\x01" + b"\x2c\x00" + MAC_B + MAC_A + MAC_D + struct.pack("<H", 7 << 4) + (
        b"\xaa\xaa\x03\x00\x00\x00\x08\x00" + ipv4(17, udp(1, 2, b"pr")))
    return [prism("<") + data, prism(">", dev=b"ath0") + data, prism("<", 0x41) + data,
            data,  # no header at all: plain 802.11, as tshark reads it
            *avs_frames()[:2]]  # an AVS header on a Prism link


def avs(revision: int, phy: int = 4, channel: int = 6, rate: int = 110, ssi: int = 2, signal: int = 0xFFFFFFC0,
        noise: int = 0xFFFFFFA0) -> bytes:
    """An AVS WLAN capture header (big-endian), revision 1 (64 bytes) or 2 (80 bytes)."""
    body = struct.pack(">QQIIIIIIIIII", 123456789, 987654321, phy, channel, rate, 1, 0, ssi, signal, noise, 1, 0)
    if revision == 2:
        body += struct.pack(">II", 7, 3) + MAC_C + b"\0\0"
    return struct.pack(">II", 0x80211000 + revision, 8 + len(body)) + body


def avs_frames() -> list[bytes]:
    data = b"\x08\x02" + b"\x2c\x00" + MAC_A + MAC_B + MAC_D + struct.pack("<H", 9 << 4) + (
        b"\xaa\xaa\x03\x00\x00\x00\x08\x00" + ipv4(17, udp(3, 4, b"avs")))
    return [avs(1) + data,  # channel number, rate in 100 kb/s, dBm signal and noise
            avs(2, channel=2437, rate=54_000_000, ssi=1, signal=50, noise=0xFFFFFFFF) + data,  # MHz, b/s
            avs(2, phy=1, ssi=3, signal=80, noise=10) + data,  # FHSS hops, raw RSSI
            avs(1, channel=5_180_000, ssi=0) + data]  # kHz, no signal


def sll(proto: int, payload: bytes, ptype: int = 0) -> bytes:
    return struct.pack("!HHH", ptype, 1, 6) + MAC_A + b"\0\0" + struct.pack("!H", proto) + payload


def sll2(proto: int, payload: bytes, ptype: int = 4) -> bytes:
    return struct.pack("!HHIHBB", proto, 0, 3, 1, ptype, 6) + MAC_C + b"\0\0" + payload


# -- per link type: frames and the tshark fields to compare ---------------------------------

SLL_CHECKS = [
    field("sll.pkttype", "SLL.PacketType"), field("sll.hatype", "SLL.HardwareType"),
    field("sll.halen", "SLL.AddressLength"), field("sll.src.eth", "SLL.SourceAddress", mac),
    field("sll.ifindex", "SLL.InterfaceIndex"),
    # tshark names the protocol field by its range: EtherTypes vs Linux ETH_P_* values below 0x600
    Check("sll.etype", num, lambda f: [v for v in f.values("SLL.Protocol") if v >= 0x600]),
    Check("sll.ltype", num, lambda f: [v for v in f.values("SLL.Protocol") if v < 0x600]),
]


def ssid(s: str) -> str:
    """tshark prints the SSID element as hex bytes, and an empty (wildcard) one as <MISSING>."""
    return "" if s == "<MISSING>" else bytes.fromhex(s).decode()


def legacy_rate(f: Frame) -> list[int] | None:
    """tshark also derives radiotap.datarate from the MCS field; we show only the Rate field, so
    frames with MCS but no Rate are not compared (None)."""
    if f.values("Radiotap.MCSIndex") and not f.values("Radiotap.DataRate"):
        return None
    return f.values("Radiotap.DataRate")

WIFI_CHECKS = [
    field("wlan.fc.type", "WiFi.FrameControl.Type"), field("wlan.fc.subtype", "WiFi.FrameControl.Subtype"),
    field("wlan.fc.protected", "WiFi.FrameControl.Protected", boolean),
    field("wlan.fc.retry", "WiFi.FrameControl.Retry", boolean),
    field("wlan.fc.pwrmgt", "WiFi.FrameControl.PowerManagement", boolean),
    field("wlan.ra", "WiFi.ReceiverAddress", mac), field("wlan.ta", "WiFi.TransmitterAddress", mac),
    field("wlan.da", "WiFi.DestinationAddress", mac), field("wlan.sa", "WiFi.SourceAddress", mac),
    field("wlan.bssid", "WiFi.BSSID", mac), field("wlan.seq", "WiFi.SequenceNumber"),
    field("wlan.frag", "WiFi.FragmentNumber"), field("wlan.qos.tid", "WiFi.QoSControl.TID"),
    field("wlan.ssid", "WiFi.SSID", ssid), field("wlan.duration", "WiFi.Duration"),
    field("llc.dsap", "LLC.DSAP"), field("llc.oui", "SNAP.OrganizationCode"), field("llc.type", "SNAP.EtherType"),
]
RADIOTAP_CHECKS = [
    field("radiotap.length", "Radiotap.Length"), field("radiotap.mactime", "Radiotap.TSFT"),
    field("radiotap.flags.fcs", "Radiotap.Flags.FCS", boolean),
    Check("radiotap.datarate", lambda s: round(float(s) * 2), legacy_rate),
    field("radiotap.channel.freq", "Radiotap.ChannelFrequency"),
    field("radiotap.dbm_antsignal", "Radiotap.AntennaSignal"), field("radiotap.dbm_antnoise", "Radiotap.AntennaNoise"),
    field("radiotap.antenna", "Radiotap.Antenna"), field("radiotap.mcs.index", "Radiotap.MCSIndex"),
    field("wlan.fcs", "WiFi.FCS"),
    field("radiotap.present.word", "Radiotap.Present"),
    field("radiotap.vendor_oui", "Radiotap.VendorNamespace.OUI"),
    field("radiotap.vendor_subns", "Radiotap.VendorNamespace.SubNamespace"),
    field("radiotap.vendor_data_len", "Radiotap.VendorNamespace.SkipLength"),
]
AVS_CHECKS = [
    field("wlancap.version", "AVS.Version"), field("wlancap.length", "AVS.Length"),
    field("wlancap.mactime", "AVS.MacTime"), field("wlancap.hosttime", "AVS.HostTime"),
    field("wlancap.phytype", "AVS.PhyType"), field("wlancap.channel", "AVS.Channel"),
    field("wlancap.channel_frequency", "AVS.ChannelFrequency"), field("wlancap.data_rate", "AVS.DataRate"),
    field("wlancap.antenna", "AVS.Antenna"), field("wlancap.priority", "AVS.Priority"),
    field("wlancap.ssi_type", "AVS.SSIType"), field("wlancap.dbm_antsignal", "AVS.SignalDBm"),
    field("wlancap.dbm_antnoise", "AVS.NoiseDBm"),
    # tshark names an RSSI by its kind (SSI type 1 normalized, 3 raw); ours is one field beside SSIType
    when(field("wlancap.normrssi_antsignal", "AVS.SignalRSSI"), "AVS.SSIType", 1),
    when(field("wlancap.normrssi_antnoise", "AVS.NoiseRSSI"), "AVS.SSIType", 1),
    when(field("wlancap.rawrssi_antsignal", "AVS.SignalRSSI"), "AVS.SSIType", 3),
    when(field("wlancap.rawrssi_antnoise", "AVS.NoiseRSSI"), "AVS.SSIType", 3),
    field("wlancap.fhss.hop_set", "AVS.HopSet"), field("wlancap.fhss.hop_pattern", "AVS.HopPattern"),
    field("wlancap.fhss.hop_index", "AVS.HopIndex"), field("wlancap.preamble", "AVS.Preamble"),
    field("wlancap.encoding", "AVS.Encoding"), field("wlancap.sequence", "AVS.Sequence"),
    field("wlancap.drops", "AVS.Drops"), field("wlancap.receiver_addr", "AVS.ReceiverAddress", mac),
]
PRISM_CHECKS = [
    field("prism.msgcode", "Prism.MessageCode"), field("prism.msglen", "Prism.MessageLength"),
    field("prism.devname", "Prism.DeviceName", text), field("prism.did.type", "Prism.DID"),
    field("prism.did.status", "Prism.DID.Status"), field("prism.did.length", "Prism.DID.Length"),
    field("prism.did.hosttime", "Prism.HostTime"), field("prism.did.mactime", "Prism.MacTime"),
    field("prism.did.channel", "Prism.Channel"), field("prism.did.rssi", "Prism.RSSI"),
    field("prism.did.sq", "Prism.SignalQuality"), field("prism.did.signal", "Prism.Signal"),
    field("prism.did.noise", "Prism.Noise"), field("prism.did.rate", "Prism.DataRate"),
    field("prism.did.istx", "Prism.IsTx"), field("prism.did.frmlen", "Prism.FrameLength"),
]


def only_for(types: Sequence[int], type_field: str, name: str) -> Callable[[Frame], list[object]]:
    """Our values of ``name`` in frames whose ``type_field`` is one of ``types``."""
    return lambda f: f.values(name) if set(f.values(type_field)) & set(types) else []


DETAIL_CHECKS = [
    field("ip.opt.type", "IPv4.Option.Type"),
    field("ip.flags.df", "IPv4.Flags.DontFragment", boolean),
    field("ipv6.opt.type", "IPv6.Option.Type"),
    field("ipv6.routing.type", "IPv6.RoutingHeader.RoutingType"),
    field("ipv6.routing.segleft", "IPv6.RoutingHeader.SegmentsLeft"),
    field("ipv6.routing.src.addr", "IPv6.RoutingHeader.Address", ip6),
    field("ipv6.flow", "IPv6.FlowLabel"),
    field("ipv6.tclass", "IPv6.TrafficClass"),
    field("tcp.options.sack_re", "TCP.Options.Sack.RightEdge"),
    # NS is "ae" (accurate ECN) from tshark 4.0 on; older builds call it "ns"
    field("tcp.flags.ae", "TCP.Flags.NS", boolean), field("tcp.flags.ns", "TCP.Flags.NS", boolean), field("tcp.flags.cwr", "TCP.Flags.Cwr", boolean),
    field("tcp.flags.ece", "TCP.Flags.Ece", boolean), field("tcp.flags.push", "TCP.Flags.Psh", boolean),
    field("tcp.flags.ack", "TCP.Flags.Ack", boolean), field("tcp.flags.fin", "TCP.Flags.Fin", boolean),
    field("icmp.redir_gw", "ICMP.GatewayAddress", ip4), field("icmp.mtu", "ICMP.NextHopMTU"),
    field("icmp.originate_timestamp", "ICMP.OriginateTimestamp"),
    Check("icmpv6.nd.ns.target_address", ip6, only_for([135], "ICMPv6.Type", "ICMPv6.TargetAddress")),
    Check("icmpv6.nd.na.target_address", ip6, only_for([136], "ICMPv6.Type", "ICMPv6.TargetAddress")),
    field("icmpv6.nd.na.flag.s", "ICMPv6.Flags.Solicited", boolean),
    field("icmpv6.nd.ra.router_lifetime", "ICMPv6.RouterLifetime"),
    field("icmpv6.nd.ra.cur_hop_limit", "ICMPv6.CurHopLimit"),
    field("icmpv6.opt.src_linkaddr", "ICMPv6.Option.SourceLinkLayerAddress", mac),
    field("icmpv6.opt.target_linkaddr", "ICMPv6.Option.TargetLinkLayerAddress", mac),
    field("icmpv6.opt.prefix", "ICMPv6.Option.Prefix", ip6),
    field("icmpv6.opt.prefix.length", "ICMPv6.Option.PrefixLength"),
    field("icmpv6.opt.mtu", "ICMPv6.Option.MTU"),
    field("icmpv6.echo.identifier", "ICMPv6.Identifier"),
    field("icmpv6.echo.sequence_number", "ICMPv6.SequenceNumber"),
    field("icmpv6.mtu", "ICMPv6.MTU"),
    field("icmpv6.mldr.nb_mcast_records", "ICMPv6.NumberOfRecords"),
    field("icmpv6.mldr.mar.multicast_address", "ICMPv6.MulticastAddress", ip6),
    field("igmp.num_grp_recs", "IGMP.NumberOfGroupRecords"),
    field("igmp.num_src", "IGMP.NumberOfSources"),
    field("igmp.qrv", "IGMP.QRV"),
    field("gre.proto", "GRE.ProtocolType"), field("gre.key", "GRE.Key"),
    field("gre.sequence_number", "GRE.SequenceNumber"),
    field("mpls.bottom", "MPLS.BottomOfStack", boolean), field("mpls.ttl", "MPLS.TTL"),
    field("mpls.exp", "MPLS.TrafficClass"),
    vlan("vlan.priority", "Priority", 0x8100), vlan("vlan.etype", "EtherType", 0x8100),
    vlan("ieee8021ad.priority", "Priority", 0x88A8),
    field("llc.dsap", "LLC.DSAP"), field("llc.oui", "SNAP.OrganizationCode"), field("llc.type", "SNAP.EtherType"),
    dns("dns.flags.opcode", "Flags.Opcode"),
    # LLMNR has other bits there (C, TC, T), which tshark names llmnr-style
    field("dns.flags.recdesired", "DNS.Flags.RecursionDesired", boolean),
    when(field("dns.flags.recavail", "DNS.Flags.RecursionAvailable", boolean), "DNS.Flags.Response", 1),
    dns("dns.qry.class", "QRecord.QuestionClass"),
    rr("dns.resp.ttl", "TimeToLive", skip_types=(41,)),
    rr("dns.ptr.domain_name", "PtrDomainName", text),
    rr("dns.ns", "NameServer", text),
    rr("dns.mx.preference", "Preference"),
    rr("dns.mx.mail_exchange", "MailExchange", text),
    rr("dns.txt", "Text", text),
    rr("dns.soa.mname", "PrimaryServer", text),
    rr("dns.soa.rname", "ResponsibleMailbox", text),
    rr("dns.soa.serial_number", "SerialNumber"),
    rr("dns.soa.minimum_ttl", "MinimumTTL"),
    rr("dns.srv.priority", "Priority"),
    rr("dns.srv.weight", "Weight"),
    rr("dns.srv.port", "Port"),
    rr("dns.srv.target", "Target", text),
    field("dhcp.ip.client", "DHCP.ClientIP", ip4),
    field("dhcp.flags.bc", "DHCP.Flags.Broadcast", boolean),
    field("dhcp.option.requested_ip_address", "DHCP.RequestedIPAddress", ip4),
    field("dhcp.option.dhcp_server_id", "DHCP.ServerIdentifier", ip4),
    field("dhcp.option.hostname", "DHCP.HostName", text),
    field("dhcp.option.domain_name", "DHCP.DomainName", text),
    field("dhcp.option.ip_address_lease_time", "DHCP.LeaseTime"),
    field("dhcp.option.renewal_time_value", "DHCP.RenewalTime"),
    field("dhcp.option.rebinding_time_value", "DHCP.RebindingTime"),
    field("dhcp.option.request_list_item", "DHCP.ParameterRequest"),
    field("dhcp.option.subnet_mask", "DHCP.SubnetMask", ip4),
    field("dhcp.option.router", "DHCP.Router", ip4),
    field("dhcp.option.domain_name_server", "DHCP.DomainNameServer", ip4),
    field("dhcp.option.vendor_class_id", "DHCP.VendorClassIdentifier", text),
    field("dhcp.option.dhcp_max_message_size", "DHCP.MaximumMessageSize"),
]
IP_CHECKS = [*BASE_CHECKS, *EXTRA_CHECKS, *DETAIL_CHECKS]

CASES = {
    "ethernet": (1, ethernet_frames, IP_CHECKS),
    "sll": (113, lambda: [sll(0x0800, ipv4(17, udp(1, 53, dns_query(5, "sll.example")))),
                          sll(0x0806, arp(1, MAC_A, "10.0.0.1", bytes(6), "10.0.0.2"), ptype=1),
                          sll(0x0004, b"\x42\x42\x03" + bytes(20), ptype=2),
                          sll(0x86DD, ipv6(17, udp(9, 10, b"x")), ptype=4)], [*IP_CHECKS, *SLL_CHECKS]),
    "sll2": (276, lambda: [sll2(0x86DD, ipv6(6, tcp(443, 2000, 0x018, b"data"))),
                           sll2(0x0800, ipv4(1, icmp(8, 0, bytes(4))), ptype=0)], [*IP_CHECKS, *SLL_CHECKS]),
    "null": (0, lambda: [struct.pack("<I", 2) + ipv4(17, udp(17500, 17500, b"{}")),
                         struct.pack(">I", 2) + ipv4(17, udp(1, 2, b"be")),
                         *[struct.pack("<I", af) + ipv6(17, udp(3, 4, b"v6")) for af in (24, 28, 30)]],
             IP_CHECKS),
    "loop": (108, lambda: [struct.pack(">I", 2) + ipv4(6, tcp(1, 2, 0x002)),
                           struct.pack(">I", 24) + ipv6(6, tcp(1, 2, 0x002))],
             IP_CHECKS),
    "raw101": (101, ip_frames, IP_CHECKS),
    "raw12": (12, ip_frames, IP_CHECKS),
    "raw14": (14, ip_frames, IP_CHECKS),
    "ipv4": (228, lambda: [ipv4(17, udp(1, 53, dns_query(6, "v4.example")))], IP_CHECKS),
    "ipv6": (229, lambda: [ipv6(17, udp(1, 53, dns_query(7, "v6.example")))], IP_CHECKS),
    "wifi": (105, wifi_frames, [*IP_CHECKS, *WIFI_CHECKS]),
    "radiotap": (127, radiotap_frames, [*IP_CHECKS, *WIFI_CHECKS, *RADIOTAP_CHECKS]),
    "prism": (119, prism_frames, [*IP_CHECKS, *WIFI_CHECKS, *PRISM_CHECKS, *AVS_CHECKS]),
    "avs": (163, avs_frames, [*IP_CHECKS, *WIFI_CHECKS, *AVS_CHECKS]),
    # HTTP, TLS, SMB/SMB2, NBNS, LLMNR (app_frames imports this module's builders, so it is read late)
    "apps": (1, lambda: __import__("app_frames").frames(), IP_CHECKS),
    # EAPOL/EAP, LLDP, ESP/AH/IKE (link_frames; their own fields are compared in test_link_ipsec)
    "link": (1, lambda: __import__("link_frames").frames(), IP_CHECKS),
    "wifi_eapol": (105, lambda: __import__("link_frames").wifi_eapol_frames(), [*IP_CHECKS, *WIFI_CHECKS]),
}


def write_pcap(path: Path, link_type: int, frames: Sequence[bytes]) -> None:
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, link_type))
        f.writelines(struct.pack("<IIII", 1_700_000_000 + i, i, len(data), len(data)) + data for i, data in enumerate(frames))


@pytest.mark.parametrize("case", list(CASES))
def test_synthetic_frames_match_tshark(case: str, tmp_path: Path) -> None:
    link, make, checks = CASES[case]
    frames = make()
    path = tmp_path / f"{case}.pcap"
    write_pcap(path, link, frames)
    checks = known_checks(checks)
    rows = tshark_rows(str(path), tuple(c.tshark for c in checks))
    assert len(rows) == len(frames)
    problems = []
    for i, (data, row) in enumerate(zip(frames, rows, strict=True)):
        ctx = dissect(data, link)
        frame = Frame(i, 0, data, ctx.layers, len(data), len(data), link_type=link)
        problems += frame_problems(frame, checks, row[2:], f"{case} frame {i + 1}")
    assert not problems, "\n".join(problems)


def test_every_case_dissects_something_recognisable() -> None:
    """Guard against a case silently testing nothing: each frame has a named, non-Payload top,
    and nothing is flagged malformed except the upper layer of a first fragment."""
    for case, (link, make, _) in CASES.items():
        for i, data in enumerate(make()):
            ctx = dissect(data, link)
            frame = Frame(i, 0, data, ctx.layers, len(data), len(data), link_type=link)
            assert ctx.protocol_name not in ("", "Payload"), f"{case} frame {i + 1}: {ctx.description}"
            if not frame.first("IPv4.Flags.MoreFragments") and not frame.first("IPv6.FragmentHeader.MoreFragments"):
                assert "Malformed" not in ctx.description, f"{case} frame {i + 1}: {ctx.description}"

