"""The core (traces, filters) must import without Textual or Rich."""

import subprocess
import sys

import pytest


@pytest.mark.parametrize("module", ["tracemon.traces", "tracemon.filters", "tracemon.tui.cli"])
def test_core_imports_without_ui(module: str) -> None:
    code = (
        f"import sys, {module}\n"
        "bad = [m for m in ('textual', 'rich') if m in sys.modules]\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"{module} imported {out.stdout.strip()}"


def test_the_filter_package_loads_its_names_on_first_use() -> None:
    """``tracemon.filters`` alone loads no compiler (a command adds its arguments before it
    loads one), and each name is what it was, whichever comes first: ``complete`` is the
    function, not the module of that name."""
    code = (
        "import sys, types, tracemon.filters as F\n"
        "print('tracemon.filters.compiler' in sys.modules, 'pyparsing' in sys.modules)\n"
        "F.Candidate\n"
        "from tracemon.filters import complete, compile_filter, FilterError\n"
        "print(isinstance(complete, types.FunctionType), complete.__module__, compile_filter.__module__,\n"
        "      issubclass(FilterError, Exception), 'History' in dir(F) or hasattr(F, 'History'))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False", "True", "tracemon.filters.complete", "tracemon.filters.compiler",
                                  "True", "True"]
