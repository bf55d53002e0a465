"""The ``tracemon`` command: the TUI, or headless subcommands (no Textual import on that path).

The TUI's own options (what to show first, like ``wireshark -Y``) are declared and checked by
``tracemon.tui.startup`` before the terminal is taken over.
"""

from __future__ import annotations

import os
import sys

#: thread pools of the BLAS libraries NumPy may load, started at ``import numpy``.  tracemon makes
#: no BLAS calls, but OpenBLAS's idle threads spin for the CPU the index needs: a tenth of a cold
#: ``tracemon count`` on a 2-core machine.  A value the user set is kept.
BLAS_THREADS = ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS")


def main(argv: list[str] | None = None) -> int:
    if "numpy" not in sys.modules:  # (too late once NumPy is loaded: the pools exist)
        for name in BLAS_THREADS:
            os.environ.setdefault(name, "1")
    from . import headless

    return headless.main(sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    raise SystemExit(main())
