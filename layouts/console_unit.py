"""A unit's console at ``/console?unit=<unit>``: a street's, a district's or
the city's supervisor (中屏), a PC or a tablet, 1280×800 and up.

Left: the way down (the units below, with their figures; a community's
grids, each opening the community's own console on that grid). Middle: the
incidents of the communities below — owned at this unit's level, overdue,
or under supervision (督办). Right: the chosen incident and what this
person may do with it (accept, hand down with a deadline, return, close,
escalate, supervise). Read again every few seconds and after each op.
"""

from __future__ import annotations

import dash_ag_grid as dag
from dash import dcc, html

from data.site import User
from data.units.inbox import VIEWS
from data.units.tree import Node
from layouts import ids
from layouts.console import SLA_RULES
from layouts.i18n import lang_of, t
from layouts.who import who_badge

REFRESH_MS = 5000
COLUMNS = ("supervised", "level", "title", "community", "grid", "status", "owner",
           "sla", "deadline", "reported")
WIDTHS = {"supervised": 70, "level": 72, "title": 220, "community": 110,
          "grid": 110, "status": 90, "owner": 72, "sla": 76, "deadline": 110,
          "reported": 110}


def table_columns(lang: str) -> list[dict]:
    marks = t("mark.supervised", lang)
    return [{"field": c, "headerName": t(f"uc.col_{c}", lang), "width": WIDTHS[c],
             "sortable": True, "resizable": True,
             **({"cellClassRules": {"uc-sup": f"params.value == '{marks}'"}}
                if c == "supervised" else {}),
             **({"cellClassRules": SLA_RULES} if c == "sla" else {})}
            for c in COLUMNS]


def trail_links(trail: list[tuple[str, str, bool]], lang: str) -> list:
    """The units from the top this person reaches down to this one: (id,
    name, may open)."""
    out: list = []
    for n, (unit_id, name, linked) in enumerate(trail):
        if n:
            out.append(html.Span("›", className="uc-sep"))
        out.append(html.A(name, href=f"/console?unit={unit_id}&lang={lang}",
                          className="uc-crumb") if linked and n < len(trail) - 1
                   else html.Span(name, className="uc-crumb here"))
    return out


def layout(unit: Node, lang: str | None = None, *, user: User | None,
           trail: list[tuple[str, str, bool]], **_: str) -> html.Div:
    """The console of ``unit`` for ``user`` (a person of the unit or above)."""
    lang = lang_of(lang)
    return html.Div(id=ids.UC_ROOT, className="c uc", children=[
        html.Header(className="c-top uc-top", children=[
            html.Div([html.Span(unit.label(lang), className="c-site"),
                      html.Span(t("uc.title", lang, level=t(
                          f"uc.level.{unit.level}", lang)), className="c-sub")]),
            html.Nav(trail_links(trail, lang), className="uc-trail",
                     **{"data-testid": "uc-trail"}),
            who_badge("uc-user", user, lang, "c-user"),
        ]),
        html.Div(id=ids.UC_FLASH, className="c-flash",
                 **{"data-testid": "uc-flash"}),
        html.Main(className="c-main", children=[
            html.Section(className="c-col c-left", children=[
                html.Div(id=ids.UC_KPIS, className="uc-kpis",
                         **{"data-testid": "uc-kpis"}),
                html.H2(t("uc.grids" if unit.level == "community"
                          else "uc.children", lang)),
                html.Div(id=ids.UC_CHILDREN, className="uc-children",
                         **{"data-testid": "uc-children"}),
            ]),
            html.Section(className="c-col c-middle", children=[
                html.H2(t("c.incidents", lang)),
                dcc.RadioItems(id=ids.UC_VIEW, value=VIEWS[0], inline=True,
                               className="uc-view", options=[
                                   {"label": t(f"uc.view_{v}", lang), "value": v}
                                   for v in VIEWS]),
                dag.AgGrid(id=ids.UC_TABLE, className="ag-theme-quartz c-table",
                           columnDefs=table_columns(lang), rowData=[],
                           getRowId="params.data.key",
                           dashGridOptions={
                               "rowSelection": {"mode": "singleRow",
                                                "checkboxes": False,
                                                "enableClickSelection": True},
                               "rowHeight": 44, "animateRows": False,
                               "localeText": {"noRowsToShow": t("c.no_rows", lang)}},
                           style={"height": "100%"}),
            ]),
            html.Section(className="c-col c-right", children=[
                html.Div(id=ids.UC_DETAIL, **{"data-testid": "uc-detail"}),
            ]),
        ]),
        dcc.Interval(id=ids.UC_TICK, interval=REFRESH_MS),
        dcc.Store(id=ids.UC_UNIT, data=unit.id),
        dcc.Store(id=ids.UC_LANG, data=lang),
        dcc.Store(id=ids.UC_PICK),
        dcc.Store(id=ids.UC_DETAIL_SIG),
        dcc.Store(id=ids.UC_DONE),
        dcc.Store(id=ids.UC_CLICKED),
    ])
