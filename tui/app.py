"""The tracemon application: themes, keymap and config, and one screen per open trace.

``run(paths)`` is what ``tracemon FILE…`` calls.  Opening only maps the file and reads its
header; the scan runs in the trace screen's worker so the first screen appears at once.
"""

from __future__ import annotations

import gc
import os
import signal
import sys
from collections.abc import Iterable, Sequence
from typing import Any, ClassVar

from rich.text import Text
from textual import events
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.notifications import SeverityLevel
from textual.screen import Screen
from textual.theme import Theme
from textual.widgets import Footer, Static
from tracemon.traces import TraceError, open_trace
from tracemon.traces.etw.schema import load_schemas
from tracemon.traces.safefile import remove_partial
from tracemon.traces.text import visible, visible_lines

from . import commands, filter_api
from . import config as _config
from . import themes as _themes
from .palette import CommandsProvider
from .screens.help import HelpScreen
from .screens.quit import QuitScreen
from .screens.trace import TraceScreen
from .startup import StartOptions
from .typeahead import KeyHandled, KeyQueue

#: what ``--theme`` accepts besides the full names
THEME_ALIASES = {"light": "tracemon-light", "dark": "tracemon-dark", "high-contrast": "tracemon-contrast",
                 "contrast": "tracemon-contrast", "netmon": "tracemon-light"}


