"""ETL index throughput and memory, uncompressed and compressed, next to dissect.etl on the same file.

    python benchmarks/bench_etl.py [--events 1000000] [--dissect-seconds 20]

Writes two synthetic netsh-like traces with the test writer (VmSwitch NBL datapath events,
NDIS-PacketCapture 1001/1003 packets, lifecycle events; 4 CPUs) into a temp dir, indexes each in
a fresh interpreter (so ru_maxrss belongs to that run) and prints a table.  dissect.etl is far
slower: it runs on a time budget and its rate is extrapolated (said so in the table).  Also times
the MS-XCA decoders on the compressed file's buffers: ours (C extension and the pure-Python
fallback), xpress-lz77 and dissect.util's lzxpress when installed.
"""

from __future__ import annotations

import argparse
import json
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = r"""
import json, resource, sys, time
from tracemon.traces import open_trace
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.perf_counter()
tr = open_trace(sys.argv[1], use_cache=False)
sec = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"events": len(tr), "seconds": sec, "index_bytes": tr.index.nbytes, "peak_kb": peak,
                  "base_kb": base, "workers_peak_kb": kids, "packets": tr.facts.get("packet_events"),
                  "inflated": tr.facts.get("inflated_bytes"), "warnings": [w.message for w in tr.warnings]}))
"""

DISSECT = r"""
import json, sys, time
from dissect.etl import ETL
budget = float(sys.argv[2])
n = 0
t0 = time.perf_counter()
with open(sys.argv[1], "rb") as f:
    for rec in ETL(f):
        rec.header.timestamp
        n += 1
        if n % 1000 == 0 and time.perf_counter() - t0 > budget:
            break
print(json.dumps({"events": n, "seconds": time.perf_counter() - t0}))
"""


def write_trace(path: Path, events: int, compressed: bool) -> float:
    from tracemon.traces.etw import writer as W

    t0 = time.perf_counter()
    sw = ("8F2A6C1E-4B3D-4E5F-9A0B-1C2D3E4F5A6B", "External")
    nics = [(f"{k:08X}-0000-4000-8000-00155D0000{k:02X}", f"vm{k:02d} Network Adapter") for k in range(16)]
    tcp = struct.pack(">HHIIBBHHH", 40000, 443, 1, 1, 5 << 4, 0x18, 8192, 0, 0) + bytes(20)
    frame = bytes.fromhex("00155d000001" "00155d000002" "0800") + bytes(
        [0x45, 0, 0, 60, 0, 0, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]) + tcp
    with W.EtlWriter(path, compressed=compressed, cpus=4, buffer_size=64 * 1024) as w:
        W.vms_switch(w, 9, sw, ts_ns=w.start_ns + 100)
        t = w.start_ns + 1000
        i = 0
        while w.events < events:
            cpu = i & 3
            t += 1700
            src, dst = nics[i % 16], nics[(i * 7 + 3) % 16]
            addr = 0xFFFF_C30F_4A20_0000 + 0x1F0 * i
            k = i % 10
            if k < 3:
                W.vms_nbl(w, W.VM_NBL_RECEIVE, src, sw, addr, ts_ns=t, cpu=cpu)
            elif k < 5:
                W.vms_route(w, src, dst, sw, addr, ts_ns=t, cpu=cpu)
            elif k < 7:
                W.vms_nbl(w, W.VM_NBL_DELIVER, dst, sw, addr, ts_ns=t, cpu=cpu)
            elif k < 9:
                f = frame[:34] + struct.pack(">HHI", 40000 + i % 2000, 443, i) + frame[42:]
                W.ndis_packet(w, f, miniport=7, lower=7, send=bool(i & 1), ts_ns=t, cpu=cpu)
            elif i % 1000 == 9:
                W.vms_drop(w, W.VM_NBL_INCOMING_DROP, dst, sw, 0xC000009A, ts_ns=t, cpu=cpu)
            else:
                W.ndis_vmswitch_packet(w, frame, miniport=7, lower=17, port_id=i % 16, port_name=f"PORT-{i % 16}",
                                       nic_name=src[1], nic_type="Synthetic", send=False, destinations=[1],
                                       ts_ns=t, cpu=cpu)
            i += 1
    return time.perf_counter() - t0


