"""The supervisor's console (中屏) at ``/console``: a tablet, 1280×800 and up.

Left: the grids (a list and a map to tap) and the chosen grid's profile.
Middle: the incident table with its filters. Right: the chosen incident,
its whole history and exactly the actions this user may take, plus casting
onto the wall. Live by the same push as the wall (``assets/push.js``).
"""

from __future__ import annotations

import dash_ag_grid as dag
from dash import dcc, html

from data.incidents.lifecycle import DONE, OPEN, grid_scope
from data.site import Site, User
from layouts import console_producers, ids
from layouts.i18n import lang_of, t
from layouts.live import LiveLink
from layouts.theme import LIGHT
from layouts.wall_data import grid_outlines, map_frames
from layouts.wall_figures import MAP_LABELS, grid_map_figure
from layouts.who import who_badge

GRID_OPTIONS = {
    "rowSelection": {"mode": "singleRow", "checkboxes": False,
                     "enableClickSelection": True},
    "rowHeight": 44, "animateRows": False,
}
COLUMNS = ("supervised", "level", "title", "category", "grid", "status", "owner", "sla",
           "deadline", "assignee", "reported")


# The SLA column's colour, by its text in either language (dash-ag-grid hands
# a rule ``params``; AG Grid's own ``x`` shorthand is not defined there).
# Classes of their own: ``sla-red`` is the blinking light of the walls and
# the dot of the detail, styled for every page.
SLA_RULES = {"cell-overdue": "params.value == '超期' || params.value == 'Overdue'",
             "cell-due-soon": "params.value == '临期' || params.value == 'Due soon'"}


def table_columns(lang: str) -> list[dict]:
    widths = {"supervised": 70, "level": 80, "title": 220, "category": 110, "grid": 110,
              "status": 96, "owner": 80, "sla": 80, "deadline": 110,
              "assignee": 96, "reported": 110}
    return [{"field": c, "headerName": t(f"c.col_{c}", lang), "width": widths[c],
             "sortable": True, "resizable": True,
             **({"cellClassRules": SLA_RULES}
                if c == "sla" else {}),
             **({"cellClassRules": {"uc-sup": "params.value == '督办' || "
                                              "params.value == 'Supervised'"}}
                if c == "supervised" else {})}
            for c in COLUMNS]


def _filters(site, lang: str) -> html.Div:
    return html.Div(className="c-filters", children=[
        dcc.Dropdown(id=ids.C_F_STATUS, multi=True, placeholder=t("c.f_status", lang),
                     value=["open"], options=[
                         {"label": t("wall.open", lang), "value": "open"},
                         *({"label": t(f"status.{s}", lang), "value": s}
                           for s in OPEN + DONE)]),
        dcc.Dropdown(id=ids.C_F_LEVEL, multi=True, placeholder=t("c.f_level", lang),
                     options=[{"label": t(f"level.{n}", lang), "value": n}
                              for n in (1, 2, 3)]),
        dcc.Dropdown(id=ids.C_F_CATEGORY, multi=True,
                     placeholder=t("c.f_category", lang),
                     options=[{"label": c.name_en if lang == "en" else c.name,
                               "value": c.id} for c in site.categories.values()]),
        dcc.Checklist(id=ids.C_F_OVERDUE, className="c-check",
                      options=[{"label": t("c.f_overdue", lang), "value": "1"}]),
        dcc.Checklist(id=ids.C_F_MINE, className="c-check",
                      options=[{"label": t("c.f_grid", lang), "value": "1"}]),
    ])


def layout(site: Site, lang: str | None = None, *, user: User | None,
           link: LiveLink, grid: str | None = None, **_: str) -> html.Div:
    """The console of ``site`` for ``user`` (None: not a person of it),
    opened on ``grid`` if given (a unit console's way down ends here)."""
    lang = lang_of(lang)
    site_id, the_site = site.id, site
    outlines = grid_outlines(the_site, lang)
    grids, entrances, incidents = map_frames(None, the_site, outlines, lang)
    scope = grid_scope(user)
    # a grid-scoped supervisor is offered the grids in scope only
    shown = [g for g in the_site.grids if not scope or g in scope]
    first_grid = grid if grid in shown else shown[0] if shown else None
    minimap = grid_map_figure(grids, entrances, incidents, theme=LIGHT, lang=lang)
    minimap.data[len(the_site.grids) + MAP_LABELS].visible = False  # the list names
    minimap.update_layout(margin={"l": 2, "r": 2, "t": 2, "b": 2})
    return html.Div(
        id=ids.C_ROOT, className="c",
        **{"data-push-site": site_id, "data-push-store": ids.C_PUSH,
           "data-push-live": ids.C_LIVE, "data-build": link.build},
        children=[
            html.Header(className="c-top", children=[
                html.Div([html.Span(the_site.name_en if lang == "en"
                                    else the_site.name, className="c-site"),
                          html.Span(t("c.title", lang), className="c-sub")]),
                html.Div(id=ids.C_CAST_STATUS, className="c-cast"),
                html.Button(t("c.producers", lang), id=ids.C_PRODUCERS_OPEN,
                            className="c-btn c-btn-ghost"),
                html.Button(t("c.clear_wall", lang), id=ids.C_CLEAR_WALL,
                            className="c-btn c-btn-ghost"),
                who_badge(ids.C_USER, user, lang, "c-user"),
            ]),
            html.Div(id=ids.C_FLASH, className="c-flash",
                     **{"data-testid": "c-flash"}),
            html.Main(className="c-main", children=[
                html.Section(className="c-col c-left", children=[
                    html.H2(t("c.grids", lang)),
                    dcc.Graph(id=ids.C_GRID_MAP, className="c-map",
                              config={"displayModeBar": False},
                              figure=minimap),
                    html.Div(id=ids.C_GRID_LIST, className="c-grid-list"),
                    html.Button(t("c.cast_grid", lang), id=ids.C_CAST_GRID,
                                className="c-btn c-btn-cast c-cast-grid"),
                    html.Div(id=ids.C_PROFILE, className="c-profile",
                             **{"data-testid": "c-profile"}),
                ]),
                html.Section(className="c-col c-middle", children=[
                    html.H2(t("c.incidents", lang)),
                    _filters(the_site, lang),
                    dag.AgGrid(id=ids.C_TABLE, className="ag-theme-quartz c-table",
                               columnDefs=table_columns(lang), rowData=[],
                               getRowId="params.data.id",
                               dashGridOptions={**GRID_OPTIONS, "localeText": {
                                   "noRowsToShow": t("c.no_rows", lang),
                                   "loadingOoo": t("c.loading", lang)}},
                               style={"height": "100%"}),
                ]),
                html.Section(className="c-col c-right", children=[
                    html.Div(id=ids.C_DETAIL, **{"data-testid": "c-detail"}),
                ]),
                console_producers.panel(lang),
            ]),
            dcc.Store(id=ids.C_SITE, data=site_id),
            dcc.Store(id=ids.C_LANG, data=lang),
            dcc.Store(id=ids.C_PUSH),
            dcc.Store(id=ids.C_ACK),
            dcc.Store(id=ids.C_CLICKED),
            dcc.Store(id=ids.C_LIVE),
            dcc.Store(id=ids.C_LIVE_ACK),
            dcc.Store(id=ids.C_GRID, data=first_grid),
            dcc.Store(id=ids.C_GRID_IDS, data=[g if g in shown else None
                                                for g in the_site.grids]),
            dcc.Store(id=ids.C_INCIDENT),
            dcc.Store(id=ids.C_DETAIL_SIG),
            dcc.Store(id=ids.C_PROFILE_SIG),
        ])
