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
