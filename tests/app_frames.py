"""Hand-built application-layer frames for what the samples lack: a TLS 1.3 ClientHello with SNI,
ALPN and supported_versions, a ServerHello, a plaintext alert, records cut by the segment; HTTP
on an unusual port; an SMB2 error response, compounded SMB2, SMB1 NT CREATE ANDX; NBNS and LLMNR
responses with addresses; the LDAP frames of ``ldap_frames``.  ``test_dissect_synthetic`` compares
them with tshark and the fuzz tests mutate them.
"""

from __future__ import annotations

import struct

from test_dissect_synthetic import eth, ipv4, ipv6, labels, tcp, udp
from tracemon.traces.craft import geneve, geneve_option


def _tcp4(sport: int, dport: int, data: bytes) -> bytes:
    return eth(0x0800, ipv4(6, tcp(sport, dport, 0x018, data)))


def _u16(n: int) -> bytes:
    return struct.pack("!H", n)


def _ext(kind: int, body: bytes) -> bytes:
    return _u16(kind) + _u16(len(body)) + body


def client_hello() -> bytes:
    sni = _ext(0, _u16(3 + 15) + b"\x00" + _u16(15) + b"www.example.com")
    alpn_list = b"\x02h2" + b"\x08http/1.1"
    alpn = _ext(16, _u16(len(alpn_list)) + alpn_list)
    versions = _ext(43, b"\x04\x03\x04\x03\x03")
    exts = sni + alpn + versions + _ext(23, b"")
    suites = struct.pack("!4H", 0x1301, 0x1302, 0xC02F, 0x009C)
    body = b"\x03\x03" + bytes(range(32)) + b"\x00" + _u16(len(suites)) + suites + b"\x01\x00" + _u16(len(exts)) + exts
    hs = b"\x01" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x01" + _u16(len(hs)) + hs


def server_hello() -> bytes:
    # TLS 1.2 (tshark calls TLS 1.3's encrypted records' type an "opaque type", from its session state)
    exts = _ext(16, _u16(3) + b"\x02h2")
    body = b"\x03\x03" + bytes(32) + b"\x00" + b"\x13\x01" + b"\x00" + _u16(len(exts)) + exts
    hs = b"\x02" + len(body).to_bytes(3, "big") + body
    ccs = b"\x14\x03\x03\x00\x01\x01"
    app = b"\x17\x03\x03\x00\x20" + bytes(range(0x20))
    return b"\x16\x03\x03" + _u16(len(hs)) + hs + ccs + app


def tls_frames() -> list[bytes]:
    return [
        _tcp4(50000, 443, client_hello()),
        _tcp4(443, 50000, server_hello()),
        _tcp4(443, 50000, b"\x15\x03\x03\x00\x02\x02\x28"),  # fatal handshake_failure, in the clear
        _tcp4(50000, 443, bytes(range(200, 256)) * 2),  # continues a record
    ]


def cut_frames() -> list[bytes]:
    """Messages the segment cuts short (tshark, reassembly off, leaves such records undissected)."""
    return [
        _tcp4(50000, 443, b"\x17\x03\x03\x01\x00" + bytes(40)),
        _tcp4(50000, 443, client_hello()[:60]),
        eth(0x86DD, ipv6(6, tcp(50003, 80, 0x018, b"GET /v6 HTTP/1.1\r\nHost: [2001:db8::2]\r\nAcc"))),
        _tcp4(50010, 445, _nbss(_smb2_header(8, 3, response=True) + struct.pack("<HBBII", 17, 80, 0, 65536, 0)
                                + bytes(100))),
    ]


def ntlm_authenticate() -> bytes:
    """An NTLMSSP AUTHENTICATE message (NTLM v2 response length) for alice@CONTOSO from PC01."""
    domain, user, host = ("CONTOSO".encode("utf-16-le"), "alice".encode("utf-16-le"), "PC01".encode("utf-16-le"))
    at = 72
    fields = b""
    payload = b""
    for blob in (bytes(24), bytes(48), domain, user, host, b""):  # LM, NT, domain, user, workstation, key
        fields += struct.pack("<HHI", len(blob), len(blob), at + len(payload))
        payload += blob
    return b"NTLMSSP\x00" + struct.pack("<I", 3) + fields + struct.pack("<I", 0xE2888215) + bytes(8) + payload


