"""Vectorised classification of common packet shapes (see classify.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .trace import Trace


def classify(trace: Trace, u8: np.ndarray, batch: dict[str, np.ndarray], links: np.ndarray,
             rows: np.ndarray, offs: np.ndarray) -> np.ndarray:
    """Classify what can be done with array operations; return the rows left for the scalar path."""
    return rows