def run(code: str, *args: str) -> dict:
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def decoders(path: Path, limit_bytes: int = 20 << 20) -> list[tuple[str, float, str]]:
    from tracemon.traces.etw.xpress import _native, decompress, decompress_python

    data = path.read_bytes()
    bufs = []
    off = 0
    total = 0
    while off + 0x48 <= len(data) and total < limit_bytes:
        size, = struct.unpack_from("<I", data, off)
        filled, flags = struct.unpack_from("<IH", data, off + 0x30)
        if flags & 0x40:
            bufs.append((data[off + 0x48 : off + size], filled - 0x48))
            total += size
        off += size
    comp = sum(len(b) for b, _ in bufs)
    rows = []
    t0 = time.perf_counter()
    mine = [decompress(b, n) for b, n in bufs]
    label = "tracemon (C extension, MIT)" if _native is not None else "tracemon (pure Python, MIT)"
    rows.append((label, comp / (time.perf_counter() - t0) / 1e6, "used"))
    if _native is not None:
        few = bufs[: max(1, len(bufs) // 10)]
        t0 = time.perf_counter()
        ok = all(decompress_python(b, n) == m for (b, n), m in zip(few, mine, strict=False))
        rows.append(("tracemon pure-Python fallback", sum(len(b) for b, _ in few) / (time.perf_counter() - t0) / 1e6,
                     "identical" if ok else "DIFFERENT"))
    try:
        import xpress_lz77

        t0 = time.perf_counter()
        ok = all(bytes(xpress_lz77.lz77_plain_decompress_py(b)) == m for (b, _), m in zip(bufs, mine, strict=True))
        rows.append(("xpress-lz77 (Rust, GPL-3.0)", comp / (time.perf_counter() - t0) / 1e6,
                     "identical" if ok else "DIFFERS"))
    except ImportError:
        rows.append(("xpress-lz77", 0.0, "not installed"))
    try:
        from dissect.util.compression import lzxpress

        few = bufs[:20]
        t0 = time.perf_counter()
        ok = all(lzxpress.decompress(b) == m for (b, _), m in zip(few, mine, strict=False))
        rows.append(("dissect.util lzxpress (AGPL-3.0)", sum(len(b) for b, _ in few) / (time.perf_counter() - t0) / 1e6,
                     "identical" if ok else "DIFFERS"))
    except ImportError:
        rows.append(("dissect.util", 0.0, "not installed"))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--dissect-seconds", type=float, default=20.0)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="tracemon-bench-") as tmp:
        print(f"{'file':<14}{'events':>10}{'MB':>8}{'write s':>9}{'index s':>9}{'events/s':>11}{'MB/s':>8}"
              f"{'B/event':>9}{'peak MB':>9}{'dissect ev/s':>14}")
        for compressed in (False, True):
            path = Path(tmp) / ("compressed.etl" if compressed else "plain.etl")
            wsec = write_trace(path, args.events, compressed)
            mb = path.stat().st_size / 1e6
            ours = run(CHILD, str(path))
            theirs = run(DISSECT, str(path), str(args.dissect_seconds))
            d_rate = theirs["events"] / theirs["seconds"]
            partial = theirs["events"] < ours["events"]
            rate = ours["events"] / ours["seconds"]
            peak = max(ours["peak_kb"], ours["workers_peak_kb"]) / 1024
            print(f"{path.name:<14}{ours['events']:>10}{mb:>8.1f}{wsec:>9.1f}{ours['seconds']:>9.2f}{rate:>11,.0f}"
                  f"{mb / ours['seconds']:>8.1f}{ours['index_bytes'] / ours['events']:>9.1f}{peak:>9.0f}"
                  f"{d_rate:>13,.0f}{'*' if partial else ' '}")
            if ours["warnings"]:
                print("   warnings:", ours["warnings"][:3])
            if compressed:
                print(f"   compressed file: {ours['inflated'] / 1e6:.0f} MB inflated "
                      f"({ours['inflated'] / 1e6 / ours['seconds']:.1f} MB/s inflated)")
                print("\nMS-XCA decoders on the same buffers (MB/s of compressed input, one core):")
                for name, speed, note in decoders(path):
                    print(f"   {name:<36}{speed:>8.1f}  {note}")
        print("\n* dissect.etl ran on a prefix for its time budget; its rate is extrapolated from that prefix."
              "\n  MB/s = file bytes (compressed buffers for the compressed file) per second of indexing."
              "\n  peak MB = max(ru_maxrss of the indexing process, of its worker processes).")


if __name__ == "__main__":
    main()
