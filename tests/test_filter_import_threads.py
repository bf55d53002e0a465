"""The TUI imports the filter package from several threads at once (the colour worker's warm-up,
a keystroke's check, a config save): through ``filter_api`` that must never fail.  The package's
own modules import each other in cycles, where two threads importing at once made Python give one
up (KeyError('tracemon.filters') on screen in the tmux walkthrough)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent("""
    import threading
    from tracemon.tui import filter_api
    errors = []
    def use(what):
        try:
            if what == "api":
                filter_api.warm_up()
            else:
                filter_api.module(what)
        except Exception as e:
            errors.append(f"{what}: {type(e).__name__}: {e}")
    threads = [threading.Thread(target=use, args=(w,)) for w in ("api", "pseudo", "tomlwrite", "properties")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(errors)
""")


def test_threads_importing_the_filter_package_at_once_all_get_it() -> None:
    for _ in range(8):  # each run a fresh interpreter: the first import is the one that races
        out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120,
                             check=True).stdout.strip()
        assert out == "[]", out
