"""Queries over the Parquet history: the filters of a view and the data they select.

:func:`parse_filters` turns URL query values (``start``, ``end``, ``grids``,
``categories``, ``entrance``, ``repeat_days``) into :class:`Filters` or raises
:class:`FilterError` with a code and values the page and the export API turn
into a message. :class:`History` reads the archive written by
:mod:`data.history.archive` for a site and a range of days, through
:mod:`data.history.read` (one scan per kind, the month files where they
hold the day files' rows, cached on the files' identities).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd

from data.history import compaction
from data.history import read as history_read
from data.history.files import FLOW, HOURLY, INCIDENTS, incident_schema
from data.history.read import read_range
from data.history.store import Root
from data.site import Site

log = logging.getLogger(__name__)

MAX_DAYS = 400
DEFAULT_DAYS = 30
DEFAULT_REPEAT_DAYS = 7
MAX_REPEAT_DAYS = 90
WEEK = timedelta(days=7)
REPEAT_LOOKBACK = timedelta(days=14)  # how long before a repeat its original may lie
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class FilterError(ValueError):
    """A filter value is wrong; ``code`` and ``values`` say what, for people."""

    def __init__(self, code: str, **values: Any) -> None:
        super().__init__(f"{code}: {values}")
        self.code, self.values = code, values


@dataclass(frozen=True)
class Filters:
    """What a view shows: a site, a range of local days, grids and categories."""

    site: str
    start: date
    end: date
    grids: tuple[str, ...] = ()  # empty: every grid
    categories: tuple[str, ...] = ()  # empty: every category
    entrance: str | None = None  # the flow views narrowed to one entrance
    repeat_days: int = DEFAULT_REPEAT_DAYS

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def query(self) -> dict[str, str]:
        """The URL query that reproduces these filters (no defaults spelled out)."""
        out = {"start": self.start.isoformat(), "end": self.end.isoformat()}
        if self.grids:
            out["grids"] = ",".join(self.grids)
        if self.categories:
            out["categories"] = ",".join(self.categories)
        if self.entrance:
            out["entrance"] = self.entrance
        if self.repeat_days != DEFAULT_REPEAT_DAYS:
            out["repeat_days"] = str(self.repeat_days)
        return out


def site_today(site: Site, now_ms: int | None = None) -> date:
    """Today in the site's time zone."""
    moment = (datetime.now(ZoneInfo(site.timezone)) if now_ms is None
              else datetime.fromtimestamp(now_ms / 1000, ZoneInfo(site.timezone)))
    return moment.date()


def default_range(today: date, days: int = DEFAULT_DAYS) -> tuple[date, date]:
    return today - timedelta(days=days - 1), today


def _day(name: str, raw: str | None) -> date:
    text = (raw or "").strip()
    if not text:
        raise FilterError("date_missing", name=name)
    if not _DAY.match(text):
        raise FilterError("date_format", name=name, value=text[:40])
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise FilterError("date_format", name=name, value=text[:40]) from None


def _ids(raw: str | None, known: Mapping[str, Any], code: str) -> tuple[str, ...]:
    values = tuple(dict.fromkeys(v.strip() for v in (raw or "").split(",")
                                 if v.strip()))
    unknown = [v for v in values if v not in known]
    if unknown:
        raise FilterError(code, value=unknown[0][:40])
    return values


