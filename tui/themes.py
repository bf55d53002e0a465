"""Themes: the ``themes/*.tcss`` files turned into Textual ``Theme`` objects.

A theme file holds ``$name: value;`` declarations only: Textual's base colours (``primary``,
``background`` …), ``dark``, and tracemon's ``tm-*`` pane colours, which ``tui/app.tcss`` uses.
Users can drop more files into ``<config dir>/themes/``.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

from textual.color import Color, ColorParseError
from textual.theme import Theme

BASE = ("primary", "secondary", "warning", "error", "success", "accent", "foreground", "background", "surface",
        "panel", "boost")
_DECL = re.compile(r"^\s*\$([A-Za-z0-9_-]+)\s*:\s*([^;]+?)\s*;", re.MULTILINE)
_COMMENT = re.compile(r"/\*.*?\*/", re.DOTALL)

#: the tm-* variables every theme must define (defaults come from the dark theme)
REQUIRED = ("tm-header-bg", "tm-header-fg", "tm-cursor-bg", "tm-cursor-fg", "tm-cursor-blur-bg", "tm-mark",
            "tm-selected-bg", "tm-selected-fg", "tm-dim", "tm-timeline", "tm-problem", "tm-status-bg",
            "tm-status-fg", "tm-valid-bg", "tm-valid-fg", "tm-invalid-bg", "tm-invalid-fg", "tm-splitter")


class ThemeError(ValueError):
    pass


def parse(name: str, text: str) -> Theme:
    decls = dict(_DECL.findall(_COMMENT.sub("", text)))
    if "primary" not in decls:
        raise ThemeError(f"theme {name}: $primary is required")
    dark = decls.pop("dark", "true").strip().lower()
    if dark not in ("true", "false"):
        raise ThemeError(f"theme {name}: $dark must be true or false, not {dark!r}")
    base = {k: decls.pop(k) for k in BASE if k in decls}
    # a colour Textual cannot parse would only fail when the theme is shown, taking the app down
    for key, value in [*base.items(), *((k, v) for k, v in decls.items() if k.startswith("tm-"))]:
        try:
            Color.parse(value)
        except ColorParseError:
            raise ThemeError(f"theme {name}: ${key} {value!r} is not a colour") from None
    return Theme(name=name, dark=dark == "true", variables=decls, **base)


def builtin_themes() -> list[Theme]:
    out = []
    for entry in sorted(resources.files("tracemon.themes").iterdir(), key=lambda p: p.name):
        if entry.name.endswith(".tcss"):
            out.append(parse(entry.name[: -len(".tcss")], entry.read_text("utf-8")))
    return out


def user_themes(directory: Path) -> tuple[list[Theme], list[str]]:
    """Themes from the user's config dir, and problems with the ones that would not load."""
    themes, problems = [], []
    if not directory.is_dir():
        return themes, problems
    for path in sorted(directory.glob("*.tcss")):
        try:
            themes.append(parse(path.stem, path.read_text("utf-8")))
        except (OSError, UnicodeDecodeError, ThemeError) as e:
            problems.append(f"{path}: {e}")
    return themes, problems
