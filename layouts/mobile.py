"""The grid worker's phone (小屏) at ``/m``: my tasks, and report an incident.

Made for one hand on a 360×740 screen: large touch targets, the report form
a thumb's reach away. Reports go through ``assets/mobile.js``, which keeps
them in the phone until the server has them (offline-safe, exactly once).
"""

from __future__ import annotations

import json

from dash import dcc, html

from data.site import Site, User
from layouts import ids
from layouts.i18n import lang_of, t
from layouts.live import LiveLink
from layouts.who import who_badge

BROWSER_TEXT = ("m.queued", "m.sent", "m.failed", "m.need", "m.locating",
                "m.located", "m.locate_failed", "m.category", "m.title_label",
                "m.grid", "m.photo", "m.duplicate", "m.not_kept", "m.photo_not_kept")


def _name(item, lang: str) -> str:
    return item.name_en if lang == "en" else item.name


def layout(site: Site, lang: str | None = None, *, user: User | None,
           link: LiveLink, max_photo_bytes: int, **_: str) -> html.Div:
    """The phone for ``user`` (None: not a person of ``site``); a photo
    larger than ``max_photo_bytes`` is refused before it is sent."""
    lang = lang_of(lang)
    site_id, the_site = site.id, site
    form = html.Section(className="m-card m-report", children=[
        html.H2(t("m.report", lang)),
        html.Label(t("m.category", lang), htmlFor=ids.M_CATEGORY),
        dcc.Dropdown(id=ids.M_CATEGORY, searchable=False, clearable=False,
                     options=[{"label": _name(c, lang), "value": c.id}
                              for c in the_site.categories.values()]),
        html.Label(t("m.level", lang)),
        dcc.RadioItems(id=ids.M_LEVEL, value="3", className="m-levels",
                       inputClassName="m-radio", labelClassName="m-level",
                       options=[{"label": t(f"level.{n}", lang), "value": str(n)}
                                for n in (1, 2, 3)]),
        html.Label(t("m.title_label", lang), htmlFor=ids.M_TITLE),
        dcc.Input(id=ids.M_TITLE, type="text", maxLength=120, debounce=False,
                  placeholder=t("m.title_hint", lang), className="m-input"),
        html.Label(t("m.detail", lang), htmlFor=ids.M_DETAIL),
        dcc.Textarea(id=ids.M_DETAIL, maxLength=2000, className="m-input m-detail"),
        html.Label(t("m.grid", lang), htmlFor=ids.M_GRID),
        html.Div(className="m-where", children=[
            dcc.Dropdown(id=ids.M_GRID, searchable=False, className="m-grid",
                         value=user.grids[0] if user and user.grids else None,
                         options=[{"label": _name(g, lang), "value": g.id}
                                  for g in the_site.grids.values()]),
            html.Button(t("m.locate", lang), id=ids.M_LOCATE, className="m-btn-2"),
        ]),
        html.Div(id=ids.M_POSITION_TEXT, className="m-hint"),
        dcc.Upload(id=ids.M_PHOTO, accept="image/jpeg,image/png,image/webp",
                   max_size=max_photo_bytes, className="m-photo",
                   children=html.Div(t("m.photo", lang), id=ids.M_PHOTO_NAME)),
        html.Button(t("m.submit", lang), id=ids.M_SUBMIT, className="m-btn-main",
                    **{"data-testid": "m-submit"}),
        html.Div(id=ids.M_QUEUE, className="m-queue", **{"data-testid": "m-queue"}),
    ])
    return html.Div(
        id=ids.M_ROOT, className="m",
        **{"data-push-site": site_id, "data-push-store": ids.M_PUSH,
           "data-build": link.build, "data-site": site_id,
           # the owner of reports queued on this phone (assets/mobile.js)
           "data-user": user.id if user else "",
           "data-i18n": json.dumps({k: t(k, lang) for k in BROWSER_TEXT},
                                   ensure_ascii=False)},
        children=[
            html.Header(className="m-top", children=[
                html.Div(_name(the_site, lang), className="m-site"),
                html.Div(t("m.title", lang), className="m-sub"),
                who_badge(ids.M_USER, user, lang, "m-user"),
            ]),
            html.Div(id=ids.M_FLASH, className="m-flash",
                     **{"data-testid": "m-flash"}),
            html.Section(className="m-card", children=[
                html.H2(t("m.tasks", lang)),
                html.Div(id=ids.M_TASKS, **{"data-testid": "m-tasks"}),
            ]),
            form,
            dcc.Store(id=ids.M_SITE, data=site_id),
            dcc.Store(id=ids.M_LANG, data=lang),
            dcc.Store(id=ids.M_PUSH),
            dcc.Store(id=ids.M_ACK),
            dcc.Store(id=ids.M_CLICKED),
            dcc.Store(id=ids.M_POSITION),
            dcc.Store(id=ids.M_TASKS_SIG),
        ])
