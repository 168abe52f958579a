"""Reading incident records for the screens (never scanning raw streams)."""

from __future__ import annotations

import json

import redis

from data.keys import Keys


def _records(r: redis.Redis, keys: Keys, ids: list) -> list[dict]:
    out: list[dict] = []
    for start in range(0, len(ids), 500):
        part = ids[start:start + 500]
        out += [json.loads(v) for v in r.mget([keys.incident(i) for i in part]) if v]
    return out


def open_incidents(r: redis.Redis, keys: Keys, limit: int = 1000) -> list[dict]:
    """Open incidents, soonest deadline first."""
    return _records(r, keys, r.zrange(keys.incidents_open, 0, limit - 1))


def recent_incidents(r: redis.Redis, keys: Keys, limit: int = 1000) -> list[dict]:
    """Incidents of any status, newest report first."""
    return _records(r, keys, r.zrevrange(keys.incidents_all, 0, limit - 1))


def grid_flow(r: redis.Redis, keys: Keys, grid: str, now_ms: int,
              minutes: int = 60) -> list[tuple[int, int, int]]:
    """(minute start ms, people in, people out) for one grid, oldest first."""
    last = now_ms // 60_000
    span = range(last - minutes + 1, last + 1)
    pipe = r.pipeline(transaction=False)
    for minute in span:
        pipe.hmget(keys.minute(minute), f"g:{grid}:i", f"g:{grid}:o")
    return [(m * 60_000, int(i or 0), int(o or 0))
            for m, (i, o) in zip(span, pipe.execute(), strict=True)]
