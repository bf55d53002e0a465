"""tracemon.filters — the Netmon display-filter language, autocomplete, presets and history.

No UI code here (a test enforces it)::

    cf = compile_filter("IPv4.Address == 10.0.0.1 AND TCP.Port == 443", trace=trace)
    hits = cf.evaluate(trace)          # numpy bool array, one flag per frame

The language (FILTER_LANGUAGE.md): dotted names (``TCP.SrcPort``, ``.Protocol.TLS``) from the field
registry, case-insensitive; a bare name tests presence; ``== != <> < <= > >=`` (a single ``=``
is read as ``==`` with a warning); ``AND OR NOT && || !``, where ``!x == y`` means ``!(x == y)``;
``//`` and ``/* */`` comments; decimal, hex, IPv4, IPv6, MAC, GUID and quoted literals;
``Property.*``, ``Conversation.*``, ``FrameVariable.*``, ``NetEvent.Header.*``, ``ProtocolName``,
``Description``, ``FrameData``; ``ContainsBin(FrameData, ASCII|UNICODE|HEX, "…")`` and
``Field.Contains("…")``.  Extensions from Message Analyzer: ``in [a, b]``, subnets
(``10.1.0.0/16``), ``contains "…"`` / ``contains $[hex]``, ``*Address`` wildcards, ``~=``,
``true``/``false``.

Semantics: pair fields (``IPv4.Address``, ``TCP.Port``) and repeated fields match if any instance
matches; ``!=`` is ``NOT ==`` (true when the field is missing); ordered comparisons on a missing
field are false; text compares case-insensitively, ``ContainsBin`` byte-exactly.
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .compiler import CompiledFilter, compile_filter
    from .complete import Candidate, Completion, complete, format_value
    from .errors import FilterError, FilterWarning
    from .history import History
    from .presets import Preset, PresetError, PresetFileError, PresetStore

#: every name is loaded on first use: a command reads its arguments (``filters.cli`` adds its own)
#: before the compiler, the TUI's autocomplete and presets (TOML files) are loaded, and what a
#: command does not use is never loaded (a headless ``count`` needs neither history nor presets)
_LAZY = {"CompiledFilter": "compiler", "compile_filter": "compiler", "Candidate": "complete",
         "Completion": "complete", "complete": "complete", "format_value": "complete", "FilterError": "errors",
         "FilterWarning": "errors", "History": "history", "Preset": "presets", "PresetError": "presets",
         "PresetFileError": "presets", "PresetStore": "presets"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    loaded = importlib.import_module(f".{module}", __name__)
    # every name the module gives, at once: importing ``.complete`` bound the package's
    # ``complete`` to the module, and the function must win (nothing else imports that module)
    for other, source in _LAZY.items():
        if source == module:
            globals()[other] = getattr(loaded, other)
    return globals()[name]

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
    "format_value",
]