class ErrorScreen(Screen):
    """Shown when no trace could be opened: what went wrong, and how to go on."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("q,escape,ctrl+q", "app.quit", "Quit", id="error.quit")]

    def __init__(self, title: str, lines: Sequence[str]) -> None:
        super().__init__(id="error-panel")
        self.title_text = title
        self.lines = list(lines)

    def compose(self) -> ComposeResult:
        # file names and reader messages are shown as they are: no markup, controls made visible
        body = "\n".join(f"• {visible_lines(line)}" for line in self.lines)
        yield Static(Text.assemble((visible(self.title_text), "bold"), f"\n\n{body}\n\n", ("q quits", "dim")))
        yield Footer()


def _demo_path() -> tuple[str | None, str]:
    from tracemon.traces.etw.demo import demo_trace_path

    try:
        return os.fspath(demo_trace_path()), ""
    except Exception as e:  # noqa: BLE001 - report why the demo could not be made
        return None, f"The built-in demo trace could not be created: {e}"


class TracemonApp(App[int]):
    CSS_PATH = "app.tcss"
    TITLE = "tracemon"
    BINDINGS = commands.bindings("app")
    COMMANDS = App.COMMANDS | {CommandsProvider}

    def __init__(self, paths: Sequence[str], *, manifests: Sequence[str] = (), symbols: Sequence[str] = (),
                 theme: str | None = None, config: _config.Config | None = None,
                 start: StartOptions | None = None) -> None:
        self.config = config if config is not None else _config.load()
        _config.apply_cache_limit(self.config)
        super().__init__()
        self.paths = [os.fspath(p) for p in paths]
        self.manifests = list(manifests)
        self.symbols = list(symbols)
        self.theme_override = theme
        self.start = start
        self._presets: object | None = None
        self._history: object | None = None
        self.trace_screens: list[TraceScreen] = []
        self.problems: list[str] = list(self.config.problems)
        self.failed = False
        self.keys = KeyQueue(self, self._dispatch_key)
        #: True while a key read from the terminal is dispatched (not for palette commands)
        self.reading_key = False

    @property
    def presets(self) -> object:
        """The preset store (created on first use: it imports the filter compiler)."""
        if self._presets is None:
            self._presets = filter_api.PresetStore()
        return self._presets

    @property
    def history(self) -> object:
        if self._history is None:
            self._history = filter_api.History()
        return self._history

    def notify(self, message: str, *, title: str = "", severity: SeverityLevel = "information",
               timeout: float | None = None, markup: bool = False) -> None:
        """Every message goes out without markup and with control characters made visible: they
        carry file names, filters, preset names and field values from the trace."""
        super().notify(visible_lines(message), title=visible(title), severity=severity, timeout=timeout,
                       markup=markup)

    # -- themes -----------------------------------------------------------------------------
    def get_theme_variable_defaults(self) -> dict[str, str]:
        dark = next((t for t in _themes.builtin_themes() if t.name == "tracemon-dark"), None)
        return dict(dark.variables) if dark is not None else {}

    def _register_themes(self) -> None:
        for t in _themes.builtin_themes():
            self.register_theme(t)
        extra, problems = _themes.user_themes(_config.config_dir() / "themes")
        for t in extra:
            self.register_theme(t)
        self.problems += problems

    def _drop_foreign_themes(self) -> None:
        """Textual's own themes lack tracemon's colours (the panes kept tracemon-dark's over, say,
        a light background) and got saved: the palette's theme list offers tracemon's and the
        user's only."""
        keep = set(self.tracemon_themes)
        for name in list(self.available_themes):
            if name not in keep:
                self.unregister_theme(name)

    @property
    def tracemon_themes(self) -> list[str]:
        return [name for name in self.available_themes if name.startswith("tracemon-")] + [
            name for name, t in self.available_themes.items() if _is_user_theme(t)]

    def action_next_theme(self) -> None:
        names = self.tracemon_themes
        k = names.index(self.theme) if self.theme in names else -1
        self.theme = names[(k + 1) % len(names)]
        self.notify(f"Theme: {self.theme}", timeout=2)

    def _theme_changed(self, theme: Theme) -> None:
        if theme.name != self.config.theme:
            self.config.theme = theme.name
            self.save_config()

    # -- config -----------------------------------------------------------------------------
    def save_config(self) -> None:
        try:
            self.config.save()
        except OSError as e:
            self.notify(f"Could not save settings to {self.config.path}: {e}", severity="warning")

    def _apply_keymap(self) -> None:
        known = set(commands.BY_ID)
        unknown = sorted(set(self.config.keys) - known)
        if unknown:
            self.problems.append(f"{self.config.path}: [keys] names unknown commands: {', '.join(unknown)} "
                                 "(F1 lists the command ids)")
        self.set_keymap({k: v for k, v in self.config.keys.items() if k in known})

    # -- start ------------------------------------------------------------------------------
    def on_mount(self) -> None:
        # Full collections walk every object (tens of ms with a big trace's tables); the UI makes
        # little cyclic garbage, so run them 10x less often and keep startup objects out of them.
        gc.set_threshold(700, 10, 100)
        gc.freeze()
        # Scanning and filtering threads hold the interpreter in 5 ms slices by default; shorter
        # slices let a keystroke or a repaint in between sooner (throughput barely changes).
        sys.setswitchinterval(0.001)
        self._register_themes()
        wanted = THEME_ALIASES.get((self.theme_override or "").lower(), self.theme_override) or self.config.theme
        if wanted not in self.available_themes:
            self.problems.append(f"theme {wanted!r} does not exist; using tracemon-dark "
                                 f"(themes: {', '.join(self.tracemon_themes)})")
            wanted = "tracemon-dark"
        self.theme = wanted
        self._drop_foreign_themes()
        self.theme_changed_signal.subscribe(self, self._theme_changed)
        self._apply_keymap()
        self._open_all()
        for problem in self.problems:
            self.notify(problem, severity="warning", timeout=10)

    def _open_all(self) -> None:
        paths = self.paths
        errors: list[str] = []
        if not paths:
            demo, why = _demo_path()
            if demo is None:
                self.failed = True
                self.push_screen(ErrorScreen("No trace to show", [why]))
                return
            paths = [demo]
        # the user's ETW manifests and symbol maps, registered before any trace is read (as the
        # headless commands do); a file that would not load is a warning on every trace
        notes = load_schemas(self.manifests, self.symbols)
        for path in paths:
            try:
                # the index cache is restored by the screen's worker: a big cache entry takes seconds
                trace = open_trace(path, load=False, use_cache=False)
                trace.use_cache = True
            except TraceError as e:
                errors.append(e.message)
                continue
            except OSError as e:
                errors.append(f"{path}: {e.strerror or e}")
                continue
            self.trace_screens.append(TraceScreen(trace, self.config, start=self.start, sessions=bool(self.paths),
                                                  notes=[*notes, *(f"not opened: {e}" for e in errors)]))
        if not self.trace_screens:
            self.failed = True
            self.push_screen(ErrorScreen("Could not open the trace" + ("s" if len(paths) > 1 else ""), errors))
            return
        for k, screen in enumerate(self.trace_screens):
            self.install_screen(screen, name=f"trace-{k}")
        self.push_screen("trace-0")

    # -- keys -------------------------------------------------------------------------------
    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key) and not event.is_forwarded:
            await self.keys.read(event)  # in order, one at a time: see tracemon.tui.typeahead
            return
        await super().on_event(event)

    async def _dispatch_key(self, event: events.Key) -> None:
        self.reading_key = True  # (priority bindings run now: see TraceScreen.check_action)
        try:
            await super().on_event(event)
        finally:
            self.reading_key = False

    async def on_key_handled(self, message: KeyHandled) -> None:
        message.stop()
        await self.keys.handled(message)

    def push_screen(self, *args: Any, **kwargs: Any) -> Any:
        result = super().push_screen(*args, **kwargs)
        self.keys.screen_shown(self.screen)
        return result

    def switch_screen(self, *args: Any, **kwargs: Any) -> Any:
        result = super().switch_screen(*args, **kwargs)
        self.keys.screen_shown(self.screen)
        return result

    # -- app-wide commands ------------------------------------------------------------------
    def action_help(self) -> None:
        if isinstance(self.screen, HelpScreen):
            return
        self.push_screen(HelpScreen(getattr(self, "_keymap", {}) or {}))

    def action_next_trace(self) -> None:
        if len(self.trace_screens) < 2:
            self.notify("Only one trace is open", timeout=2)
            return
        current = self.screen
        k = self.trace_screens.index(current) if current in self.trace_screens else -1
        k = (k + 1) % len(self.trace_screens)
        nxt = self.trace_screens[k]
        self.switch_screen(f"trace-{k}")
        self.notify(nxt.trace.path, timeout=2)

    def action_confirm_quit(self) -> None:
        if isinstance(self.screen, QuitScreen):
            return
        n = len(self.trace_screens)
        what = "(closes the trace)" if n == 1 else f"(closes {n} traces)" if n else ""

        def answered(yes: bool | None) -> None:
            if yes:
                self.save_sessions()
                self.exit(1 if self.failed else 0, return_code=1 if self.failed else 0)

        self.push_screen(QuitScreen(what), answered)

    async def action_quit(self) -> None:
        self.save_sessions()
        code = 1 if self.failed else 0
        self.exit(code, return_code=code)

    def save_sessions(self) -> None:
        """Remember each open trace's filter, columns, marks and position for its next opening."""
        for screen in self.trace_screens:
            screen.remember_session()


def _is_user_theme(theme: Theme) -> bool:
    return bool(theme.variables.get("tm-header-bg")) and not theme.name.startswith("tracemon-")


def run(paths: Iterable[str], *, manifests: Sequence[str] = (), symbols: Sequence[str] = (),
        theme: str | None = None, start: StartOptions | None = None) -> int:
    """Run the UI on ``paths`` (the demo trace when empty); returns the process exit status."""
    app = TracemonApp(list(paths), manifests=manifests, symbols=symbols, theme=theme, start=start)

    def terminate(signum: int, frame: object) -> None:  # an export's temporary file goes with us
        remove_partial()
        app.save_sessions()
        app.exit(128 + signum, return_code=128 + signum)

    signal.signal(signal.SIGTERM, terminate)
    app.run()
    return int(app.return_code or 0)
