"""The charts of the analyst's workspace: one registry for the page and the exports.

A :class:`Chart` ties a view's numbers (:mod:`data.history.analytics`) to its figure
builder (:mod:`layouts.analysis_figures`) and its title. :func:`build` reads
nothing: it shapes a :class:`Dataset` already read, adds display names in the
page's language (grid and category names, levels, channels), and draws.
The frame it returns is the data under the chart, as exported.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd
import plotly.graph_objects as go

from data.history import analytics
from data.history.dataset import Dataset
from data.site import Site
from layouts import analysis_figures as figures
from layouts.i18n import t
from layouts.theme import LIGHT, Theme

FORMATS = ("png", "svg", "pdf", "csv", "xlsx")


@dataclass(frozen=True)
class Chart:
    name: str
    title: str  # message key
    frame: Callable[[Dataset, Site], pd.DataFrame]
    figure: Callable[..., go.Figure]
    height: int = 420


CHARTS: dict[str, Chart] = {c.name: c for c in (
    Chart("flow_heatmap", "analysis.chart.flow_heatmap", analytics.flow_heatmap,
          figures.flow_heatmap_figure, 360),
    Chart("daily_trend", "analysis.chart.daily_trend", analytics.daily_trend,
          figures.daily_trend_figure, 420),
    Chart("incident_breakdown", "analysis.chart.incident_breakdown",
          analytics.incident_breakdown, figures.incident_breakdown_figure, 560),
    Chart("resolve_time", "analysis.chart.resolve_time", analytics.resolve_times,
          figures.resolve_time_figure, 380),
    Chart("sla", "analysis.chart.sla", analytics.sla_compliance, figures.sla_figure,
          420),
    Chart("solved_in_grid", "analysis.chart.solved_in_grid",
          analytics.solved_in_grid, figures.solved_in_grid_figure, 360),
    Chart("escalation", "analysis.chart.escalation", analytics.escalation_flow,
          figures.escalation_figure, 380),
    Chart("repeats", "analysis.chart.repeats", analytics.repeat_incidents,
          figures.repeats_figure, 360),
)}


def _name(site: Site, column: str, key: object, lang: str) -> str:
    key = str(key)
    if column == "grid" and key in site.grids:
        grid = site.grids[key]
        return grid.name_en if lang == "en" else grid.name
    if column == "category" and key in site.categories:
        cat = site.categories[key]
        return cat.name_en if lang == "en" else cat.name
    if column == "level" and key in ("1", "2", "3"):
        return t(f"level.{key}", lang)
    if column == "channel" and key:
        return t(f"analysis.channel.{key}", lang)
    if column in ("source", "target"):
        return t(f"analysis.node.{key}", lang)
    return key


def with_names(frame: pd.DataFrame, site: Site, lang: str) -> pd.DataFrame:
    """``frame`` with a ``<column>_name`` beside each id column (or ``label``
    for the long breakdown frame), in ``lang``."""
    out = frame.copy()
    if "dimension" in out.columns:
        out["label"] = [_name(site, d, k, lang)
                        for d, k in zip(out["dimension"], out["key"], strict=True)]
        return out
    for column in ("grid", "category", "level", "channel", "source", "target"):
        if column in out.columns:
            out.insert(out.columns.get_loc(column) + 1, f"{column}_name",
                       [_name(site, column, k, lang) for k in out[column]])
    return out


def build(name: str, data: Dataset, site: Site, *, lang: str = "zh",
          theme: Theme = LIGHT) -> tuple[pd.DataFrame, go.Figure]:
    """The data under chart ``name`` and its figure (no title)."""
    table = frame(name, data, site, lang=lang)
    return table, CHARTS[name].figure(table, theme=theme, lang=lang)


def frame(name: str, data: Dataset, site: Site, *, lang: str = "zh") -> pd.DataFrame:
    """The data under chart ``name``, with display names, without drawing it."""
    return with_names(CHARTS[name].frame(data, site), site, lang)


def title(name: str, lang: str = "zh") -> str:
    return t(CHARTS[name].title, lang)


_warmed = False


def warm_up(site: Site) -> None:
    """Draw every chart once from a two-incident, one-hour history in memory.

    plotly builds its figure classes and loads its validators on first use,
    and pandas compiles some paths on first call: together 0.3-1 s on the
    first request of a process. A web process pays it here, at start-up,
    rather than in an analyst's first view.
    """
    from data.history.archive import flow_frame, incident_frame
    from data.history.dataset import Dataset, Filters, site_today

    day = site_today(site)
    start = int(pd.Timestamp(day, tz=site.timezone).timestamp() * 1000)
    grid = next(iter(site.grids), "g")
    flow = flow_frame([(start, "site", "site", 1, 1), (start, "grid", grid, 1, 1),
                       (start, "vehicles", "vehicles", 1, 0)], site.timezone)
    incident = {"id": "warm-up", "category": next(iter(site.categories), "c"),
                "level": 2, "title": "", "grid": grid, "channel": "patrol",
                "lat": 0.0, "lon": 0.0, "status": "closed", "owner_level": "grid",
                "solved_level": "grid", "path": "grid", "reported_at": start,
                "deadline": start + 3_600_000, "closed_at": start + 60_000,
                "updated_at": start + 60_000, "rework": 0, "escalations": 0}
    incidents = incident_frame([incident, {**incident, "id": "warm-up-2",
                                           "reported_at": start + 120_000,
                                           "closed_at": start + 180_000}],
                               site.timezone)
    data = Dataset(filters=Filters(site=site.id, start=day, end=day), flow=flow,
                   incidents=incidents, as_of=None, flow_days=frozenset({day}))
    for name in CHARTS:
        build(name, data, site)
    analytics.summary(data, site)
