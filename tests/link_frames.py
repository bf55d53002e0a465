"""Hand-built 802.1X (EAPOL/EAP), LLDP and IPsec (ESP, AH, IKE, NAT-T) frames: no sample carries
them (``tshark -Y "eapol or lldp or esp or ah or isakmp"`` finds none in ``../shared/samples``).
``test_link_ipsec`` compares them with tshark; the fuzz tests mutate them.
"""

from __future__ import annotations

import struct

from test_dissect_synthetic import MAC_A, MAC_B, eth, ipv4, ipv6, tcp, udp

PAE_GROUP = bytes.fromhex("0180c2000003")
LLDP_MULTICAST = bytes.fromhex("0180c200000e")


def eapol(kind: int, body: bytes = b"", version: int = 1) -> bytes:
    return struct.pack("!BBH", version, kind, len(body)) + body


def eap(code: int, ident: int, data: bytes = b"") -> bytes:
    return struct.pack("!BBH", code, ident, 4 + len(data)) + data


def key_frame(info: int, replay: int, nonce: bytes, data: bytes = b"", mic: bytes = bytes(16)) -> bytes:
    """An RSN EAPOL-Key body (descriptor 2)."""
    return (b"\x02" + struct.pack("!HHQ", info, 16, replay) + nonce + bytes(16) + bytes(8) + bytes(8) + mic
            + struct.pack("!H", len(data)) + data)


def _eapol_eth(body: bytes, src: bytes = MAC_A) -> bytes:
    return eth(0x888E, body, dst=PAE_GROUP, src=src)


def tls_method(method: int, flags: int, total: int | None, data: bytes) -> bytes:
    length = struct.pack("!I", total) if total is not None else b""
    return bytes([method, flags]) + length + data


ANONCE = bytes(range(1, 33))
SNONCE = bytes(range(100, 132))


def eapol_frames() -> list[bytes]:
    rsn_ie = b"\x30\x14\x01\x00\x00\x0f\xac\x04\x01\x00\x00\x0f\xac\x04\x01\x00\x00\x0f\xac\x02\x00\x00"
    tls_records = b"\x16\x03\x01\x00\x30" + bytes(range(48))
    return [
        _eapol_eth(eapol(1), src=MAC_A),  # Start
        _eapol_eth(eapol(0, eap(1, 1, b"\x01")), src=MAC_B),  # Request, Identity
        _eapol_eth(eapol(0, eap(2, 1, b"\x01" + b"CONTOSO\\alice")), src=MAC_A),  # Response, Identity
        _eapol_eth(eapol(0, eap(1, 2, tls_method(25, 0x21, None, b""))), src=MAC_B),  # PEAP start, version 1
        _eapol_eth(eapol(0, eap(2, 2, b"\x03\x0d\x19")), src=MAC_A),  # NAK: wants TLS or PEAP
        _eapol_eth(eapol(0, eap(2, 3, tls_method(13, 0xC0, 1200, tls_records))), src=MAC_A),  # TLS, L and M
        _eapol_eth(eapol(0, eap(1, 4, b"\x1a\x01\x04\x00\x1a\x10" + bytes(16) + b"srv")), src=MAC_B),  # MSCHAPv2
        _eapol_eth(eapol(0, eap(3, 5)), src=MAC_B),  # Success
        _eapol_eth(eapol(0, eap(4, 6)), src=MAC_B),  # Failure
        _eapol_eth(eapol(2), src=MAC_A),  # Logoff
        # the four-way handshake
        _eapol_eth(eapol(3, key_frame(0x008A, 1, ANONCE), version=2), src=MAC_B),
        _eapol_eth(eapol(3, key_frame(0x010A, 1, SNONCE, rsn_ie, bytes(range(16))), version=2), src=MAC_A),
        _eapol_eth(eapol(3, key_frame(0x13CA, 2, ANONCE, bytes(56), bytes(range(16, 32))), version=2), src=MAC_B),
        _eapol_eth(eapol(3, key_frame(0x030A, 2, bytes(32), b"", bytes(range(32, 48))), version=2), src=MAC_A),
        # the group key handshake, and the legacy RC4 descriptor (802.1X-2001)
        _eapol_eth(eapol(3, key_frame(0x1382, 3, bytes(32), bytes(24), bytes(range(48, 64))), version=2), src=MAC_B),
        _eapol_eth(eapol(3, key_frame(0x0302, 3, bytes(32), b"", bytes(range(64, 80))), version=2), src=MAC_A),
        _eapol_eth(eapol(3, b"\x01" + struct.pack("!HQ", 13, 5) + bytes(range(16)) + b"\x81" + bytes(16) + bytes(13))),
        # over VLAN, and cut short by the capture
        eth(0x8100, struct.pack("!HH", 0x0064, 0x888E) + eapol(0, eap(2, 7, b"\x01bob")), dst=PAE_GROUP),
        _eapol_eth(eapol(0, eap(2, 8, b"\x01" + b"x" * 40))[:20]),
    ]


