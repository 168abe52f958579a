"""Benchmark of the analyst's workspace: views over 90 days, exports after warm-up.

History: 90 days of one site (``--site``, default yaozhai), made the way the
live system makes it, minus the wait (:func:`data.sim.history.generate`: the
demo simulator's model in ticks of five minutes — the hourly roll-ups the
views read are the same; the minute files hold a fifth of the rows — folded
by the aggregator's fold and written by the archiver's writers).

After writing the days, the archiver's next pass makes the month copies
(:mod:`data.compaction`); ``--no-compact`` leaves only the day files.

Measured, medians of ``--runs`` runs:

- cold: each view (read the range and build its numbers and figure), the
  whole page update (read once, eight charts, headline figures) and the read
  alone, each in a fresh process that has built the app as a web worker does
  at start-up and has read nothing yet, with the history files dropped from
  the page cache (``posix_fadvise(DONTNEED)``), for the whole site and for
  two grids;
- warm: the same in one process whose history files have not changed since
  its previous read;
- each chart export in each format through the HTTP route, after one warm-up.

    .venv/bin/python bench/analysis.py [--days 90] [--runs 5] [--data DIR --reuse]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from data.config import load_config  # noqa: E402
from data.history import analytics
from data.history.dataset import Filters, History, clear_cache
from data.sim.history import generate  # noqa: E402
from data.site import Site
from data.site_files import load_site
from layouts import analysis_charts as charts  # noqa: E402


def median_ms(fn, runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(times), 1)


def app_config(site: Site, data_dir: Path, redis_url: str = "redis://127.0.0.1:1/0"):
    return load_config({"REDIS_URL": redis_url,
                        "GOV_SITES": site.id, "GOV_DATA_DIR": str(data_dir),
                        "GOV_SITES_DIR": str(site.path.parent)})


def drop_page_cache(root: Path) -> None:
    """Ask the kernel to forget the history files' pages (no root needed)."""
    for path in root.rglob("*.parquet"):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def step(what: str, history: History, site: Site, filters: Filters) -> float:
    """Read ``filters``' range and build ``what`` (a chart, "page" or "read");
    returns the read time in ms."""
    started = time.perf_counter()
    data = history.load(site, filters)
    read_ms = (time.perf_counter() - started) * 1000
    if what == "page":
        for name in charts.CHARTS:
            charts.build(name, data, site)
        analytics.summary(data, site)
    elif what != "read":
        charts.build(what, data, site)
    return read_ms


def child(args, site: Site, filters: Filters) -> int:
    """One cold measurement, in this fresh process; prints it as JSON."""
    from web.factory import create_app

    create_app(app_config(site, args.data))  # what a web worker does at start
    drop_page_cache(args.data / "history")
    started = time.perf_counter()
    read_ms = step(args.child, History(args.data / "history"), site, filters)
    total = (time.perf_counter() - started) * 1000
    print(json.dumps({"total_ms": total, "read_ms": read_ms}))
    return 0


WHAT = (*charts.CHARTS, "page", "read")


def bench_cold(args, scope: str) -> dict:
    out = {}
    for what in WHAT:
        totals, reads = [], []
        for _ in range(args.runs):
            done = subprocess.run(
                [sys.executable, __file__, "--child", what, "--scope", scope,
                 "--data", str(args.data), "--site", args.site],
                capture_output=True, text=True, check=True)
            got = json.loads(done.stdout.strip().splitlines()[-1])
            totals.append(got["total_ms"])
            reads.append(got["read_ms"])
        out[what] = {"total": round(statistics.median(totals), 1),
                     "read": round(statistics.median(reads), 1),
                     "max": round(max(totals), 1)}
    return out


def bench_warm(site: Site, history: History, filters: Filters, runs: int) -> dict:
    out = {}
    for what in WHAT:
        step(what, history, site, filters)  # the previous read, same files
        out[what] = median_ms(lambda w=what: step(w, history, site, filters), runs)
    return out


