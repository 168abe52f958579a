"""The analyst's workspace at ``/analysis``: history, comparisons and exports.

The URL holds the filters (``?site=…&start=…&end=…&grids=…&categories=…
&entrance=…&repeat_days=…&lang=en``), so a view can be shared and reloads the
same: :func:`layout` reads them, ``callbacks/analysis.py`` draws the views and
writes the filters back into the address bar as they change. Filter values a
URL gets wrong are left out of the widgets and named in a message instead.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from dash import dcc, html

from data.history.dataset import FilterError, default_range, parse_filters, site_today
from data.site import Site
from layouts import analysis_charts as charts
from layouts.i18n import lang_of, t

# component ids (this page's block; see layouts/ids.py for the convention)
ROOT = "analysis-root"
SITE = "analysis-site"
LANG = "analysis-lang"
RAW = "analysis-raw"  # the URL's query as it came, checked on the first draw
QUERY = "analysis-query"  # the normalized query, written to the address bar
QUERY_SINK = "analysis-query-sink"
GOTO = "analysis-goto"
SITE_PICK = "analysis-site-pick"
DATES = "analysis-dates"
GRIDS = "analysis-grids"
CATEGORIES = "analysis-categories"
ENTRANCE = "analysis-entrance"
REPEAT = "analysis-repeat"
MESSAGE = "analysis-message"
DATA_TIME = "analysis-data-time"
REPEATS_TABLE = "analysis-repeats-table"
BRIEF_DAY = "analysis-brief-day"
BRIEF_BUTTON = "analysis-brief-button"
BRIEF_STATUS = "analysis-brief-status"
BRIEF_BUSY = "analysis-brief-busy"
BRIEF_LINK = "analysis-brief-link"
BRIEF_DOWNLOAD = "analysis-brief-download"
KPIS = ("people_in", "vehicles_in", "reported", "closed", "on_time_rate",
        "in_grid_share", "median_hours", "repeats")
GRAPH_CONFIG = {"displaylogo": False, "responsive": True,
                "modeBarButtonsToRemove": ["select2d", "lasso2d", "toImage"]}


def graph_id(chart: str) -> dict[str, str]:
    return {"type": "analysis-graph", "chart": chart}


def export_id(chart: str) -> dict[str, str]:
    return {"type": "analysis-export", "chart": chart}


def kpi_id(name: str) -> dict[str, str]:
    return {"type": "analysis-kpi", "name": name}


def _name(item: Any, lang: str) -> str:
    return item.name_en if lang == "en" else item.name


def widget_values(args: dict[str, Any], site: Site) -> dict[str, Any]:
    """What the filter widgets start with: the URL's values that are valid."""
    start, end = default_range(site_today(site))
    try:
        parsed = parse_filters(args, site, site_today(site))
        start, end = parsed.start, parsed.end
    except FilterError:
        pass
    split = lambda raw, known: [v for v in (raw or "").split(",")  # noqa: E731
                                if v.strip() in known]
    entrance = args.get("entrance")
    repeat = str(args.get("repeat_days") or "7")
    return {"start": start.isoformat(), "end": end.isoformat(),
            "grids": split(args.get("grids"), site.grids),
            "categories": split(args.get("categories"), site.categories),
            "entrance": entrance if entrance in site.entrances else None,
            "repeat": int(repeat) if repeat.isdigit() and 1 <= int(repeat) <= 90
            else 7}


def _field(label: str, control: Any, cls: str = "") -> html.Label:
    return html.Label(className=f"an-field {cls}".strip(),
                      children=[html.Span(label, className="an-field-label"), control])


def filter_bar(site: Site, lang: str, values: dict[str, Any]) -> html.Section:
    today = site_today(site)
    return html.Section(className="an-filters", children=[
        _field(t("analysis.range", lang), dcc.DatePickerRange(
            id=DATES, start_date=values["start"], end_date=values["end"],
            max_date_allowed=today.isoformat(), display_format="YYYY-MM-DD",
            first_day_of_week=1, minimum_nights=0, clearable=True,
            start_date_placeholder_text="YYYY-MM-DD",
            end_date_placeholder_text="YYYY-MM-DD")),
        _field(t("analysis.grids", lang), dcc.Dropdown(
            id=GRIDS, multi=True, value=values["grids"],
            placeholder=t("analysis.all_grids", lang),
            options=[{"label": _name(g, lang), "value": g.id}
                     for g in site.grids.values()]), "an-wide"),
        _field(t("analysis.categories", lang), dcc.Dropdown(
            id=CATEGORIES, multi=True, value=values["categories"],
            placeholder=t("analysis.all_categories", lang),
            options=[{"label": _name(c, lang), "value": c.id}
                     for c in site.categories.values()]), "an-wide"),
        _field(t("analysis.entrance", lang), dcc.Dropdown(
            id=ENTRANCE, value=values["entrance"],
            placeholder=t("analysis.all_entrances", lang),
            options=[{"label": _name(e, lang), "value": e.id}
                     for e in site.entrances.values()])),
        _field(t("analysis.repeat_days", lang), dcc.Input(
            id=REPEAT, type="number", min=1, max=90, step=1, value=values["repeat"],
            debounce=True, className="an-number")),
    ])


