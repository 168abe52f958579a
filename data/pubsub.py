"""A site's channel on one Redis and on a Redis Cluster.

On one Redis it is plain pub/sub. On a cluster whose nodes all run Redis 7
or newer it is sharded pub/sub (``SPUBLISH``/``SSUBSCRIBE``): the channel
carries the site's hash tag, so a message stays on the site's shard instead
of being copied to every node of the city. A Redis 6.2 cluster has no
sharded pub/sub: ``PUBLISH`` there reaches every node over the cluster bus,
and a subscriber on any node hears it.
"""

from __future__ import annotations

import time
from typing import Any

import redis

from data.redis_conn import (
    RETRY_ERRORS,
    SLOT_MOVED,
    is_cluster,
    node_for,
    refresh_slots,
)


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
    queue(pipe, how, channel, *messages)
    pipe.execute()


def queue(pipe: Any, how: str, channel: str, *messages: str | int) -> None:
    """Put the sending of ``messages`` on ``channel`` on ``pipe``: a pipeline
    (or transaction) of one Redis, or of the node that serves ``channel``'s
    slot — never a cluster pipeline, which refuses PUBLISH. ``how``:
    :func:`mode` of the client the pipeline's node belongs to."""
    for message in messages:
        if how == "sharded":
            pipe.spublish(channel, message)
        else:
            pipe.publish(channel, message)


def announce_all(r: redis.Redis, items: list[tuple[str, list]]) -> None:
    """Send many channels' messages (``(channel, [message, …])``, each
    channel's in order) in one round trip per node, not one per channel."""
    if not items:
        return
    how = mode(r)
    by_node: dict[int, tuple[Any, list]] = {}
    for channel, messages in items:
        node = node_for(r, channel)  # a 6.2 cluster broadcasts from any node
        by_node.setdefault(id(node), (node, []))[1].append((channel, messages))
    for node, some in by_node.values():
        try:
            pipe = node.pipeline(transaction=False)
            for channel, messages in some:
                queue(pipe, how, channel, *messages)
            pipe.execute()
        except SLOT_MOVED + RETRY_ERRORS:
            refresh_slots(r)  # the node moved or went: one by one, through r
            for channel, messages in some:
                announce(r, channel, *messages)


def announce_each(r: redis.Redis, messages: dict[str, str | int]) -> None:
    """Send one message on each of several channels (channel -> message), in
    one round trip per node."""
    announce_all(r, [(channel, [message]) for channel, message in messages.items()])


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
        return _next_sharded(r, pubsub, timeout)
    return pubsub.get_message(timeout=timeout, ignore_subscribe_messages=True)


SHARD_SLICE_S = 0.02  # how long one shard's connection is listened to in turn


def _next_sharded(r: redis.Redis, pubsub: Any, timeout: float) -> dict | None:
    """redis-py's cluster pub/sub holds a connection per shard and, asked
    for the next message, waits on each shard in turn for the whole timeout
    (a message on the third waits for the first two). Here each shard is
    listened to for a short slice in turn until the timeout; with nothing
    subscribed it just waits (asking it then would end its round-robin)."""
    deadline = time.monotonic() + timeout
    while True:
        names = list(pubsub.node_pubsub_mapping)
        if not names:
            time.sleep(max(0.0, min(timeout, deadline - time.monotonic())))
            return None
        for name in names:
            node = r.get_node(node_name=name)
            if node is None:
                continue
            message = pubsub.get_sharded_message(
                ignore_subscribe_messages=True, target_node=node,
                timeout=SHARD_SLICE_S if len(names) > 1 else
                max(0.0, deadline - time.monotonic()))
            if message is not None:
                return message
        if time.monotonic() >= deadline:
            return None


def is_message(message: dict | None) -> bool:
    return bool(message) and message.get("type") in ("message", "smessage")


def listeners(r: redis.Redis, channel: str) -> int:
    """How many connections listen to ``channel`` now (``PUBSUB NUMSUB``,
    or ``SHARDNUMSUB`` on the channel's shard)."""
    if mode(r) == "sharded":
        reply = r.pubsub_shardnumsub(channel,
                                     target_nodes=r.get_node_from_key(channel))
    else:
        reply = r.pubsub_numsub(channel)
    return sum(int(n) for name, n in reply
               if (name.decode() if isinstance(name, bytes) else name) == channel)