def bench_exports(site: Site, data_dir: Path, filters: Filters, runs: int) -> dict:
    from data.accounts import add_api_key
    from data.keys import AuthKeys
    from data.redis_conn import EmbeddedRedis
    from web.factory import create_app

    # exports answer only a caller the server knows: a real Redis holds the key
    redis_server = EmbeddedRedis(Path(tempfile.mkdtemp()), persist=False).start()
    app = create_app(app_config(site, data_dir, redis_server.url))
    state = app.server.extensions["gov"]
    _, key = add_api_key(state.redis, AuthKeys(state.config.prefix), "bench",
                         site.id, "read")
    client = app.server.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {key}"
    try:
        return _exports(client, site, filters, runs)
    finally:
        redis_server.stop()


def _exports(client, site: Site, filters: Filters, runs: int) -> dict:
    query = f"start={filters.start}&end={filters.end}"
    started = time.perf_counter()
    assert client.get(f"/api/v1/sites/{site.id}/export/sla.png?{query}").status_code \
        == 200
    first = round((time.perf_counter() - started) * 1000)
    out: dict = {"first export (starts Chromium)": first}
    for name in charts.CHARTS:
        for fmt in charts.FORMATS:
            url = f"/api/v1/sites/{site.id}/export/{name}.{fmt}?{query}"

            def one(u=url) -> None:
                assert client.get(u).status_code == 200

            one()
            out[f"{name}.{fmt}"] = median_ms(one, runs)
    day = filters.end.isoformat()
    out["briefing.pdf (8 pages)"] = median_ms(
        lambda: client.get(f"/api/v1/sites/{site.id}/briefing/{day}.pdf"), runs)
    return out


def scoped(site: Site, made: dict, scope: str) -> Filters:
    end = date.fromisoformat(made["end"])
    start = end - timedelta(days=made["days"] - 1)
    grids = tuple(list(site.grids)[:2]) if scope == "two_grids" else ()
    return Filters(site=site.id, start=start, end=end, grids=grids)


def prepare(args, site: Site) -> dict:
    """The history under ``args.data``: made now, or the one made before."""
    root, about = args.data / "history", args.data / "bench-history.json"
    if args.reuse and about.is_file():
        made = json.loads(about.read_text())
    else:
        end = date.today() - timedelta(days=1)
        made = {**generate(site, root, args.days, end), "end": end.isoformat()}
        about.write_text(json.dumps(made))
    if not args.no_compact:
        from data.history.compaction import closed_before, compact_site

        compact_site(root, site.id, site.timezone,
                     closed_before(date.fromisoformat(made["end"])
                                   + timedelta(days=1)))
    return made


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--site", default="yaozhai")
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--data", type=Path, help="keep the history here")
    parser.add_argument("--reuse", action="store_true",
                        help="use the history already under --data")
    parser.add_argument("--no-compact", action="store_true",
                        help="day files only, no month copies")
    parser.add_argument("--no-exports", action="store_true")
    parser.add_argument("--out", type=Path,
                        default=ROOT / "bench" / "results" / "analysis.json")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--scope", default="site", help=argparse.SUPPRESS)
    args = parser.parse_args()
    site = load_site(ROOT / "data" / "sites" / args.site)
    if args.child:
        made = json.loads((args.data / "bench-history.json").read_text())
        return child(args, site, scoped(site, made, args.scope))
    args.data = args.data or Path(tempfile.mkdtemp(prefix="bench-analysis-"))
    made = prepare(args, site)
    print(f"history: {made['days']} days to {made['end']}, {made['incidents']} "
          f"incidents, under {args.data / 'history'}")
    history = History(args.data / "history")
    results: dict = {"site": site.id, "history": made, "runs": args.runs,
                     "month_copies": not args.no_compact,
                     "started": datetime.now().isoformat(timespec="seconds"),
                     "load_avg_before": os.getloadavg()}
    for scope in ("site", "two_grids"):
        results[f"views_cold_ms_{scope}"] = bench_cold(args, scope)
        clear_cache()
        results[f"views_warm_ms_{scope}"] = bench_warm(
            site, history, scoped(site, made, scope), args.runs)
    if not args.no_exports:
        results["exports_ms"] = bench_exports(site, args.data,
                                              scoped(site, made, "site"), args.runs)
    results["load_avg_after"] = os.getloadavg()
    for section, values in results.items():
        if isinstance(values, dict) and section != "history":
            print(f"\n{section} (median of {args.runs})")
            for name, value in values.items():
                print(f"  {name:<44} {value}")
    args.out.parent.mkdir(exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
