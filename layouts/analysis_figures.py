"""Figure builders of the analyst's workspace: pure, no Redis, no Dash.

Each builder turns the frame of one view (from :mod:`data.history.analytics`, with
display names added by :mod:`layouts.analysis_charts`) into a figure without a
title: the page puts the title on the card, an export stamps it with
:func:`stamp` (title, filters, range, data time, who exported it). An empty
frame gives a readable "no data" figure.
"""

from __future__ import annotations

import html

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from data.terms import CHAIN
from layouts.i18n import t
from layouts.theme import Theme

PALETTE = ("#2563eb", "#f59e0b", "#10b981", "#ef4444", "#8b5cf6", "#06b6d4",
           "#ec4899", "#84cc16", "#f97316", "#64748b", "#14b8a6", "#a855f7")
HEAT = ((0.0, "#f1f5fb"), (0.25, "#bfdbfe"), (0.5, "#60a5fa"), (0.75, "#2563eb"),
        (1.0, "#1e3a8a"))
SLA = ((0.0, "#dc2626"), (0.8, "#facc15"), (0.9, "#a3e635"), (1.0, "#16a34a"))
OUTCOME_COLOURS = {"closed": "#16a34a", "open": "#f59e0b", "other": "#94a3b8"}
LEVEL_COLOURS = {"grid": "#2563eb", "community": "#7c3aed", "street": "#db2777",
                 "district": "#dc2626"}


def base_layout(theme: Theme, **extra) -> dict:
    layout = dict(
        paper_bgcolor=theme.panel, plot_bgcolor=theme.panel,
        font={"family": theme.font, "color": theme.text, "size": 13},
        margin={"l": 56, "r": 20, "t": 16, "b": 44},
        hoverlabel={"font": {"family": theme.font}},
        legend={"orientation": "h", "y": -0.14, "x": 0},
    )
    layout.update(extra)
    return layout


def _axes(fig: go.Figure, theme: Theme) -> go.Figure:
    fig.update_xaxes(gridcolor=theme.grid_line, zeroline=False, linecolor=theme.muted)
    fig.update_yaxes(gridcolor=theme.grid_line, zeroline=False, linecolor=theme.muted)
    return fig


def _date_ticks(fig: go.Figure, lang: str) -> go.Figure:
    """Date ticks in the reader's language (5月6日, not "May 6"), at any zoom."""
    half_day, day, month = 43_200_000, 86_400_000, "M1"
    fig.update_xaxes(tickformatstops=[  # (a one-day step would match both ends)
        {"dtickrange": [None, half_day], "value": t("fmt.tick_time", lang)},
        {"dtickrange": [day, month], "value": t("fmt.tick_day", lang)},
        {"dtickrange": [month, "M12"], "value": t("fmt.tick_month", lang)},
        {"dtickrange": ["M12", None], "value": t("fmt.tick_year", lang)},
    ])
    return fig


def empty_figure(theme: Theme, lang: str = "zh") -> go.Figure:
    """A figure that says there is nothing to show for these filters."""
    fig = go.Figure(layout=base_layout(theme))
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    fig.add_annotation(text=t("analysis.no_data", lang), showarrow=False,
                       font={"size": 18, "color": theme.muted})
    return fig


def flow_heatmap_figure(frame: pd.DataFrame, *, theme: Theme,
                        lang: str = "zh") -> go.Figure:
    """Average passages per hour (x) and weekday (y)."""
    if frame.empty:
        return empty_figure(theme, lang)
    grid = frame.pivot(index="weekday", columns="hour", values="passages")
    grid = grid.reindex(index=range(7), columns=range(24))
    fig = go.Figure(go.Heatmap(
        z=grid.to_numpy(), x=[f"{h:02d}" for h in range(24)],
        y=[t(f"analysis.weekday.{d}", lang) for d in range(7)], colorscale=HEAT,
        xgap=1, ygap=1, hoverongaps=False,
        colorbar={"title": {"text": t("analysis.per_hour", lang)}, "thickness": 12},
        hovertemplate="%{y} %{x}:00 · %{z:,.0f}<extra></extra>"))
    fig.update_layout(base_layout(theme))
    fig.update_yaxes(autorange="reversed")
    fig.update_xaxes(title_text=t("analysis.hour_of_day", lang))
    return fig


