"""Casting onto the wall: a supervisor puts a grid or an incident on every wall.

The cast lives in Redis (so every web worker and every wall agrees) and each
change is announced on the site's update channel as ``cast:<n>``, which the
walls receive over their event stream within the same second.
"""

from __future__ import annotations

import json
import time

import redis

from data.keys import Keys
from data.pubsub import announce

KINDS = ("grid", "incident")


def cast(r: redis.Redis, keys: Keys, kind: str, target: str, by: str) -> int:
    """Put ``target`` (a grid or incident id) on the site's walls."""
    if kind not in KINDS:
        raise ValueError(f"cannot cast a {kind!r}; only {', '.join(KINDS)}")
    body = {"kind": kind, "id": target, "by": by, "at": time.time_ns() // 1_000_000}
    return _announce(r, keys, json.dumps(body, ensure_ascii=False))


def clear_cast(r: redis.Redis, keys: Keys) -> int:
    """Give the walls back their rotation."""
    return _announce(r, keys, None)


def read_cast(r: redis.Redis, keys: Keys) -> dict | None:
    raw = r.get(keys.cast)
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return None


def _announce(r: redis.Redis, keys: Keys, body: str | None) -> int:
    pipe = r.pipeline(transaction=True)
    if body is None:
        pipe.delete(keys.cast)
    else:
        pipe.set(keys.cast, body)
    pipe.incr(keys.cast_seq)
    seq = pipe.execute()[-1]
    announce(r, keys.channel, f"cast:{seq}")
    return int(seq)
