"""The index cache: a finished scan saved under the user cache dir, keyed by path + size + mtime.

Each entry is a directory of ``.npy`` column files (memory-mapped on load) and a ``state.json``
with the tables the reader built (interfaces, providers, conversations, warnings, facts).

The cache must never answer for a file it does not describe, nor stop the program:

* entries are written to a temporary directory and renamed into place; the last file written
  is ``manifest.json``, which records every other file's length and checksum (CRC-32C,
  ``checksum.py``) and the trace's fingerprint.  An entry without it, or whose files do not
  match it (an empty or truncated
  ``.npy``, bit rot, data a power loss kept from the disk), is dropped with a warning and the
  trace is indexed again.  Nothing is fsynced: every load checks every file against the
  manifest, so syncing would buy no correctness and cost a cold open a fifth of a second on a
  busy disk;
* the fingerprint (``fingerprint``: inode, ctime and a hash of the file's first and last
  blocks) catches a trace rewritten with the same size and modification time;
* an interrupted write (Ctrl-C) removes its temporary directory; those of writers killed by a
  signal (SIGTERM, SIGKILL) carry the writer's pid and are removed on the next start (the first
  cache use of a process) once that process is gone.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from . import cache_space
from .checksum import ALGORITHM as CHECKSUM
from .checksum import file_checksum
from .errors import TraceWarning
from .index import COLUMNS, ConversationTable, FrameIndex
from .layeroffs import UNKNOWN as UNKNOWN_LAYOUT
from .origins import Interface, Provider

if TYPE_CHECKING:
    from .trace import Trace

#: bump when the index layout or a reader's state changes meaning
CACHE_VERSION = 19
#: written last: every other file's length and checksum (``checksum.py``), and the trace's fingerprint
MANIFEST = "manifest.json"
#: bytes hashed at each end of the trace for its fingerprint
FINGERPRINT_BLOCK = 64 * 1024
#: prefix of the directories an entry is written in before it is renamed into place
TMP_PREFIX = ".tmp-"
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
    return _key(trace.path, trace.size, trace.mtime_ns, trace.format)


def _key(path: str, size: int, mtime_ns: int, trace_format: str) -> str:
    ident = f"{CACHE_VERSION}|{os.path.abspath(path)}|{size}|{mtime_ns}|{trace_format}"
    return hashlib.sha256(ident.encode()).hexdigest()[:32]


def _enabled(trace: Trace) -> bool:
    return _caches(trace.size)


def _caches(size: int) -> bool:
    return os.environ.get("TRACEMON_NO_CACHE") is None and size >= min_bytes() and cache_space.limit_bytes() > 0


def holds(path: str, size: int, mtime_ns: int, trace_format: str) -> bool:
    """Whether there is an entry to restore for the file ``path`` of this size and time (before
    its ``Trace`` exists: ``readahead``); ``restore`` may still find it stale or damaged."""
    return _caches(size) and (cache_root() / _key(path, size, mtime_ns, trace_format)).is_dir()


def restore(trace: Trace) -> bool:
    """Load a cached index into ``trace``; False when there is none (or it is unusable)."""
    if not _enabled(trace):
        return False
    _sweep_once(cache_root())
    entry = cache_root() / key_for(trace)
    if not entry.is_dir():
        return False
    try:
        _verify(entry, trace)
        state = json.loads((entry / "state.json").read_text("utf-8"))
        zero, frames = set(state["zero_columns"]), int(state["frames"])
        cols = {name: np.zeros(frames, dtype=dt) if name in zero else np.load(entry / f"{name}.npy", mmap_mode="r")
                for name, dt in COLUMNS.items()}
        if any(len(c) != frames for c in cols.values()):
            raise ValueError(f"index columns of other lengths than its {frames} frames")
        index = FrameIndex.from_columns(cols)
        interfaces = [Interface(**i) for i in state["interfaces"]]
        providers = [Provider(**p) for p in state["providers"]]
        eth, ip, l4, tunnel = (_load_table(entry, kind) for kind in ("eth", "ip", "l4", "tunnel"))
        warnings = [TraceWarning(**w) for w in state["warnings"]]
        protocol_names, facts = list(state["protocol_names"]), dict(state["facts"])
        descriptors = [tuple(int(x) for x in d) for d in state["descriptors"]]
        layouts = [(int(a), int(b), int(c)) for a, b, c in state["layouts"]]
        if not layouts or len(layouts) > 256 or layouts[0] != UNKNOWN_LAYOUT:
            raise ValueError("layer offset table does not start with the unknown layout")
        trace.reader.restore(state["reader"])
    except StaleEntry as e:  # the trace changed behind an unchanged size and mtime
        _drop(trace, entry, f"ignored an index cache entry made for other contents of this file: {e}")
        return False
    except (OSError, ValueError, KeyError, TypeError, EOFError, IndexError) as e:
        _drop(trace, entry, f"ignored a damaged index cache entry: {e}")
        return False
    trace.index = index
    trace.interfaces = interfaces
    trace.providers = providers
    trace.protocol_names = protocol_names
    trace.descriptors = descriptors  # type: ignore[assignment]
    trace.layouts = layouts
    trace.eth_conversations, trace.ip_conversations, trace.l4_conversations = eth, ip, l4
    trace.tunnel_conversations = tunnel
    trace.warnings = warnings
    trace.facts.update(facts)
    trace.from_cache = True
    trace.complete.set()
    cache_space.touch(entry)  # recently used: the last to be evicted
    return True


def store(trace: Trace, *, behind: bool = False) -> Path | None:
    """Save a completed scan; failures to write the cache never fail the open (they are noted in
    ``trace.facts["cache_error"]``).  The entry's contents are taken now; with ``behind`` they are
    written on a thread of their own while the caller goes on (a one-shot command filters
    meanwhile), and None is returned: ``after_stored`` queues work for when the entry is there,
    ``wait_stored`` waits for it, and the process waits for the thread at exit."""
    if not _enabled(trace) or not trace.complete.is_set() or trace.from_cache:
        return None
    try:
        entry = _Entry(trace)
    except (OSError, TypeError, ValueError) as e:  # a file gone, tables that cannot be written
        trace.facts["cache_error"] = f"could not write the index cache: {e}"
        return None
    if not behind:
        return entry.write()
    writer = _Writer(entry)
    with _writers_lock:
        _writers[trace] = writer
    writer.thread.start()
    return None


class _Writer:
    """The thread writing an entry (``store(behind=True)``), and what is to run after it."""

    def __init__(self, entry: _Entry) -> None:
        self.entry = entry
        self.lock = threading.Lock()
        self.after: list[Callable[[], None]] | None = []  # None once that has run
        self.written = False  # (or failed)
        self.thread = threading.Thread(target=self._run, name="tracemon-cache")  # (not a daemon: finished at exit)

    def _run(self) -> None:
        try:
            self.entry.write()
        finally:
            self.written = True
            while True:  # (work queued while the last of it ran runs too)
                with self.lock:
                    todo, self.after = self.after, ([] if self.after else None)
                if not todo:
                    break
                for fn in todo:
                    fn()

    def then(self, fn: Callable[[], None]) -> bool:
        """Queue ``fn`` for after the write; False when the write is over (the caller runs it)."""
        with self.lock:
            if self.after is None:
                return False
            self.after.append(fn)
            return True


#: the traces whose entry a thread is writing (``store(behind=True)``)
_writers: weakref.WeakKeyDictionary[Trace, _Writer] = weakref.WeakKeyDictionary()
_writers_lock = threading.Lock()


def after_stored(trace: Trace, fn: Callable[[], None]) -> None:
    """Run ``fn`` (which must not raise) once ``trace``'s entry is there: on the thread writing
    it when one is (a field column built meanwhile goes into the entry after it), else now."""
    with _writers_lock:
        writer = _writers.get(trace)
    if writer is None or not writer.then(fn):
        fn()


def wait_stored(trace: Trace) -> None:
    """Until the entry ``store(trace, behind=True)`` began is written (or failed), and the work
    queued after it has run."""
    with _writers_lock:
        writer = _writers.get(trace)
    if writer is not None:
        writer.thread.join()


def _storing(trace: Trace) -> bool:
    with _writers_lock:
        writer = _writers.get(trace)
    return writer is not None and not writer.written


class _Entry:
    """What a cache entry of ``trace`` holds, taken when the scan completed (a thread may write
    it while the trace goes on: frames decoded later intern new conversations, and the trace may
    be closed), and its writing."""

    def __init__(self, trace: Trace) -> None:
        self.root = cache_root()
        self.path = self.root / key_for(trace)
        self.facts = trace.facts
        # the index's columns are not written after the scan completes: kept by reference
        self.columns = {name: arr for name, arr in trace.index.columns().items() if arr.any()}
        self.tables = {table.kind: _records(table.to_arrays()) for table in (
            trace.eth_conversations, trace.ip_conversations, trace.l4_conversations, trace.tunnel_conversations)}
        self.state: dict[str, Any] = {
            "path": os.path.abspath(trace.path),
            "frames": len(trace.index),
            # an ETW column of a pcap, the conversations of an event trace: not written
            "zero_columns": [name for name in trace.index.columns() if name not in self.columns],
            # each record as its dataclass fields, so restore() rebuilds it with Class(**fields)
            "interfaces": [{**asdict(i), "options": _json_safe(i.options)} for i in trace.interfaces],
            "providers": [asdict(p) for p in trace.providers],
            "protocol_names": trace.protocol_names,
            "descriptors": trace.descriptors,
            "layouts": trace.layouts,
            # warnings about the trace, not about a cache entry dropped before this scan
            "warnings": [asdict(w) for w in trace.warnings if w.path == trace.path],
            "facts": _json_safe(trace.facts),
            "reader": trace.reader.state(),
        }
        self.fingerprint = fingerprint(trace)

    def write(self) -> Path | None:
        root, entry = self.root, self.path
        tmp: Path | None = None
        try:
            root.mkdir(parents=True, exist_ok=True)
            _sweep_once(root)
            tmp = Path(tempfile.mkdtemp(prefix=f"{TMP_PREFIX}{os.getpid()}-", dir=root))
            for name, arr in self.columns.items():
                np.save(tmp / f"{name}.npy", np.ascontiguousarray(arr))
            for kind, rec in self.tables.items():
                np.save(tmp / f"conv_{kind}.npy", rec)
            (tmp / "state.json").write_text(json.dumps(self.state), "utf-8")
            _write_manifest(tmp, self.fingerprint)
            if entry.exists():
                shutil.rmtree(entry, ignore_errors=True)
            os.replace(tmp, entry)
            tmp = None
            cache_space.evict(root, keep=entry)
            return entry
        except (OSError, TypeError, ValueError) as e:  # full disk, read-only dir, state JSON cannot hold
            self.facts["cache_error"] = f"could not write the index cache: {e}"
            return None
        finally:  # also on Ctrl-C: no half-written directory left behind
            if tmp is not None:
                shutil.rmtree(tmp, ignore_errors=True)


def _records(cols: dict[str, np.ndarray]) -> np.ndarray:
    """A conversation table's columns as one structured array: one file, one write (an ``.npz``
    of six arrays cost half of a cache write, in its zip members and their checksums)."""
    out = np.empty(len(next(iter(cols.values()))), dtype=[(name, arr.dtype) for name, arr in cols.items()])
    for name, arr in cols.items():
        out[name] = arr
    return out


def _load_table(entry: Path, kind: str) -> ConversationTable:
    rec = np.load(entry / f"conv_{kind}.npy")
    if rec.dtype.names is None:
        raise ValueError(f"conv_{kind}.npy holds no conversation table")
    return ConversationTable.from_arrays(kind, {name: rec[name] for name in rec.dtype.names})


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


# -- integrity ------------------------------------------------------------------------------------
class StaleEntry(ValueError):
    """The entry was made for other contents of the trace's path."""


