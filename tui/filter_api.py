"""The filter compiler, completion, presets and history, as the TUI uses them.

Everything comes from ``tracemon.filters``, imported on first use: it pulls in pyparsing and the
compiler, a fifth of a second the first screen should not wait for.  ``filter_api.FilterError``
and friends resolve lazily (module ``__getattr__``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from tracemon.traces.trace import Trace

_NAMES = ("Candidate", "CompiledFilter", "Completion", "FilterError", "History", "Preset", "PresetError",
          "PresetStore", "compile_filter", "complete", "format_value")
_lock = threading.Lock()
_loaded: ModuleType | None = None


def _api() -> ModuleType:
    global _loaded
    if _loaded is None:
        with _lock:
            if _loaded is None:
                import tracemon.filters as mod

                for name in _NAMES:  # (the package loads them on first use: here, under the lock)
                    getattr(mod, name)
                _loaded = mod
    return _loaded


def module(name: str) -> ModuleType:
    """``tracemon.filters.<name>``, imported only after the package (under ``_lock``).  Every
    TUI import of the filter package goes through here: two threads importing its modules at
    once (the colour worker's warm-up and a keystroke's check) can meet in its import cycles,
    where Python gives one of them up and the other fails with KeyError('tracemon.filters')."""
    import importlib

    _api()
    return importlib.import_module(f"tracemon.filters.{name}")


def __getattr__(name: str) -> Any:
    """``filter_api.FilterError``, ``filter_api.PresetStore`` … resolved on first use."""
    if name in _NAMES:
        return getattr(_api(), name)
    raise AttributeError(name)


def warm_up() -> None:
    """Import the compiler now (called from a worker after the first screen is up)."""
    _api()


def compile(text: str, trace: Trace) -> Any:
    return _api().compile_filter(text, registry=trace.registry, trace=trace)


def complete_at(text: str, cursor: int, trace: Trace, presets: Any = None) -> Any:
    """Completions for the token at ``cursor`` (with presets offered when the bar is empty)."""
    return _api().complete(text, cursor, trace.registry, trace, limit=50, presets=presets)


def evaluate_range(cf: Any, trace: Trace, start: int, stop: int, *,
                   cancel: threading.Event | None = None,
                   progress: Callable[[int, int], None] | None = None) -> np.ndarray | None:
    """The filter's mask over frames ``[start, stop)`` (length ``stop - start``); None if cancelled."""
    mask = cf.evaluate(trace, start=start, stop=stop, cancel=cancel, progress=progress)
    if cancel is not None and cancel.is_set():
        return None
    if len(mask) != stop - start:
        raise ValueError(f"filter mask has {len(mask)} rows for frames {start}..{stop}")
    return mask


def error_parts(err: Any) -> tuple[str, int, int]:
    """(message, 1-based column in the one-line text, length) of a FilterError."""
    message = getattr(err, "message", None) or str(err)
    offset = getattr(err, "offset", None)
    column = int(offset) + 1 if isinstance(offset, int) else int(getattr(err, "column", 0) or 0)
    length = int(getattr(err, "length", 1) or 1)
    return message, column, length
