"""The ``tracemon`` command: the TUI, or headless subcommands (no Textual import on that path).

The TUI's own options (what to show first, like ``wireshark -Y``) are declared and checked by
``tracemon.tui.startup`` before the terminal is taken over.
"""

from __future__ import annotations

import gc
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
    # The modules about to load make no cyclic garbage, but collecting while they load walks all
    # they made: a twentieth of a cold ``tracemon count``.  ``headless.modules_loaded`` turns the
    # collector back on (and freezes what loaded) before any trace is read.
    gc.disable()
    try:
        from . import headless

        return headless.main(sys.argv[1:] if argv is None else argv)
    finally:
        gc.enable()


if __name__ == "__main__":
    raise SystemExit(main())