def daily_trend_figure(frame: pd.DataFrame, *, theme: Theme,
                       lang: str = "zh") -> go.Figure:
    """People (top) and vehicles (bottom) in per day, against a week earlier."""
    if frame.empty or frame[["people_in", "vehicles_in"]].isna().all().all():
        return empty_figure(theme, lang)
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.1,
                        subplot_titles=(t("analysis.people_in", lang),
                                        t("analysis.vehicles_in", lang)))
    days = pd.to_datetime(frame["day"])
    for row, name, colour in ((1, "people", theme.flow_in),
                              (2, "vehicles", theme.flow_out)):
        fig.add_bar(x=days, y=frame[f"{name}_in"], marker_color=colour, row=row,
                    col=1, name=t(f"analysis.{name}_in", lang),
                    customdata=frame[f"{name}_wow_pct"],
                    hovertemplate="%{x|%Y-%m-%d} · %{y:,}<br>"
                    + t("analysis.wow", lang) + " %{customdata:+.1f}%<extra></extra>")
        fig.add_scatter(x=days, y=frame[f"{name}_in_week_ago"], mode="lines+markers",
                        line={"color": theme.week_ago, "dash": "dot", "width": 2},
                        marker={"size": 7}, row=row, col=1,
                        name=t("analysis.week_ago", lang), showlegend=row == 1,
                        hovertemplate="%{y:,}<extra></extra>")
    fig.update_layout(base_layout(theme, bargap=0.25, hovermode="x unified"))
    fig.update_annotations(font={"size": 13, "color": theme.muted}, x=0,
                           xanchor="left")
    return _date_ticks(_axes(fig, theme), lang)


