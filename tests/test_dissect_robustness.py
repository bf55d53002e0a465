"""Dissectors never raise, never loop and never point outside the frame, whatever the bytes.

The fuzz tests call ``dissect_into`` directly, without the last-resort guard of ``dissect()``,
so any exception a dissector raises fails them.  Inputs: random bytes and mutated real frames
(every sample frame plus the hand-built frames of every link type).
"""

from __future__ import annotations

import struct
from functools import lru_cache

import pytest
from conftest import samples
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_dissect_synthetic import CASES, a4, dns_query, eth, ipv4, ipv6, tcp, udp
from tracemon.traces import Frame, open_trace
from tracemon.traces.dissect import LINK_TYPES, Ctx, dissect
from tracemon.traces.dissect.core import MAX_DEPTH, dissect_into
from work import count_lines

#: every link type we dissect, and two we do not (they must give a Payload layer)
LINKS = sorted(LINK_TYPES) + [147, 0xFFFF]


def run(data: bytes, link: int) -> Ctx:
    ctx = dissect_into(Ctx(data), link)
    check_ranges(ctx, data)
    return ctx


def check_ranges(ctx: Ctx, data: bytes) -> None:
    n = len(data)
    assert ctx.depth == 0
    for layer in ctx.layers:
        assert 0 <= layer.start <= n and layer.length >= 0 and layer.start + layer.length <= n, (
            layer.name, layer.start, layer.length, n)
        assert isinstance(layer.summary, str)
        for f in layer.walk():
            if f.start >= 0:
                assert f.start + f.length <= n, (f.name, f.start, f.length, n)
            if f.bits is not None:
                first, count = f.bits
                assert f.length > 0 and 0 <= first and first + count <= 8 * f.length, (f.name, f.bits, f.length)
            assert isinstance(f.display, str)
    assert isinstance(ctx.description, str) and isinstance(ctx.protocol_name, str)


@lru_cache(maxsize=1)
def corpus() -> tuple[tuple[int, bytes], ...]:
    """(link type, frame bytes) of every sample packet and every hand-built frame."""
    out: list[tuple[int, bytes]] = []
    for path in [*samples("pcap"), *samples("pcapng"), *samples("netmon")]:
        with open_trace(path, use_cache=False) as trace:
            for i in range(len(trace)):
                frame = trace.frame(i)
                if frame.kind == "packet":
                    out.append((frame.link_type, frame.data))
    for link, make, _ in CASES.values():
        out.extend((link, data) for data in make())
    return tuple(out)


FUZZ = settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow],
                derandomize=False, database=None)


@FUZZ
@given(link=st.sampled_from(LINKS), data=st.binary(max_size=600))
def test_random_bytes(link: int, data: bytes) -> None:
    run(data, link)


@st.composite
def mutated(draw: st.DrawFn) -> tuple[int, bytes]:
    link, data = draw(st.sampled_from(corpus()))
    buf = bytearray(data)
    for _ in range(draw(st.integers(0, 8))):
        if not buf:
            break
        i = draw(st.integers(0, len(buf) - 1))
        op = draw(st.sampled_from(["set", "flip", "cut", "insert", "extreme"]))
        if op == "set":
            buf[i] = draw(st.integers(0, 255))
        elif op == "flip":
            buf[i] ^= 1 << draw(st.integers(0, 7))
        elif op == "cut":
            del buf[i:]
        elif op == "insert":
            buf[i:i] = draw(st.binary(min_size=1, max_size=16))
        else:  # lengths and counts are where parsers break: make one huge or zero
            buf[i : i + 2] = draw(st.sampled_from([b"\xff\xff", b"\x00\x00", b"\x7f\xff", b"\xc0\x0c"]))
    if draw(st.booleans()):
        link = draw(st.sampled_from(LINKS))
    return link, bytes(buf)


@FUZZ
@given(case=mutated())
def test_mutated_frames(case: tuple[int, bytes]) -> None:
    link, data = case
    run(data, link)


