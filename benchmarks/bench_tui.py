"""TUI responsiveness on a big synthetic trace: first screen, paging, filter-bar validation, memory.

    python benchmarks/bench_tui.py [--frames 10000000] [--file TRACE] [--skip-tmux]

The trace is ``gen_traces.cached("pcap", N)`` (deterministic mixed traffic, made once under
benchmarks/out/).  Figures:

* time to first screen — the real ``tracemon FILE`` in a 160×50 tmux pane, from spawn until the
  frame list shows frame 1 (cold: no index cache; warm: the index cache exists), and in process
  from interpreter start to the first paint;
* keystroke → repaint while paging — Pilot presses PageDown/PageUp on the fully indexed trace and
  waits until the screen is idle again (rows decoded and rendered), unfiltered and filtered; also
  measured through tmux (send PageDown, poll until the top frame number changes);
* filter-bar validation — every prefix of a few real filters typed one key at a time, timing the
  bar's work for that keystroke (compile + message) and the completion list;
* peak memory (ru_maxrss) of the in-process run, and the index's bytes per frame.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))  # the repository root: tests.tui_support

FILTERS = (
    "IPv4.Address == 10.0.0.11 AND TCP.Port == 443",
    "!(ARP OR DNS) && TCP.Flags.Syn == 1",
    "VMSWITCH_MicrosoftWindowsHyperVVmSwitch.VM_NBL_INCOMING_DROP",
    'DNS.QRecord.QuestionName.Contains("corp") OR Description.Contains("host1")',
)


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


def ms(v: float) -> str:
    return f"{v * 1000:8.1f} ms"


# -- tmux: the real program in a real terminal ----------------------------------------------

class Pane:
    def __init__(self, command: list[str], env: dict[str, str]) -> None:
        self.name = f"bench-{uuid.uuid4().hex[:8]}"
        inner = " ".join(f"{k}={v}" for k, v in env.items())
        shell = f"env -u COLORTERM -u COLUMNS -u LINES TERM=xterm-256color {inner} {' '.join(command)}; sleep 60"
        self.t0 = time.perf_counter()
        self.tmux = ["tmux", "-L", self.name]  # a server of its own: no other tmux user can reset it
        subprocess.run([*self.tmux, "new-session", "-d", "-s", self.name, "-x", "160", "-y", "50", shell], check=True)

    def screen(self) -> str:
        return subprocess.run([*self.tmux, "capture-pane", "-p", "-t", self.name], check=False,
                              capture_output=True, text=True).stdout

    def wait(self, test, timeout: float = 60.0) -> float:
        while time.perf_counter() - self.t0 < timeout:
            if test(self.screen()):
                return time.perf_counter()
            time.sleep(0.005)
        raise TimeoutError(self.screen())

    def keys(self, *keys: str) -> None:
        subprocess.run([*self.tmux, "send-keys", "-t", self.name, *keys], check=True)

    def close(self) -> None:
        subprocess.run([*self.tmux, "kill-server"], check=False, capture_output=True)


def _first_row(screen: str) -> int | None:
    lines = screen.splitlines()
    for k, line in enumerate(lines):
        if "Description" in line and "Frame" in line:
            for row in lines[k + 1 :]:
                cell = row.split("│", 1)[-1].split()
                if cell and cell[0].isdigit():
                    return int(cell[0])
            return None
    return None


def tracemon_exe() -> str:
    """The console script next to this interpreter (not a pyenv shim, which adds its own ~0.2 s)."""
    beside = Path(sys.executable).parent / "tracemon"
    if beside.exists():
        return str(beside)
    return shutil.which("tracemon") or f"{sys.executable} -m tracemon.tui.cli"


def tmux_first_screen(path: Path, env: dict[str, str]) -> float:
    pane = Pane([tracemon_exe(), str(path)], env)
    try:
        t = pane.wait(lambda s: _first_row(s) == 1)
        return t - pane.t0
    finally:
        pane.keys("q")
        time.sleep(0.3)
        pane.close()


def tmux_paging(path: Path, env: dict[str, str], presses: int = 30) -> list[float]:
    pane = Pane([tracemon_exe(), str(path)], env)
    out = []
    try:
        pane.wait(lambda s: " frames" in s and "loading" not in s, timeout=600)
        time.sleep(1.0)
        for _ in range(presses):
            before = _first_row(pane.screen())
            t0 = time.perf_counter()
            pane.keys("PageDown")
            while True:
                now = _first_row(pane.screen())
                if now is not None and now != before:
                    out.append(time.perf_counter() - t0)
                    break
                if time.perf_counter() - t0 > 5:
                    break
                time.sleep(0.002)
    finally:
        pane.keys("q")
        time.sleep(0.3)
        pane.close()
    return out


def tmux_capture_cost() -> float:
    pane = Pane(["sleep", "10"], {})
    try:
        t0 = time.perf_counter()
        for _ in range(20):
            pane.screen()
        return (time.perf_counter() - t0) / 20
    finally:
        pane.close()


# -- in process ----------------------------------------------------------------------------

IN_PROCESS = r"""
import time, sys
t0 = time.perf_counter()
import asyncio
from tracemon.tui.app import TracemonApp
from tracemon.tui.screens.trace import TraceScreen
async def main():
    app = TracemonApp([sys.argv[1]])
    marks = {}
    async with app.run_test(size=(160, 50)) as pilot:
        display = app._display
        def hook(screen, renderable):
            if renderable is not None:
                now = time.perf_counter()
                marks.setdefault("paint", now)
                s = app.screen
                if isinstance(s, TraceScreen) and len(s.view):
                    marks.setdefault("rows", now)
            return display(screen, renderable)
        app._display = hook
        while "rows" not in marks and time.perf_counter() - t0 < 60:
            await asyncio.sleep(0.001)
        print(marks["paint"] - t0, marks.get("rows", time.perf_counter()) - t0)
        app.exit()
