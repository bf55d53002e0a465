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
