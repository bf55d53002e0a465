"""The filter subcommands of ``tracemon``: ``count``, ``check`` and ``presets``.

``tui/headless.py`` owns the command line; it adds these subparsers with ``add_arguments`` and
calls ``run_count`` / ``run_check`` / ``run_presets`` with the parsed arguments.

Exit codes (the same as the rest of ``tracemon``):

* 0 — success (``count``: at least one frame matched; ``check``: the filter is valid)
* 1 — ``count`` matched no frame; ``check --strict``: valid but with warnings
* 2 — usage errors, a trace file that cannot be read, an unknown or damaged preset
* 3 — a filter that does not compile (``check`` prints where and why)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any, TextIO

from ..traces.text import visible, visible_lines

EXIT_OK, EXIT_NO_MATCH, EXIT_USAGE, EXIT_FILTER = 0, 1, 2, 3


def add_arguments(subparsers: Any) -> None:
    """Add the ``count``, ``check`` and ``presets`` subcommands to ``subparsers``."""
    c = subparsers.add_parser(
        "count", help="count the frames a display filter matches",
        description="Print how many frames of FILE match EXPR.  Exit 0 if some do, 1 if none, "
                    "2 if FILE cannot be read, 3 if EXPR does not compile.")
    c.add_argument("file", metavar="FILE")
    c.add_argument("expression", metavar="EXPR", nargs="?", default=None,
                   help="Network Monitor display filter (none: count every frame)")
    c.add_argument("-v", "--verbose", action="store_true", help="also print timing and how the filter ran (stderr)")
    _schema_options(c)

    k = subparsers.add_parser(
        "check", help="check a display filter and explain it (for scripts and CI)",
        description="Parse and compile EXPR (- reads it from stdin).  Exit 0 if valid, 3 if not; with --strict, "
                    "1 if valid but with warnings.")
    k.add_argument("expression", metavar="EXPR")
    k.add_argument("--trace", metavar="FILE", help="also check names against this trace (absent providers …)")
    k.add_argument("--json", action="store_true", help="machine-readable result on stdout")
    k.add_argument("--strict", action="store_true", help="treat warnings as failure (exit 1)")
    k.add_argument("-q", "--quiet", action="store_true", help="print nothing, only set the exit code")

    p = subparsers.add_parser("presets", help="list, show, save, rename, delete, import or export filter presets",
                              description="Manage named filters.  User presets live in presets.toml under the "
                                          "user config dir (tracemon presets path).")
    ps = p.add_subparsers(dest="presets_command", metavar="ACTION")
    ls = ps.add_parser("list", help="list presets (standard ones marked *)")
    ls.add_argument("--json", action="store_true")
    ls.add_argument("--category", help="only this category")
    sh = ps.add_parser("show", help="print one preset")
    sh.add_argument("name")
    sv = ps.add_parser("save", help="add or replace a user preset")
    sv.add_argument("name")
    sv.add_argument("expression")
    sv.add_argument("--columns", help="comma-separated column keys (number,time,source,…, or field names)")
    sv.add_argument("--color", help="colour for the frame list's colour rules (red, orange …)")
    sv.add_argument("--description", default="")
    sv.add_argument("--force", action="store_true",
                    help="save even if a name is unknown here (a provider whose manifest is not loaded)")
    sv.add_argument("--category", default="")
    rn = ps.add_parser("rename", help="rename a user preset")
    rn.add_argument("old")
    rn.add_argument("new")
    dl = ps.add_parser("delete", help="delete a user preset (hides a standard one)")
    dl.add_argument("name")
    rs = ps.add_parser("restore", help="show hidden standard presets again")
    rs.add_argument("name", nargs="?")
    im = ps.add_parser("import", help="add the presets of a presets.toml file")
    im.add_argument("file")
    ex = ps.add_parser("export", help="write presets to a file (default: all user presets)")
    ex.add_argument("file")
    ex.add_argument("names", nargs="*")
    ps.add_parser("path", help="print where user presets are stored")


def _schema_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--manifest", action="append", default=[], metavar="XML",
                   help="instrumentation manifest of an ETW provider (repeatable)")
    p.add_argument("--symbols", action="append", default=[], metavar="TSV",
                   help="event id → symbol map (repeatable)")


# -- count ----------------------------------------------------------------------------------------

def run_count(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    from .errors import FilterError

    trace = _open(args.file, args, err)
    if trace is None:
        return EXIT_USAGE
    from .compiler import compile_filter

    if args.expression is None or not args.expression.strip():
        print(len(trace), file=out)
        return EXIT_OK if len(trace) else EXIT_NO_MATCH
    t0 = time.perf_counter()
    try:
        cf = compile_filter(args.expression, registry=trace.registry, trace=trace)
    except FilterError as e:
        print(f"tracemon: filter error: {visible(str(e))}", file=err)
        print(visible_lines(e.caret()), file=err)
        for h in e.hints:
            print(f"hint: {visible(h)}", file=err)
        return EXIT_FILTER
    t1 = time.perf_counter()
    for w in cf.warnings:
        print(f"tracemon: filter warning: {visible(str(w))}", file=err)
    hits = cf.evaluate(trace)
    t2 = time.perf_counter()
    n = int(hits.sum())
    print(n, file=out)
    st = cf.last_stats
    if getattr(args, "verbose", False):
        rate = len(trace) / (t2 - t1) if t2 > t1 else float("inf")
        print(f"{n} of {len(trace)} frames match {cf.canonical!r}; compile {1e3 * (t1 - t0):.2f} ms, "
              f"evaluate {1e3 * (t2 - t1):.1f} ms ({rate:,.0f} frames/s), {st.decoded} frames decoded", file=err)
    if st.errors:
        print(f"tracemon: warning: {st.errors} frames could not be decoded ({visible(str(st.first_error))})", file=err)
    return EXIT_OK if n else EXIT_NO_MATCH


def _check_names(expression: str) -> None:
    """Compile ``expression`` against every name this machine knows (bundled and user manifests):
    a preset that can never apply is refused at save time, not found out during an incident."""
    from ..traces.etw import load_schemas
    from .compiler import compile_filter
    from .errors import FilterError

    load_schemas()
    try:
        compile_filter(expression)
    except FilterError as e:
        e.hints = [*e.hints, "save it anyway with --force (e.g. a provider whose manifest is loaded elsewhere)"]
        raise


def _open(path: str, args: argparse.Namespace, err: TextIO) -> Any:
    from ..traces import TraceError, open_trace
    from ..traces.etw import load_schemas

    # the same names as every other command: the manifests folder, then --manifest/--symbols
    for w in load_schemas(getattr(args, "manifest", None) or (), getattr(args, "symbols", None) or ()):
        print(f"tracemon: warning: {visible(w)}", file=err)
    try:
        trace = open_trace(path, one_shot=True)
    except TraceError as e:
        print(f"tracemon: {visible(str(e))}", file=err)
        return None
    for w in trace.warnings:
        print(f"tracemon: warning: {visible(str(getattr(w, 'message', w)))}", file=err)
    return trace


# -- check ----------------------------------------------------------------------------------------

def run_check(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    from .compiler import compile_filter
    from .errors import FilterError

    text = sys.stdin.read() if args.expression == "-" else args.expression
    trace = None
    if getattr(args, "trace", None):
        trace = _open(args.trace, args, err)
        if trace is None:
            return EXIT_USAGE
    t0 = time.perf_counter()
    try:
        cf = compile_filter(text, registry=trace.registry if trace is not None else None, trace=trace)
    except FilterError as e:
        if args.json:
            json.dump({"valid": False, "error": _error_json(e)}, out, indent=2)
            out.write("\n")
        elif not args.quiet:
            print(visible_lines(e.explain()), file=err)
        return EXIT_FILTER
    ms = 1e3 * (time.perf_counter() - t0)
    if args.json:
        json.dump({
            "valid": True,
            "canonical": cf.canonical,
            "fields": sorted(cf.fields),
            "uses_decode": cf.uses_decode,
            "evaluation": cf.explain(trace),
            "sources": cf.sources(trace),
            "warnings": [{"message": w.message, "line": w.line, "column": w.column, "hint": w.hint}
                         for w in cf.warnings],
            "compile_ms": round(ms, 3),
        }, out, indent=2)
        out.write("\n")
    elif not args.quiet:
        print(f"valid: {visible(cf.canonical) or '(empty filter: every frame)'}", file=out)
        for line in cf.explain(trace):
            print(f"  {visible(line)}", file=out)
        for w in cf.warnings:
            print(f"warning: {visible(str(w))}", file=out)
            if w.offset is not None:
                print(visible_lines(w.caret()), file=out)
    if args.strict and cf.warnings:
        return EXIT_NO_MATCH
    return EXIT_OK


def _error_json(e: Any) -> dict[str, Any]:
    return {"message": e.message, "line": e.line, "column": e.column, "length": e.length,
            "expected": e.expected, "hints": e.hints, "suggestions": e.suggestions, "caret": e.caret()}


# -- presets --------------------------------------------------------------------------------------

def run_presets(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    from .errors import FilterError
    from .presets import Preset, PresetError, PresetFileError, PresetStore

    store = PresetStore(getattr(args, "presets_file", None))
    action = getattr(args, "presets_command", None) or "list"
    try:
        if action == "list":
            items = store.list()
            if store.problem is not None:
                print(f"tracemon: warning: {visible(str(store.problem))} (showing the standard presets only)",
                      file=err)
            cat = getattr(args, "category", None)
            if cat:
                items = [p for p in items if p.category.casefold() == cat.casefold()]
            if getattr(args, "json", False):
                json.dump([{"name": p.name, "expression": p.expression, "columns": p.columns, "color": p.color,
                            "description": p.description, "category": p.category, "standard": p.standard}
                           for p in items], out, indent=2)
                out.write("\n")
            else:
                width = max((len(visible(p.name)) for p in items), default=0)
                for p in items:
                    mark = "*" if p.standard else " "
                    print(f"{mark} {visible(p.name):<{width}}  {visible(p.expression)}", file=out)
            return EXIT_OK
        if action == "show":
            p = store.get(args.name)
            if p is None:
                print(f"tracemon: no preset named {visible(repr(args.name))}", file=err)
                return EXIT_USAGE
            print(f"name: {visible(p.name)}{' (standard)' if p.standard else ''}", file=out)
            print(f"expression: {visible(p.expression)}", file=out)
            for k in ("columns", "color", "description", "category"):
                v = getattr(p, k)
                if v:
                    print(f"{k}: {visible(', '.join(v) if isinstance(v, list) else v)}", file=out)
            return EXIT_OK
        if action == "save":
            if not getattr(args, "force", False):
                _check_names(args.expression)
            cols = [c.strip() for c in args.columns.split(",") if c.strip()] if args.columns else None
            p = store.save(Preset(args.name, args.expression, cols, args.color, args.description, args.category))
            print(visible(f"saved {p.name!r} in {store.path}"), file=out)
            return EXIT_OK
        if action == "rename":
            store.rename(args.old, args.new)
            return EXIT_OK
        if action == "delete":
            store.delete(args.name)
            return EXIT_OK
        if action == "restore":
            store.restore_standard(args.name)
            return EXIT_OK
        if action == "import":
            names = store.import_file(args.file)
            print(visible(f"imported {len(names)} presets: {', '.join(names)}"), file=out)
            return EXIT_OK
        if action == "export":
            names = store.export_file(args.file, args.names or None)
            print(visible(f"exported {len(names)} presets to {args.file}"), file=out)
            return EXIT_OK
        if action == "path":
            print(store.path, file=out)
            return EXIT_OK
    except PresetFileError as e:
        print(f"tracemon: damaged presets file: {visible(str(e))}", file=err)
        return EXIT_USAGE
    except PresetError as e:
        print(f"tracemon: {visible(str(e))}", file=err)
        return EXIT_USAGE
    except FilterError as e:
        print(f"tracemon: the expression does not compile: {visible(str(e))}", file=err)
        print(visible_lines(e.caret()), file=err)
        for h in e.hints:
            print(f"hint: {visible(h)}", file=err)
        return EXIT_FILTER
    print(f"tracemon: unknown presets action {action!r}", file=err)
    return EXIT_USAGE
