"""A site's upkeep, done by the aggregator that folds it every few seconds:
streams trimmed to what they must keep, consumers of processes long gone
forgotten, and incidents overdue past their grace escalated by the SLA
watchdog (an ``escalate`` op on the stream, applied like any other)."""

from __future__ import annotations

from typing import Any

import redis

from data.clock import now_ms
from data.incidents.lifecycle import SYSTEM_ACTOR, escalation_due
from data.incidents.store import load_incidents
from data.keys import FEED_STREAMS, GROUP, Keys
from data.redis_conn import RETRY_ERRORS, as_text, by_node
from data.site import Site

# how long each stream keeps what the group has acknowledged
STREAM_KEEP_MS = {"crowd": 120_000, "traffic": 120_000, "incident": 90 * 86_400_000}
CONSUMER_FORGET_MS = 3_600_000


def upkeep_many(r: redis.Redis, jobs: list[tuple[Site, Keys]], consumer: str,
                now: int) -> list[Exception | None]:
    """Each site's whole upkeep — every stream trimmed, idle consumers
    forgotten, overdue incidents escalated — for ``jobs`` of (site, keys),
    in two round trips a node for all of them (what they read, then what
    they write), not twenty a site: a process with a thousand sites does
    this for every one of them every 30 s.

    Each site's error, or None, in the order of ``jobs``; Redis away raises."""

    def read(pipe: Any, site: Site, keys: Keys) -> None:
        for name in FEED_STREAMS:
            key = keys.stream(name)
            pipe.xpending(key, GROUP)
            pipe.xinfo_groups(key)
            pipe.xinfo_consumers(key, GROUP)
        pipe.xinfo_stream(keys.stream("incident"))
        pipe.zrangebyscore(keys.incidents_open, "-inf", now - _grace_ms(site))

    replies = by_node(r, [(keys.lease, lambda pipe, s=site, k=keys: read(pipe, s, k))
                          for site, keys in jobs], several=True)
    writes: list[tuple[Keys, list[tuple]]] = []
    overdue: list[tuple[int, Keys, set[str], int]] = []
    for n, ((site, keys), reply) in enumerate(zip(jobs, replies, strict=True)):
        commands, caught_up = _plan(keys, reply, consumer, now)
        if commands:
            writes.append((keys, commands))
        if caught_up and not isinstance(reply[-1], Exception) and reply[-1]:
            overdue.append((n, keys, {as_text(i) for i in reply[-1]},
                            _grace_ms(site)))
    # a stream dropped meanwhile: no matter
    by_node(r, [(keys.lease, lambda pipe, c=commands: [pipe.execute_command(*x)
                                                      for x in c])
                for keys, commands in writes], several=True)
    failed: list[Exception | None] = [None] * len(jobs)
    for n, keys, ids, grace_ms in overdue:  # a few a day: one at a time
        try:
            _escalate(r, keys, ids, now, grace_ms)
        except RETRY_ERRORS:
            raise
        except Exception as exc:  # this site's records alone
            failed[n] = exc
    return failed


def _grace_ms(site: Site) -> int:
    return int(site.escalate_grace_min * 60_000)


def _plan(keys: Keys, replies: list, consumer: str, now: int
          ) -> tuple[list[tuple], bool]:
    """The trims and consumers forgotten of one site, from what
    :func:`upkeep_many` read; and whether its incident stream is caught up."""
    writes: list[tuple] = []
    caught_up = False
    for n, name in enumerate(FEED_STREAMS):
        pending, groups, consumers = replies[3 * n: 3 * n + 3]
        if any(isinstance(x, Exception) for x in (pending, groups, consumers)):
            continue  # no stream or no group yet
        key = keys.stream(name)
        floor = _trim_floor(pending, groups, now - STREAM_KEEP_MS[name])
        if floor > 0:
            writes.append(("XTRIM", key, "MINID", "~", f"{floor}-0", "LIMIT", 0))
        writes += [("XGROUP", "DELCONSUMER", key, GROUP, gone)
                   for gone in _gone(consumers, consumer)]
        if name == "incident":
            caught_up = _caught_up(replies[-2], groups)
    return writes, caught_up


def _trim_floor(pending: dict | None, groups: list, floor: int) -> int:
    """The oldest entry time a stream must keep: ``floor``, or older while
    an entry is pending or not yet delivered to a group."""
    if pending and pending.get("pending"):
        floor = min(floor, int(as_text(pending["min"]).split("-")[0]))
    for group in groups:
        last = as_text(group.get("last-delivered-id")
                       or group.get(b"last-delivered-id"))
        floor = min(floor, int(last.split("-")[0]))
    return floor


def _gone(consumers: list, consumer: str) -> list[str]:
    """Consumers idle an hour with nothing pending (old processes)."""
    out = []
    for info in consumers:
        info = {as_text(k): v for k, v in info.items()}
        if (int(info.get("pending", 0)) == 0
                and int(info.get("idle", 0)) > CONSUMER_FORGET_MS
                and as_text(info.get("name")) != consumer):
            out.append(as_text(info["name"]))
    return out


def _caught_up(stream: dict | Exception, groups: list) -> bool:
    """Every incident op on the stream applied, none pending."""
    if isinstance(stream, Exception):
        return False
    group = next((g for g in groups if as_text(g["name"]) == GROUP), None)
    return (group is not None
            and as_text(group["last-delivered-id"])
            == as_text(stream["last-generated-id"])
            and int(group["pending"]) == 0)


def trim_stream(r: redis.Redis, key: str, keep_ms: int, now: int) -> None:
    """Drop entries older than ``keep_ms`` that the group has acknowledged
    (one stream; :func:`upkeep` does a site's)."""
    try:
        floor = _trim_floor(r.xpending(key, GROUP), r.xinfo_groups(key),
                            now - keep_ms)
    except redis.ResponseError:
        return
    if floor > 0:
        # LIMIT 0: an approximate trim may otherwise stop after 10,000 entries,
        # and a fast feed would outgrow one pass every few seconds.
        r.xtrim(key, minid=f"{floor}-0", approximate=True, limit=0)


def incidents_caught_up(r: redis.Redis, keys: Keys) -> bool:
    """True when every incident op on the stream has been applied, so
    "overdue" is judged on the records' real state, not a backlog's."""
    stream = keys.stream("incident")
    try:
        return _caught_up(r.xinfo_stream(stream), r.xinfo_groups(stream))
    except (redis.ResponseError, KeyError):
        return False


def escalate_overdue(r: redis.Redis, site: Site, keys: Keys) -> None:
    """Write an ``escalate`` op for each incident overdue past the grace."""
    if not incidents_caught_up(r, keys):
        return
    now = now_ms()
    grace_ms = int(site.escalate_grace_min * 60_000)
    ids = r.zrangebyscore(keys.incidents_open, "-inf", now - grace_ms)
    _escalate(r, keys, {as_text(i) for i in ids}, now, grace_ms)


def _escalate(r: redis.Redis, keys: Keys, ids: set[str], now: int,
              grace_ms: int) -> None:
    if not ids:
        return
    for record in load_incidents(r, keys, ids).values():
        if escalation_due(record, now, grace_ms):
            nxt = record["escalations"] + 1
            r.xadd(keys.stream("incident"), {
                "v": "1", "src": "sla-watchdog", "op": "escalate",
                "id": record["id"], "ts": str(now), "actor": SYSTEM_ACTOR,
                "eid": f"sla-{record['id']}-{nxt}",
                "note": "overdue: escalated automatically (超期自动升级)",
            })
