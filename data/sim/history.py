"""History made from the demo model without waiting for it to happen.

The live system makes history slowly: producers write the feed, the
aggregator folds it into minute buckets, the archiver copies them to Parquet.
This module makes the same history for past time, minus the wait: the demo
simulator's model (:class:`data.sim_model.SiteSim`) advanced in coarse ticks,
each entry checked by the feed contract, counts folded by the aggregator's
:class:`data.fold.Fold`, incidents built by the lifecycle's ``new_incident``
and ``apply_op``, all of it written by the archiver's own writers
(:mod:`data.archive`). Replaying days through Redis entry by entry (half a
million entries a day) would take hours and measure the aggregator instead.

Used by ``bench/analysis.py`` (90 days to measure the analyst's views) and
by the demo's first start (:mod:`data.sim.demo_seed`).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd

from data.feed.check import Tally, check, report_grid
from data.feed.contract import IncidentReport, Rejected
from data.feed.fold import Fold
from data.history import archive
from data.incidents.lifecycle import Refused, apply_op, new_incident
from data.keys import Keys
from data.sim.model import SiteSim
from data.site import Site

TICK_S = 300.0  # five-minute ticks: the same hourly figures, a fifth of the work
DAY_MS = 86_400_000
TAIL_MS = 3 * 3_600_000  # workflows of a day's last incidents, played after it


@dataclass
class Span:
    """What the model wrote over a span of time, folded."""

    fold: Fold  # counter increments, every bucket kept (see :func:`simulate`)
    incident_entries: list[dict[str, str]]  # incident stream entries, in order


def day_start_ms(day: date, tz: str) -> int:
    """Local midnight of ``day`` in epoch ms."""
    return int(datetime(day.year, day.month, day.day,
                        tzinfo=ZoneInfo(tz)).timestamp() * 1000)


def simulate(site: Site, sim: SiteSim, start_ms: int, end_ms: int, keys: Keys,
             tick_s: float = TICK_S, fold: Fold | None = None) -> Span:
    """Advance ``sim`` from ``start_ms`` to ``end_ms`` in ticks of ``tick_s``,
    folding the counts (into ``fold`` if given, to continue a span at another
    tick); the incident entries are returned as written."""
    # the fold's clock at the span's end: it keeps every bucket of the span
    fold = fold or Fold(site, keys, {}, {}, end_ms)
    entries: list[dict[str, str]] = []
    step_ms = int(tick_s * 1000)
    ts = start_ms
    while ts < end_ms:
        dt = min(step_ms, end_ms - ts)
        ts += dt
        for stream, fields in sim.step(ts, dt / 1000):
            if stream == "incident":
                entries.append(fields)
                continue
            try:
                event = check(stream, fields, site, ts + 1)
            except Rejected:
                continue
            if isinstance(event, Tally):
                if event.kind == "crowd":
                    fold.crowd(event)
                else:
                    fold.gate(event)
    fold.finish()
    return Span(fold, entries)


def apply_incidents(site: Site, entries: Iterable[dict[str, str]],
                    records: dict[str, dict[str, Any]], now_ms: int) -> None:
    """Apply incident entries to ``records`` as the aggregator would."""
    for fields in entries:
        try:
            event = check("incident", fields, site, now_ms)
        except Rejected:
            continue
        if isinstance(event, IncidentReport):
            if event.id not in records:
                records[event.id] = new_incident(
                    event, report_grid(event, site), site, event.actor)
        elif event.id in records:
            try:
                records[event.id] = apply_op(records[event.id], event, site,
                                             records.get)
            except Refused:
                pass


def minute_frame(fold: Fold, keys: Keys, tz: str) -> pd.DataFrame:
    """The minute buckets of ``fold`` as archive rows (:func:`archive.flow_frame`)."""
    buckets: dict[int, dict[str, int]] = {}
    prefix = keys.minute(0)[:-1]
    for (key, name), amount in fold.incr.items():
        if key.startswith(prefix):
            buckets.setdefault(int(key[len(prefix):]), {})[name] = amount
    rows = [row for minute, counters in buckets.items()
            for row in archive.minute_rows(minute, counters)]
    return archive.flow_frame(rows, tz)


def make_day(site: Site, day: date, sim: SiteSim, records: dict, *,
             tick_s: float = TICK_S, tail_ms: int = 0, keys: Keys | None = None
             ) -> tuple[pd.DataFrame, Fold]:
    """Fold one day of the simulator's feed; incidents land in ``records``.

    ``tail_ms`` plays the workflow ops due that long after the day (for a
    model made for this day alone). Returns the day's minute rows and the fold.
    """
    keys = keys or Keys("sim", site.id)
    start = day_start_ms(day, site.timezone)
    span = simulate(site, sim, start, start + DAY_MS, keys, tick_s)
    entries = span.incident_entries
    if tail_ms:
        entries += [fields for _, fields in sim.due(start + DAY_MS + tail_ms)]
    apply_incidents(site, entries, records, start + DAY_MS + tail_ms + 1)
    return minute_frame(span.fold, keys, site.timezone), span.fold


def end_of_day_ms(day: date, tz: str) -> int:
    return day_start_ms(day + timedelta(days=1), tz)


def generate(site: Site, root: Path, days: int, end: date, *, seed: object = None
             ) -> dict:
    """``days`` days of history up to ``end`` under ``root``, one continuous model
    (oldest day first); returns what was made."""
    sim = SiteSim(site, seed=seed if seed is not None else f"bench/{site.id}")
    records: dict = {}
    started = time.perf_counter()
    first = end - timedelta(days=days - 1)
    as_of = end_of_day_ms(end, site.timezone)
    for n in range(days):
        day = first + timedelta(days=n)
        frame, _ = make_day(site, day, sim, records)
        archive.write_flow_day(root, site, day, frame,
                               end_of_day_ms(day, site.timezone))
    archive.write_incidents(root, site, records.values(), as_of)
    return {"days": days, "incidents": len(records),
            "seconds": round(time.perf_counter() - started, 1)}
