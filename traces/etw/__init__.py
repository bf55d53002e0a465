"""ETW: Windows event trace (.etl) files.

Reading: ``reader`` (buffers → index, rows → frames), ``records`` (record headers, the index
pass), ``xpress`` (compressed buffers), ``packets`` (packets inside NDIS/PktMon events).
Decoding: ``decode`` (one event → names, message, field tree) over ``payload`` (the template
interpreter), ``schema`` (bundled and user schemas), ``manifest``/``symbols`` (user files),
``tracelogging`` (self-describing events) and ``naming`` (Netmon names).  ``writer`` and ``demo``
write ETL files for tests, benchmarks and the built-in demo trace.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any


def user_manifest_dir() -> Path:
    """``<user data dir>/tracemon/manifests``: manifests and symbol maps loaded at start."""
    import platformdirs

    return Path(platformdirs.user_data_dir("tracemon", appauthor=False)) / "manifests"


def load_schemas(manifests: Iterable[Path | str] = (), symbols: Iterable[Path | str] = (),
                 registry: Any = None) -> list[str]:
    """``schema.load_schemas``, importing the schema store only when there is something to load
    (the manifests folder exists, or files were given): a pcap's headless command skips it."""
    manifests, symbols = list(manifests), list(symbols)
    if not manifests and not symbols and not user_manifest_dir().is_dir():
        return []
    from .schema import load_schemas as load

    return load(manifests, symbols, registry)
