"""Acknowledged means durable: a write that someone is told was received has
reached a replica, when the deployment has replicas.

Redis replicates asynchronously: a master that dies a moment after it
answered may take the last writes with it, and the replica that takes over
never had them. ``WAIT n timeout`` blocks until ``n`` replicas have the
writes made so far *on the same connection*, so the write and its WAIT go
through one connection here: a transaction pipeline on the node that serves
the key (on a cluster, the master of the key's slot), followed by ``WAIT`` on
that pipeline's connection.

The policy (``GOV_ACK_REPLICAS``): ``auto`` (the default) waits for one
replica when the master has at least one, and for none when it has none — a
single Redis, the embedded one, is as durable as its append-only file and
waiting would only time out; a number asks for that many; ``0`` turns it off.
The bound is ``GOV_ACK_TIMEOUT_MS`` (default 500 ms: a replica on the same
network acknowledges in about a millisecond, so half a second means it is
down or far behind, and a phone's "sent" should not wait longer). When the
bound passes, :class:`NotReplicated` is raised and the caller is told to
retry; what was written stays written, and the retry is dropped by its
``eid`` (an incident by its id) as every retry is.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import redis
from redis.client import Pipeline

from data.redis_conn import is_cluster

T = TypeVar("T")
REPLICA_INFO_TTL_S = 5.0  # how long the number of a master's replicas is trusted


class NotReplicated(redis.RedisError):
    """Written, but no replica confirmed it within the bound: retry."""


@dataclass(frozen=True)
class Policy:
    replicas: str | int = "auto"  # "auto", or how many replicas must have it
    timeout_ms: int = 500


DEFAULT = Policy()


def set_policy(r: redis.Redis, policy: Policy) -> None:
    """Writes through ``r`` follow ``policy`` (kept with the client)."""
    r._gov_ack_policy = policy


def policy_of(r: redis.Redis) -> Policy:
    return getattr(r, "_gov_ack_policy", DEFAULT)


class _Waiting(Pipeline):
    """A pipeline that sends ``WAIT`` on its own connection right after the
    transaction, before the connection goes back to the pool."""

    wait_for = 0
    timeout_ms = 0
    acked: int | None = None

    def _execute_transaction(self, connection, commands, raise_on_error):
        result = super()._execute_transaction(connection, commands,
                                              raise_on_error)
        if self.wait_for:
            connection.send_command("WAIT", self.wait_for, self.timeout_ms)
            self.acked = int(connection.read_response())
        return result


def _node(r: redis.Redis, key: str) -> tuple[redis.Redis, int]:
    """The client of the master that serves ``key``, and how many replicas
    it has connected (INFO, trusted for a few seconds)."""
    node = r.get_redis_connection(r.get_node_from_key(key)) if is_cluster(r) else r
    # the replicas connected now, as the master says (the cluster's slot map
    # may lag behind a replica that joined or left)
    cached = getattr(node, "_gov_replicas", None)
    now = time.monotonic()
    if cached is None or now - cached[1] > REPLICA_INFO_TTL_S:
        replicas = int(node.info("replication").get("connected_slaves", 0))
        cached = node._gov_replicas = (replicas, now)
    return node, cached[0]


def _wanted(policy: Policy, replicas: int) -> int:
    if policy.replicas == "auto":
        return min(1, replicas)
    return int(policy.replicas)


@contextmanager
def pipeline(r: redis.Redis, key: str) -> Iterator[_Waiting]:
    """A transaction pipeline on the master of ``key``; its ``execute()``
    waits for the policy's replicas and raises :class:`NotReplicated` if
    they did not confirm in time. All keys used must share ``key``'s slot."""
    node, replicas = _node(r, key)
    policy = policy_of(r)
    pipe = _Waiting(node.connection_pool, node.response_callbacks,
                    transaction=True, shard_hint=None)
    pipe.wait_for, pipe.timeout_ms = _wanted(policy, replicas), policy.timeout_ms
    try:
        yield pipe
    finally:
        pipe.reset()
    if pipe.wait_for and pipe.acked is not None and pipe.acked < pipe.wait_for:
        raise NotReplicated(
            f"written, but {pipe.acked} of {pipe.wait_for} replicas confirmed "
            f"it within {pipe.timeout_ms} ms; retry (a retry is not counted "
            f"twice)")


def write(r: redis.Redis, key: str, build: Callable[[Any], T]) -> T:
    """``build(pipe)`` in :func:`pipeline` of ``key``, run again when a
    WATCHed key moved or the slot moved to another master."""
    for attempt in range(5):
        try:
            with pipeline(r, key) as pipe:
                return build(pipe)
        except redis.WatchError:
            continue
        except (redis.exceptions.MovedError, redis.exceptions.AskError,
                redis.ConnectionError):
            if not is_cluster(r) or attempt == 4:
                raise
            r.nodes_manager.initialize()  # a failover or a reshard: ask again
            time.sleep(0.05 * (attempt + 1))
    raise redis.WatchError("the watched keys kept changing")
