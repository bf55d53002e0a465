"""tracemon.filters — the Netmon display-filter language, autocomplete, presets and history.

No UI code here (a test enforces it)::

    cf = compile_filter("IPv4.Address == 10.0.0.1 AND TCP.Port == 443", trace=trace)
    hits = cf.evaluate(trace)          # numpy bool array, one flag per frame
"""

from .compiler import CompiledFilter, compile_filter
from .complete import Candidate, Completion, complete
from .errors import FilterError, FilterWarning
from .history import History
from .presets import Preset, PresetError, PresetFileError, PresetStore

__all__ = [
    "Candidate",
    "CompiledFilter",
    "Completion",
    "FilterError",
    "FilterWarning",
    "History",
    "Preset",
    "PresetError",
    "PresetFileError",
    "PresetStore",
    "compile_filter",
    "complete",
]
