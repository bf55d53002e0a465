"""Hand-built frames for NTP, DHCPv6, SSDP, RDP's connection setup and HTTP Negotiate/Kerberos
authentication (the samples carry only two DHCPv6 Solicits and WinRM's Kerberos AP-REPs).
``test_more_apps`` compares them with tshark; ``app_frames.frames()`` includes them, so the
fuzz tests mutate them too.
"""

from __future__ import annotations

import base64
import struct

from test_dissect_synthetic import eth, ipv4, ipv6, labels, tcp, udp

#: 2026-12-06 03:30:11.5 UTC as an NTP timestamp, and 2036-02-07 06:28:17 (era 1, seconds = 1)
NTP_T1 = ((1796527811 + 2208988800) << 32) | (1 << 31)
NTP_ERA1 = (1 << 32) | 0


def ntp(first: int, stratum: int, poll: int, precision: int, delay: int, dispersion: int, ref: bytes,
        stamps: tuple[int, int, int, int], tail: bytes = b"") -> bytes:
    return struct.pack("!BBbbII4s4Q", first, stratum, poll, precision, delay, dispersion, ref, *stamps) + tail


def ntp_frames() -> list[bytes]:
    client = ntp(0xE3, 0, 6, -20, 0, 0x10000, b"\x00\x00\x00\x00", (0, 0, 0, NTP_T1))
    server = ntp(0x24, 2, 6, -23, 0x0123, 0x0456, bytes([10, 0, 0, 53]), (NTP_T1 - (5 << 32), NTP_T1, NTP_T1 + 100,
                                                                             NTP_T1 + (1 << 30)))
    primary = ntp(0x1C, 1, 4, -29, 0, 10, b"GPS\x00", (NTP_T1, 0, 0, NTP_ERA1), struct.pack("!I", 7) + bytes(range(16)))
    kiss = ntp(0xDC, 0, 10, -6, 0, 0, b"RATE", (0, NTP_T1, NTP_T1, NTP_T1))
    return [
        eth(0x0800, ipv4(17, udp(50123, 123, client))),
        eth(0x0800, ipv4(17, udp(123, 50123, server))),
        eth(0x86DD, ipv6(17, udp(123, 123, primary))),
        eth(0x0800, ipv4(17, udp(123, 50124, kiss))),
        eth(0x0800, ipv4(17, udp(50125, 123, bytes([0x16, 0x02, 0x00, 0x01]) + bytes(8)))),  # mode 6 control
        eth(0x0800, ipv4(17, udp(50126, 123, client[:30]))),  # cut
    ]




def _opt(code: int, body: bytes) -> bytes:
    return struct.pack("!HH", code, len(body)) + body


def _a6(text: str) -> bytes:
    import ipaddress

    return ipaddress.IPv6Address(text).packed


CLIENT_DUID = _opt(1, struct.pack("!HHI", 1, 1, 0x20528A29) + bytes.fromhex("549f350c3768"))
SERVER_DUID = _opt(2, struct.pack("!HH", 3, 1) + bytes.fromhex("00155d0a0b0c"))


