"""A unit's wall from shaped values: texts, deltas, the children's map,
the comparison table, the ranking, the ticker and the spotlight.

Pure: plain values in, Dash components or a figure out; no Redis. What
people typed (titles) goes in as text children, never as HTML.
"""

from __future__ import annotations

import math
from typing import Any
from zoneinfo import ZoneInfo

import plotly.graph_objects as go
from dash import html

from layouts.i18n import t
from layouts.theme import Theme
from layouts.wall_figures import _base_layout, empty_figure, rgba
from layouts.wall_render import render_ticker

KPIS = ("people_present", "incidents_open", "overdue", "closed_today",
        "closure_rate", "on_time_rate", "rework_rate", "solved_in_grid_share",
        "owned_here")
RATES = frozenset({"closure_rate", "on_time_rate", "rework_rate",
                   "solved_in_grid_share"})
GOOD_HIGH = frozenset({"closed_today", "closure_rate", "on_time_rate",
                       "solved_in_grid_share"})
COMPARED = ("incidents_open", "overdue", "closed_today", "closure_rate",
            "on_time_rate", "rework_rate")
TEST_IDS = {"people_present": "kpi-people-present",
            "incidents_open": "kpi-incidents-open",
            "overdue": "kpi-incidents-overdue", "closed_today": "kpi-closed-today",
            "closure_rate": "kpi-closure-rate", "on_time_rate": "kpi-on-time-rate",
            "rework_rate": "kpi-rework-rate",
            "solved_in_grid_share": "kpi-solved-in-grid",
            "owned_here": "kpi-owned-here"}
# a rate's colour level: (good up to / bad from) shares, best first
RATE_STEPS = {"closure_rate": (0.9, 0.8, 0.6), "on_time_rate": (0.9, 0.8, 0.6),
              "solved_in_grid_share": (0.8, 0.6, 0.4),
              "rework_rate": (0.05, 0.1, 0.2)}
# map traces after the one-per-child outlines: index = n_children + offset
MAP_LABELS, MAP_SPOTLIGHT = 0, 1


def value_text(name: str, value: Any) -> str:
    if value is None:
        return "—"
    if name in RATES:
        return f"{round(100 * value)}%"
    return f"{value:,}"


def delta(name: str, now: Any, past: Any) -> tuple[str, str]:
    """(text, class) of ``now`` against ``past``: "—" when either is unknown
    (no past kept yet, a rate of nothing); rates in percentage points."""
    if now is None or past is None:
        return "—", "flat"
    diff = round(100 * (now - past)) if name in RATES else now - past
    if diff == 0:
        return "±0", "flat"
    better = (diff > 0) == (name in GOOD_HIGH)
    unit = "pp" if name in RATES else ""
    return f"{diff:+,}{unit}".replace("-", "−"), "better" if better else "worse"


def render_past(name: str, now: Any, past: dict[str, dict | None],
                lang: str) -> list[html.Span]:
    """``周比 +3 · 月比 —``: the figure against the same weekday last week
    and the same date last month (``past[when]``: the figures then, None
    when none were kept)."""
    out = []
    for when in ("week", "month"):
        then = past.get(when)
        text, cls = delta(name, now, None if then is None else then.get(name))
        out.append(html.Span([html.Em(t(f"uwall.{when}", lang)), text],
                             className=f"uw-delta {cls}"))
    return out


def colour_level(name: str, value: Any, top: Any) -> int | None:
    """0 (good) … 3 (poor) for the map, None when there is no figure."""
    if value is None:
        return None
    if name in RATE_STEPS:
        steps = RATE_STEPS[name]
        if name == "rework_rate":
            return next((n for n, s in enumerate(steps) if value <= s), 3)
        return next((n for n, s in enumerate(steps) if value >= s), 3)
    if not top:
        return 0 if name not in GOOD_HIGH else None
    share = value / top
    level = 0 if value == 0 else 1 if share < 0.34 else 2 if share < 0.67 else 3
    return 3 - level if name in GOOD_HIGH and value else level


def map_values(children: list[dict], by: str, theme: Theme,
               lang: str) -> dict[str, list]:
    """Fill, outline, hover and label of each child, coloured by ``by``."""
    top = max((c["kpis"][by] or 0 for c in children), default=0)
    fill, line, hover, labels = [], [], [], []
    for child in children:
        value = child["kpis"][by]
        level = colour_level(by, value, top)
        colour = theme.silent if level is None else theme.density[level]
        fill.append(rgba(colour, 0.42))
        line.append(colour)
        text = value_text(by, value)
        labels.append(f"{child['name']}<br>{text}")
        hover.append(f"{child['name']} · {t('uwall.kpi.' + by, lang)} {text}")
    return {"fill": fill, "line": line, "hover": hover, "labels": labels}


