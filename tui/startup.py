"""What the command line asks the TUI to show first: ``-Y/--filter``, ``--preset``, ``--columns``,
``--goto`` (as ``wireshark -Y`` / termshark do).

``start_options`` checks the values before the terminal is taken over, so a typo is one line on
stderr instead of a screen to leave; it needs no Textual.  A trace screen calls ``apply`` once its
file has been read (a frame number or an ETW event name can only be checked against the whole
file; a filter applied earlier would run twice).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tracemon.traces.trace import Trace


class StartError(ValueError):
    """A command line value the TUI cannot start with (the message names the option)."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


@dataclass(slots=True)
class StartOptions:
    filter: str = ""
    #: the preset whose expression ``filter`` is (shown in the status line), "" otherwise
    preset: str = ""
    columns: list[str] | None = None
    goto: int | None = None  # 1-based frame number
    #: restore the last session of the file at once instead of offering it (--resume)
    resume: bool = False

    @property
    def empty(self) -> bool:
        return not (self.filter or self.columns or self.goto)


def start_options(*, filter: str | None, preset: str | None, columns: str | None, goto: int | None,
                  first_file: str | None, presets: Any = None) -> StartOptions:
    """Check and combine the options; raises ``StartError``.  ``presets``: a PresetStore (tests)."""
    opts = StartOptions()
    if goto is not None:
        if goto < 1:
            raise StartError(f"--goto {goto}: frame numbers start at 1")
        opts.goto = goto
    expr = (filter or "").strip()
    if filter is not None and not expr:
        raise StartError("-Y/--filter: the expression is empty")
    col_names = [c.strip() for c in columns.split(",") if c.strip()] if columns is not None else None
    if columns is not None and not col_names:
        raise StartError("--columns: no column names (give them comma-separated, e.g. number,time,description)")
    if preset:
        if presets is None:
            from tracemon.filters import PresetStore

            presets = PresetStore()
        found = presets.get(preset)
        if found is None:
            import difflib

            close = difflib.get_close_matches(preset, [p.name for p in presets.list()], 3, 0.5)
            hint = f"did you mean {', '.join(map(repr, close))}? " if close else ""
            raise StartError(f"--preset {preset!r}: no such preset ({hint}tracemon presets list shows them)")
        if expr:
            expr = f"({found.expression}) AND ({expr})"
        else:
            expr, opts.preset = found.expression, found.name
        if col_names is None and found.columns:
            col_names = list(found.columns)
    opts.filter, opts.columns = expr, col_names
    if first_file is not None and (expr or col_names):
        _check_against(first_file, opts, given_columns=columns is not None)
    return opts


def _check_against(path: str, opts: StartOptions, given_columns: bool) -> None:
    """Compile the filter and resolve the columns against the file's header.  An ETL file names
    its TraceLogging events only in its records, so there the screen checks again once read."""
    from tracemon.traces import TraceError, open_trace

    try:
        trace = open_trace(path, load=False, use_cache=False)
    except (TraceError, OSError):
        return  # (the TUI reports a file it cannot open)
    try:
        if trace.format == "etl":
            return
        if opts.filter:
            _check_filter(opts.filter, trace)
        if opts.columns and given_columns:
            from tracemon.traces.columns import resolve

            for name in opts.columns:
                try:
                    resolve(name, trace)
                except KeyError as e:
                    raise StartError(f"--columns: {e.args[0]}") from None
    finally:
        trace.close()


def _check_filter(text: str, trace: Trace) -> None:
    from tracemon.filters import FilterError, compile_filter

    try:
        compile_filter(text, registry=trace.registry, trace=trace)
    except FilterError as e:
        where = f"column {e.column}: " if "\n" not in text else f"line {e.line}, column {e.column}: "
        raise StartError(f"-Y/--filter: {where}{e.message}", code=3) from None


def apply(screen: Any, opts: StartOptions) -> None:
    """Show ``opts`` on a trace screen whose file has been read (filter, then frame)."""
    if opts.filter:
        screen.filter_bar.set_text(opts.filter)
        screen.apply_filter(opts.filter, preset=opts.preset)
    if opts.goto is not None:
        n = len(screen.trace)
        if opts.goto > n:
            screen.notify(f"--goto {opts.goto}: the trace has {n:,} frames", severity="warning", timeout=8)
        elif opts.filter:
            screen.goto_when_filtered = opts.goto - 1  # (the filter runs in a worker)
        else:
            screen.go_to_frame(opts.goto - 1)


def add_start_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("what to show first")
    g.add_argument("-Y", "--filter", metavar="EXPR",
                   help="display filter to apply once the file is read (Netmon syntax, e.g. 'TCP.Port == 443')")
    g.add_argument("--preset", metavar="NAME",
                   help="apply a saved or standard preset (its filter and columns; with -Y both must match)")
    g.add_argument("--columns", metavar="COLS",
                   help="comma-separated frame list columns for this run, e.g. number,time,protocol,description,"
                        "IPv4.TTL")
    g.add_argument("--goto", type=int, metavar="N", help="select frame N (1-based) once it is read")
    g.add_argument("--resume", action="store_true",
                   help="restore the last session of the file (filter, columns, marks, position) without asking")


def parse_start_options(args: argparse.Namespace) -> StartOptions:
    """The checked options (``StartError`` names a bad value; its code is the exit status)."""
    opts = start_options(filter=args.filter, preset=args.preset, columns=args.columns, goto=args.goto,
                         first_file=args.files[0] if args.files else None)
    opts.resume = bool(getattr(args, "resume", False))
    return opts
