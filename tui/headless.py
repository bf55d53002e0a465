"""The ``tracemon`` command line: the TUI for ``tracemon [FILE…]``, headless subcommands otherwise.

Nothing here imports Textual; the TUI is imported only when no subcommand is given, so scripts
(``tracemon list``, ``count``, ``show``, ``stats``, ``export``, ``check``, ``presets``) start fast
and run without a terminal.

Exit codes: 0 success; 1 a ``count`` that matched nothing; 2 usage errors and files that cannot
be read; 3 a filter that does not compile.
"""

from __future__ import annotations

import argparse
import gc
import json
import signal
import sys
from collections.abc import Sequence
from typing import Any, TextIO

import numpy as np
from tracemon.traces.text import csv_cell, visible, visible_lines

EXIT_OK, EXIT_NO_MATCH, EXIT_USAGE, EXIT_FILTER = 0, 1, 2, 3
SUBCOMMANDS = ("list", "show", "stats", "export", "count", "check", "presets", "cache")


class CliError(Exception):
    def __init__(self, message: str, code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.code = code


def main(argv: Sequence[str]) -> int:
    argv = list(argv)
    try:
        if argv and argv[0] in SUBCOMMANDS:
            _exit_cleanly_on_sigterm()
            return _subcommand(argv)
        return _tui(argv)
    except CliError as e:
        print(f"tracemon: {visible_lines(str(e))}", file=sys.stderr)
        return e.code
    except BrokenPipeError:  # `tracemon list big.etl | head`
        sys.stderr.close()
        return EXIT_OK
    except KeyboardInterrupt:
        return 130


def _exit_cleanly_on_sigterm() -> None:
    """SIGTERM unwinds like Ctrl-C (so an export removes its temporary file) instead of killing
    the process where it stands."""
    def stop(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    try:
        signal.signal(signal.SIGTERM, stop)
    except ValueError:  # not the main thread (tests call main() from workers)
        pass


# -- the TUI -----------------------------------------------------------------------------------

def _tui(argv: list[str]) -> int:
    p = argparse.ArgumentParser(
        prog="tracemon",
        description="Browse Windows network traces (ETL from netsh trace / pktmon, Netmon .cap, pcap, pcapng) "
                    "with Network Monitor display filters. With no FILE, opens the built-in demo trace.",
        epilog="Headless subcommands: " + ", ".join(SUBCOMMANDS) + " (tracemon SUBCOMMAND --help).",
    )
    p.add_argument("files", nargs="*", metavar="FILE", help="trace files to open")
    _add_schema_options(p)
    p.add_argument("--theme", help="colour theme (light, dark, high-contrast); remembered for next time")
    from .startup import StartError, add_start_options, parse_start_options

    add_start_options(p)
    p.add_argument("--version", action="version", version=f"tracemon {_version()}")
    args = p.parse_args(argv)
    for f in args.files:
        _check_readable(f)
    try:
        start = parse_start_options(args)
    except StartError as e:  # one line on stderr, exit status 2 (3 for a filter)
        raise CliError(str(e), e.code) from None
    from .app import run  # the only place the headless path imports Textual

    modules_loaded(traces=False)
    return run(list(args.files), manifests=list(args.manifest), symbols=list(args.symbols), theme=args.theme,
               start=start)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("tracemon")
    except PackageNotFoundError:
        return "unknown"


def _add_schema_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--manifest", action="append", default=[], metavar="XML",
                   help="ETW instrumentation manifest (wevtutil gp PROVIDER /ge /gm:true /f:xml); repeatable")
    p.add_argument("--symbols", action="append", default=[], metavar="TSV",
                   help="event id → symbol map for a provider (id<TAB>symbol lines); repeatable")


def _check_readable(path: str) -> None:
    from tracemon.traces import TraceError
    from tracemon.traces.mapfile import map_file

    try:
        f, buf, *_ = map_file(path)
    except TraceError as e:
        raise CliError(e.message) from None
    buf.close()
    f.close()


# -- subcommands --------------------------------------------------------------------------------

def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tracemon", description="Headless trace commands.")
    sub = p.add_subparsers(dest="command", required=True)

    ls = sub.add_parser("list", help="list frames (the frame summary), optionally filtered")
    ls.add_argument("file")
    ls.add_argument("--filter", "-f", metavar="EXPR", help="Network Monitor display filter")
    ls.add_argument("--preset", metavar="NAME", help="use a saved filter preset (and its columns)")
    ls.add_argument("--format", choices=("text", "json", "csv"), default="text")
    ls.add_argument("--columns", "-c", metavar="COLS",
                    help="comma-separated columns: number,time,offset,delta,process,source,destination,protocol,"
                         "description or any field name (IPv4.TTL)")
    ls.add_argument("--time", choices=("absolute", "local", "viewer", "offset", "delta"), default="absolute",
                    help="how the Time column reads: absolute (UTC), local (the capture host's clock where the "
                         "file records its time zone, else this machine's), viewer (this machine's), offset, delta")
    ls.add_argument("--limit", type=int, default=0, metavar="N", help="stop after N frames")
    _add_schema_options(ls)

    sh = sub.add_parser("show", help="the detail tree and hex of one frame")
    sh.add_argument("file")
    sh.add_argument("number", type=int, help="frame number (1-based, as listed)")
    sh.add_argument("--format", choices=("text", "json"), default="text")
    sh.add_argument("--no-hex", action="store_true", help="leave out the hex dump")
    _add_schema_options(sh)

    st = sub.add_parser("stats", help="protocol hierarchy, conversations and time span")
    st.add_argument("file")
    st.add_argument("--format", choices=("text", "json"), default="text")
    st.add_argument("--top", type=int, default=20, metavar="N", help="conversations to list (default 20)")
    _add_schema_options(st)

    ex = sub.add_parser("export", help="write (filtered) frames to pcapng, CSV or JSON")
    ex.add_argument("file")
    ex.add_argument("output", help="output file; the format follows --format or the extension")
    ex.add_argument("--filter", "-f", metavar="EXPR")
    ex.add_argument("--format", choices=("pcapng", "csv", "json"))
    ex.add_argument("--columns", "-c", metavar="COLS")
    _add_schema_options(ex)

    ca = sub.add_parser("cache", help="list or clear the index cache",
                        description="Indexes of large traces are kept so that they reopen at once; the oldest go "
                                    "first once the cache_limit setting (default 4G, TRACEMON_CACHE_MAX) is reached.")
    cs = ca.add_subparsers(dest="cache_command", metavar="ACTION", required=True)
    cl = cs.add_parser("list", help="entries, most recently used first")
    cl.add_argument("--json", action="store_true")
    cc = cs.add_parser("clear", help="remove every entry, or those of one trace file")
    cc.add_argument("file", nargs="?", help="only this trace's entries")
    cs.add_parser("path", help="print where the cache lives")

    try:
        from tracemon.filters import cli as filter_cli
    except ImportError:
        filter_cli = None
    if filter_cli is not None:
        filter_cli.add_arguments(sub)
    return p


def modules_loaded(*, traces: bool = True, read_ahead: str | None = None) -> None:
    """Where ``cli.main`` kept the garbage collector off while the modules load: load the trace
    readers and the filter compiler (``traces``: every command but ``cache`` and the TUI's own
    start needs them), keep what the modules made out of the collector's passes for good (it
    lives as long as the process), and turn the collector back on.  ``read_ahead``: the trace the
    command opens, whose records are found on another core while the compiler loads
    (``traces.readahead``)."""
    if gc.isenabled():
        return
    if traces:
        import tracemon.traces

        if read_ahead:
            from tracemon.traces import readahead

            readahead.start(read_ahead)
        import tracemon.filters.compiler  # noqa: F401
    gc.freeze()
    gc.enable()


#: the commands that open a trace, and the argument naming it
TRACE_ARGUMENT = {"count": "file", "check": "trace", "list": "file", "show": "file", "stats": "file",
                  "export": "file"}


def _subcommand(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    from . import config as _config

    _config.apply_cache_limit(_config.load())
    argument = TRACE_ARGUMENT.get(args.command)
    path = getattr(args, argument) if argument else None
    modules_loaded(traces=args.command != "cache", read_ahead=path)
    try:
        if args.command == "cache":
            return cmd_cache(args, sys.stdout)
        if args.command in ("count", "check", "presets"):
            from tracemon.filters import cli as filter_cli

            fn = {"count": filter_cli.run_count, "check": filter_cli.run_check, "presets": filter_cli.run_presets}
            return int(fn[args.command](args))
        handler = {"list": cmd_list, "show": cmd_show, "stats": cmd_stats, "export": cmd_export}[args.command]
        return handler(args, sys.stdout)
    finally:
        if path:
            from tracemon.traces.mapfile import discard_early

            discard_early()


def open_for_cli(path: str, args: argparse.Namespace | None = None) -> Any:
    """Open and fully index a trace for a headless command; damage goes to stderr as warnings."""
    from tracemon.traces import TraceError, open_trace

    for w in load_schemas(getattr(args, "manifest", []) or [], getattr(args, "symbols", []) or []):
        print(f"tracemon: warning: {visible(w)}", file=sys.stderr)
    try:
        trace = open_trace(path, one_shot=True)
    except TraceError as e:
        raise CliError(e.message) from None
    for w in trace.warnings:
        print(f"tracemon: warning: {visible(w.message)}", file=sys.stderr)
    return trace


def load_schemas(manifests: Sequence[str], symbols: Sequence[str]) -> list[str]:
    """Register the user's ETW manifests and symbol maps (see ``etw.schema.load_schemas``)."""
    from tracemon.traces.etw import load_schemas as load

    return load(manifests, symbols)


def select_rows(trace: Any, expr: str | None) -> np.ndarray:
    """Rows matching a display filter (all rows without one)."""
    n = len(trace)
    if not expr:
        return np.arange(n)
    try:
        from tracemon.filters import FilterError, compile_filter
    except ImportError:
        raise CliError("--filter needs tracemon.filters, which is not installed") from None
    try:
        cf = compile_filter(expr, registry=trace.registry, trace=trace)
    except FilterError as e:
        raise CliError(f"filter error: {e}\n{e.caret()}", EXIT_FILTER) from None
    for w in cf.warnings:
        print(f"tracemon: filter warning: {visible(w.message)}", file=sys.stderr)
    return np.flatnonzero(cf.evaluate(trace))


def _columns(trace: Any, spec: str | None) -> list[Any]:
    from tracemon.traces.columns import DEFAULT_COLUMNS, resolve

    names = [c for c in (spec.split(",") if spec else DEFAULT_COLUMNS) if c.strip()]
    try:
        return [resolve(c, trace) for c in names]
    except KeyError as e:
        raise CliError(str(e.args[0])) from None


def _preset(args: argparse.Namespace) -> None:
    if not getattr(args, "preset", None):
        return
    try:
        from tracemon.filters import PresetStore
    except ImportError:
        raise CliError("--preset needs tracemon.filters, which is not installed") from None
    preset = PresetStore().get(args.preset)
    if preset is None:
        raise CliError(f"no preset named {args.preset!r} (tracemon presets list)")
    if args.filter:
        args.filter = f"({preset.expression}) AND ({args.filter})"
    else:
        args.filter = preset.expression
    if not args.columns and preset.columns:
        args.columns = ",".join(preset.columns)


def cmd_list(args: argparse.Namespace, out: TextIO) -> int:
    from tracemon.traces.columns import ColumnFormatter, TimeMode

    _preset(args)
    trace = open_for_cli(args.file, args)
    cols = _columns(trace, args.columns)
    rows = select_rows(trace, args.filter)
    if args.limit > 0:
        rows = rows[: args.limit]
    if args.time in ("local", "viewer"):  # local: the capture host's clock when the file records its zone
        mode = TimeMode("absolute", local=True, zone=trace.time_zone if args.time == "local" else None)
    else:
        mode = TimeMode(args.time)
    formatter = ColumnFormatter(trace, mode)
    lines = formatter.rows(cols, rows)
    titles = [c.title for c in cols]
    if args.format == "csv":
        import csv

        w = csv.writer(out)
        w.writerow([csv_cell(t) for t in titles])
        w.writerows([csv_cell(v) for v in values] for values in lines)
    elif args.format == "json":
        out.write("[")
        out.writelines(("," if n else "") + "\n" + json.dumps(_json_row(trace, int(i), titles, values))
                       for n, (i, values) in enumerate(zip(rows, formatter.values(cols, rows), strict=False)))
        out.write("\n]\n")
    else:
        widths = [max(c.width, len(c.title)) if c.width else 0 for c in cols]
        out.write(_line(titles, widths, cols) + "\n")
        out.writelines(_line(values, widths, cols) + "\n" for values in lines)
    return EXIT_OK


def _json_row(trace: Any, i: int, titles: list[str], values: list[Any]) -> dict[str, Any]:
    """One ``list --format json`` row: the columns, and the frame's comments in full (decoded only
    for the frames the reader says have one)."""
    from tracemon.traces.comments import has_comment

    row: dict[str, Any] = dict(zip(titles, values, strict=True))
    row["comments"] = [] if has_comment(trace, i) is False else list(trace.frame(i).comments)
    return row


def _line(values: list[str], widths: list[int], cols: list[Any]) -> str:
    parts = []
    for v, w, c in zip(values, widths, cols, strict=True):
        v = visible(v)
        if not w:
            parts.append(v)
        elif c.align_right:
            parts.append(v[:w].rjust(w))
        else:
            parts.append(v[:w].ljust(w))
    return "  ".join(parts).rstrip()


def cmd_show(args: argparse.Namespace, out: TextIO) -> int:
    trace = open_for_cli(args.file, args)
    n = len(trace)
    if not 1 <= args.number <= n:
        raise CliError(f"{args.file}: no frame {args.number} (the trace has {n} frames)")
    frame = trace.frame(args.number - 1)
    if args.format == "json":
        json.dump(frame_to_json(frame, with_hex=not args.no_hex), out, indent=1)
        out.write("\n")
        return EXIT_OK
    out.write(f"Frame {frame.number}: {visible(frame.description)}\n")
    for layer in frame.layers:
        label = layer.label or layer.protocol.name
        out.write(f"+ {visible(label)}: {visible(layer.summary)}\n")
        for f in layer.fields:
            _tree(f, 1, out)
    if not args.no_hex:
        out.write("\n" + hexdump(frame.data))
    return EXIT_OK


def _tree(f: Any, depth: int, out: TextIO) -> None:
    where = f"  [{f.start}:{f.start + f.length}]" if f.start >= 0 and f.length else ""
    line = f"{visible(f.title)}: {visible(f.display)}" if f.display else visible(f.title)  # comment lines: no value
    out.write(f"{'  ' * depth}{line}{where}\n")
    for c in f.children:
        _tree(c, depth + 1, out)


def hexdump(data: bytes, width: int = 16) -> str:
    lines = []
    for off in range(0, len(data), width):
        chunk = data[off : off + width]
        hexes = " ".join(f"{b:02X}" for b in chunk)
        text = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
        lines.append(f"{off:04X}  {hexes:<{width * 3 - 1}}  {text}")
    return "\n".join(lines) + ("\n" if lines else "")


def frame_to_json(frame: Any, with_hex: bool = True) -> dict[str, Any]:
    def field(f: Any) -> dict[str, Any]:
        d: dict[str, Any] = {"name": f.name, "display": f.display}
        if f.start >= 0:
            d["offset"], d["length"] = f.start, f.length
        if f.children:
            d["children"] = [field(c) for c in f.children]
        return d

    obj: dict[str, Any] = {
        "number": frame.number, "source": frame.source,
        "destination": frame.destination, "protocol": frame.protocol_name, "description": frame.description,
        "captured_length": frame.captured_length, "original_length": frame.original_length,
        "layers": [{"protocol": layer.protocol.name, "summary": layer.summary,
                    "fields": [field(f) for f in layer.fields]} for layer in frame.layers],
    }
    # a record without a time of its own (pcapng SPB): the index's borrowed time is not this frame's
    obj["timestamp_ns"] = None if frame.meta.get("no_timestamp") else frame.timestamp_ns
    obj["comments"] = list(frame.comments)
    if frame.process_id is not None:
        obj["process_id"] = frame.process_id
    if with_hex:
        obj["hex"] = frame.data.hex()
    return obj


def cmd_stats(args: argparse.Namespace, out: TextIO) -> int:
    from tracemon.traces.stats import trace_stats

    trace = open_for_cli(args.file, args)
    stats = trace_stats(trace, top=args.top)
    if args.format == "json":
        json.dump(stats, out, indent=1)
        out.write("\n")
        return EXIT_OK
    out.write(f"File:       {visible(str(stats['file']))}\nFormat:     {stats['format']}\nFrames:     {stats['frames']}\n")
    span = stats["time_span"]
    if span:
        out.write(f"First:      {span['first']}\nLast:       {span['last']}\nDuration:   {span['seconds']:.6f} s\n")
    zone = trace.facts.get("time_zone")
    if zone:
        out.write(f"Time zone:  {visible(str(zone))} (the capture host's; --time local shows its clock)\n")
    if stats["commented_frames"]:
        out.write(f"Comments:   {stats['commented_frames']} frames (filter: Frame.Comment)\n")
    named = [i for i in stats["interfaces"] if i["name"] or i["description"]]
    if named:
        out.write("\nInterfaces:\n")
        from tracemon.traces.packets import one_line

        out.writelines(f"  {i['number']:>3}  {visible(one_line(i['name'])) or '-':<20} {i['media']:<24} "
                       f"{i['frames']:>10} frames"
                       f"{'  ' + visible(one_line(i['description'])) if i['description'] else ''}\n" for i in named)
    out.write("\nProtocols (frames containing each):\n")
    out.writelines(f"  {name:<44} {count:>10}\n" for name, count in stats["protocols"].items())
    if stats["providers"]:
        out.write("\nETW providers and events:\n")
        for p in stats["providers"]:
            out.write(f"  {visible(p['protocol']):<44} {p['frames']:>10}\n")
            out.writelines(f"    {visible(ev['name']):<42} {ev['frames']:>10}\n" for ev in p["events"])
    for title, key in (("IP conversations", "ip_conversations"), ("TCP/UDP conversations", "l4_conversations"),
                       ("Ethernet conversations", "eth_conversations")):
        if stats[key]:
            out.write(f"\n{title} (top {args.top} by frames):\n")
            out.writelines(f"  {c['a']:>40} <-> {c['b']:<40} {c['frames']:>9} frames {c['bytes']:>12} bytes"
                           f"{'  in ' + c['network'] if c.get('network') else ''}\n" for c in stats[key])
    if stats["warnings"]:
        out.write("\nWarnings:\n")
        out.writelines(f"  {visible(w)}\n" for w in stats["warnings"])
    return EXIT_OK


def cmd_cache(args: argparse.Namespace, out: TextIO) -> int:
    import datetime as dt

    from tracemon.traces import cache_space
    from tracemon.traces.cache import cache_root

    root = cache_root()
    if args.cache_command == "path":
        out.write(visible(str(root)) + "\n")
        return EXIT_OK
    if args.cache_command == "clear":
        removed = cache_space.clear(root, args.file)
        freed = sum(e.size for e in removed)
        out.write(f"removed {len(removed)} entries ({_bytes(freed)})\n")
        return EXIT_OK
    listed = cache_space.entries(root)
    if args.json:
        json.dump([{"trace": e.trace_path, "bytes": e.size, "frames": e.frames, "last_used": e.last_used,
                    "entry": str(e.directory)} for e in listed], out, indent=1)
        out.write("\n")
        return EXIT_OK
    total = sum(e.size for e in listed)
    out.write(f"{len(listed)} entries, {_bytes(total)} of {_bytes(cache_space.limit_bytes())} in {visible(str(root))}\n")
    for e in listed:
        when = dt.datetime.fromtimestamp(e.last_used).strftime("%Y-%m-%d %H:%M")
        out.write(f"  {_bytes(e.size):>9}  {e.frames:>12,} frames  {when}  {visible(e.trace_path or '?')}\n")
    return EXIT_OK


def _bytes(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


def cmd_export(args: argparse.Namespace, out: TextIO) -> int:
    from tracemon.traces.export import write_pcapng, write_table

    trace = open_for_cli(args.file, args)
    fmt = args.format or {"csv": "csv", "json": "json"}.get(args.output.rsplit(".", 1)[-1].lower(), "pcapng")
    rows = select_rows(trace, args.filter)
    try:
        if fmt == "pcapng":
            result = write_pcapng(trace, rows, args.output)
        else:
            result = write_table(trace, rows, _columns(trace, args.columns), args.output, fmt)
    except OSError as e:
        raise CliError(f"{args.output}: {e.strerror or e}") from None
    print(f"tracemon: {visible(str(result))}", file=sys.stderr)
    return EXIT_OK