#: application ports (and one no dissector claims, where HTTP is found by its first bytes)
APP_TCP_PORTS = [80, 135, 139, 389, 443, 445, 3268, 3389, 5985, 40000]
APP_UDP_PORTS = [53, 123, 137, 389, 500, 546, 547, 1900, 4500, 5353, 5355]
_PREFIXES = [b"", b"GET / HTTP/1.1\r\n", b"HTTP/1.1 200 OK\r\n", b"\x16\x03\x01", b"\x17\x03\x03",
             b"\x00\x00\x00\x40\xfeSMB", b"\x00\x00\x00\x20\xffSMB", b"\x00\x00\x01\x00\xfdSMB",
             b"NTLMSSP\x00\x03\x00\x00\x00", b"Authorization: NTLM TlRMTVNTUAAD",
             # LDAP: a message (SEQUENCE, messageID, a SearchRequest), a SASL buffer's length
             b"\x30\x84\x00\x00\x01\x00\x02\x01\x04\x63\x82\x00\xf0\x04", b"\x00\x00\x00\x40\x05\x04",
             # MSRPC: a bind, a request with a fragment length, a big-endian response
             b"\x05\x00\x0b\x03\x10\x00\x00\x00", b"\x05\x00\x00\x03\x10\x00\x00\x00\x40\x00\x10\x00",
             b"\x05\x01\x02\x03\x00\x00\x00\x00\x00\x30\x00\x00",
             # IKE after NAT-T's non-ESP marker (an IKEv2 header up to its flags), a NAT keepalive
             b"\x00\x00\x00\x00" + bytes(range(1, 17)) + b"\x21\x20\x22\x08", b"\xff",
             # NTP (client, control), DHCPv6 (a message with an IA_NA, a relay-forw), SSDP, RDP's TPKT/X.224,
             # GSS-API/SPNEGO in an HTTP header
             b"\xe3\x00\x06\xec", b"\x16\x02\x00\x01", b"\x01\x12\x34\x56\x00\x03\x00\x28",
             b"\x0c\x01" + bytes(32) + b"\x00\x09\x00\x30", b"M-SEARCH * HTTP/1.1\r\nST: ",
             b"\x03\x00\x00\x2b\x26\xe0\x00\x00\x00\x00\x00Cookie: mstshash=", b"\x03\x00\x00\x13\x0e\xd0",
             b"GET / HTTP/1.1\r\nAuthorization: Negotiate YIG", b"HTTP/1.1 401 x\r\nWWW-Authenticate: Kerberos oYG"]


@FUZZ
@given(port=st.sampled_from(APP_TCP_PORTS), prefix=st.sampled_from(_PREFIXES), body=st.binary(max_size=400),
       udp_port=st.sampled_from(APP_UDP_PORTS), use_udp=st.booleans())
def test_application_payloads(port: int, prefix: bytes, body: bytes, udp_port: int, use_udp: bool) -> None:
    """Random bytes behind the application dissectors' ports, often after a valid first few bytes."""
    data = prefix + body
    seg = udp(50000, udp_port, data) if use_udp else tcp(50000, port, 0x018, data)
    run(eth(0x0800, ipv4(17 if use_udp else 6, seg)), 1)


#: EAPOL starts: EAP-Packet (Request, then TLS flags), Key (RSN descriptor); LLDP: a chassis id TLV
_LINK_PREFIXES = [b"", b"\x02\x00\x00\x30\x01\x05\x00\x30\x19\x80", b"\x02\x03\x00\x5f\x02\x00\x8a",
                  b"\x02\x00\x00\x08\x02\x01\x00\x08\x1a\x02", b"\x02\x07\x04"]


@FUZZ
@given(etype=st.sampled_from([0x888E, 0x88CC]), prefix=st.sampled_from(_LINK_PREFIXES), body=st.binary(max_size=300),
       proto=st.sampled_from([50, 51]), ah_next=st.sampled_from([6, 17, 50, 51, 59]), use_ip=st.booleans())
def test_link_and_ipsec_payloads(etype: int, prefix: bytes, body: bytes, proto: int, ah_next: int, use_ip: bool) -> None:
    """Random bytes behind the 802.1X and LLDP EtherTypes and the ESP and AH protocol numbers."""
    if use_ip:
        head = bytes([ah_next, body[0] % 8 if body else 1, 0, 0]) if proto == 51 else b""
        run(eth(0x0800, ipv4(proto, head + body)), 1)
        run(eth(0x86DD, ipv6(proto, head + body)), 1)
    else:
        run(eth(etype, prefix + body), 1)


