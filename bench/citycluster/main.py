"""The city on a Redis Cluster: the issue's benchmark (``bench/city.py
--cluster``).

One run, in this order, on a local 3-master 3-replica cluster
(data/local_cluster.py) and a generated city: one aggregator process, then
two, folding what one simulator process writes at ``--rate`` entries a
second (fold throughput per CPU-second, keeping up, XADD → snapshot
latency); a master killed -9 under that load (``--failovers`` times); the
simulator stopped (a quiet city's aggregator CPU, two processes then one);
then a simulated day's memory. See bench/README.md for the method.
"""

from __future__ import annotations

import os
import random
import subprocess
import tempfile
import time
from pathlib import Path

import redis

from bench.citycluster import failover, fold, latency, memory
from bench.citycluster.procs import (
    Processes,
    leases,
    machine_busy,
    machine_ticks,
    masters,
    wait_for,
    xadds,
)
from data.local_cluster import LocalCluster
from data.redis_conn import connect
from data.site_files import load_sites


def _hold_all(r: redis.Redis, sites: list[str], holders: int, timeout: float) -> float:
    """Seconds until ``holders`` processes hold every site, evenly enough."""
    def ok() -> bool:
        held = leases(r, sites)
        owners = [k for k in held if k]
        return (held.get(None, 0) == 0 and len(owners) == holders
                and min(held[k] for k in owners) > len(sites) // (2 * holders))
    return wait_for(ok, timeout, f"{holders} aggregator(s) holding every site", 1.0)


def _writing(cluster: LocalCluster, rate: float) -> float:
    """Seconds until the simulator writes at half its rate or more: it loads
    the city and sets a model up per site first (most of a minute here)."""
    started = time.perf_counter()
    before = xadds(cluster)

    def going() -> bool:
        nonlocal before
        time.sleep(2.0)
        now = xadds(cluster)
        fast, before = now - before >= rate, now
        return fast
    wait_for(going, 600, "the simulator writing", every=0.0)
    return time.perf_counter() - started


def _py_spy(pid: int, seconds: float, out: Path) -> dict | None:
    """A py-spy profile of an aggregator (if py-spy is on PATH or GOV_PY_SPY)."""
    spy = os.environ.get("GOV_PY_SPY", "py-spy")
    try:
        done = subprocess.run([spy, "record", "--pid", str(pid), "--rate", "100",
                               "--format", "raw", "--duration", str(int(seconds)),
                               "--nonblocking", "--output", str(out)],
                              capture_output=True, text=True, timeout=seconds + 60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return {"error": str(exc)}
    if done.returncode != 0:
        return {"error": done.stderr[-300:]}
    from bench.ingest import hot_spots
    return {"file": str(out), "top": hot_spots(out, 25)}


def _part(results: dict, key: str, action) -> None:
    """``results[key] = action()``; a part that fails or times out (the
    aggregators not keeping up) is noted and the run goes on."""
    try:
        results[key] = action()
    except (TimeoutError, redis.RedisError, RuntimeError) as exc:
        results[key] = {"error": f"{type(exc).__name__}: {exc}"}
    print(f"  {key}: {results[key]}", flush=True)


def _log_counts(procs: Processes) -> dict:
    """What the aggregators' logs say about their leases, and each one's
    last minute of rounds (how long a round took, how often a site's
    snapshot was made)."""
    lost = taken = 0
    vitals = []
    for path in procs.log_of.values():
        if path.name.startswith("aggregator"):
            text = path.read_text(errors="replace")
            lost += text.count("mid-batch")
            taken += text.count(" folds site ")
            rounds = [line for line in text.splitlines() if " rounds, " in line]
            if rounds:
                vitals.append(rounds[-1].split("aggregator ", 1)[-1])
    return {"leases_lost_mid_batch": lost, "sites_taken": taken,
            "last_vitals": vitals}


def _quiet(r: redis.Redis, cluster: LocalCluster, procs: Processes,
           names: list[str], args, results: dict) -> None:
    results["backlog_at_stop"] = fold.lag(r, names)
    try:
        results["catch_up_after_stop_s"] = round(wait_for(
            lambda: fold.caught_up(r, names), args.catch_up,
            "caught up after the simulator stopped", 2.0), 1)
    except TimeoutError as exc:
        results["catch_up_after_stop_s"] = str(exc)
        results["backlog_skipped"] = fold.lag(r, names)
        fold.skip_backlog(r, names)
        _part(results, "pending_after_skip_folded_s", lambda: round(wait_for(
            lambda: fold.lag(r, names)["pending"] == 0, 120,
            "pending entries folded", 2.0), 1))
    time.sleep(5)
    _part(results, "quiet_two", lambda: fold.quiet(cluster, procs, args.quiet))
    procs.stop_aggregator(procs.aggregators[-1])
    _part(results, "one_holds_all_again_s",
          lambda: round(_hold_all(r, names, 1, 120), 1))
    time.sleep(5)
    _part(results, "quiet_one", lambda: fold.quiet(cluster, procs, args.quiet))


def run(args, city: Path, names: list[str], work: Path) -> dict:
    results: dict = {}
    cluster = LocalCluster(work / "cluster", binary=args.redis_server)
    cluster.start()
    procs = Processes(cluster.url, city, work, args.snapshot_ms,
                      args.fold_period_ms)
    r = connect(cluster.url)
    try:
        version = r.info("server", target_nodes=r.RANDOM).get("redis_version")
        results["aggregators_env"] = {
            k: procs.env[k] for k in ("GOV_SNAPSHOT_MS", "GOV_FOLD_PERIOD_MS")}
        results["redis"] = {"binary": cluster.binary, "version": version,
                            "masters": len(masters(cluster)),
                            "nodes": len(cluster.nodes)}
        started = time.perf_counter()
        first = procs.start_aggregator()
        _hold_all(r, names, 1, 900)
        results["aggregator_start_s"] = round(time.perf_counter() - started, 1)
        procs.start_simulator(args.rate)
        results["simulator_start_s"] = round(_writing(cluster, args.rate), 1)
        time.sleep(args.warmup)
        if "fold" in args.only:
            _part(results, "one_aggregator", lambda: fold.throughput(
                r, cluster, procs, names, args.window, args.repeats))
        if args.profile:
            _part(results, "profile_one_aggregator", lambda: _py_spy(
                first.pid, args.profile, work.parent / "agg1.pyspy"))
        if "latency" in args.only:
            _part(results, "latency_one_aggregator", lambda: latency.measure(
                r, names, args.latency_sites, args.latency_markers))
        results["logs_one_aggregator"] = _log_counts(procs)
        procs.start_aggregator()
        _part(results, "second_aggregator_share_s",
              lambda: round(_hold_all(r, names, 2, 300), 1))
        time.sleep(args.warmup / 2)
        if "fold" in args.only:
            _part(results, "two_aggregators", lambda: fold.throughput(
                r, cluster, procs, names, args.window, args.repeats))
        if "latency" in args.only:
            _part(results, "latency_two_aggregators", lambda: latency.measure(
                r, names, args.latency_sites, args.latency_markers, seed=2))
        if "failover" in args.only:
            picked = random.Random(3).sample(names, args.failovers)
            sites = load_sites(city, picked)
            for n, name in enumerate(picked):
                _part(results, f"failover_{n + 1}",
                      lambda name=name: failover.once(r, cluster, sites[name]))
        results["simulator"] = procs.stop_simulator()
        if "quiet" in args.only:
            _quiet(r, cluster, procs, names, args, results)
        results["logs"] = _log_counts(procs)
        for proc in list(procs.aggregators):
            procs.stop_aggregator(proc)
        if "memory" in args.only:
            sample = random.Random(4).sample(names, args.memory_sites)
            _part(results, "memory", lambda: memory.day(
                cluster.url, cluster, procs, city, names, sample))
    finally:
        procs.stop()
        cluster.stop()
    return results


def cluster_benchmark(args, city: Path, names: list[str]) -> dict:
    ticks = machine_ticks()
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        out = run(args, city, names, Path(tmp))
    out["machine_busy_whole_run"] = machine_busy(ticks, machine_ticks())
    return out
