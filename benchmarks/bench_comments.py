"""Frame comments at scale: indexing a pcapng whose packets carry ``opt_comment`` on every Nth
frame, finding the commented rows, and the ``Frame.Comment`` filters, next to ``tshark -Y``.

    python benchmarks/bench_comments.py [--frames 1000000] [--every 1000] [--no-tshark]

The packets are ``gen_traces.frames`` (the deterministic synthetic trace); every ``--every``-th
one gets a comment "note k" (every 10th of those also a second line).  Indexing is timed without
the index cache; each filter on fresh per-trace state (what a user waits for), then warm.
"""

from __future__ import annotations

import argparse
import shutil
import struct
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gen_traces import frames
from timing import timed
from timing import tshark as run_tshark

OUT = Path(__file__).resolve().parent / "out"


def write_commented_pcapng(path: Path, n: int, every: int) -> Path:
    with open(path, "wb") as f:
        f.write(struct.pack("<IIIHHqI", 0x0A0D0D0A, 28, 0x1A2B3C4D, 1, 0, -1, 28))
        f.write(struct.pack("<IIHHI", 1, 20, 1, 0, 262144) + struct.pack("<I", 20))
        for k, (t, data) in enumerate(frames(n)):
            us = t // 1000
            pad = (-len(data)) % 4
            opts = b""
            if k % every == 0:
                text = f"note {k}" + ("\nsecond line" if k % (every * 10) == 0 else "")
                raw = text.encode()
                opts = struct.pack("<HH", 1, len(raw)) + raw + b"\0" * ((-len(raw)) % 4) + struct.pack("<HH", 0, 0)
            total = 32 + len(data) + pad + len(opts)
            f.write(struct.pack("<IIIIIII", 6, total, 0, us >> 32, us & 0xFFFFFFFF, len(data), len(data)))
            f.write(data + b"\0" * pad + opts + struct.pack("<I", total))
    return path



def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--frames", type=int, default=1_000_000)
    p.add_argument("--every", type=int, default=1000)
    p.add_argument("--no-tshark", action="store_true")
    a = p.parse_args()

    from tracemon.filters import compile_filter
    from tracemon.filters.indexed import _STATES
    from tracemon.traces import open_trace
    from tracemon.traces.comments import _CACHE, comment_rows

    OUT.mkdir(exist_ok=True)
    path = OUT / f"commented_{a.frames}_{a.every}.pcapng"
    if not path.exists():
        write_commented_pcapng(path, a.frames, a.every)
    trace, secs = timed(lambda: open_trace(path, use_cache=False))
    n = len(trace)
    rows: list[tuple[str, str, str]] = [("index (no cache)", f"{secs:.2f} s", f"{n / secs:,.0f} frames/s")]
    found, secs = timed(lambda: comment_rows(trace))
    rows.append(("commented rows, first", f"{secs * 1000:.1f} ms", f"{len(found):,} rows"))
    _, secs = timed(lambda: comment_rows(trace))
    rows.append(("commented rows, cached", f"{secs * 1000:.3f} ms", ""))
    tshark = shutil.which("tshark") if not a.no_tshark else None
    for expr, ts_expr in (("Frame.Comment", "frame.comment"),
                          ('Frame.Comment.Contains("second")', 'frame.comment contains "second"'),
                          ("!Frame.Comment AND TCP", "!frame.comment && tcp")):
        _STATES.pop(trace, None)
        _CACHE.pop(trace, None)
        cf = compile_filter(expr, registry=trace.registry, trace=trace)
        mask, cold = timed(lambda cf=cf: cf.evaluate(trace))
        _, warm = timed(lambda cf=cf: cf.evaluate(trace))
        count = int(np.count_nonzero(mask))
        note = f"{count:,} match; {n / cold:,.0f} frames/s cold"
        if tshark:
            got = run_tshark(path, ts_expr)
            if got is not None:
                note += f"; tshark {got[0]:.2f} s ({got[1]:,} match)"
        rows.append((expr, f"{cold * 1000:.1f} / {warm * 1000:.1f} ms", note))
    w = max(len(r[0]) for r in rows)
    print(f"{a.frames:,} frames, a comment every {a.every}")
    for name, t, note in rows:
        print(f"  {name:<{w}}  {t:>18}  {note}")


if __name__ == "__main__":
    main()
