"""Benchmark of the analysis of a unit (issue 12 item 7): a street's and a
district's figures and monthly bulletin over a generated city.

History: incidents only (what a unit's analysis reads) for every site under
the biggest district of a city made by ``app.py city generate`` (the only
sites the two measured units read), ``--days`` days up to yesterday: the
demo simulator's model (:class:`data.sim.model.SiteSim`) stepped every ten
minutes, its incident entries checked by the feed contract and applied by
the lifecycle as the aggregator would (:func:`data.sim.history.apply_incidents`),
written by the archiver's writers, then the month copies made as the
archiver's pass makes them (:mod:`data.history.compaction`). Flow is not
made: the unit's views do not read it.

Measured for the biggest street and the biggest district, over last month:

- files: how many Parquet files the unit's read scans;
- cold: read every site under the unit and compute its figures, the read
  cache cleared and the files dropped from the page cache, in this process
  (medians of ``--runs``);
- warm: the same again with the files unchanged (the process's cache);
- bulletin: ``GET /api/v1/units/<unit>/bulletin/<month>.pdf`` through the app
  (4 pages drawn by the process's Chromium), after one warm-up.

    PYTHONPATH=. .venv/bin/python app.py city generate /tmp/cityA --sites 200
    PYTHONPATH=. .venv/bin/python bench/unit_bulletin.py --city /tmp/cityA \\
        --data /tmp/cityA-data [--reuse]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from data.config import load_config  # noqa: E402
from data.history import archive, unit_read  # noqa: E402
from data.history.compaction import closed_before, compact_site  # noqa: E402
from data.history.unit_view import (  # noqa: E402
    load_unit_view,
    month_range,
    parse_unit_filters,  # noqa: E402
)
from data.sim.history import apply_incidents, day_start_ms  # noqa: E402
from data.sim.model import SiteSim  # noqa: E402
from data.site import Site  # noqa: E402
from data.site_files import load_sites  # noqa: E402
from data.units.tree import tree_of_folders, tree_of_sites  # noqa: E402

STEP_MS = 600_000


def make_site(site: Site, root: Path, days: int, end: date) -> int:
    """``days`` days of incidents of ``site`` up to ``end``; how many."""
    sim = SiteSim(site, seed=f"bench/{site.id}")
    start = day_start_ms(end - timedelta(days=days - 1), site.timezone)
    stop = day_start_ms(end + timedelta(days=1), site.timezone)
    entries, ts = [], start
    while ts < stop:
        ts += STEP_MS
        entries += [f for stream, f in sim.step(ts, STEP_MS / 1000)
                    if stream == "incident"]
    records: dict = {}
    apply_incidents(site, entries, records, stop + 1)
    archive.write_incidents(root, site, records.values(), stop)
    compact_site(root, site.id, site.timezone, closed_before(end + timedelta(days=1)))
    return len(records)


def prepare(args, sites: dict[str, Site]) -> dict:
    """History for ``sites`` (a site that has a folder already is kept: a
    run stopped half-way goes on where it was)."""
    about = args.data / "bench-units.json"
    if args.reuse and about.is_file():
        return json.loads(about.read_text())
    end = date.today() - timedelta(days=1)
    started, total = time.perf_counter(), 0
    for n, site in enumerate(sites.values(), start=1):
        if (args.data / "history" / f"site={site.id}").is_dir():
            continue
        total += make_site(site, args.data / "history", args.days, end)
        if n % 20 == 0:
            print(f"  {n}/{len(sites)} sites, {total} incidents, "
                  f"{time.perf_counter() - started:.0f} s", flush=True)
    made = {"sites": len(sites), "days": args.days, "end": end.isoformat(),
            "incidents": total, "seconds": round(time.perf_counter() - started)}
    about.write_text(json.dumps(made))
    return made


def drop_page_cache(root: Path) -> None:
    for path in root.rglob("*.parquet"):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def biggest(tree, level: str) -> str:
    """The unit of ``level`` with the most communities under it."""
    units = [n.id for _, n in tree.walk() if n.level == level]
    return max(units, key=lambda u: (sum(1 for x in tree.under(u)
                                         if tree[x].level == "community"), u))


def files_scanned(root: Path, scope, sites, start: date, end: date) -> int:
    from data.history.files import INCIDENTS
    from data.history.read import _plan, _states
    from data.history.store import as_store

    store, n = as_store(root), 0
    for site_id in scope.sites:
        days, months = _states(store, site_id, start, end, INCIDENTS)
        n += len(_plan(store, days, months, start, end))
    return n


def median_ms(fn, runs: int) -> tuple[float, float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(times), 1), round(max(times), 1)


def measure_unit(args, tree, sites, unit: str, month: str, client) -> dict:
    root = args.data / "history"
    scope = unit_read.unit_scope(tree, unit, sites)
    start, end = month_range(month, date.today())
    filters = parse_unit_filters({"start": str(start), "end": str(end)}, scope, sites)

    def read() -> None:
        load_unit_view(root, tree, sites, unit, filters)

    cold_times = []
    for _ in range(args.runs):
        unit_read.clear_cache()
        drop_page_cache(root)
        started = time.perf_counter()
        read()
        cold_times.append((time.perf_counter() - started) * 1000)
    view = load_unit_view(root, tree, sites, unit, filters)
    warm = median_ms(read, args.runs)
    url = f"/api/v1/units/{unit}/bulletin/{month}.pdf"
    first = client.get(url)
    assert first.status_code == 200, first.get_json()
    bulletin = median_ms(lambda: client.get(url), args.runs)
    unit_read.clear_cache()
    drop_page_cache(root)
    started = time.perf_counter()
    assert client.get(url).status_code == 200
    bulletin_cold = round((time.perf_counter() - started) * 1000, 1)
    lookback = start - timedelta(days=92)
    return {"unit": unit, "name": tree[unit].name, "sites": len(scope.sites),
            "month": month, "files_scanned": files_scanned(
                root, scope, sites, lookback, end),
            "due": view.totals["due"], "closed": view.totals["closed"],
            "closure_rate": view.totals["closure_rate"],
            "read_and_figures_cold_ms": round(statistics.median(cold_times), 1),
            "read_and_figures_cold_max_ms": round(max(cold_times), 1),
            "read_and_figures_warm_ms": warm[0],
            "bulletin_pdf_warm_ms": bulletin[0],
            "bulletin_pdf_warm_max_ms": bulletin[1],
            "bulletin_pdf_cold_read_ms": bulletin_cold, "pdf_bytes": len(first.data)}


def bulletin_client(args, sites):
    from data.accounts import add_api_key
    from data.keys import AuthKeys
    from data.redis_conn import EmbeddedRedis
    from web.factory import create_app

    server = EmbeddedRedis(Path(tempfile.mkdtemp()), persist=False).start()
    config = load_config({"REDIS_URL": server.url, "GOV_DATA_DIR": str(args.data),
                          "GOV_SITES_DIR": str(args.city),
                          "GOV_SITES": ",".join(sorted(sites))})
    app = create_app(config)
    state = app.server.extensions["gov"]
    _, key = add_api_key(state.redis, AuthKeys(state.config.prefix), "bench", "",
                         "read", unit=state.units.root)
    client = app.server.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {key}"
    return client, server


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--city", type=Path, required=True)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--days", type=int, default=40)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--reuse", action="store_true")
    parser.add_argument("--prepare-only", action="store_true")
    parser.add_argument("--out", type=Path,
                        default=ROOT / "bench" / "results" / "unit_bulletin.json")
    args = parser.parse_args()
    names = sorted(p.name for p in args.city.iterdir() if (p / "site.yaml").is_file())
    district = biggest(tree_of_folders(args.city, names), "district")
    # only the sites the two measured units read (the biggest district's) are
    # loaded, given history and served: a unit's figures read nothing else
    under = sorted({n.site for _, n in tree_of_folders(args.city, names).walk(
        district) if n.site})
    sites = load_sites(args.city, tuple(under))
    tree = tree_of_sites(sites)
    made = {**prepare(args, sites), "district": district, "city_sites": len(names)}
    print(f"history: {made}")
    if args.prepare_only:
        return 0
    month = f"{(date.today().replace(day=1) - timedelta(days=1)):%Y-%m}"
    results: dict = {"history": made, "runs": args.runs,
                     "started": datetime.now().isoformat(timespec="seconds"),
                     "load_avg_before": os.getloadavg(),
                     "note": "2-core machine shared with other work; run under "
                             "nice -n 19"}
    client, server = bulletin_client(args, sites)
    try:
        for level in ("street", "district"):
            results[level] = measure_unit(args, tree, sites, biggest(tree, level),
                                          month, client)
            print(f"\n{level}: " + json.dumps(results[level], ensure_ascii=False,
                                               indent=2))
    finally:
        server.stop()
    results["load_avg_after"] = os.getloadavg()
    args.out.parent.mkdir(exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
