"""Index throughput, memory and cached re-open for pcap / pcapng, next to tshark on the same file.

    python benchmarks/bench_index.py [--frames 1000000] [--repeat 3] [--no-tshark]

Each measurement runs in a fresh interpreter so peak memory (ru_maxrss) belongs to that run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gen_traces import cached

CHILD = r"""
import json, os, resource, sys, time
t0 = time.perf_counter()
from tracemon.traces import open_trace
t_import = time.perf_counter() - t0
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t1, c1 = time.perf_counter(), time.process_time()
trace = open_trace(sys.argv[1], use_cache=sys.argv[2] == "cache")
elapsed, cpu = time.perf_counter() - t1, time.process_time() - c1
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
conv = len(trace.ip_conversations) + len(trace.l4_conversations) + len(trace.eth_conversations)
conv += len(getattr(trace, "tunnel_conversations", ()))
print(json.dumps({"frames": len(trace), "seconds": elapsed, "cpu": cpu, "import": t_import, "index_bytes": trace.index.nbytes,
                  "peak_kb": peak, "base_kb": base, "from_cache": trace.from_cache, "conversations": conv,
                  "warnings": [w.message for w in trace.warnings]}))
"""


def run_child(path: Path, mode: str, env: dict[str, str]) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, str(path), mode], capture_output=True, text=True, env=env,
                         check=True)
    return json.loads(out.stdout)


def netmon_copy(pcap: Path) -> Path | None:
    """The pcap as a Netmon 2.x capture (``editcap -F netmon2``, kept beside it); None without editcap."""
    out = pcap.with_suffix(".netmon2.cap")
    exe = shutil.which("editcap")
    if not out.exists() and exe is not None:
        tmp = out.with_suffix(".tmp")
        subprocess.run([exe, "-F", "netmon2", str(pcap), str(tmp)], check=True, capture_output=True)
        tmp.replace(out)
    return out if out.exists() else None


def tshark_seconds(path: Path) -> float | None:
    """tshark listing every frame (its one summary line each), as a user lists a capture: not
    ``-T fields``, which builds every frame's full protocol tree (about twice the time)."""
    exe = shutil.which("tshark")
    if exe is None:
        return None
    t0 = time.perf_counter()
    subprocess.run([exe, "-n", "-r", str(path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=1_000_000)
    ap.add_argument("--no-tshark", action="store_true")
    ap.add_argument("--repeat", type=int, default=3,
                    help="first opens per trace (the row is the run of median time: one run swings ±20%% on a busy "
                         "machine)")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, TRACEMON_CACHE_DIR=cache, TRACEMON_CACHE_MIN_BYTES="0")
        for kind, traffic in (("pcap", "mixed"), ("pcapng", "mixed"), ("netmon", "mixed"), ("pcap", "apps"),
                              ("pcap", "vxlan")):
            path = netmon_copy(cached("pcap", args.frames)) if kind == "netmon" else cached(kind, args.frames,
                                                                                              traffic=traffic)
            if path is None:
                continue
            size_mb = path.stat().st_size / 1e6
            runs = sorted((run_child(path, "nocache", env) for _ in range(max(1, args.repeat))),
                          key=lambda r: r["seconds"])
            cold = runs[len(runs) // 2]
            run_child(path, "cache", env)  # writes the cache entry
            warm = run_child(path, "cache", env)
            ts = None if args.no_tshark else tshark_seconds(path)
            rows.append((kind if traffic == "mixed" else f"{kind}+{traffic}", size_mb, cold, warm, ts))
    print(f"{'format':<11}{'frames':>10}{'MB':>8}{'index s':>9}{'frames/s':>12}{'cpu s':>7}{'cpu f/s':>11}{'MB/s':>8}"
          f"{'B/frame':>9}"
          f"{'peak MB':>9}{'cached s':>10}{'tshark s':>10}{'tshark f/s':>12}")
    for kind, size_mb, cold, warm, ts in rows:
        n = cold["frames"]
        fps = n / cold["seconds"]
        per = cold["index_bytes"] / n
        peak = (cold["peak_kb"] - cold["base_kb"]) / 1024
        tss = f"{ts:>10.2f}{n / ts:>12,.0f}" if ts else f"{'-':>10}{'-':>12}"
        print(f"{kind:<11}{n:>10,}{size_mb:>8.0f}{cold['seconds']:>9.2f}{fps:>12,.0f}{cold['cpu']:>7.2f}"
              f"{n / cold['cpu']:>11,.0f}{size_mb / cold['seconds']:>8.0f}"
              f"{per:>9.1f}{peak:>9.0f}{warm['seconds']:>10.3f}{tss}")
        assert warm["from_cache"], "the third open should come from the cache"
    print("\nnetmon: the mixed pcap written as a Netmon 2.x capture by editcap (left out without it);"
          "\npcap+apps: HTTP, TLS, SMB2, mDNS, LLMNR and NetBIOS names on their ports and HTTP on any port"
          " (gen_traces.app_frames);"
          "\npcap+vxlan: the mixed traffic as tenants in VXLAN between 16 hosts, 8 VNIs (gen_traces.vxlan_frames);"
          "\nindex s: first open (no cache), the median of --repeat runs; cpu s: its CPU time (user + system: what a busy shared machine"
          " changes least); cached s: re-open of the unchanged file from the index cache;"
          "\npeak MB: resident memory added by the open (includes the mapped pages touched and conversation tables).")


if __name__ == "__main__":
    main()