def fingerprint(trace: Trace) -> dict[str, Any]:
    """What identifies the trace's contents cheaply: inode, ctime (a rewrite changes it even when
    the size and mtime are set back) and a hash of its first and last blocks."""
    f = trace._file
    st = os.fstat(f.fileno()) if f is not None else os.stat(trace.path)
    h = hashlib.sha256()
    block = FINGERPRINT_BLOCK
    h.update(os.pread(f.fileno(), block, 0) if f is not None else b"")
    if f is not None and trace.size > block:
        h.update(os.pread(f.fileno(), block, max(block, trace.size - block)))
    return {"inode": st.st_ino, "device": st.st_dev, "ctime_ns": st.st_ctime_ns, "size": trace.size,
            "mtime_ns": trace.mtime_ns, "ends_sha256": h.hexdigest()}


def _write_manifest(tmp: Path, ident: dict[str, Any]) -> None:
    files = {p.name: [p.stat().st_size, file_checksum(p, CHECKSUM)] for p in sorted(tmp.iterdir()) if p.is_file()}
    manifest = {"version": CACHE_VERSION, "checksum": CHECKSUM, "files": files, "fingerprint": ident}
    with open(tmp / MANIFEST, "w", encoding="utf-8") as f:
        json.dump(manifest, f)


