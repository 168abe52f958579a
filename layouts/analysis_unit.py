"""The analysis of a unit at ``/analysis?unit=<unit>``: a street, district or
the city over the history of every site under it.

The URL holds the filters (``&start=…&end=…&categories=…&repeat_days=…
&lang=en``). The page shows the unit's 结案率, 按期结案率, 返工率 and
小事不出网格 share as the README's chain formulas compute them, the same by
child unit (each a link one level down; a community's children are its
grids), incidents per day, the problems that came back most, the exports
of each table and the monthly bulletin (月度通报) PDF.
``callbacks/analysis_unit.py`` fills it.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from dash import dcc, html

from layouts.i18n import lang_of, t

# component ids (this page's block; see layouts/ids.py for the convention)
ROOT = "ua-root"
UNIT = "ua-unit"
LANG = "ua-lang"
RAW = "ua-raw"
QUERY = "ua-query"
QUERY_SINK = "ua-query-sink"
DATES = "ua-dates"
CATEGORIES = "ua-categories"
REPEAT = "ua-repeat"
MESSAGE = "ua-message"
DATA_TIME = "ua-data-time"
RATES_GRAPH = "ua-rates-graph"
DAILY_GRAPH = "ua-daily-graph"
CHILDREN = "ua-children"
RECURRING = "ua-recurring"
EXPORTS = "ua-exports"
MONTH = "ua-month"
BULLETIN_LINK = "ua-bulletin-link"
# one tile per figure: the figure's name -> (component id, message key)
KPIS = {"closure_rate": ("ua-kpi-closure", "ua.closure_rate"),
        "on_time_rate": ("ua-kpi-on-time", "ua.on_time_rate"),
        "rework_rate": ("ua-kpi-rework", "ua.rework_rate"),
        "solved_in_grid_share": ("ua-kpi-in-grid", "ua.in_grid_share"),
        "due": ("ua-kpi-due", "ua.due"),
        "closed": ("ua-kpi-closed", "ua.closed"),
        "overdue": ("ua-kpi-overdue", "ua.overdue"),
        "repeats": ("ua-kpi-repeats", "ua.repeats")}
GRAPH_CONFIG = {"displaylogo": False, "responsive": True,
                "modeBarButtonsToRemove": ["select2d", "lasso2d", "toImage"]}


def months(today: date, n: int = 12) -> list[str]:
    """The last ``n`` months, this one first (``YYYY-MM``)."""
    out, day = [], today.replace(day=1)
    for _ in range(n):
        out.append(f"{day:%Y-%m}")
        day = (day - timedelta(days=1)).replace(day=1)
    return out


def _field(label: str, control: Any, cls: str = "") -> html.Label:
    return html.Label(className=f"an-field {cls}".strip(),
                      children=[html.Span(label, className="an-field-label"), control])


def _card(title: str, body: Any) -> html.Article:
    return html.Article(className="an-card", children=[
        html.Header(className="an-card-head", children=[html.H3(title)]), body])


def layout(unit: Any, lang: str | None = None, *, parent: Any = None,
           categories: dict[str, str], today: date, start: str, end: str,
           raw: dict[str, str], **query: str) -> html.Div:
    """The page of ``unit`` (a :class:`data.units.tree.Node`); ``parent``
    the unit above it if the caller reaches it; ``categories`` id → name of
    the unit's sites; ``start``/``end`` the range the widgets start with;
    ``raw`` the URL's filters as they came (checked on the first draw)."""
    lang = lang_of(lang)
    other = "zh" if lang == "en" else "en"
    chosen = [c for c in (query.get("categories") or "").split(",") if c in categories]
    repeat = str(query.get("repeat_days") or "7")
    up = ([html.A(f"↑ {parent.label(lang)}", id="ua-up",
                  href=f"/analysis?unit={parent.id}&lang={lang}")]
          if parent is not None else [])
    month_list = months(today)
    return html.Div(id=ROOT, className="analysis", lang="en" if lang == "en" else
                    "zh-CN", children=[
        dcc.Store(id=UNIT, data=unit.id), dcc.Store(id=LANG, data=lang),
        dcc.Store(id=RAW, data=raw),
        dcc.Store(id=QUERY), dcc.Store(id=QUERY_SINK),
        html.Header(className="an-header", children=[
            html.Div(className="an-brand", children=[
                html.Span(t("app.title", lang), className="an-app"),
                html.H1(f"{t('ua.title', lang)} · {unit.label(lang)}"),
                html.P(t("ua.subtitle", lang), className="an-subtitle"),
            ]),
            html.Nav(className="an-nav", children=[
                *up, html.A(t("analysis.home", lang), href=f"/?lang={lang}"),
                html.A(t("lang.switch", lang), id="ua-lang-switch",
                       href=f"/analysis?unit={unit.id}&lang={other}"),
            ]),
        ]),
        html.Section(className="an-filters", children=[
            _field(t("analysis.range", lang), dcc.DatePickerRange(
                id=DATES, start_date=start, end_date=end,
                max_date_allowed=today.isoformat(), display_format="YYYY-MM-DD",
                first_day_of_week=1, minimum_nights=0,
                start_date_placeholder_text="YYYY-MM-DD",
                end_date_placeholder_text="YYYY-MM-DD")),
            _field(t("analysis.categories", lang), dcc.Dropdown(
                id=CATEGORIES, multi=True, value=chosen,
                placeholder=t("analysis.all_categories", lang),
                options=[{"label": name, "value": key}
                         for key, name in categories.items()]), "an-wide"),
            _field(t("analysis.repeat_days", lang), dcc.Input(
                id=REPEAT, type="number", min=1, max=90, step=1,
                value=int(repeat) if repeat.isdigit() else 7, debounce=True,
                className="an-number")),
        ]),
        html.Section(className="an-briefing", children=[
            html.Span(t("ua.bulletin", lang), className="an-field-label"),
            dcc.Dropdown(id=MONTH, value=month_list[1], clearable=False,
                         searchable=False, className="ua-month",
                         options=[{"label": m, "value": m} for m in month_list]),
            html.A(t("ua.bulletin_link", lang), id=BULLETIN_LINK, href="#",
                   className="an-brief-link", target="_blank"),
        ]),
        html.Div(id=MESSAGE, className="an-message", role="alert"),
        html.Section(className="an-kpis", children=[
            html.Div(className="an-kpi", children=[
                html.Div("—", id=ident, className="an-kpi-value",
                         **{"data-testid": f"ua-kpi-{name}"}),
                html.Div(t(key, lang), className="an-kpi-label")])
            for name, (ident, key) in KPIS.items()]),
        html.Main(className="an-grid", children=[
            _card(t("ua.by_child", lang), html.Div([
                html.Nav(id=EXPORTS, className="an-export ua-exports",
                         **{"aria-label": t("analysis.export", lang)}),
                html.Div(id=CHILDREN, className="an-table")])),
            _card(t("ua.rates", lang), dcc.Graph(id=RATES_GRAPH, config=GRAPH_CONFIG,
                                                 style={"height": "380px"})),
            _card(t("ua.daily", lang), dcc.Graph(id=DAILY_GRAPH, config=GRAPH_CONFIG,
                                                 style={"height": "320px"})),
            _card(t("ua.recurring", lang), html.Div(id=RECURRING,
                                                    className="an-table")),
        ]),
        html.Footer(className="an-footer", children=[
            html.Span(id=DATA_TIME),
            html.Span(t("ua.formulas", lang)),
            html.Span(f"{t('analysis.source', lang)}: "
                      f"{t('analysis.source_text', lang)}"),
        ]),
    ])
