"""Reading a unit's incidents: every site under a street, district or city in
one scan, not a read per site.

A unit's data is its communities' grids, wherever the sites that hold them
are (a business district's site may span several streets: only its grids in
the unit are kept). The files to read are found per site as
:mod:`data.history.read` finds them (month files where they still copy the
day files, day files for the rest), then all of them are scanned by one
pyarrow dataset whose ``site=<id>`` folders give each row its site (hive
partitioning), threaded, only the columns asked for. A district of 200
sites over four months is then about 800 month files and 400 day files in
one scan rather than 200 separate reads, and the whole read is cached in the
process on the identity of every file in it (a file rewritten, a new day,
a new month: read again).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds

from data.history import compaction
from data.history.compaction import DAY_COLUMN
from data.history.files import INCIDENTS
from data.history.read import DayState, MonthState, _plan, _states
from data.history.store import Root, Store, as_store
from data.site import Site
from data.units.tree import UnitTree

CACHE_SIZE = 8  # unit reads kept per process
# the columns a unit's figures need (no audit trail but for rework, below)
UNIT_COLUMNS = ("id", "category", "level", "title", "grid", "lat", "lon",
                "status", "owner_level", "solved_level", "reported_at",
                "deadline", "closed_at", "rework")
REWORK_COLUMNS = ("id", "grid", "history")


@dataclass(frozen=True)
class UnitScope:
    """The grids of a unit, site by site: ``{site id: (grid, community)…}``."""

    unit: str
    grids: dict[str, dict[str, str]]  # site -> grid -> community

    @property
    def sites(self) -> list[str]:
        return sorted(self.grids)


def unit_scope(tree: UnitTree, unit: str, sites: dict[str, Site]) -> UnitScope:
    """The grids (with their community) of every served site under ``unit``."""
    communities = {n.id for _, n in tree.walk(unit) if n.level == "community"}
    grids: dict[str, dict[str, str]] = {}
    for site_id, comms in tree.site_communities.items():
        site = sites.get(site_id)
        if site is None or not communities & set(comms):
            continue
        grids[site_id] = {g.id: g.community for g in site.grids.values()
                          if g.community in communities}
    return UnitScope(unit, {s: g for s, g in grids.items() if g})


@dataclass(frozen=True)
class UnitRead:
    """A unit's incident rows (columns ``site`` and ``community`` added) and
    the newest archive pass among the files read."""

    frame: pd.DataFrame
    as_of: datetime | None


SiteStates = tuple[str, tuple[DayState, ...], tuple[MonthState, ...]]


def _scan(store: Store, states: tuple[SiteStates, ...], tz: str,
          columns: tuple[str, ...], start: date, end: date, reworked: bool
          ) -> tuple[pa.Table, list[int]]:
    schema = compaction.schema_of(INCIDENTS, tz).append(pa.field("site", pa.string()))
    paths, stamps = [], []
    for _, days, months in states:
        for piece in _plan(store, days, months, start, end):
            paths.append(piece.path)
            if piece.stamps is not None:
                stamps += [s for s in piece.stamps if s is not None]
            else:
                stamps.append(None)
    if not paths:
        return schema.empty_table().select([*columns, "site"]), []
    dataset = ds.dataset(
        paths, schema=schema, format="parquet", filesystem=store.fs,
        partitioning=ds.partitioning(pa.schema([("site", pa.string())]),
                                     flavor="hive"),
        partition_base_dir=str(store.base))
    day = ds.field(DAY_COLUMN)  # null in a day file: every row of it is kept
    keep = day.is_null() | ((day >= pa.scalar(start, pa.date32()))
                            & (day <= pa.scalar(end, pa.date32())))
    if reworked:
        keep = keep & (ds.field("rework") > 0)
    table = dataset.to_table(columns=[*columns, "site"], filter=keep)
    known = [s for s in stamps if s is not None]
    if None in stamps:  # day files: their pass time is in their footer
        for path, fragment in zip(paths, dataset.get_fragments(), strict=True):
            if "/day=" in path.replace("\\", "/"):
                as_of = (fragment.physical_schema.metadata or {}).get(b"gov.as_of")
                if as_of:
                    known.append(int(as_of))
    return table, known


@functools.lru_cache(maxsize=CACHE_SIZE)
def _read_cached(store: Store, states: tuple[SiteStates, ...], tz: str,
                 columns: tuple[str, ...], start: date, end: date,
                 reworked: bool) -> tuple[pd.DataFrame, int | None]:
    table, stamps = _scan(store, states, tz, columns, start, end, reworked)
    table = table.cast(pa.schema([
        f.with_type(f.type.value_type) if pa.types.is_dictionary(f.type) else f
        for f in table.schema]))
    return table.to_pandas(), max(stamps, default=None)


def read_unit(root: Root, scope: UnitScope, sites: dict[str, Site],
              start: date, end: date,
              columns: Iterable[str] = UNIT_COLUMNS, *,
              reworked: bool = False) -> UnitRead:
    """Incidents reported ``start``..``end`` (local days) in the grids of
    ``scope``, with ``site`` and ``community``; times in the first site's
    time zone. ``reworked``: only those reopened or sent back at least once
    (the few whose audit trail is worth reading)."""
    store = as_store(root)
    columns = tuple(dict.fromkeys([*columns, "grid"]))
    by_tz: dict[str, list[SiteStates]] = {}
    for site_id in scope.sites:
        tz = sites[site_id].timezone
        days, months = _states(store, site_id, start, end, INCIDENTS)
        if days:
            by_tz.setdefault(tz, []).append((site_id, days, months))
    frames, stamps = [], []
    zone = sites[scope.sites[0]].timezone if scope.sites else "UTC"
    for tz, states in sorted(by_tz.items()):
        frame, stamp = _read_cached(store, tuple(states), tz, columns, start, end,
                                    reworked)
        if tz != zone:
            frame = frame.copy()
            for name in frame.columns:
                if isinstance(frame[name].dtype, pd.DatetimeTZDtype):
                    frame[name] = frame[name].dt.tz_convert(zone)
        frames.append(frame)
        if stamp is not None:
            stamps.append(stamp)
    frame = (pd.concat(frames, ignore_index=True) if len(frames) > 1 else
             frames[0].copy(deep=False) if frames else _empty(columns, zone))
    community = _communities(frame, scope)
    frame = frame.assign(community=community)[community.notna().to_numpy()]
    as_of = (datetime.fromtimestamp(max(stamps) / 1000, ZoneInfo(zone))
             if stamps else None)
    return UnitRead(frame.reset_index(drop=True), as_of)


def _communities(frame: pd.DataFrame, scope: UnitScope) -> pd.Series:
    """Each row's community, or None for a grid outside the unit."""
    pairs = {(site, grid): comm for site, grids in scope.grids.items()
             for grid, comm in grids.items()}
    keys = pd.MultiIndex.from_frame(pd.DataFrame({"site": frame["site"],
                                                  "grid": frame["grid"]}))
    lookup = pd.Series(pairs, dtype=object)
    if lookup.empty or frame.empty:
        return pd.Series([None] * len(frame), index=frame.index, dtype=object)
    lookup.index = pd.MultiIndex.from_tuples(lookup.index, names=["site", "grid"])
    return pd.Series(lookup.reindex(keys).to_numpy(), index=frame.index)


def _empty(columns: tuple[str, ...], tz: str) -> pd.DataFrame:
    schema = compaction.schema_of(INCIDENTS, tz)
    frame = schema.empty_table().select(list(columns)).to_pandas()
    return frame.assign(site=pd.Series(dtype=object))


def clear_cache() -> None:
    """Forget every unit read (benchmarks start cold with it)."""
    _read_cached.cache_clear()
