"""Presets: the fuzzy picker (with rename and delete) and the "save as preset" dialog."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Checkbox, Input, Static
from tracemon.traces.text import visible, visible_lines

from .. import filter_api
from .picker import Item, PickerScreen
from .prompt import ConfirmScreen, PromptScreen


def preset_items(presets: Sequence[Any]) -> list[Item]:
    items = []
    for p in presets:
        tags = [t for t in (p.category, "standard" if p.standard else "mine", p.color and f"colour {p.color}") if t]
        detail = " · ".join([*tags, " ".join((p.expression or "(no filter)").split())])
        items.append(Item(p.name, p.name, detail, f"{p.category} {p.description} {p.expression}"))
    return items


class PresetPickerScreen(PickerScreen):
    """Pick a preset; Ctrl+R renames and Delete removes the highlighted one (your own presets only)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+r", "rename", "Rename", id="presets.rename"),
        Binding("delete,ctrl+d", "delete", "Delete", id="presets.delete"),
        Binding("ctrl+u", "restore", "Restore standard", id="presets.restore"),
    ]

    def __init__(self, store: Any, selected: str | None = None) -> None:
        self.store = store
        super().__init__("Presets", preset_items(store.list()),
                         help="Enter applies · Ctrl+R renames · Delete removes (hides a standard one) · "
                              "Ctrl+U brings hidden standard presets back · Esc closes", selected=selected,
                         placeholder="type to search presets (name, category, expression)")

    def on_mount(self) -> None:
        super().on_mount()
        problem = getattr(self.store, "problem", None)
        if problem is not None:
            self.notify(f"Your presets file cannot be read, only the standard presets are shown: {problem}",
                        severity="error", timeout=10)

    def reload(self) -> None:
        self.set_items(preset_items(self.store.list()))
        self.refill(self.query_one(Input).value)

    def action_rename(self) -> None:
        item = self.current
        if item is None:
            return
        preset = self.store.get(item.id)
        if preset is not None and preset.standard:
            self.notify("Standard presets cannot be renamed; save a copy under a new name", severity="warning")
            return

        def done(new: str | None) -> None:
            if not new or new == item.id:
                return
            try:
                self.store.rename(item.id, new.strip())
            except (filter_api.PresetError, KeyError, ValueError, OSError) as e:
                self.notify(f"Could not rename: {e}", severity="error")
                return
            self.reload()

        self.app.push_screen(PromptScreen(f"Rename preset {item.id!r}", value=item.id,
                                          check=lambda t: None if t.strip() else "a name is needed"), done)

    def action_delete(self) -> None:
        item = self.current
        if item is None:
            return
        preset = self.store.get(item.id)
        question = (f"Hide the standard preset {item.id!r}? (Ctrl+U here brings it back)"
                    if preset is not None and preset.standard else f"Delete preset {item.id!r}?")

        def done(yes: bool | None) -> None:
            if not yes:
                return
            try:
                self.store.delete(item.id)
            except (filter_api.PresetError, KeyError, OSError) as e:
                self.notify(f"Could not delete: {e}", severity="error")
                return
            self.reload()

        self.app.push_screen(ConfirmScreen(question), done)

    def action_restore(self) -> None:
        restore = getattr(self.store, "restore_standard", None)
        if restore is None:
            return
        try:
            restore()
        except (filter_api.PresetError, OSError) as e:
            self.notify(f"Could not restore: {e}", severity="error")
            return
        self.reload()
        self.notify("Standard presets restored", timeout=2)


class SavePresetScreen(ModalScreen[Any]):
    DEFAULT_CSS = """
    SavePresetScreen { align: center middle; }
    SavePresetScreen > Vertical {
        width: 90%; max-width: 100; height: auto; border: round $primary; background: $panel; padding: 0 1;
    }
    SavePresetScreen .label { width: 14; padding-top: 1; }
    SavePresetScreen Horizontal { height: auto; }
    SavePresetScreen Input { width: 1fr; }
    SavePresetScreen #save-title { text-style: bold; }
    SavePresetScreen #save-message { color: $text-muted; height: auto; }
    SavePresetScreen #save-message.-error { color: $error; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="save_preset.cancel"),
        Binding("ctrl+s", "save", "Save", id="save_preset.save"),
    ]

    def __init__(self, expression: str, columns: list[str], existing: Sequence[str], name: str = "") -> None:
        super().__init__()
        self.expression = expression
        self.columns = columns
        self.existing = {n.lower() for n in existing}
        self.initial = name

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("Save the current filter as a preset", id="save-title")
            yield Static(Text(visible(" ".join(self.expression.split())) or
                              "(no filter: the preset only sets columns)"), id="save-expression")
            with Horizontal():
                yield Static("Name", classes="label")
                yield Input(self.initial, placeholder="e.g. Drops on vSwitch1", id="save-name")
            with Horizontal():
                yield Static("Description", classes="label")
                yield Input(placeholder="optional", id="save-description")
            with Horizontal():
                yield Static("Colour", classes="label")
                yield Input(placeholder="optional row colour for matching frames, e.g. red or #ff8700",
                            id="save-color")
            yield Checkbox("Save the current columns with it", True, id="save-columns")
            yield Static("Enter or Ctrl+S saves · Esc cancels", id="save-message")

    def on_mount(self) -> None:
        self.query_one("#save-name", Input).focus()

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        self.action_save()

    def _error(self, text: str) -> None:
        msg = self.query_one("#save-message", Static)
        msg.set_class(True, "-error")
        msg.update(Text(visible_lines(text)))

    def action_save(self) -> None:
        name = self.query_one("#save-name", Input).value.strip()
        if not name:
            self._error("A preset needs a name")
            return
        color = self.query_one("#save-color", Input).value.strip() or None
        if color is not None:
            from textual.color import Color, ColorParseError

            try:
                Color.parse(color)
            except ColorParseError:
                self._error(f"{color!r} is not a colour (try red, orange, #ff8700)")
                return
        cols = list(self.columns) if self.query_one("#save-columns", Checkbox).value else None
        preset = filter_api.Preset(name=name, expression=self.expression, columns=cols, color=color,
                        description=self.query_one("#save-description", Input).value.strip())
        if name.lower() in self.existing:
            def answer(yes: bool | None) -> None:
                if yes:
                    self.dismiss(preset)

            self.app.push_screen(ConfirmScreen(f"A preset named {name!r} exists. Replace it?"), answer)
            return
        self.dismiss(preset)

    def action_cancel(self) -> None:
        self.dismiss(None)
