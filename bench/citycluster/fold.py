"""Fold throughput, keeping up, and the CPU of a quiet city.

Entries folded are read from the sites' stats hashes (``folded:crowd``,
``folded:traffic``, ``folded:incident``, which each fold adds to in the
transaction that acknowledges its entries), summed over every site; entries
written from the masters' XADD call counts. The aggregators' CPU is what
/proc says of their processes over the same window.
"""

from __future__ import annotations

import statistics
import time

import redis

from bench.citycluster.procs import (
    PREFIX,
    Processes,
    cpu_seconds,
    machine_busy,
    machine_ticks,
    server_cpu,
    xadds,
)
from data.keys import GROUP, Keys
from data.local_cluster import LocalCluster

STREAMS = ("crowd", "traffic", "incident")
FIELDS = [f"folded:{s}" for s in STREAMS]


def folded(r: redis.Redis, sites: list[str]) -> int:
    pipe = r.pipeline(transaction=False)
    for site in sites:
        pipe.hmget(Keys(PREFIX, site).stats, FIELDS)
    return sum(int(v or 0) for reply in pipe.execute() for v in reply)


def _ms(entry_id: str | bytes | None) -> int:
    if not entry_id:
        return 0
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    return int(text.split("-")[0])


def lag(r: redis.Redis, sites: list[str]) -> dict:
    """How far the aggregators are behind: entries read and not acknowledged
    (pending), and per stream the age of the newest entry the group has not
    been given yet (newest entry's time − last delivered entry's time)."""
    keys = [Keys(PREFIX, s).stream(n) for s in sites for n in STREAMS]
    pipe = r.pipeline(transaction=False)
    for key in keys:
        pipe.xinfo_groups(key)
        pipe.xrevrange(key, count=1)
    replies = pipe.execute(raise_on_error=False)
    pending, behind, unread = 0, [], 0
    for groups, newest in zip(replies[0::2], replies[1::2], strict=True):
        if isinstance(groups, Exception) or not groups:
            continue
        group = groups[0]
        pending += int(group.get("pending", 0))
        if newest and not isinstance(newest, Exception):
            last = _ms(group["last-delivered-id"])
            if last == 0:  # entries, none of them read yet
                unread += 1
            else:
                behind.append(max(0, _ms(newest[0][0]) - last))
    behind.sort()
    return {"pending": pending, "streams_never_read": unread,
            "undelivered_age_ms_p50": behind[len(behind) // 2] if behind else 0,
            "undelivered_age_ms_max": behind[-1] if behind else 0}


def caught_up(r: redis.Redis, sites: list[str]) -> bool:
    behind = lag(r, sites)
    return (behind["pending"] == 0 and behind["undelivered_age_ms_max"] == 0
            and behind["streams_never_read"] == 0)


def skip_backlog(r: redis.Redis, sites: list[str]) -> None:
    """Move every group past what is written (XGROUP SETID $): when the
    aggregators could not keep up, the quiet-city figure must not be the
    backlog being folded. Entries skipped are never folded: a bench only."""
    pipe = r.pipeline(transaction=False)
    for site in sites:
        for name in STREAMS:
            pipe.xgroup_setid(Keys(PREFIX, site).stream(name), GROUP, "$")
    pipe.execute(raise_on_error=False)


def window(r: redis.Redis, cluster: LocalCluster, procs: Processes,
           sites: list[str], seconds: float) -> dict:
    """Entries folded and written, and the CPU spent, over ``seconds``."""
    aggs = [p.pid for p in procs.aggregators]
    sim = procs.simulator.pid if procs.simulator else None
    f0, x0 = folded(r, sites), xadds(cluster)
    c0 = [cpu_seconds(p) for p in aggs]
    s0 = cpu_seconds(sim) if sim else 0.0
    r0, m0, t0 = server_cpu(cluster), machine_ticks(), time.perf_counter()
    time.sleep(seconds)
    f1, x1 = folded(r, sites), xadds(cluster)
    c1 = [cpu_seconds(p) for p in aggs]
    s1 = cpu_seconds(sim) if sim else 0.0
    r1, m1, t1 = server_cpu(cluster), machine_ticks(), time.perf_counter()
    span = t1 - t0
    agg_cpu = sum(c1) - sum(c0)
    out = {"seconds": round(span, 2),
           "folded_per_s": round((f1 - f0) / span),
           "written_per_s": round((x1 - x0) / span),
           "aggregator_cpu_s": round(agg_cpu, 2),
           "aggregator_cores": round(agg_cpu / span, 3),
           "per_aggregator_cores": [round((b - a) / span, 3)
                                    for a, b in zip(c0, c1, strict=True)],
           "folded_per_cpu_s": round((f1 - f0) / agg_cpu) if agg_cpu else None,
           "simulator_cores": round((s1 - s0) / span, 3),
           "redis_cores": round((r1 - r0) / span, 3),
           "machine_busy": machine_busy(m0, m1)}
    out.update(lag(r, sites))
    return out


def throughput(r: redis.Redis, cluster: LocalCluster, procs: Processes,
               sites: list[str], seconds: float, repeats: int) -> dict:
    runs = []
    for n in range(repeats):
        runs.append(window(r, cluster, procs, sites, seconds))
        print(f"    window {n + 1}: {runs[-1]}", flush=True)
    return {"median_folded_per_cpu_s": _median(runs, "folded_per_cpu_s"),
            "median_folded_per_s": _median(runs, "folded_per_s"),
            "median_written_per_s": _median(runs, "written_per_s"),
            "runs": runs}


def quiet(cluster: LocalCluster, procs: Processes, seconds: float) -> dict:
    """Aggregator CPU-seconds a second with nothing written."""
    aggs = [p.pid for p in procs.aggregators]
    c0, r0, m0 = [cpu_seconds(p) for p in aggs], server_cpu(cluster), machine_ticks()
    t0 = time.perf_counter()
    time.sleep(seconds)
    span = time.perf_counter() - t0
    c1, r1, m1 = [cpu_seconds(p) for p in aggs], server_cpu(cluster), machine_ticks()
    return {"seconds": round(span, 1),
            "aggregator_cpu_s_per_s": round((sum(c1) - sum(c0)) / span, 4),
            "per_aggregator": [round((b - a) / span, 4)
                               for a, b in zip(c0, c1, strict=True)],
            "redis_cpu_s_per_s": round((r1 - r0) / span, 4),
            "machine_busy": machine_busy(m0, m1)}


def _median(runs: list[dict], key: str) -> float | None:
    values = [r[key] for r in runs if r.get(key) is not None]
    return statistics.median(values) if values else None
