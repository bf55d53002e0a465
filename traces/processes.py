"""Process names a trace records: pid → executable, for the Process column and the
``Conversation.ProcessName`` filter alike.

Netmon 2.2+ files carry a process table (path, pid, ports) that frames point into; readers that
learn names (Netmon, ETW process events when a reader keeps them) list them as ``reader.processes``
(objects with ``pid`` and ``path``) or as ``trace.facts["processes"]`` ("pid path" strings, or a
pid → path mapping), which the index cache keeps.
"""

from __future__ import annotations

import ntpath
from typing import Any


def process_names(trace: Any) -> dict[int, str]:
    """pid → executable path, from what the reader recorded (the first entry of a pid wins)."""
    out: dict[int, str] = {}
    reader = getattr(trace, "reader", None)
    for p in getattr(reader, "processes", None) or []:
        pid, path = getattr(p, "pid", None), getattr(p, "path", None) or getattr(p, "name", None)
        if isinstance(pid, int) and path:
            out.setdefault(pid, str(path))
    facts = getattr(trace, "facts", {}) or {}
    table = facts.get("processes")
    if isinstance(table, dict):
        for k, v in table.items():
            try:
                out.setdefault(int(k), str(v))
            except (TypeError, ValueError):
                continue
    elif isinstance(table, list):
        for entry in table:
            if isinstance(entry, str) and " " in entry:
                head, _, path = entry.partition(" ")
                if head.isdigit():
                    out.setdefault(int(head), path)
    return out


def executable(path: str) -> str:
    """The file name of a Windows or POSIX path (``C:\\Windows\\System32\\svchost.exe`` → ``svchost.exe``)."""
    return ntpath.basename(path.replace("/", "\\"))
