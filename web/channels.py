"""The push hub's pub/sub connection: the one place that subscribes.

Everything the hub says to Redis pub/sub goes through :class:`Subscription`,
so that moving to sharded pub/sub on Redis Cluster (``SSUBSCRIBE``,
``SUNSUBSCRIBE``, ``get_sharded_message`` and ``smessage`` in redis-py, each
site's channel on its own shard by the ``{site}`` hash tag) changes this
file and nothing else. One thread uses it at a time (the hub's): redis-py's
``PubSub`` is not made to be shared.
"""

from __future__ import annotations

from collections.abc import Iterable

import redis


class Subscription:
    """One pub/sub connection and the channels it listens to."""

    def __init__(self, client: redis.Redis) -> None:
        self._pubsub = client.pubsub(ignore_subscribe_messages=True)
        self.channels: set[str] = set()

    def add(self, channels: Iterable[str]) -> None:
        """SUBSCRIBE to ``channels`` (https://redis.io/commands/subscribe)."""
        new = set(channels) - self.channels
        if new:
            self._pubsub.subscribe(*sorted(new))
            self.channels |= new

    def drop(self, channels: Iterable[str]) -> None:
        """UNSUBSCRIBE from ``channels`` (never from all: an empty call to
        redis-py's ``unsubscribe`` means every channel)."""
        gone = set(channels) & self.channels
        if gone:
            self._pubsub.unsubscribe(*sorted(gone))
            self.channels -= gone

    def next(self, timeout: float) -> tuple[str, bytes | str] | None:
        """(channel, data) of the next message, or None after ``timeout`` s
        (with nothing subscribed, redis-py waits on its own event, not on a
        socket: no connection is held then)."""
        message = self._pubsub.get_message(timeout=timeout)
        if not message or message["type"] != "message":
            return None
        channel = message["channel"]
        return (channel.decode() if isinstance(channel, bytes) else channel,
                message["data"])

    def close(self) -> None:
        try:
            self._pubsub.close()
        except redis.RedisError:
            pass
