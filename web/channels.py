"""The push hub's pub/sub connection: the one place that subscribes.

Everything the hub says to Redis pub/sub goes through :class:`Subscription`,
which speaks plain pub/sub on one Redis and sharded pub/sub on a cluster of
Redis 7 (``SSUBSCRIBE``: each site's channel stays on its shard by the
``{site}`` hash tag); see data/pubsub.py. One thread uses it at a time (the
hub's): redis-py's ``PubSub`` is not made to be shared.
"""

from __future__ import annotations

from collections.abc import Iterable

import redis

from data import pubsub


class Subscription:
    """One pub/sub connection and the channels it listens to."""

    def __init__(self, client: redis.Redis) -> None:
        self._client = client
        self._pubsub = client.pubsub(ignore_subscribe_messages=True)
        self.channels: set[str] = set()

    def add(self, channels: Iterable[str]) -> None:
        """SUBSCRIBE to ``channels`` (https://redis.io/commands/subscribe)."""
        new = set(channels) - self.channels
        if new:
            pubsub.subscribe(self._client, self._pubsub, *sorted(new))
            self.channels |= new

    def drop(self, channels: Iterable[str]) -> None:
        """UNSUBSCRIBE from ``channels`` (never from all: an empty call to
        redis-py's ``unsubscribe`` means every channel)."""
        gone = set(channels) & self.channels
        if gone:
            pubsub.unsubscribe(self._client, self._pubsub, *sorted(gone))
            self.channels -= gone

    def next(self, timeout: float) -> tuple[str, bytes | str] | None:
        """(channel, data) of the next message, or None after ``timeout`` s
        (with nothing subscribed, redis-py waits on its own event, not on a
        socket: no connection is held then)."""
        message = pubsub.next_message(self._client, self._pubsub, timeout)
        if not pubsub.is_message(message):
            return None
        channel = message["channel"]
        return (channel.decode() if isinstance(channel, bytes) else channel,
                message["data"])

    def close(self) -> None:
        try:
            self._pubsub.close()
        except redis.RedisError:
            pass
