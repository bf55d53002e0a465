"""Deterministic synthetic pcap / pcapng files for benchmarks (and big-trace UI tests).

Mixed traffic like a busy host: TCP sessions over IPv4 (SYN, data, ACK, FIN), UDP DNS queries and
answers, ARP, IPv6 TCP, ICMP echo, with a few thousand conversations; the same as tenants in
VXLAN (``--traffic vxlan``); traffic above TCP/UDP (``--traffic apps``).  The same ``n`` and
``seed`` always give the same bytes.

    python benchmarks/gen_traces.py 1000000 out.pcap [--pcapng]
"""

from __future__ import annotations

import argparse
import random
import struct
from collections.abc import Iterator
from pathlib import Path

from tracemon.traces.craft import checksum


def _eth(dst: bytes, src: bytes, etype: int, payload: bytes) -> bytes:
    return dst + src + struct.pack("!H", etype) + payload


def _ipv4(src: int, dst: int, proto: int, payload: bytes, ident: int) -> bytes:
    hdr = struct.pack("!BBHHHBBHII", 0x45, 0, 20 + len(payload), ident & 0xFFFF, 0x4000, 64, proto, 0, src, dst)
    hdr = hdr[:10] + struct.pack("!H", checksum(hdr)) + hdr[12:]
    return hdr + payload


def _ipv6(src: bytes, dst: bytes, nh: int, payload: bytes) -> bytes:
    return struct.pack("!IHBB", 0x60000000, len(payload), nh, 64) + src + dst + payload


def _tcp(sport: int, dport: int, seq: int, ack: int, flags: int, data: bytes = b"") -> bytes:
    return struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, 5 << 4, flags, 65535, 0, 0) + data


def _udp(sport: int, dport: int, data: bytes) -> bytes:
    return struct.pack("!HHHH", sport, dport, 8 + len(data), 0) + data


def _dns_query(qid: int, name: str, response: bool, addr: int) -> bytes:
    qname = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"
    flags = 0x8180 if response else 0x0100
    msg = struct.pack("!HHHHHH", qid, flags, 1, 1 if response else 0, 0, 0) + qname + struct.pack("!HH", 1, 1)
    if response:
        msg += b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 300, 4) + struct.pack("!I", addr)
    return msg


def _mac(i: int) -> bytes:
    return bytes([0x00, 0x15, 0x5D, (i >> 16) & 255, (i >> 8) & 255, i & 255])


def _client_hello(server: str) -> bytes:
    name = server.encode()
    sni = struct.pack("!HHHBH", 0, len(name) + 5, len(name) + 3, 0, len(name)) + name
    exts = sni + struct.pack("!HHH", 10, 4, 2) + b"\x00\x1d" + struct.pack("!HH", 23, 0) + \
        struct.pack("!HHB", 43, 3, 2) + b"\x03\x04"
    suites = struct.pack("!4H", 0x1301, 0x1302, 0xC02F, 0xC030)
    body = b"\x03\x03" + bytes(32) + b"\x20" + bytes(32) + struct.pack("!H", len(suites)) + suites + b"\x01\x00" + \
        struct.pack("!H", len(exts)) + exts
    hs = b"\x01" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x01" + struct.pack("!H", len(hs)) + hs


def _web_data(dport: int, out: bool, step: int, server: int, k: int, size: int) -> bytes:
    """What a data segment of a ``web`` trace carries: HTTP messages on 80, a ClientHello (then
    application data records) on 443, zeros elsewhere."""
    site = f"web{server & 63}.corp.example.com"
    if dport == 80:
        head = (f"GET /app/{k % 97}/item HTTP/1.1\r\nHost: {site}\r\nUser-Agent: bench/1.0\r\n"
                f"Accept: */*\r\n\r\n" if out else
                f"HTTP/1.1 {(200, 200, 304, 404)[k % 4]} OK\r\nContent-Type: text/html\r\n"
                f"Content-Length: {size}\r\n\r\n").encode()
    elif dport == 443:
        head = _client_hello(site) if out and step == 3 else b"\x17\x03\x03" + struct.pack("!H", max(0, size - 5))
    else:
        return bytes(size)
    return head + bytes(max(0, size - len(head)))