def test_every_prefix_of_every_frame() -> None:
    """Truncation at each byte: the commonest damage (snaplen, broken captures)."""
    for link, data in corpus()[::3]:
        for n in range(0, len(data), max(1, len(data) // 97)):
            run(data[:n], link)


# -- hostile structures: each must stop, say "Malformed" and keep the rest as Payload -----

def malformed(ctx: Ctx) -> bool:
    return any("Malformed" in layer.summary for layer in ctx.layers)


def frame_of(ctx: Ctx, data: bytes) -> Frame:
    return Frame(0, 0, data, ctx.layers, len(data), len(data))


def test_dns_compression_loop_is_refused() -> None:
    # the question name is a pointer to itself, and an answer points forwards
    msg = struct.pack("!HHHHHH", 1, 0x8180, 1, 1, 0, 0) + b"\xc0\x0c" + b"\x00\x01\x00\x01"
    ctx = run(eth(0x0800, ipv4(17, udp(53, 1000, msg))), 1)
    assert malformed(ctx)
    assert ctx.protocol_name == "DNS"
    forward = struct.pack("!HHHHHH", 1, 0x0100, 1, 0, 0, 0) + b"\xc0\x20" + b"\x00\x01\x00\x01" + bytes(20)
    assert malformed(run(eth(0x0800, ipv4(17, udp(1000, 53, forward))), 1))


def test_dns_huge_counts_stop_at_the_data() -> None:
    msg = struct.pack("!HHHHHH", 7, 0x8180, 65535, 65535, 65535, 65535) + b"\x01a\x00\x00\x01\x00\x01"
    # counted, not timed: ~1.2k Python lines today; one step per claimed record would be 65k+
    ctx, lines = count_lines(run, eth(0x0800, ipv4(17, udp(53, 1000, msg))), 1)
    assert lines < 20_000
    assert malformed(ctx)
    assert frame_of(ctx, b"").values("DNS.QRecord.QuestionName") == ["a"]


def test_dns_name_chain_of_backward_pointers_ends() -> None:
    # names at 12, 14, 16 … each a pointer to the one before: a long but finite chain
    body = b"\x01a\x00" + b"".join(struct.pack("!H", 0xC000 | (12 + 3 + 2 * (i - 1)) if i else 0xC00C)
                                   for i in range(200))
    msg = struct.pack("!HHHHHH", 1, 0, 0, 0, 0, 0) + body
    run(eth(0x0800, ipv4(17, udp(1000, 53, msg))), 1)


def test_deep_tunnels_are_bounded() -> None:
    # 500 nested IP-in-IP headers: dissection stops at MAX_DEPTH and keeps the rest as payload
    inner = udp(1, 2, b"x")
    for _ in range(500):
        inner = ipv4(4, inner)
    data = eth(0x0800, inner)
    ctx = run(data, 1)
    assert sum(1 for layer in ctx.layers if layer.name == "IPv4") < MAX_DEPTH
    assert ctx.layers[-1].name == "Payload"


def test_gre_in_gre_is_bounded() -> None:
    inner = ipv4(17, udp(1, 2, b"x"))
    for _ in range(300):
        inner = ipv4(47, struct.pack("!HH", 0, 0x0800) + inner)
    ctx = run(eth(0x0800, inner), 1)
    assert ctx.layers[-1].name == "Payload"


def test_mpls_without_bottom_of_stack() -> None:
    data = eth(0x8847, struct.pack("!I", 16 << 12 | 64) * 400)
    ctx = run(data, 1)
    assert malformed(ctx)
    assert sum(1 for layer in ctx.layers if layer.name == "MPLS") <= 32
    assert ctx.layers[-1].name == "Payload"


def test_ipv6_extension_header_chain_is_bounded() -> None:
    chain = b"".join(bytes([60, 0]) + bytes(6) for _ in range(100)) + bytes([59, 0]) + bytes(6)
    ctx = run(eth(0x86DD, ipv6(60, chain)), 1)
    assert malformed(ctx)
    assert ctx.layers[-1].name == "Payload"


@pytest.mark.parametrize("ihl", [0, 4, 15])
def test_bad_ipv4_header_length(ihl: int) -> None:
    data = bytearray(eth(0x0800, ipv4(6, tcp(1, 2, 0x002))))
    data[14] = 0x40 | ihl
    ctx = run(bytes(data), 1)
    assert malformed(ctx)  # below the minimum, or (15) longer than the 40 bytes there are
    assert ctx.layers[-1].name == "Payload"


def test_tcp_option_with_zero_length() -> None:
    ctx = run(eth(0x0800, ipv4(6, tcp(1, 2, 0x002, options=b"\x02\x00\x00\x00"))), 1)
    assert malformed(ctx)
    assert ctx.protocol_name == "TCP"


def test_icmp_quoting_icmp_quoting_icmp() -> None:
    quoted = ipv4(17, udp(1, 2, b""))
    for _ in range(40):
        quoted = ipv4(1, bytes([3, 3, 0, 0, 0, 0, 0, 0]) + quoted, src="10.0.0.9")
    ctx = run(eth(0x0800, quoted), 1)
    assert ctx.protocol_name == "ICMP"
    assert ctx.source == "10.0.0.9"


def test_the_guard_turns_an_internal_error_into_a_message(monkeypatch: pytest.MonkeyPatch) -> None:
    from tracemon.traces.dissect import udp as udp_module

    def broken(ctx: Ctx, off: int, end: int) -> None:
        raise IndexError("simulated bug")

    monkeypatch.setitem(udp_module.UDP_PORTS, 9, broken)
    data = eth(0x0800, ipv4(17, udp(9, 9, b"hello")))
    ctx = dissect(data, 1)
    assert "dissector error: IndexError: simulated bug" in ctx.description
    assert [layer.name for layer in ctx.layers] == ["Ethernet", "IPv4", "UDP", "Payload"]


def test_unknown_link_type_is_payload() -> None:
    ctx = run(b"\x01\x02\x03", 0xFFFF)
    assert [layer.name for layer in ctx.layers] == ["Payload"]
    assert ctx.protocol_name == "Payload"


def test_empty_frames() -> None:
    for link in LINKS:
        run(b"", link)


def test_no_ip_means_mac_addresses_in_the_columns() -> None:
    ctx = run(eth(0x0806, bytes(28), dst=b"\xff" * 6), 1)
    assert ctx.source == "00-11-22-33-44-55" and ctx.destination == "FF-FF-FF-FF-FF-FF"


def test_outermost_ip_addresses_fill_the_columns() -> None:
    data = eth(0x0800, ipv4(47, struct.pack("!HH", 0, 0x0800) + ipv4(17, udp(1, 2, b"x"), src="172.16.0.1",
                                                                        dst="172.16.0.2"),
                            src="198.51.100.1", dst="198.51.100.2"))
    ctx = run(data, 1)
    assert (ctx.source, ctx.destination) == ("198.51.100.1", "198.51.100.2")
    assert ctx.protocol_name == "UDP"


def test_dns_over_tcp_and_snaplen_truncation() -> None:
    q = dns_query(0x55, "trunc.example")
    full = eth(0x0800, ipv4(6, tcp(5000, 53, 0x018, struct.pack("!H", len(q)) + q)))
    ctx = run(full, 1)
    assert frame_of(ctx, full).values("DNS.QRecord.QuestionName") == ["trunc.example"]
    # cut inside the question (a snaplen): header fields stay, the name is not invented, and the
    # layer says Truncated, not Malformed, since the IP length shows the capture was cut
    cut = full[: len(full) - 6]
    ctx = run(cut, 1)
    f = frame_of(ctx, cut)
    assert f.values("DNS.QueryIdentifier") == [0x55] and f.values("DNS.QRecord.QuestionName") == []
    assert "[Truncated: label runs past the end of the message]" in ctx.description
    assert not malformed(ctx)
    # TCP.PayloadLength still comes from the IP length
    assert f.values("TCP.PayloadLength") == [2 + len(q)]
    # the same message cut short inside a complete datagram is malformed
    short = eth(0x0800, ipv4(6, tcp(5000, 53, 0x018, struct.pack("!H", len(q)) + q[:-6])))
    ctx = run(short, 1)
    assert malformed(ctx) and "Truncated" not in ctx.description


def test_addresses_are_ints_of_the_right_width() -> None:
    data = eth(0x0800, ipv4(17, udp(1, 2, b""), src="1.2.3.4"))
    f = frame_of(run(data, 1), data)
    assert f.values("IPv4.SourceAddress") == [int.from_bytes(a4("1.2.3.4"), "big")]
    assert f.values("Ethernet.SourceAddress") == [0x001122334455]


@pytest.mark.parametrize("code, length", [("2\u00b20", "12"), ("200", "1\u00b3")])
def test_http_digits_beyond_ascii_are_no_numbers(code: str, length: str) -> None:
    """'²' and '³' are digits to str.isdigit() but not to int(): a status code or Content-Length
    written with them is text, and the rest of the message is still read."""
    msg = f"HTTP/1.1 {code} OK\r\nContent-Length: {length}\r\nServer: x\r\n\r\n".encode("latin-1")
    ctx = run(eth(0x0800, ipv4(6, tcp(80, 50000, 0x018, msg))), 1)
    frame = frame_of(ctx, msg)
    assert not malformed(ctx) and ctx.protocol_name == "HTTP"
    assert frame.values("HTTP.Response.StatusCode") == ([200] if code == "200" else [])
    assert frame.values("HTTP.ContentLength") == ([12] if length == "12" else [])
    assert frame.values("HTTP.Server") == ["x"] or "Server: x" in str(frame.values("HTTP.Header"))
