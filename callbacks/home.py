"""Callbacks of the home page: read each site's snapshot, show its figures."""

from __future__ import annotations

from typing import Any

import redis
from dash import Dash, Input, Output, State, html

from data.clock import now_ms
from data.feed.snapshot import read_snapshot
from layouts import ids
from layouts.home import SCREENS
from layouts.i18n import age_text, t
from web.auth import (
    PAGE_SCREENS,
    WHOLE_SITE_SCREENS,
    Principal,
    principal,
    sees_whole,
)
from web.state import AppState


def figure(label: str, value: Any, testid: str | None = None) -> html.Div:
    return html.Div(className="home-figure", children=[
        html.Div(str(value), className="home-value",
                 **({"data-testid": testid} if testid else {})),
        html.Div(label, className="home-label"),
    ])


def site_card(caller: Principal, snap: dict[str, Any] | None, site_id: str,
              name: str, lang: str, now: int, *, whole: bool) -> html.Section:
    """``whole``: the caller may see the site whole (not a person of some
    of its grids): its figures, its wall and its snapshot."""
    links = [html.A(t(key, lang), href=f"{path}?site={site_id}&lang={lang}")
             for key, path in SCREENS
             if caller.may(PAGE_SCREENS[path])
             and (whole or PAGE_SCREENS[path] not in WHOLE_SITE_SCREENS)]
    if whole:
        links.append(html.A(t("screen.api", lang),
                            href=f"/api/v1/sites/{site_id}/snapshot"))
    if not whole:  # a person of some grids: no figures of the site whole
        body = [html.P(t("home.some_grids", lang), className="home-meta")]
    elif snap is None:
        body = [html.P(t("home.waiting", lang))]
    else:
        inc = snap["incidents"]
        body = [
            html.Div(className="home-figures", children=[
                figure(t("home.people_present", lang), snap["people_present"],
                       "home-people-present"),
                figure(t("home.people_in_1h", lang), snap["people_in_1h"]),
                figure(t("home.people_out_1h", lang), snap["people_out_1h"]),
                figure(t("home.vehicles_today", lang),
                       f"{snap['vehicles_in_today']} / {snap['vehicles_out_today']}"),
                figure(t("home.incidents_open", lang), inc["open"],
                       "home-incidents-open"),
                figure(t("home.incidents_overdue", lang), inc["overdue"]),
                figure(t("home.closed_today", lang), inc["closed_today"]),
                figure(t("home.dead_letters", lang), snap["dead_letters"]),
            ]),
            html.P(className="home-meta", children=[
                f"{t('home.freshness', lang)}: ",
                "  ".join(
                    f"{t('feed.' + name, lang)} "
                    f"{age_text(now - f['last_ts'] if f['last_ts'] else None, lang)}"
                    for name, f in snap["feeds"].items()),
                f"  ·  {t('home.version', lang)} {snap['version']}",
            ]),
        ]
    return html.Section(className="home-site", children=[
        html.H2(name), *body, html.Nav(links, className="home-links")])


def update_home(_tick: int, lang: str, state: AppState) -> list | html.P:
    caller = principal()
    if caller is None:
        return []
    try:
        now, cards = now_ms(), []
        for site in state.sites.values():
            if not caller.on_site(site.id):
                continue
            whole = sees_whole(caller, site.id)  # else no figures: not read
            snap = read_snapshot(state.redis, state.keys(site.id)) if whole else None
            cards.append(site_card(caller, snap, site.id,
                                   site.name_en if lang == "en" else site.name,
                                   lang, now, whole=whole))
        return cards
    except redis.RedisError:
        return html.P(t("home.redis_down", lang), className="home-error")


def register(app: Dash, state: AppState) -> None:
    app.callback(
        Output(ids.HOME_LIVE, "children"),
        Input(ids.HOME_TICK, "n_intervals"),
        State(ids.HOME_LANG, "data"),
    )(lambda tick, lang: update_home(tick, lang, state))
