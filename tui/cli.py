"""The ``tracemon`` command: the TUI, or headless subcommands (no Textual import on that path).

The TUI's own options (what to show first, like ``wireshark -Y``) are declared and checked by
``tracemon.tui.startup`` before the terminal is taken over.
"""

from __future__ import annotations

import atexit
import gc
import os
import sys
import threading
from typing import NoReturn

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


def run() -> NoReturn:
    """The ``tracemon`` console script: ``main``, then the exit.  After a headless subcommand the
    interpreter is not taken apart object by object (every module, array and the file's map freed
    one at a time, which the OS does at once when the process ends: a thirtieth of a cold
    ``tracemon count``).  What the interpreter's exit does that matters is done first (``_leave``)."""
    argv = sys.argv[1:]
    code = main(argv)
    from .headless import SUBCOMMANDS

    if argv and argv[0] in SUBCOMMANDS:
        _leave(code)
    raise SystemExit(code)


def _leave(code: int) -> NoReturn:
    """End the process as the interpreter's exit would, in its order, without its teardown: wait
    for the threads that finish at exit (the index cache writer), run the exit handlers, flush
    the standard streams (a failed flush of stdout exits 120, as it does), then ``os._exit``."""
    run_handlers = getattr(atexit, "_run_exitfuncs", None)
    if run_handlers is None:  # pragma: no cover - another interpreter: its own exit, slower
        raise SystemExit(code)
    me = threading.current_thread()
    for t in threading.enumerate():
        if t is not me and not t.daemon:
            t.join()
    run_handlers()
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None and not stream.closed:
                stream.flush()
        except (OSError, ValueError):
            if stream is sys.stdout and code == 0:
                code = 120
    os._exit(code)


if __name__ == "__main__":
    run()
