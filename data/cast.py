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


# KEYS: what the walls were last told, cast seq. ARGV: what it is now, ms kept.
# Returns the new cast seq, or 0 when it is what they were told already.
_RESTATE = """
if (redis.call('GET', KEYS[1]) or '') == ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return redis.call('INCR', KEYS[2])
"""
RESTATE_KEPT_MS = 7 * 24 * 3_600_000


def restate(r: redis.Redis, keys: Keys, key: str, value: str) -> int:
    """The walls' spotlight is drawn again, now, when ``value`` (something
    it shows, kept at ``key``) differs from what they were last told: the
    cast number moves as for a cast, so every wall's stream gets the new
    spotlight. Atomic, so of several web processes seeing the same change
    one announces it. Returns the new cast number, or 0 (no change)."""
    seq = int(r.eval(_RESTATE, 2, key, keys.cast_seq, value, RESTATE_KEPT_MS))
    if seq:
        announce(r, keys.channel, f"cast:{seq}")
    return seq


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
