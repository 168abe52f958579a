"""Reading a range of days of the archive: one scan, only the columns needed, cached.

:func:`read_range` reads the files of one kind for a site and a range of
local days in a single pyarrow dataset scan (threaded, one conversion to
pandas): the month files (:mod:`data.history.compaction`) for the days they still
copy faithfully, the day files for the rest, in day order. The result is
cached in the process on the identity (inode, size, mtime) of every file
involved, so a file the archiver rewrites, a new day or a new month file
is read again, and unchanged files are not. The files may be in a folder or
an object store (:mod:`data.history.store`): on the latter the identities of
a range come from one listing, not a request per file.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from datetime import date, timedelta

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds

from data.history import compaction
from data.history.compaction import DAY_COLUMN
from data.history.files import day_file
from data.history.store import Identity, Root, Store, as_store

log = logging.getLogger(__name__)

CACHE_SIZE = 16  # reads kept per process (a 90-day flow read is a few MB)
DayState = tuple[date, str, Identity]  # a day file that exists
MonthState = tuple[str, str, Identity]  # month, path, identity


@dataclass(frozen=True)
class Read:
    """The rows of a kind over a range of days, as read once and cached."""

    frame: pd.DataFrame
    stamps: tuple[int, ...]  # the ``as_of`` of each day file read (or copied)
    days: frozenset[date]  # the days whose rows are in (a broken file is not)


def _states(store: Store, site: str, start: date, end: date, kind: str
            ) -> tuple[tuple[DayState, ...], tuple[MonthState, ...]]:
    folder = store.base / f"site={site}"
    wanted = {day_file(store, site, start + timedelta(days=n), kind):
              start + timedelta(days=n) for n in range((end - start).days + 1)}
    if kind in compaction.KINDS:
        wanted |= {compaction.month_file(store, site, month, kind): month
                   for month in {compaction.month_of(d) for d in wanted.values()}}
    found = store.identities(folder, list(wanted))
    days = [(wanted[path], str(path), ident) for path, ident in found.items()
            if isinstance(wanted[path], date)]
    held = {compaction.month_of(day) for day, _, _ in days}
    months = [(wanted[path], str(path), ident) for path, ident in found.items()
              if wanted[path] in held]
    return tuple(sorted(days)), tuple(sorted(months))


@dataclass
class _Piece:
    path: str
    days: list[DayState]  # the days it holds (one, for a day file)
    stamps: list[int | None] | None = None  # known ahead for a month file


def _plan(store: Store, days: tuple[DayState, ...],
          months: tuple[MonthState, ...], start: date, end: date) -> list[_Piece]:
    """Which files to read, in day order: a month file for the days it copies
    from the day files as they are now, day files for the others."""
    month_paths = {month: path for month, path, _ in months}
    by_month: dict[str, list[DayState]] = {}
    for state in days:
        by_month.setdefault(compaction.month_of(state[0]), []).append(state)
    pieces = []
    for month, states in by_month.items():
        rest = states
        if month in month_paths:
            sources = compaction.read_sources(store, month_paths[month])
            last = max(sources, default=None)
            copied = [s for s in states if last is not None and s[0] <= last]
            recorded = [d for d in sources if start <= d <= end]
            if copied and [s[0] for s in copied] == sorted(recorded) and all(
                    sources[d].identity == ident for d, _, ident in copied):
                pieces.append(_Piece(month_paths[month], copied,
                                     [sources[d].as_of for d, _, _ in copied]))
                rest = states[len(copied):]
        pieces += [_Piece(path, [(day, path, ident)]) for day, path, ident in rest]
    return pieces


def _scan(store: Store, pieces: list[_Piece], schema: pa.Schema,
          columns: list[str], start: date, end: date
          ) -> tuple[pa.Table, list[int | None]]:
    """One dataset scan of ``pieces`` (rows in their order) and their stamps."""
    dataset = store.dataset([p.path for p in pieces], schema)
    day = ds.field(DAY_COLUMN)  # null in a day file: every row of it is kept
    keep = day.is_null() | ((day >= pa.scalar(start, pa.date32()))
                            & (day <= pa.scalar(end, pa.date32())))
    table = dataset.to_table(columns=columns, filter=keep)
    stamps: list[int | None] = []
    for piece, fragment in zip(pieces, dataset.get_fragments(), strict=True):
        if piece.stamps is not None:
            stamps += piece.stamps
        else:
            as_of = (fragment.physical_schema.metadata or {}).get(b"gov.as_of")
            stamps.append(int(as_of) if as_of else None)
    return table, stamps


def _scan_carefully(store: Store, pieces: list[_Piece], schema: pa.Schema,
                    columns: list[str], start: date, end: date
                    ) -> tuple[pa.Table, list[int | None], set[date]]:
    """Piece by piece, leaving out a broken file (a broken month file: its
    days are read from their day files)."""
    tables, stamps, days = [], [], set()
    queue = list(pieces)
    while queue:
        piece = queue.pop(0)
        try:
            table, stamp = _scan(store, [piece], schema, columns, start, end)
        except (OSError, pa.ArrowException) as exc:
            log.warning("history: skipping unreadable %s (%s)", piece.path, exc)
            if piece.stamps is not None:
                queue[:0] = [_Piece(path, [(d, path, ident)])
                             for d, path, ident in piece.days]
            continue
        tables.append(table)
        stamps += stamp
        days |= {d for d, _, _ in piece.days}
    table = (pa.concat_tables(tables) if tables
             else schema.empty_table().select(columns))
    return table, stamps, days


@functools.lru_cache(maxsize=CACHE_SIZE)
def _read_cached(store: Store, days: tuple[DayState, ...],
                 months: tuple[MonthState, ...], kind: str, tz: str,
                 columns: tuple[str, ...] | None, start: date, end: date) -> Read:
    schema = compaction.schema_of(kind, tz)
    wanted = list(columns or [n for n in schema.names if n != DAY_COLUMN])
    pieces = _plan(store, days, months, start, end)
    try:
        table, stamps = _scan(store, pieces, schema, wanted, start, end)
        found = {d for d, _, _ in days}
    except (OSError, pa.ArrowException):  # find the broken file(s), keep the rest
        table, stamps, found = _scan_carefully(store, pieces, schema, wanted,
                                               start, end)
    # ids as plain strings (decoded here: ten times faster than in pandas)
    table = table.cast(pa.schema([
        field.with_type(field.type.value_type)
        if pa.types.is_dictionary(field.type) else field for field in table.schema]))
    frame = table.to_pandas()
    return Read(frame, tuple(s for s in stamps if s is not None), frozenset(found))


def read_range(root: Root, site: str, tz: str, start: date, end: date, kind: str,
               columns: tuple[str, ...] | None = None) -> Read:
    """The rows of ``kind`` for the local days ``start``..``end`` of ``site``."""
    store = as_store(root)
    days, months = _states(store, site, start, end, kind)
    read = _read_cached(store, days, months, kind, tz, columns, start, end)
    # a shallow copy (copy-on-write) so that no caller can change the cache
    return Read(read.frame.copy(deep=False), read.stamps, read.days)


def clear_cache() -> None:
    """Forget every read (tests and benchmarks start cold with it)."""
    _read_cached.cache_clear()
