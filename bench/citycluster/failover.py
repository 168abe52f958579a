"""kill -9 of a master while reports stream in to a site it serves.

A sender thread writes incident reports to the site through
:func:`data.feed.ingest.ingest` (what the HTTP ingest endpoint calls: check,
de-duplicate, XADD, then WAIT for a replica, data/durable.py), each retried
until it is acknowledged, as the phone's queue does. The site's master is
killed -9 midway. Figures: seconds from the kill to the first report
acknowledged after it (the site answers again), seconds from the kill to
that report being folded (it is in the site's incident index, or None when
the aggregators are too far behind), and how many acknowledged reports are
missing from the site's incident stream afterwards (target 0) and how many
were not folded within a minute.
The killed node is started again afterwards and rejoins as a replica.
"""

from __future__ import annotations

import threading
import time
import uuid

import redis

from bench.citycluster.procs import PREFIX, wait_for
from data.clock import now_ms
from data.feed.ingest import ACCEPTED, DUPLICATE, ingest
from data.keys import Keys
from data.local_cluster import LocalCluster
from data.site import Site


class Sender(threading.Thread):
    """Reports to ``site``, each retried until acknowledged."""

    def __init__(self, r: redis.Redis, site: Site) -> None:
        super().__init__(daemon=True)
        self.r, self.site, self.keys = r, site, Keys(PREFIX, site.id)
        self.grid = next(iter(site.grids))
        self.acknowledged: list[tuple[float, str]] = []  # (monotonic, id)
        self.refused = 0
        self.halt = threading.Event()

    def run(self) -> None:
        n = 0
        while not self.halt.is_set():
            n += 1
            incident = str(uuid.uuid4())
            entry = {"v": "1", "op": "report", "id": incident, "ts": now_ms(),
                     "category": "sanitation", "level": "3", "title": f"故障{n}",
                     "grid": self.grid, "eid": f"r-{incident}"}
            while not self.halt.is_set():
                try:
                    outcome = ingest(self.r, self.keys, self.site, "incident",
                                     "phone", [entry], now_ms=now_ms(),
                                     dedup_seconds=3600)[0]
                except redis.RedisError:
                    outcome = None
                if outcome is not None and outcome.status in (ACCEPTED, DUPLICATE):
                    self.acknowledged.append((time.monotonic(), incident))
                    break
                self.refused += 1
                time.sleep(0.05)
            time.sleep(0.02)


def once(r: redis.Redis, cluster: LocalCluster, site: Site,
         timeout: float = 60.0) -> dict:
    keys = Keys(PREFIX, site.id)
    sender = Sender(r, site)
    sender.start()
    victim = cluster.master_of(keys.stream("incident"))
    try:
        wait_for(lambda: len(sender.acknowledged) >= 20, 60, "reports before the kill",
                 every=0.1)
        killed_at = time.monotonic()
        victim.kill()
        wait_for(lambda: sender.acknowledged[-1][0] > killed_at, timeout,
                 "a report acknowledged after the kill", every=0.02)
        first_after = next(t for t in sender.acknowledged if t[0] > killed_at)
        answered_s = first_after[0] - killed_at
        try:
            wait_for(lambda: r.zscore(keys.incidents_all, first_after[1]) is not None,
                     timeout, "the first report after the kill folded", every=0.05)
            folded_s: float | None = round(time.monotonic() - killed_at, 2)
        except TimeoutError:
            folded_s = None  # the aggregators are behind: see the fold figures
        wait_for(lambda: len(sender.acknowledged) >= 20 + 20, timeout,
                 "more reports after the kill", every=0.1)
    except TimeoutError:
        sender.halt.set()
        sender.join(30)
        if not victim.alive:
            cluster.restart(victim)
        raise
    finally:
        sender.halt.set()
        sender.join(30)
    acknowledged = {i for _, i in sender.acknowledged}

    def all_there() -> bool:
        stored = set(r.zrange(keys.incidents_all, 0, -1))
        return acknowledged <= stored
    try:
        wait_for(all_there, 60, "every acknowledged report folded")
    except TimeoutError:
        pass  # counted below
    stored = set(r.zrange(keys.incidents_all, 0, -1))
    in_stream = {fields.get("id") for _, fields in
                 r.xrange(keys.stream("incident"))}
    restarted = time.monotonic()
    cluster.restart(victim)
    return {"site": site.id, "killed_port": victim.port,
            "answered_again_s": round(answered_s, 2),
            "first_report_after_kill_folded_s": folded_s,
            "acknowledged": len(acknowledged), "refused_attempts": sender.refused,
            "acknowledged_missing_from_stream": len(acknowledged - in_stream),
            "acknowledged_not_folded_after_60s": len(acknowledged - stored),
            "node_restarted_and_healthy_s": round(time.monotonic() - restarted, 1)}
