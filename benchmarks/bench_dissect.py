"""Dissection cost per frame kind (µs per frame, fields per frame) on synthetic and sample frames.

    python benchmarks/bench_dissect.py [--frames 20000]

Frames come from ``gen_traces.frames`` (the benchmark traffic mix) and the repository's sample
traces; each kind is timed over all its frames, best of three runs.  Next to the total we print
tshark's time for a full dissection of the same frames written to a pcap (``-T fields`` with
the fields our comparison tests use), for scale.
"""

from __future__ import annotations

import argparse
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gen_traces import frames as synthetic_frames
from tracemon.traces import open_trace
from tracemon.traces.dissect import dissect

SAMPLES = Path(__file__).resolve().parent.parent.parent / "shared" / "samples"


def kind_of(data: bytes, link: int) -> str:
    ctx = dissect(data, link)
    names = [layer.name for layer in ctx.layers if layer.name != "Payload"]
    return " > ".join(names[1:] if len(names) > 1 else names)


def sample_frames() -> list[tuple[int, bytes]]:
    out = []
    for folder in ("pcap", "pcapng", "netmon"):
        for path in sorted((SAMPLES / folder).glob("*")):
            with open_trace(path, use_cache=False) as trace:
                for i in range(len(trace)):
                    f = trace.frame(i)
                    if f.kind == "packet":
                        out.append((f.link_type, f.data))
    return out


def time_group(items: list[tuple[int, bytes]]) -> tuple[float, float]:
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        for link, data in items:
            dissect(data, link)
        best = min(best, time.perf_counter() - t0)
    fields = sum(sum(1 for layer in dissect(d, lk).layers for f in layer.walk()) for lk, d in items) / len(items)
    return best / len(items) * 1e6, fields


def tshark_seconds(items: list[tuple[int, bytes]]) -> float | None:
    exe = shutil.which("tshark")
    eth = [d for lk, d in items if lk == 1]
    if exe is None or not eth:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.pcap"
        with open(path, "wb") as f:
            f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
            f.writelines(struct.pack("<IIII", i, 0, len(d), len(d)) + d for i, d in enumerate(eth))
        cmd = [exe, "-r", str(path), "-o", "tcp.desegment_tcp_streams:FALSE", "-T", "fields"]
        for name in ("ip.src", "ip.dst", "tcp.srcport", "tcp.dstport", "udp.srcport", "tcp.flags", "dns.qry.name"):
            cmd += ["-e", name]
        t0 = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        return (time.perf_counter() - t0) / len(eth) * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=20000)
    args = ap.parse_args()
    items = [(1, data) for _, data in synthetic_frames(args.frames)]
    if SAMPLES.is_dir():
        items += sample_frames()
    groups: dict[str, list[tuple[int, bytes]]] = defaultdict(list)
    for link, data in items:
        groups[kind_of(data, link)].append((link, data))
    print(f"{'frame kind':<48} {'frames':>7} {'µs/frame':>9} {'fields':>7}")
    rows = sorted(groups.items(), key=lambda kv: -len(kv[1]))
    for kind, group in rows[:18]:
        us, fields = time_group(group)
        print(f"{kind[:48]:<48} {len(group):>7} {us:>9.1f} {fields:>7.0f}")
    us, fields = time_group(items)
    print(f"{'all frames':<48} {len(items):>7} {us:>9.1f} {fields:>7.0f}")
    ts = tshark_seconds(items)
    if ts is not None:
        print(f"{'tshark -T fields, same Ethernet frames':<48} {'':>7} {ts:>9.1f}")


if __name__ == "__main__":
    main()
