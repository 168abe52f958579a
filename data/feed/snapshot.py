"""The per-site snapshot: everything a screen shows, built once per version.

The aggregator calls :func:`publish` after a change (and every few seconds as a
heartbeat, since ages and overdue counts move with the clock): it reads the
folded state with one pipelined round trip, stores the snapshot as JSON with a
new version number and publishes the version on the site's channel. Screens
read it with :func:`read_snapshot`; they never scan raw streams.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import redis

from data import pubsub
from data.feed.fold import entrance_fields
from data.incidents.lifecycle import is_overdue, public_view, sla_light
from data.incidents.store import load_incidents
from data.keys import FEED_STREAMS, Keys
from data.redis_conn import (
    RETRY_ERRORS,
    by_node,
    on_node,
)
from data.site import Site

HEARTBEAT_MS = 5_000
FLOW_MINUTES = 120
HOUR_MINUTES = 60
RECENT_FLOW_MINUTES = 5  # "current flow" at an entrance
TICKER = 20
MAP_INCIDENTS = 200
MONTH_KEEP_S = 400 * 86400


def _t(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _ints(raw: dict) -> dict[str, int]:
    return {_t(k): int(v) for k, v in raw.items()}


def count_closure(pipe: Any, keys: Keys, site: Site, record: dict,
                  sign: int) -> None:
    """Add (sign=1) or take back (sign=-1, a reopen) one closure to its month."""
    tz = ZoneInfo(site.timezone)
    month = datetime.fromtimestamp(record["closed_at"] / 1000, tz).strftime("%Y%m")
    key = keys.incidents_month(month)
    pipe.hincrby(key, "closed", sign)
    if record["closed_at"] <= record["deadline"]:
        pipe.hincrby(key, "on_time", sign)
    pipe.hincrby(key, f"level:{record['solved_level']}", sign)
    pipe.expire(key, MONTH_KEEP_S)


def _local(ms: int, tz: ZoneInfo) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz)


def build(r: redis.Redis, keys: Keys, site: Site, now_ms: int,
          cache: dict | None = None) -> dict[str, Any]:
    """Read the folded state of ``site`` and shape it into the snapshot.

    ``cache``: a dict of the caller's (the aggregator's, per site) where the
    minute buckets read are kept, so that the next build reads only the
    minutes folded into since (``cache["touched"]``, which the caller adds
    to) and the new ones: a busy site's hour is sixty buckets, of which one
    or two move between builds. The week-ago curve, written a week ago,
    is read once a minute. A writer other than the fold (the demo's past)
    bumps ``stats["rewritten"]``, and the whole cache goes."""
    if cache is None:
        cache = {}
    for _ in range(2):
        reads = Reads(keys, site, now_ms, cache)

        def read(node: redis.Redis, reads: Reads = reads) -> list:
            pipe = node.pipeline(transaction=False)
            reads.queue(pipe)
            return pipe.execute()
        snap = reads.shape(r, on_node(r, keys.snapshot, read))
        if snap is not None:
            return snap
        cache.clear()  # rewritten under the cache: read everything
    raise RuntimeError(f"site {site.id}: rewritten under every build")


class Reads:
    """What one build of a site's snapshot reads, in one pipelined round
    trip (:meth:`queue`, for many sites at once on a node's pipeline), and
    the snapshot from the replies (:meth:`shape`)."""

    def __init__(self, keys: Keys, site: Site, now_ms: int, cache: dict) -> None:
        self.keys, self.site, self.now_ms, self.cache = keys, site, now_ms, cache
        self.tz = ZoneInfo(site.timezone)
        self.now_local = _local(now_ms, self.tz)
        self.today = self.now_local.strftime("%Y%m%d")
        self.day_start = self.now_local.replace(hour=0, minute=0, second=0,
                                                microsecond=0)
        now_min = now_ms // 60_000
        self.minutes = list(range(now_min - FLOW_MINUTES + 1, now_min + 1))

    def queue(self, pipe: Any) -> None:
        """Queue the reads of what is not in the cache on ``pipe`` (one
        Redis, or the node of the site's slot)."""
        keys, cache, minutes, tz = self.keys, self.cache, self.minutes, self.tz
        buckets: dict[int, dict[str, int]] = cache.setdefault("minutes", {})
        whole: set[int] = cache.setdefault("whole", set())  # all fields read
        week: dict[int, tuple] = cache.setdefault("week", {})
        for minute in cache.pop("touched", ()):
            buckets.pop(minute, None)
            whole.discard(minute)
        self.full = [m for m in minutes[-HOUR_MINUTES:] if m not in whole]
        self.early = [m for m in minutes[:-HOUR_MINUTES] if m not in buckets]
        self.week_ago: dict[str, list[tuple[int, int]]] = defaultdict(list)
        for minute in minutes:
            if minute not in week:
                then = _local(minute * 60_000, tz) - timedelta(days=7)
                self.week_ago[then.strftime("%Y%m%d")].append(
                    (minute, then.hour * 60 + then.minute))
        # first: a rewrite landing between the reads below shows at the next build
        pipe.hget(keys.stats, "rewritten")
        # the minutes whose buckets or week-ago figures this build reads
        self.fresh = {*self.full, *self.early,
                      *(m for slots in self.week_ago.values() for m, _ in slots)}
        for minute in self.full:
            pipe.hgetall(keys.minute(minute))
        for minute in self.early:
            pipe.hmget(keys.minute(minute), "s:i", "s:o")
        for day, slots in self.week_ago.items():
            pipe.hmget(keys.site_minutes(day),
                       [f"{m}:{d}" for _, m in slots for d in "io"])
        pipe.hgetall(keys.day(self.today))
        pipe.hgetall(keys.present)
        pipe.hgetall(keys.parking)
        pipe.hgetall(keys.feeds)
        pipe.hgetall(keys.stats)
        pipe.zcard(keys.incidents_open)
        pipe.zcount(keys.incidents_open, "-inf", self.now_ms)
        pipe.zcount(keys.incidents_closed, int(self.day_start.timestamp() * 1000),
                    "+inf")
        pipe.hgetall(keys.incidents_month(self.now_local.strftime("%Y%m")))
        pipe.zrevrange(keys.incidents_all, 0, TICKER - 1)
        pipe.zrange(keys.incidents_open, 0, MAP_INCIDENTS - 1)

    def shape(self, r: redis.Redis, replies: list) -> dict[str, Any] | None:
        """The snapshot from the replies of :meth:`queue`'s reads (an error
        among them is raised; ``r`` reads the incident records not in the
        cache); None when the cache turned out stale (see :func:`build`)."""
        for reply in replies:
            if isinstance(reply, Exception):
                raise reply
        rest = self._take(replies)
        if rest is None:
            return None
        return _shape(r, self.keys, self.site, self.now_ms, self.now_local,
                      self.minutes, self.cache, rest, self.fresh)

    def _take(self, replies: list) -> list | None:
        """The minute buckets and week-ago figures read into the cache; the
        other replies."""
        cache, minutes, full, early = self.cache, self.minutes, self.full, self.early
        buckets, whole, week = cache["minutes"], cache["whole"], cache["week"]
        rewritten, *replies = replies
        rest = replies[len(full) + len(early) + len(self.week_ago):]
        rewritten = int(rewritten or 0)
        if cache.setdefault("rewritten", rewritten) != rewritten:
            return None
        for minute, raw in zip(full, replies, strict=False):
            buckets[minute] = _ints(raw)
            whole.add(minute)
        pos = len(full)
        for minute, (a, b) in zip(early, replies[pos:], strict=False):
            buckets[minute] = {"s:i": int(a or 0), "s:o": int(b or 0)}
        pos += len(early)
        for (_day, slots), values in zip(self.week_ago.items(), replies[pos:],
                                         strict=False):
            for k, (minute, _) in enumerate(slots):
                week[minute] = tuple(int(v) if v is not None else None
                                     for v in values[2 * k: 2 * k + 2])
        for old in [m for m in buckets if m < minutes[0]]:
            del buckets[old]
            whole.discard(old)
        for old in [m for m in week if m < minutes[0]]:
            del week[old]
        return rest


def _shape(r: redis.Redis, keys: Keys, site: Site, now_ms: int,
           now_local: datetime, minutes: list[int], cache: dict,
           replies: list, fresh: set[int]) -> dict[str, Any]:
    """The snapshot from the minute buckets in ``cache`` and what
    :func:`_read` read besides (``fresh``: the minutes read anew)."""
    buckets = cache["minutes"]
    hour = [buckets[m] for m in minutes[-HOUR_MINUTES:]]
    (day_counts, present, parking, feeds, stats, n_open, n_overdue, n_closed_today,
     month, recent_ids, open_ids) = replies
    day_counts, present, stats = _ints(day_counts), _ints(present_fix(present)), \
        _ints(stats)
    parking, feeds, month = ({_t(k): _t(v) for k, v in d.items()}
                             for d in (parking, feeds, month))

    flow_in, flow_out, week_in, week_out = _flow(cache, minutes, fresh)
    has_week = any(v is not None for v in week_in)

    hour_total = _hour_total(cache, minutes[-HOUR_MINUTES:])
    recent: Counter[str] = Counter()
    for bucket in hour[-RECENT_FLOW_MINUTES:]:
        recent.update(bucket)

    def hour_sum(fld: str, totals: Counter[str] = hour_total) -> int:
        return totals.get(fld, 0)

    got, recent_got, fields = hour_total.get, recent.get, entrance_fields(site)
    entrances = {}
    for e in site.entrances.values():
        (e_in, e_out), (v_in, v_out) = fields[e.id].people, fields[e.id].vehicles
        entrances[e.id] = {
            "name": e.name, "name_en": e.name_en, "kind": e.kind, "grid": e.grid,
            "lon": e.lon, "lat": e.lat,
            "people_in_1h": got(e_in, 0), "people_out_1h": got(e_out, 0),
            "vehicles_in_1h": got(v_in, 0), "vehicles_out_1h": got(v_out, 0),
            "flow_5m": recent_got(e_in, 0) + recent_got(e_out, 0)
            + recent_got(v_in, 0) + recent_got(v_out, 0),
        }
    grids = {}
    for g in site.grids.values():
        people = present.get(f"g:{g.id}", 0)
        grids[g.id] = {
            "name": g.name, "name_en": g.name_en, "people_present": people,
            "capacity": g.capacity, "load": round(people / g.capacity, 3),
            "density_level": g.density_level(people),
            "people_in_1h": hour_sum(f"g:{g.id}:i"),
            "people_out_1h": hour_sum(f"g:{g.id}:o"),
        }
    lots = {
        p.id: {"name": p.name, "name_en": p.name_en, "capacity": p.capacity,
               "occupied": int(parking.get(p.id, 0)),
               "ts": int(parking[f"{p.id}:ts"]) if f"{p.id}:ts" in parking else None}
        for p in site.parking.values()
    }

    views = _incident_views(r, keys, cache, {_t(i) for i in (*recent_ids, *open_ids)},
                            now_ms)
    ticker = [views[_t(i)] for i in recent_ids if _t(i) in views]
    open_marks = [
        {k: v[k] for k in ("id", "grid", "level", "lat", "lon", "status", "sla",
                           "category", "title", "owner_level")}
        for v in (views[_t(i)] for i in open_ids if _t(i) in views)
    ]
    closed_month = int(month.get("closed", 0))
    alerts = [{"kind": "density", "grid": gid, "level": g["density_level"]}
              for gid, g in grids.items() if g["density_level"] >= 2]
    alerts += [{"kind": "urgent", "id": v["id"], "grid": v["grid"],
                "title": v["title"], "category": v["category"]}
               for v in ticker if v["level"] == 1
               and v["status"] in ("reported", "accepted", "escalated")
               and now_ms - v["reported_at"] < 30 * 60_000]

    return {
        "site": site.id, "name": site.name, "name_en": site.name_en,
        "version": None,
        "generated_at": now_local.isoformat(timespec="milliseconds"),
        "generated_ms": now_ms,
        "people_present": present.get("site", 0),
        "people_in_1h": hour_sum("s:i"), "people_out_1h": hour_sum("s:o"),
        "people_in_today": day_counts.get("s:i", 0),
        "people_out_today": day_counts.get("s:o", 0),
        "vehicles_in_1h": hour_sum("vs:i"), "vehicles_out_1h": hour_sum("vs:o"),
        "vehicles_in_today": day_counts.get("vs:i", 0),
        "vehicles_out_today": day_counts.get("vs:o", 0),
        "parking": lots,
        "parking_occupied": sum(lot["occupied"] for lot in lots.values()),
        "parking_capacity": sum(lot["capacity"] for lot in lots.values()),
        "entrances": entrances,
        "grids": grids,
        "incidents": {
            "open": int(n_open), "overdue": int(n_overdue),
            "closed_today": int(n_closed_today), "closed_month": closed_month,
            "on_time_rate": (round(int(month.get("on_time", 0)) / closed_month, 3)
                             if closed_month else None),
            "solved_in_grid_share": (
                round(int(month.get("level:grid", 0)) / closed_month, 3)
                if closed_month else None),
            "solved_by_level": {lvl: int(month.get(f"level:{lvl}", 0))
                                for lvl in ("grid", "community", "street",
                                            "district")},
        },
        "recent_incidents": ticker,
        "open_incidents": open_marks,
        "flow": {"start_ms": minutes[0] * 60_000, "step_ms": 60_000,
                 "in": flow_in, "out": flow_out,
                 "in_week_ago": week_in if has_week else None,
                 "out_week_ago": week_out if has_week else None},
        "feeds": {
            name: {"last_ts": int(feeds[f"{name}:ts"]),
                   "lag_ms": max(0, now_ms - int(feeds[f"{name}:ts"]))}
            if f"{name}:ts" in feeds else {"last_ts": None, "lag_ms": None}
            for name in FEED_STREAMS
        },
        "dead_letters": stats.get("dead", 0),
        "folded": {name: stats.get(f"folded:{name}", 0) for name in FEED_STREAMS},
        "alerts": alerts,
    }


def _flow(cache: dict, minutes: list[int], fresh: set[int]) -> list[list]:
    """The flow's four curves over ``minutes`` — people in, out, and in and
    out a week before — kept in ``cache`` between builds: the curves are
    shifted along by the minutes that passed, and only the minutes read anew
    (``fresh``, which has those that entered) are looked up again. Four
    curves of 120 minutes made afresh were a tenth of a snapshot's cost."""
    buckets, week = cache["minutes"], cache["week"]
    start, size = minutes[0], len(minutes)
    kept = cache.get("flow")
    if kept is not None and 0 <= start - kept[0] < size and len(kept[1][0]) == size:
        shift = start - kept[0]
        curves = [curve[shift:] + [None] * shift for curve in kept[1]]
        todo = {m for m in fresh if m >= start}.union(minutes[size - shift:])
    else:
        curves = [[None] * size for _ in range(4)]
        todo = minutes
    flow_in, flow_out, week_in, week_out = curves
    for minute in todo:
        at, bucket, (then_in, then_out) = minute - start, buckets[minute], week[minute]
        flow_in[at], flow_out[at] = bucket.get("s:i", 0), bucket.get("s:o", 0)
        week_in[at], week_out[at] = then_in, then_out
    cache["flow"] = (start, curves)
    return [list(curve) for curve in curves]  # the snapshot's own


def _hour_total(cache: dict, window: list[int]) -> Counter[str]:
    """The sum of the minute buckets of ``window`` (the last hour), kept in
    ``cache`` and brought up to date with the buckets that changed since
    the last build: a minute that entered the window, left it, or was read
    anew (a bucket is replaced, never changed in place). A busy site's hour
    is sixty buckets of some sixty fields, and summing them all was a sixth
    of a snapshot's cost; one or two change between builds."""
    buckets = cache["minutes"]
    total: Counter[str] = cache.setdefault("hour_total", Counter())
    summed: dict[int, dict] = cache.setdefault("hour_summed", {})  # in total
    wanted = set(window)
    for minute, bucket in list(summed.items()):
        if minute not in wanted or buckets.get(minute) is not bucket:
            total.subtract(bucket)
            del summed[minute]
    for minute in window:
        if minute not in summed:
            bucket = summed[minute] = buckets[minute]
            total.update(bucket)
    return total


def _incident_views(r: redis.Redis, keys: Keys, cache: dict, ids: set[str],
                    now_ms: int) -> dict[str, dict]:
    """The public view of each of ``ids``: those kept in ``cache`` and not
    changed since (``cache["touched_incidents"]``, which the caller adds
    to) with their SLA light and overdue flag as of ``now_ms``; the others
    read. A busy site's ticker and map are 220 records, of which one or two
    change between builds."""
    kept: dict[str, dict] = cache.setdefault("views", {})
    for changed in cache.pop("touched_incidents", ()):
        kept.pop(changed, None)
    missing = ids - kept.keys()
    for incident_id, record in load_incidents(r, keys, missing).items():
        kept[incident_id] = public_view(record, now_ms)
    for gone in kept.keys() - ids:
        del kept[gone]
    for view in kept.values():
        view["sla"] = sla_light(view, now_ms)
        view["overdue"] = is_overdue(view, now_ms)
    return {i: dict(v) for i, v in kept.items()}


def present_fix(raw: dict) -> dict:
    """Drop the non-numeric ``baseline`` marker from the present hash."""
    return {k: v for k, v in raw.items() if _t(k) != "baseline"}




@dataclass
class Job:
    """One site's new snapshot for :func:`publish_many`."""

    keys: Keys
    site: Site
    now_ms: int
    kept: dict  # the caller's cache of the site (the snapshot left in "snap")
    incidents: bool = False  # an incident changed since the last one
    restamp: bool = False  # the last snapshot again, newly timed (no reads)
    # more reads of the site's slot sent with the snapshot's (the roll-up's
    # figures, data/units/rollup.py): what queues them on a pipeline; their
    # replies are left in ``also_got``, an error among them as its reply
    also: Callable[[Any], Any] | None = None
    also_got: list | None = None


def publish(r: redis.Redis, keys: Keys, site: Site, now_ms: int, *,
            incidents: bool = False, kept: dict | None = None) -> int:
    """Build, store and announce a new snapshot; returns its version.

    ``incidents``: an incident changed since the last one. Such a version is
    announced as ``inc:<version>`` ahead of the plain ``<version>``, and
    remembered under ``keys.incidents_version``, so that screens that show
    only incidents (the phone, the console's table) refresh on those alone.
    ``kept``: a dict of the caller's, where the snapshot is left (``"snap"``)
    for a restamp (:class:`Job`), and the minute buckets read for the next
    build.
    """
    job = Job(keys, site, now_ms, {} if kept is None else kept, incidents)
    (version,) = publish_many(r, [job])
    if isinstance(version, Exception):
        raise version
    return version


def publish_many(r: redis.Redis, jobs: list[Job]) -> list[int | Exception]:
    """Build (or restamp), store and announce the snapshots of many sites in
    two round trips a node for all of them: each site's reads, its next
    version and :attr:`Job.also` in one, the stores with their announcements
    in the other (stored first, then announced: whoever hears the version
    can read it). Returns each job's version, or the error that stopped that
    site alone; Redis being away is raised.

    A busy city's aggregator publishes a few hundred sites a second: four
    round trips each were more of its time than the rest of the snapshot."""
    for job in jobs:
        if job.restamp and job.kept.get("snap") is None:
            job.restamp = False  # nothing to restamp here: build one
    reads = [None if job.restamp else Reads(job.keys, job.site, job.now_ms,
                                            job.kept) for job in jobs]

    also = [0] * len(jobs)  # how many commands each job's ``also`` queued

    def queue(n: int, job: Job, read: Reads | None):
        def queue_on(pipe: Any) -> None:
            if job.also is not None:
                before = len(pipe)
                job.also(pipe)
                also[n] = len(pipe) - before
            if read is not None:
                read.queue(pipe)
            pipe.incr(job.keys.version)
        return queue_on
    replies = by_node(r, [(job.keys.snapshot, queue(n, job, read))
                          for n, (job, read) in enumerate(zip(jobs, reads,
                                                              strict=True))],
                      several=True, bundle=True)
    out: list[int | Exception] = [RuntimeError("not published")] * len(jobs)
    made: list[tuple[int, Job, dict]] = []
    for n, (job, read, reply) in enumerate(zip(jobs, reads, replies, strict=True)):
        job.also_got, reply = reply[:also[n]], reply[also[n]:]
        try:
            *got, version = reply
            if isinstance(version, Exception):
                raise version
            if read is None:
                snap = _restamped(job.kept["snap"], job.site, job.now_ms)
            else:
                snap = read.shape(r, got)
                if snap is None:  # rewritten under the cache: read everything
                    job.kept.clear()
                    snap = build(r, job.keys, job.site, job.now_ms, cache=job.kept)
                job.kept["snap"] = snap
            snap["version"] = int(version)
        except RETRY_ERRORS:
            raise
        except Exception as exc:  # this site's data alone
            out[n] = exc
        else:
            made.append((n, job, snap))
    for n, version in _store_many(r, made):
        out[n] = version
    return out


# KEYS[1] the snapshot, KEYS[2] the incidents' latest version, KEYS[3] the
# site's channel (all of the site's slot); ARGV[1] the snapshot, ARGV[2] its
# version as the incidents' latest ('' when no incident changed), ARGV[3] the
# command that announces (PUBLISH, or SPUBLISH on a cluster of Redis 7),
# ARGV[4…] the messages. Stored, then announced, in one call: whoever hears
# a version can read it, and a store that fails announces nothing.
STORE = """
redis.call('SET', KEYS[1], ARGV[1])
if ARGV[2] ~= '' then redis.call('SET', KEYS[2], ARGV[2]) end
for i = 4, #ARGV do redis.call(ARGV[3], KEYS[3], ARGV[i]) end
return 1
"""


def _store_many(r: redis.Redis, made: list[tuple[int, Job, dict]]
                ) -> list[tuple[int, int | Exception]]:
    """Store and announce each made snapshot (:data:`STORE`), one round trip
    a node for all of them; each one's version, or its error."""
    announce = "SPUBLISH" if pubsub.mode(r) == "sharded" else "PUBLISH"
    replies = by_node(r, [(job.keys.snapshot,
                           lambda pipe, job=job, snap=snap: _queue_store(
                               pipe, job.keys, snap, job.incidents, announce))
                          for _, job, snap in made])
    return [(n, reply if isinstance(reply, Exception) else snap["version"])
            for (n, _, snap), reply in zip(made, replies, strict=True)]


def _queue_store(pipe: Any, keys: Keys, snap: dict, incidents: bool,
                 announce: str) -> None:
    """Queue the store and announcement of ``snap`` (numbered) on ``pipe``:
    for an incident change also its version as the incidents' latest, and
    ``inc:<version>`` ahead of the plain version (:func:`publish`)."""
    # orjson: a busy city stores a thousand snapshots a round, and the
    # standard library's encoder was a twelfth of an aggregator's time
    version = snap["version"]
    pipe.execute_command(
        "EVAL", STORE, 3, keys.snapshot, keys.incidents_version, keys.channel,
        orjson.dumps(snap, option=orjson.OPT_NON_STR_KEYS),
        version if incidents else "", announce,
        *((f"inc:{version}", version) if incidents else (version,)))


def _restamped(snap: dict, site: Site, now_ms: int) -> dict:
    """``snap`` with what time moves made anew (in place)."""
    local = _local(now_ms, ZoneInfo(site.timezone))
    snap["generated_at"] = local.isoformat(timespec="milliseconds")
    snap["generated_ms"] = now_ms
    for feed in snap.get("feeds", {}).values():
        if feed.get("last_ts") is not None:
            feed["lag_ms"] = max(0, now_ms - int(feed["last_ts"]))
    return snap


def publish_people(r: redis.Redis, keys: Keys, version: int, people: int) -> None:
    """Announce people present now, counted after snapshot ``version``:
    ``live:<version>:<people>`` on the site's channel (no new snapshot)."""
    pubsub.announce(r, keys.channel, people_message(version, people))


def people_message(version: int, people: int) -> str:
    """What :func:`publish_people` sends (for many sites at once, with
    :func:`data.pubsub.announce_all`)."""
    return f"live:{version}:{people}"


def read_snapshot(r: redis.Redis, keys: Keys) -> dict[str, Any] | None:
    """The site's current snapshot, or None before the first one."""
    raw = r.get(keys.snapshot)
    return orjson.loads(raw) if raw else None


def read_version(r: redis.Redis, keys: Keys) -> int:
    raw = r.get(keys.version)
    return int(raw) if raw else 0


def grid_flow(r: redis.Redis, keys: Keys, grid: str, now_ms: int,
              minutes: int = 60) -> list[tuple[int, int, int]]:
    """(minute start ms, people in, people out) for one grid, oldest first."""
    last = now_ms // 60_000
    span = range(last - minutes + 1, last + 1)
    pipe = r.pipeline(transaction=False)
    for minute in span:
        pipe.hmget(keys.minute(minute), f"g:{grid}:i", f"g:{grid}:o")
    return [(m * 60_000, int(i or 0), int(o or 0))
            for m, (i, o) in zip(span, pipe.execute(), strict=True)]
