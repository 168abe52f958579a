"""Benchmark of the analyst's workspace: views over 90 days, exports after warm-up.

History: 90 days of one site (``--site``, default yaozhai), made the way the
live system makes it, minus the wait: the demo simulator's model
(:class:`data.sim_model.SiteSim`, what ``replay`` writes) advanced in ticks
of five minutes (the hourly roll-ups the views read are the same; the minute
files hold a fifth of the rows), each entry checked by the feed contract,
counts folded into minute buckets by the aggregator's :class:`data.fold.Fold`,
incidents built by the lifecycle's ``new_incident`` and ``apply_op``, and all
of it written by the archiver's own writers (:mod:`data.archive`). Replaying
90 days through Redis entry by entry (half a million entries a day) would
take hours on this machine and measure the aggregator, not the views.

Measured, medians of ``--runs`` runs:

- each view: read the range from Parquet (cold file cache) and build its
  numbers and figure, for the whole site and for two grids;
- the whole page update (read once, eight charts, headline figures);
- each chart export in each format through the HTTP route, after one warm-up.

    .venv/bin/python bench/analysis.py [--days 90] [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from data import analytics, archive  # noqa: E402
from data.config import load_config  # noqa: E402
from data.contract import (  # noqa: E402
    IncidentReport,
    Rejected,
    Tally,
    check,
    report_grid,
)
from data.fold import Fold  # noqa: E402
from data.history import Filters, History, clear_cache  # noqa: E402
from data.incidents import Refused, apply_op, new_incident  # noqa: E402
from data.keys import Keys  # noqa: E402
from data.sim_model import SiteSim  # noqa: E402
from data.site import Site, load_site  # noqa: E402
from layouts import analysis_charts as charts  # noqa: E402

TICK_S = 300.0  # five-minute ticks: the same hourly figures, a fifth of the work


def make_day(site: Site, day: date, sim: SiteSim, records: dict):
    """Fold one day of the simulator's feed; incidents land in ``records``."""
    tz = ZoneInfo(site.timezone)
    start = int(datetime(day.year, day.month, day.day, tzinfo=tz).timestamp() * 1000)
    keys = Keys("bench", site.id)
    fold = Fold(site, keys, {}, {}, start + 86_400_000)
    for tick in range(1, 86_400 // int(TICK_S) + 1):
        ts = start + tick * int(TICK_S * 1000)
        for stream, fields in sim.step(ts, TICK_S):
            try:
                event = check(stream, fields, site, ts + 1)
            except Rejected:
                continue
            if isinstance(event, Tally):
                if event.kind == "crowd":
                    fold.crowd(event)
                else:
                    fold.gate(event)
            elif isinstance(event, IncidentReport):
                if event.id not in records:
                    records[event.id] = new_incident(
                        event, report_grid(event, site), site, event.actor)
            elif stream == "incident" and event.id in records:
                try:
                    records[event.id] = apply_op(records[event.id], event, site,
                                                 records.get)
                except Refused:
                    pass
    fold.finish()
    buckets: dict[int, dict[str, int]] = {}
    prefix = keys.minute(0)[:-1]
    for (key, field), amount in fold.incr.items():
        if key.startswith(prefix):
            buckets.setdefault(int(key[len(prefix):]), {})[field] = amount
    rows = [row for minute, counters in buckets.items()
            for row in archive.minute_rows(minute, counters)]
    return archive.flow_frame(rows, site.timezone)


def generate(site: Site, root: Path, days: int, end: date) -> dict:
    sim = SiteSim(site, seed=f"bench/{site.id}")
    records: dict = {}
    started = time.perf_counter()
    first = end - timedelta(days=days - 1)
    for n in range(days):
        day = first + timedelta(days=n)
        frame = make_day(site, day, sim, records)
        as_of = int(datetime.combine(day + timedelta(days=1), datetime.min.time(),
                                     ZoneInfo(site.timezone)).timestamp() * 1000)
        archive.write_flow_day(root, site, day, frame, as_of)
    archive.write_incidents(root, site, records.values(), as_of)
    return {"days": days, "incidents": len(records),
            "seconds": round(time.perf_counter() - started, 1)}


def median_ms(fn, runs: int, cold: bool = True) -> float:
    times = []
    for _ in range(runs):
        if cold:
            clear_cache()
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(times), 1)


def bench_views(site: Site, history: History, filters: Filters, runs: int) -> dict:
    out = {}
    for name in charts.CHARTS:
        out[name] = median_ms(
            lambda n=name: charts.build(n, history.load(site, filters), site), runs)

    def page() -> None:
        data = history.load(site, filters)
        for name in charts.CHARTS:
            charts.build(name, data, site)
        analytics.summary(data, site)

    out["whole page (read + 8 charts + headline)"] = median_ms(page, runs)
    out["read only"] = median_ms(lambda: history.load(site, filters), runs)
    return out


def bench_exports(site: Site, data_dir: Path, filters: Filters, runs: int) -> dict:
    from web.factory import create_app

    config = load_config({"REDIS_URL": "redis://127.0.0.1:1/0",
                          "GOV_SITES": site.id, "GOV_DATA_DIR": str(data_dir),
                          "GOV_SITES_DIR": str(site.path.parent)})
    client = create_app(config).server.test_client()
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
            out[f"{name}.{fmt}"] = median_ms(one, runs, cold=False)
    day = filters.end.isoformat()
    out["briefing.pdf (8 pages)"] = median_ms(
        lambda: client.get(f"/api/v1/sites/{site.id}/briefing/{day}.pdf"), runs,
        cold=False)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--site", default="yaozhai")
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--data", type=Path, help="keep the history here")
    args = parser.parse_args()
    site = load_site(ROOT / "data" / "sites" / args.site)
    data_dir = args.data or Path(tempfile.mkdtemp(prefix="bench-analysis-"))
    root = data_dir / "history"
    end = date.today() - timedelta(days=1)
    made = generate(site, root, args.days, end)
    print(f"history: {made['days']} days, {made['incidents']} incidents, "
          f"made in {made['seconds']} s under {root}")
    history = History(root)
    whole = Filters(site=site.id, start=end - timedelta(days=args.days - 1), end=end)
    two = Filters(site=site.id, start=whole.start, end=end,
                  grids=tuple(list(site.grids)[:2]))
    results = {"site": site.id, "history": made, "runs": args.runs,
               "views_ms": bench_views(site, history, whole, args.runs),
               "views_two_grids_ms": bench_views(site, history, two, args.runs),
               "exports_ms": bench_exports(site, data_dir, whole, args.runs)}
    for section in ("views_ms", "views_two_grids_ms", "exports_ms"):
        print(f"\n{section} (median of {args.runs})")
        for name, value in results[section].items():
            print(f"  {name:<44} {value:>8}")
    out = ROOT / "bench" / "results" / "analysis.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
