"""The roll-up up the chain (issue 12 item 2), measured on a generated city.

With one aggregator folding every site of a city on one Redis (the embedded
redis-server, or ``REDIS_URL``):

(a) report in a community → the city's figures show it: the time from the
    XADD of a report to the city's ``incidents_open`` moving, p50/p95 over
    ``--reports`` reports in sites drawn at random, one at a time, read every
    2 ms (the district's moves in the same step: the same roll-up); and, for
    comparison, to the site's own snapshot showing it;
(b) the CPU of one roll-up step (:meth:`data.units.rollup.Rollup.after_publish`,
    what the aggregator adds after each snapshot): a site whose figures moved
    (one read, one script per unit of its chain) and a quiet one (the read
    alone), medians over every site.

Prints the figures and writes ``bench/results/rollup.json``::

    .venv/bin/python bench/rollup.py [--sites 1000] [--reports 50]
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from data.city.write import generate_city  # noqa: E402
from data.clock import now_ms  # noqa: E402
from data.feed.aggregator import Aggregator  # noqa: E402
from data.feed.snapshot import read_snapshot  # noqa: E402
from data.keys import Keys, UnitKeys  # noqa: E402
from data.redis_conn import EmbeddedRedis, connect  # noqa: E402
from data.site_files import load_sites  # noqa: E402

PREFIX = "bench"


def report(r, site, grid: str) -> None:
    r.xadd(Keys(PREFIX, site).stream("incident"), {
        "v": "1", "src": "bench", "op": "report", "id": str(uuid.uuid4()),
        "ts": str(now_ms()), "category": "sanitation", "level": "2",
        "title": "测试", "grid": grid})


def city_open(r, city: str) -> int:
    return int(r.hget(UnitKeys(PREFIX, city).figures, "incidents_open") or 0)


def site_open(r, site: str) -> int:
    snap = read_snapshot(r, Keys(PREFIX, site))
    return snap["incidents"]["open"] if snap else -1


def latency(r, agg: Aggregator, sites: dict, rounds: int
            ) -> tuple[list[float], list[float]]:
    city = agg.rollup.tree.root
    rng = random.Random(1)
    folding = threading.Thread(target=agg.run, daemon=True)
    folding.start()
    to_city: list[float] = []
    to_site: list[float] = []
    try:
        # every site's first snapshot and roll-up, then a quiet spell
        deadline = time.monotonic() + 120
        while len(agg.rollup.counted) < len(sites) and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(2)
        for _ in range(rounds):
            site = sites[rng.choice(sorted(sites))]
            before, before_site = city_open(r, city), site_open(r, site.id)
            started = time.perf_counter()
            report(r, site.id, next(iter(site.grids)))
            site_at = None
            while city_open(r, city) == before:
                if site_at is None and site_open(r, site.id) != before_site:
                    site_at = time.perf_counter()
                if time.perf_counter() - started > 10:
                    raise SystemExit("the city did not move in 10 s")
                time.sleep(0.002)
            city_at = time.perf_counter()
            to_city.append((city_at - started) * 1000)
            to_site.append(((site_at or city_at) - started) * 1000)
            time.sleep(0.2)
    finally:
        agg.stop()
        folding.join(timeout=10)
    return to_city, to_site


def step_cpu(r, agg: Aggregator, sites: dict) -> tuple[list[float], list[float]]:
    moved, quiet = [], []
    for site in sites.values():
        keys = Keys(PREFIX, site.id)
        r.hincrby(keys.present, f"g:{next(iter(site.grids))}", 1)  # people move
        started = time.process_time()
        agg.rollup.after_publish(agg.r, keys, site, now_ms())
        moved.append((time.process_time() - started) * 1000)
        started = time.process_time()
        agg.rollup.after_publish(agg.r, keys, site, now_ms())
        quiet.append((time.process_time() - started) * 1000)
    return moved, quiet


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sites", type=int, default=1000)
    parser.add_argument("--reports", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "city"
        generate_city(folder, args.sites, seed=1)
        names = sorted(p.name for p in folder.iterdir() if p.is_dir())
        sites = load_sites(folder, names, Path(tmp) / "cache")
        server = EmbeddedRedis(Path(tmp) / "redis", persist=False).start()
        try:
            raw = connect(server.url, decode=False)
            r = connect(server.url)
            agg = Aggregator(raw, sites, PREFIX, consumer="bench")
            agg.setup()
            ms, site_ms = latency(r, agg, sites, args.reports)
            moved, quiet = step_cpu(r, agg, sites)
        finally:
            server.stop()

    def pct(values: list[float], q: float) -> float:
        return round(statistics.quantiles(values, n=100)[q - 1], 2)

    out = {
        "sites": args.sites, "units": len(agg.rollup.tree.units),
        "report_to_city_ms": {"p50": pct(ms, 50), "p95": pct(ms, 95),
                              "max": round(max(ms), 2), "n": len(ms)},
        "report_to_site_snapshot_ms": {"p50": pct(site_ms, 50),
                                       "p95": pct(site_ms, 95)},
        "rollup_step_cpu_ms": {"moved_median": round(statistics.median(moved), 3),
                               "quiet_median": round(statistics.median(quiet), 3),
                               "n": len(moved)},
        "machine": platform.platform(), "cpus": __import__("os").cpu_count(),
    }
    print(json.dumps(out, indent=2))
    target = ROOT / "bench" / "results" / "rollup.json"
    target.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
