"""Display-filter speed: compile time per expression, and filter throughput on a 1,000,000-frame
pcap (and a 1,000,000-event ETL) next to ``tshark -Y`` with the equivalent filter on the same file.

    python benchmarks/bench_filters.py [--frames 1000000] [--no-tshark] [--no-etl] [--columns-only] [--no-pcap]
                                       [--fixed-only]

The pcap is the deterministic synthetic trace of ``gen_traces.py`` (TCP sessions, DNS, ARP,
IPv6, ICMP); the ETL is ``bench_etl.write_trace``'s netsh-like VmSwitch + NDIS trace.  Both are
generated once into ``benchmarks/out/`` and indexed once (the index cache makes re-runs quick);
indexing is not part of the filter figures.  Each filter is timed on a fresh copy of its per-trace
state (the first evaluation, what a user waits for) and again warm.  Match counts are checked
against tshark's.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gen_traces import cached
from timing import tshark

OUT = Path(__file__).resolve().parent / "out"

#: (Netmon filter, tshark equivalent or None)
PCAP_FILTERS: list[tuple[str, str | None]] = [
    ("TCP", "tcp"),
    ("DNS", "dns"),
    ("!(TCP OR UDP)", "!(tcp || udp)"),
    ("ARP OR IPv6", "arp || ipv6"),
    ("IPv4.Address == 10.0.0.20 AND TCP.Port == 445", "ip.addr == 10.0.0.20 && tcp.port == 445"),
    ("IPv4.SourceAddress == 192.168.0.7 AND TCP.DstPort >= 60000", "ip.src == 192.168.0.7 && tcp.dstport >= 60000"),
    ("TCP.Flags.Syn == 1 AND TCP.Flags.Ack == 0", "tcp.flags.syn == 1 && tcp.flags.ack == 0"),
    ("UDP.Port in [53, 67, 68]", "udp.port in {53, 67, 68}"),
    ("IPv4.Address in 192.168.0.0/24 AND !TCP", "ip.addr == 192.168.0.0/24 && !tcp"),
    ("FrameVariable.FrameNumber < 500000 AND TCP.Port == 80", "frame.number <= 500000 && tcp.port == 80"),
    ('ContainsBin(FrameData, ASCII, "host17")', 'frame contains "host17"'),
    ('contains "HOST17"', 'frame matches "(?i)host17"'),
    ("ICMP AND IPv4.Address == 10.0.0.20", "icmp && ip.addr == 10.0.0.20"),
    ('DNS.QRecord.QuestionName.Contains("host17.")', 'dns.qry.name contains "host17."'),
    # the generator reuses one sequence counter for both directions, so Wireshark's retransmission
    # analysis disagrees on this file by construction; the row shows the cost of the analysis
    ("Property.TCPRetransmit == 1", None),
    ("Property.TCPSynUnanswered == 1", None),
]

VMS = "VMSWITCH_MicrosoftWindowsHyperVVmSwitch"
NOISE = ("!(VMSWITCH_MicrosoftWindowsHyperVVmSwitch.VM_NBL_DELIVER OR VMSWITCH_MicrosoftWindowsHyperVVmSwitch."
         "VM_NBL_RECEIVE OR VMSWITCH_MicrosoftWindowsHyperVVmSwitch.VM_NBL_ROUTE)")

ETL_FILTERS: list[tuple[str, str | None]] = [
    (NOISE, None),
    ("VMSWITCH_MicrosoftWindowsHyperVVmSwitch.VM_NBL_INCOMING_DROP", None),
    ("NetEvent.Header.Descriptor.Id == 1001", None),
    ("TCP.Port == 443 AND IPv4.Address == 10.0.0.1", None),
    # the string-search presets: the event records searched in bulk (etw/search.py)
    ('contains "vm03"', None),
    ('ContainsBin(FrameData, ASCII, "Microsoft")', None),
    ("contains $[534d42]", None),
]

#: typical filters for the compile-time table
COMPILE = [
    "tcp",
    "IPv4.Address == 10.0.0.1 AND TCP.Port == 443",
    NOISE,
    "(ipv4.address == 10.1.2.3 AND ipv4.address == 10.4.5.6) AND (Property.TCPRetransmit == 1 OR tcp.flags.reset == 1)",
    'dns.qrecord.questionname.Contains("contoso") OR ContainsBin(FrameData, ASCII, "contoso")',
    "NetEvent.Header.Descriptor.Level <= 2 AND !(TCP.Port in [3389, 1494, 1503])",
    "// multi-line\nUSBPort_MicrosoftWindowsUSBUSBPORT AND NetEvent.Header.Descriptor.Opcode == 34\nOR DNS",
]


def etl_path(events: int) -> Path:
    path = OUT / f"synthetic_{events}.etl"
    if not path.exists():
        from bench_etl import write_trace

        OUT.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        write_trace(tmp, events, compressed=False)
        tmp.replace(path)
    return path


def compressed_etl_path(events: int) -> Path:
    path = OUT / f"vmswitch_{events}_compressed.etl"
    if not path.exists():
        from bench_etl import write_trace

        OUT.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        write_trace(tmp, events, compressed=True)
        tmp.replace(path)
    return path


def compile_table() -> None:
    from tracemon.filters import compile_filter

    print("\nCompile time per expression (fresh text each time; the filter bar's per-keystroke cost)")
    print(f"{'expression':<72} {'mean ms':>8} {'max ms':>8}")
    for e in COMPILE:
        compile_filter(e + " ")
        times = []
        for k in range(50):
            t0 = time.perf_counter()
            compile_filter(e + " " * (k + 2))
            times.append(time.perf_counter() - t0)
        label = e.replace("\n", " ")
        label = label if len(label) <= 70 else label[:67] + "..."
        print(f"{label:<72} {1e3 * sum(times) / len(times):>8.2f} {1e3 * max(times):>8.2f}")


def filter_table(path: Path, filters: list[tuple[str, str | None]], use_tshark: bool) -> None:
    from tracemon.filters import compile_filter, indexed
    from tracemon.traces import open_trace

    t0 = time.perf_counter()
    trace = open_trace(path)
    print(f"\n{path.name}: {len(trace):,} frames, opened in {time.perf_counter() - t0:.1f} s "
          f"({'index cache' if trace.from_cache else 'indexed'})")
    print(f"{'filter':<58} {'matches':>9} {'decoded':>8} {'first s':>8} {'frames/s':>13} {'warm s':>8} "
          f"{'warm frames/s':>14} {'tshark s':>9} {'tshark':>8}")
    n = len(trace)
    for expr, ws in filters:
        cf = compile_filter(expr, trace=trace)
        indexed._STATES.pop(trace, None)  # the first evaluation builds conversation arrays, properties
        t0 = time.perf_counter()
        hits = cf.evaluate(trace)
        first = time.perf_counter() - t0
        decoded = cf.last_stats.decoded
        t0 = time.perf_counter()
        cf.evaluate(trace)
        warm = time.perf_counter() - t0
        ts = tshark(path, ws) if (use_tshark and ws) else None
        label = expr if len(expr) <= 56 else expr[:53] + "..."
        ts_s = f"{ts[0]:>9.1f}" if ts else f"{'-':>9}"
        ts_n = f"{ts[1]:>8}" if ts else f"{'-':>8}"
        flag = "" if ts is None or ts[1] == int(hits.sum()) else "  COUNT DIFFERS"
        print(f"{label:<58} {int(hits.sum()):>9} {decoded:>8} {first:>8.3f} {n / first:>13,.0f} {warm:>8.3f} "
              f"{n / warm:>14,.0f} {ts_s} {ts_n}{flag}")


#: field-column filters: (trace kind, Netmon filter, the filter over index columns only it is compared
#: with, tshark equivalent)
COLUMN_FILTERS: list[tuple[str, str, str, str | None]] = [
    ("pcap", 'DNS.QRecord.QuestionName.Contains("host17.")', "DNS", 'dns.qry.name contains "host17."'),
    # "web": gen_traces' mixed pcap with HTTP and TLS in its TCP data, --column-frames (300,000) frames
    ("web", 'DNS.QRecord.QuestionName.Contains("host17.")', "DNS", 'dns.qry.name contains "host17."'),
    ("web", 'HTTP.Host.Contains("web17.")', "HTTP", 'http.host contains "web17."'),
    ("web", 'TLS.ClientHello.ServerName.Contains("web17.")', "TLS",
     'tls.handshake.extensions_server_name contains "web17."'),
    ("web", 'HTTP.Request.URI.Contains("/app/17/")', "HTTP", 'http.request.uri contains "/app/17/"'),
    ("web", "HTTP.Response.StatusCode == 404", "HTTP", "http.response.code == 404"),
    ("etl", f'{VMS}.VM_NBL_ROUTE.DestNicFName.Contains("vm03")', f"{VMS}.VM_NBL_ROUTE", None),
    ("etl", f'{VMS}.VM_NBL_ROUTE.SwitchName == "8f2a6c1e-4b3d-4e5f-9a0b-1c2d3e4f5a6b"', f"{VMS}.VM_NBL_ROUTE", None),
    ("etl", f"{VMS}.VM_NBL_ROUTE.BufferAddress > 0xFFFFC30F4A230000", f"{VMS}.VM_NBL_ROUTE", None),
    ("etl", f"{VMS}.VM_NBL_INCOMING_DROP.DropReason == 0xC000009A", f"{VMS}.VM_NBL_INCOMING_DROP", None),
    ("etl", f'{VMS}.VM_NBL_ROUTE.SrcNicFName.Contains("vm01") AND {VMS}.VM_NBL_ROUTE.DestNicFName.Contains("vm10")',
     f"{VMS}.VM_NBL_ROUTE", None),
]


def column_table(paths: dict[str, Path], use_tshark: bool, repeat: int = 3) -> None:
    """Field columns: a fresh ``tracemon count`` (index + column build + filter, new process,
    empty cache) next to the event/protocol-only filter and tshark; then first build and later
    filters in process."""
    import os
    import tempfile

    from tracemon.filters import compile_filter
    from tracemon.traces import open_trace
    from tracemon.traces.fieldcols import PRESENT, columns_for, plan

    print(f"\nField columns (cold: `tracemon count` in a new process with an empty cache, median of {repeat}; "
          "ratio = cold / index-only; tshark -Y run after each cold run, /tshark the median pair's ratio)")
    print(f"{'trace':<22} {'filter':<64} {'matches':>8} {'cold s':>7} {'index-only s':>13} {'ratio':>6} {'tshark s':>9} "
          f"{'/tshark':>7} "
          f"{'build s':>8} {'cpu s':>6} {'build fr/s':>12} {'carrying/s':>11} {'later fr/s':>13} {'bytes/fr':>8}")
    for kind, expr, plain, ws in COLUMN_FILTERS:
        path = paths.get(kind)
        if path is None:
            continue
        times = []
        counts = []
        # as installed: compiled modules kept (a machine may set PYTHONDONTWRITEBYTECODE, which makes
        # every run compile every module: a third of a second)
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        subprocess.run(["tracemon", "check", "TCP"], env=env, capture_output=True, check=False)  # writes them
        tshark_runs: list[float] = []
        pairs: list[float] = []
        for e in (expr, plain):
            runs = []
            for _ in range(max(1, repeat)):  # the median of fresh runs: one run is at a shared machine's mercy
                with tempfile.TemporaryDirectory() as tmp:
                    t0 = time.perf_counter()
                    res = subprocess.run(["tracemon", "count", str(path), e], env={**env, "TRACEMON_CACHE_DIR": tmp},
                                         capture_output=True, text=True, check=False)
                    runs.append(time.perf_counter() - t0)
                # tshark right after each cold run: a pair's two runs meet the same machine (its speed
                # drifts by a sixth within minutes here), and the ratio is the median pair's
                got = tshark(path, ws) if (use_tshark and ws and e == expr) else None
                if got is not None:
                    tshark_runs.append(got[0])
                    pairs.append(runs[-1] / got[0])
            times.append(statistics.median(runs))
            counts.append(res.stdout.strip() or res.stderr.strip()[-40:])
        ts = (statistics.median(tshark_runs), statistics.median(pairs)) if pairs else None
        trace = open_trace(path)
        cf = compile_filter(expr, trace=trace)
        fdefs = [trace.registry.get(name) for name in sorted(cf.fields)]
        plans = [(f, plan(trace, f)) for f in fdefs]
        plans = [(f, p) for f, p in plans if p is not None]
        t0, c0 = time.perf_counter(), time.process_time()
        batch = getattr(plans[0][1][1], "batch", None) if plans else None
        # the build itself, never the cached copy (all the filter's fields together, as a filter does)
        cols = (batch([p[1] for _, p in plans]) if batch is not None and len(plans) > 1 else
                [p[1]() for _, p in plans])
        build, cpu = time.perf_counter() - t0, time.process_time() - c0
        columns_for(trace).get_many(fdefs)
        carriers = sum(int((c.states() == PRESENT).sum()) for c in cols)
        cf.evaluate(trace)
        t0 = time.perf_counter()
        for _ in range(5):
            hits = cf.evaluate(trace)
        later = (time.perf_counter() - t0) / 5
        n = len(trace)
        per = sum(c.nbytes for c in cols) / n / max(1, len(cols))
        label = expr if len(expr) <= 62 else expr[:59] + "..."
        ts_s = f"{ts[0]:>9.1f}" if ts else f"{'-':>9}"
        vs = f"{ts[1]:>7.3f}" if ts else f"{'-':>7}"
        flag = "" if counts[0] == str(int(hits.sum())) else f"  (cold count said {counts[0]!r})"
        print(f"{path.name:<22} {label:<64} {int(hits.sum()):>8} {times[0]:>7.2f} {times[1]:>13.2f} "
              f"{times[0] / times[1]:>6.2f} {ts_s} {vs} {build:>8.2f} {cpu:>6.2f} {n / max(build, 1e-9):>12,.0f} "
              f"{carriers / max(build, 1e-9):>11,.0f} {n / max(later, 1e-9):>13,.0f} {per:>8.2f}{flag}")
    print("  build: every field of the filter built together from the trace (no cache), wall and CPU seconds (all "
          "threads); carrying/s: frames holding a built field per wall second; bytes/fr: column bytes per frame "
          "per field (text: codes + table)")


#: fixed-position fields: (Netmon filter, tshark equivalent); each column is one gather (fixedcols.py)
FIXED_FILTERS: list[tuple[str, str]] = [
    ("IPv4.TimeToLive == 64", "ip.ttl == 64"),
    ("IPv4.Identification < 1000", "ip.id < 1000"),
    ("TCP.Window == 65535", "tcp.window_size_value == 65535"),
    ("UDP.TotalLength > 60", "udp.length > 60"),
]


def fixed_table(path: Path, use_tshark: bool) -> None:
    """Fixed-position field columns: the build on first use (a gather over the frames carrying
    the layer, never the cached copy), the first filter with the build in it, and later filters
    on the built column; tshark -Y on the same file."""
    from tracemon.filters import compile_filter
    from tracemon.traces import open_trace
    from tracemon.traces.cache import field_column_dir
    from tracemon.traces.fieldcols import DECODE, columns_for, plan

    trace = open_trace(path)
    n = len(trace)
    folder = field_column_dir(trace)
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)  # columns kept by an earlier run: the first filter builds
    print(f"\nFixed-position field columns on {path.name} ({n:,} frames; layer offsets from the index)")
    print("build: the gather alone (cold: the trace's pages not yet read in this run; warm: again); first: the "
          "first filter, building the column and writing it to the cache; later: filters on the built column")
    print(f"{'filter':<30} {'matches':>8} {'decoded':>7} {'cold s':>7} {'warm s':>7} {'warm fr/s':>12} "
          f"{'first s':>8} {'later s':>8} {'later fr/s':>12} {'left':>5} {'B/fr':>5} {'tshark s':>9} {'tshark':>8}")
    for expr, ws in FIXED_FILTERS:
        cf = compile_filter(expr, trace=trace)
        fdef = trace.registry.get(min(cf.fields))
        got = plan(trace, fdef)
        t0 = time.perf_counter()
        col = got[1]() if got is not None else None
        cold = time.perf_counter() - t0
        t0 = time.perf_counter()
        col = got[1]() if got is not None else None
        build = time.perf_counter() - t0
        columns_for(trace)._cols.pop(fdef.name.lower(), None)  # the first filter builds it
        t0 = time.perf_counter()
        hits = cf.evaluate(trace)
        first = time.perf_counter() - t0
        decoded = cf.last_stats.decoded
        t0 = time.perf_counter()
        for _ in range(5):
            cf.evaluate(trace)
        later = (time.perf_counter() - t0) / 5
        left = int((col.state == DECODE).sum()) if col is not None else n
        per = col.nbytes / n if col is not None else float("nan")
        ts = tshark(path, ws) if use_tshark else None
        ts_s = f"{ts[0]:>9.1f}" if ts else f"{'-':>9}"
        ts_n = f"{ts[1]:>8}" if ts else f"{'-':>8}"
        flag = "" if ts is None or ts[1] == int(hits.sum()) else "  COUNT DIFFERS"
        print(f"{expr:<30} {int(hits.sum()):>8} {decoded:>7} {cold:>7.3f} {build:>7.3f} {n / max(build, 1e-9):>12,.0f} "
              f"{first:>8.3f} {later:>8.4f} {n / max(later, 1e-9):>12,.0f} {left:>5} {per:>5.1f} {ts_s} {ts_n}{flag}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=1_000_000)
    ap.add_argument("--no-tshark", action="store_true")
    ap.add_argument("--no-etl", action="store_true")
    ap.add_argument("--columns-only", action="store_true", help="only the field-column tables")
    ap.add_argument("--no-pcap", action="store_true", help="leave the pcaps out of the field-column tables")
    ap.add_argument("--fixed-only", action="store_true", help="only the fixed-position field table")
    ap.add_argument("--column-frames", type=int, default=300_000,
                    help="frames of the web pcap (gen_traces traffic='web': HTTP, TLS, DNS) of the field-column table")
    ap.add_argument("--repeat", type=int, default=3, help="fresh `tracemon count` runs per cold figure (median)")
    ap.add_argument("--etl", type=Path, help="a compressed VmSwitch ETL for the field-column table "
                    "(default: bench_etl.write_trace of --frames events, compressed)")
    args = ap.parse_args()
    if not args.no_pcap:
        fixed_table(cached("pcap", args.frames), not args.no_tshark)
    if args.fixed_only:
        return
    paths: dict[str, Path] = {} if args.no_pcap else {"pcap": cached("pcap", args.frames),
                                                       "web": cached("pcap", args.column_frames, traffic="web")}
    if not args.no_etl:
        paths["etl"] = args.etl or compressed_etl_path(args.frames)
    column_table(paths, not args.no_tshark, args.repeat)
    if args.columns_only:
        return
    compile_table()
    filter_table(cached("pcap", args.frames), PCAP_FILTERS, not args.no_tshark)
    if not args.no_etl:
        filter_table(etl_path(args.frames), ETL_FILTERS, False)
        filter_table(args.etl or compressed_etl_path(args.frames), ETL_FILTERS, False)


if __name__ == "__main__":
    main()
