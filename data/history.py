"""Queries over the Parquet history: the filters of a view and the data they select.

:func:`parse_filters` turns URL query values (``start``, ``end``, ``grids``,
``categories``, ``entrance``, ``repeat_days``) into :class:`Filters` or raises
:class:`FilterError` with a code and values the page and the export API turn
into a message. :class:`History` reads the archive files written by
:mod:`data.archive` for a site and a range of days: all the files of a kind
in one pyarrow dataset scan (threads, only the columns the views use, one
conversion to pandas), cached in the process on the files' identities (path,
size, mtime), so a rewritten or a new file is read again and unchanged ones
are not.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds

from data.archive import (
    FLOW,
    HOURLY,
    INCIDENTS,
    day_file,
    flow_schema,
    incident_schema,
)
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

FileState = tuple[str, int, int]  # path, size, mtime_ns: a file's identity


def file_states(paths: list[Path]) -> tuple[FileState, ...]:
    """The identity of each file of ``paths`` that exists (a rewrite changes it)."""
    states = []
    for path in paths:
        try:
            stat = path.stat()
        except FileNotFoundError:
            continue
        states.append((str(path), stat.st_size, stat.st_mtime_ns))
    return tuple(states)


def _scan(paths: list[str], schema: pa.Schema, columns: tuple[str, ...] | None
          ) -> tuple[pa.Table, list[int]]:
    """The rows of ``paths`` as one table (one pass, threads, only ``columns``)
    and each file's ``as_of``."""
    dataset = ds.dataset(paths, schema=schema, format="parquet")
    table = dataset.to_table(columns=list(columns) if columns else None)
    stamps = []
    for fragment in dataset.get_fragments():
        as_of = (fragment.physical_schema.metadata or {}).get(b"gov.as_of")
        if as_of:
            stamps.append(int(as_of))
    return table, stamps


@dataclass(frozen=True)
class Read:
    """The rows of a set of archive files, as read once and cached."""

    frame: pd.DataFrame
    stamps: tuple[int, ...]  # each file's ``as_of``
    paths: frozenset[str]  # the files read (a broken one is left out)


@functools.lru_cache(maxsize=64)
def _read_cached(states: tuple[FileState, ...], kind: str, tz: str,
                 columns: tuple[str, ...] | None) -> Read:
    schema = incident_schema(tz) if kind == INCIDENTS else flow_schema(tz)
    paths = [path for path, _, _ in states]
    try:
        table, stamps = _scan(paths, schema, columns)
    except (OSError, pa.ArrowException):  # find the broken file(s), keep the rest
        tables, stamps, good = [], [], []
        for path in paths:
            try:
                one, stamp = _scan([path], schema, columns)
            except (OSError, pa.ArrowException) as exc:
                log.warning("history: skipping unreadable %s (%s)", path, exc)
                continue
            tables.append(one)
            stamps += stamp
            good.append(path)
        paths = good
        table = (pa.concat_tables(tables) if tables else
                 schema.empty_table().select(list(columns or schema.names)))
    frame = table.to_pandas()
    if kind != INCIDENTS:
        frame = frame.astype({"scope": str, "id": str})
    return Read(frame, tuple(stamps), frozenset(paths))


def read_files(paths: list[Path], kind: str, tz: str,
               columns: tuple[str, ...] | None = None) -> Read:
    """The rows of the archive files of ``paths`` that exist, in one read.

    Cached in the process on the files' identities (path, size, mtime): a file
    the archiver rewrites, or a new day, is read again; unchanged files are not.
    """
    read = _read_cached(file_states(paths), kind, tz, columns)
    # a shallow copy (copy-on-write) so that no caller can change the cache
    return Read(read.frame.copy(deep=False), read.stamps, read.paths)


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
    """The archive under ``root`` (``<data dir>/history``)."""

    root: Path

    def _read(self, site: Site, start: date, end: date, kind: str,
              columns: tuple[str, ...] | None = None) -> tuple[Read, set[date]]:
        files = {day_file(self.root, site.id, day, kind): day
                 for day in (start + timedelta(days=n)
                             for n in range((end - start).days + 1))}
        read = read_files(list(files), kind, site.timezone, columns)
        return read, {day for path, day in files.items() if str(path) in read.paths}

    def flow(self, site: Site, start: date, end: date, *, minutes: bool = False
             ) -> tuple[pd.DataFrame, list[int], set[date]]:
        """Flow rows of ``start``..``end`` (hourly unless ``minutes``), the
        files' ``as_of`` times and the days that have a file."""
        read, days = self._read(site, start, end, FLOW if minutes else HOURLY)
        return read.frame, list(read.stamps), days

    def incidents(self, site: Site, start: date, end: date,
                  columns: tuple[str, ...] | None = None
                  ) -> tuple[pd.DataFrame, list[int]]:
        """Incidents reported ``start``..``end`` (every column unless ``columns``)."""
        read, _ = self._read(site, start, end, INCIDENTS, columns)
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
        folder = self.root / f"site={site.id}"
        found = []
        for path in folder.glob("day=*"):
            try:
                found.append(date.fromisoformat(path.name[4:]))
            except ValueError:
                continue
        return sorted(found)


def clear_cache() -> None:
    """Forget every file read (tests and benchmarks start cold with it)."""
    _read_cached.cache_clear()
