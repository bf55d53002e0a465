"""Presets and colour rules on a trace screen: picking, applying and saving presets, and painting
rows by the presets' colours (worked out in workers; see ``tui/colour_rules.py``).

``TraceScreen`` builds on this class; the names it uses from there are the trace screen's.
"""

from __future__ import annotations

import gc
import threading
from typing import TYPE_CHECKING, Any

from textual import work
from tracemon.traces import fieldcols

from .. import colour_rules, filter_api
from .. import messages as m
from ..colour_rules import ColourRules
from ..view import building_note
from .filtering import FilteringScreen
from .presets import PresetPickerScreen, SavePresetScreen

if TYPE_CHECKING:
    from ..config import Config


class ColouringScreen(FilteringScreen):
    if TYPE_CHECKING:
        config: Config
        column_names: list[str]
        colour_rules: ColourRules

    def __init__(self, name: str | None = None) -> None:
        super().__init__(name=name)
        #: set when the screen goes away: the scan thread and the colour workers stop
        self._stop = threading.Event()

    # -- presets ----------------------------------------------------------------------------
    def action_presets(self) -> None:
        def picked(name: str | None) -> None:
            if not name:
                return
            preset = self.presets.get(name)
            if preset is None:
                return
            self.use_preset(preset)

        self.app.push_screen(PresetPickerScreen(self.presets, selected=self.preset_name or None), picked)

    def use_preset(self, preset: Any) -> None:
        self.filter_bar.set_text(preset.expression or "")
        if self.apply_filter(preset.expression or "", preset=preset.name):
            self.notify(f"Preset {preset.name}", timeout=2)
        self._update_status()

    def action_save_preset(self) -> None:
        expression = self.filter_bar.value if self.filter_bar.last.ok else self.filter_text

        def done(preset: Any) -> None:
            if preset is None:
                return
            try:
                self.presets.save(preset)
            except (filter_api.PresetError, OSError, ValueError) as e:
                self.notify(f"Could not save the preset: {e}", severity="error")
                return
            self.preset_name = preset.name
            if not self._filter_running:
                self._settle()
            self.load_colour_rules()
            self._update_status()
            self.notify(f"Saved preset {preset.name}", timeout=3)

        existing = [p.name for p in self.presets.list()]
        self.app.push_screen(SavePresetScreen(expression, self.column_names, existing, self.preset_name), done)

    def action_colour_rules(self) -> None:
        self.config.colour_rules = not self.config.colour_rules
        self.load_colour_rules()
        self.notify(f"Colour rules {'on' if self.config.colour_rules else 'off'}", timeout=2)

    def load_colour_rules(self) -> None:
        """Compile the presets' colour rules in a worker (the first compile warms the compiler up)."""
        self._colour_rules(self.config.colour_rules, self.app.current_theme.dark)

    @work(thread=True, exclusive=True, exit_on_error=False, group="colour-rules")
    def _colour_rules(self, enabled: bool, dark_theme: bool) -> None:
        filter_api.warm_up()  # also makes the first keystroke in the filter bar fast
        presets: list[Any] = []
        if enabled:
            try:
                presets = list(self.presets.list())
            except OSError:
                presets = []
        # the screen's stop event ends this early when tracemon quits (the app waits for its workers)
        colours = colour_rules.from_presets(self.trace, presets, filter_api.compile, dark_theme, cancel=self._stop)
        if self._stop.is_set():
            return
        self.app.call_from_thread(self._set_colour_rules, colours)
        if not colours:
            return

        def building(name: str, fraction: float | None) -> None:
            if not self._stop.is_set():
                self.post_message(m.WorkNote("colours", building_note(name, fraction)))

        with fieldcols.watching(building, self._stop):  # rules over field columns build them
            done = colours.compute_masks(cancel=self._stop)
        if any(r.columns for r in colours.rules) and not self._stop.is_set():
            self.post_message(m.WorkNote("colours", ""))
        if done:
            self.trace.release_pages()  # a rule may have read every packet's bytes
            self.app.call_from_thread(self._colours_changed, colours, True)

    def _set_colour_rules(self, colours: ColourRules) -> None:
        self.colour_rules = colours
        self.frames.row_style = colours.style if colours else None
        self.frames.invalidate()

    def _colours_changed(self, colours: ColourRules, settled: bool = False) -> None:
        if colours is self.colour_rules:
            self.frames.invalidate()
        if settled:
            gc.freeze()  # the compiled rules and the registry names they declared live on

    def _colour_tick(self) -> None:
        """Answer decoded colour rules for rows that were painted (off the UI thread)."""
        colours = self.colour_rules
        if colours and colours.has_pending:
            self._resolve_colours(colours)

    @work(thread=True, exclusive=True, exit_on_error=False, group="colour-decode")
    def _resolve_colours(self, colours: ColourRules) -> None:
        done = 0
        while colours.has_pending and done < 2000:
            done += colours.resolve_pending(128)
        if done:
            self.app.call_from_thread(self._colours_changed, colours)
