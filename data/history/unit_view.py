"""What the analysis of a unit shows, read once per set of filters: the
unit's figures, the same by child unit (by grid for a community), the
incidents reported per day and category, and the recurring problems.

:func:`parse_unit_filters` checks a unit's query (``start``, ``end``,
``categories``, ``repeat_days``) with the site views' rules and messages;
:func:`load_unit_view` reads the history of every site under the unit
(:mod:`data.history.unit_read`) and computes the figures
(:mod:`data.history.unit_figures`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import pandas as pd

from data.history import unit_figures as figures
from data.history.dataset import FilterError, Filters, parse_filters, site_today
from data.history.store import Root
from data.history.unit_read import (
    REWORK_COLUMNS,
    UnitScope,
    read_unit,
    unit_scope,
)
from data.site import Category, Site
from data.units.tree import Node, UnitTree


@dataclass(frozen=True)
class _Choices:
    """What :func:`parse_filters` checks a unit's query against: the
    categories of its sites, no grids, no entrances."""

    id: str
    categories: Mapping[str, Category]
    grids: Mapping[str, Any] = field(default_factory=dict)
    entrances: Mapping[str, Any] = field(default_factory=dict)


def unit_categories(scope: UnitScope, sites: Mapping[str, Site]
                    ) -> dict[str, Category]:
    """Every category of the sites under the unit (the first site's name)."""
    found: dict[str, Category] = {}
    for site_id in scope.sites:
        for key, category in sites[site_id].categories.items():
            found.setdefault(key, category)
    return found


def unit_today(scope: UnitScope, sites: Mapping[str, Site]) -> date:
    return site_today(sites[scope.sites[0]]) if scope.sites else date.today()


def parse_unit_filters(args: Mapping[str, Any], scope: UnitScope,
                       sites: Mapping[str, Site]) -> Filters:
    """The unit's filters (``site`` holds the unit's id); raises
    :class:`~data.history.dataset.FilterError` as the site views do."""
    wanted = {k: args[k] for k in ("start", "end", "categories", "repeat_days")
              if k in args}
    choices = _Choices(scope.unit, unit_categories(scope, sites))
    return parse_filters(wanted, choices, unit_today(scope, sites))  # type: ignore[arg-type]


@dataclass(frozen=True)
class UnitView:
    """Everything the unit's page, exports and bulletin show for ``filters``."""

    unit: Node
    filters: Filters
    t0: pd.Timestamp
    t1: pd.Timestamp
    as_of: datetime | None
    totals: dict[str, int | float | None]
    children: pd.DataFrame  # per child unit (per grid for a community)
    reported: pd.DataFrame  # incidents reported in the period
    closed_at: pd.Series  # when each incident closed in the period closed
    repeats: pd.DataFrame
    top: pd.DataFrame  # recurring problems by category and by grid
    names: dict[str, str]  # category and grid keys -> names (top, charts)

    @property
    def empty(self) -> bool:
        return self.totals["reported"] == 0 and self.totals["due"] == 0


def _children(tree: UnitTree, node: Node, scope: UnitScope,
              sites: Mapping[str, Site], lang: str
              ) -> tuple[dict[str, str], list[str], dict[str, str]]:
    """(community or ``site/grid`` -> key, keys in order, key -> name)."""
    if node.children:
        key_of = {u: child for child in node.children
                  for u in tree.under(child)}
        return key_of, list(node.children), {c: tree[c].label(lang)
                                             for c in node.children}
    key_of, names = {}, {}
    for site_id, grids in scope.grids.items():
        for grid in grids:
            g = sites[site_id].grids[grid]
            key_of[f"{site_id}/{grid}"] = f"{site_id}/{grid}"
            names[f"{site_id}/{grid}"] = g.name_en if lang == "en" else g.name
    return key_of, list(key_of), names


def load_unit_view(root: Root, tree: UnitTree, sites: Mapping[str, Site],
                   unit: str, filters: Filters, lang: str = "zh") -> UnitView:
    """Read the unit's history for ``filters`` and compute its figures."""
    node = tree[unit]
    scope = unit_scope(tree, unit, dict(sites))
    first = filters.start - timedelta(days=figures.LOOKBACK_DAYS)
    read = read_unit(root, scope, dict(sites), first, filters.end)
    frame = read.frame
    if filters.categories:
        frame = frame[frame["category"].isin(filters.categories)]
    reworked = read_unit(root, scope, dict(sites), first, filters.end,
                         REWORK_COLUMNS, reworked=True).frame
    reworked = reworked[reworked["id"].isin(frame["id"])]
    tz = sites[scope.sites[0]].timezone if scope.sites else "UTC"
    t0, t1 = figures.period(filters.start, filters.end, tz, read.as_of)
    marks = figures.flags(frame, figures.reopen_times(reworked), t0, t1)
    rep = figures.repeats(frame, t0, t1, filters.repeat_days)
    key_of, order, names = _children(tree, node, scope, sites, lang)
    keys = (frame["community"] if node.children
            else frame["site"] + "/" + frame["grid"]).map(key_of)
    rep_keys = (rep["community"] if node.children
                else rep["site"] + "/" + rep["grid"]).map(key_of)
    children = figures.breakdown(frame, marks, rep.assign(key=rep_keys), keys,
                                 order, names)
    reported = frame[marks["reported"].astype(bool)]
    labels = {k: c.name_en if lang == "en" else c.name
              for k, c in unit_categories(scope, sites).items()}
    for site_id, grids in scope.grids.items():
        for grid, community in grids.items():
            g = sites[site_id].grids[grid]
            labels[f"{site_id}/{grid}"] = (
                f"{tree[community].label(lang)} "
                f"{g.name_en if lang == 'en' else g.name}")
    return UnitView(node, filters, t0, t1, read.as_of, figures.totals(marks, rep),
                    children, reported.reset_index(drop=True),
                    frame.loc[marks["closed"].astype(bool), "closed_at"], rep,
                    figures.top_recurring(rep, reported), labels)


def month_range(month: str, today: date) -> tuple[date, date]:
    """The first and last day of ``YYYY-MM`` (the last no later than today);
    :class:`FilterError` if it is not a month or lies in the future."""
    try:
        first = date.fromisoformat(f"{month}-01") if len(month) == 7 else None
    except ValueError:
        first = None
    if first is None:
        raise FilterError("month_format", value=month[:20])
    if first > today:
        raise FilterError("date_future", day=first.isoformat(),
                          today=today.isoformat())
    last = (first.replace(day=28) + timedelta(days=4)).replace(day=1) \
        - timedelta(days=1)
    return first, min(last, today)
