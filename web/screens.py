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
from layouts import (
    analysis,
    analysis_unit,
    console,
    console_unit,
    home,
    mobile,
    replay,
    wall,
)
from layouts.i18n import lang_of, t
from layouts.live import LiveLink
from layouts.unit_wall import DEFAULT_BY
from layouts.unit_wall import layout as unit_wall_layout
from layouts.unit_wall_render import KPIS as UNIT_KPIS
from web import auth
from web.replay_api import kept
from web.reports import MAX_PHOTO_BYTES
from web.state import AppState
from web.tenant import page_site, page_unit, sites_of, units_of
from web.unit_export import may_read_unit
from web.unit_wall import UnitWallData


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


def register_pages(state: AppState, link: LiveLink,
                   unit_wall: UnitWallData) -> None:
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
        if screen == "wall":
            page = with_unit_walls(state, page, link, unit_wall)
        if screen == "analysis":
            page = unit_or_site_analysis(state, page)
        if screen == "console":
            page = with_units(state, page)
        dash.register_page(screen, path=path, title=t(title), layout=page)


def with_unit_walls(state: AppState, site_wall: Callable[..., Any], link: LiveLink,
                    unit_wall: UnitWallData) -> Callable[..., Any]:
    """``/wall``: a site's wall, or with ``?unit=`` a unit's (street,
    district, city), for a caller who may reach the unit (web/auth.py:
    ``may_reach_unit``; the gate refused the others already)."""
    def page(unit: str | None = None, by: str | None = None,
             lang: str | None = None, **query: Any) -> Any:
        if not unit:
            return site_wall(lang=lang, by=by, **query)
        caller = auth.principal()
        if caller is None or not caller.may("wall") or \
                not auth.may_reach_unit(caller, unit):
            return html.P(t("auth.forbidden"), className="auth-error")
        node = state.units[unit]
        return unit_wall_layout(
            {"id": unit, "level": node.level, "name": node.label(lang_of(lang))},
            unit_wall.outlines(unit), by if by in UNIT_KPIS else DEFAULT_BY, lang,
            link=link, tz=unit_wall.timezone(unit).key,
            reload_hour=state.config.wall_reload_hour)
    return page


def unit_or_site_analysis(state: AppState, site_page: Callable[..., Any]
                          ) -> Callable[..., Any]:
    """``/analysis?unit=<unit>``: the analysis of a unit the caller reaches
    (a unit's analyst with no site asked for lands on their own unit);
    otherwise the site's page."""
    from data.history.dataset import FilterError, default_range
    from data.history.unit_read import unit_scope
    from data.history.unit_view import (
        parse_unit_filters,
        unit_categories,
        unit_today,
    )

    def page(**query: Any) -> Any:
        caller = auth.principal()
        unit = query.get("unit") or (
            caller.unit if caller is not None and not query.get("site") else None)
        if not unit:
            return site_page(**query)
        if caller is None or not caller.may("analysis") \
                or not may_read_unit(caller, state, unit):
            return html.P(t("auth.forbidden"), className="auth-error")
        node = state.units[unit]
        scope = unit_scope(state.units, unit, state.sites)
        today = unit_today(scope, state.sites)
        lang = query.get("lang")
        names = {k: (c.name_en if lang == "en" else c.name)
                 for k, c in unit_categories(scope, state.sites).items()}
        try:  # the widgets start with the URL's range if it is right
            chosen = parse_unit_filters(query, scope, state.sites)
            start, end = chosen.start, chosen.end
        except FilterError:  # ... and the callback names what is wrong
            start, end = default_range(today)
        parent = (state.units[node.parent] if node.parent is not None
                  and may_read_unit(caller, state, node.parent) else None)
        return analysis_unit.layout(**{
            **query, "start": start.isoformat(), "end": end.isoformat(),
            "raw": {k: query[k] for k in ("start", "end", "categories",
                                          "repeat_days") if k in query},
            "unit": node, "parent": parent, "categories": names, "today": today})
    return page


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
