"""A site's upkeep, done by the aggregator that folds it every few seconds:
streams trimmed to what they must keep, consumers of processes long gone
forgotten, and incidents overdue past their grace escalated by the SLA
watchdog (an ``escalate`` op on the stream, applied like any other)."""

from __future__ import annotations

import redis

from data.clock import now_ms
from data.incidents.lifecycle import SYSTEM_ACTOR, escalation_due
from data.incidents.store import load_incidents
from data.keys import GROUP, Keys
from data.redis_conn import as_text
from data.site import Site

# how long each stream keeps what the group has acknowledged
STREAM_KEEP_MS = {"crowd": 120_000, "traffic": 120_000, "incident": 90 * 86_400_000}
CONSUMER_FORGET_MS = 3_600_000


def trim_stream(r: redis.Redis, key: str, keep_ms: int, now: int) -> None:
    """Drop entries older than ``keep_ms`` that the group has acknowledged."""
    floor = now - keep_ms
    try:
        pending = r.xpending(key, GROUP)
        groups = r.xinfo_groups(key)
    except redis.ResponseError:
        return
    if pending and pending.get("pending"):
        floor = min(floor, int(as_text(pending["min"]).split("-")[0]))
    for group in groups:
        last = as_text(group.get("last-delivered-id")
                       or group.get(b"last-delivered-id"))
        floor = min(floor, int(last.split("-")[0]))
    if floor > 0:
        # LIMIT 0: an approximate trim may otherwise stop after 10,000 entries,
        # and a fast feed would outgrow one pass every few seconds.
        r.xtrim(key, minid=f"{floor}-0", approximate=True, limit=0)


def forget_idle_consumers(r: redis.Redis, key: str, consumer: str) -> None:
    """Drop consumers gone for an hour with nothing pending (old processes)."""
    for info in r.xinfo_consumers(key, GROUP):
        info = {as_text(k): v for k, v in info.items()}
        if (int(info.get("pending", 0)) == 0
                and int(info.get("idle", 0)) > CONSUMER_FORGET_MS
                and as_text(info.get("name")) != consumer):
            r.xgroup_delconsumer(key, GROUP, as_text(info["name"]))


def incidents_caught_up(r: redis.Redis, keys: Keys) -> bool:
    """True when every incident op on the stream has been applied, so
    "overdue" is judged on the records' real state, not a backlog's."""
    stream = keys.stream("incident")
    try:
        last = as_text(r.xinfo_stream(stream)["last-generated-id"])
        group = next(g for g in r.xinfo_groups(stream)
                     if as_text(g["name"]) == GROUP)
    except (redis.ResponseError, StopIteration, KeyError):
        return False
    return (as_text(group["last-delivered-id"]) == last
            and int(group["pending"]) == 0)


def escalate_overdue(r: redis.Redis, site: Site, keys: Keys) -> None:
    """Write an ``escalate`` op for each incident overdue past the grace."""
    if not incidents_caught_up(r, keys):
        return
    now = now_ms()
    grace_ms = int(site.escalate_grace_min * 60_000)
    ids = r.zrangebyscore(keys.incidents_open, "-inf", now - grace_ms)
    for record in load_incidents(r, keys, {as_text(i) for i in ids}).values():
        if escalation_due(record, now, grace_ms):
            nxt = record["escalations"] + 1
            r.xadd(keys.stream("incident"), {
                "v": "1", "src": "sla-watchdog", "op": "escalate",
                "id": record["id"], "ts": str(now), "actor": SYSTEM_ACTOR,
                "eid": f"sla-{record['id']}-{nxt}",
                "note": "overdue: escalated automatically (超期自动升级)",
            })
