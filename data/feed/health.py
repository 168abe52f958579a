"""Why one site cannot be folded now, for ``/api/v1/health`` and the logs.

The aggregator folds each site on its own: a site whose data it cannot read
(a key of the wrong type, a record that does not parse) is written down here
with the reason and left to back off, and the other sites keep moving. The
note expires, so one left by an aggregator that died does not outlive it.
"""

from __future__ import annotations

import json
from typing import Any

import redis

from data.keys import Keys

NOTE_TTL_S = 60  # far above the aggregator's longest back-off (5 s)
REASON_CHARS = 300


def describe(exc: BaseException) -> str:
    """A one-line reason: the error's kind and message, shortened."""
    return f"{type(exc).__name__}: {exc}"[:REASON_CHARS]


def report_failure(r: redis.Redis, keys: Keys, reason: str, now_ms: int,
                   retry_in_ms: int, failures: int) -> None:
    """Note that folding the site failed, why, and when it is tried again."""
    note = {"reason": reason, "at_ms": now_ms, "retry_in_ms": retry_in_ms,
            "failures": failures}
    r.set(keys.health, json.dumps(note), ex=NOTE_TTL_S)  # SET: any type goes


def clear_failure(r: redis.Redis, keys: Keys) -> None:
    r.delete(keys.health)


def read_failure(r: redis.Redis, keys: Keys) -> dict[str, Any] | None:
    """The site's failure note, or None when it is being folded normally."""
    try:
        raw = r.get(keys.health)
        return json.loads(raw) if raw else None
    except (redis.ResponseError, ValueError) as exc:
        return {"reason": f"health note unreadable: {describe(exc)}"}
