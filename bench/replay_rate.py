"""Replay (issue 14): storage per site-day at 20,000 entries a second.

A generated city of ``--sites`` sites (``python app.py city generate``,
seed 1) on an embedded Redis, each part a process of its own as in
production: the simulator's load generator at ``--rate`` / ``--sites``
entries a second on each site (``python app.py simulator --site S --load
5000``: crowd and gate counts at every entrance; its real-time model sends
at most a few hundred a second per site, a reading from every counter every
50 ms), ``python app.py aggregator`` folding them (the default 200 ms
snapshot interval) and ``python app.py archiver`` (whose process runs the
recorder). After ``--warmup`` seconds, the bytes under each site's replay
folder (hour files, their indexes, the events file) are read, and again
``--span`` seconds later; the growth a second times 86,400 is the site-day.
The span holds whole records (one a minute) and changes in their
proportion; the only records of a day it misses are the 24 whole records
that start each hour file, added as 24 × the mean whole record. A fold
that falls behind (a busy machine) publishes fewer versions than the 5 a
second it would: the site-day at 5 versions a second is also given, from
the span's mean whole and change records (1,464 whole records a day, the
rest changes). The
simulators' own counts give the entries a second written, the aggregator's
lag (the newest entry's time less that of the newest its group has read,
at the end) whether the fold kept up.

Prints the figures and writes ``bench/results/replay-20000eps.json``::

    nice -n 19 .venv/bin/python bench/replay_rate.py            # 4 sites, 3 min
    nice -n 19 .venv/bin/python bench/replay_rate.py --sites 2 --span 30 \\
        --output /tmp/replay-rate.json                          # a smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from data.city.write import generate_city  # noqa: E402
from data.config import _available_sites  # noqa: E402
from data.keys import GROUP, Keys  # noqa: E402
from data.redis_conn import EmbeddedRedis, connect  # noqa: E402
from data.replay.records import hour_files, records, site_dir  # noqa: E402

PREFIX = "bench"
DAY_S = 86_400
CAP_PER_S = 5  # versions a second at most: the 200 ms snapshot interval


def folder_bytes(root: Path, site: str) -> int:
    return sum(f.stat().st_size for f in site_dir(root, site).rglob("*")
               if f.is_file())


def lag_s(client, sites: list[str]) -> float:
    """The most a site's crowd stream is behind: newest entry less newest read."""
    worst = 0.0
    for site in sites:
        key = Keys(PREFIX, site).stream("crowd")
        last = client.xrevrange(key, count=1)
        groups = {g["name"]: g for g in client.xinfo_groups(key)}
        if not last or GROUP not in groups:
            continue
        ms = lambda i: int(i.split("-")[0])  # noqa: E731
        read = groups[GROUP]["last-delivered-id"]
        worst = max(worst, (ms(last[0][0]) - ms(read)) / 1000)
    return round(worst, 1)


