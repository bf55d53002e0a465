"""Index rate of traffic on the ports of NTP, DHCPv6, SSDP and RDP (TLS after negotiation), next to
tshark filtering the same file.

    python benchmarks/bench_app_ports.py [--frames 300000]

These ports are classified by the index's array rules (fastapps): the table shows how fast a
capture made only of them is indexed cold, how many of its rows went through the Python
dissectors (only RDP's TPKT connection setup should), and tshark's time for ``-Y`` on the file.
"""

from __future__ import annotations

import argparse
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _ip_udp(sport: int, dport: int, payload: bytes, v6: bool = False) -> bytes:
    u = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    if v6:
        ip = struct.pack("!IHBB", 0x60000000, len(u), 17, 64) + socket.inet_pton(socket.AF_INET6, "fe80::1") + \
            socket.inet_pton(socket.AF_INET6, "ff02::1:2")
        return b"\x33\x33\x00\x01\x00\x02\x02\x00\x00\x00\x00\x01\x86\xdd" + ip + u
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(u), 0, 0, 64, 17, 0, socket.inet_aton("10.0.0.1"),
                     socket.inet_aton("10.0.0.2"))
    return b"\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x08\x00" + ip + u


def _ip_tcp(sport: int, dport: int, payload: bytes, seq: int) -> bytes:
    t = struct.pack("!HHIIHHHH", sport, dport, seq, 1, 0x5018, 8192, 0, 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(t), 0, 0, 64, 6, 0, socket.inet_aton("10.0.0.1"),
                     socket.inet_aton("10.0.0.3"))
    return b"\x02\x00\x00\x00\x00\x03\x02\x00\x00\x00\x00\x01\x08\x00" + ip + t


def templates() -> list[bytes]:
    ntp = struct.pack("!BBbbII4s4Q", 0x24, 2, 6, -23, 1, 2, b"\x0a\x00\x00\x35", 1, 2, 3, 4)
    dhcpv6 = (b"\x01\x12\x34\x56" + struct.pack("!HH", 8, 2) + b"\x00\x0a"
              + struct.pack("!HHHHI", 1, 14, 1, 1, 7) + bytes(6))
    ssdp = (b"M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: \"ssdp:discover\"\r\nMX: 1\r\n"
            b"ST: ssdp:all\r\n\r\n")
    tls = b"\x17\x03\x03\x00\x40" + bytes(64)
    return [_ip_udp(50123, 123, ntp), _ip_udp(546, 547, dhcpv6, v6=True), _ip_udp(50190, 1900, ssdp),
            _ip_tcp(50389, 3389, tls, 1000)]


def write(path: Path, n: int) -> None:
    frames = templates()
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
        for i in range(n):
            data = frames[i % len(frames)]
            f.write(struct.pack("<IIII", 1_700_000_000 + i // 1000, i % 1000, len(data), len(data)) + data)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=300_000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "app_ports.pcap"
        write(path, args.frames)
        from tracemon.traces import classify, open_trace

        scalar = [0]
        original = classify.classify_scalar

        def counting(*a: object, **kw: object) -> object:
            scalar[0] += len(a[4])  # type: ignore[arg-type]
            return original(*a, **kw)  # type: ignore[arg-type]

        classify.classify_scalar = counting  # type: ignore[assignment]
        t0 = time.perf_counter()
        trace = open_trace(path, use_cache=False)
        ours = time.perf_counter() - t0
        classify.classify_scalar = original
        print(f"{'what':<40} {'frames':>9} {'seconds':>9} {'frames/s':>11}")
        print(f"{'tracemon index (cold, no cache)':<40} {len(trace):>9} {ours:>9.2f} {len(trace) / ours:>11,.0f}")
        print(f"{'  rows through the Python dissectors':<40} {scalar[0]:>9}")
        tshark = shutil.which("tshark")
        if tshark:
            t0 = time.perf_counter()
            subprocess.run([tshark, "-n", "-r", str(path), "-Y", "ntp || dhcpv6 || ssdp || tls"], check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            theirs = time.perf_counter() - t0
            print(f"{'tshark -Y (same file)':<40} {args.frames:>9} {theirs:>9.2f} {args.frames / theirs:>11,.0f}")
        else:
            print("tshark not found", file=sys.stderr)


if __name__ == "__main__":
    main()