def _verify(entry: Path, trace: Trace) -> None:
    """Raise unless every file of the entry is as the manifest recorded and the trace is the one
    it was made for (``StaleEntry``)."""
    try:
        manifest = json.loads((entry / MANIFEST).read_text("utf-8"))
    except FileNotFoundError:
        raise ValueError("no manifest (the entry was never completed)") from None
    if manifest.get("version") != CACHE_VERSION:
        raise ValueError(f"cache version {manifest.get('version')}, expected {CACHE_VERSION}")
    algorithm = manifest.get("checksum")
    for name, (size, crc) in manifest["files"].items():
        path = entry / name
        if path.stat().st_size != size:
            raise ValueError(f"{name} has {path.stat().st_size} bytes, the manifest says {size}")
        if file_checksum(path, algorithm) != crc:
            raise ValueError(f"{name} does not match its checksum")
    want, have = manifest["fingerprint"], fingerprint(trace)
    changed = [k for k in have if want.get(k) != have[k]]
    if changed:
        raise StaleEntry(f"{', '.join(changed)} differ")


def _drop(trace: Trace, entry: Path, message: str) -> None:
    """Forget an entry that cannot be used: the caller indexes the trace again."""
    shutil.rmtree(entry, ignore_errors=True)
    trace.facts["cache_error"] = message
    trace.warnings.append(TraceWarning(str(entry), None, message + "; the trace was indexed again"))


