"""The ``tracemon`` command: the TUI, or headless subcommands (no Textual import on that path).

The TUI's own options (what to show first, like ``wireshark -Y``) are declared and checked by
``tracemon.tui.startup`` before the terminal is taken over.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    from . import headless

    return headless.main(sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    raise SystemExit(main())
