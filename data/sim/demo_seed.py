"""The demo's first start: a command center that looks lived in from the first minute.

On a fresh data folder the demo feed alone would leave the wall without an
incident for minutes, its flow chart flat, and the analyst's workspace empty.
So on the first demo start (no history yet) :class:`Seeder`, in a process of
its own (:func:`seed_process`: folding days is CPU work that would otherwise
hold the web server's and the aggregator's interpreter lock), writes what
the past would have left, through the real parts:

1. today up to now, for every site: the simulator's model folded by the
   aggregator's fold (:mod:`data.sim.history`) into the same Redis counters
   the aggregator keeps (minute, 10-second and day buckets, the per-minute
   site totals of the week-ago curve), so the wall's flow chart, its entrance
   flows and today's totals show the day so far; the same minutes written to
   the day's history file (the archiver's merge keeps the larger count, so
   its next pass changes nothing); today's incident reports and workflow ops,
   and a few incidents left in every open state (reported, accepted,
   dispatched, in progress, overdue, escalated, awaiting verification) and
   some closed, written to the incident stream for the aggregator to apply;
2. the past days (newest first, so the last week is ready first), each from
   its own model, written by the archiver's writers; the days the wall's
   week-ago curve reads are folded a minute at a time and their site totals
   stored in Redis too.

A marker file (``<data>/demo-seed.json``) records progress: a restart never
seeds again, and resumes the past days if the first start was stopped
before they were done (a day written twice is the same day: counts merge by
the larger value, incidents by id). Today's Redis part is done once only.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import redis

from data.config import site_cache_dir
from data.feed.fold import Fold
from data.history import archive, archiver
from data.history.dataset import site_today
from data.history.store import Root, as_store
from data.keys import GROUP, Keys
from data.redis_conn import connect
from data.sim import history as sim_history
from data.sim.incidents import IncidentMaker, category_titles
from data.sim.model import SiteSim
from data.site import Site
from data.site_files import load_sites
from data.terms import CHAIN

log = logging.getLogger(__name__)

DAYS = 30
MARKER = "demo-seed.json"
RECENT_MIN = 20  # the last minutes folded at the live tick (10-second buckets)
MINUTE_TICK_S, RECENT_TICK_S = 60.0, 10.0
WEEK_AGO_SPAN_MS = 3 * 3_600_000  # the wall's flow chart looks back two hours
CATCH_UP_S = 30.0
LIVE_OVERLAP_MS = 5_000  # the live feed's first entry covers the 5 s before it


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def marker_path(data_dir: Path) -> Path:
    return Path(data_dir) / MARKER


def read_marker(data_dir: Path) -> dict[str, Any] | None:
    try:
        return json.loads(marker_path(data_dir).read_text())
    except (OSError, ValueError):
        return None


def has_history(data_dir: Path, history: Root | None = None) -> bool:
    """True if the history (``data_dir/history`` unless ``history`` says
    where) has a day of any site."""
    store = as_store(history if history is not None else Path(data_dir) / "history")
    return any(store.folders(store.base / site, "day=")
               for site in store.folders(store.base, "site="))


def pending(data_dir: Path, history: Root | None = None) -> bool:
    """True if this demo start should seed: nothing seeded and no history
    yet, or a seeding that was stopped before it was done."""
    marker = read_marker(data_dir)
    if marker is not None:
        return marker.get("state") != "done"
    return not has_history(data_dir, history)


def _write_marker(data_dir: Path, marker: dict[str, Any]) -> None:
    path = marker_path(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(marker, indent=1))
    os.replace(tmp, path)


def store_fold(client: redis.Redis, fold: Fold, at_ms: int, chunk: int = 5000
               ) -> int:
    """Add ``fold``'s increments to Redis as the aggregator does (HINCRBY, then
    EXPIREAT), leaving out the buckets Redis no longer keeps at ``at_ms``."""
    alive = {key for key, at in fold.expire_at.items() if at > at_ms // 1000}
    pipe = client.pipeline(transaction=False)
    n = 0
    for (key, name), amount in fold.incr.items():
        if key in alive:
            pipe.hincrby(key, name, amount)
            n += 1
            if n % chunk == 0:
                pipe.execute()
    for key in alive:
        pipe.expireat(key, fold.expire_at[key])
    # written besides the aggregator's fold: its snapshots' cached minute
    # buckets are stale now (data/feed/snapshot.py, build)
    pipe.hincrby(fold.keys.stats, "rewritten", 1)
    pipe.execute()
    return n


# --- incidents left open in every state ------------------------------------

# (state, minutes ago the report came in, ops after it: (name, minutes ago))
STATES: tuple[tuple[str, float, tuple[tuple[str, float], ...]], ...] = (
    ("reported", 2, ()),
    ("reported", 7, ()),
    ("accepted", 16, (("accept", 12),)),
    ("dispatched", 45, (("accept", 41), ("dispatch", 38))),
    ("in_progress", 75, (("accept", 70), ("dispatch", 66), ("start", 50))),
    ("escalated", 95, (("accept", 90), ("dispatch", 86), ("start", 70),
                       ("escalate", 25))),
    ("resolved", 120, (("accept", 115), ("dispatch", 110), ("start", 90),
                       ("resolve", 9))),
    ("closed", 200, (("accept", 195), ("dispatch", 190), ("start", 170),
                     ("resolve", 80), ("verify", 40))),
    ("closed", 150, (("accept", 146), ("dispatch", 140), ("start", 120),
                     ("resolve", 60), ("verify", 30))),
)


def _staffed(site: Site, maker: IncidentMaker) -> list[str]:
    """Grids with a supervisor, a worker and a supervisor one level up."""
    return [g for g in site.grids
            if maker.supervisor(g, CHAIN[0]) and maker.workers(g)
            and maker.supervisor(g, CHAIN[1])]


def _report(maker: IncidentMaker, site: Site, grid: str, ts: int,
            category: str | None = None, level: int | None = None
            ) -> dict[str, str]:
    fields = maker.report(ts)[0][1]  # a plausible report; not its plan
    for name in ("lat", "lon"):
        fields.pop(name, None)
    fields["grid"] = grid
    if category is not None:
        cat = site.categories[category]
        fields.update(category=category, level=str(level),
                      title=maker.rng.choice(category_titles(cat)))
    return fields


def _ops(maker: IncidentMaker, grid: str, incident: str, deadline: int,
         steps: tuple[tuple[str, float], ...], now: int) -> list[dict[str, str]]:
    sup, upper = maker.supervisor(grid, CHAIN[0]), maker.supervisor(grid, CHAIN[1])
    worker = maker.workers(grid)[0]
    escalated = any(name == "escalate" for name, _ in steps)
    out = []
    for n, (name, ago) in enumerate(steps):
        actor = worker if name in ("start", "resolve", "escalate") else sup
        if name == "verify" and escalated:
            actor = upper
        fields = {"v": "1", "src": "app", "op": name, "id": incident,
                  "ts": str(int(now - ago * 60_000)), "actor": actor.id,
                  "eid": f"seed-{name}-{incident[:8]}-{n}"}
        if name == "dispatch":
            fields.update(assignee=worker.id, deadline=str(deadline))
        elif name == "escalate":
            fields["note"] = "需社区协调处理"
        elif name == "resolve":
            fields["note"] = "已处理完毕"
        elif name == "verify":
            fields.update(passed="1", note="复查合格")
        out.append(fields)
    return out


def open_incidents(site: Site, maker: IncidentMaker, now: int
                   ) -> list[dict[str, str]]:
    """Incident entries that leave incidents in every state at ``now``: one or
    two per open state, two overdue (one past the grace, which the SLA
    watchdog escalates), two closed. Ids are UUIDs."""
    grids = _staffed(site, maker)
    if not grids:
        return []
    entries: list[dict[str, str]] = []
    for n, (_, ago, steps) in enumerate(STATES):
        grid = grids[n % len(grids)]
        fields = _report(maker, site, grid, int(now - ago * 60_000))
        hours = site.deadline_hours(fields["category"], int(fields["level"]))
        # a report older than its deadline would be overdue: make it fit
        scale = min(1.0, (hours * 60 - 1) / ago)
        timed = tuple((name, a * scale) for name, a in steps)
        fields["ts"] = str(int(now - ago * scale * 60_000))
        deadline = int(fields["ts"]) + int(hours * 3_600_000)
        entries += [fields, *_ops(maker, grid, fields["id"], deadline, timed, now)]
    # overdue: the category and level with the shortest deadline, dispatched
    category, level = min(((c.id, lv) for c in site.categories.values()
                           for lv in c.deadlines_h),
                          key=lambda cl: site.deadline_hours(*cl))
    hours = site.deadline_hours(category, level)
    grace = site.escalate_grace_min
    for n, late in enumerate((min(10.0, grace / 2), grace + 15)):
        grid = grids[(n + 3) % len(grids)]
        ago = hours * 60 + late
        fields = _report(maker, site, grid, int(now - ago * 60_000), category, level)
        steps = (("accept", ago - 3), ("dispatch", ago - 6))
        deadline = int(fields["ts"]) + int(hours * 3_600_000)
        entries += [fields, *_ops(maker, grid, fields["id"], deadline, steps, now)]
    return entries


def write_incidents_atomically(client: redis.Redis, keys: Keys,
                               entries: list[dict[str, str]]) -> None:
    """One MULTI: the aggregator (and its SLA watchdog, which waits until the
    stream is applied) never sees half of a past day's workflows."""
    pipe = client.pipeline(transaction=True)
    for fields in entries:
        pipe.xadd(keys.stream("incident"), fields)
    pipe.execute()


