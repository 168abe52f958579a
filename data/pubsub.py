"""A site's channel on one Redis and on a Redis Cluster.

On one Redis it is plain pub/sub. On a cluster whose nodes all run Redis 7
or newer it is sharded pub/sub (``SPUBLISH``/``SSUBSCRIBE``): the channel
carries the site's hash tag, so a message stays on the site's shard instead
of being copied to every node of the city. A Redis 6.2 cluster has no
sharded pub/sub: ``PUBLISH`` there reaches every node over the cluster bus,
and a subscriber on any node hears it.
"""

from __future__ import annotations

from typing import Any

import redis

from data.redis_conn import is_cluster


def mode(r: redis.Redis) -> str:
    """``plain`` (one Redis), ``sharded`` (a cluster of Redis ≥ 7) or
    ``broadcast`` (a cluster with a node older than 7); asked once per client."""
    known = getattr(r, "_gov_pubsub_mode", None)
    if known:
        return known
    if not is_cluster(r):
        found = "plain"
    else:
        versions = r.info("server", target_nodes=r.ALL_NODES)
        majors = [int(str(info.get("redis_version", "0")).split(".")[0])
                  for info in _per_node(versions)]
        found = "sharded" if majors and min(majors) >= 7 else "broadcast"
    r._gov_pubsub_mode = found  # kept with the client it was asked of
    return found


def _per_node(reply: Any) -> list[dict]:
    if isinstance(reply, dict) and "redis_version" in reply:
        return [reply]
    if isinstance(reply, dict):
        return [v for v in reply.values() if isinstance(v, dict)]
    return list(reply or [])


def announce(r: redis.Redis, channel: str, *messages: str | int) -> None:
    """Send ``messages`` on ``channel``, in order, in one round trip."""
    how = mode(r)
    if how == "broadcast":  # a cluster pipeline refuses PUBLISH
        for message in messages:
            r.publish(channel, message)
        return
    pipe = r.pipeline(transaction=False)
    for message in messages:
        if how == "sharded":
            pipe.spublish(channel, message)
        else:
            pipe.publish(channel, message)
    pipe.execute()


def subscribe(r: redis.Redis, pubsub: Any, *channels: str) -> None:
    if channels:
        if mode(r) == "sharded":
            pubsub.ssubscribe(*channels)
        else:
            pubsub.subscribe(*channels)


def unsubscribe(r: redis.Redis, pubsub: Any, *channels: str) -> None:
    if channels:
        if mode(r) == "sharded":
            pubsub.sunsubscribe(*channels)
        else:
            pubsub.unsubscribe(*channels)


def next_message(r: redis.Redis, pubsub: Any, timeout: float) -> dict | None:
    """The next message (``type`` ``message`` or ``smessage``), or None."""
    if mode(r) == "sharded":
        return pubsub.get_sharded_message(timeout=timeout,
                                          ignore_subscribe_messages=True)
    return pubsub.get_message(timeout=timeout, ignore_subscribe_messages=True)


def is_message(message: dict | None) -> bool:
    return bool(message) and message.get("type") in ("message", "smessage")