asyncio.run(main())
"""


def in_process_first_screen(path: Path, env: dict[str, str]) -> tuple[float, float]:
    out = subprocess.run([sys.executable, "-c", IN_PROCESS, str(path)], capture_output=True, text=True,
                         env={**os.environ, **env}, check=True)
    paint, rows = out.stdout.strip().splitlines()[-1].split()
    return float(paint), float(rows)


class AnonMemory:
    """Peak anonymous memory (heap, NumPy arrays) of this process, sampled every 50 ms; the trace
    file's mapped pages (file-backed, reclaimable) are counted separately by the kernel."""

    def __init__(self) -> None:
        import threading

        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    @staticmethod
    def now() -> int:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1]) * 1024
        return 0

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, self.now())

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return max(self.peak, self.now())


async def _press_latency(app, key: str, presses: int, gap: float) -> list[float]:
    """Time from a key event entering the app to the first screen update that follows it."""
    from textual import events

    screen = app.screen
    shown: list[float] = []
    display = app._display

    def hook(s, renderable):
        if renderable is not None:
            shown.append(time.perf_counter())
        return display(s, renderable)

    app._display = hook
    out = []
    try:
        for _ in range(presses):
            before = screen.frames.cursor
            shown.clear()
            t0 = time.perf_counter()
            event = events.Key(key, None)
            event.set_sender(app)
            app._driver.send_message(event)
            while time.perf_counter() - t0 < 5:
                await asyncio.sleep(0.0005)
                if screen.frames.cursor != before and shown:
                    out.append(shown[0] - t0)
                    break
            await asyncio.sleep(gap)
    finally:
        app._display = display
    return out