def parse_filters(args: Mapping[str, Any], site: Site, today: date) -> Filters:
    """Check the query values of a view; raise :class:`FilterError` if wrong.

    Missing ``start`` and ``end`` mean the last :data:`DEFAULT_DAYS` days; a
    present but empty one is an error (an emptied date field).
    """
    if args.get("start") is None and args.get("end") is None:
        start, end = default_range(today)
    else:
        start, end = _day("start", args.get("start")), _day("end", args.get("end"))
    if start > end:
        raise FilterError("date_inverted", start=start.isoformat(),
                          end=end.isoformat())
    if end > today:
        raise FilterError("date_future", day=end.isoformat(),
                          today=today.isoformat())
    if (end - start).days + 1 > MAX_DAYS:
        raise FilterError("range_too_long", days=(end - start).days + 1,
                          most=MAX_DAYS)
    entrance = (args.get("entrance") or "").strip() or None
    if entrance is not None and entrance not in site.entrances:
        raise FilterError("unknown_entrance", value=entrance[:40])
    raw_n = str(args.get("repeat_days") or DEFAULT_REPEAT_DAYS).strip()
    if not raw_n.isdigit() or not 1 <= int(raw_n) <= MAX_REPEAT_DAYS:
        raise FilterError("repeat_days", value=raw_n[:20], most=MAX_REPEAT_DAYS)
    return Filters(
        site=site.id, start=start, end=end,
        grids=_ids(args.get("grids"), site.grids, "unknown_grid"),
        categories=_ids(args.get("categories"), site.categories, "unknown_category"),
        entrance=entrance, repeat_days=int(raw_n),
    )


# --- reading ---------------------------------------------------------------

# What the views read of an incident: everything but the audit trail (most of
# a file's bytes) and the masked personal data, which no view shows.
VIEW_COLUMNS = tuple(name for name in incident_schema("UTC").names
                     if name not in ("history", "reporter", "phone"))


@dataclass(frozen=True)
class Dataset:
    """The rows a set of filters needs, read once and shared by every view."""

    filters: Filters
    flow: pd.DataFrame  # hourly rows, from a week before ``start``
    incidents: pd.DataFrame  # reported from before ``start`` (repeat originals)
    as_of: datetime | None  # newest archive pass among the files read
    flow_days: frozenset[date] = field(default_factory=frozenset)

    @property
    def empty(self) -> bool:
        """True if the range itself (not the look-back) holds no data at all."""
        in_range = any(self.filters.start <= d <= self.filters.end
                       for d in self.flow_days)
        if in_range:
            return False
        if self.incidents.empty:
            return True
        days = self.incidents["reported_at"].dt.date
        return not ((days >= self.filters.start) & (days <= self.filters.end)).any()


@dataclass(frozen=True)
class History:
    """The archive at ``root``: ``<data dir>/history`` or ``GOV_HISTORY_URL``
    (a folder, a URL, or a :class:`~data.history.store.Store`)."""

    root: Root

    def flow(self, site: Site, start: date, end: date, *, minutes: bool = False
             ) -> tuple[pd.DataFrame, list[int], set[date]]:
        """Flow rows of ``start``..``end`` (hourly unless ``minutes``), the
        files' ``as_of`` times and the days that have a file."""
        read = read_range(self.root, site.id, site.timezone, start, end,
                          FLOW if minutes else HOURLY)
        return read.frame, list(read.stamps), set(read.days)

    def incidents(self, site: Site, start: date, end: date,
                  columns: tuple[str, ...] | None = None
                  ) -> tuple[pd.DataFrame, list[int]]:
        """Incidents reported ``start``..``end`` (every column unless ``columns``)."""
        read = read_range(self.root, site.id, site.timezone, start, end, INCIDENTS,
                          columns)
        return read.frame, list(read.stamps)

    def load(self, site: Site, filters: Filters) -> Dataset:
        """Everything the views of ``filters`` need, in one read."""
        flow, flow_stamps, days = self.flow(site, filters.start - WEEK, filters.end)
        lookback = timedelta(days=filters.repeat_days) + REPEAT_LOOKBACK
        incidents, inc_stamps = self.incidents(site, filters.start - lookback,
                                               filters.end, VIEW_COLUMNS)
        stamps = flow_stamps + inc_stamps
        as_of = (datetime.fromtimestamp(max(stamps) / 1000, ZoneInfo(site.timezone))
                 if stamps else None)
        return Dataset(filters=filters, flow=flow, incidents=incidents, as_of=as_of,
                       flow_days=frozenset(days))

    def days(self, site: Site) -> list[date]:
        """Every day with an archive folder for ``site``, oldest first."""
        return sorted(compaction.day_folders(self.root, site.id))


def clear_cache() -> None:
    """Forget every read (tests and benchmarks start cold with it)."""
    history_read.clear_cache()
