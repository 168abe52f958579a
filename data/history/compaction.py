"""Monthly copies of the day files, so that a range of months is a few reads.

The archiver writes one file per site, day and kind; a view over 90 days
would open about 180 of them. After each pass the archiver also keeps, per
site and month, one copy of the days that are over (before yesterday) of the
kinds the views read: ``history/site=<site>/month=<YYYY-MM>/<kind>.parquet``.

The day files stay the truth. A month file records, for each day it copies,
the identity of the day file it copied (inode, size, mtime: the archiver
never changes a file in place, it renames a new one over it, so a rewritten
day file has a new identity; on an object store size and upload time, see
:mod:`data.history.store`) and that file's ``as_of``. A reader uses the
month's rows of a day only while the day file still has that identity, and
reads the day file otherwise. A month file is written like every archive
file (hidden temp file, fsync, rename; one PUT on an object store), so a
crash leaves the old month file or none, never half of one, and a stale one
is merely not used.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import PurePath

import pyarrow as pa

from data.history.files import (
    HOURLY,
    INCIDENTS,
    SCHEMA_VERSION,
    flow_schema,
    incident_schema,
    write_atomic,
)
from data.history.store import Identity, Root, as_store

log = logging.getLogger(__name__)

KINDS = (HOURLY, INCIDENTS)  # what the views read; minute files stay per day
DAY_COLUMN = "day"  # the local day of a month file's row (absent in day files)


def month_of(day: date) -> str:
    return f"{day:%Y-%m}"


def month_file(root: Root, site: str, month: str, kind: str) -> PurePath:
    """``<root>/site=<site>/month=<YYYY-MM>/<kind>.parquet``."""
    return as_store(root).base / f"site={site}" / f"month={month}" / f"{kind}.parquet"


def schema_of(kind: str, tz: str) -> pa.Schema:
    base = incident_schema(tz) if kind == INCIDENTS else flow_schema(tz)
    return base.append(pa.field(DAY_COLUMN, pa.date32()))


@dataclass(frozen=True)
class Copied:
    """One day a month file holds: the day file's identity and ``as_of``."""

    identity: Identity
    as_of: int | None


def read_sources(root: Root, path: PurePath | str) -> dict[date, Copied]:
    """The days a month file copies ({} if it is missing or unreadable)."""
    try:
        meta = as_store(root).read_schema(path).metadata or {}
        raw = json.loads(meta[b"gov.sources"])
        return {date.fromisoformat(day): Copied(tuple(ident), as_of)
                for day, ident, as_of in raw}
    except FileNotFoundError:
        return {}
    except (OSError, KeyError, ValueError, TypeError, pa.ArrowException) as exc:
        log.warning("history: ignoring unreadable month file %s (%s)", path, exc)
        return {}


def _copy_day(root: Root, path: PurePath, day: date
              ) -> tuple[pa.Table, Copied] | None:
    """The rows of a day file and the identity of exactly the file read."""
    try:
        read = as_store(root).read_exactly(path)
        if read is None:  # gone, or replaced while read: the next pass
            return None
        parquet, ident = read
        table = parquet.read()
        as_of = (parquet.schema_arrow.metadata or {}).get(b"gov.as_of")
    except FileNotFoundError:
        return None
    except (OSError, pa.ArrowException) as exc:
        log.warning("compaction: skipping unreadable %s (%s)", path, exc)
        return None
    days = pa.array([day] * len(table), pa.date32())
    return (table.append_column(DAY_COLUMN, days).replace_schema_metadata(None),
            Copied(ident, int(as_of) if as_of else None))


def compact_month(root: Root, site: str, tz: str, kind: str,
                  days: dict[date, PurePath]) -> bool:
    """Make the month file of ``days`` (all in one month) copy exactly their
    current day files; True if it had to be (re)written."""
    month = month_of(min(days))
    path = month_file(root, site, month, kind)
    recorded = read_sources(root, path)
    found = as_store(root).identities(path.parent.parent, list(days.values()))
    current = {day: found[p] for day, p in days.items() if p in found}
    if {d: c.identity for d, c in recorded.items()} == current:
        return False
    schema = schema_of(kind, tz)
    tables, sources = [], []
    for day in sorted(current):
        copied = _copy_day(root, days[day], day)
        if copied is None:
            continue
        table, about = copied
        tables.append(table.cast(schema))
        sources.append([day.isoformat(), list(about.identity), about.as_of])
    if not tables:
        return False
    meta = {"gov.site": site, "gov.month": month, "gov.kind": kind,
            "gov.schema": SCHEMA_VERSION, "gov.sources": json.dumps(sources)}
    write_atomic(pa.concat_tables(tables).replace_schema_metadata(meta), path, root)
    return True


def day_folders(root: Root, site: str) -> dict[date, PurePath]:
    store = as_store(root)
    folder = store.base / f"site={site}"
    found = {}
    for name in store.folders(folder, "day="):
        try:
            found[date.fromisoformat(name[4:])] = folder / name
        except ValueError:
            continue
    return found


def compact_site(root: Root, site: str, tz: str, before: date,
                 kinds: Iterable[str] = KINDS) -> list[tuple[str, str]]:
    """Bring the month files of ``site`` up to date for the days before
    ``before``; returns the (month, kind) files written."""
    months: dict[str, dict[date, PurePath]] = {}
    for day, folder in sorted(day_folders(root, site).items()):
        if day < before:
            months.setdefault(month_of(day), {})[day] = folder
    written = []
    for month, folders in months.items():
        for kind in kinds:
            files = {day: folder / f"{kind}.parquet"
                     for day, folder in folders.items()}
            if compact_month(root, site, tz, kind, files):
                written.append((month, kind))
    return written


def closed_before(today: date) -> date:
    """Days before this are over: the archiver re-reads only the last 24 h."""
    return today - timedelta(days=1)
