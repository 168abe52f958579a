"""The home page: live figures of each site and the links to the screens.

A placeholder until the screens land: it shows that the feed, the aggregator
and the snapshot work, and where each screen lives.
"""

from __future__ import annotations

from dash import dcc, html

from data.site import Site
from layouts import ids
from layouts.i18n import lang_of, t

SCREENS = (
    ("screen.wall", "/wall"),
    ("screen.console", "/console"),
    ("screen.mobile", "/m"),
    ("screen.analysis", "/analysis"),
)
POLL_MS = 2000


def layout(site: Site, lang: str | None = None, *, admin: bool = False,
           **_: str) -> html.Div:
    """The home page of ``site``; ``admin`` adds the link to the admin page."""
    lang = lang_of(lang)
    other = "zh" if lang == "en" else "en"
    return html.Div(className="home", children=[
        html.Header(className="home-header", children=[
            html.H1(t("app.title", lang)),
            html.P(t("home.subtitle", lang)),
            html.Nav(className="home-lang", children=[
                *([html.A(t("auth.admin", lang), href=f"/admin?lang={lang}"),
                   " · "] if admin else []),
                html.A(t("auth.sign_out", lang), href=f"/logout?lang={lang}"),
                " · ",
                html.A(t("lang.switch", lang), href=f"/?lang={other}")]),
        ]),
        dcc.Store(id=ids.HOME_SITE, data=site.id),
        dcc.Store(id=ids.HOME_LANG, data=lang),
        dcc.Interval(id=ids.HOME_TICK, interval=POLL_MS),
        html.Main(id=ids.HOME_LIVE, className="home-sites",
                  children=html.P(t("home.waiting", lang))),
    ])
