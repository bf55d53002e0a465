"""Small timing helpers the benchmark scripts share, and tshark timed on the same file."""

from __future__ import annotations

import shutil
import statistics
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    """``fn()``'s result and the wall seconds it took."""
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def median_seconds(fn: Callable[[], Any], repeat: int) -> float:
    """The median wall time of ``repeat`` calls (a shared machine's noise hits single runs)."""
    return statistics.median(timed(fn)[1] for _ in range(max(1, repeat)))


def tshark(path: Path, expr: str, *options: str) -> tuple[float, int] | None:
    """(seconds, frames) of ``tshark -Y expr`` on ``path`` without reassembly (``options``: more
    ``-o`` preferences), or None without tshark or when it refuses the filter.

    tshark runs as a user would count matches: its one summary line per displayed frame, counted.
    ``-T fields -e frame.number`` would be tidier to count, but it makes tshark build the full
    protocol tree of every frame: twice the time on these traces, which flattered every ratio
    taken against it (the figures before December 2026 were)."""
    exe = shutil.which("tshark")
    if exe is None:
        return None
    prefs = ["ip.defragment:FALSE", "tcp.desegment_tcp_streams:FALSE", *options]
    cmd = [exe, "-n", *(x for pref in prefs for x in ("-o", pref)), "-r", str(path), "-Y", expr]
    res, s = timed(lambda: subprocess.run(cmd, capture_output=True, text=True, check=False))
    return (s, sum(1 for line in res.stdout.splitlines() if line.strip())) if res.returncode == 0 else None
