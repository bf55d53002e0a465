"""Errors and warnings raised while reading trace files.

Every reader stops at the first damaged record and reports *where* (file, byte offset) and *what*;
the frames read before the damage stay in the index.  ``TraceError`` is for files that cannot be
opened at all; ``TraceWarning`` records damage found after some frames were read.
"""

from __future__ import annotations

from dataclasses import dataclass


class TraceError(Exception):
    """A file that cannot be read as a trace at all (missing, unreadable, unknown format, empty)."""

    def __init__(self, path: str, cause: str, offset: int | None = None) -> None:
        self.path = str(path)
        self.cause = cause
        self.offset = offset
        super().__init__(self.message)

    @property
    def message(self) -> str:
        where = f" at offset {self.offset}" if self.offset is not None else ""
        return f"{self.path}{where}: {self.cause}"


@dataclass(slots=True, frozen=True)
class TraceWarning:
    """Damage or loss found while reading; frames before it were kept."""

    path: str
    offset: int | None
    cause: str
    #: number of frames read before the damage (``None`` when not a stopping error)
    frames_kept: int | None = None

    @property
    def message(self) -> str:
        where = f" at offset {self.offset}" if self.offset is not None else ""
        kept = f" ({self.frames_kept} frames before it were kept)" if self.frames_kept is not None else ""
        return f"{self.path}{where}: {self.cause}{kept}"

    def __str__(self) -> str:
        return self.message


class DamagedRecord(Exception):
    """Raised inside a reader's scan loop; the scanner turns it into a TraceWarning and stops."""

    def __init__(self, offset: int, cause: str) -> None:
        self.offset = offset
        self.cause = cause
        super().__init__(f"offset {offset}: {cause}")