def dhcpv6_frames() -> list[bytes]:
    def v6(sport: int, dport: int, msg: bytes, src: str = "fe80::1", dst: str = "ff02::1:2") -> bytes:
        return eth(0x86DD, ipv6(17, udp(sport, dport, msg), src=src, dst=dst))

    solicit = (b"\x01\x12\x34\x56" + _opt(8, b"\x00\x0a") + CLIENT_DUID + _opt(3, struct.pack("!III", 0xC400155D, 0, 0))
               + _opt(6, struct.pack("!4H", 24, 23, 17, 39)) + _opt(39, b"\x00" + labels("pc01.contoso.com") + b"\x00")
               + _opt(16, struct.pack("!IH", 311, 8) + b"MSFT 5.0"))
    ia_addr = _opt(5, _a6("2001:db8::10") + struct.pack("!II", 3600, 7200))
    advertise = (b"\x02\x12\x34\x56" + CLIENT_DUID + SERVER_DUID + _opt(7, b"\xff")
                 + _opt(3, struct.pack("!III", 0xC400155D, 1800, 2880) + ia_addr)
                 + _opt(23, _a6("2001:db8::53") + _a6("2001:db8::54"))
                 + _opt(24, labels("contoso.com") + b"\x00" + labels("corp.contoso.com") + b"\x00"))
    no_addrs = _opt(3, struct.pack("!III", 0xC400155D, 0, 0) + _opt(13, b"\x00\x02" + b"No addresses available"))
    reply_fail = b"\x07\xab\xcd\xef" + CLIENT_DUID + SERVER_DUID + no_addrs
    prefix = _opt(26, struct.pack("!IIB", 1000, 2000, 56) + _a6("2001:db8:ab00::"))
    request_pd = b"\x03\x00\x00\x07" + CLIENT_DUID + SERVER_DUID + _opt(25, struct.pack("!III", 1, 0, 0) + prefix)
    reply_ok = b"\x07\x00\x00\x07" + CLIENT_DUID + SERVER_DUID + _opt(13, b"\x00\x00") + _opt(
        25, struct.pack("!III", 1, 500, 800) + prefix)
    relay_forw = (b"\x0c\x00" + _a6("2001:db8:1::1") + _a6("fe80::2") + _opt(18, b"eth0") + _opt(9, solicit))
    relay_repl = b"\x0d\x00" + _a6("2001:db8:1::1") + _a6("fe80::2") + _opt(9, reply_fail)
    return [
        v6(546, 547, solicit),
        v6(547, 546, advertise, src="fe80::53", dst="fe80::1"),
        v6(547, 546, reply_fail, src="fe80::53", dst="fe80::1"),
        v6(546, 547, request_pd),
        v6(547, 546, reply_ok, src="fe80::53", dst="fe80::1"),
        v6(547, 547, relay_forw, src="2001:db8:1::1", dst="2001:db8::53"),
        v6(547, 547, relay_repl, src="2001:db8::53", dst="2001:db8:1::1"),
        v6(546, 547, solicit[:40]),  # an option cut
    ]


def ssdp_frames() -> list[bytes]:
    search = (b"M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: \"ssdp:discover\"\r\nMX: 1\r\n"
              b"ST: urn:dial-multiscreen-org:service:dial:1\r\nUSER-AGENT: Test/1.0\r\n\r\n")
    found = (b"HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age=1800\r\nEXT:\r\nLOCATION: http://10.0.0.9:49152/desc.xml\r\n"
             b"SERVER: Linux/5.10 UPnP/1.0 test/1\r\nST: upnp:rootdevice\r\nUSN: uuid:1234::upnp:rootdevice\r\n\r\n")
    alive = (b"NOTIFY * HTTP/1.1\r\nHost: [FF02::C]:1900\r\nNT: urn:schemas-upnp-org:device:MediaServer:1\r\n"
             b"NTS: ssdp:alive\r\nLocation: http://[fe80::9]:2869/upnphost/udhisapi.dll?content=uuid:1\r\n"
             b"USN: uuid:1::urn:schemas-upnp-org:device:MediaServer:1\r\nCache-Control: max-age=900\r\n\r\n")
    return [
        eth(0x0800, ipv4(17, udp(50190, 1900, search), dst="239.255.255.250")),
        eth(0x0800, ipv4(17, udp(1900, 50190, found), src="10.0.0.9")),
        eth(0x86DD, ipv6(17, udp(1900, 1900, alive), src="fe80::9", dst="ff02::c")),
        eth(0x0800, ipv4(17, udp(50191, 1900, search[:60]), dst="239.255.255.250")),  # cut in the headers
    ]


def _tpkt(x224: bytes) -> bytes:
    return b"\x03\x00" + struct.pack("!H", 4 + len(x224)) + x224


def _x224(code: int, body: bytes, src: int = 0) -> bytes:
    head = bytes([code]) + struct.pack("!HHB", 0 if code == 0xE0 else 0x1234, src, 0)
    return bytes([len(head) + len(body)]) + head + body


