"""Run the real ``tracemon`` in tmux, type like a person, and check what the screen shows.

    python tests/tmux_walkthrough.py [--show]       # prints each captured screen with --show

Each step waits (up to a timeout) for text to appear in ``tmux capture-pane``, so the checks
are about what a person would see, in a real terminal with TERM=xterm-256color and no COLORTERM
(the usual state over SSH).  ``tests/test_tui_tmux.py`` runs the same walkthroughs under pytest.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

from conftest import SAMPLES  # tests/ is on sys.path both as a script and under pytest

ROOT = Path(__file__).resolve().parent.parent


class WalkthroughError(AssertionError):
    pass


@dataclass
class Tmux:
    """One tmux session running one command; ``screen()`` is what the terminal shows."""

    command: list[str]
    width: int = 160
    height: int = 50
    env: dict[str, str] = field(default_factory=dict)
    show: bool = False
    name: str = field(default_factory=lambda: f"tracemon-{uuid.uuid4().hex[:8]}")

    def __enter__(self) -> Self:
        env = {"TERM": "xterm-256color", **self.env}
        inner = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
        # COLORTERM is removed: ssh does not forward it, so this is what most remote sessions get.
        # COLUMNS/LINES (exported by some test runners) would override the real terminal size.
        shell = (f"env -u COLORTERM -u COLUMNS -u LINES {inner} {shlex.join(self.command)}; "
                 "echo '[exit '$?']'; sleep 30")
        subprocess.run([*self._tmux, "new-session", "-d", "-s", self.name, "-x", str(self.width), "-y",
                        str(self.height), shell], check=True)
        return self

    @property
    def _tmux(self) -> list[str]:
        """tmux on a server of this walk's own (``-L``): nobody else's ``kill-server`` or session
        can reach it (a shared default server made walks fail when another tmux user reset it)."""
        return ["tmux", "-L", self.name]

    def __exit__(self, *exc: object) -> None:
        subprocess.run([*self._tmux, "kill-server"], check=False, capture_output=True)

    def screen(self) -> str:
        out = subprocess.run([*self._tmux, "capture-pane", "-p", "-t", self.name], check=False,
                             capture_output=True, text=True)
        return out.stdout

    def keys(self, *keys: str, literal: bool = False, pause: float = 0.15) -> None:
        args = [*self._tmux, "send-keys", "-t", self.name]
        if literal:
            args.append("-l")
        subprocess.run([*args, *keys], check=True)
        time.sleep(pause)

    def wait(self, what: str | Callable[[str], bool], timeout: float = 20.0, label: str = "") -> str:
        test = (lambda s: what in s) if isinstance(what, str) else what
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            if test(screen):
                if self.show:
                    print(f"--- {label or what} ---\n{screen}")
                return screen
            time.sleep(0.1)
        raise WalkthroughError(f"timed out waiting for {label or what!r}; the screen shows:\n{screen}")


def _tracemon(*args: str) -> list[str]:
    exe = shutil.which("tracemon")
    return [exe, *args] if exe else [sys.executable, "-m", "tracemon.tui.cli", *args]


def _lines_with(screen: str, text: str) -> list[str]:
    return [line for line in screen.splitlines() if text in line]


def _list_rows(screen: str) -> list[str]:
    """The frame list's rows: the lines between its header and the splitter above the details."""
    lines = screen.splitlines()
    top = next(k for k, line in enumerate(lines) if "Description" in line)
    out = []
    for line in lines[top + 1 :]:
        if "────" in line:
            break
        cell = line.split("│", 1)[-1]
        if cell.split() and cell.split()[0].isdigit():
            out.append(cell)
    return out


def _quit(t: Tmux) -> None:
    """q asks first; y confirms."""
    t.keys("q")
    t.wait("Quit tracemon?", label="quit asks first")
    t.keys("y")
    t.wait("[exit 0]", timeout=60, label="clean exit")  # a bound: a loaded machine tears down slowly


