"""The data plane's clock: epoch milliseconds, as every feed entry carries."""

from __future__ import annotations

import time


def now_ms() -> int:
    return time.time_ns() // 1_000_000
