"""Build packets byte by byte: the demo trace makes its Ethernet/IP/TCP/UDP/ARP/DNS frames here,
with correct checksums; tests and the benchmark generator share ``checksum``.

Addresses are text (``"10.0.0.1"``, MACs as 12 hex digits) because the callers are stories and
tests; the benchmark generator, which makes millions of frames, uses only ``checksum``.
"""

from __future__ import annotations

import struct


def checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071) of ``data``."""
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def _ip(a: str) -> bytes:
    return bytes(int(x) for x in a.split("."))


def ethernet(src: str, dst: str, etype: int, payload: bytes) -> bytes:
    return bytes.fromhex(dst) + bytes.fromhex(src) + struct.pack("!H", etype) + payload


def ipv4(src: str, dst: str, proto: int, payload: bytes, ident: int) -> bytes:
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident & 0xFFFF, 0x4000, 128, proto, 0,
                      _ip(src), _ip(dst))
    return hdr[:10] + struct.pack("!H", checksum(hdr)) + hdr[12:] + payload


def _l4_checksum(src: str, dst: str, proto: int, seg: bytes) -> int:
    return checksum(_ip(src) + _ip(dst) + struct.pack("!BBH", 0, proto, len(seg)) + seg)


def udp(src: str, dst: str, sport: int, dport: int, data: bytes) -> bytes:
    seg = struct.pack("!HHHH", sport, dport, 8 + len(data), 0) + data
    return seg[:6] + struct.pack("!H", _l4_checksum(src, dst, 17, seg)) + seg[8:]


def tcp(src: str, dst: str, sport: int, dport: int, seq: int, ack: int, flags: int, data: bytes = b"",
        window: int = 64240) -> bytes:
    opts = b"\x02\x04\x05\xb4\x01\x03\x03\x08\x01\x01\x04\x02" if flags & 0x02 else b""
    off = (20 + len(opts)) // 4
    seg = struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, off << 4, flags, window, 0,
                      0) + opts + data
    return seg[:16] + struct.pack("!H", _l4_checksum(src, dst, 6, seg)) + seg[18:]


def arp(op: int, smac: str, sip: str, tmac: str, tip: str) -> bytes:
    return struct.pack("!HHBBH", 1, 0x0800, 6, 4, op) + bytes.fromhex(smac) + _ip(sip) + bytes.fromhex(tmac) + _ip(tip)


def _dns_question(name: str) -> bytes:
    """``name`` as DNS labels, asking for its A record (class IN)."""
    return b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0" + struct.pack("!HH", 1, 1)


def dns_query(ident: int, name: str) -> bytes:
    return struct.pack("!HHHHHH", ident, 0x0100, 1, 0, 0, 0) + _dns_question(name)


def dns_answer(ident: int, name: str, addr: str) -> bytes:
    a = struct.pack("!HHHIH", 0xC00C, 1, 1, 300, 4) + _ip(addr)  # the answer's name points at the question's
    return struct.pack("!HHHHHH", ident, 0x8180, 1, 1, 0, 0) + _dns_question(name) + a


# -- network-virtualization tunnels (tenant frames inside; ``ethernet(...)`` builds those) --------

def vxlan(vni: int, inner: bytes) -> bytes:
    """A VXLAN header (flags: VNI valid) and the tenant's Ethernet frame: a UDP 4789 payload."""
    return struct.pack("!B3xI", 0x08, vni << 8) + inner


def geneve(vni: int, inner: bytes, options: bytes = b"", *, flags: int = 0, proto: int = 0x6558,
           version: int = 0) -> bytes:
    """A Geneve header with ``options`` (whole 4-byte words, see ``geneve_option``): a UDP 6081
    payload.  ``flags``: 0x80 OAM, 0x40 critical options present."""
    if len(options) % 4 or len(options) > 252:
        raise ValueError(f"Geneve options must be whole 4-byte words, at most 252 bytes, not {len(options)}")
    return struct.pack("!BBHI", (version << 6) | len(options) // 4, flags, proto, vni << 8) + options + inner


def geneve_option(cls: int, typ: int, data: bytes) -> bytes:
    if len(data) % 4 or len(data) > 124:
        raise ValueError(f"Geneve option data must be whole 4-byte words, at most 124 bytes, not {len(data)}")
    return struct.pack("!HBB", cls, typ, len(data) // 4) + data


def nvgre(vsid: int, flow: int, inner: bytes, *, checksum_word: bool = False, sequence: int | None = None) -> bytes:
    """GRE with the key as NVGRE's VSID and flow id, carrying the tenant's Ethernet frame: an IP
    protocol 47 payload (optionally with a checksum word and a sequence number around the key)."""
    flags = 0x2000 | (0x8000 if checksum_word else 0) | (0x1000 if sequence is not None else 0)
    out = struct.pack("!HH", flags, 0x6558)
    if checksum_word:
        out += bytes(4)
    out += struct.pack("!I", (vsid << 8) | flow)
    if sequence is not None:
        out += struct.pack("!I", sequence)
    return out + inner
