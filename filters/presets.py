"""Named filters (presets): the shipped standard set and the user's own, stored as TOML.

The user's presets live in ``presets.toml`` under platformdirs' user config dir.  The file is
read afresh before every change (another tracemon may have written it) and replaced atomically.
A damaged file is reported with its line and cause and is never overwritten: changes are refused
until the user fixes or removes it, and the standard presets stay available meanwhile.

Changes are read-modify-write under an exclusive lock on ``presets.toml.lock`` beside the file,
so two tracemons saving at once both keep their preset.  A file that cannot be written (a
read-only folder) is a ``PresetWriteError`` naming it; the file is replaced through
``safefile``, so a symlinked ``presets.toml`` stays a link and keeps its permissions.

A user preset with the name of a standard one overrides it; deleting a standard preset hides it
(``hidden_standard`` in the file), ``restore_standard`` brings it back.
"""

from __future__ import annotations

import contextlib
import os
import re
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, replace
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from .tomlwrite import atomic_write, dumps

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; saves there are last-writer-wins
    fcntl = None  # type: ignore[assignment]

FILE_VERSION = 1
HEADER = ("tracemon filter presets (tracemon rewrites this file when you save, rename or delete a preset;\n"
          "comments are not kept).  Each [[preset]] has a name and an expression, and optionally\n"
          "columns, color, description and category.")


class PresetError(Exception):
    """A preset operation that cannot be done (unknown name, name taken, standard preset …)."""


class PresetWriteError(PresetError):
    """The presets file (or its lock) cannot be written: which file and why."""


class PresetFileError(PresetError):
    """A presets file that cannot be read: where and why."""

    def __init__(self, path: Path | str, line: int | None, cause: str) -> None:
        self.path = Path(path)
        self.line = line
        self.cause = cause
        where = f"{self.path}:{line}" if line else str(self.path)
        super().__init__(f"{where}: {cause}")


@dataclass(slots=True)
class Preset:
    name: str
    expression: str
    columns: list[str] | None = None
    color: str | None = None
    description: str = ""
    category: str = ""
    standard: bool = False

    def to_row(self) -> dict[str, Any]:
        return {"name": self.name, "expression": self.expression, "columns": self.columns,
                "color": self.color, "description": self.description or None, "category": self.category or None}


def default_path() -> Path:
    import platformdirs

    return Path(platformdirs.user_config_dir("tracemon", appauthor=False)) / "presets.toml"


