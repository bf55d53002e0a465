"""What the index cache holds and how much room it may take: listing, clearing, and eviction of
the least recently used entries beyond a size limit (``tracemon cache list|clear``).

An entry's directory modification time is its "last used" time: ``cache.store`` creates it and
``cache.restore`` touches it.  The limit comes from ``TRACEMON_CACHE_MAX`` (``4G``, ``500M``,
bytes), else what the application set from the user's config (``set_limit``), else 4 GiB.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DEFAULT_LIMIT = 4 << 30
_UNITS = {"": 1, "b": 1, "k": 1 << 10, "kb": 1 << 10, "kib": 1 << 10, "m": 1 << 20, "mb": 1 << 20, "mib": 1 << 20,
          "g": 1 << 30, "gb": 1 << 30, "gib": 1 << 30, "t": 1 << 40, "tb": 1 << 40, "tib": 1 << 40}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")
_configured: int | None = None


def parse_size(text: str) -> int:
    """``"4G"`` → 4 GiB; ``"0"`` turns caching off.  ValueError names what was wrong."""
    m = _SIZE.match(text)
    unit = m.group(2).lower() if m else ""
    if m is None or unit not in _UNITS:
        raise ValueError(f"{text!r} is not a size (examples: 4G, 500M, 1073741824)")
    return int(float(m.group(1)) * _UNITS[unit])


def set_limit(limit: int | None) -> None:
    """The limit from the user's settings (the environment variable still wins)."""
    global _configured
    _configured = limit


def limit_bytes() -> int:
    env = os.environ.get("TRACEMON_CACHE_MAX")
    if env:
        try:
            return parse_size(env)
        except ValueError:
            pass  # a bad variable must not stop the program; the default applies
    return DEFAULT_LIMIT if _configured is None else _configured


@dataclass(slots=True, frozen=True)
class Entry:
    key: str
    directory: Path
    trace_path: str  # "" when the entry does not say (damaged)
    size: int  # bytes on disk
    last_used: float  # seconds since the epoch
    frames: int


def _size(directory: Path) -> int:
    total = 0
    for p in directory.iterdir():
        try:
            total += p.stat().st_size
        except OSError:
            continue
    return total


def entries(root: Path, *, describe: bool = True) -> list[Entry]:
    """Every complete entry under ``root``, most recently used first; without ``describe`` only
    sizes and times are read (what eviction needs), not each entry's trace path and frame count."""
    out = []
    try:
        dirs = [p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")]
    except OSError:
        return []
    for d in dirs:
        try:
            st = d.stat()
            size = _size(d)
        except OSError:
            continue
        path, frames = "", 0
        if not describe:
            out.append(Entry(d.name, d, path, size, st.st_mtime, frames))
            continue
        try:
            state = json.loads((d / "state.json").read_text("utf-8"))
            path = str(state.get("path", ""))
        except (OSError, ValueError, TypeError, AttributeError):
            pass
        try:  # mapping reads only the .npy header, which holds the row count
            frames = int(np.load(d / "ts.npy", mmap_mode="r").shape[0])
        except (OSError, ValueError, IndexError, EOFError):
            pass
        out.append(Entry(d.name, d, path, size, st.st_mtime, frames))
    out.sort(key=lambda e: e.last_used, reverse=True)
    return out


def touch(directory: Path) -> None:
    """Mark an entry as just used (a failure only makes it look older)."""
    try:
        os.utime(directory)
    except OSError:
        pass


def evict(root: Path, limit: int | None = None, keep: Path | None = None) -> list[Entry]:
    """Remove least recently used entries until the cache fits ``limit``; ``keep`` (the entry
    just written) is never removed.  Returns what was removed."""
    limit = limit_bytes() if limit is None else limit
    listed = entries(root, describe=False)
    total = sum(e.size for e in listed)
    removed = []
    for e in reversed(listed):  # oldest first
        if total <= limit:
            break
        if keep is not None and e.directory == keep:
            continue
        shutil.rmtree(e.directory, ignore_errors=True)
        total -= e.size
        removed.append(e)
    return removed


def clear(root: Path, trace_path: str | None = None) -> list[Entry]:
    """Remove every entry, or those made for ``trace_path`` (any version of that file)."""
    want = os.path.abspath(trace_path) if trace_path else None
    removed = []
    for e in entries(root):
        if want is None or e.trace_path == want:
            shutil.rmtree(e.directory, ignore_errors=True)
            removed.append(e)
    return removed
