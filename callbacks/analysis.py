"""Callbacks of the analyst's workspace: filters → history → views and exports.

:func:`update_views` is the glue: check the filters (the URL's on the first
draw, the widgets' after), read the history once, draw every chart, fill the
headline figures and the export links, and hand back the query for the
address bar. :func:`make_briefing` builds the daily briefing PDF while the
button shows that it is working.
"""

from __future__ import annotations

from datetime import date
from typing import Any
from urllib.parse import urlencode

import dash
from dash import ALL, Dash, Input, Output, State, dcc, html

from data.history import analytics
from data.history.dataset import (
    FilterError,
    History,
    parse_filters,
    site_today,
)
from data.incidents.lifecycle import grid_scope
from data.site import Site
from layouts import analysis as page
from layouts import analysis_charts as charts
from layouts.analysis_figures import empty_figure
from layouts.briefing import kpi_text
from layouts.i18n import t
from layouts.theme import LIGHT
from web import export
from web.identity import current_user
from web.render import RenderError
from web.state import AppState
from web.tenant import scoped_filters

FORMAT_LABELS = {"png": "PNG", "svg": "SVG", "pdf": "PDF", "csv": "CSV",
                 "xlsx": "Excel"}
TABLE_ROWS = 12


# the page's address follows its filters, so a link opens the same view
KEEP_QUERY_IN_ADDRESS = """function (query) {
    if (query) { window.history.replaceState(null, "",
        window.location.pathname + query); }
    return window.dash_clientside.no_update;
}"""

def widget_args(start: str | None, end: str | None, grids: list | None,
                categories: list | None, entrance: str | None,
                repeat: int | None) -> dict[str, str]:
    """The widgets' values as URL query values (what parse_filters reads)."""
    return {"start": start or "", "end": end or "", "grids": ",".join(grids or ()),
            "categories": ",".join(categories or ()), "entrance": entrance or "",
            "repeat_days": "" if repeat is None else str(repeat)}


def export_links(site: str, chart: str, query: dict[str, str]) -> list[html.A]:
    suffix = "?" + urlencode(query)
    return [html.A(FORMAT_LABELS[fmt], className="an-export-link", download="",
                   href=f"/api/v1/sites/{site}/export/{chart}.{fmt}{suffix}")
            for fmt in charts.FORMATS]


def repeats_table(frame, lang: str) -> html.Table | None:
    if frame.empty:
        return None
    head = ["analysis.incident", "analysis.grids", "analysis.categories",
            "analysis.reported_at", "analysis.repeat_of", "analysis.days_after"]
    rows = [html.Tr([html.Td(r.title), html.Td(r.grid_name), html.Td(r.category_name),
                     html.Td(f"{r.reported_at:%m-%d %H:%M}"),
                     html.Td(f"{r.previous_title} · {r.previous_closed_at:%m-%d}"),
                     html.Td(f"{r.days_after:.1f}")])
            for r in frame.iloc[::-1].head(TABLE_ROWS).itertuples()]
    return html.Table([html.Thead(html.Tr([html.Th(t(k, lang)) for k in head])),
                       html.Tbody(rows)])


def _blank(lang: str, message: Any) -> tuple:
    n = len(charts.CHARTS)
    return (message, ["—"] * len(page.KPIS), [empty_figure(LIGHT, lang)] * n,
            [[] for _ in range(n)], None, "", dash.no_update)


def update_views(args: dict[str, str], site: Site, lang: str, state: AppState
                 ) -> tuple:
    """Everything the page shows for the filters in ``args``."""
    try:
        filters = parse_filters(args, site, site_today(site))
    except FilterError as exc:
        return _blank(lang, t(f"analysis.err.{exc.code}", lang, **exc.values))
    filters = scoped_filters(filters, grid_scope(current_user(site)))
    if filters is None:
        return _blank(lang, t("analysis.err.out_of_scope", lang))
    data = History(state.config.history).load(site, filters)
    query = {"site": site.id, **filters.query(), **({"lang": lang}
                                                    if lang == "en" else {})}
    message = (t("analysis.empty_range", lang, start=filters.start, end=filters.end)
               if data.empty else None)
    built = {name: charts.build(name, data, site, lang=lang) for name in charts.CHARTS}
    numbers = analytics.summary(data, site)
    links = [export_links(site.id, name, {**filters.query(), "lang": lang})
             for name in charts.CHARTS]
    as_of = (f"{t('analysis.data_time', lang)}: {data.as_of:%Y-%m-%d %H:%M}"
             if data.as_of else "")
    return (message, [kpi_text(k, numbers[k]) for k in page.KPIS],
            [fig for _, fig in built.values()], links,
            repeats_table(built["repeats"][0], lang), as_of, "?" + urlencode(query))