def incident_breakdown_figure(frame: pd.DataFrame, *, theme: Theme,
                              lang: str = "zh") -> go.Figure:
    """Four bar panels: by category, grid, channel and level."""
    if frame.empty or frame["count"].sum() == 0:
        return empty_figure(theme, lang)
    dims = ("category", "grid", "channel", "level")
    fig = make_subplots(rows=2, cols=2, horizontal_spacing=0.2,
                        vertical_spacing=0.16,
                        subplot_titles=[t(f"analysis.by_{d}", lang) for d in dims])
    for n, dim in enumerate(dims):
        part = frame[frame["dimension"] == dim].head(12).iloc[::-1]
        fig.add_bar(x=part["count"], y=part["label"], orientation="h",
                    marker_color=PALETTE[n], text=part["count"],
                    textposition="outside", cliponaxis=False, showlegend=False,
                    hovertemplate="%{y} · %{x}<extra></extra>",
                    row=n // 2 + 1, col=n % 2 + 1)
    fig.update_layout(base_layout(theme, margin={"l": 120, "r": 30, "t": 30,
                                                  "b": 20}))
    fig.update_annotations(font={"size": 13, "color": theme.muted})
    fig.update_yaxes(automargin=True)
    return _axes(fig, theme)


def resolve_time_figure(frame: pd.DataFrame, *, theme: Theme,
                        lang: str = "zh") -> go.Figure:
    """Hours from report to close, by level, with median and 90th percentile."""
    if frame.empty:
        return empty_figure(theme, lang)
    fig = go.Figure()
    for level in sorted(frame["level"].unique()):
        part = frame[frame["level"] == level]
        fig.add_histogram(x=part["hours"], name=part["level_name"].iloc[0],
                          marker_color=theme.levels.get(int(level), theme.accent),
                          opacity=0.85, nbinsx=30,
                          hovertemplate="%{x} h · %{y}<extra></extra>")
    for q, key in ((0.5, "analysis.median"), (0.9, "analysis.p90")):
        value = float(frame["hours"].quantile(q))
        fig.add_vline(x=value, line={"color": theme.text, "dash": "dash", "width": 1},
                      annotation_text=f"{t(key, lang)} {value:.1f} h",
                      annotation_position="top right")
    fig.update_layout(base_layout(theme, barmode="stack", bargap=0.05))
    fig.update_xaxes(title_text=t("analysis.hours", lang))
    fig.update_yaxes(title_text=t("analysis.incidents", lang))
    return _axes(fig, theme)


def sla_figure(frame: pd.DataFrame, *, theme: Theme, lang: str = "zh") -> go.Figure:
    """On-time rate per grid (y) and level (x), with closed and overdue counts."""
    if frame.empty or frame["closed"].sum() + frame["overdue_open"].sum() == 0:
        return empty_figure(theme, lang)
    rate = frame.pivot(index="grid_name", columns="level_name", values="on_time_rate")
    text = frame.assign(cell=[
        (f"{r:.0%}" if pd.notna(r) else "—") + f"<br>{c}·{o}"
        for r, c, o in zip(frame["on_time_rate"], frame["closed"],
                           frame["overdue_open"], strict=True)]).pivot(
        index="grid_name", columns="level_name", values="cell")
    levels = [t(f"level.{n}", lang) for n in (1, 2, 3)
              if t(f"level.{n}", lang) in rate.columns]
    rate, text = rate[levels], text[levels].fillna("")
    fig = go.Figure(go.Heatmap(
        z=rate.to_numpy(dtype=float), x=levels, y=list(rate.index), zmin=0, zmax=1,
        colorscale=SLA, text=text.to_numpy(), texttemplate="%{text}", xgap=2, ygap=2,
        colorbar={"title": {"text": t("analysis.on_time_rate", lang)},
                  "tickformat": ".0%", "thickness": 12},
        hovertemplate="%{y} · %{x}<br>%{z:.0%}<extra></extra>"))
    fig.update_layout(base_layout(theme))
    fig.update_yaxes(autorange="reversed")
    fig.add_annotation(text=t("analysis.sla_legend", lang), showarrow=False,
                       xref="paper", yref="paper", x=0, y=-0.12, xanchor="left",
                       font={"size": 11, "color": theme.muted})
    return fig


def solved_in_grid_figure(frame: pd.DataFrame, *, theme: Theme,
                          lang: str = "zh") -> go.Figure:
    """Closures per period (bars) and the share solved in the grid (line)."""
    if frame.empty:
        return empty_figure(theme, lang)
    periods = pd.to_datetime(frame["period"])
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_bar(x=periods, y=frame["closed"], name=t("analysis.closed", lang),
                marker_color="rgba(100,116,139,0.35)", secondary_y=False)
    fig.add_scatter(x=periods, y=frame["share"], mode="lines+markers",
                    name=t("analysis.in_grid_share", lang),
                    line={"color": theme.accent, "width": 3}, secondary_y=True,
                    hovertemplate="%{x|%Y-%m-%d} · %{y:.0%}<extra></extra>")
    fig.update_layout(base_layout(theme, hovermode="x unified"))
    fig.update_yaxes(title_text=t("analysis.closed", lang), secondary_y=False)
    fig.update_yaxes(title_text=t("analysis.in_grid_share", lang), range=[0, 1.05],
                     tickformat=".0%", secondary_y=True, showgrid=False)
    return _date_ticks(_axes(fig, theme), lang)


def escalation_figure(frame: pd.DataFrame, *, theme: Theme,
                      lang: str = "zh") -> go.Figure:
    """Sankey: grid → community → street → district, then the outcome."""
    if frame.empty:
        return empty_figure(theme, lang)
    nodes = [n for n in (*CHAIN, "closed", "open", "other")
             if n in set(frame["source"]) | set(frame["target"])]
    index = {n: i for i, n in enumerate(nodes)}
    colours = [LEVEL_COLOURS.get(n) or OUTCOME_COLOURS[n] for n in nodes]
    fig = go.Figure(go.Sankey(
        arrangement="snap", valueformat=",d",
        node={"label": [t(f"analysis.node.{n}", lang) for n in nodes],
              "color": colours, "pad": 18, "thickness": 16,
              "line": {"width": 0}},
        link={"source": [index[s] for s in frame["source"]],
              "target": [index[x] for x in frame["target"]],
              "value": frame["count"].tolist(),
              "color": ["rgba(148,163,184,0.35)"] * len(frame)}))
    fig.update_layout(base_layout(theme, margin={"l": 16, "r": 16, "t": 16,
                                                  "b": 16}))
    return fig


def repeats_figure(frame: pd.DataFrame, *, theme: Theme,
                   lang: str = "zh") -> go.Figure:
    """Possible false closures per grid, stacked by category."""
    if frame.empty:
        return _no_repeats(theme, lang)
    counts = frame.groupby(["grid_name", "category_name"]).size().reset_index(
        name="count")
    fig = go.Figure()
    for n, (category, part) in enumerate(counts.groupby("category_name")):
        fig.add_bar(x=part["grid_name"], y=part["count"], name=category,
                    marker_color=PALETTE[n % len(PALETTE)],
                    hovertemplate="%{x} · " + category + " · %{y}<extra></extra>")
    fig.update_layout(base_layout(theme, barmode="stack"))
    fig.update_yaxes(title_text=t("analysis.repeats", lang))
    if counts.groupby("grid_name")["count"].sum().max() <= 10:
        # a few: whole numbers only; never one tick per unit for hundreds
        # (a tick and grid line for each of 400 took Chromium ~10 s to draw)
        fig.update_yaxes(dtick=1)
    return _axes(fig, theme)


def _no_repeats(theme: Theme, lang: str) -> go.Figure:
    fig = empty_figure(theme, lang)
    fig.layout.annotations[0].text = t("analysis.no_repeats", lang)
    return fig


def stamp(fig: go.Figure, title: str, lines: list[str], *, theme: Theme,
          height: int) -> go.Figure:
    """A copy of ``fig`` for export: a title on top and a provenance footer
    (``lines``) at the bottom of an image ``height`` pixels high.

    ``title`` and ``lines`` are plain text (they carry names people typed,
    such as the exporter's display name): escaped here, since plotly reads
    ``<a href>``, ``<b>`` and entities in a title or an annotation as markup."""
    title = html.escape(title, quote=False)
    lines = [html.escape(line, quote=False) for line in lines]
    out = go.Figure(fig)
    old = out.layout.margin
    footer = 16 * len(lines) + 10
    bottom = (old.b or 0) + footer + 12
    top = 84
    plot = max(1, height - top - bottom)
    out.update_layout(
        title={"text": f"<b>{title}</b>", "x": 0.012, "xanchor": "left",
               "y": 1 - 14 / height, "yanchor": "top",
               "font": {"size": 20, "color": theme.text}},
        legend={"orientation": "h", "x": 1, "xanchor": "right", "y": 1.0,
                "yanchor": "bottom"},
        margin={"l": max(old.l or 0, 56), "r": max(old.r or 0, 24), "t": top,
                "b": bottom},
        paper_bgcolor="#ffffff")
    out.add_shape(type="line", xref="paper", yref="paper", x0=0, x1=1,
                  y0=-(bottom - footer) / plot, y1=-(bottom - footer) / plot,
                  line={"color": theme.grid_line, "width": 1})
    out.add_annotation(
        text="<br>".join(lines), showarrow=False, xref="paper", yref="paper",
        x=0, y=-(bottom - footer + 4) / plot, xanchor="left", yanchor="top",
        align="left", font={"size": 11, "color": theme.muted})
    return out
