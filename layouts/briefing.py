"""The daily briefing (日报): the pages of a multi-page PDF for one day.

:func:`briefing_pages` reads the day (and, for context, the fortnight before
it) from the history and returns one stamped figure per page: the headline
figures against the day before and the same day a week earlier, the hourly
flow, the fortnight's trend, and the day's incidents (by category and grid,
SLA, escalations, repeats). Rendering and joining the pages is the export's
job (:func:`web.export.briefing_pdf`).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import plotly.graph_objects as go

from data.history import analytics
from data.history.dataset import Filters, History
from data.site import Site
from layouts import analysis_charts as charts
from layouts.analysis_figures import base_layout, empty_figure, stamp
from layouts.i18n import t
from layouts.theme import LIGHT, Theme

PAGES = ("incident_breakdown", "sla", "escalation", "resolve_time", "repeats")
KPIS = ("people_in", "vehicles_in", "reported", "closed", "on_time_rate",
        "in_grid_share", "median_hours", "repeats")


def kpi_text(name: str, value: float | int | None) -> str:
    if value is None:
        return "—"
    if name in ("on_time_rate", "in_grid_share"):
        return f"{value:.1%}"
    if name == "median_hours":
        return f"{value:.1f} h"
    return f"{int(value):,}"


def kpi_table(rows: list[tuple[str, str, str, str]], *, theme: Theme,
              lang: str = "zh") -> go.Figure:
    """The cover page: each headline figure of the day, the day before, a week ago."""
    header = [t("analysis.kpi", lang), t("briefing.today", lang),
              t("briefing.day_before", lang), t("briefing.week_ago", lang)]
    columns = [list(c) for c in zip(*rows, strict=True)] if rows else [[]] * 4
    fig = go.Figure(go.Table(
        columnwidth=[2.2, 1, 1, 1],
        header={"values": [f"<b>{h}</b>" for h in header], "height": 40,
                "fill_color": theme.accent, "font": {"color": "#ffffff", "size": 17},
                "align": ["left", "right"]},
        cells={"values": columns, "height": 44, "font": {"size": 17},
               "fill_color": [["#ffffff", "#f1f5fb"] * 8],
               "align": ["left", "right"], "line": {"color": theme.grid_line}}))
    fig.update_layout(base_layout(theme, margin={"l": 60, "r": 60, "t": 30, "b": 30}))
    return fig


def hourly_figure(frame, *, theme: Theme, lang: str = "zh") -> go.Figure:
    """People in per hour of the day, with the same hour a week before."""
    if frame["people_in"].isna().all():
        return empty_figure(theme, lang)
    fig = go.Figure()
    fig.add_bar(x=frame["hour"], y=frame["people_in"], marker_color=theme.flow_in,
                name=t("analysis.people_in", lang))
    fig.add_scatter(x=frame["hour"], y=frame["people_in_week_ago"],
                    mode="lines+markers", name=t("analysis.week_ago", lang),
                    line={"color": theme.week_ago, "dash": "dot", "width": 2})
    fig.update_layout(base_layout(theme, bargap=0.2))
    fig.update_xaxes(title_text=t("analysis.hour_of_day", lang), dtick=2)
    return fig


def briefing_pages(history: History, site: Site, day: date, lang: str,
                   exported_by: str, *, height: int,
                   theme: Theme = LIGHT) -> list[go.Figure]:
    """The stamped figures of the briefing of ``day``, one per page."""
    name = site.name_en if lang == "en" else site.name

    def load(start: date, end: date):
        return history.load(site, Filters(site=site.id, start=start, end=end))

    today = load(day, day)
    summaries = [analytics.summary(today, site),
                 analytics.summary(load(day - timedelta(days=1),
                                        day - timedelta(days=1)), site),
                 analytics.summary(load(day - timedelta(days=7),
                                        day - timedelta(days=7)), site)]
    as_of = today.as_of.strftime("%Y-%m-%d %H:%M") if today.as_of else "—"
    made = datetime.now(today.as_of.tzinfo if today.as_of else None)
    footer = [f"{t('analysis.site', lang)}: {name}  ·  {t('briefing.day', lang)}: "
              f"{day}  ·  {t('analysis.grids', lang)}: {t('analysis.all', lang)}",
              f"{t('analysis.data_time', lang)}: {as_of}  ·  "
              f"{t('analysis.exported_by', lang)}: {exported_by}  ·  "
              f"{t('analysis.exported_at', lang)}: {made:%Y-%m-%d %H:%M:%S}  ·  "
              f"{t('analysis.source', lang)}: {t('analysis.source_text', lang)}"]

    def page(fig: go.Figure, title: str) -> go.Figure:
        return stamp(fig, f"{name} · {title} · {day}", footer, theme=theme,
                     height=height)

    rows = [(t(f"analysis.kpi.{k}", lang), *(kpi_text(k, s[k]) for s in summaries))
            for k in KPIS]
    pages = [page(kpi_table(rows, theme=theme, lang=lang), t("briefing.title", lang)),
             page(hourly_figure(analytics.hourly_profile(today, site), theme=theme,
                                lang=lang), t("briefing.hourly", lang))]
    _, trend = charts.build("daily_trend", load(day - timedelta(days=13), day), site,
                            lang=lang, theme=theme)
    pages.append(page(trend, t("briefing.fortnight", lang)))
    for chart in PAGES:
        _, fig = charts.build(chart, today, site, lang=lang, theme=theme)
        pages.append(page(fig, charts.title(chart, lang)))
    return pages
