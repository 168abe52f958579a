"""Figure builders of a unit's analysis and bulletin: pure, ``(frame, *,
theme, lang) -> go.Figure``, an empty frame a readable "no data" figure.

- :func:`rates_figure` — 结案率, 按期结案率, 返工率 and 小事不出网格 by child unit;
- :func:`children_table` — the same with the counts under them, as a table;
- :func:`kpi_figure` — the unit's own figures (the bulletin's cover);
- :func:`daily_figure` — incidents reported and closed per day;
- :func:`recurring_table` — the problems that come back most.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd
import plotly.graph_objects as go

from layouts.analysis_figures import PALETTE, _axes, base_layout, empty_figure
from layouts.i18n import t
from layouts.theme import Theme

RATE_KEYS = {"closure_rate": "ua.closure_rate", "on_time_rate": "ua.on_time_rate",
             "rework_rate": "ua.rework_rate",
             "solved_in_grid_share": "ua.in_grid_share"}
COUNT_KEYS = {"due": "ua.due", "closed": "ua.closed", "overdue": "ua.overdue",
              "reported": "ua.reported", "rework": "ua.rework",
              "repeats": "ua.repeats"}


def percent(value: float | None) -> str:
    return "—" if value is None or pd.isna(value) else f"{value:.1%}"


def rates_figure(children: pd.DataFrame, *, theme: Theme,
                 lang: str = "zh") -> go.Figure:
    """Grouped bars: the four rates of each child unit."""
    if children.empty or children["due"].sum() + children["closed"].sum() == 0:
        return empty_figure(theme, lang)
    fig = go.Figure()
    for n, (column, key) in enumerate(RATE_KEYS.items()):
        values = pd.to_numeric(children[column], errors="coerce")
        fig.add_bar(x=children["name"], y=values, name=t(key, lang),
                    marker_color=PALETTE[n % len(PALETTE)],
                    text=[percent(v) for v in children[column]],
                    textposition="outside", cliponaxis=False,
                    hovertemplate="%{x} · %{y:.1%}<extra></extra>")
    fig.update_layout(base_layout(theme, barmode="group", bargap=0.25,
                                  legend={"orientation": "h", "y": 1.08, "x": 0}))
    fig.update_yaxes(tickformat=".0%", range=[0, 1.15])
    return _axes(fig, theme)


def children_table(children: pd.DataFrame, *, theme: Theme, lang: str = "zh",
                   first: str = "ua.child") -> go.Figure:
    """One row per child unit: counts and rates."""
    if children.empty:
        return empty_figure(theme, lang)
    head = [t(first, lang), *(t(k, lang) for k in COUNT_KEYS.values()),
            *(t(k, lang) for k in RATE_KEYS.values())]
    cells = [children["name"].tolist(),
             *(children[c].astype(int).tolist() for c in COUNT_KEYS),
             *([percent(v) for v in children[c]] for c in RATE_KEYS)]
    fig = go.Figure(go.Table(
        columnwidth=[2.2] + [1] * (len(head) - 1),
        header={"values": [f"<b>{h}</b>" for h in head], "height": 38,
                "fill_color": theme.accent, "font": {"color": "#ffffff", "size": 14},
                "align": ["left", "right"]},
        cells={"values": cells, "height": 32, "font": {"size": 14},
               "align": ["left", "right"], "line": {"color": theme.grid_line}}))
    fig.update_layout(base_layout(theme, margin={"l": 30, "r": 30, "t": 20, "b": 20}))
    return fig


def kpi_figure(totals: Mapping[str, float | int | None], *, theme: Theme,
               lang: str = "zh") -> go.Figure:
    """The unit's own figures, a rate or a count a row."""
    rows = [(t(k, lang), percent(totals[c])) for c, k in RATE_KEYS.items()]
    rows += [(t(k, lang), f"{int(totals[c] or 0):,}") for c, k in COUNT_KEYS.items()]
    fig = go.Figure(go.Table(
        columnwidth=[2, 1],
        header={"values": [f"<b>{t('ua.figure', lang)}</b>",
                           f"<b>{t('ua.value', lang)}</b>"], "height": 40,
                "fill_color": theme.accent, "font": {"color": "#ffffff", "size": 17},
                "align": ["left", "right"]},
        cells={"values": [[r[0] for r in rows], [r[1] for r in rows]], "height": 42,
               "font": {"size": 17}, "align": ["left", "right"],
               "line": {"color": theme.grid_line}}))
    fig.update_layout(base_layout(theme, margin={"l": 160, "r": 160, "t": 30,
                                                  "b": 30}))
    return fig


def daily_figure(reported: pd.DataFrame, closed: pd.Series, *, theme: Theme,
                 lang: str = "zh") -> go.Figure:
    """Incidents reported per day (bars) and closed per day (line)."""
    if reported.empty and closed.empty:
        return empty_figure(theme, lang)
    per_day = reported["reported_at"].dt.date.value_counts()
    done = closed.dt.date.value_counts()
    days = pd.date_range(min([*per_day.index, *done.index]),
                         max([*per_day.index, *done.index]), freq="D").date
    fig = go.Figure()
    fig.add_bar(x=list(days), y=per_day.reindex(days, fill_value=0).to_numpy(),
                name=t("ua.reported", lang), marker_color=theme.flow_in)
    fig.add_scatter(x=list(days), y=done.reindex(days, fill_value=0).to_numpy(),
                    mode="lines+markers", name=t("ua.closed", lang),
                    line={"color": theme.flow_out, "width": 2})
    fig.update_layout(base_layout(theme, bargap=0.2))
    fig.update_xaxes(type="date", tickformat="%m-%d")
    return _axes(fig, theme)


def recurring_table(top: pd.DataFrame, names: Mapping[str, str], *, theme: Theme,
                    lang: str = "zh") -> go.Figure:
    """The categories and grids with the most repeated incidents."""
    if top.empty:
        return empty_figure(theme, lang)
    kinds = {"category": t("ua.by_category", lang), "grid": t("ua.by_grid", lang)}
    head = [t("ua.kind", lang), t("ua.problem", lang), t("ua.repeats", lang),
            t("ua.reported", lang)]
    cells = [[kinds[k] for k in top["kind"]],
             [names.get(k, k) for k in top["key"]],
             top["repeats"].astype(int).tolist(), top["reported"].astype(int).tolist()]
    fig = go.Figure(go.Table(
        columnwidth=[1, 2.6, 1, 1],
        header={"values": [f"<b>{h}</b>" for h in head], "height": 38,
                "fill_color": theme.accent, "font": {"color": "#ffffff", "size": 15},
                "align": ["left", "left", "right", "right"]},
        cells={"values": cells, "height": 32, "font": {"size": 15},
               "align": ["left", "left", "right", "right"],
               "line": {"color": theme.grid_line}}))
    fig.update_layout(base_layout(theme, margin={"l": 40, "r": 40, "t": 20, "b": 20}))
    return fig