def rdp_frames() -> list[bytes]:
    """A connection request with a cookie asking for TLS, CredSSP and HYBRID_EX, the confirm that picks
    CredSSP, then TLS on the same connection; a refused negotiation; a data PDU; a routing token."""
    request = _x224(0xE0, b"Cookie: mstshash=alice\r\n" + struct.pack("<BBHI", 1, 0, 8, 0x0B))
    confirm = _x224(0xD0, struct.pack("<BBHI", 2, 0x1F, 8, 2), src=0x1234)
    from app_frames import client_hello

    failure = _x224(0xD0, struct.pack("<BBHI", 3, 0, 8, 5), src=0x1234)
    token = _x224(0xE0, b"Cookie: msts=3640205228.15629.0000\r\n" + struct.pack("<BBHI", 1, 0, 8, 0))
    data = bytes([2, 0xF0, 0x80]) + bytes.fromhex("7f6582019404010104010101ff30")

    def c2s(payload: bytes, seq: int, sport: int = 50389) -> bytes:
        return eth(0x0800, ipv4(6, tcp(sport, 3389, 0x018, payload, seq=seq, ack=9001), dst="10.0.0.3"))

    def s2c(payload: bytes, seq: int, dport: int = 50389) -> bytes:
        return eth(0x0800, ipv4(6, tcp(3389, dport, 0x018, payload, seq=seq, ack=1000), src="10.0.0.3", dst="10.0.0.1"))

    hello = client_hello()
    return [
        c2s(_tpkt(request), 1000),
        s2c(_tpkt(confirm), 9001),
        c2s(hello, 1000 + len(_tpkt(request))),
        c2s(_tpkt(token), 5000, sport=50390),
        s2c(_tpkt(failure), 7000, dport=50390),
        c2s(_tpkt(data), 6000, sport=50391),
        c2s(_tpkt(request)[:20], 1000, sport=50392),  # cut inside the cookie
    ]


def _der(tag: int, body: bytes) -> bytes:
    n = len(body)
    return bytes([tag]) + (bytes([n]) if n < 128 else bytes([0x82]) + n.to_bytes(2, "big")) + body


def _oid(dotted: str) -> bytes:
    parts = [int(p) for p in dotted.split(".")]
    out = bytes([parts[0] * 40 + parts[1]])
    for v in parts[2:]:
        enc = [v & 0x7F]
        v >>= 7
        while v:
            enc.append(0x80 | (v & 0x7F))
            v >>= 7
        out += bytes(reversed(enc))
    return _der(0x06, out)


SPNEGO, KRB5, MS_KRB5, NTLM = "1.3.6.1.5.5.2", "1.2.840.113554.1.2.2", "1.2.840.48018.1.2.2", "1.3.6.1.4.1.311.2.2.10"


def _enc(etype: int, cipher: bytes) -> bytes:
    return _der(0x30, _der(0xA0, _der(0x02, bytes([etype]))) + _der(0xA2, _der(0x04, cipher)))


def ap_req(realm: str, *sname: str) -> bytes:
    from app_frames import _int, _principal, _str

    ticket = _der(0x61, _der(0x30, _int(0, 5) + _str(1, realm) + _principal(2, *sname)
                             + _der(0xA3, _enc(18, bytes(range(48))))))
    return _der(0x6E, _der(0x30, _int(0, 5) + _int(1, 14) + _der(0xA2, _der(0x03, b"\x00\x20\x00\x00\x00"))
                           + _der(0xA3, ticket) + _der(0xA4, _enc(18, bytes(32)))))


def ap_rep() -> bytes:
    from app_frames import _int

    return _der(0x6F, _der(0x30, _int(0, 5) + _int(1, 15) + _der(0xA2, _enc(18, bytes(range(40))))))


def krb_error(code: int) -> bytes:
    from app_frames import _int, _principal, _str

    return _der(0x7E, _der(0x30, _int(0, 5) + _int(1, 30) + _der(0xA4, _der(0x18, b"20261206033000Z")) + _int(5, 0)
                           + _int(6, code) + _str(9, "CONTOSO.COM") + _principal(10, "HTTP", "web01.contoso.com")))


def gss_krb5(tok_id: int, msg: bytes, oid: str = KRB5) -> bytes:
    return _der(0x60, _oid(oid) + struct.pack("<H", tok_id) + msg)


