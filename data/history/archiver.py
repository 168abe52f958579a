"""The archiver's loop: each pass (every :data:`EVERY_S`), for every site it holds
the lease of, the minute buckets of the last 24 hours and the incident records
that changed go to the history files (:mod:`data.history.archive`), then the
monthly copies of the days that are over are brought up to date
(:mod:`data.history.compaction`).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import date

import redis

from data.history.archive import (
    flow_frame,
    minute_rows,
    write_flow_day,
    write_incidents,
)
from data.history.compaction import closed_before, compact_site
from data.history.files import local_day, remove_stale_temps
from data.history.store import Root
from data.incidents.store import read_incidents
from data.keys import GROUP, Keys
from data.redis_conn import LEASE_SCRIPT, RETRY_ERRORS, Backoff, as_text
from data.site import Site

log = logging.getLogger(__name__)

EVERY_S = 60.0


WINDOW_MIN = 24 * 60  # minute buckets read each pass (Redis keeps 25 h)


FULL_RESCAN_S = 6 * 3600  # re-read every incident record this often


LEASE_MS = 3 * 60_000


def read_minute_window(client: redis.Redis, keys: Keys, now_ms: int,
                       minutes: int = WINDOW_MIN) -> list[tuple]:
    """Rows of every complete minute bucket of the last ``minutes`` minutes."""
    last = now_ms // 60_000 - 1
    span = list(range(last - minutes + 1, last + 1))
    pipe = client.pipeline(transaction=False)
    for minute in span:
        pipe.hgetall(keys.minute(minute))
    rows: list[tuple] = []
    for minute, counters in zip(span, pipe.execute(), strict=True):
        if counters:
            rows += minute_rows(minute, counters)
    return rows


def archive_flow(client: redis.Redis, site: Site, prefix: str, root: Root,
                 now_ms: int) -> list[date]:
    """Archive the minute buckets in Redis; returns the days whose file changed."""
    frame = flow_frame(read_minute_window(client, Keys(prefix, site.id), now_ms),
                       site.timezone)
    changed = []
    for day, part in frame.groupby(frame["minute"].dt.date, sort=True):
        if write_flow_day(root, site, day, part, now_ms):
            changed.append(day)
    return changed


def applied_until(client: redis.Redis, keys: Keys) -> str | None:
    """The XRANGE end (``id`` or ``(id``) below which the aggregator has applied
    every incident entry, or None before it has read any."""
    stream = keys.stream("incident")
    try:
        groups = client.xinfo_groups(stream)
        pending = client.xpending(stream, GROUP)
    except redis.ResponseError:
        return None
    last = next((as_text(g["last-delivered-id"]) for g in groups
                 if as_text(g["name"]) == GROUP), None)
    if last is None or last == "0-0":
        return None
    if pending and pending.get("pending"):
        return "(" + as_text(pending["min"])
    return last


def changed_incident_ids(client: redis.Redis, keys: Keys, start: str | None
                         ) -> tuple[set[str], str | None]:
    """Incidents touched by the entries the aggregator applied from ``start``
    (an XRANGE start; None: every incident), and the start for next time.

    The incident stream is the audit trail: every change of a record is an
    entry on it, so the entries since the last pass name what to re-read.
    """
    end = applied_until(client, keys)
    if end is None:  # nothing applied yet
        ids = set() if start else {as_text(i) for i in
                                   client.zrange(keys.incidents_all, 0, -1)}
        return ids, start or "-"
    following = end[1:] if end.startswith("(") else "(" + end
    if start is None:
        return {as_text(i) for i in client.zrange(keys.incidents_all, 0, -1)}, following
    ids: set[str] = set()
    while True:
        entries = client.xrange(keys.stream("incident"), start, end, count=5000)
        if not entries:
            return ids, start
        for _, fields in entries:
            value = fields.get("id", fields.get(b"id"))
            if value is not None:
                ids.add(as_text(value))
        start = "(" + as_text(entries[-1][0])


def archive_incidents(client: redis.Redis, site: Site, prefix: str, root: Root,
                      now_ms: int, cursor: str | None = None
                      ) -> tuple[list[date], str | None]:
    """Archive the incidents changed since ``cursor`` (all when None); returns
    the days written and the cursor for the next pass."""
    keys = Keys(prefix, site.id)
    ids, cursor = changed_incident_ids(client, keys, cursor)
    records = read_incidents(client, keys, sorted(ids))
    return write_incidents(root, site, records, now_ms), cursor


def lease_key(keys: Keys) -> str:
    """Which archiver writes this site's history now (SET NX PX)."""
    return f"{keys.base}:archiver"


@dataclass
class Archiver:
    """Archives ``sites`` every ``every_s`` until :meth:`stop` is called."""

    client: redis.Redis
    sites: dict[str, Site]
    prefix: str
    root: Root
    every_s: float = EVERY_S
    name: str = field(default_factory=lambda: f"arch-{uuid.uuid4().hex[:12]}")
    cursors: dict[str, str | None] = field(default_factory=dict)
    last_full_s: dict[str, float] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)

    def stop(self) -> None:
        self._stop.set()

    def run(self) -> None:
        """Archive until stopped; survive Redis going away and coming back."""
        backoff = Backoff()
        remove_stale_temps(self.root)
        while not self._stop.is_set():
            try:
                self.run_once()
                backoff.reset()
                pause = self.every_s
            except RETRY_ERRORS + (redis.BusyLoadingError,) as exc:
                pause = backoff.failed()
                log.warning("archiver: redis unavailable (%s); retry in %.1f s",
                            exc, pause)
            except Exception:  # a bug or a full disk must not stop the others
                log.exception("archiver: unexpected error")
                pause = min(self.every_s, backoff.failed() * 10)
            self._stop.wait(pause)

    def run_once(self, now_ms: int | None = None) -> dict[str, list[date]]:
        """One pass over every site this archiver holds; the days written."""
        now = now_ms if now_ms is not None else time.time_ns() // 1_000_000
        lease = self.client.register_script(LEASE_SCRIPT)
        written: dict[str, list[date]] = {}
        for site in self.sites.values():
            keys = Keys(self.prefix, site.id)
            if not lease(keys=[lease_key(keys)], args=[self.name, LEASE_MS]):
                continue
            full = (time.monotonic() - self.last_full_s.get(site.id, -1e12)
                    > FULL_RESCAN_S)
            cursor = None if full else self.cursors.get(site.id)
            days = archive_flow(self.client, site, self.prefix, self.root, now)
            more, self.cursors[site.id] = archive_incidents(
                self.client, site, self.prefix, self.root, now, cursor)
            days += more
            compact_site(self.root, site.id, site.timezone,
                         closed_before(local_day(now, site.timezone)))
            if cursor is None:
                self.last_full_s[site.id] = time.monotonic()
            written[site.id] = sorted(set(days))
        return written
