"""Netmon index throughput: through the frame table, and by walking the records of a file cut
short (no table), for Netmon 1.x and 2.x files editcap writes from the synthetic pcap.

    python benchmarks/bench_netmon.py [--frames 1000000]

Each measurement runs in a fresh interpreter (``bench_index.run_child``); needs editcap.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_index import run_child
from gen_traces import cached


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=1_000_000)
    args = ap.parse_args()
    editcap = shutil.which("editcap")
    if editcap is None:
        sys.exit("editcap is needed to write the Netmon files")
    src = cached("pcap", args.frames)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, TRACEMON_CACHE_DIR=tmp, TZ="UTC")
        for fmt in ("netmon1", "netmon2"):
            path = Path(tmp) / f"{fmt}.cap"
            subprocess.run([editcap, "-F", fmt, str(src), str(path)], check=True, env=env, capture_output=True)
            cut = Path(tmp) / f"{fmt}.cut.cap"
            data = path.read_bytes()
            cut.write_bytes(data[: len(data) - 4 * args.frames - 1])  # the frame table is the last part
            for how, p in (("table", path), ("walk", cut)):
                r = run_child(p, "nocache", env)
                rows.append((fmt, how, p.stat().st_size / 1e6, r))
    print(f"{'format':<9}{'read by':<8}{'frames':>10}{'MB':>8}{'index s':>9}{'frames/s':>12}{'peak MB':>9}")
    for fmt, how, size_mb, r in rows:
        peak = (r["peak_kb"] - r["base_kb"]) / 1024
        print(f"{fmt:<9}{how:<8}{r['frames']:>10,}{size_mb:>8.0f}{r['seconds']:>9.2f}"
              f"{r['frames'] / r['seconds']:>12,.0f}{peak:>9.0f}")


if __name__ == "__main__":
    main()
