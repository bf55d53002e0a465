"""The filter history (the last 100 applied filters, newest first), kept like the presets:
TOML under platformdirs' user data dir, written atomically, never overwritten when damaged."""

from __future__ import annotations

from pathlib import Path

from .presets import PresetFileError, load_toml
from .tomlwrite import atomic_write, dumps

HEADER = "tracemon filter history, newest first (rewritten by tracemon)"


def default_path() -> Path:
    import platformdirs

    return Path(platformdirs.user_data_dir("tracemon", appauthor=False)) / "history.toml"


class History:
    def __init__(self, path: Path | str | None = None, limit: int = 100) -> None:
        self.path = Path(path) if path is not None else default_path()
        self.limit = max(1, limit)
        #: set when the file could not be read; entries then live in memory only
        self.problem: PresetFileError | None = None
        self._memory: list[str] | None = None

    def _read(self) -> list[str]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        except (OSError, UnicodeDecodeError) as e:
            raise PresetFileError(self.path, None, getattr(e, "strerror", None) or str(e)) from None
        doc = load_toml(text, self.path)
        entries = doc.get("entries", [])
        if not isinstance(entries, list) or not all(isinstance(x, str) for x in entries):
            raise PresetFileError(self.path, None, "entries must be a list of strings")
        return entries

    def entries(self) -> list[str]:
        """Newest first."""
        if self._memory is not None:
            return list(self._memory)
        try:
            out = self._read()
        except PresetFileError as e:
            self.problem = e
            self._memory = []
            return []
        self.problem = None
        return out[: self.limit]

    def add(self, text: str) -> None:
        """Record an applied filter (moved to the front if it was there already)."""
        text = text.strip()
        if not text:
            return
        entries = [text] + [e for e in self.entries() if e != text]
        entries = entries[: self.limit]
        if self._memory is not None:  # the file is damaged: keep it as it is
            self._memory = entries
            return
        atomic_write(self.path, dumps({"entries": entries}, header=HEADER))

    def clear(self) -> None:
        if self._memory is not None:
            self._memory = []
            return
        atomic_write(self.path, dumps({"entries": []}, header=HEADER))