def walk_pcap(config_home: Path, show: bool = False) -> None:
    """Open, read, filter with a typo, fix it, go to a frame, help, quit — at 160×50."""
    pcap = SAMPLES / "pcap" / "tcpreplay_test.pcap"
    env = {"XDG_CONFIG_HOME": str(config_home / "config"), "XDG_DATA_HOME": str(config_home / "data"),
           "XDG_CACHE_HOME": str(config_home / "cache")}
    with Tmux(_tracemon(str(pcap)), env=env, show=show) as t:
        s = t.wait(lambda x: "179 frames" in x and "loading" not in x, label="first screen, file read")
        header = _lines_with(s, "Description")
        if not header or "Frame" not in header[0] or "Source" not in header[0]:
            raise WalkthroughError(f"no Netmon column header:\n{s}")
        if not _lines_with(s, "172.16.11.12") or "All Traffic" not in s:
            raise WalkthroughError(f"frames or conversation tree missing:\n{s}")
        if "Process" in header[0]:
            raise WalkthroughError("a pcap has no process ids: the Process column should step aside")
        # a filter with a typo: red bar, a caret under the name, the list unchanged.  "/" and the text
        # go in one write, as over SSH: every key must land in the bar, whatever the machine's load
        t.keys("/TCP.Prot == 443", literal=True)
        # (the name is flagged as soon as it is typed: wait for the whole text too, not just the caret)
        s = t.wait(lambda x: "^^^^^^^^" in x and bool(_lines_with(x, "TCP.Prot == 443")),
                   label="caret under the bad name, the whole text in the bar")
        caret = _lines_with(s, "^^^^")[0]
        bar = _lines_with(s, "TCP.Prot == 443")[0]
        if caret.index("^") != bar.index("TCP.Prot"):
            raise WalkthroughError(f"the caret is not under the bad token:\n{bar}\n{caret}")
        t.keys("End")
        for _ in range(len(" == 443")):
            t.keys("Left", pause=0.02)
        t.keys("BSpace", "BSpace", "BSpace", pause=0.05)
        t.keys("ort", literal=True)
        t.wait("valid — Enter applies", label="the fixed filter validates")
        t.keys("Enter")
        s = t.wait(lambda x: any("of 179 frames" in line and "Filter TCP.Port == 443" in line
                                 for line in x.splitlines()), label="filter applied, shown in the status line")
        rows = _list_rows(s)
        if len(rows) != 9 or any(" TCP " not in r and " TLS " not in r for r in rows):  # 443: TLS when data
            raise WalkthroughError(f"the list does not look filtered:\n{s}")
        # Esc leaves the bar and keeps the filter; Ctrl+L clears it; Ctrl+G goes to a frame, the details follow
        t.keys("Escape")
        t.keys("C-l")
        t.wait(lambda x: " 179 frames" in x and "of 179" not in x, label="filter cleared")
        t.keys("C-g")
        t.wait("Go to frame", label="go-to prompt")
        t.keys("150", literal=True)
        t.keys("Enter")
        t.wait("Number = 150", label="details of frame 150")
        # help lists the commands with their keys
        t.keys("F1")
        t.wait("keys and commands", label="help screen")
        time.sleep(0.3)
        t.keys("End")
        s = t.wait("field_copy_line", label="help scrolled to the end")
        for expected in ("Filter AND", "Add column", "Copy value", "field_and"):
            if expected not in s:
                raise WalkthroughError(f"help does not list {expected!r}:\n{s}")
        t.keys("Escape")
        _quit(t)


def walk_small_terminal(config_home: Path, show: bool = False) -> None:
    """80×24: the essentials fit (list, details, status, footer), the tree steps aside."""
    pcap = SAMPLES / "pcap" / "tcpreplay_test.pcap"
    env = {"XDG_CONFIG_HOME": str(config_home / "config"), "XDG_DATA_HOME": str(config_home / "data"),
           "XDG_CACHE_HOME": str(config_home / "cache")}
    with Tmux(_tracemon(str(pcap)), width=80, height=24, env=env, show=show) as t:
        s = t.wait("179 frames", label="first screen at 80x24")
        lines = s.splitlines()
        if len(lines) > 24 or any(len(line) > 80 for line in lines):
            raise WalkthroughError("the screen is bigger than the terminal")
        header = _lines_with(s, "Description")
        if not header or not header[0].lstrip().startswith("Frame"):
            raise WalkthroughError(f"no column header:\n{s}")
        if "All Traffic" in s:
            raise WalkthroughError("the conversation tree should be folded away at 80 columns")
        if "Filter" not in lines[0] or "F1 Help" not in lines[-1].replace("f1", "F1"):
            raise WalkthroughError(f"filter bar or footer missing:\n{s}")
        t.keys("F2")
        t.wait("All Traffic", label="tree shown with F2")
        _quit(t)


def walk_demo(config_home: Path, show: bool = False) -> None:
    """``tracemon`` with no file opens the built-in Hyper-V demo trace."""
    env = {"XDG_CONFIG_HOME": str(config_home / "config"), "XDG_DATA_HOME": str(config_home / "data"),
           "XDG_CACHE_HOME": str(config_home / "cache")}
    with Tmux(_tracemon(), env=env, show=show) as t:
        s = t.wait(lambda x: "ETW events" in x and " frames" in x, timeout=40, label="demo trace")
        if "VMSWITCH" not in s:
            raise WalkthroughError(f"no VmSwitch events in the demo:\n{s}")
        _quit(t)


WALKS = (walk_pcap, walk_small_terminal, walk_demo)


def main(argv: list[str]) -> int:
    import tempfile

    show = "--show" in argv
    if shutil.which("tmux") is None:
        print("tmux is not installed", file=sys.stderr)
        return 2
    failed = 0
    for walk in WALKS:
        with tempfile.TemporaryDirectory() as home:
            t0 = time.perf_counter()
            try:
                walk(Path(home), show=show)
            except WalkthroughError as e:
                failed += 1
                print(f"FAIL {walk.__name__}: {e}")
                continue
            print(f"ok   {walk.__name__} ({time.perf_counter() - t0:.1f} s)")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
