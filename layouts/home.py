"""The home page: live figures of each site and the links to the screens.

A placeholder until the screens land: it shows that the feed, the aggregator
and the snapshot work, and where each screen lives.
"""

from __future__ import annotations

from dash import dcc, html

from layouts import ids
from layouts.i18n import lang_of, t
from web.auth import principal

SCREENS = (
    ("screen.wall", "/wall"),
    ("screen.console", "/console"),
    ("screen.mobile", "/m"),
    ("screen.analysis", "/analysis"),
)
POLL_MS = 2000


def is_admin() -> bool:
    caller = principal()
    return bool(caller and caller.role == "admin")


def layout(site: str | None = None, lang: str | None = None, **_: str) -> html.Div:
    lang = lang_of(lang)
    other = "zh" if lang == "en" else "en"
    return html.Div(className="home", children=[
        html.Header(className="home-header", children=[
            html.H1(t("app.title", lang)),
            html.P(t("home.subtitle", lang)),
            html.Nav(className="home-lang", children=[
                *([html.A(t("auth.admin", lang), href=f"/admin?lang={lang}"),
                   " · "] if is_admin() else []),
                html.A(t("auth.sign_out", lang), href=f"/logout?lang={lang}"),
                " · ",
                html.A(t("lang.switch", lang), href=f"/?lang={other}")]),
        ]),
        dcc.Store(id=ids.HOME_SITE, data=site),
        dcc.Store(id=ids.HOME_LANG, data=lang),
        dcc.Interval(id=ids.HOME_TICK, interval=POLL_MS),
        html.Main(id=ids.HOME_LIVE, className="home-sites",
                  children=html.P(t("home.waiting", lang))),
    ])
