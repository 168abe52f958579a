"""Callbacks of the wall: the fallback update, the spotlight, the browser glue.

Every version reaches a wall in its event stream, with what changed already
in it (``web/wall_push.py``, applied by ``assets/wall.js``): no callback
round trip per wall and version; so does the spotlight, once per rotation
period and cast (``web/wall_spot.py``), with no timer in the page.
:func:`update_wall` is the same change as a callback, for a wall whose event
stream is down (the slow poll) or that lost track: it reads the version once,
shapes it once per web process (flask-caching, keyed on site, version and
language) and sends only the parts that differ from what this browser shows,
figures as ``Patch``.
"""

from __future__ import annotations

from typing import Any

from dash import Dash, Input, Output, State, no_update

from layouts import ids
from web.wall_changes import LIVE_OUTPUTS
from web.wall_push import WallData
from web.wall_spot import Spotlights

N_LIVE_OUTPUTS = len(LIVE_OUTPUTS)


def update_wall(request: dict | None, applied: dict | None, site_id: str,
                lang: str, data: WallData) -> tuple:
    """Outputs: people, KPIs, ranking, gates, parking, map, flow, ticker,
    alert children, alert class, feed health, status store, applied store."""
    new = data.latest(site_id, lang)
    cast = (request or {}).get("cast", 0)
    # the request number makes every answer new, so the page always hears back
    done = (request or {}).get("n", 0)
    if new is None:
        return (*([no_update] * N_LIVE_OUTPUTS), {"v": 0, "cast": cast, "n": done})
    # what the page shows: pushed changes move it on without this callback
    seen = ((request or {}).get("shown") if "shown" in (request or {})
            else (applied or {}).get("v"))
    old = data.parts(site_id, seen, lang) if seen else None
    if old is not None and old["version"] == new["version"]:
        return (*([no_update] * N_LIVE_OUTPUTS),
                {"v": new["version"], "cast": cast, "n": done})
    return (*data.changes(site_id, old, new, lang),
            {"v": new["version"], "cast": cast, "n": done})


def update_spotlight(_request: Any, site_id: str, lang: str,
                     spots: Spotlights) -> tuple:
    """The spotlight now, for a wall whose event stream is down (the same
    one the streams carry: ``web/wall_spot.py``)."""
    return spots.now(site_id, lang)


def register(app: Dash, data: WallData) -> None:
    """The wall's callbacks, answering from ``data``: the same shaped
    versions and spotlights the event streams push (the factory gives both)."""
    app.callback(
        *(Output(cid, prop) for cid, prop in LIVE_OUTPUTS),
        Output(ids.WALL_APPLIED, "data"),
        Input(ids.WALL_REQUEST, "data"),
        State(ids.WALL_APPLIED, "data"),
        State(ids.WALL_SITE, "data"),
        State(ids.WALL_LANG, "data"),
        prevent_initial_call=True,
    )(lambda request, applied, site, lang: update_wall(
        request, applied, site, lang, data))
    app.callback(
        Output(ids.WALL_SPOTLIGHT, "children"),
        Output(ids.WALL_MAP, "figure", allow_duplicate=True),
        Input(ids.WALL_SPOT_REQUEST, "data"),
        State(ids.WALL_SITE, "data"),
        State(ids.WALL_LANG, "data"),
        prevent_initial_call=True,
    )(lambda request, site, lang: update_spotlight(request, site, lang,
                                                   data.spots))
    app.clientside_callback(
        "function(applied) { return window.govWall ? window.govWall.applied(applied)"
        " : window.dash_clientside.no_update; }",
        Output(ids.WALL_ACK, "data"),
        Input(ids.WALL_APPLIED, "data"),
        prevent_initial_call=True,
    )
    app.clientside_callback(
        "function(n, status) { return window.govWall ? window.govWall.tick(status)"
        " : window.dash_clientside.no_update; }",
        Output(ids.WALL_CLOCK, "children"),
        Output(ids.WALL_FRESH, "children"),
        Output(ids.WALL_STALE, "children"),
        Output(ids.WALL_STALE, "className"),
        Input(ids.WALL_TICK, "n_intervals"),
        State(ids.WALL_STATUS, "data"),
    )
    app.clientside_callback(
        "function(status) { return window.govWall ? window.govWall.fresh(status)"
        " : window.dash_clientside.no_update; }",
        Output(ids.WALL_FRESH, "children", allow_duplicate=True),
        Input(ids.WALL_STATUS, "data"),
        prevent_initial_call=True,
    )
    app.clientside_callback(
        "function(n) { if (window.govWall) { window.govWall.poll(); }"
        " return window.dash_clientside.no_update; }",
        Output(ids.WALL_ACK, "data", allow_duplicate=True),
        Input(ids.WALL_POLL, "n_intervals"),
        prevent_initial_call=True,
    )


