"""Hand-built LDAP frames (no sample carries LDAP): simple and SASL binds and their responses, a
search with a nested filter, result entries and done in one segment, modify/add/delete/unbind,
errors with diagnostic text, the Global Catalog port, CLDAP over UDP, a message cut by the
segment, a continuation segment and a SASL-sealed buffer after a GSS-SPNEGO bind.
``test_ldap`` compares them with tshark and the fuzz tests mutate them (through ``app_frames``).
"""

from __future__ import annotations

from test_dissect_synthetic import eth, ipv4, tcp, udp


def ber(tag: int, body: bytes) -> bytes:
    n = len(body)
    if n < 128:
        return bytes([tag, n]) + body
    size = (n.bit_length() + 7) // 8
    return bytes([tag, 0x80 | size]) + n.to_bytes(size, "big") + body


def integer(v: int, tag: int = 0x02) -> bytes:
    return ber(tag, v.to_bytes(max(1, (v.bit_length() + 8) // 8), "big"))


def octets(s: str | bytes, tag: int = 0x04) -> bytes:
    return ber(tag, s.encode() if isinstance(s, str) else s)


def message(mid: int, op: bytes) -> bytes:
    return ber(0x30, integer(mid) + op)


def result(app: int, code: int, diagnostic: str = "", extra: bytes = b"") -> bytes:
    return ber(0x60 | app, integer(code, 0x0A) + octets("") + octets(diagnostic) + extra)


def search(base: str, scope: int, flt: bytes, *attrs: str) -> bytes:
    return ber(0x63, octets(base) + integer(scope, 0x0A) + integer(0, 0x0A) + integer(0) + integer(0)
               + ber(0x01, b"\x00") + flt + ber(0x30, b"".join(octets(a) for a in attrs)))


def ava(tag: int, attr: str, value: str | bytes) -> bytes:
    return ber(tag, octets(attr) + octets(value))


BASE = "DC=contoso,DC=com"
NESTED = ber(0xA0, ava(0xA3, "objectClass", "user")
             + ber(0xA1, ber(0xA4, octets("cn") + ber(0x30, octets("al", 0x80) + octets("c", 0x81) + octets("e", 0x82)))
                   + ber(0xA2, ava(0xA3, "sAMAccountName", "bob")))
             + ava(0xA5, "uSNChanged", "100") + octets("description", 0x87))
#: what ``NESTED`` reads as in RFC 4515 text
NESTED_TEXT = "(&(objectClass=user)(|(cn=al*c*e)(!(sAMAccountName=bob)))(uSNChanged>=100)(description=*))"
CLIENT, SERVER = 50100, 389


_SEQ: dict[tuple[int, int], int] = {}


def _tcp(sport: int, dport: int, data: bytes) -> bytes:
    """A segment that follows the previous one of its direction (tshark would call a repeated
    sequence number a retransmission)."""
    seq = _SEQ.get((sport, dport), 1000)
    _SEQ[(sport, dport)] = seq + len(data)
    return eth(0x0800, ipv4(6, tcp(sport, dport, 0x018, data, seq=seq), src="10.0.0.5", dst="10.0.0.10"))


def _to_server(data: bytes, port: int = CLIENT, server: int = SERVER) -> bytes:
    return _tcp(port, server, data)


def _to_client(data: bytes, port: int = CLIENT, server: int = SERVER) -> bytes:
    return _tcp(server, port, data)


def ldap_frames() -> list[bytes]:
    _SEQ.clear()
    search_req = message(4, search(BASE, 2, NESTED, "cn", "mail"))
    entry = message(4, ber(0x64, octets("CN=alice,CN=Users," + BASE) + ber(0x30, b"")))
    cut = message(7, search(BASE, 1, octets("objectClass", 0x87), *[f"attribute{i}" for i in range(40)]))
    sasl_port = CLIENT + 1
    sealed = bytes.fromhex("050406ff0000001c") + bytes(range(60))
    cldap = message(10, search("", 0, ber(0xA0, ava(0xA3, "DnsDomain", "contoso.com") + ava(0xA3, "NtVer", b"\x06\0\0\0")),
                               "Netlogon"))
    return [
        _to_server(message(1, ber(0x60, integer(3) + octets("CN=admin," + BASE) + octets("secret", 0x80)))),
        _to_client(message(1, result(1, 0))),
        _to_server(search_req),
        _to_client(entry + message(4, result(5, 0))),
        _to_client(message(2, result(1, 49, "80090308: LdapErr: DSID-0C090569, comment: AcceptSecurityContext error"))),
        _to_client(message(5, result(5, 32, "0000208D: NameErr: DSID-03100213, problem 2001 (NO_OBJECT)")), 50102, 3268),
        _to_server(message(6, ber(0x66, octets("CN=alice,CN=Users," + BASE) + ber(0x30, b"")))),
        _to_server(message(7, ber(0x68, octets("CN=bob,CN=Users," + BASE) + ber(0x30, b"")))),
        _to_server(message(8, octets("CN=carol,CN=Users," + BASE, 0x4A)) + message(9, ber(0x42, b""))),
        eth(0x0800, ipv4(17, udp(50103, 389, cldap), src="10.0.0.5", dst="10.0.0.10")),
        _to_server(cut[: len(cut) // 2], CLIENT + 3),
        _to_server(cut[len(cut) // 2 :], CLIENT + 3),
        _to_server(message(11, ber(0x60, integer(3) + octets("") + ber(0xA3, octets("GSS-SPNEGO") + octets(b"`\x06+\x06")))),
                   sasl_port),
        _to_client(message(11, result(1, 0, extra=octets(b"\xa1\x07", 0x87))), sasl_port),
        _to_server(len(sealed).to_bytes(4, "big") + sealed, sasl_port),
    ]
