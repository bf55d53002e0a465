"""Work done, counted instead of timed: a test that bounds how long something may take must hold
on a loaded 2-core machine, so it counts the Python lines the call executes (the same on every
machine and under any load) rather than the seconds they take.

    result, lines = count_lines(complete, "TCP.", 4, registry)
    assert lines < 200_000

A bound set a few times above today's count still catches what such tests are for: a loop that
runs per byte or per name where it should run per record, or a quadratic walk.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def count_lines(fn: Callable[..., T], *args: Any, **kwargs: Any) -> tuple[T, int]:
    """``fn(*args, **kwargs)`` and the number of Python lines it executed on this thread."""
    count = 0

    def local(frame: Any, event: str, arg: Any) -> Any:
        nonlocal count
        if event == "line":
            count += 1
        return local

    def calls(frame: Any, event: str, arg: Any) -> Any:
        return local

    old = sys.gettrace()
    sys.settrace(calls)  # (always: a count of 0 would let every bound pass)
    try:
        result = fn(*args, **kwargs)
    finally:
        sys.settrace(old)
    return result, count
