"""The index cache: a finished scan saved under the user cache dir, keyed by path + size + mtime.

Each entry is a directory of ``.npy`` column files (memory-mapped on load, so a re-open of a
multi-GB trace costs milliseconds) and a ``state.json`` with the tables the reader built
(interfaces, providers, conversations, warnings, facts).  Entries are written to a temporary
directory and renamed into place, so a crash never leaves a half-written entry that loads.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import TraceWarning
from .index import COLUMNS, ConversationTable, FrameIndex

if TYPE_CHECKING:
    from .trace import Trace

#: bump when the index layout or a reader's state changes meaning
CACHE_VERSION = 6
#: files smaller than this scan faster than a cache entry loads; the env var overrides it
DEFAULT_MIN_BYTES = 8 * 1024 * 1024


def cache_root() -> Path:
    env = os.environ.get("TRACEMON_CACHE_DIR")
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_cache_dir("tracemon", appauthor=False)) / "index"


def min_bytes() -> int:
    env = os.environ.get("TRACEMON_CACHE_MIN_BYTES")
    return int(env) if env else DEFAULT_MIN_BYTES


def key_for(trace: Trace) -> str:
    ident = f"{CACHE_VERSION}|{os.path.abspath(trace.path)}|{trace.size}|{trace.mtime_ns}|{trace.format}"
    return hashlib.sha256(ident.encode()).hexdigest()[:32]


def _enabled(trace: Trace) -> bool:
    return os.environ.get("TRACEMON_NO_CACHE") is None and trace.size >= min_bytes()


def restore(trace: Trace) -> bool:
    """Load a cached index into ``trace``; False when there is none (or it is unusable)."""
    if not _enabled(trace):
        return False
    entry = cache_root() / key_for(trace)
    state_file = entry / "state.json"
    if not state_file.is_file():
        return False
    try:
        state = json.loads(state_file.read_text("utf-8"))
        cols = {name: np.load(entry / f"{name}.npy", mmap_mode="r") for name in COLUMNS}
        index = FrameIndex.from_columns(cols)
        from .trace import Interface, Provider

        interfaces = [Interface(**i) for i in state["interfaces"]]
        providers = [Provider(**p) for p in state["providers"]]
        eth, ip, l4 = (_load_table(entry, kind) for kind in ("eth", "ip", "l4"))
        warnings = [TraceWarning(**w) for w in state["warnings"]]
        protocol_names, facts = list(state["protocol_names"]), dict(state["facts"])
        trace.reader.restore(state["reader"])
    except (OSError, ValueError, KeyError, TypeError) as e:
        # a damaged entry is dropped and the file is scanned again
        trace.facts["cache_error"] = f"ignored a damaged index cache entry: {e}"
        shutil.rmtree(entry, ignore_errors=True)
        return False
    trace.index = index
    trace.interfaces = interfaces
    trace.providers = providers
    trace.protocol_names = protocol_names
    trace.eth_conversations, trace.ip_conversations, trace.l4_conversations = eth, ip, l4
    trace.warnings = warnings
    trace.facts.update(facts)
    trace.from_cache = True
    trace.complete.set()
    return True


def store(trace: Trace) -> Path | None:
    """Save a completed scan; failures to write the cache never fail the open."""
    if not _enabled(trace) or not trace.complete.is_set() or trace.from_cache:
        return None
    root = cache_root()
    entry = root / key_for(trace)
    tmp: Path | None = None
    try:
        root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=root))
        for name, arr in trace.index.columns().items():
            np.save(tmp / f"{name}.npy", np.ascontiguousarray(arr))
        for table in (trace.eth_conversations, trace.ip_conversations, trace.l4_conversations):
            np.savez(tmp / f"conv_{table.kind}.npz", **table.to_arrays())
        state: dict[str, Any] = {
            "path": os.path.abspath(trace.path),
            # each record as its dataclass fields, so restore() rebuilds it with Class(**fields)
            "interfaces": [{**asdict(i), "options": _json_safe(i.options)} for i in trace.interfaces],
            "providers": [asdict(p) for p in trace.providers],
            "protocol_names": trace.protocol_names,
            "warnings": [asdict(w) for w in trace.warnings],
            "facts": _json_safe(trace.facts),
            "reader": trace.reader.state(),
        }
        (tmp / "state.json").write_text(json.dumps(state), "utf-8")
        if entry.exists():
            shutil.rmtree(entry, ignore_errors=True)
        os.replace(tmp, entry)
        return entry
    except (OSError, TypeError, ValueError) as e:  # full disk, read-only dir, state JSON cannot hold
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)  # no half-written directory left behind
        trace.facts["cache_error"] = f"could not write the index cache: {e}"
        return None


def _load_table(entry: Path, kind: str) -> ConversationTable:
    with np.load(entry / f"conv_{kind}.npz") as cols:
        return ConversationTable.from_arrays(kind, {k: cols[k] for k in cols.files})


def _json_safe(v: Any) -> Any:
    if isinstance(v, dict):
        return {str(k): _json_safe(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_json_safe(x) for x in v]
    if isinstance(v, bytes):
        return v.hex()
    if isinstance(v, (str, int, float, bool)) or v is None:
        return v
    return str(v)
