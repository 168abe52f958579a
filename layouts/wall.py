"""The wall display (大屏) at ``/wall``: a fixed 1920×1080 canvas, scaled to fit.

The canvas never reflows: ``assets/wall.js`` scales it to the window (a
3840×2160 wall shows the same picture, twice as sharp). The layout is the
skeleton with the site's map; the first pushed version fills in the figures
and every later one patches only what changed (``callbacks/wall.py``).
"""

from __future__ import annotations

import json

from dash import dcc, html

from data.site import Site
from layouts import ids
from layouts.i18n import lang_of, t
from layouts.live import LiveLink
from layouts.theme import DARK
from layouts.wall_data import flow_frame, grid_outlines, map_frames
from layouts.wall_figures import flow_figure, grid_map_figure

BROWSER_TEXT = (  # the catalog entries assets/wall.js needs
    "age.seconds", "age.minutes", "age.hours", "age.never", "feed.crowd",
    "feed.traffic", "feed.incident", "wall.fresh", "wall.stale", "wall.stale_age",
    "wall.stale.server", "wall.stale.redis", "wall.stale.aggregator",
    "wall.stale.feeds", "wall.interrupt_left",
)
FEED_SILENT_MS = 30_000  # a feed quiet this long is called silent
GRAPH_CONFIG = {"displayModeBar": False, "scrollZoom": False, "responsive": True}
PEOPLE_KPIS = ("people_in_1h", "people_out_1h", "people_in_today", "people_out_today",
               "vehicles_today", "parking_rate")
INCIDENT_KPIS = ("open", "overdue", "closed_today", "on_time_rate",
                 "solved_in_grid_share")
KPI_LABELS = {
    "people_in_1h": "wall.in_1h", "people_out_1h": "wall.out_1h",
    "people_in_today": "wall.in_today", "people_out_today": "wall.out_today",
    "vehicles_today": "wall.vehicles_today", "parking_rate": "wall.parking",
    "open": "wall.open", "overdue": "wall.overdue",
    "closed_today": "wall.closed_today", "on_time_rate": "wall.on_time",
    "solved_in_grid_share": "wall.in_grid",
}


def flip_digits(value: int | None, width: int = 6) -> list[html.Span]:
    """A number as flip-counter tiles: 001234 with the leading zeros dimmed."""
    text = "—" if value is None else str(max(0, int(value)))
    text = text.rjust(width, "0") if value is not None else text
    significant = False
    tiles = []
    for ch in text:
        significant = significant or ch != "0"
        tiles.append(html.Span(ch, className="flip" if significant else "flip dim"))
    if value == 0:
        tiles[-1].className = "flip"
    return tiles


def panel(title_key: str, lang: str, body, *, class_name: str = "",
          **attrs) -> html.Section:
    return html.Section(className=f"wpanel {class_name}".strip(), children=[
        html.H2(t(title_key, lang), className="wpanel-title"),
        html.Div(body, className="wpanel-body"),
    ], **attrs)


TEST_IDS = {"open": "kpi-incidents-open", "overdue": "kpi-incidents-overdue"}


def kpi_tile(name: str, lang: str, extra: str = "") -> html.Div:
    hook = {"data-testid": TEST_IDS[name]} if name in TEST_IDS else {}
    return html.Div(className=f"kpi {extra}".strip(), children=[
        html.Div("—", id=ids.wall_kpi(name), className="kpi-value", **hook),
        html.Div(t(KPI_LABELS[name], lang), className="kpi-label"),
    ])


def legend(lang: str) -> html.Div:
    items = [html.Span([html.I(style={"background": colour}),
                        t(f"wall.density.{n}", lang)]) for n, colour in
             enumerate(DARK.density)]
    items.append(html.Span([html.I(className="dot"), t("wall.legend_entrance", lang)]))
    items.append(html.Span([html.I(className="dot hollow"),
                            t("wall.legend_silent", lang)]))
    items += [html.Span([html.I(className=f"lvl lvl{n}"), t(f"level.{n}", lang)])
              for n in (1, 2, 3)]
    return html.Div(items, className="map-legend")


def _header(site: Site, lang: str) -> html.Header:
    return html.Header(className="wall-header", children=[
        html.Div(id=ids.WALL_CLOCK, className="wall-clock"),
        html.H1([html.Span(site.name_en if lang == "en" else site.name,
                           className="site"),
                 html.Span(t("wall.title", lang), className="sub")]),
        html.Div(id=ids.WALL_FRESH, className="wall-fresh"),
    ])