def briefing_box(site: Site, lang: str, day: str) -> html.Section:
    return html.Section(className="an-briefing", children=[
        html.Span(t("analysis.briefing", lang), className="an-field-label"),
        dcc.DatePickerSingle(id=BRIEF_DAY, date=day, display_format="YYYY-MM-DD",
                             max_date_allowed=site_today(site).isoformat(),
                             first_day_of_week=1),
        html.Button(t("analysis.briefing_button", lang), id=BRIEF_BUTTON,
                    className="an-button"),
        html.Span(t("analysis.briefing_running", lang), id=BRIEF_BUSY,
                  className="an-busy", role="status"),
        html.Span(id=BRIEF_STATUS, className="an-brief-status", role="alert"),
        html.A(t("analysis.briefing_link", lang), id=BRIEF_LINK, href="#",
               className="an-brief-link", target="_blank"),
        dcc.Download(id=BRIEF_DOWNLOAD),
    ])


def chart_card(chart: str, lang: str) -> html.Article:
    return html.Article(className="an-card", children=[
        html.Header(className="an-card-head", children=[
            html.H3(charts.title(chart, lang)),
            html.Nav(id=export_id(chart), className="an-export",
                     **{"aria-label": t("analysis.export", lang)}),
        ]),
        dcc.Loading(type="dot", color="#0b63ce", delay_show=200, children=dcc.Graph(
            id=graph_id(chart), config=GRAPH_CONFIG,
            style={"height": f"{charts.CHARTS[chart].height}px"})),
        *([html.Div(id=REPEATS_TABLE, className="an-table")]
          if chart == "repeats" else []),
    ])


def site_pick(chosen: Site, sites: list[Site], lang: str) -> list:
    """The switch to another site: only the caller's sites, none for one."""
    if len(sites) < 2:
        return []
    return [dcc.Dropdown(id=SITE_PICK, value=chosen.id, clearable=False,
                         searchable=False, className="an-site-pick",
                         options=[{"label": _name(s, lang), "value": s.id}
                                  for s in sites])]


def layout(site: Site, lang: str | None = None, *, sites: list[Site],
           **query: str) -> html.Div:
    """The workspace on ``site`` with the URL's filters (``query``);
    ``sites`` are the caller's, which its picker offers (none for one)."""
    lang = lang_of(lang)
    chosen = site
    values = widget_values(query, chosen)
    other = "zh" if lang == "en" else "en"
    brief_day = (site_today(chosen) - timedelta(days=1)).isoformat()
    return html.Div(id=ROOT, className="analysis", lang="en" if lang == "en" else
                    "zh-CN", children=[
        dcc.Store(id=SITE, data=chosen.id),
        dcc.Store(id=LANG, data=lang),
        dcc.Store(id=RAW, data={k: v for k, v in query.items()
                                if k in ("start", "end", "grids", "categories",
                                         "entrance", "repeat_days")}),
        dcc.Store(id=QUERY), dcc.Store(id=QUERY_SINK), dcc.Location(id=GOTO,
                                                                     refresh=True),
        html.Header(className="an-header", children=[
            html.Div(className="an-brand", children=[
                html.Span(t("app.title", lang), className="an-app"),
                html.H1(f"{t('analysis.title', lang)} · {_name(chosen, lang)}"),
                html.P(t("analysis.subtitle", lang), className="an-subtitle"),
            ]),
            html.Nav(className="an-nav", children=[
                *site_pick(chosen, sites, lang),
                html.A(t("analysis.home", lang), href=f"/?lang={lang}"),
                html.A(t("lang.switch", lang), id="analysis-lang-switch",
                       href=f"/analysis?site={chosen.id}&lang={other}"),
            ]),
        ]),
        filter_bar(chosen, lang, values),
        briefing_box(chosen, lang, brief_day),
        html.Div(id=MESSAGE, className="an-message", role="alert"),
        html.Section(className="an-kpis", children=[
            html.Div(className="an-kpi", children=[
                html.Div("—", id=kpi_id(k), className="an-kpi-value"),
                html.Div(t(f"analysis.kpi.{k}", lang), className="an-kpi-label")])
            for k in KPIS]),
        html.Main(className="an-grid",
                  children=[chart_card(c, lang) for c in charts.CHARTS]),
        html.Footer(className="an-footer", children=[
            html.Span(id=DATA_TIME),
            html.Span(f"{t('analysis.source', lang)}: "
                      f"{t('analysis.source_text', lang)}"),
            html.Span(t("analysis.share", lang)),
        ]),
    ])
