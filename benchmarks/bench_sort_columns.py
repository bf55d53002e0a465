"""Sorting the frame list by a field shown as a column: from its field column (an array sort of
ranks, ``traces/coltext.py``) against decoding every frame (the way it went before columns).

    python benchmarks/bench_sort_columns.py [--frames 1000000] [--etl-events 200000]

For each field: the first sort (the column is built: the cached copy is removed first), a later
sort in the same process (column and texts in memory), a sort after reopening (the column
memory-mapped from the index cache), and the decoding sort, measured on a slice of
``--decode-rows`` frames and given per frame and scaled to the whole trace (decoding a million
frames takes minutes).  Traces are the deterministic synthetic ones of ``gen_traces.py`` and
``bench_etl.py``, generated once into ``benchmarks/out/``.  tshark has no equivalent (it does not
sort), so none is run.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_filters import compressed_etl_path
from gen_traces import cached

VMS = "VMSWITCH_MicrosoftWindowsHyperVVmSwitch"


def _open(path: Path):
    from tracemon.traces import open_trace

    trace = open_trace(path)
    if not trace.complete.is_set():
        for _ in trace.scan():
            pass
    return trace


def row(path: Path, name: str, decode_rows: int) -> None:
    from tracemon.traces import cache
    from tracemon.tui import columns as _columns
    from tracemon.tui.view import Sort, _sort_decoded, sort_rows

    trace = _open(path)
    n = len(trace)
    folder = cache.field_column_dir(trace)
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)  # the first sort builds the column
    sort = Sort(name)
    t0 = time.perf_counter()
    first_rows = sort_rows(trace, None, sort)
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    later_rows = sort_rows(trace, None, Sort(name, descending=True))
    later = time.perf_counter() - t0
    trace.close()
    trace = _open(path)
    t0 = time.perf_counter()
    reopened_rows = sort_rows(trace, None, sort)
    reopened = time.perf_counter() - t0
    assert first_rows is not None and later_rows is not None and reopened_rows is not None
    assert np.array_equal(first_rows, reopened_rows)
    col = _columns.column(name, trace)
    sample = np.arange(min(decode_rows, n), dtype=np.uint32)
    t0 = time.perf_counter()
    _sort_decoded(trace, col, sample, sort, None, None)
    per = (time.perf_counter() - t0) / max(len(sample), 1)
    # the column's order equals the decoded order on the slice
    mine = sort_rows(trace, sample, sort)
    ref = _sort_decoded(trace, col, sample, sort, None, None)
    same = "yes" if np.array_equal(mine, ref) else "NO"
    label = name if len(name) <= 48 else "…" + name[-47:]
    print(f"{path.name:<34} {label:<48} {n:>9,} {first:>8.2f} {later:>8.3f} {reopened:>8.3f} "
          f"{n / later:>12,.0f} {per * 1e6:>9.1f} {per * n:>10.0f} {same:>6}")
    trace.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames", type=int, default=1_000_000)
    ap.add_argument("--etl-events", type=int, default=200_000)
    ap.add_argument("--decode-rows", type=int, default=20_000)
    args = ap.parse_args()
    from tracemon.filters.names import ensure_etw

    ensure_etw()
    pcap = cached("pcap", args.frames)
    etl = compressed_etl_path(args.etl_events)
    print(f"{'trace':<34} {'sort by':<48} {'frames':>9} {'first s':>8} {'later s':>8} {'reopen s':>8} "
          f"{'later fr/s':>12} {'dec µs/fr':>9} {'decode s*':>10} {'same':>6}")
    row(pcap, "DNS.QRecord.QuestionName", args.decode_rows)
    row(etl, f"{VMS}.VM_NBL_ROUTE.SwitchName", args.decode_rows)
    row(etl, f"{VMS}.VM_NBL_ROUTE.DestNicFName", args.decode_rows)
    row(etl, f"{VMS}.VM_NBL_INCOMING_DROP.DropReason", args.decode_rows)
    print("first: the column built, then sorted; later: sorted again (descending); reopen: a new trace "
          "object, the column memory-mapped from the cache.\n*decode s: the decoding sort's time per frame "
          f"(on {args.decode_rows:,} frames) times the trace's frames.  same: the column's order equals "
          "the decoded order on that slice.")


if __name__ == "__main__":
    main()
