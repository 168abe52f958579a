"""Which aggregator folds which site, when several run.

Every aggregator process notes itself in one sorted set (member -> last beat,
ms) every :data:`BEAT_S`; a member silent for :data:`DEAD_MS` is gone. Each
process then computes the same division from the same list of members:
rendezvous (highest random weight) hashing gives a site to the member with
the highest ``hash(member, site)``, so sites spread evenly, and a member that
comes or goes moves only its own share. The division only says whom to try:
the site's lease (data/feed/aggregator.py) still decides who folds it, one
at a time, and every fold is fenced by it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import redis

from data.redis_conn import as_text

BEAT_S = 2.0
DEAD_MS = 10_000  # a member silent this long is gone (the aggregator's lease)


def members_key(prefix: str) -> str:
    return f"{prefix}:agg:members"


def beat(r: redis.Redis, prefix: str, me: str, now_ms: int,
         dead_ms: int = DEAD_MS) -> list[str]:
    """Note ``me`` alive; the members heard from within ``dead_ms``, sorted."""
    key = members_key(prefix)
    pipe = r.pipeline(transaction=False)
    pipe.zadd(key, {me: now_ms})
    pipe.zremrangebyscore(key, "-inf", now_ms - dead_ms)
    pipe.zrange(key, 0, -1)
    pipe.pexpire(key, dead_ms * 10)
    members = sorted(as_text(m) for m in pipe.execute()[2])
    return members if me in members else sorted([*members, me])


def leave(r: redis.Redis, prefix: str, me: str) -> None:
    r.zrem(members_key(prefix), me)


def _weight(member: str, site: str) -> int:
    digest = hashlib.blake2b(f"{member}\x1f{site}".encode(), digest_size=8)
    return int.from_bytes(digest.digest(), "big")


def owner(site: str, members: Iterable[str]) -> str:
    return max(members, key=lambda m: (_weight(m, site), m))


def share(sites: Iterable[str], members: list[str], me: str) -> set[str]:
    """The sites ``me`` should fold among ``members``."""
    if members == [me]:
        return set(sites)
    return {s for s in sites if owner(s, members) == me}
