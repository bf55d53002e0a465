"""Sessions: what the user had set up on a trace file, kept for the next time it is opened.

Per trace path: the applied filter (and its preset), the columns, the time mode, the reference
frame, the marks, the sort and the selected frame — the state ``FrameView`` and the trace
screen hold.  Saved when the screen closes (``q`` loses nothing), offered when the same file is
opened again (as lnav does), one small JSON file each under the user data dir, the oldest
pruned past ``MAX_SESSIONS``.  Frame numbers only mean something for the same contents: when
the file changed since (a capture still growing, another file at that path), only the
filter, columns and time mode are offered.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import platformdirs

MAX_SESSIONS = 200
VERSION = 1


def sessions_dir() -> Path:
    return Path(platformdirs.user_data_dir("tracemon", appauthor=False)) / "sessions"


@dataclass(slots=True)
class Session:
    path: str
    size: int
    mtime_ns: int
    filter: str = ""
    preset: str = ""
    columns: list[str] = field(default_factory=list)
    time_mode: str = ""
    reference: int | None = None
    marks: list[int] = field(default_factory=list)
    frame: int | None = None
    sort: list[Any] | None = None  # [column key, descending]

    @property
    def empty(self) -> bool:
        """Nothing a user would miss (the defaults, no marks, the first frame)."""
        return not (self.filter or self.marks or self.reference is not None or self.sort or self.frame)

    def same_contents(self, size: int, mtime_ns: int) -> bool:
        return self.size == size and self.mtime_ns == mtime_ns

    def for_changed_file(self) -> Session:
        """What still applies to other contents at the same path: no frame numbers."""
        return Session(self.path, self.size, self.mtime_ns, self.filter, self.preset, list(self.columns),
                       self.time_mode)

    def describe(self) -> str:
        parts = []
        if self.filter:
            parts.append(f"filter {self.preset or self.filter}")
        if self.marks:
            parts.append(f"{len(self.marks)} mark{'s' if len(self.marks) > 1 else ''}")
        if self.reference is not None:
            parts.append(f"reference frame {self.reference + 1}")
        if self.sort:
            parts.append(f"sorted by {self.sort[0]}")
        if self.frame:
            parts.append(f"at frame {self.frame + 1}")
        return ", ".join(parts) or "columns and time mode"


class SessionStore:
    """Sessions on disk; every failure to read or write one is reported, never raised."""

    def __init__(self, folder: Path | None = None) -> None:
        self.folder = folder or sessions_dir()
        self.problems: list[str] = []

    def _file(self, path: str) -> Path:
        key = hashlib.sha256(os.path.abspath(path).encode("utf-8", "surrogateescape")).hexdigest()[:32]
        return self.folder / f"{key}.json"

    def load(self, path: str) -> Session | None:
        file = self._file(path)
        try:
            data = json.loads(file.read_text("utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, RecursionError) as e:
            self.problems.append(f"{file}: the saved session cannot be read ({e}); it is ignored")
            return None
        try:
            if data.get("version") != VERSION or data.get("path") != os.path.abspath(path):
                return None
            s = Session(str(data["path"]), int(data["size"]), int(data["mtime_ns"]), str(data.get("filter", "")),
                        str(data.get("preset", "")), [str(c) for c in data.get("columns", [])],
                        str(data.get("time_mode", "")),
                        None if data.get("reference") is None else int(data["reference"]),
                        sorted({int(m) for m in data.get("marks", [])}),
                        None if data.get("frame") is None else int(data["frame"]),
                        None if not data.get("sort") else [str(data["sort"][0]), bool(data["sort"][1])])
        except (KeyError, TypeError, ValueError, IndexError, AttributeError) as e:
            self.problems.append(f"{file}: the saved session is damaged ({e}); it is ignored")
            return None
        return s

    def save(self, session: Session) -> bool:
        from . import filter_api

        file = self._file(session.path)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            filter_api.module("tomlwrite").atomic_write(file, json.dumps({"version": VERSION, **asdict(session)}))
        except OSError as e:
            self.problems.append(f"{file}: the session could not be saved ({e.strerror or e})")
            return False
        self._prune()
        return True

    def forget(self, path: str) -> None:
        with contextlib.suppress(OSError):
            self._file(path).unlink()

    def _prune(self) -> None:
        try:
            files = sorted(self.folder.glob("*.json"), key=lambda p: p.stat().st_mtime)
        except OSError:
            return
        for old in files[: max(0, len(files) - MAX_SESSIONS)]:
            with contextlib.suppress(OSError):
                old.unlink()


# -- a trace screen's state in and out ----------------------------------------------------------

def capture(screen: Any) -> Session:
    """The state of ``screen`` (a TraceScreen) worth coming back to: its view's (``tui/view.py``)
    and the selected frame."""
    trace, view = screen.trace, screen.view
    sort = [view.sort.key, view.sort.descending] if view.sort is not None else None
    return Session(os.path.abspath(trace.path), trace.size, trace.mtime_ns, view.filter_text, view.preset,
                   list(view.columns), view.time_mode, view.reference, sorted(view.marks),
                   screen.frames.frame, sort)


def resume(screen: Any, s: Session) -> None:
    """Show ``s`` on ``screen`` once its file has been read: columns, time mode, marks, the
    reference and the sort at once; then the filter, and the frame when the filter is done."""
    from .view import Sort

    n = len(screen.trace)
    if s.columns:
        screen.set_columns(s.columns, persist=False)
    view = screen.view
    view.marks = {m for m in s.marks if 0 <= m < n}
    view.reference = s.reference if s.reference is not None and 0 <= s.reference < n else None
    view.touch()
    if s.time_mode:
        from .columns import time_modes

        if s.time_mode in time_modes(screen.trace):
            screen.set_time_mode(s.time_mode)
    view.sort = Sort(str(s.sort[0]), bool(s.sort[1])) if s.sort else None
    frame = s.frame if s.frame is not None and 0 <= s.frame < n else None
    if s.filter:
        screen.filter_bar.set_text(s.filter)
        if screen.apply_filter(s.filter, preset=s.preset) and frame is not None:
            screen.goto_when_filtered = frame
            return
    screen.rebuild_rows(keep_frame=frame)
    if frame is not None:
        screen.go_to_frame(frame)


def saved_for(trace: Any, store: SessionStore | None = None) -> Session | None:
    """The session to offer for ``trace``: nothing when there is none worth it; without frame
    numbers when the file changed since it was saved."""
    store = store or SessionStore()
    s = store.load(trace.path)
    if s is None:
        return None
    if not s.same_contents(trace.size, trace.mtime_ns):
        s = s.for_changed_file()
        if not s.filter:
            return None
    return None if s.empty else s


def remember(screen: Any, store: SessionStore | None = None, *, keep_offered: bool = False) -> bool:
    """Save ``screen``'s session.  An empty one removes what was saved (the user cleared it),
    unless ``keep_offered``: the last session was offered and not taken, and nothing was done
    since that would replace it."""
    store = store or SessionStore()
    s = capture(screen)
    if s.empty:
        if not keep_offered:
            store.forget(s.path)
        return True
    return store.save(s)
