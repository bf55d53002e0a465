"""Writing a file the user named, without surprises: exports, presets, settings.

* A regular file (or a new name) is written under a temporary name beside it and renamed over
  it when complete, so an interrupted write leaves the old file or the new one, never half.
  The new file keeps the old one's permission bits (a fresh one gets 0666 less the umask, like
  any file the user creates), and a symbolic link stays a link: the file it points to is
  replaced, not the link.
* ``-`` is standard output, and an existing file that is not a regular file (``/dev/stdout``,
  a terminal, a FIFO, a symlink to one) is written in place: renaming over ``/dev/stdout`` as
  root used to replace the device link with a regular file.
* A directory is refused before anything is written.
* Temporary names carry the writer's process id (``.NAME.PID.RANDOM.tracemon-tmp``).  Ones
  left by a process that is gone (SIGKILL, power loss) are removed the next time that
  directory is written to; ``remove_partial`` removes the running process's own, for a
  SIGTERM handler.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import stat
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO

SUFFIX = ".tracemon-tmp"
STDOUT = "-"

_live: set[str] = set()
_live_lock = threading.Lock()


def is_stdout(path: str | os.PathLike[str]) -> bool:
    return os.fspath(path) == STDOUT


@contextlib.contextmanager
def open_output(path: str | os.PathLike[str], mode: str = "w", *, fsync: bool = False) -> Iterator[IO]:
    """A file object for writing ``path`` as the module docstring says (``mode`` "w" or "wb").

    Text files are UTF-8 with newlines as written (CSV writes its own ``\\r\\n``).
    """
    binary = "b" in mode
    if is_stdout(path):
        yield from _stdout(binary)
        return
    target = Path(path)
    try:
        st = target.stat()  # follows links: what a write would reach
    except FileNotFoundError:
        st = None
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise IsADirectoryError(errno.EISDIR, "is a directory", str(target))
    if st is not None and not stat.S_ISREG(st.st_mode):
        with open(target, mode, **_text_args(binary)) as out:  # a device or FIFO: in place
            yield out
        return
    real = Path(os.path.realpath(target)) if target.is_symlink() else target
    yield from _replace(real, mode, st, fsync)


def _text_args(binary: bool) -> dict[str, str]:
    return {} if binary else {"encoding": "utf-8", "newline": ""}


def _stdout(binary: bool) -> Iterator[IO]:
    sys.stdout.flush()
    if binary:
        out: IO = sys.stdout.buffer
        yield out
    else:
        yield sys.stdout
    sys.stdout.flush()


def _replace(target: Path, mode: str, st: os.stat_result | None, fsync: bool) -> Iterator[IO]:
    folder = target.parent
    sweep(folder, target.name)
    tmp = folder / f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}{SUFFIX}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666)  # less umask
    with _live_lock:
        _live.add(os.fspath(tmp))
    try:
        if st is not None:
            os.fchmod(fd, stat.S_IMODE(st.st_mode))
        with os.fdopen(fd, mode, **_text_args("b" in mode)) as out:
            yield out
            out.flush()
            if fsync:
                os.fsync(out.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    finally:
        with _live_lock:
            _live.discard(os.fspath(tmp))


_TMP_RE = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)\.[0-9a-f]{8}" + re.escape(SUFFIX) + "$")


def sweep(folder: Path, name: str | None = None) -> list[Path]:
    """Remove temporary files in ``folder`` (for target ``name``, or any) whose writer is gone."""
    removed: list[Path] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        m = _TMP_RE.match(entry.name)
        if m is None or (name is not None and m.group("name") != name):
            continue
        if _alive(int(m.group("pid"))):
            continue
        with contextlib.suppress(OSError):
            os.unlink(entry.path)
            removed.append(Path(entry.path))
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return pid > 0  # someone else's process: alive
    return True


def remove_partial() -> None:
    """Remove this process's unfinished temporary files (a signal handler calls this before exit)."""
    with _live_lock:
        paths = list(_live)
        _live.clear()
    for p in paths:
        with contextlib.suppress(OSError):
            os.unlink(p)
