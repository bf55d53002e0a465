"""The checksum the index cache records for every file it writes (an entry's ``manifest.json``,
a field column's ``.json``) and checks again on every load: CRC-32C (``_checksum.c``, with the
processor's instruction where there is one), or zlib's CRC-32 in a build without the C module.
What is recorded names its algorithm, so a file checked by another algorithm than it was
written with counts as unreadable (the trace is indexed again), never as good."""

from __future__ import annotations

import mmap
import zlib
from collections.abc import Callable
from pathlib import Path

try:  # built at install time when a compiler is there
    from ._checksum import crc32c as _crc32c
except ImportError:  # pragma: no cover - depends on the build
    _crc32c = None

FUNCTIONS: dict[str, Callable[..., int]] = {"crc32": zlib.crc32}
if _crc32c is not None:
    FUNCTIONS["crc32c"] = _crc32c
#: what this build records
ALGORITHM = "crc32c" if _crc32c is not None else "crc32"


def file_checksum(path: Path, algorithm: str = ALGORITHM) -> int:
    """The checksum of the file at ``path`` (read through a map: no copy); a ``ValueError`` for
    an algorithm this build cannot compute."""
    fn = FUNCTIONS.get(algorithm)
    if fn is None:
        raise ValueError(f"checksum {algorithm!r}, which this build cannot compute")
    with open(path, "rb") as f:
        size = f.seek(0, 2)
        if not size:
            return fn(b"")
        with mmap.mmap(f.fileno(), size, access=mmap.ACCESS_READ) as m:
            view = memoryview(m)
            try:
                return fn(view)
            finally:
                view.release()