def canvas(site: Site, lang: str) -> html.Div:
    """The wall's 1920×1080 canvas with every panel, empty: the live wall and
    the replay (``layouts/replay.py``) fill the same components."""
    outlines = grid_outlines(site, lang)
    grids, entrances, incidents = map_frames(None, site, outlines, lang)
    left = html.Div(className="wall-col", children=[
        panel("wall.panel_people", lang, [
            html.Div(className="kpi-hero", children=[
                html.Div(flip_digits(None), id=ids.WALL_PEOPLE, className="flips",
                         **{"data-testid": "kpi-people-present",
                            "data-estimate": "0"}),
                html.Div([t("wall.people_present", lang),
                          html.Span(id=ids.WALL_PEOPLE_NOTE, className="people-note",
                                    **{"data-testid": "people-estimate"})],
                         className="kpi-label"),
            ]),
            html.Div([kpi_tile(k, lang) for k in PEOPLE_KPIS], className="kpi-grid"),
        ], class_name="p-people"),
        panel("wall.panel_ranking", lang, html.Ol(id=ids.WALL_RANKING,
                                                  className="ranking"),
              class_name="p-ranking"),
        panel("wall.panel_vehicles", lang, [
            html.Div(id=ids.WALL_VEHICLES, className="gates"),
            html.Div(id=ids.WALL_PARKING, className="parking"),
        ], class_name="p-vehicles"),
    ])
    centre = html.Div(className="wall-col wall-centre", children=[
        panel("wall.panel_map", lang, [
            html.Div(dcc.Graph(id=ids.WALL_MAP, config=GRAPH_CONFIG,
                               figure=grid_map_figure(grids, entrances, incidents,
                                                      theme=DARK, lang=lang),
                               className="graph-map"),
                     **{"data-testid": "wall-map"}),
            legend(lang),
        ], class_name="p-map"),
        panel("wall.panel_flow", lang, dcc.Graph(
            id=ids.WALL_FLOW, config=GRAPH_CONFIG, className="graph-flow",
            figure=flow_figure(flow_frame(None, None), theme=DARK, lang=lang)),
            class_name="p-flow"),
    ])
    right = html.Div(className="wall-col", children=[
        panel("wall.panel_incidents", lang,
              html.Div([kpi_tile(k, lang, "kpi-alarm" if k == "overdue" else "")
                        for k in INCIDENT_KPIS], className="kpi-grid kpi-grid-5"),
              class_name="p-incidents"),
        panel("wall.panel_ticker", lang, html.Ul(
            id=ids.WALL_TICKER, className="ticker",
            **{"data-testid": "incident-ticker"}), class_name="p-ticker"),
        panel("wall.panel_spotlight", lang, html.Div(id=ids.WALL_SPOTLIGHT),
              class_name="p-spotlight", **{"data-testid": "spotlight"}),
    ])
    return html.Div(id=ids.WALL_CANVAS, className="wall-canvas", children=[
        _header(site, lang),
        html.Div(id=ids.WALL_ALERT, className="wall-alert",
                 **{"data-testid": "alert-banner"}),
        html.Div(id=ids.WALL_STALE, className="wall-stale",
                 **{"data-testid": "stale-banner"}),
        html.Main([left, centre, right], className="wall-main"),
        html.Div(id=ids.WALL_HEALTH, className="wall-health",
                 **{"data-testid": "feed-health"}),
    ])


def layout(site: Site, lang: str | None = None, *, link: LiveLink,
           reload_hour: int, spot_ms: int, **_: str) -> html.Div:
    """The wall of ``site``: it reloads itself daily at ``reload_hour`` and
    its spotlight turns every ``spot_ms``."""
    lang = lang_of(lang)
    return html.Div(
        id=ids.WALL_ROOT, className="wall",
        **{**link.attrs(), "data-feed-silent-ms": str(FEED_SILENT_MS),
           "data-site": site.id, "data-lang": lang,
           "data-tz": site.timezone, "data-reload-hour": str(reload_hour),
           "data-spot-ms": str(spot_ms),
           "data-i18n": json.dumps({k: t(k, lang) for k in BROWSER_TEXT},
                                   ensure_ascii=False)},
        children=[
            canvas(site, lang),
            dcc.Store(id=ids.WALL_SITE, data=site.id),
            dcc.Store(id=ids.WALL_LANG, data=lang),
            dcc.Store(id=ids.WALL_REQUEST, data=None),
            dcc.Store(id=ids.WALL_APPLIED, data=None),
            # not None: a Store mounting with None fires its callbacks once
            dcc.Store(id=ids.WALL_SPOT_REQUEST, data=0),
            dcc.Store(id=ids.WALL_ACK, data=None),
            dcc.Store(id=ids.WALL_STATUS, data=None),
            dcc.Interval(id=ids.WALL_TICK, interval=1000),
            dcc.Interval(id=ids.WALL_POLL, interval=POLL_MS),
        ])


POLL_MS = 10_000
