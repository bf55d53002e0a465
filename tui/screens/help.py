"""F1 / ?: every command with the keys it is bound to now (after the user's keymap)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from .. import commands
from ..config import config_path

FILTER_NOTES = (
    "Filters use Netmon's language: a bare name tests presence (DNS, TCP.Flags.Syn), comparisons "
    "== != < > <= >=, AND OR NOT (&& || !), parentheses. Pair fields match either side: "
    "IPv4.Address == 10.0.0.1 AND TCP.Port == 443. ETW events by symbol: "
    "VMSWITCH_MicrosoftWindowsHyperVVmSwitch.VM_NBL_INCOMING_DROP."
)


#: below this many cells the help reads as two columns: keys, then title, help and id wrapped together
WIDE = 100


def help_table(keymap: Mapping[str, str], width: int = WIDE) -> Table:
    """Every command with its keys.  Wide: keys, title, help, id side by side.  Narrow (80 columns
    over SSH): the help text would get a few cells and read one word per line, so title, help and
    id share one wrapped column."""
    table = Table(box=None, expand=True, show_header=False, padding=(0, 1))
    wide = width >= WIDE
    table.add_column("keys", style="bold", no_wrap=True, width=16 if wide else 14)
    if wide:
        table.add_column("command", no_wrap=True, width=18)
        table.add_column("what", ratio=1)
        table.add_column("id", style="dim", no_wrap=True, width=22)
    else:
        table.add_column("what", ratio=1)
    group = None
    for c in commands.COMMANDS:
        if c.group != group:
            group = c.group
            table.add_row(Text(group, style="bold underline"), *([""] * (3 if wide else 1)))
        keys = commands.key_label(commands.keys_for(c, keymap))
        if wide:
            table.add_row(keys, c.title, Text(c.help, style="dim"), c.id)
        else:
            table.add_row(keys, Text.assemble((c.title, "bold"), " — ", (c.help, "dim"), "  ", (f"[{c.id}]", "dim")))
    return table


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > Vertical {
        width: 95%; max-width: 120; height: 95%;
        border: round $primary; background: $panel; padding: 0 1;
    }
    HelpScreen #help-title { text-style: bold; }
    HelpScreen #help-footer { color: $text-muted; height: auto; }
    HelpScreen #help-table { height: auto; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q,f1,question_mark", "close", "Close", id="help.close")]

    def __init__(self, keymap: Mapping[str, str]) -> None:
        super().__init__()
        self.keymap = dict(keymap)
        self._wide: bool | None = None
        self.table = help_table(self.keymap)

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("tracemon — keys and commands (Ctrl+P searches them)", id="help-title")
            with VerticalScroll(id="help-body"):
                yield Static(id="help-table")
                yield Static(Text("\n" + FILTER_NOTES))
            yield Static(Text(f"Remap keys by id under [keys] in {config_path()}, e.g. goto = \"ctrl+g\"\n"
                              "↑ ↓ PgUp PgDn Home End scroll · Esc closes"), id="help-footer")

    def on_mount(self) -> None:
        self._layout()
        self.query_one("#help-body").focus()

    def on_resize(self) -> None:
        self._layout()

    def _layout(self) -> None:
        width = self.app.size.width
        if (width >= WIDE) != self._wide:
            self._wide = width >= WIDE
            self.table = help_table(self.keymap, width)
            self.query_one("#help-table", Static).update(self.table)

    def action_close(self) -> None:
        self.dismiss(None)
