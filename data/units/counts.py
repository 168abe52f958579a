"""What the chain above a site needs of its incidents, counted at fold time.

The aggregator's batch (data/feed/batch.py) calls :func:`count_changes` in
the transaction that stores the incident records, so each change is counted
exactly once, per community of the site (a business district such as ``erqi``
spans several communities, streets and districts):

* the community's open incidents by deadline (open, overdue now),
* open incidents by owner level (owned at the community, street, district),
  counted and listed (what a unit's wall shows as escalated to it),
  and their ids by owner level and under supervision (督办), for the units'
  consoles,
* closures by local month (closed, on time, solved in the grid, reworked)
  and by local day (closed today).

A change is counted as its net effect, the record before the batch taken
out and the record after it put in, so a batch that closes and reopens an
incident counts right. :func:`rebuild_counts` counts a site's incidents from
scratch (a site folded before the chain existed).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import redis

from data.incidents.lifecycle import OPEN
from data.incidents.store import CHUNK
from data.keys import Keys
from data.redis_conn import as_text, node_for
from data.site import Site
from data.terms import CHAIN

MONTH_KEEP_S = 400 * 86400
DAY_KEEP_S = 3 * 86400
MONTH_FIGURES = ("closed", "on_time", "in_grid", "rework")
# owner levels whose open incidents are listed by id, for the units' consoles
# (an incident owned by a grid is the site console's, and the most common)
OWNED_LISTED = CHAIN[1:]
# the layout of what is counted; a site counted under another is counted again
LAYOUT = "2"


def community_of(site: Site, record: Mapping[str, Any]) -> str:
    return site.grids[record["grid"]].community


def local(ms: int, site: Site, fmt: str) -> str:
    """The site's local time of ``ms`` as ``fmt`` says."""
    if fmt in _BY_MINUTE:  # a minute's date is the same all through it
        return _local_minute(ms // 60_000, site.timezone, fmt)
    return datetime.fromtimestamp(ms / 1000, ZoneInfo(site.timezone)).strftime(fmt)


_BY_MINUTE = frozenset(("%Y%m", "%Y%m%d"))


@lru_cache(maxsize=4096)
def _local_minute(minute: int, timezone: str, fmt: str) -> str:
    # the roll-up asks this three times a site every round
    return datetime.fromtimestamp(minute * 60, ZoneInfo(timezone)).strftime(fmt)


def _closure(pipe: Any, keys: Keys, site: Site, record: Mapping[str, Any],
             sign: int) -> None:
    comm, at = community_of(site, record), record["closed_at"]
    month = keys.unit_month(local(at, site, "%Y%m"))
    pipe.hincrby(month, f"{comm}:closed", sign)
    if at <= record["deadline"]:
        pipe.hincrby(month, f"{comm}:on_time", sign)
    if record["solved_level"] == "grid":
        pipe.hincrby(month, f"{comm}:in_grid", sign)
    pipe.expire(month, MONTH_KEEP_S)
    day = keys.unit_day(local(at, site, "%Y%m%d"))
    pipe.hincrby(day, f"{comm}:closed", sign)
    pipe.expire(day, DAY_KEEP_S)


def _reworks(pipe: Any, keys: Keys, site: Site, entries: Iterable[Mapping]) -> None:
    """A closed incident reopened: its verification did not hold (返工)."""
    for entry in entries:
        if entry.get("op") == "reopen" and entry.get("from") == "closed":
            month = keys.unit_month(local(entry["ts"], site, "%Y%m"))
            pipe.hincrby(month, f"{entry['community']}:rework", 1)
            pipe.expire(month, MONTH_KEEP_S)


def count_change(pipe: Any, keys: Keys, site: Site, before: Mapping | None,
                 after: Mapping[str, Any]) -> None:
    """Queue on ``pipe`` what changing ``before`` (None: new) into ``after``
    does to the counts."""
    comm = community_of(site, after)
    if before is not None and before["status"] in OPEN:
        pipe.hincrby(keys.unit_owned, f"{comm}:{before['owner_level']}", -1)
        pipe.zrem(keys.unit_open_at(comm, before["owner_level"]), after["id"])
        if before["owner_level"] in OWNED_LISTED:
            pipe.zrem(keys.unit_owned_ids(comm, before["owner_level"]), after["id"])
    if after["status"] in OPEN:
        pipe.hincrby(keys.unit_owned, f"{comm}:{after['owner_level']}", 1)
        pipe.zadd(keys.unit_open(comm), {after["id"]: after["deadline"]})
        pipe.zadd(keys.unit_open_at(comm, after["owner_level"]),
                  {after["id"]: after["reported_at"]})
        if after["owner_level"] in OWNED_LISTED:
            pipe.zadd(keys.unit_owned_ids(comm, after["owner_level"]),
                      {after["id"]: after["deadline"]})
    elif before is not None and before["status"] in OPEN:
        pipe.zrem(keys.unit_open(comm), after["id"])
    if after["status"] in OPEN and after.get("supervised"):
        pipe.zadd(keys.unit_supervised(comm), {after["id"]: after["deadline"]})
    elif before is not None and before.get("supervised"):
        pipe.zrem(keys.unit_supervised(comm), after["id"])
    if before is not None and before["status"] == "closed":
        _closure(pipe, keys, site, before, -1)
    if after["status"] == "closed":
        _closure(pipe, keys, site, after, 1)
    seen = len(before["history"]) if before is not None else 0
    _reworks(pipe, keys, site, ({**e, "community": comm}
                                for e in after["history"][seen:]))


def count_changes(pipe: Any, keys: Keys, site: Site,
                  before: Mapping[str, Mapping | None],
                  after: Mapping[str, Mapping[str, Any]]) -> None:
    """:func:`count_change` for every incident a batch changed."""
    for incident_id, record in after.items():
        count_change(pipe, keys, site, before.get(incident_id), record)


class _Tally:
    """What :func:`count_change` would queue, added up in memory: the keys
    it writes and their values, for :func:`rebuild_counts` to write whole."""

    def __init__(self) -> None:
        self.hashes: dict[str, dict[str, int]] = {}
        self.zsets: dict[str, dict[str, int]] = {}
        self.ttl: dict[str, int] = {}

    def hincrby(self, key: str, name: str, amount: int) -> None:
        fields = self.hashes.setdefault(key, {})
        fields[name] = fields.get(name, 0) + amount

    def zadd(self, key: str, mapping: Mapping[str, int]) -> None:
        self.zsets.setdefault(key, {}).update(mapping)

    def zrem(self, key: str, member: str) -> None:
        self.zsets.get(key, {}).pop(member, None)

    def expire(self, key: str, seconds: int) -> None:
        self.ttl[key] = seconds


def rebuild_counts(r: redis.Redis, keys: Keys, site: Site) -> int:
    """Count every incident of ``site`` afresh, in one transaction on the
    site's node; returns how many. Run by the site's folder (it holds the
    lease, so no batch of the site runs meanwhile). Every key it counts into
    is written whole (no scan of the keyspace)."""
    node = node_for(r, keys.incidents_all)
    ids = [as_text(i) for i in node.zrange(keys.incidents_all, 0, -1)]
    tally = _Tally()
    for start in range(0, len(ids), CHUNK):
        part = [keys.incident(i) for i in ids[start:start + CHUNK]]
        for raw in node.execute_command("MGET", *part):
            if raw:
                count_change(tally, keys, site, None, json.loads(raw))
    communities = {g.community for g in site.grids.values()}
    with node.pipeline(transaction=True) as pipe:
        pipe.delete(keys.unit_owned, *(keys.unit_open(c) for c in communities),
                    *(keys.unit_open_at(c, level) for c in communities
                      for level in CHAIN),
                    *(keys.unit_owned_ids(c, level) for c in communities
                      for level in OWNED_LISTED),
                    *(keys.unit_supervised(c) for c in communities),
                    *tally.hashes, *tally.zsets)
        for key, fields in tally.hashes.items():
            if any(fields.values()):
                pipe.hset(key, mapping=fields)
        for key, members in tally.zsets.items():
            if members:
                pipe.zadd(key, members)
        for key, seconds in tally.ttl.items():
            pipe.expire(key, seconds)
        pipe.set(keys.unit_layout, LAYOUT)
        pipe.execute()
    return len(ids)
