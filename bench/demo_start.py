"""Benchmark of a fresh demo start: how long until every screen is alive.

Each run starts ``python app.py`` (the demo: embedded Redis, live feed, the
first-start history of :mod:`data.sim.demo_seed`) on an empty data folder and
measures, from the moment the process is started:

- ``banner_s``: the start-up table is printed (the app serves);
- ``wall_s``: every site's snapshot has open incidents, a populated last hour
  of the flow chart (at least 50 of its 60 minutes) and a week-ago curve;
- ``analysis_s``: the analyst's page would show every chart: each chart's CSV
  export (the frame under the chart, read through the HTTP route the page's
  data shares) is non-empty for the page's default range, for every site;
- ``seeded_s``: the seeding says it is done (``<data>/demo-seed.json``).

The process is then stopped with SIGINT. Medians over ``--runs``::

    .venv/bin/python bench/demo_start.py [--runs 3] [--sites yaozhai] [--days 30]
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from data.accounts import add_api_key
from data.feed.snapshot import read_snapshot
from data.keys import (
    AuthKeys,
    Keys,  # noqa: E402
)
from data.redis_conn import connect  # noqa: E402
from layouts.analysis_charts import CHARTS  # noqa: E402

TIMEOUT_S = 600.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wall_alive(snap: dict | None) -> bool:
    if not snap or not snap.get("open_incidents"):
        return False
    flow = snap.get("flow", {})
    hour = flow.get("in", [])[-60:]
    week = [v for v in flow.get("in_week_ago") or [] if v]
    return sum(1 for v in hour if v) >= 50 and bool(week)


def chart_rows(base: str, key: str, site: str, name: str) -> int:
    """Data rows of the chart's CSV export (0: a 404 "no history", or empty)."""
    request = urllib.request.Request(f"{base}/api/v1/sites/{site}/export/{name}.csv",
                                     headers={"Authorization": f"Bearer {key}"})
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:
            text = reply.read().decode("utf-8-sig")
    except urllib.error.HTTPError:
        return 0
    return max(0, len(list(csv.reader(io.StringIO(text)))) - 1)


def one_run(args: argparse.Namespace) -> dict:
    data = Path(tempfile.mkdtemp(prefix="bench-demo-"))
    port = free_port()
    env = {**os.environ, "GOV_DATA_DIR": str(data), "PORT": str(port),
           "GOV_DEMO_DAYS": str(args.days)}
    env.pop("REDIS_URL", None)
    if args.sites:
        env["GOV_SITES"] = args.sites
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True)
    out: dict = {}
    try:
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("Writing"):  # the banner's last line
                break
        out["banner_s"] = round(time.monotonic() - started, 1)
        out["banner_lines"] = len(lines)
        url = (data / "redis" / "url").read_text().strip()
        r = connect(url)
        sites = args.sites.split(",") if args.sites else ["erqi", "yaozhai"]
        keys = {s: add_api_key(r, AuthKeys("gov"), "bench", s, "read")[1]
                for s in sites}
        base = f"http://127.0.0.1:{port}"
        while time.monotonic() - started < TIMEOUT_S:
            elapsed = round(time.monotonic() - started, 1)
            if "wall_s" not in out and all(
                    wall_alive(read_snapshot(r, Keys("gov", s))) for s in sites):
                out["wall_s"] = elapsed
            if "analysis_s" not in out and all(
                    chart_rows(base, keys[s], s, name) > 0
                    for s in sites for name in CHARTS):
                out["analysis_s"] = elapsed
            marker = data / "demo-seed.json"
            if "seeded_s" not in out and marker.is_file() and \
                    json.loads(marker.read_text()).get("state") == "done":
                out["seeded_s"] = elapsed
            if {"wall_s", "analysis_s", "seeded_s"} <= out.keys():
                break
            time.sleep(0.5)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--sites", default="", help="GOV_SITES (default: all)")
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--out", type=Path,
                        default=ROOT / "bench" / "results" / "demo_start.json")
    args = parser.parse_args()
    runs = []
    for n in range(args.runs):
        runs.append(one_run(args))
        print(f"run {n + 1}: {runs[-1]}", flush=True)
    names = ("banner_s", "wall_s", "analysis_s", "seeded_s")
    median = {k: statistics.median(r[k] for r in runs) for k in names
              if all(k in r for r in runs)}
    result = {"sites": args.sites or "all", "days": args.days, "runs": runs,
              "median": median, "cpus": os.cpu_count(),
              "load_avg": os.getloadavg()}
    print(json.dumps(result["median"]))
    args.out.parent.mkdir(exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