def per_site(root: Path, site: str, grew: int, t0: int, t1: int,
             span_s: float) -> dict:
    found = [r for f in hour_files(root, site) for r in records(f.read_bytes())
             if t0 <= r.ms <= t1]
    full = [len(r.body) + 40 for r in found if r.kind == "F"]
    change = [len(r.body) + 40 for r in found if r.kind == "D"]
    f_mean = statistics.mean(full) if full else 0.0
    d_mean = statistics.mean(change) if change else 0.0
    day = grew / span_s * DAY_S + 24 * f_mean
    wholes = DAY_S / 60 + 24  # one a minute, one per hour file
    at_cap = wholes * f_mean + (CAP_PER_S * DAY_S - wholes) * d_mean
    return {"bytes_in_span": grew, "versions": len(found),
            "versions_per_s": round(len(found) / span_s, 2),
            "full_records": len(full), "full_bytes_mean": round(f_mean),
            "change_bytes_mean": round(d_mean),
            "site_day_mb": round(day / 1e6, 1),
            "site_day_mb_at_5_versions_per_s": round(at_cap / 1e6, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=4)
    parser.add_argument("--rate", type=float, default=20_000,
                        help="entries/s over all the sites")
    parser.add_argument("--warmup", type=float, default=30.0)
    parser.add_argument("--span", type=float, default=180.0)
    parser.add_argument("--output",
                        default=str(ROOT / "bench/results/replay-20000eps.json"))
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="replay-rate-"))
    generate_city(tmp / "city", args.sites, seed=1)
    sites = _available_sites(tmp / "city")
    redis_server = EmbeddedRedis(tmp / "redis", persist=False).start()
    env = {**os.environ, "REDIS_URL": redis_server.url, "GOV_PREFIX": PREFIX,
           "GOV_SITES_DIR": str(tmp / "city"), "GOV_SITES": ",".join(sites),
           "GOV_DEMO": "0", "GOV_DATA_DIR": str(tmp / "data"),
           "GOV_REPLAY_DAYS": "30"}
    log = open(tmp / "processes.log", "ab")
    seconds = args.warmup + args.span + 60
    commands = {"aggregator": ["aggregator"],
                "recorder": ["archiver", "--every", "3600"],
                **{f"simulator {s}": ["simulator", "--site", s, "--load",
                                      f"{args.rate / len(sites):g}",
                                      "--seconds", f"{seconds:g}"]
                   for s in sites}}
    procs = {}
    root = tmp / "data" / "replay"
    try:
        for name, command in commands.items():
            procs[name] = subprocess.Popen(
                [sys.executable, "app.py", *command], cwd=ROOT, env=env,
                stdout=subprocess.PIPE if name.startswith("simulator") else log,
                stderr=log, start_new_session=True)
        print(f"{args.sites} sites at {args.rate:g} entries/s; warm-up "
              f"{args.warmup:g} s, then {args.span:g} s measured", flush=True)
        time.sleep(args.warmup)
        t0, before = int(time.time() * 1000), {s: folder_bytes(root, s)
                                               for s in sites}
        time.sleep(args.span)
        t1, after = int(time.time() * 1000), {s: folder_bytes(root, s)
                                              for s in sites}
        behind = lag_s(connect(redis_server.url), sites)
        written = 0.0
        for name, proc in procs.items():
            if name.startswith("simulator"):
                proc.send_signal(signal.SIGTERM)
                out, _ = proc.communicate(timeout=30)
                written += json.loads(out.decode().strip().splitlines()[-1])[
                    "entries_per_s"]
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in procs.values():
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
        redis_server.stop()
    span_s = (t1 - t0) / 1000
    each = {s: per_site(root, s, after[s] - before[s], t0, t1, span_s)
            for s in sites}
    days = [v["site_day_mb"] for v in each.values()]
    capped = [v["site_day_mb_at_5_versions_per_s"] for v in each.values()]
    result = {
        "entries_per_s_written": round(written),
        "entries_per_site_per_s": round(written / len(sites)),
        "aggregator_lag_at_end_s": behind,
        "span_s": span_s, "site_day_mb_mean": round(statistics.mean(days), 1),
        "site_day_mb_range": [min(days), max(days)],
        "site_day_mb_at_5_versions_per_s_mean": round(statistics.mean(capped), 1),
        "sites": each,
        "method": "site_day_mb: bytes under each site's replay folder grown "
                  "over the span, per second x 86,400, + 24 whole records "
                  "(the hour files' first); at_5_versions_per_s: the mean "
                  "whole and change records of the span at the cadence of an "
                  "aggregator that keeps up (1,464 whole records a day, the "
                  "rest of 5 x 86,400 versions changes)",
        "config": {**vars(args), "python": platform.python_version(),
                   "cores": os.cpu_count(), "load_average": os.getloadavg(),
                   "command": " ".join(["nice -n 19 .venv/bin/python",
                                        *sys.argv])}}
    print(json.dumps(result, indent=2))
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(result, indent=2) + "\n")
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
