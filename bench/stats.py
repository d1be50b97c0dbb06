"""Percentiles for the benchmarks' reports: one definition for every table."""

from __future__ import annotations

import math
from collections.abc import Iterable


def percentile(values: Iterable[float], q: float) -> float:
    """The nearest-rank q-th percentile (0 < q ≤ 100): the smallest value with at least q % of the values at
    or below it. Always one of the values, and never below the median of the same values (NaN when empty)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return float(ordered[rank - 1])