async def pilot_run(path: Path, presses: int) -> dict[str, object]:
    from textual.widgets import Input
    from tracemon.tui.app import TracemonApp
    from tracemon.tui.screens.trace import TraceScreen
    from tracemon.tui.widgets.filter_bar import FilterBar, names_known, validate

    from tests.tui_support import idle_workers

    res: dict[str, object] = {}
    app = TracemonApp([str(path)])
    async with app.run_test(size=(160, 50)) as pilot:
        t0 = time.perf_counter()
        while not isinstance(app.screen, TraceScreen) or not app.screen.trace.complete.is_set():
            await asyncio.sleep(0.05)
        res["scan_seconds"] = time.perf_counter() - t0
        await idle_workers(app)
        await asyncio.sleep(1.0)  # let the post-scan workers (tree, timeline, colour masks) settle
        await idle_workers(app)
        screen = app.screen
        res["frames"] = len(screen.trace)
        res["index_bytes"] = screen.trace.index.nbytes
        res["from_cache"] = screen.trace.from_cache
        screen.frames.focus()
        await pilot.pause(0.3)
        # paging at about 10 keys a second (details follow once the keys stop), and held down (30/s)
        res["page_all"] = await _press_latency(app, "pagedown", presses, 0.1)
        res["page_held"] = await _press_latency(app, "pagedown", presses, 1 / 30)
        await pilot.press("end")
        await pilot.pause(0.3)
        res["page_end"] = await _press_latency(app, "pageup", presses, 0.1)
        # a filter: the list pages through an array of displayed rows
        t = time.perf_counter()
        screen.filter_bar.set_text("TCP.Port == 443", apply=True)
        first_partial = None
        while True:
            await asyncio.sleep(0.002)
            if first_partial is None and len(screen.view):
                first_partial = time.perf_counter() - t
            if not screen._filter_running and screen.filter_mask is not None and \
                    len(screen.filter_mask) == len(screen.trace):
                break
        await idle_workers(app)
        res["filter_apply"] = time.perf_counter() - t
        res["filter_first_rows"] = first_partial or 0.0
        res["filter_matches"] = len(screen.view)
        screen.frames.focus()
        await pilot.press("home")
        await pilot.pause(0.3)
        res["page_filtered"] = await _press_latency(app, "pagedown", presses, 0.1)
        # the filter bar, one keystroke at a time: the UI thread's share, and the check's latency
        bar = screen.query_one(FilterBar)
        bar.input.focus()
        ui: list[float] = []
        answer: list[float] = []
        answer_unknown: list[float] = []
        compile_times: list[float] = []
        shown_at: dict[str, float] = {}
        show = bar._show_validation

        def record(v):
            shown_at.setdefault(bar.value, time.perf_counter())
            return show(v)

        bar._show_validation = record
        for text in FILTERS:
            bar.set_text("")
            await pilot.pause(0.05)
            for k in range(1, len(text) + 1):
                prefix = text[:k]
                bar._expect = None
                t = time.perf_counter()
                bar.input.value = prefix  # what a keystroke does …
                bar.input.cursor_position = k
                bar.on_input_changed(Input.Changed(bar.input, prefix))  # … and the bar's handler
                ui.append(time.perf_counter() - t)
                if os.environ.get("BENCH_VERBOSE") and ui[-1] > 0.005:
                    print(f"  slow keystroke {ui[-1] * 1000:.1f} ms: {prefix!r}")
                while prefix not in shown_at and time.perf_counter() - t < 5:
                    await asyncio.sleep(0.0005)
                (answer if names_known(prefix, screen.trace) else answer_unknown).append(
                    shown_at.get(prefix, time.perf_counter()) - t)
                t = time.perf_counter()
                validate(prefix, screen.trace)
                compile_times.append(time.perf_counter() - t)
                await asyncio.sleep(0.01)
        bar._show_validation = show
        res["keystroke_ui"] = ui
        res["check_latency"] = answer
        res["check_latency_unknown"] = answer_unknown
        res["compile"] = compile_times
    res["maxrss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return res


# -- main ----------------------------------------------------------------------------------

def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=10_000_000)
    ap.add_argument("--file", type=Path)
    ap.add_argument("--presses", type=int, default=100)
    ap.add_argument("--skip-tmux", action="store_true")
    args = ap.parse_args()
    if args.file:
        path = args.file
    else:
        import gen_traces

        t = time.perf_counter()
        path = gen_traces.cached("pcap", args.frames)
        print(f"trace: {path} ({path.stat().st_size / 1e9:.2f} GB, ready in {time.perf_counter() - t:.1f} s)")
    home = Path(tempfile.mkdtemp(prefix="tracemon-bench-"))
    base = {"XDG_CONFIG_HOME": str(home / "config"), "XDG_DATA_HOME": str(home / "data"),
            "XDG_CACHE_HOME": str(home / "cache")}
    cold_a = {**base, "TRACEMON_CACHE_DIR": str(home / "cache-a")}
    cache_b = {**base, "TRACEMON_CACHE_DIR": str(home / "cache-b")}
    tmux = not args.skip_tmux and shutil.which("tmux") is not None
    rows: list[tuple[str, str, str]] = []
    try:
        paint, first_rows = in_process_first_screen(path, cold_a)
        rows.append(("first screen, in process: first paint / frame 1 shown (from interpreter start)",
                     f"{paint * 1000:.0f} / {first_rows * 1000:.0f} ms", "< 500 ms"))
        if tmux:
            cost = tmux_capture_cost()
            rows.append(("first screen, real terminal (tmux, spawn → frame 1 shown), no index cache",
                         ms(tmux_first_screen(path, {**base, "TRACEMON_CACHE_DIR": str(home / "cache-c")})),
                         f"< 500 ms  (capture-pane {cost * 1000:.0f} ms each)"))
        os.environ.update(cache_b)
        mem = AnonMemory()
        res = asyncio.run(pilot_run(path, args.presses))
        peak_anon = mem.stop()
        rows.append(("frames indexed, in-process scan", f"{res['frames']:,}", f"{res['scan_seconds']:.1f} s"))
        if tmux:
            rows.append(("first screen, real terminal, index cache warm", ms(tmux_first_screen(path, cache_b)),
                         "< 500 ms"))
            tp = tmux_paging(path, cache_b, 30)
            if tp:
                rows.append(("PageDown → screen changed, real terminal (median / max)",
                             f"{statistics.median(tp) * 1000:.1f} / {max(tp) * 1000:.1f} ms",
                             "< 50 ms (includes tmux polling)"))
        for key, label in (("page_all", "PageDown, all frames"), ("page_held", "PageDown held (30 keys/s)"),
                           ("page_end", "PageUp from the end"), ("page_filtered", "PageDown, filtered view")):
            v = res[key]
            rows.append((f"keystroke → repaint: {label} (median / p95 / max)",
                         f"{statistics.median(v) * 1000:.1f} / {pct(v, 95) * 1000:.1f} / {max(v) * 1000:.1f} ms",
                         "< 50 ms"))
        rows.append(("apply TCP.Port == 443: first rows shown / done", f"{res['filter_first_rows'] * 1000:.0f} ms",
                     f"{res['filter_apply']:.2f} s, {res['filter_matches']:,} matches"))
        for key, label, target in (
                ("keystroke_ui", "filter bar: UI-thread work per keystroke", "< 5 ms"),
                ("check_latency", "filter bar: keystroke → red/green, names known", "< 5 ms"),
                ("check_latency_unknown", "filter bar: keystroke → red/green, a name unknown",
                 "background: close-match search"),
                ("compile", "filter compile (validation) per prefix", "")):
            v = res[key]
            rows.append((f"{label} ({len(v)} keys; median / p95 / max)",
                         f"{statistics.median(v) * 1000:.2f} / {pct(v, 95) * 1000:.2f} / {max(v) * 1000:.1f} ms",
                         target))
        rows.append(("peak memory: anonymous (heap + arrays) / total RSS incl. the mapped trace",
                     f"{peak_anon / 2**20:.0f} / {res['maxrss_mb']:.0f} MB",
                     f"index {res['index_bytes'] / max(1, res['frames']):.0f} B/frame"))
    finally:
        shutil.rmtree(home, ignore_errors=True)
    w = max(len(r[0]) for r in rows)
    print(f"\n{'measure':<{w}}  {'result':>26}  target / note")
    print("-" * (w + 60))
    for name, value, note in rows:
        print(f"{name:<{w}}  {value:>26}  {note}")


if __name__ == "__main__":
    main()