def neg_init(mechs: list[str], token: bytes) -> bytes:
    body = _der(0xA0, _der(0x30, b"".join(_oid(m) for m in mechs))) + _der(0xA2, _der(0x04, token))
    return _der(0x60, _oid(SPNEGO) + _der(0xA0, _der(0x30, body)))


def neg_resp(state: int | None, mech: str | None, token: bytes | None) -> bytes:
    body = b""
    if state is not None:
        body += _der(0xA0, _der(0x0A, bytes([state])))
    if mech is not None:
        body += _der(0xA1, _oid(mech))
    if token is not None:
        body += _der(0xA2, _der(0x04, token))
    return _der(0xA1, _der(0x30, body))


def ntlm_negotiate() -> bytes:
    return b"NTLMSSP\x00" + struct.pack("<II", 1, 0xE2088297) + bytes(16)


def ntlm_challenge() -> bytes:
    target = "CONTOSO".encode("utf-16-le")
    return (b"NTLMSSP\x00" + struct.pack("<IHHI", 2, len(target), len(target), 56) + struct.pack("<I", 0xE2898215)
            + bytes.fromhex("0123456789abcdef") + bytes(8) + struct.pack("<HHI", 0, 0, 56 + len(target)) + bytes(8)
            + target)


def negotiate_frames() -> list[bytes]:
    """Negotiate (SPNEGO) with Kerberos and with NTLMSSP, a Kerberos error, and WinRM's Kerberos scheme."""
    from app_frames import ntlm_authenticate

    def req(scheme: str, token: bytes, sport: int, seq: int = 1000) -> bytes:
        text = (b"GET /app HTTP/1.1\r\nHost: web01.contoso.com\r\nAuthorization: " + scheme.encode() + b" "
                + base64.b64encode(token) + b"\r\n\r\n")
        return eth(0x0800, ipv4(6, tcp(sport, 80, 0x018, text, seq=seq)))

    def resp(status: bytes, token: bytes, dport: int, seq: int = 1000) -> bytes:
        text = (b"HTTP/1.1 " + status + b"\r\nServer: test\r\nWWW-Authenticate: Negotiate "
                + base64.b64encode(token) + b"\r\nContent-Length: 0\r\n\r\n")
        return eth(0x0800, ipv4(6, tcp(80, dport, 0x018, text, seq=seq), src="10.0.0.2", dst="10.0.0.1"))

    krb_req = gss_krb5(1, ap_req("CONTOSO.COM", "HTTP", "web01.contoso.com"), MS_KRB5)
    return [
        req("Negotiate", neg_init([MS_KRB5, KRB5, NTLM], krb_req), 50500),
        resp(b"200 OK", neg_resp(0, MS_KRB5, gss_krb5(2, ap_rep())), 50500),
        req("Negotiate", neg_init([NTLM], ntlm_negotiate()), 50501),
        resp(b"401 Unauthorized", neg_resp(1, NTLM, ntlm_challenge()), 50501),
        req("Negotiate", neg_resp(None, None, ntlm_authenticate()), 50501, seq=5000),
        resp(b"401 Unauthorized", neg_resp(2, MS_KRB5, gss_krb5(3, krb_error(37))), 50500, seq=5000),
        req("Kerberos", gss_krb5(1, ap_req("CONTOSO.COM", "HTTP", "wsman01")), 50503),
    ]


def frames(whole: bool = False) -> list[bytes]:
    """Every frame here.  ``whole`` (``app_frames``, whose tshark check names HTTP's fields and wants
    nothing malformed): without the frames cut short on purpose, without SSDP (tshark shows it with
    HTTP's field names) and without the TLS record on RDP's port (tshark decodes it only when told)."""
    if not whole:
        return [*ntp_frames(), *dhcpv6_frames(), *ssdp_frames(), *rdp_frames(), *negotiate_frames()]
    rdp = rdp_frames()
    return [*ntp_frames()[:-1], *dhcpv6_frames()[:-1], *rdp[:2], *rdp[3:-1], *negotiate_frames()]