def incidents_applied(client: redis.Redis, keys: Keys) -> bool:
    stream = keys.stream("incident")
    try:
        last = client.xinfo_stream(stream)["last-generated-id"]
        group = next(g for g in client.xinfo_groups(stream)
                     if _text(g["name"]) == GROUP)
    except (redis.ResponseError, StopIteration, KeyError):
        return False
    return (_text(group["last-delivered-id"]) == _text(last)
            and int(group["pending"]) == 0)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


# --- the seeder ------------------------------------------------------------


@dataclass
class Seeder:
    """Seeds ``sites`` once (see the module docstring); :meth:`run` in a thread."""

    client: redis.Redis  # decoding
    sites: dict[str, Site]
    prefix: str
    data_dir: Path
    days: int = DAYS
    stop: Any = field(default_factory=threading.Event)  # or a process Event
    history: Root | None = None  # GOV_HISTORY_URL; None: data_dir/history

    @property
    def root(self) -> Root:
        return self.history if self.history is not None else (
            Path(self.data_dir) / "history")

    def run(self) -> None:
        try:
            self.seed()
        except Exception:  # the demo keeps running without its past
            log.exception("demo history: seeding failed")

    def seed(self) -> dict[str, Any]:
        started = time.monotonic()
        marker = read_marker(self.data_dir) or {"state": "running", "live": [],
                                                 "days": self.days}
        _write_marker(self.data_dir, marker)
        until = now_ms() - LIVE_OVERLAP_MS
        for site in self.sites.values():
            if site.id not in marker["live"] and not self.stop.is_set():
                n = self.seed_today(site, until)
                marker["live"].append(site.id)
                _write_marker(self.data_dir, marker)
                log.info("demo history: %s today up to now (%d incident entries) "
                         "in %.1f s", site.id, n, time.monotonic() - started)
        self.archive_today_incidents(until)
        total = (self.days - 1) * len(self.sites)
        done = 0
        for back in past_order(self.days, until, self.sites):
            for site in self.sites.values():
                if self.stop.is_set():
                    return marker
                self.seed_day(site, site_today(site, until) - timedelta(days=back),
                              until)
                done += 1
                if done % 5 == 0 or done == total:
                    log.info("demo history: %d/%d past days written (%.0f s)",
                             done, total, time.monotonic() - started)
        marker.update(state="done", seconds=round(time.monotonic() - started, 1))
        _write_marker(self.data_dir, marker)
        log.info("demo history: %d days of %s ready in %.1f s", self.days,
                 ", ".join(self.sites), time.monotonic() - started)
        return marker

    def seed_today(self, site: Site, until: int) -> int:
        """Today up to ``until`` into Redis and the day's file; returns how many
        incident entries were written to the stream."""
        keys = Keys(self.prefix, site.id)
        today = site_today(site, until)
        sim = SiteSim(site, seed=f"demo/{site.id}/{today}")
        midnight = sim_history.day_start_ms(today, site.timezone)
        split = max(midnight, (until - RECENT_MIN * 60_000) // 60_000 * 60_000)
        first = sim_history.simulate(site, sim, midnight, split, keys, MINUTE_TICK_S)
        recent = sim_history.simulate(site, sim, split, until, keys, RECENT_TICK_S,
                                      fold=first.fold)
        store_fold(self.client, first.fold, until)
        frame = sim_history.minute_frame(first.fold, keys, site.timezone)
        archive.write_flow_day(self.root, site, today, frame, until)
        entries = [*first.incident_entries, *recent.incident_entries,
                   *open_incidents(site, IncidentMaker(site, sim.rng), until)]
        write_incidents_atomically(self.client, keys, entries)
        return len(entries)

    def archive_today_incidents(self, until: int) -> None:
        """Once the aggregator has applied them, today's incidents to history
        (the archiver would, within its minute)."""
        deadline = time.monotonic() + CATCH_UP_S
        for site in self.sites.values():
            keys = Keys(self.prefix, site.id)
            while not incidents_applied(self.client, keys):
                if time.monotonic() > deadline or self.stop.wait(0.2):
                    return
            archiver.archive_incidents(self.client, site, self.prefix, self.root,
                                      now_ms())

    def seed_day(self, site: Site, day: date, until: int) -> None:
        """One past day into history (and Redis, where it still keeps it)."""
        keys = Keys(self.prefix, site.id)
        sim = SiteSim(site, seed=f"demo/{site.id}/{day}")
        yesterday = site_today(site, until) - timedelta(days=1)
        minutes = week_ago_days(site, until) | {yesterday}  # read by the wall
        tick = MINUTE_TICK_S if day in minutes else sim_history.TICK_S
        records: dict[str, dict[str, Any]] = {}
        frame, fold = sim_history.make_day(site, day, sim, records, tick_s=tick,
                                           tail_ms=sim_history.TAIL_MS, keys=keys)
        archive.write_flow_day(self.root, site, day, frame,
                               sim_history.end_of_day_ms(day, site.timezone))
        archive.write_incidents(self.root, site, records.values(), until)
        store_fold(self.client, fold, until)


def past_order(days: int, now: int, sites: dict[str, Site]) -> list[int]:
    """Days back to write, newest first, but the week-ago days the wall's
    flow chart reads right after yesterday."""
    order = list(range(1, days))
    site = next(iter(sites.values()))
    today = site_today(site, now)
    first = [(today - d).days for d in sorted(week_ago_days(site, now),
                                              reverse=True)]
    first = [n for n in first if n in order]
    return order[:1] + first + [n for n in order[1:] if n not in first]


def week_ago_days(site: Site, now: int) -> set[date]:
    """The days the wall's week-ago curve reads (a week before its two hours)."""
    week = 7 * 86_400_000
    return {site_today(site, now - week - back)
            for back in range(0, WEEK_AGO_SPAN_MS + 1, 3_600_000)}


def seed_process(redis_url: str, sites_root: Path, site_ids: tuple[str, ...],
                 prefix: str, data_dir: Path, days: int, stop: Any,
                 history: Root | None = None) -> None:
    """The entry point of the seeding process (``multiprocessing`` spawn)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops us: ``stop``
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    sites = load_sites(sites_root, site_ids, site_cache_dir(data_dir))
    Seeder(connect(redis_url), sites, prefix, data_dir, days, stop, history).run()
