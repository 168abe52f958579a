"""A unit's wall (street, district, city) at ``/wall?unit=<unit>``: the same
1920×1080 canvas as a site's wall, scaled to fit, with the same
``data-testid`` hooks on the key figures.

The unit's figures with each against its own last week and last month;
its children on a map coloured by a chosen figure; each child against its
own past (重在纵向对比), the ranking of children one click away; the
incidents escalated to this level; a spotlight turning through the children
that need attention. The layout is the skeleton with the map's outlines; the
event stream fills and patches the rest (``web/unit_wall.py``, applied by
``assets/unit_wall.js``).
"""

from __future__ import annotations

import json

from dash import dcc, html

from layouts import ids
from layouts.i18n import lang_of, t
from layouts.live import LiveLink
from layouts.theme import DARK
from layouts.unit_wall_render import KPIS, TEST_IDS, children_map_figure
from layouts.wall import GRAPH_CONFIG, panel

DEFAULT_BY = "overdue"  # what the map is coloured by, unless the address says
BROWSER_TEXT = ("uwall.fresh", "uwall.stale", "age.seconds", "age.minutes",
                "age.hours", "age.never")


def kpi_tile(name: str, lang: str) -> html.Div:
    hero = name == "people_present"
    return html.Div(className="kpi uw-kpi" + (" uw-hero" if hero else ""),
                    children=[
        html.Div("—", id=ids.unit_wall_kpi(name), className="kpi-value",
                 **{"data-testid": TEST_IDS[name]}),
        html.Div(t(f"uwall.kpi.{name}", lang), className="kpi-label"),
        html.Div(id=ids.unit_wall_past(name), className="uw-past"),
    ])


def colour_choice(unit: str, by: str, lang: str) -> html.Div:
    """The figure the map is coloured by: a link each (a wall's address
    keeps its choice)."""
    return html.Div([html.Span(t("uwall.colour_by", lang), className="uw-by-label"),
                     *(html.A(t(f"uwall.kpi.{k}", lang),
                              href=f"?unit={unit}&by={k}&lang={lang}",
                              className="uw-by on" if k == by else "uw-by")
                       for k in KPIS)], className="uw-by-row")


def map_legend(lang: str) -> html.Div:
    return html.Div([html.Span(t("uwall.better", lang)),
                     *(html.I(style={"background": c}) for c in DARK.density),
                     html.Span(t("uwall.worse", lang)),
                     html.I(style={"background": DARK.silent}),
                     html.Span(t("uwall.no_figure", lang))],
                    className="map-legend uw-legend")


def canvas(unit: dict, outlines: list, by: str, lang: str) -> html.Div:
    """``unit``: id, level, name; ``outlines``: (child id, geometry)."""
    blank = {"fill": [DARK.silent] * len(outlines),
             "line": [DARK.silent] * len(outlines),
             "hover": [""] * len(outlines), "labels": [""] * len(outlines)}
    ticker_title = ("uwall.panel_ticker_city" if unit["level"] == "city"
                    else "uwall.panel_ticker")
    left = html.Div(className="wall-col", children=[
        panel("uwall.panel_kpis", lang,
              html.Div([kpi_tile(k, lang) for k in KPIS], className="uw-kpis"),
              class_name="p-uw-kpis"),
    ])
    centre = html.Div(className="wall-col wall-centre", children=[
        panel("uwall.panel_map", lang, [
            colour_choice(unit["id"], by, lang),
            html.Div(dcc.Graph(id=ids.UW_MAP, config=GRAPH_CONFIG,
                               className="graph-map",
                               figure=children_map_figure(outlines, blank,
                                                          theme=DARK, lang=lang)),
                     **{"data-testid": "unit-map"}),
            map_legend(lang),
        ], class_name="p-uw-map"),
        html.Section(className="wpanel p-uw-compare", children=[
            html.Div([html.Button(t("uwall.show_compare", lang), className="on",
                                  **{"data-view": "compare",
                                     "data-testid": "show-compare"}),
                      html.Button(t("uwall.show_ranking", lang),
                                  **{"data-view": "ranking",
                                     "data-testid": "show-ranking"}),
                      html.Span(t("uwall.panel_compare", lang),
                                className="uw-view-title")],
                     className="uw-views"),
            html.Div(id=ids.UW_COMPARE, className="uw-compare",
                     **{"data-testid": "unit-compare"}),
            html.Ol(id=ids.UW_RANKING, className="ranking uw-ranking",
                    **{"data-testid": "unit-ranking"}),
        ]),
    ])
    right = html.Div(className="wall-col", children=[
        panel(ticker_title, lang, html.Ul(id=ids.UW_TICKER, className="ticker",
                                          **{"data-testid": "incident-ticker"}),
              class_name="p-uw-ticker"),
        panel("uwall.panel_spotlight", lang, html.Div(id=ids.UW_SPOTLIGHT),
              class_name="p-uw-spotlight", **{"data-testid": "spotlight"}),
    ])
    return html.Div(id=ids.WALL_CANVAS, className="wall-canvas uw-canvas", children=[
        html.Header(className="wall-header", children=[
            html.Div(id=ids.UW_CLOCK, className="wall-clock"),
            html.H1([html.Span(unit["name"], className="site"),
                     html.Span(f"{t('uwall.level.' + unit['level'], lang)}"
                               f"{t('uwall.title', lang)}", className="sub")]),
            html.Div(id=ids.UW_FRESH, className="wall-fresh"),
        ]),
        html.Div(id=ids.UW_STALE, className="wall-stale",
                 **{"data-testid": "stale-banner"}),
        html.Main([left, centre, right], className="wall-main uw-main"),
    ])


def layout(unit: dict, outlines: list, by: str, lang: str | None = None, *,
           link: LiveLink, tz: str, reload_hour: int) -> html.Div:
    """The wall of ``unit`` (id, level, name) with its children's
    ``outlines``, the map coloured by ``by``."""
    lang = lang_of(lang)
    return html.Div(
        id=ids.UW_ROOT, className="wall",
        **{**link.attrs(), "data-unit": unit["id"], "data-lang": lang,
           "data-by": by, "data-tz": tz, "data-reload-hour": str(reload_hour),
           "data-i18n": json.dumps({k: t(k, lang) for k in BROWSER_TEXT},
                                   ensure_ascii=False)},
        children=[canvas(unit, outlines, by, lang)])