def make_briefing(day: str | None, site: Site, lang: str) -> tuple[Any, str]:
    """The briefing PDF of ``day`` for dcc.Download, or a message saying why not."""
    if grid_scope(current_user(site)):
        return dash.no_update, t("analysis.err.briefing_whole_site", lang)
    try:
        filters = parse_filters({"start": day, "end": day}, site, site_today(site))
    except FilterError as exc:
        return dash.no_update, t(f"analysis.err.{exc.code}", lang, **exc.values)
    if export.history().load(site, filters).empty:
        return dash.no_update, t("analysis.err.no_data", lang, start=day, end=day)
    try:
        pdf = export.briefing_pdf(site, filters.start, lang)
    except RenderError:
        return dash.no_update, t("analysis.err.renderer", lang)
    return dcc.send_bytes(pdf, f"{site.id}_briefing_{day}.pdf"), ""


def briefing_url(day: str | None, site_id: str, lang: str) -> str:
    try:
        day = date.fromisoformat(day or "").isoformat()
    except ValueError:
        return "#"
    return f"/api/v1/sites/{site_id}/briefing/{day}.pdf?" + urlencode({"lang": lang})


def register(app: Dash, state: AppState) -> None:
    def views(start, end, grids, categories, entrance, repeat, site_id, lang, raw):
        first = dash.callback_context.triggered_id is None
        args = (raw or {}) if first else widget_args(start, end, grids, categories,
                                                     entrance, repeat)
        return update_views(args, state.sites[site_id], lang, state)

    app.callback(
        Output(page.MESSAGE, "children"),
        Output(page.kpi_id(ALL), "children"),
        Output(page.graph_id(ALL), "figure"),
        Output(page.export_id(ALL), "children"),
        Output(page.REPEATS_TABLE, "children"),
        Output(page.DATA_TIME, "children"),
        Output(page.QUERY, "data"),
        Input(page.DATES, "start_date"), Input(page.DATES, "end_date"),
        Input(page.GRIDS, "value"), Input(page.CATEGORIES, "value"),
        Input(page.ENTRANCE, "value"), Input(page.REPEAT, "value"),
        State(page.SITE, "data"), State(page.LANG, "data"), State(page.RAW, "data"),
    )(views)

    app.clientside_callback(
        KEEP_QUERY_IN_ADDRESS,
        Output(page.QUERY_SINK, "data"), Input(page.QUERY, "data"))

    app.callback(
        Output(page.GOTO, "href"), Input(page.SITE_PICK, "value"),
        State(page.SITE, "data"), State(page.LANG, "data"), prevent_initial_call=True,
    )(lambda picked, current, lang: dash.no_update if picked == current else
      f"/analysis?{urlencode({'site': picked, 'lang': lang})}")

    app.callback(
        Output(page.BRIEF_LINK, "href"), Input(page.BRIEF_DAY, "date"),
        State(page.SITE, "data"), State(page.LANG, "data"),
    )(briefing_url)

    app.callback(
        Output(page.BRIEF_DOWNLOAD, "data"), Output(page.BRIEF_STATUS, "children"),
        Input(page.BRIEF_BUTTON, "n_clicks"), State(page.BRIEF_DAY, "date"),
        State(page.SITE, "data"), State(page.LANG, "data"),
        prevent_initial_call=True,
        running=[(Output(page.BRIEF_BUTTON, "disabled"), True, False),
                 (Output(page.BRIEF_BUSY, "className"), "an-busy on", "an-busy")],
    )(lambda _n, day, site_id, lang: make_briefing(day, state.sites[site_id], lang))

