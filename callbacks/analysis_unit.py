"""Callbacks of a unit's analysis: filters → the unit's history → figures.

:func:`update_unit_views` is the glue: check the filters (the URL's on the
first draw, the widgets' after), read every site under the unit once
(web/unit_export.py), fill the tiles, the table by child unit, the charts,
the recurring problems and the export links. The unit's id comes from the
page's store and the request gate has already refused a unit outside the
caller's reach (web/tenant.py); :func:`bulletin_url` links the month's PDF.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import dash
from dash import Dash, Input, Output, State, html

from callbacks.analysis import KEEP_QUERY_IN_ADDRESS
from data.history.dataset import FilterError
from layouts import analysis_unit as page
from layouts import unit_figures as figs
from layouts.analysis_figures import empty_figure
from layouts.i18n import t
from layouts.theme import LIGHT
from web import unit_export
from web.state import AppState

ROWS = 12


def _cell(value: Any, rate: bool) -> html.Td:
    return html.Td(figs.percent(value) if rate else f"{int(value):,}",
                   className="num")


def children_rows(view: Any, lang: str, query: dict[str, str]) -> html.Table:
    """The table by child unit, each name a link one level down (a grid's to
    its site's analysis), with the same filters."""
    head = [t("ua.child" if view.unit.children else "analysis.grids", lang),
            *(t(k, lang) for k in figs.COUNT_KEYS.values()),
            *(t(k, lang) for k in figs.RATE_KEYS.values())]
    rows = []
    for r in view.children.to_dict("records"):
        if view.unit.children:
            where = {"unit": r["unit"]}
        else:
            site, grid = r["unit"].split("/")
            where = {"site": site, "grids": grid}
        link = "/analysis?" + urlencode({**where, **query, "lang": lang})
        rows.append(html.Tr([html.Td(html.A(r["name"], href=link)),
                             *(_cell(r[c], False) for c in figs.COUNT_KEYS),
                             *(_cell(r[c], True) for c in figs.RATE_KEYS)]))
    return html.Table([html.Thead(html.Tr([html.Th(h) for h in head])),
                       html.Tbody(rows)], **{"data-testid": "ua-children-table"})


def recurring_rows(view: Any, lang: str) -> html.Table | html.P:
    if view.top.empty:
        return html.P(t("ua.no_repeats", lang), className="an-subtitle")
    kinds = {"category": t("ua.by_category", lang), "grid": t("ua.by_grid", lang)}
    head = [t("ua.kind", lang), t("ua.problem", lang), t("ua.repeats", lang),
            t("ua.reported", lang)]
    rows = [html.Tr([html.Td(kinds[r.kind]), html.Td(view.names.get(r.key, r.key)),
                     html.Td(int(r.repeats), className="num"),
                     html.Td(int(r.reported), className="num")])
            for r in view.top.head(ROWS).itertuples()]
    return html.Table([html.Thead(html.Tr([html.Th(h) for h in head])),
                       html.Tbody(rows)])


def export_links(unit: str, query: dict[str, str]) -> list[html.A]:
    suffix = "?" + urlencode(query)
    return [html.A(f"{t(key, query.get('lang', 'zh'))} {fmt.upper()}",
                   className="an-export-link", download="",
                   href=f"/api/v1/units/{unit}/export/{table}.{fmt}{suffix}")
            for table, key in (("children", "ua.by_child"),
                               ("recurring", "ua.recurring"),
                               ("incidents", "ua.reported"))
            for fmt in ("csv", "xlsx")]


def _blank(lang: str, message: str) -> tuple:
    empty = empty_figure(LIGHT, lang)
    return (message, *["—"] * len(page.KPIS), empty, empty, None, None, [], "",
            dash.no_update)


def update_unit_views(args: dict[str, str], unit: str, lang: str,
                      state: AppState) -> tuple:
    """Everything the page shows for the filters in ``args``."""
    try:
        view = unit_export.unit_view(state, unit, args, lang)
    except FilterError as exc:
        return _blank(lang, t(f"analysis.err.{exc.code}", lang, **exc.values))
    f = view.filters
    query = {"start": f.start.isoformat(), "end": f.end.isoformat(),
             **({"categories": ",".join(f.categories)} if f.categories else {}),
             **({"repeat_days": str(f.repeat_days)} if f.repeat_days != 7 else {})}
    message = (t("analysis.empty_range", lang, start=f.start, end=f.end)
               if view.empty else None)
    tiles = [figs.percent(view.totals[k]) if k in figs.RATE_KEYS
             else f"{int(view.totals[k] or 0):,}" for k in page.KPIS]
    as_of = (f"{t('analysis.data_time', lang)}: {view.as_of:%Y-%m-%d %H:%M}"
             if view.as_of else "")
    return (message, *tiles, figs.rates_figure(view.children, theme=LIGHT, lang=lang),
            figs.daily_figure(view.reported, view.closed_at, theme=LIGHT, lang=lang),
            children_rows(view, lang, query), recurring_rows(view, lang),
            export_links(unit, {**query, "lang": lang}), as_of,
            "?" + urlencode({"unit": unit, **query,
                             **({"lang": lang} if lang == "en" else {})}))


def bulletin_url(month: str | None, unit: str, lang: str) -> str:
    if not month or len(month) != 7:
        return "#"
    return f"/api/v1/units/{unit}/bulletin/{month}.pdf?" + urlencode({"lang": lang})


def register(app: Dash, state: AppState) -> None:
    def views(start, end, categories, repeat, unit, lang, raw):
        first = dash.callback_context.triggered_id is None
        args = (raw or {}) if first else {
            "start": start or "", "end": end or "",
            "categories": ",".join(categories or ()),
            "repeat_days": "" if repeat is None else str(repeat)}
        return update_unit_views(args, unit, lang, state)

    app.callback(
        Output(page.MESSAGE, "children"),
        *(Output(ident, "children") for ident, _ in page.KPIS.values()),
        Output(page.RATES_GRAPH, "figure"), Output(page.DAILY_GRAPH, "figure"),
        Output(page.CHILDREN, "children"), Output(page.RECURRING, "children"),
        Output(page.EXPORTS, "children"), Output(page.DATA_TIME, "children"),
        Output(page.QUERY, "data"),
        Input(page.DATES, "start_date"), Input(page.DATES, "end_date"),
        Input(page.CATEGORIES, "value"), Input(page.REPEAT, "value"),
        State(page.UNIT, "data"), State(page.LANG, "data"), State(page.RAW, "data"),
    )(views)

    app.clientside_callback(
        KEEP_QUERY_IN_ADDRESS,
        Output(page.QUERY_SINK, "data"), Input(page.QUERY, "data"))

    app.callback(
        Output(page.BULLETIN_LINK, "href"), Input(page.MONTH, "value"),
        State(page.UNIT, "data"), State(page.LANG, "data"),
    )(bulletin_url)