class PresetStore:
    def __init__(self, path: Path | str | None = None) -> None:
        self.path = Path(path) if path is not None else default_path()
        #: set when the user file could not be read (list() then shows the standard presets)
        self.problem: PresetFileError | None = None

    # -- reading ---------------------------------------------------------------------------------
    def standard(self) -> list[Preset]:
        return [replace(p) for p in _standard()]

    def _load(self) -> tuple[list[Preset], list[str]]:
        """(user presets, hidden standard names); raises PresetFileError."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return [], []
        except UnicodeDecodeError as e:
            raise PresetFileError(self.path, None, f"not UTF-8 text ({e.reason} at byte {e.start})") from None
        except OSError as e:
            raise PresetFileError(self.path, None, e.strerror or str(e)) from None
        presets, hidden = parse_presets(text, self.path)
        return presets, hidden

    def _user(self) -> tuple[list[Preset], list[str]]:
        try:
            out = self._load()
        except PresetFileError as e:
            self.problem = e
            raise
        self.problem = None
        return out

    def list(self) -> list[Preset]:
        """User presets, then the standard presets they do not override or hide."""
        try:
            user, hidden = self._user()
        except PresetFileError:
            user, hidden = [], []
        taken = {p.name.casefold() for p in user} | {h.casefold() for h in hidden}
        return user + [p for p in self.standard() if p.name.casefold() not in taken]

    def get(self, name: str) -> Preset | None:
        key = name.casefold()
        for p in self.list():
            if p.name.casefold() == key:
                return p
        return None

    # -- changing --------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Hold the presets lock across a read-modify-write (released when the file closes, also
        if the process dies)."""
        lock = self.path.with_name(self.path.name + ".lock")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(lock, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o666)
        except OSError as e:
            raise PresetWriteError(f"{self.path}: cannot save presets: {e.strerror or e}") from None
        try:
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def save(self, preset: Preset) -> Preset:
        """Add or replace (same name, any case) a user preset."""
        _validate(preset)
        with self._locked():
            return self._save(preset)

    def _save(self, preset: Preset) -> Preset:
        user, hidden = self._user()
        saved = replace(preset, standard=False, columns=list(preset.columns) if preset.columns else None)
        key = saved.name.casefold()
        out = [p for p in user if p.name.casefold() != key]
        pos = next((i for i, p in enumerate(user) if p.name.casefold() == key), len(out))
        out.insert(pos, saved)
        self._write(out, hidden)
        return saved

    def rename(self, old: str, new: str) -> Preset:
        with self._locked():
            return self._rename(old, new)

    def _rename(self, old: str, new: str) -> Preset:
        user, hidden = self._user()
        new = new.strip()
        if not new:
            raise PresetError("a preset needs a name")
        match = next((p for p in user if p.name.casefold() == old.casefold()), None)
        if match is None:
            if any(p.name.casefold() == old.casefold() for p in self.standard()):
                raise PresetError(f"{old!r} is a standard preset; save a copy under a new name instead")
            raise PresetError(f"no preset named {old!r}")
        if new.casefold() != old.casefold() and any(p.name.casefold() == new.casefold() for p in self.list()):
            raise PresetError(f"a preset named {new!r} already exists")
        renamed = replace(match, name=new)
        self._write([renamed if p is match else p for p in user], hidden)
        return renamed

    def delete(self, name: str) -> None:
        """Delete a user preset; for a standard preset (not overridden), hide it."""
        with self._locked():
            self._delete(name)

    def _delete(self, name: str) -> None:
        user, hidden = self._user()
        key = name.casefold()
        rest = [p for p in user if p.name.casefold() != key]
        if len(rest) != len(user):
            self._write(rest, hidden)
            return
        std = next((p for p in self.standard() if p.name.casefold() == key), None)
        if std is None or key in {h.casefold() for h in hidden}:
            raise PresetError(f"no preset named {name!r}")
        self._write(user, [*hidden, std.name])

    def restore_standard(self, name: str | None = None) -> None:
        """Show hidden standard presets again (one, or all)."""
        with self._locked():
            user, hidden = self._user()
            keep = [] if name is None else [h for h in hidden if h.casefold() != name.casefold()]
            self._write(user, keep)

    def import_file(self, path: Path | str) -> list[str]:
        """Add the presets of another presets file (same names are replaced); their names."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise PresetFileError(path, None, getattr(e, "strerror", None) or str(e)) from None
        incoming, _ = parse_presets(text, path)
        with self._locked():
            user, hidden = self._user()
            keys = {p.name.casefold() for p in incoming}
            merged = [p for p in user if p.name.casefold() not in keys] + [replace(p, standard=False)
                                                                           for p in incoming]
            hidden = [h for h in hidden if h.casefold() not in keys]
            self._write(merged, hidden)
        return [p.name for p in incoming]

    def export_file(self, path: Path | str, names: list[str] | None = None) -> list[str]:
        """Write the named presets (default: all user presets) to a presets file; their names."""
        if names is None:
            user, _ = self._user()
            chosen = user
        else:
            chosen = []
            for n in names:
                p = self.get(n)
                if p is None:
                    raise PresetError(f"no preset named {n!r}")
                chosen.append(p)
        _write_file(Path(path), render(chosen, []))
        return [p.name for p in chosen]

    def _write(self, user: list[Preset], hidden: list[str]) -> None:
        _write_file(self.path, render(user, hidden))


def _write_file(path: Path, text: str) -> None:
    try:
        atomic_write(path, text)
    except OSError as e:
        raise PresetWriteError(f"{path}: cannot write: {e.strerror or e}") from None


def render(presets: list[Preset], hidden: list[str]) -> str:
    top: dict[str, Any] = {"version": FILE_VERSION}
    if hidden:
        top["hidden_standard"] = hidden
    return dumps(top, {"preset": [p.to_row() for p in presets]}, HEADER)


_HEADER_RE = re.compile(r"^[ \t]*\[\[[ \t]*preset[ \t]*\]\]", re.MULTILINE)
_LINE_RE = re.compile(r"\(at line (\d+), column (\d+)\)")


def load_toml(text: str, path: Path | str) -> dict[str, Any]:
    """``tomllib.loads`` with the error turned into a PresetFileError naming the line."""
    try:
        return tomllib.loads(text)
    except RecursionError:  # tomllib recurses per nesting level: [[[[…]]]] 3,000 deep
        raise PresetFileError(path, None, "not valid TOML: nested too deeply") from None
    except tomllib.TOMLDecodeError as e:
        msg = str(e)
        m = _LINE_RE.search(msg)
        cause = _LINE_RE.sub("", msg).strip()
        line = int(m.group(1)) if m else None
        if line is None and "end of document" in msg:
            line = max(1, len(text.splitlines()))
            cause = cause.replace("(at end of document)", "at the end of the file").strip()
        raise PresetFileError(path, line, f"not valid TOML: {cause}") from None


def parse_presets(text: str, path: Path | str = "<presets>", standard: bool = False) -> tuple[list[Preset], list[str]]:
    """Presets and hidden standard names of a presets file; PresetFileError says where it is wrong."""
    doc = load_toml(text, path)
    headers = _header_lines(text)
    version = doc.get("version", FILE_VERSION)
    if not isinstance(version, int) or version > FILE_VERSION:
        raise PresetFileError(path, _key_line(text, "version"),
                              f"version {version!r} is newer than this tracemon understands ({FILE_VERSION})")
    hidden = doc.get("hidden_standard", [])
    if not isinstance(hidden, list) or not all(isinstance(h, str) for h in hidden):
        raise PresetFileError(path, _key_line(text, "hidden_standard"), "hidden_standard must be a list of names")
    rows = doc.get("preset", [])
    if not isinstance(rows, list):
        raise PresetFileError(path, _key_line(text, "preset"), "'preset' must be an array of tables ([[preset]])")
    out: list[Preset] = []
    seen: set[str] = set()
    for n, row in enumerate(rows):
        line = headers[n] if n < len(headers) else None
        if not isinstance(row, dict):
            raise PresetFileError(path, line, "each preset must be a table")
        out.append(_preset(row, path, line, standard))
        key = out[-1].name.casefold()
        if key in seen:
            raise PresetFileError(path, line, f"two presets are named {out[-1].name!r}")
        seen.add(key)
    return out, hidden


def _preset(row: dict[str, Any], path: Path | str, line: int | None, standard: bool) -> Preset:
    def text(k: str, required: bool = False) -> str:
        v = row.get(k, "")
        if not isinstance(v, str):
            raise PresetFileError(path, line, f"{k} must be a string, not {type(v).__name__}")
        if required and not v.strip():
            raise PresetFileError(path, line, f"the preset has no {k}")
        return v

    name = text("name", True).strip()
    expression = text("expression", True)
    cols = row.get("columns")
    if cols is not None and (not isinstance(cols, list) or not all(isinstance(c, str) for c in cols)):
        raise PresetFileError(path, line, f"columns of {name!r} must be a list of strings")
    color = row.get("color")
    if color is not None and not isinstance(color, str):
        raise PresetFileError(path, line, f"color of {name!r} must be a string")
    return Preset(name, expression, cols or None, color or None, text("description"), text("category"), standard)


def _header_lines(text: str) -> list[int]:
    """The line of each ``[[preset]]`` header, counting newlines once over the text (counting from
    the start for each header made reading 10,000 presets take 15 s)."""
    lines: list[int] = []
    line, pos = 1, 0
    for m in _HEADER_RE.finditer(text):
        line += text.count("\n", pos, m.start())
        pos = m.start()
        lines.append(line)
    return lines


def _key_line(text: str, key: str) -> int | None:
    m = re.search(rf"^[ \t]*{re.escape(key)}[ \t]*=", text, re.MULTILINE)
    return text.count("\n", 0, m.start()) + 1 if m else None


def _validate(p: Preset) -> None:
    from .grammar import parse

    if not p.name.strip() or "\n" in p.name:
        raise PresetError("a preset needs a one-line name")
    if not p.expression.strip():
        raise PresetError(f"preset {p.name!r} has no expression")
    parse(p.expression)  # a FilterError says what is wrong with it


@lru_cache(maxsize=1)
def _standard() -> tuple[Preset, ...]:
    text = resources.files(__package__).joinpath("standard_presets.toml").read_text(encoding="utf-8")
    presets, _ = parse_presets(text, "standard_presets.toml", standard=True)
    return tuple(presets)