def http_frames() -> list[bytes]:
    import base64

    token = base64.b64encode(ntlm_authenticate())
    req = (b"POST /wsman HTTP/1.1\r\nHost: srv01:5985\r\nContent-Type: application/soap+xml;charset=UTF-8\r\n"
           b"Content-Length: 4\r\nUser-Agent: test\r\n\r\nbody")
    resp = b"HTTP/1.1 401 Unauthorized\r\nServer: test\r\nWWW-Authenticate: Negotiate\r\nContent-Length: 0\r\n\r\n"
    return [
        _tcp4(50001, 5985, req),
        _tcp4(5985, 50001, resp),
        _tcp4(50002, 9999, b"GET /x?a=1 HTTP/1.0\r\nHost: odd.example\r\n\r\n"),  # any port, by its first bytes
        _tcp4(50001, 80, b"GET /secure HTTP/1.1\r\nHost: intranet\r\nAuthorization: NTLM " + token + b"\r\n\r\n"),
        _tcp4(80, 50003, b"<html>the rest of a body</html>"),
    ]


def _smb2_header(cmd: int, mid: int, *, response: bool, status: int = 0, nxt: int = 0, related: bool = False) -> bytes:
    flags = (1 if response else 0) | (4 if related else 0)
    return (b"\xfeSMB" + struct.pack("<HHIHHIIQ", 64, 1, status, cmd, 1, flags, nxt, mid) + struct.pack("<I", 0)
            + struct.pack("<I", 5) + struct.pack("<Q", 0x1122334455667788) + bytes(16))


def _nbss(msg: bytes) -> bytes:
    return b"\x00" + len(msg).to_bytes(3, "big") + msg


def smb_frames() -> list[bytes]:
    name = "dir\\secret.txt".encode("utf-16-le")
    create = struct.pack("<HBBIQQIIIII", 57, 0, 0, 2, 0, 0, 0x12019F, 0, 7, 1, 0x40) + struct.pack(
        "<HHII", 64 + 56, len(name), 0, 0) + name
    denied = _smb2_header(5, 9, response=True, status=0xC0000022) + struct.pack("<HBBI", 9, 0, 0, 0) + b"\x00"
    read = struct.pack("<HBBIQ16sIIIHH", 49, 0, 0, 65536, 4096, bytes(16), 0, 0, 0, 0, 0) + b"\x00"
    first = _smb2_header(8, 10, response=False, nxt=64 + len(read) + 7) + read + bytes(7)
    close = struct.pack("<HHI16s", 24, 0, 0, b"\xff" * 16)
    second = _smb2_header(6, 11, response=False, related=True) + close
    ioctl = struct.pack("<HHI16sIIIIIIII", 57, 0, 0x00140204, bytes(16), 0, 0, 120, 0, 0, 0, 0, 1) + bytes(24)
    smb1 = (b"\xffSMB" + struct.pack("<BIBHH8sHHHHH", 0xA2, 0, 0x18, 0xC807, 0, bytes(8), 0, 1, 2, 3, 4)
            + bytes([24]) + struct.pack("<BBHBHIIIQIIIIIB", 0xFF, 0, 0, 0, 20, 0, 0, 0x2019F, 0, 0, 7, 1, 0x40, 2, 0)
            + struct.pack("<H", 21) + b"\x00" + "\\pipe\\srv".encode("utf-16-le") + b"\x00\x00")
    return [
        _tcp4(50010, 445, _nbss(_smb2_header(5, 9, response=False) + create)),
        _tcp4(445, 50010, _nbss(denied)),
        _tcp4(50010, 445, _nbss(first + second)),
        _tcp4(50010, 445, _nbss(_smb2_header(11, 12, response=False) + ioctl)),
        _tcp4(50011, 139, _nbss(smb1)),
        _tcp4(50010, 445, bytes(range(1, 120))),  # continues a message
    ]


def _name_message(qid: int, flags: int, name: bytes, qtype: int, addr: bytes | None, rdata_prefix: bytes = b"") -> bytes:
    name += b"\x00"
    head = struct.pack("!HHHHHH", qid, flags, 0 if addr else 1, 1 if addr else 0, 0, 0)
    if addr is None:
        return head + name + struct.pack("!HH", qtype, 1)
    rdata = rdata_prefix + addr
    return head + name + struct.pack("!HHIH", qtype, 1, 300, len(rdata)) + rdata


def netbios(name: str, suffix: int) -> bytes:
    raw = name.upper().ljust(15).encode() + bytes([suffix])
    enc = "".join(chr(65 + (b >> 4)) + chr(65 + (b & 15)) for b in raw)
    return labels(enc)


def name_frames() -> list[bytes]:
    return [
        eth(0x0800, ipv4(17, udp(137, 137, _name_message(0x8001, 0x0110, netbios("FILESRV", 0x20), 32, None)))),
        eth(0x0800, ipv4(17, udp(137, 137, _name_message(0x8001, 0x8500, netbios("FILESRV", 0x20), 32,
                                                         bytes([10, 0, 0, 7]), b"\x00\x00")))),
        eth(0x0800, ipv4(17, udp(50020, 5355, _name_message(0x4242, 0x0000, labels("printer"), 1, None)))),
        eth(0x86DD, ipv6(17, udp(5355, 50020, _name_message(0x4242, 0x8000, labels("printer"), 1, bytes([10, 0, 0, 9]))))),
    ]


