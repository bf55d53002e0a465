"""A trace file mapped for reading, and the files ``readahead`` mapped before their ``Trace``.

A ``Trace`` reads its file through a shared read-only map (``map_file``), watched by the SIGBUS
safety net (``_mapguard.c``).  ``readahead`` maps the file of a one-shot command early and finds
its records on a thread while the command still loads its modules; it leaves the map here
(``put_early``) for the ``Trace`` that opens the path, which takes it over (``take_early``).
``discard_early`` closes what no ``Trace`` took.
"""

from __future__ import annotations

import mmap
import os
import stat
import threading
from dataclasses import dataclass
from typing import Any

from .errors import TraceError
from .pipeline import Ahead

try:  # the SIGBUS safety net (_mapguard.c), built at install time when a compiler is there
    from . import _mapguard
except ImportError:  # pragma: no cover - depends on the build
    _mapguard = None


def map_file(path: str) -> tuple[Any, Any, int, int]:
    """The file at ``path`` opened and mapped read-only: (file, map, size, mtime_ns); a
    ``TraceError`` says what stops it (missing, a directory, unreadable, empty)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise TraceError(path, "no such file") from None
    except PermissionError:
        raise TraceError(path, "permission denied") from None
    except OSError as e:
        raise TraceError(path, e.strerror or str(e)) from None
    if stat.S_ISDIR(st.st_mode):
        raise TraceError(path, "is a directory, not a trace file")
    if not stat.S_ISREG(st.st_mode):
        raise TraceError(path, "is not a regular file")
    try:
        f = open(path, "rb")  # noqa: SIM115 - stays open as long as the Trace maps the file
    except PermissionError:
        raise TraceError(path, "permission denied (cannot read the file)") from None
    except OSError as e:
        raise TraceError(path, e.strerror or str(e)) from None
    st = os.fstat(f.fileno())  # the file opened, not the one stat() saw (it may have been replaced)
    if st.st_size == 0:
        f.close()
        raise TraceError(path, "the file is empty", 0)
    try:
        buf = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    except (OSError, ValueError) as e:
        f.close()
        raise TraceError(path, f"cannot map the file: {e}") from None
    return f, buf, st.st_size, st.st_mtime_ns


@dataclass(slots=True)
class Early:
    """A trace file mapped ahead of its ``Trace``, and the work ``readahead`` started on it
    (``records``: the reader's to take; None: none)."""

    file: Any
    buf: Any
    size: int
    mtime_ns: int
    #: the mapping's address in ``_mapguard`` (0: not guarded)
    guarded: int
    records: Ahead | None


_early: dict[str, Early] = {}
_lock = threading.Lock()


def put_early(path: str, early: Early) -> bool:
    """Leave ``early`` for the ``Trace`` of ``path``; False (nothing left) when one already is."""
    with _lock:
        return _early.setdefault(os.path.abspath(path), early) is early


def take_early(path: str) -> Early | None:
    """What was mapped ahead for ``path``, now the caller's to close (None: nothing was)."""
    if not _early:  # (the usual case: no lock taken)
        return None
    with _lock:
        return _early.pop(os.path.abspath(path), None)


def discard_early() -> None:
    """Close every map no ``Trace`` took, once the work on it is over (the work holds the map):
    at once, or on a thread of its own when the work goes on (a command that failed before it
    opened its trace says why at once, not after a walk through a file on a slow disk)."""
    with _lock:
        left = list(_early.values())
        _early.clear()
    for early in left:
        if early.records is None or early.records.done():
            close_early(early)
        else:
            threading.Thread(target=close_early, args=(early,), name="tracemon-readahead-close", daemon=True).start()


def close_early(early: Early) -> None:
    if early.records is not None:
        early.records.wait()
    if early.guarded and _mapguard is not None:
        _mapguard.unwatch(early.guarded)
    early.buf.close()
    early.file.close()
