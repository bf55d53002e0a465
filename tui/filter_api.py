"""The filter compiler, completion, presets and history, as the TUI uses them.

Everything comes from ``tracemon.filters``, imported on first use (it pulls in pyparsing and
the compiler: a fifth of a second the first screen should not wait for).  Until that package
exists the TUI runs on ``_filter_fallback`` (same API, a small subset of the language);
``REAL`` says which one is in use.
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
          "PresetStore", "compile_filter", "complete")
_lock = threading.Lock()
_loaded: tuple[ModuleType, bool] | None = None


def _api() -> tuple[ModuleType, bool]:
    global _loaded
    if _loaded is None:
        with _lock:
            if _loaded is None:
                try:
                    import tracemon.filters as mod

                    missing = [n for n in _NAMES if not hasattr(mod, n)]
                    if missing:
                        raise ImportError(f"tracemon.filters lacks {', '.join(missing)}")
                    _loaded = (mod, True)
                except ImportError:
                    from . import _filter_fallback as fallback

                    _loaded = (fallback, False)
    return _loaded


def __getattr__(name: str) -> Any:
    """``filter_api.FilterError``, ``filter_api.PresetStore`` … resolved on first use."""
    if name == "REAL":
        return _api()[1]
    if name in _NAMES:
        return getattr(_api()[0], name)
    raise AttributeError(name)


def warm_up() -> None:
    """Import the compiler now (called from a worker after the first screen is up)."""
    _api()


def compile(text: str, trace: Trace) -> Any:
    return _api()[0].compile_filter(text, registry=trace.registry, trace=trace)


def complete_at(text: str, cursor: int, trace: Trace, presets: Any = None) -> Any:
    """Completions for the token at ``cursor`` (with presets offered when the bar is empty)."""
    complete = _api()[0].complete
    try:
        return complete(text, cursor, trace.registry, trace, limit=50, presets=presets)
    except TypeError:  # a compiler without the presets argument
        return complete(text, cursor, trace.registry, trace, limit=50)


def evaluate_range(cf: Any, trace: Trace, start: int, stop: int, *,
                   cancel: threading.Event | None = None,
                   progress: Callable[[int, int], None] | None = None) -> np.ndarray | None:
    """The filter's mask over frames ``[start, stop)`` (length ``stop - start``); None if cancelled."""
    mask = cf.evaluate(trace, start=start, stop=stop, cancel=cancel, progress=progress)
    if cancel is not None and cancel.is_set():
        return None
    mask = np.asarray(mask, dtype=bool)
    if len(mask) == stop - start:
        return mask
    if len(mask) >= stop:  # a whole-trace mask
        return mask[start:stop]
    raise ValueError(f"filter mask has {len(mask)} rows for frames {start}..{stop}")


def error_parts(err: Any) -> tuple[str, int, int]:
    """(message, 1-based column in the one-line text, length) of a FilterError."""
    message = getattr(err, "message", None) or str(err)
    offset = getattr(err, "offset", None)
    column = int(offset) + 1 if isinstance(offset, int) else int(getattr(err, "column", 0) or 0)
    length = int(getattr(err, "length", 1) or 1)
    return message, column, length