def frames(n: int, seed: int = 7, web: bool = False) -> Iterator[tuple[int, bytes]]:
    """(timestamp ns, Ethernet frame) pairs; ``web``: TCP data segments carry HTTP and TLS as
    their ports say (see ``_web_data``) instead of zeros."""
    rnd = random.Random(seed)
    t = 1_700_000_000_000_000_000
    hosts = 400
    gw = _mac(0xFFFFF)
    names = [f"host{i}.corp.example.com" for i in range(64)]
    pool: list[list[int]] = []
    for k in range(n):
        t += rnd.randint(2_000, 400_000)
        h = rnd.randrange(hosts)
        mac = _mac(h)
        src = 0x0A000000 | (h + 10)
        server = 0xC0A80000 | rnd.randrange(1, 40)
        r = rnd.random()
        if r < 0.62:  # TCP sessions: handshake, ~16 data segments both ways, FIN
            if len(pool) < 1500:
                h2 = rnd.randrange(hosts)
                pool.append([h2, 0xC0A80000 | rnd.randrange(1, 40), 49152 + (k % 16000), (443, 80, 445, 3389)[h2 % 4],
                             0, rnd.randrange(1 << 32)])
            s = pool[rnd.randrange(len(pool))]
            hs, server, sport, dport, step, seq = s
            mac_s, src_s = _mac(hs), 0x0A000000 | (hs + 10)
            flags = 0x02 if step == 0 else 0x12 if step == 1 else 0x10 if step == 2 else 0x11 if step >= 19 else 0x18
            out = step in (0, 2) or step >= 19 or (step > 2 and step % 2 == 1)
            data = bytes(rnd.randrange(1, 1400)) if flags == 0x18 else b""
            if web and data:
                data = _web_data(dport, out, step, server, k, len(data))
            seg = _tcp(sport if out else dport, dport if out else sport, seq, seq + 1, flags, data)
            s[4], s[5] = step + 1, seq + len(data) + 1
            if step >= 19:
                pool.remove(s)
            ip = _ipv4(src_s if out else server, server if out else src_s, 6, seg, k)
            yield t, _eth(gw if out else mac_s, mac_s if out else gw, 0x0800, ip)
        elif r < 0.82:  # DNS
            qid = k & 0xFFFF
            name = names[k % len(names)]
            response = bool(k & 1)
            dns = _dns_query(qid, name, response, server)
            seg = _udp(53 if response else 50000 + h, 50000 + h if response else 53, dns)
            ip = _ipv4(0x0A0000FE if response else src, src if response else 0x0A0000FE, 17, seg, k)
            yield t, _eth(mac if response else gw, gw if response else mac, 0x0800, ip)
        elif r < 0.88:  # ARP
            arp = struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1) + mac + struct.pack("!I", src) + bytes(6) + \
                struct.pack("!I", 0x0A000001)
            yield t, _eth(b"\xff" * 6, mac, 0x0806, arp + bytes(18))
        elif r < 0.96:  # IPv6 TCP
            s6 = bytes.fromhex("fd000000000000000000000000000000")[:12] + struct.pack("!I", h + 10)
            d6 = bytes.fromhex("fd00000000000000000000000000ffff")
            seg = _tcp(40000 + h, 443, k, 0, 0x18, bytes(rnd.randrange(0, 200)))
            yield t, _eth(gw, mac, 0x86DD, _ipv6(s6, d6, 6, seg))
        else:  # ICMP echo
            icmp = struct.pack("!BBHHH", 8, 0, 0, h, k & 0xFFFF) + bytes(32)
            yield t, _eth(gw, mac, 0x0800, _ipv4(src, server, 1, icmp, k))


_HTTP = (b"POST /wsman HTTP/1.1\r\nHost: srv:5985\r\nContent-Length: 512\r\n\r\n" + bytes(512),
         b"HTTP/1.1 200 OK\r\nContent-Type: application/soap+xml\r\nContent-Length: 300\r\n\r\n" + bytes(300),
         b"GET /index.html HTTP/1.1\r\nHost: www.example.com\r\n\r\n")
_SMB2 = b"\xfeSMB" + struct.pack("<HHIHHIIQ", 64, 1, 0, 8, 1, 0, 0, 7) + bytes(40) + struct.pack(
    "<HBBIQ16sIIIHH", 49, 0, 0, 65536, 0, bytes(16), 0, 0, 0, 0, 0)


def app_frames(n: int, seed: int = 7) -> Iterator[tuple[int, bytes]]:
    """Traffic above TCP and UDP, each on its own protocol's port: mDNS, LLMNR and NetBIOS name
    queries, HTTP (WinRM's 5985 and port 80), TLS records on 443, SMB2 on 445 and HTTP requests on
    an unregistered port (found by their first bytes)."""
    rnd = random.Random(seed)
    t = 1_700_000_000_000_000_000
    gw = _mac(0xFFFFF)
    nb = b"\x20" + b"EFEBEOEFEFEOEDEBEDEBEDEBEDEBEDAA" + b"\0"
    for k in range(n):
        t += rnd.randint(2_000, 400_000)
        h = rnd.randrange(400)
        mac, src = _mac(h), 0x0A000000 | (h + 10)
        server = 0xC0A80000 | (1 + h % 39)  # each host talks to one server: a few thousand conversations
        r = k % 8
        if r < 3:  # name services
            port = (5353, 5355, 137)[r]
            msg = (_dns_query(k & 0xFFFF, f"host{h}.local", False, 0) if port != 137 else
                   struct.pack("!HHHHHH", k & 0xFFFF, 0x0110, 1, 0, 0, 0) + nb + struct.pack("!HH", 32, 1))
            ip = _ipv4(src, 0xE00000FB if port == 5353 else 0x0A0000FF, 17, _udp(port if port != 5355 else 50000 + h,
                                                                                   port, msg), k)
        else:
            dport, data = ((5985, _HTTP[k % 2]), (80, _HTTP[2]), (443, b"\x17\x03\x03\x02\x00" + bytes(512)),
                           (445, b"\x00" + len(_SMB2).to_bytes(3, "big") + _SMB2), (8000, _HTTP[2]))[r - 3]
            ip = _ipv4(src, server, 6, _tcp(49152 + h, dport, k, k, 0x18, data), k)
        yield t, _eth(gw, mac, 0x0800, ip)