def wifi_eapol_frames() -> list[bytes]:
    """EAPOL in 802.11 data frames (LLC/SNAP), link type 105."""
    seq = struct.pack("<H", 7 << 4)
    snap = b"\xaa\xaa\x03\x00\x00\x00\x88\x8e"
    return [
        b"\x08\x02" + b"\x2c\x00" + MAC_A + MAC_B + MAC_B + seq + snap + eapol(3, key_frame(0x008A, 1, ANONCE), 2),
        b"\x08\x01" + b"\x2c\x00" + MAC_B + MAC_A + MAC_B + seq + snap + eapol(0, eap(2, 1, b"\x01guest")),
    ]


def tlv(kind: int, value: bytes) -> bytes:
    return struct.pack("!H", kind << 9 | len(value)) + value


def lldp_frames() -> list[bytes]:
    switch = (tlv(1, b"\x04" + bytes.fromhex("001122aabbcc")) + tlv(2, b"\x05Gi1/0/24") + tlv(3, b"\x00\x78")
              + tlv(4, b"Uplink to host01") + tlv(5, b"sw-core-1")
              + tlv(6, b"Cisco IOS Software, C2960 Software") + tlv(7, b"\x00\x14\x00\x04")
              + tlv(8, b"\x05\x01" + bytes([10, 0, 0, 250]) + b"\x02" + struct.pack("!I", 24) + b"\x00")
              + tlv(127, b"\x00\x80\xc2\x01\x00\x64") + tlv(0, b""))
    host = (tlv(1, b"\x07host01.contoso.com") + tlv(2, b"\x03" + bytes.fromhex("00155d010203")) + tlv(3, b"\x00\x00")
            + tlv(5, b"host01") + tlv(8, b"\x11\x02" + bytes(15) + b"\x01" + b"\x02" + struct.pack("!I", 3) + b"\x00")
            + tlv(0, b""))
    return [
        eth(0x88CC, switch, dst=LLDP_MULTICAST),
        eth(0x88CC, host + bytes(20), dst=LLDP_MULTICAST),  # with Ethernet padding after End
        eth(0x88CC, tlv(1, b"\x04" + bytes(6)) + tlv(2, b"\x05port")[:-2], dst=LLDP_MULTICAST),  # cut in a TLV
    ]


def ike_header(ispi: int, rspi: int, nxt: int, version: int, exchange: int, flags: int, mid: int,
               body: bytes) -> bytes:
    return struct.pack("!QQBBBBII", ispi, rspi, nxt, version, exchange, flags, mid, 28 + len(body)) + body


def ipsec_frames() -> list[bytes]:
    sa = struct.pack("!BBH", 0, 0, 12) + bytes(8)  # one (empty-ish) payload, not decoded
    ike_init = ike_header(0x1122334455667788, 0, 33, 0x20, 34, 0x08, 0, sa)
    ike_init_resp = ike_header(0x1122334455667788, 0x99AABBCCDDEEFF00, 33, 0x20, 34, 0x20, 0, sa)
    ike_auth = ike_header(0x1122334455667788, 0x99AABBCCDDEEFF00, 46, 0x20, 35, 0x08, 1, bytes(64))
    main_mode = ike_header(0x0102030405060708, 0, 1, 0x10, 2, 0x00, 0, sa)
    esp = struct.pack("!II", 0x0A0B0C0D, 7) + bytes(range(48))
    inner_tcp = tcp(50000, 443, 0x018, b"\x17\x03\x03\x00\x10" + bytes(16))
    ah = struct.pack("!BBHII", 6, 4, 0, 0xCAFE0001, 42) + bytes(12)  # 24 bytes: a 12-byte ICV
    ah_udp = struct.pack("!BBHII", 17, 4, 0, 0xCAFE0002, 43) + bytes(range(12))
    return [
        eth(0x0800, ipv4(17, udp(500, 500, ike_init))),
        eth(0x0800, ipv4(17, udp(500, 500, ike_init_resp), src="10.0.0.2", dst="10.0.0.1")),
        eth(0x0800, ipv4(17, udp(4500, 4500, b"\0\0\0\0" + ike_auth))),
        eth(0x0800, ipv4(17, udp(500, 500, main_mode))),
        eth(0x0800, ipv4(50, esp)),
        eth(0x86DD, ipv6(50, struct.pack("!II", 0x0A0B0C0E, 8) + bytes(32))),
        eth(0x0800, ipv4(17, udp(4500, 4500, esp))),  # ESP in UDP (NAT-T)
        eth(0x0800, ipv4(17, udp(51000, 4500, b"\xff"))),  # NAT keepalive
        eth(0x0800, ipv4(51, ah + inner_tcp)),  # AH, then TCP as usual
        eth(0x0800, ipv4(51, ah_udp + udp(5000, 53, b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00"
                                              b"\x03www\x07example\x03com\x00\x00\x01\x00\x01"))),
        eth(0x0800, ipv4(50, esp[:6])),  # ESP header cut short
    ]


def frames() -> list[bytes]:
    """The whole Ethernet frames (link type 1): EAPOL/EAP, LLDP, IPsec, without the last of each
    list (cut short on purpose)."""
    return [*eapol_frames()[:-1], *lldp_frames()[:-1], *ipsec_frames()[:-1]]
