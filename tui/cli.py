"""The ``tracemon`` command: the TUI, or headless subcommands (no Textual import on that path).

The TUI's own options (what to show first, like ``wireshark -Y``) are declared here and checked
by ``tracemon.tui.startup`` before the terminal is taken over.
"""

from __future__ import annotations

import argparse
import sys

from .startup import StartError, StartOptions, start_options


def main(argv: list[str] | None = None) -> int:
    from . import headless

    return headless.main(sys.argv[1:] if argv is None else argv)


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
    """The checked options; a bad value is one line on stderr and exit status 2 (3 for a filter)."""
    from .headless import CliError

    try:
        opts = start_options(filter=args.filter, preset=args.preset, columns=args.columns, goto=args.goto,
                             first_file=args.files[0] if args.files else None)
        opts.resume = bool(getattr(args, "resume", False))
        return opts
    except StartError as e:
        raise CliError(str(e), e.code) from None


if __name__ == "__main__":
    raise SystemExit(main())