def vxlan_frames(n: int, seed: int = 7) -> Iterator[tuple[int, bytes]]:
    """The mixed traffic of ``frames`` as tenants of a Hyper-V network virtualization fabric: each
    tenant frame in VXLAN between the hosts of its two MACs (16 hosts), 8 virtual networks (the
    VNI follows the tenant's address pair), the outer UDP source port a hash of the tenant's
    addresses (as VXLAN's flow entropy)."""
    hosts = [(_mac(0x100000 + i), 0xAC100000 | (i + 1)) for i in range(16)]
    pack_ip = struct.Struct("!BBHHHBBHII").pack
    for t, inner in frames(n, seed):
        h = sum(inner[26:34]) if len(inner) >= 34 else 0  # the tenant's IPv4 addresses (or ARP bytes)
        src, dst = inner[11] % 16, inner[5] % 16  # the hosts of the tenant's MACs
        (smac, sip), (dmac, dip) = hosts[src], hosts[dst if dst != src else (src + 1) % 16]
        vni = 5000 + h % 8
        payload = struct.pack("!HHHHB3xI", 49152 + (h * 2654435761 >> 7) % 16384, 4789, 16 + len(inner), 0, 0x08,
                              vni << 8) + inner
        hdr = pack_ip(0x45, 0, 20 + len(payload), 0, 0x4000, 64, 17, 0, sip, dip)
        hdr = hdr[:10] + struct.pack("!H", checksum(hdr)) + hdr[12:]
        yield t, _eth(dmac, smac, 0x0800, hdr + payload)


_TRAFFIC = {"mixed": frames, "apps": app_frames, "vxlan": vxlan_frames,
            "web": lambda n, seed=7: frames(n, seed, web=True)}


def write_pcap(path: Path, n: int, seed: int = 7, traffic: str = "mixed") -> Path:
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
        pack = struct.Struct("<IIII").pack
        for t, data in _TRAFFIC[traffic](n, seed):
            f.write(pack(t // 1_000_000_000, (t // 1000) % 1_000_000, len(data), len(data)))
            f.write(data)
    return path


def write_pcapng(path: Path, n: int, seed: int = 7) -> Path:
    with open(path, "wb") as f:
        f.write(struct.pack("<IIIHHqI", 0x0A0D0D0A, 28, 0x1A2B3C4D, 1, 0, -1, 28))
        f.write(struct.pack("<IIHHI", 1, 20, 1, 0, 262144) + struct.pack("<I", 20))
        for t, data in frames(n, seed):
            us = t // 1000
            pad = (-len(data)) % 4
            total = 32 + len(data) + pad
            f.write(struct.pack("<IIIIIII", 6, total, 0, us >> 32, us & 0xFFFFFFFF, len(data), len(data)))
            f.write(data + b"\0" * pad + struct.pack("<I", total))
    return path


def cached(kind: str, n: int, folder: Path | None = None, traffic: str = "mixed") -> Path:
    """A generated file under benchmarks/out/, made once (``traffic="apps"``: ``app_frames``,
    ``"vxlan"``: ``vxlan_frames``; ``"web"``: ``frames`` with HTTP and TLS in the TCP data; all pcap)."""
    folder = folder or Path(__file__).resolve().parent / "out"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (f"synthetic_{n}.{kind}" if traffic == "mixed" else f"synthetic_{traffic}_{n}.{kind}")
    if not path.exists():
        tmp = path.with_suffix(".tmp")
        if traffic != "mixed":
            write_pcap(tmp, n, traffic=traffic)
        else:
            (write_pcapng if kind == "pcapng" else write_pcap)(tmp, n)
        tmp.replace(path)
    return path


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("frames", type=int)
    p.add_argument("output", type=Path)
    p.add_argument("--pcapng", action="store_true")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--traffic", choices=sorted(_TRAFFIC), default="mixed", help="pcap only for other than mixed")
    a = p.parse_args()
    if a.pcapng:
        write_pcapng(a.output, a.frames, a.seed)
    else:
        write_pcap(a.output, a.frames, a.seed, a.traffic)


if __name__ == "__main__":
    main()
