"""The user's settings: ``config.toml`` under platformdirs' ``user_config_dir("tracemon")``.

Small and forgiving on purpose: a bad value is reported (``Config.problems``) and replaced by
the default instead of stopping the program during an incident.  Written back atomically with
the presets' TOML writer (``tracemon.filters.tomlwrite``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import platformdirs
from tracemon.traces.columns import DEFAULT_COLUMNS

THEMES = ("tracemon-dark", "tracemon-light", "tracemon-contrast")
#: "local" is the capture host's clock when the trace records its zone, "viewer" this machine's
TIME_MODES = ("utc", "local", "viewer", "offset", "delta", "reference")
#: the settings written back, in this order (``keys`` follows as a table)
SAVED = ("theme", "time_mode", "columns", "etl_columns", "colour_rules", "tree_width", "list_percent",
         "cache_limit")
#: trace formats whose frames are mostly ETW events: their column set is kept apart
EVENT_FORMATS = frozenset({"etl"})
HEADER = "tracemon settings (written by tracemon; comments are not kept)"


def config_dir() -> Path:
    return Path(platformdirs.user_config_dir("tracemon", appauthor=False))


def config_path() -> Path:
    return config_dir() / "config.toml"


@dataclass(slots=True)
class Config:
    theme: str = THEMES[0]
    time_mode: str = "utc"
    #: the frame list's columns for packet captures (pcap, pcapng, Netmon .cap) …
    columns: list[str] = field(default_factory=lambda: list(DEFAULT_COLUMNS))
    #: … and for ETL traces, kept apart: a field column added for one kind means nothing in the other
    etl_columns: list[str] = field(default_factory=lambda: list(DEFAULT_COLUMNS))
    colour_rules: bool = True
    #: conversation tree width in cells, frame list share of the right side in percent
    tree_width: int = 34
    list_percent: int = 55
    #: how much disk the index cache may use ("4G", "500M"; "0" turns it off); oldest entries go first
    cache_limit: str = "4G"
    #: binding id → keys ("goto" = "ctrl+g,g"); see tracemon.tui.commands
    keys: dict[str, str] = field(default_factory=dict)
    #: column key → width in cells, as the user resized it (``<``/``>``, a header drag)
    column_widths: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    path: Path | None = None

    def columns_for(self, trace_format: str) -> list[str]:
        return list(self.etl_columns if trace_format in EVENT_FORMATS else self.columns)

    def set_columns_for(self, trace_format: str, names: list[str]) -> None:
        if trace_format in EVENT_FORMATS:
            self.etl_columns = list(names)
        else:
            self.columns = list(names)

    def save(self, path: Path | None = None) -> None:
        target = path or self.path or config_path()
        _tomlwrite().atomic_write(target, dumps(self))
        self.path = target


def load(path: Path | None = None) -> Config:
    """Read the config file; a missing file gives the defaults, a broken one defaults plus problems."""
    target = path or config_path()
    cfg = Config(path=target)
    try:
        text = target.read_text("utf-8")
    except FileNotFoundError:
        return cfg
    except OSError as e:
        cfg.problems.append(f"{target}: cannot read: {e.strerror or e}; using the defaults")
        return cfg
    except UnicodeDecodeError as e:
        cfg.problems.append(f"{target}: not UTF-8 text ({e.reason} at byte {e.start}); using the defaults")
        return cfg
    import tomllib  # (only where there is a file to read)

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        cfg.problems.append(f"{target}: not valid TOML ({e}); using the defaults")
        return cfg
    except RecursionError:  # tomllib recurses per nesting level
        cfg.problems.append(f"{target}: not valid TOML (nested too deeply); using the defaults")
        return cfg
    for key, value in data.items():
        if key == "keys":
            if isinstance(value, dict) and all(isinstance(v, str) for v in value.values()):
                cfg.keys = {str(k): v for k, v in value.items()}
            else:
                cfg.problems.append(f"{target}: [keys] must map command ids to key strings")
        elif key == "column_widths":
            if isinstance(value, dict) and all(isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 500
                                               for v in value.values()):
                cfg.column_widths = {str(k): v for k, v in value.items()}
            else:
                cfg.problems.append(f"{target}: [column_widths] must map column names to widths (1-500)")
        elif key in SAVED:
            problem = _set(cfg, key, value)
            if problem:
                cfg.problems.append(f"{target}: {problem}")
        else:
            cfg.problems.append(f"{target}: unknown setting {key!r} ignored")
    return cfg


def _set(cfg: Config, key: str, value: Any) -> str | None:
    default = getattr(Config(), key)
    if key == "theme":
        if not isinstance(value, str) or not value:
            return "theme must be a theme name, e.g. tracemon-light"
    elif key == "time_mode":
        if value not in TIME_MODES:
            return f"time_mode {value!r} is not one of {', '.join(TIME_MODES)}"
    elif key == "cache_limit":
        from tracemon.traces.cache_space import parse_size

        try:
            parse_size(str(value))
        except ValueError as e:
            return f"cache_limit: {e}"
        value = str(value)
    elif key in ("columns", "etl_columns"):
        if not (isinstance(value, list) and value and all(isinstance(v, str) for v in value)):
            return f"{key} must be a non-empty list of column names"
    elif isinstance(default, bool) and not isinstance(value, bool):
        return f"{key} must be true or false"
    elif isinstance(default, int) and not isinstance(default, bool) and (
            not isinstance(value, int) or isinstance(value, bool) or value < 0):
        return f"{key} must be a whole number"
    setattr(cfg, key, value)
    return None


def _tomlwrite() -> Any:
    """The filter package's TOML writer (the package loads after the first screen, through the
    lock that keeps threads from importing it at once)."""
    from . import filter_api

    return filter_api.module("tomlwrite")


def dumps(cfg: Config) -> str:
    tomlwrite = _tomlwrite()
    text = tomlwrite.dumps({name: getattr(cfg, name) for name in SAVED}, header=HEADER)
    if cfg.keys:
        text += "\n[keys]\n" + "".join(f"{tomlwrite.key(k)} = {tomlwrite.string(v)}\n"
                                       for k, v in sorted(cfg.keys.items()))
    if cfg.column_widths:
        text += "\n[column_widths]\n" + "".join(f"{tomlwrite.key(k)} = {int(v)}\n"
                                                for k, v in sorted(cfg.column_widths.items()))
    return text


def apply_cache_limit(cfg: Config) -> None:
    """Hand the configured index-cache limit to the cache (the environment variable still wins)."""
    from tracemon.traces.cache_space import parse_size, set_limit

    try:
        set_limit(parse_size(cfg.cache_limit))
    except ValueError:
        set_limit(None)