def _rings(geometry) -> tuple[list, list]:
    """x, y of every outer ring of a (Multi)Polygon, apart by None."""
    xs: list = []
    ys: list = []
    for polygon in getattr(geometry, "geoms", [geometry]):
        x, y = polygon.exterior.coords.xy
        xs += [*x, None]
        ys += [*y, None]
    return xs, ys


def children_map_figure(outlines: list[tuple[str, Any]], values: dict[str, list],
                        *, theme: Theme, lang: str = "zh") -> go.Figure:
    """The children's outlines (``(id, geometry)``, lon/lat, drawn on plain
    axes: no tile server), coloured as ``values`` says, each labelled."""
    if not outlines:
        return empty_figure(theme, lang)
    fig = go.Figure(layout=_base_layout(theme, hovermode="closest",
                                        uirevision="uw-map"))
    cx, cy = [], []
    for n, (unit, geometry) in enumerate(outlines):
        xs, ys = _rings(geometry)
        fig.add_trace(go.Scatter(
            x=xs, y=ys, mode="lines", fill="toself", name=unit,
            fillcolor=values["fill"][n], line={"color": values["line"][n],
                                               "width": 2},
            hoverinfo="text", text=values["hover"][n], hoveron="fills"))
        point = geometry.representative_point()
        cx.append(point.x)
        cy.append(point.y)
    fig.add_trace(go.Scatter(x=cx, y=cy, mode="text", text=values["labels"],
                             textfont={"size": 16, "color": theme.text},
                             hoverinfo="skip"))
    fig.add_trace(go.Scatter(x=[], y=[], mode="lines", hoverinfo="skip",
                             line={"color": theme.accent, "width": 5}))
    lat = sum(cy) / len(cy)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False, scaleanchor="x",
                     scaleratio=1 / math.cos(math.radians(lat)))
    return fig


def render_compare(children: list[dict], lang: str) -> html.Table:
    """Each child's figures now, against its own last week and last month."""
    head = html.Tr([html.Th(t("uwall.col_unit", lang)),
                    *(html.Th(t(f"uwall.kpi.{k}", lang)) for k in COMPARED)])
    rows = [html.Tr([
        html.Td(child["name"], className="uw-name"),
        *(html.Td([html.Div(value_text(k, child["kpis"][k]), className="uw-now"),
                   html.Div(render_past(k, child["kpis"][k], child["past"], lang),
                            className="uw-deltas")]) for k in COMPARED)],
        className="attention" if child["kpis"]["overdue"] else "")
        for child in children]
    return html.Table([html.Thead(head), html.Tbody(rows)], className="uw-table")


def render_ranking(children: list[dict], by: str, lang: str) -> list[html.Li]:
    """The children ranked by ``by``, poorest first (one click away)."""
    known = [c for c in children if c["kpis"][by] is not None]
    if not known:
        return [html.Li(t("uwall.no_figure", lang), className="empty")]
    ranked = sorted(known, key=lambda c: c["kpis"][by], reverse=by not in GOOD_HIGH)
    top = max(abs(c["kpis"][by]) for c in ranked) or 1
    return [html.Li(className="rank", children=[
        html.Span(str(n), className=f"rank-no rank-{n}"),
        html.Span(c["name"], className="rank-name"),
        html.Span(className="rank-bar", children=html.I(
            style={"width": f"{max(2, round(100 * c['kpis'][by] / top))}%"})),
        html.Span(value_text(by, c["kpis"][by]), className="rank-in")])
        for n, c in enumerate(ranked, start=1)]


def render_escalated(rows: list[dict], lang: str, tz: ZoneInfo) -> list[html.Li]:
    if not rows:
        return [html.Li(t("uwall.no_escalated", lang), className="empty")]
    return render_ticker(rows, lang, tz)


def render_spot(child: dict | None, n: int, total: int, lang: str) -> html.Div:
    """One child that needs attention, with its figures against its past."""
    if child is None:
        return html.Div(t("uwall.all_clear", lang), className="uw-clear")
    facts = [html.Div([html.Span(t(f"uwall.kpi.{k}", lang), className="fact-k"),
                       html.Span(value_text(k, child["kpis"][k]),
                                 className="fact-v"),
                       html.Span(render_past(k, child["kpis"][k], child["past"],
                                             lang), className="fact-d")],
                      className="fact")
             for k in ("overdue", "incidents_open", "on_time_rate", "owned_here")]
    return html.Div(className="uw-spot", children=[
        html.Div([html.Span(child["name"], className="uw-spot-name"),
                  html.Span(t("uwall.spot_of", lang, n=n, total=total),
                            className="uw-spot-n")], className="uw-spot-head"),
        html.Div(facts, className="uw-spot-facts")])
