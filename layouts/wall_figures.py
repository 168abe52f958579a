"""Figure builders of the wall: pure functions of frames, no Redis, no Dash.

The map draws grid polygons on plain lon/lat axes (no tile server, no map
style, no glyph downloads: it works offline), with the aspect ratio of the
site's latitude. Every builder turns an empty frame into a readable "no data"
figure. Trace order is fixed (``MAP_*`` constants) so that updates can patch
single properties instead of rebuilding the figure.
"""

from __future__ import annotations

import math

import pandas as pd
import plotly.graph_objects as go

from layouts.i18n import t
from layouts.theme import Theme

# map traces after the one-per-grid polygons: index = n_grids + offset
MAP_LABELS, MAP_ENTRANCES, MAP_INCIDENTS, MAP_SPOTLIGHT = 0, 1, 2, 3
INCIDENT_SYMBOLS = {1: "diamond", 2: "triangle-up", 3: "circle"}


def _base_layout(theme: Theme, **extra) -> dict:
    return {
        "paper_bgcolor": "rgba(0,0,0,0)", "plot_bgcolor": "rgba(0,0,0,0)",
        "font": {"family": theme.font, "color": theme.text, "size": 14},
        "margin": {"l": 8, "r": 8, "t": 8, "b": 8}, "showlegend": False,
        **extra,
    }


def empty_figure(theme: Theme, lang: str = "zh") -> go.Figure:
    """A figure that says there is nothing to show yet."""
    fig = go.Figure(layout=_base_layout(theme))
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    fig.add_annotation(text=t("no_data", lang), showarrow=False,
                       font={"size": 22, "color": theme.muted})
    return fig


def rgba(hex_colour: str, alpha: float) -> str:
    value = hex_colour.lstrip("#")
    r, g, b = (int(value[i:i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def entrance_size(flow: float) -> float:
    """Marker size for an entrance's current flow: grows with the square root."""
    return round(min(46.0, 9.0 + 3.2 * math.sqrt(max(0.0, flow))), 1)


def entrance_colours(silent: list[bool], theme: Theme) -> dict[str, list[str]]:
    """Fill and outline of each entrance: filled in the accent colour, or
    hollow and grey while its counter is silent (its flow is not known)."""
    return {"entrance_fill": [rgba(theme.silent, 0.0) if quiet
                              else rgba(theme.accent, 0.55) for quiet in silent],
            "entrance_line": [theme.silent if quiet else theme.accent
                              for quiet in silent]}


def grid_map_figure(grids: pd.DataFrame, entrances: pd.DataFrame,
                    incidents: pd.DataFrame, *, theme: Theme,
                    lang: str = "zh") -> go.Figure:
    """Grids coloured by density level, entrances by flow, open incidents.

    ``grids``: id, label, xs, ys (outline), cx, cy (centre), level, hover.
    ``entrances``: id, lon, lat, flow, hover, silent (drawn hollow; optional).
    ``incidents``: lon, lat, level, hover.
    """
    if grids.empty:
        return empty_figure(theme, lang)
    fig = go.Figure(layout=_base_layout(theme, hovermode="closest",
                                        uirevision="wall-map"))
    for row in grids.itertuples():
        colour = theme.density[int(row.level)]
        fig.add_trace(go.Scatter(
            x=row.xs, y=row.ys, mode="lines", fill="toself",
            fillcolor=rgba(colour, 0.38), line={"color": colour, "width": 2},
            hoverinfo="text", text=row.hover, hoveron="fills", name=row.id))
    fig.add_trace(go.Scatter(
        x=grids["cx"], y=grids["cy"], mode="text", text=grids["label"],
        textfont={"size": 15, "color": theme.text}, hoverinfo="skip"))
    colours = entrance_colours(list(entrances["silent"]) if "silent" in entrances
                               else [False] * len(entrances), theme)
    fig.add_trace(go.Scatter(
        x=entrances["lon"], y=entrances["lat"], mode="markers",
        marker={"size": [entrance_size(f) for f in entrances["flow"]],
                "color": colours["entrance_fill"],
                "line": {"color": colours["entrance_line"], "width": 2}},
        text=entrances["hover"], hoverinfo="text"))
    fig.add_trace(incident_trace(incidents, theme))
    fig.add_trace(go.Scatter(x=[], y=[], mode="lines", hoverinfo="skip",
                             line={"color": "#ffffff", "width": 4}))
    lat = float(grids["cy"].mean())
    fig.update_xaxes(visible=False, fixedrange=False)
    fig.update_yaxes(visible=False, scaleanchor="x",
                     scaleratio=1 / math.cos(math.radians(lat)))
    return fig


def incident_trace(incidents: pd.DataFrame, theme: Theme) -> go.Scatter:
    levels = incidents["level"].astype(int) if not incidents.empty else []
    return go.Scatter(
        x=list(incidents["lon"]) if not incidents.empty else [],
        y=list(incidents["lat"]) if not incidents.empty else [],
        mode="markers",
        marker={"size": 16, "color": [theme.levels[lv] for lv in levels],
                "symbol": [INCIDENT_SYMBOLS[lv] for lv in levels],
                "line": {"color": "#ffffff", "width": 1.5}},
        text=list(incidents["hover"]) if not incidents.empty else [],
        hoverinfo="text")


def flow_figure(flow: pd.DataFrame, *, theme: Theme, lang: str = "zh") -> go.Figure:
    """People in and out per minute, with the same minutes a week earlier.

    ``flow``: time, people_in, people_out, in_week_ago, out_week_ago.
    """
    if flow.empty:
        return empty_figure(theme, lang)
    fig = go.Figure(layout=_base_layout(
        theme, uirevision="wall-flow", hovermode="x unified",
        margin={"l": 46, "r": 12, "t": 30, "b": 30},
        legend={"orientation": "h", "x": 0, "y": 1.16, "font": {"size": 14}},
        showlegend=True))
    fig.add_trace(go.Scatter(
        x=flow["time"], y=flow["people_in"], name=t("wall.flow_in", lang),
        mode="lines", line={"color": theme.flow_in, "width": 2.5},
        fill="tozeroy", fillcolor=rgba(theme.flow_in, 0.18)))
    fig.add_trace(go.Scatter(
        x=flow["time"], y=flow["people_out"], name=t("wall.flow_out", lang),
        mode="lines", line={"color": theme.flow_out, "width": 2.5}))
    for column, key in (("in_week_ago", "wall.flow_in_week"),
                        ("out_week_ago", "wall.flow_out_week")):
        fig.add_trace(go.Scatter(
            x=flow["time"], y=flow[column], name=t(key, lang), mode="lines",
            line={"color": theme.week_ago, "width": 1.5,
                  "dash": "dot" if column.startswith("in") else "dash"},
            visible=True if flow[column].notna().any() else "legendonly"))
    fig.update_xaxes(showgrid=False, color=theme.muted, tickformat="%H:%M")
    fig.update_yaxes(gridcolor=theme.grid_line, color=theme.muted, rangemode="tozero")
    return fig
