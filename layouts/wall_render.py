"""Dash components of the wall's live panels, from plain shaped values.

Everything people typed (titles, names) goes in as text children, never as
HTML, so it renders as text whatever it contains.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from dash import html

from layouts.i18n import t


def kpi_text(name: str, value: Any) -> str:
    if value is None:
        return "—"
    if name in ("on_time_rate", "solved_in_grid_share"):
        return f"{round(100 * value)}%"
    if name == "parking_rate":
        return f"{value}%"
    if isinstance(value, tuple):
        return " / ".join(f"{v:,}" for v in value)
    return f"{value:,}"


def render_ranking(rows: list[dict], lang: str) -> list[html.Li]:
    if not rows:
        return [html.Li(t("no_data", lang), className="empty")]
    top = max(1, rows[0]["total"])
    return [
        html.Li(className="rank", children=[
            html.Span(str(n), className=f"rank-no rank-{n}"),
            html.Span(row["name"], className="rank-name"),
            html.Span(className="rank-bar", children=html.I(
                style={"width": f"{max(2, round(100 * row['total'] / top))}%"})),
            html.Span(f"{row['in']:,}", className="rank-in"),
            html.Span(f"{row['out']:,}", className="rank-out"),
        ])
        for n, row in enumerate(rows, start=1)
    ]


def render_parking(rows: list[dict], lang: str) -> list[html.Div]:
    out = []
    for row in rows:
        share = row["occupied"] / row["capacity"] if row["capacity"] else 0
        level = "hi" if share >= 0.9 else "mid" if share >= 0.7 else "lo"
        out.append(html.Div(className="lot", children=[
            html.Span(row["name"], className="lot-name"),
            html.Span(className=f"lot-bar {level}", children=html.I(
                style={"width": f"{round(100 * share)}%"})),
            html.Span(f"{row['occupied']}/{row['capacity']}", className="lot-num"),
        ]))
    return out or [html.Div(t("no_data", lang), className="empty")]


def _clock(ms: int, tz: ZoneInfo) -> str:
    return datetime.fromtimestamp(ms / 1000, tz).strftime("%H:%M")


def render_ticker(rows: list[dict], lang: str, tz: ZoneInfo) -> list[html.Li]:
    if not rows:
        return [html.Li(t("wall.no_incidents", lang), className="empty")]
    items = []
    for row in rows:
        who = " ".join(x for x in (row["reporter"], row["phone"]) if x)
        items.append(html.Li(className=f"tick lvl{row['level']}", children=[
            html.Span(className=f"sla sla-{row['sla']}",
                      title=t(f"sla.{row['sla']}", lang)),
            html.Span(t(f"level.{row['level']}", lang),
                      className=f"badge lvl{row['level']}"),
            html.Span(_clock(row["reported_at"], tz), className="tick-time"),
            html.Span([*([html.Span(t("mark.supervised", lang),
                                    className="sup-mark",
                                    **{"data-testid": "wall-supervised"})]
                         if row.get("supervised") else []), row["title"]],
                      className="tick-title"),
            html.Span(t(f"status.{row['status']}", lang), className="tick-status"),
            html.Span(" · ".join(x for x in (row["category"], row["grid"], who) if x),
                      className="tick-meta"),
        ]))
    return items


def render_gates(rows: list[dict], lang: str) -> list[html.Div]:
    """Vehicles in and out per gate in the last hour, busiest first."""
    if not rows:
        return [html.Div(t("no_data", lang), className="empty")]
    top = max(1, max(r["in"] + r["out"] for r in rows))
    return [
        html.Div(className="gate", children=[
            html.Span(row["name"], className="gate-name"),
            html.Span(className="gate-bar", children=[
                html.I(className="in", style={"width": f"{100 * row['in'] / top}%"}),
                html.I(className="out", style={"width": f"{100 * row['out'] / top}%"}),
            ]),
            html.Span(f"↓{row['in']}", className="gate-in"),
            html.Span(f"↑{row['out']}", className="gate-out"),
        ])
        for row in rows
    ]


def render_alerts(alerts: list[dict], lang: str) -> list[html.Div]:
    """The banner: how many alerts, then every alert whole (what, where,
    when); ``assets/wall.js`` shows them one at a time, never cut off."""
    if not alerts:
        return []
    items = [html.Div(className=f"alert-item alert-{a['kind']}", children=[
        html.Span(a["label"], className="alert-kind"),
        html.Span(a["title"], className="alert-title"),
        html.Span(a["grid"], className="alert-grid"),
        html.Span(a["time"], className="alert-time"),
    ], **{"data-testid": "alert-item"}) for a in alerts]
    return [html.Div(className="alert-count", children=[
        html.Span(t("wall.alert_count", lang, n=len(alerts)),
                  **{"data-testid": "alert-count"}),
        html.Span("", className="alert-pager"),
    ]), html.Div(items, className="alert-items")]


def alert_texts(snap: dict, site, lang: str) -> list[dict]:
    """The alert banner's entries, urgent incidents first, then grids by
    how crowded: each with a label, a title, its grid and a time."""
    tz = ZoneInfo(site.timezone)
    reported = {v["id"]: v.get("reported_at")
                for v in snap.get("recent_incidents", [])}
    urgent, crowded = [], []
    for alert in snap.get("alerts", []):
        grid = site.grids.get(alert["grid"])
        grid_name = (grid.name_en if lang == "en" else grid.name) if grid else ""
        if alert["kind"] == "density":
            live = snap["grids"].get(alert["grid"], {})
            crowded.append({
                "kind": f"density{alert['level']}", "id": alert["grid"],
                "level": alert["level"], "grid": grid_name,
                "label": t("wall.alert_crowd", lang, level=t(
                    f"wall.density.{alert['level']}", lang)),
                "title": t("wall.alert_density", lang,
                           people=live.get("people_present", 0),
                           load=round(100 * live.get("load", 0))),
                "time": _clock(snap["generated_ms"], tz)})
        elif alert["kind"] == "urgent":
            cat = site.categories.get(alert["category"])
            at = reported.get(alert["id"])
            urgent.append({
                "kind": "urgent", "id": alert["id"], "level": 4, "grid": grid_name,
                "label": " · ".join(x for x in (t("wall.alert_urgent", lang), (
                    cat.name_en if lang == "en" else cat.name) if cat else "") if x),
                "title": alert["title"],
                "time": _clock(at, tz) if at else ""})
    crowded.sort(key=lambda a: -a["level"])
    return urgent + crowded


def _fact(label_key: str, value: Any, lang: str, **attrs: str) -> html.Div:
    return html.Div(className="fact", children=[
        html.Span(t(label_key, lang), className="fact-label"),
        html.Span(str(value), className="fact-value", **attrs)])


def interrupt_header(kind: str, until_ms: int, queued: int, lang: str) -> html.Div:
    """What took the spotlight, and the countdown (``assets/wall.js`` counts
    it down from ``data-until``, server epoch ms) to the next or the rotation."""
    return html.Div(className="spot-kind urgent",
                    **{"data-testid": "spot-interrupt"}, children=[
        html.Span(t(f"wall.interrupt_{kind}", lang)),
        html.Span("", className="spot-countdown",
                  **{"data-until": str(until_ms), "data-testid": "spot-countdown"}),
        html.Span(t("wall.interrupt_queued", lang, n=queued) if queued else "",
                  className="spot-queued"),
    ])


def _spot_kind(cast: bool, header: html.Div | None, lang: str) -> html.Div:
    if header is not None:
        return header
    return html.Div(t("wall.spot_cast" if cast else "wall.spot_rotating", lang),
                    className="spot-kind cast" if cast else "spot-kind")


def render_grid_spotlight(grid, live: dict, n_open: int, worker_name: str,
                          cast: bool, lang: str,
                          header: html.Div | None = None, *,
                          estimated: bool = False) -> html.Div:
    """``estimated``: a people counter of the grid is silent (≈)."""
    people = f"{live.get('people_present', 0):,}"
    return html.Div(className="spot", children=[
        _spot_kind(cast, header, lang),
        html.H3(grid.name_en if lang == "en" else grid.name, className="spot-title"),
        html.Div(className="spot-facts", children=[
            _fact("wall.spot_people", t("wall.spot_estimate", lang, n=people)
                  if estimated else people, lang,
                  **{"data-testid": "spot-people",
                     "data-estimate": "1" if estimated else "0"}),
            _fact("wall.spot_load", f"{round(100 * live.get('load', 0))}%", lang),
            _fact("wall.spot_flow", f"{live.get('people_in_1h', 0):,} / "
                                    f"{live.get('people_out_1h', 0):,}", lang),
            _fact("wall.spot_open", n_open, lang),
            _fact("wall.spot_branch", grid.party_branch, lang),
            _fact("wall.spot_secretary", grid.party_secretary, lang),
            _fact("wall.spot_worker", worker_name, lang),
        ]),
    ])


def render_incident_spotlight(view: dict, category: str, grid_name: str,
                              lang: str, header: html.Div | None = None) -> html.Div:
    return html.Div(className="spot", children=[
        _spot_kind(True, header, lang),
        html.H3([html.Span(t(f"level.{view['level']}", lang),
                           className=f"badge lvl{view['level']}"),
                 " ", view["title"]], className="spot-title"),
        html.Div(className="spot-facts", children=[
            _fact("wall.spot_status", t(f"status.{view['status']}", lang), lang),
            _fact("wall.spot_owner", t(f"owner.{view['owner_level']}", lang), lang),
            _fact("wall.spot_incident", f"{category} · {grid_name}", lang),
            _fact("wall.spot_reporter",
                  " ".join(x for x in (view["reporter"], view["phone"]) if x) or "—",
                  lang),
        ]),
        html.P(view.get("detail") or "", className="spot-detail"),
    ])