_swept: set[Path] = set()


def _sweep_once(root: Path) -> None:
    """``remove_stale_temporaries`` on the first cache use of this process (the next start)."""
    if root not in _swept:
        _swept.add(root)
        remove_stale_temporaries(root)


def remove_stale_temporaries(root: Path) -> int:
    """Remove the temporary directories of cache writes that were interrupted (their writer is
    gone, or, for names without a pid, they are older than this process); returns how many."""
    removed = 0
    started = _process_start()
    try:
        candidates = [p for p in root.iterdir() if p.name.startswith(TMP_PREFIX)]
    except OSError:
        return 0
    for path in candidates:
        pid_text = path.name[len(TMP_PREFIX):].split("-", 1)[0]
        try:
            if pid_text.isdigit():
                if int(pid_text) == os.getpid() or _alive(int(pid_text)):
                    continue
            elif path.stat().st_mtime >= started:
                continue
        except OSError:
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed += 1
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: someone else's live process
        return True
    return True


_STARTED = time.time()


def _process_start() -> float:
    """When this process started (the import time of this module where /proc cannot tell)."""
    try:
        ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
        boot = next(float(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines()
                    if line.startswith("btime "))
        return boot + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return _STARTED


# -- field columns (traces/fieldcols.py) beside the index entry ------------------------------------

def field_column_dir(trace: Trace) -> Path | None:
    """Where the field columns of ``trace`` are cached: a ``fields`` folder inside its index
    entry, so they go when the entry goes; None when the trace has no entry (small files,
    caching off, a stale or unwritten entry, one a thread is writing: ``after_stored``)."""
    if not _enabled(trace) or not trace.complete.is_set() or _storing(trace):
        return None
    entry = cache_root() / key_for(trace)
    if not (entry / MANIFEST).is_file():  # written last: the entry is complete
        return None
    return entry / "fields"
