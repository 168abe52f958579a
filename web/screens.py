"""The Dash pages: each screen's layout, given what it shows.

A layout (``layouts/``) is a builder: it takes the site, the person using
it and the server's timings as arguments and imports nothing of the web
tier. Here, at each page load, the caller is resolved (``web/auth.py``),
then the site the caller's credential allows (``web/tenant.py``), then what
the screen needs; the query cannot change any of them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import dash
from dash import html

from data.accounts import site_user
from data.site import Site, User
from layouts import analysis, console, console_unit, home, mobile, replay, wall
from layouts.i18n import lang_of, t
from layouts.live import LiveLink
from web import auth
from web.replay_api import kept
from web.reports import MAX_PHOTO_BYTES
from web.state import AppState
from web.tenant import page_site, page_unit, sites_of, units_of


@dataclass(frozen=True)
class PageLoad:
    """Who opens a page, and on which site."""
    caller: auth.Principal
    site: Site

    city: str | None = None  # the units' root

    @property
    def user(self) -> User | None:
        """The caller as a person of the site (None: a kiosk, or not on it)."""
        account = self.caller.account
        return site_user(account, self.site, self.city) \
            if account is not None else None


Arguments = Callable[[PageLoad], dict[str, Any]]


def register_pages(state: AppState, link: LiveLink) -> None:
    """Every screen as a Dash page, in the order of the pages' registry."""
    config = state.config
    wall_timing = {"link": link, "reload_hour": config.wall_reload_hour,
                   "spot_ms": config.wall_spot_seconds * 1000}
    screens: tuple[tuple[str, str, str, Callable[..., Any], Arguments], ...] = (
        ("home", "/", "app.title", home.layout,
         lambda load: {"admin": load.caller.role == "admin"}),
        ("wall", "/wall", "wall.title", wall.layout,
         lambda load: wall_timing),
        ("analysis", "/analysis", "analysis.title", analysis.layout,
         lambda load: {"sites": [state.sites[s]
                                 for s in sites_of(load.caller, state.sites)]}),
        ("mobile", "/m", "m.title", mobile.layout,
         lambda load: {"link": link, "user": load.user,
                       "max_photo_bytes": MAX_PHOTO_BYTES}),
        ("console", "/console", "c.title", console.layout,
         lambda load: {"link": link, "user": load.user}),
        ("replay", "/replay", "replay.title", replay.layout,
         lambda load: {"kept": kept(load.site)}),
    )
    for screen, path, title, layout, arguments in screens:
        page = guarded(state, screen, layout, arguments)
        if screen == "console":
            page = with_units(state, page)
        dash.register_page(screen, path=path, title=t(title), layout=page)


def with_units(state: AppState, site_page: Callable[..., Any]
               ) -> Callable[..., Any]:
    """The console: a unit's (``?unit=``, or a unit's person with no site
    asked for) or else a site's. The unit is the one asked for if the
    caller's credential reaches it (``web/tenant.py``), never otherwise."""
    def page(**query: Any) -> Any:
        caller = auth.principal()
        asked = query.get("unit")
        if not asked and (query.get("site") or caller is None
                          or caller.unit is None):
            return site_page(**query)
        unit = page_unit(caller, asked, state.units)
        if caller is None or not caller.may("console") or unit is None:
            return html.P(t("auth.forbidden"), className="auth-error")
        return console_unit.layout(state.units[unit], query.get("lang"),
                                   user=unit_person(caller),
                                   trail=unit_trail(state, caller, unit,
                                                    query.get("lang")))
    return page


def unit_person(caller: auth.Principal) -> User | None:
    """The signed-in person as shown in a unit console's header."""
    account = caller.account
    if account is None:
        return None
    return User(id=account.name, name=account.display or account.name,
                role=account.role, grids=(), duty=account.role, phone="")


def unit_trail(state: AppState, caller: auth.Principal, unit: str,
               lang: str | None) -> list[tuple[str, str, bool]]:
    """The way up from ``unit`` as far as the caller reaches, top first."""
    reach = units_of(caller, state.units)
    chain = [u for u in state.units.chain(unit) if reach is None or u in reach]
    return [(u, state.units[u].label(lang_of(lang)), True) for u in reversed(chain)]


def guarded(state: AppState, screen: str, layout: Callable[..., Any],
            arguments: Arguments) -> Callable[..., Any]:
    """A page layout that only a caller allowed on ``screen`` gets (the gate
    already refused the page load; this covers Dash's in-page navigation),
    for the site the caller's credential allows: the one asked for, else the
    caller's own. What ``arguments`` gives wins over the query."""
    def page(**query: Any) -> Any:
        caller = auth.principal()
        site = page_site(caller, query.get("site"), list(state.sites))
        if caller is None or not caller.may(screen) or site is None:
            return html.P(t("auth.forbidden"), className="auth-error")
        load = PageLoad(caller, state.sites[site], state.units.root)
        return layout(**{**query, "site": load.site, **arguments(load)})
    return page
