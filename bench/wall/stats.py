"""Clock and statistics of the wall benchmark: epoch ms, percentiles, medians."""

from __future__ import annotations

import math
import statistics
import time


def ms() -> float:
    return time.time() * 1000


def pct(values: list[float], q: float) -> float | None:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)] if ordered else None


def dist(values: list[float]) -> dict:
    r = lambda x: None if x is None else round(x, 1)  # noqa: E731
    return {"p50": r(pct(values, 0.5)), "p95": r(pct(values, 0.95)),
            "max": r(max(values, default=None)), "n": len(values)}


def med(values: list) -> float | None:
    values = [v for v in values if v is not None]
    return round(statistics.median(values), 3) if values else None
