"""What the wall's feed health costs a web process, per site and version.

The sample community (24 entrances, its parking lots) with a full hour of
minute counts for every device, and the same hour a week ago, on an
embedded redis-server. Times, as medians of ``--runs``:

- ``judge_ms``: judging every device (``data/feed/producers.py: judge``,
  what one process does at most once a second per site for the deployment);
- ``stored_ms``: reading the stored summary (what every other version of
  every other process costs: one GET);
- ``shape_ms`` and ``shape_health_ms``: shaping a version for the wall
  without and with the health (the strip, the estimate, the map's marks);
- ``event_ms``: the whole change of a version with the health, shaped and
  serialized once per process and version (``WallData.event``).

Prints the figures and writes ``bench/results/feed_health.json``::

    .venv/bin/python bench/feed_health.py [--runs 21] [--output PATH]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from flask import Flask  # noqa: E402
from flask_caching import Cache  # noqa: E402

from data.clock import now_ms  # noqa: E402
from data.config import load_config  # noqa: E402
from data.feed.producers import (  # noqa: E402
    SEP,
    WEEK_MIN,
    Limits,
    declared,
    device_key,
    judge,
    read_health,
)
from data.feed.snapshot import publish, read_snapshot  # noqa: E402
from data.keys import Keys  # noqa: E402
from data.redis_conn import EmbeddedRedis, connect  # noqa: E402
from data.site_files import load_sites  # noqa: E402
from layouts.wall_data import grid_outlines  # noqa: E402
from web.state import AppState  # noqa: E402
from web.wall_push import WallData  # noqa: E402
from web.wall_shape import shape  # noqa: E402

SITE = "yaozhai"


def fill(r, keys: Keys, site, now: int) -> int:
    """An hour of minutes for every declared device (one silent), and the
    same hour a week ago; returns the number of devices."""
    devices = [device_key(f"src-{kind}", dev, kind)
               for dev, (kind, _) in declared(site).items()]
    minute = now // 60_000
    hour_start = minute - minute % 60
    pipe = r.pipeline(transaction=False)
    for m in [*range(minute - 59, minute + 1),
              *range(hour_start - WEEK_MIN, hour_start - WEEK_MIN + 60)]:
        pipe.hset(keys.producer_minute(m), mapping={
            **{d: 12 for d in devices}, **{f"{devices[0]}{SEP}x": 1}})
    pipe.hset(keys.producers, mapping={
        f"{d}:seen": now - (900_000 if n == 1 else 1000)
        for n, d in enumerate(devices)})
    pipe.execute()
    return len(devices)


def median_ms(fn, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return round(statistics.median(times), 3)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--output", type=Path,
                        default=ROOT / "bench" / "results" / "feed_health.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        redis = EmbeddedRedis(Path(tmp) / "redis").start()
        try:
            config = load_config({"REDIS_URL": redis.url, "GOV_SITES": SITE,
                                  "GOV_DATA_DIR": tmp})
            sites = load_sites(config.sites_root, config.sites)
            site, r = sites[SITE], connect(redis.url)
            keys = Keys(config.prefix, SITE)
            now = now_ms()
            n_devices = fill(r, keys, site, now)
            limits = Limits()
            publish(r, keys, site, now)
            snap = read_snapshot(r, keys)
            health = read_health(r, keys, site, now_ms(), limits)
            outlines = grid_outlines(site, "zh")
            cache = Cache(Flask(__name__), config={"CACHE_TYPE": "SimpleCache"})
            data = WallData(AppState(config=config, sites=sites, redis=r), cache)

            def event() -> None:  # a new version each time: shaped anew
                publish(r, keys, site, now_ms())
                data.event(SITE, "zh", None)

            publish_ms = median_ms(lambda: publish(r, keys, site, now_ms()), args.runs)
            figures = {
                "site": SITE, "devices": n_devices, "runs": args.runs,
                "judge_ms": median_ms(lambda: judge(r, keys, site, now_ms(),
                                                    limits, store=False), args.runs),
                "stored_ms": median_ms(lambda: read_health(r, keys, site, now_ms(),
                                                           limits), args.runs),
                "shape_ms": median_ms(lambda: shape(snap, site, outlines, "zh"),
                                      args.runs),
                "shape_health_ms": median_ms(
                    lambda: shape(snap, site, outlines, "zh", health), args.runs),
                "event_ms": round(median_ms(event, args.runs) - publish_ms, 3),
                "python": platform.python_version(),
            }
        finally:
            redis.stop()
    for name, value in figures.items():
        print(f"{name:>16}: {value}")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