def _der(tag: int, body: bytes) -> bytes:
    n = len(body)
    return bytes([tag]) + (bytes([n]) if n < 128 else bytes([0x82]) + n.to_bytes(2, "big")) + body


def _int(tag: int, v: int) -> bytes:
    return _der(0xA0 | tag, _der(0x02, v.to_bytes(max(1, (v.bit_length() + 8) // 8), "big")))


def _str(tag: int, text: str) -> bytes:
    return _der(0xA0 | tag, _der(0x1B, text.encode()))


def _principal(tag: int, *parts: str) -> bytes:
    names = _der(0x30, b"".join(_der(0x1B, p.encode()) for p in parts))
    return _der(0xA0 | tag, _der(0x30, _int(0, 1) + _der(0xA1, names)))


def kerberos_frames() -> list[bytes]:
    error = _der(0x7E, _der(0x30, _int(0, 5) + _int(1, 30) + _der(0xA4, _der(0x18, b"20240101000000Z")) + _int(5, 0)
                            + _int(6, 24) + _str(9, "CONTOSO.COM") + _principal(10, "krbtgt", "CONTOSO.COM")
                            + _str(11, "pre-authentication failed")))
    body = _der(0x30, _der(0xA0, _der(0x03, b"\x00\x40\x81\x00\x10")) + _principal(1, "alice") + _str(2, "CONTOSO.COM")
                + _principal(3, "krbtgt", "CONTOSO.COM") + _der(0xA5, _der(0x18, b"20370913024805Z"))
                + _int(7, 12345) + _der(0xA8, _der(0x30, _der(0x02, b"\x12"))))
    as_req = _der(0x6A, _der(0x30, _int(1, 5) + _int(2, 10) + _der(0xA4, body)))
    return [
        eth(0x0800, ipv4(17, udp(50030, 88, as_req))),
        eth(0x0800, ipv4(17, udp(88, 50030, error))),
        _tcp4(50031, 88, len(as_req).to_bytes(4, "big") + as_req),
    ]


def tunnel_frames() -> list[bytes]:
    """VXLAN and NVGRE carrying a tenant's Ethernet frame (other MACs and addresses than outside)."""
    inner_mac = bytes.fromhex("02aabbccdd01")
    http = eth(0x0800, ipv4(6, tcp(50040, 80, 0x018, b"GET /tenant HTTP/1.1\r\nHost: t1\r\n\r\n"), src="192.168.7.1",
                            dst="192.168.7.2"), src=inner_mac)
    dns = eth(0x0800, ipv4(17, udp(50041, 53, struct.pack("!HHHHHH", 9, 0x0100, 1, 0, 0, 0) + labels("tenant.example")
                                   + b"\x00\x00\x01\x00\x01"), src="192.168.8.1", dst="192.168.8.2"), src=inner_mac)
    vxlan = b"\x08\x00\x00\x00" + (5001).to_bytes(3, "big") + b"\x00" + http
    gre = struct.pack("!HHI", 0x2000, 0x6558, (6001 << 8) | 7) + dns
    return [eth(0x0800, ipv4(17, udp(49999, 4789, vxlan), src="10.1.0.1", dst="10.1.0.2")),
            eth(0x0800, ipv4(47, gre, src="10.1.0.1", dst="10.1.0.3")),
            *geneve_frames(http, dns)]


def geneve_frames(http: bytes, dns: bytes) -> list[bytes]:
    """Geneve over IPv4 with two options (one critical), and over IPv6 with none."""
    opts = geneve_option(0x0103, 0x80, b"\x00\x00\x00\x2a") + geneve_option(0xFFFF, 0x01, bytes(range(8)))
    return [eth(0x0800, ipv4(17, udp(50100, 6081, geneve(7001, http, opts, flags=0x40)), src="10.1.0.4",
                             dst="10.1.0.5")),
            eth(0x86DD, ipv6(17, udp(50101, 6081, geneve(7002, dns)), src="fd00::4", dst="fd00::5"))]


def frames() -> list[bytes]:
    from ldap_frames import ldap_frames  # (it imports test_dissect_synthetic's builders too)
    from more_app_frames import frames as more_app_frames  # NTP, DHCPv6, SSDP, RDP, GSS-API in HTTP

    return [*tls_frames(), *http_frames(), *smb_frames(), *name_frames(), *kerberos_frames(), *tunnel_frames(),
            *ldap_frames(), *more_app_frames(whole=True)]
