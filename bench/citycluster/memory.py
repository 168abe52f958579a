"""Redis memory per site after a simulated day, on the cluster.

Replaying a whole day for every one of 1,000 sites is out of reach here
(hundreds of thousands of entries a site), so a few sites stand for all:

1. the cluster is flushed and one aggregator sets the whole city up
   (consumer groups, leases, a snapshot a site): ``used_memory`` summed over
   the masters is the empty city;
2. the aggregator stops; yesterday is replayed at full speed
   (:func:`data.sim.run.replay`, ``speed`` 0) for ``sample`` sites, then an
   aggregator folds it (after, not during: see ``replay``'s docstring);
3. the streams are trimmed as maintenance would leave them two minutes on
   (only the last 2 minutes of crowd and traffic feed are kept);
4. per site = (used now − empty city) ÷ sample + empty city ÷ sites.
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import redis

from bench.citycluster.fold import caught_up, folded
from bench.citycluster.procs import (
    PREFIX,
    Processes,
    leases,
    used_memory,
    wait_for,
)
from data.feed.upkeep import STREAM_KEEP_MS, trim_stream
from data.keys import Keys
from data.local_cluster import LocalCluster
from data.redis_conn import connect
from data.sim import run as simulator
from data.site_files import load_sites


def _one_aggregator(r: redis.Redis, procs: Processes, sites: list[str]):
    proc = procs.start_aggregator()
    wait_for(lambda: leases(r, sites).get(None, 0) == 0, 600,
             "the aggregator holding every site", every=1.0)
    return proc


def _age_streams(r: redis.Redis, names: list[str]) -> None:
    later = int(time.time() * 1000) + STREAM_KEEP_MS["crowd"] + 1000
    for name in names:
        for stream in ("crowd", "traffic"):
            key = Keys(PREFIX, name).stream(stream)
            before = -1
            while (length := r.xlen(key)) != before:
                before = length
                trim_stream(r, key, STREAM_KEEP_MS[stream], later)


def day(url: str, cluster: LocalCluster, procs: Processes, city: Path,
        sites: list[str], sample: list[str]) -> dict:
    r = connect(url)
    raw = connect(url, decode=False)
    r.flushall()
    proc = _one_aggregator(r, procs, sites)
    time.sleep(10)  # every site's first snapshot and heartbeat
    empty = used_memory(cluster)
    procs.stop_aggregator(proc)
    loaded = load_sites(city, sample)
    written, started = 0, time.perf_counter()
    for site in loaded.values():
        yesterday = datetime.now(ZoneInfo(site.timezone)).date() - timedelta(days=1)
        written += simulator.replay(raw, site, PREFIX, yesterday, speed=0)
    replay_s = time.perf_counter() - started
    proc = _one_aggregator(r, procs, sites)
    started = time.perf_counter()

    wait_for(lambda: caught_up(r, sample), 1800, "the replayed day folded", every=2.0)
    fold_s = time.perf_counter() - started
    time.sleep(2)
    _age_streams(r, sample)
    after = used_memory(cluster)
    families = Counter()
    for name in sample:
        for family, size in breakdown(r, name).items():
            families[family] += size
    # A replayed day's de-duplication marks expire a minute after its fold
    # (they are kept by event time, and yesterday's windows are over): what
    # a site keeps of its day is measured once they are gone; live, a site
    # holds the marks of the last two windows (GOV_DEDUP_SECONDS) instead.
    time.sleep(65)
    procs.stop_aggregator(proc)
    kept = used_memory(cluster)
    per_site = (after - empty) / len(sample) + empty / len(sites)
    return {"sample_sites": sample, "entries_replayed": written,
            "used_memory_after_marks_expired": kept,
            "per_site_kept_bytes": round((kept - empty) / len(sample)
                                         + empty / len(sites)),
            "entries_folded": folded(r, sample), "replay_s": round(replay_s, 1),
            "fold_s": round(fold_s, 1),
            "used_memory_empty_city": empty, "used_memory_after_day": after,
            "per_site_bytes": round(per_site),
            "per_site_empty_bytes": round(empty / len(sites)),
            "day_per_site_bytes": round((after - empty) / len(sample)),
            "sample_bytes_by_family": dict(families.most_common())}


def breakdown(r: redis.Redis, site: str) -> dict[str, int]:
    """MEMORY USAGE of a site's keys by family (the part after the hash tag)."""
    base = Keys(PREFIX, site).base + ":"
    sizes: Counter = Counter()
    for key in r.scan_iter(match=base + "*", count=1000):
        family = key[len(base):].split(":")[0]
        sizes[family] += r.memory_usage(key, samples=0) or 0
    return dict(sizes)
