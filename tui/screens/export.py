"""Export dialog: format, file name, a progress bar; ``tracemon.traces.export`` writes in a worker."""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import numpy as np
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, ProgressBar, RadioButton, RadioSet, Static
from tracemon.traces import export as _export
from tracemon.traces.columns import ColumnFormatter
from tracemon.traces.index import KIND_PACKET
from tracemon.traces.text import visible_lines

from ..columns import Column

if TYPE_CHECKING:
    from tracemon.traces.trace import Trace

FORMATS = ("pcapng", "csv", "json")
#: a typed file name's extension decides the format (the radio buttons follow it)
EXTENSION_FORMATS = {".csv": "csv", ".json": "json", ".pcapng": "pcapng", ".pcap": "pcapng", ".cap": "pcapng"}


class ExportScreen(ModalScreen[str | None]):
    """Returns the written path (or None when cancelled)."""

    DEFAULT_CSS = """
    ExportScreen { align: center middle; }
    ExportScreen > Vertical {
        width: 90%; max-width: 100; height: auto; border: round $primary; background: $panel; padding: 0 1;
    }
    ExportScreen #export-title { text-style: bold; }
    ExportScreen RadioSet { layout: horizontal; height: auto; border: none; width: 100%; }
    ExportScreen Horizontal { height: auto; }
    ExportScreen .label { width: 6; padding-top: 1; }
    ExportScreen Input { width: 1fr; }
    ExportScreen ProgressBar { margin: 1 0 0 0; }
    ExportScreen #export-message { height: auto; color: $text-muted; }
    ExportScreen #export-message.-error { color: $error; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="export.cancel"),
        Binding("ctrl+s", "export", "Export", id="export.run"),
    ]

    def __init__(self, trace: Trace, rows: np.ndarray, cols: Sequence[Column], formatter: ColumnFormatter, *,
                 directory: str | None = None) -> None:
        super().__init__()
        self.trace = trace
        self.rows = rows
        self.cols = list(cols)
        self.formatter = formatter
        self.directory = Path(directory) if directory else Path.cwd()
        self._cancel = threading.Event()
        self._busy = False
        packets = int(np.count_nonzero(trace.index.kind[rows] & KIND_PACKET)) if len(rows) else 0
        self.packets = packets
        self.fmt = "pcapng" if packets else "csv"

    def default_path(self, fmt: str) -> str:
        stem = Path(self.trace.path).stem
        return str(self.directory / f"{stem}-displayed.{fmt}")

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(f"Export the {len(self.rows):,} displayed frames", id="export-title")
            with RadioSet(id="export-format"):
                yield RadioButton(f"pcapng ({self.packets:,} packets)", value=self.fmt == "pcapng",
                                  disabled=not self.packets, id="fmt-pcapng")
                yield RadioButton("CSV (visible columns)", value=self.fmt == "csv", id="fmt-csv")
                yield RadioButton("JSON (visible columns)", value=self.fmt == "json", id="fmt-json")
            with Horizontal():
                yield Static("File", classes="label")
                yield Input(self.default_path(self.fmt), id="export-path")
            yield ProgressBar(total=max(1, len(self.rows)), show_eta=False, id="export-progress")
            yield Static("Enter or Ctrl+S exports · Esc cancels", id="export-message")

    def on_mount(self) -> None:
        self.query_one("#export-path", Input).focus()

    @on(RadioSet.Changed)
    def _format(self, event: RadioSet.Changed) -> None:
        fmt = (event.pressed.id or "fmt-csv")[4:]
        path = self.query_one("#export-path", Input)
        if path.value == self.default_path(self.fmt):
            path.value = self.default_path(fmt)
        self.fmt = fmt

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        self.action_export()

    def _message(self, text: str, error: bool = False) -> None:
        msg = self.query_one("#export-message", Static)
        msg.set_class(error, "-error")
        msg.update(Text(visible_lines(text)))  # paths and OS messages: no markup, no controls

    def action_export(self) -> None:
        if self._busy:
            return
        path = Path(self.query_one("#export-path", Input).value.strip()).expanduser()
        if not path.name:
            self._message("Give a file name", True)
            return
        if not path.parent.is_dir():
            self._message(f"{path.parent} is not a directory", True)
            return
        if _is_terminal(path):
            self._message(f"{path} is the terminal this screen is drawn on; give a file name", True)
            return
        fmt = EXTENSION_FORMATS.get(path.suffix.lower(), self.fmt)
        if fmt == "pcapng" and not self.packets:
            self._message(f"{path.name} names a packet file, but none of the displayed frames is a packet: "
                          "choose .csv or .json", True)
            return
        if fmt != self.fmt:  # the name the user typed wins over the radio button, as in the CLI
            self.query_one(f"#fmt-{fmt}", RadioButton).value = True
            self.fmt = fmt
        self._busy = True
        self._message(f"Writing {path} …")
        self._write(path, fmt)

    @work(thread=True, exclusive=True, exit_on_error=False, group="export")
    def _write(self, path: Path, fmt: str) -> None:
        bar = self.query_one(ProgressBar)

        def progress(done: int, total: int) -> None:
            self.app.call_from_thread(bar.update, total=max(1, total), progress=done)

        try:
            if fmt == "pcapng":
                result = _export.write_pcapng(self.trace, self.rows, path, progress=progress, cancel=self._cancel)
            else:
                result = _export.write_table(self.trace, self.rows, [c.base for c in self.cols], path, fmt,
                                             formatter=self.formatter, progress=progress, cancel=self._cancel)
        except InterruptedError:
            self.app.call_from_thread(self._finished, None, "Export cancelled")
            return
        except Exception as e:  # noqa: BLE001 - report any write failure in the dialog
            self.app.call_from_thread(self._finished, None, f"Export failed: {e}")
            return
        self.app.call_from_thread(self._finished, str(path), str(result).capitalize())

    def _finished(self, path: str | None, message: str) -> None:
        self._busy = False
        if path is None:
            self._message(message, True)
            if self._cancel.is_set():
                self.dismiss(None)
            return
        self.notify(message, timeout=6)
        self.dismiss(path)

    def action_cancel(self) -> None:
        if self._busy:
            self._cancel.set()
            return
        self.dismiss(None)


def _is_terminal(path: Path) -> bool:
    """``-`` (standard output) or a character device other than /dev/null: writing a trace there
    would send its bytes to the terminal (``tracemon export`` on the command line may do that)."""
    if str(path) == "-":
        return True
    try:
        st = path.stat()
    except OSError:
        return False
    return stat.S_ISCHR(st.st_mode) and os.path.realpath(path) != os.devnull
