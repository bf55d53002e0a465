"""The import circles that were cut stay cut: filters compiler→names→pseudo→properties→compiler,
traces cache↔trace, tui app↔headless↔cli.  Imports inside functions count (a deferred import is
a circle all the same); ``if TYPE_CHECKING:`` blocks do not (they never run)."""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = {"traces": "tracemon.traces", "filters": "tracemon.filters", "tui": "tracemon.tui"}


def _modules() -> dict[str, Path]:
    out = {}
    for folder, name in PACKAGES.items():
        for path in (ROOT / folder).rglob("*.py"):
            parts = [p for p in path.relative_to(ROOT / folder).with_suffix("").parts if p != "__init__"]
            out[".".join([name, *parts])] = path
    return out


def _runtime_nodes(tree: ast.AST):
    """Every node except those under ``if TYPE_CHECKING:``."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                stack.extend(child.orelse)
                continue
            stack.append(child)


@functools.cache
def import_graph() -> dict[str, frozenset[str]]:
    mods = _modules()
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for mod, path in mods.items():
        package = mod.split(".") if path.name == "__init__.py" else mod.split(".")[:-1]
        for node in _runtime_nodes(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.ImportFrom):
                base = package[: len(package) - node.level + 1] if node.level else []
                target = ".".join(base + ([node.module] if node.module else []))
                subs = [f"{target}.{a.name}" for a in node.names if f"{target}.{a.name}" in mods]
                for t in subs if len(subs) == len(node.names) else [target, *subs]:
                    # (a module's own package is loaded before it: ``from . import _ext`` is no circle)
                    if t in mods and t != mod and not mod.startswith(t + "."):
                        graph[mod].add(t)
            elif isinstance(node, ast.Import):
                graph[mod].update(a.name for a in node.names if a.name in mods and a.name != mod)
    return {m: frozenset(v) for m, v in graph.items()}


def reaches(graph: dict[str, frozenset[str]], start: str, goal: str) -> bool:
    seen, stack = set(), [start]
    while stack:
        node = stack.pop()
        for nxt in graph.get(node, ()):
            if nxt == goal:
                return True
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return False


@pytest.mark.parametrize("group", [
    ("tracemon.filters.compiler", "tracemon.filters.names", "tracemon.filters.pseudo",
     "tracemon.filters.properties"),
    ("tracemon.traces.cache", "tracemon.traces.trace"),
    ("tracemon.tui.app", "tracemon.tui.headless", "tracemon.tui.cli"),
])
def test_no_import_circle(group):
    graph = import_graph()
    for mod in group:
        assert mod in graph, f"{mod} is gone: update this test"
        assert not reaches(graph, mod, mod), f"{mod} imports itself through a circle"


def test_the_graph_sees_a_circle():
    """The checker itself: a circle made up in the graph is found."""
    graph = dict(import_graph())
    graph["tracemon.traces.trace"] |= {"tracemon.tui.app"}
    graph["tracemon.tui.app"] |= {"tracemon.traces.trace"}
    assert reaches(graph, "tracemon.traces.trace", "tracemon.traces.trace")
