"""Callbacks of the wall: the fallback update, the spotlight, the browser glue.

Every version reaches a wall in its event stream, with what changed already
in it (``callbacks/wall_live.py``, applied by ``assets/wall.js``): no callback
round trip per wall and version. :func:`update_wall` is the same change as a
callback, for a wall whose event stream is down (the slow poll) or that lost
track: it reads the version once, shapes it once per web process
(flask-caching, keyed on site, version and language) and sends only the parts
that differ from what this browser shows, figures as ``Patch``.
"""

from __future__ import annotations

import json
from typing import Any

from dash import Dash, Input, Output, Patch, State, no_update
from flask_caching import Cache

from callbacks.wall_live import (  # noqa: F401  (shape, map_patch: for tests)
    LIVE_OUTPUTS,
    WallData,
    map_patch,
    shape,
)
from data.aggregator import now_ms
from data.cast import read_cast
from data.incidents import public_view
from layouts import ids
from layouts.wall_figures import MAP_SPOTLIGHT
from layouts.wall_render import (
    render_grid_spotlight,
    render_incident_spotlight,
)
from web.state import AppState

SPOT_CANDIDATES = 5
N_LIVE_OUTPUTS = len(LIVE_OUTPUTS)


def update_wall(request: dict | None, applied: dict | None, site_id: str,
                lang: str, data: WallData) -> tuple:
    """Outputs: people, KPIs, ranking, gates, parking, map, flow, ticker,
    alert children, alert class, status store, applied store."""
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


def update_spotlight(tick: int | None, _cast_seq: Any, site_id: str, lang: str,
                     data: WallData) -> tuple:
    """The spotlight: what a supervisor cast, else the busiest grids in turn."""
    state = data.state
    site = state.sites[site_id]
    parts = data.latest(site_id, lang) or {"grids": {}, "open_by_grid": {}}
    cast = read_cast(state.redis, state.keys(site_id))
    outlines = data.outlines[site_id, lang].set_index("id")
    patch = Patch()
    spot_trace = patch["data"][len(site.grids) + MAP_SPOTLIGHT]
    if cast and cast.get("kind") == "incident":
        raw = state.redis.get(state.keys(site_id).incident(cast["id"]))
        if raw:
            view = public_view(json.loads(raw), now_ms())
            grid = site.grids.get(view["grid"])
            cat = site.categories.get(view["category"])
            body = render_incident_spotlight(
                view, (cat.name_en if lang == "en" else cat.name) if cat else "",
                (grid.name_en if lang == "en" else grid.name) if grid else "", lang)
            return body, _zoom(patch, spot_trace, outlines.loc[view["grid"]])
    grid_id, is_cast = None, False
    if cast and cast.get("kind") == "grid" and cast.get("id") in site.grids:
        grid_id, is_cast = cast["id"], True
    else:
        live = parts["grids"]
        ranked = sorted(site.grids, key=lambda g: (
            -(live.get(g, {}).get("people_in_1h", 0)
              + live.get(g, {}).get("people_out_1h", 0)
              + 50 * parts["open_by_grid"].get(g, 0)), g))
        grid_id = ranked[(tick or 0) % min(SPOT_CANDIDATES, len(ranked))]
    grid = site.grids[grid_id]
    worker = site.users.get(grid.worker) if grid.worker else None
    body = render_grid_spotlight(grid, parts["grids"].get(grid_id, {}),
                                 parts["open_by_grid"].get(grid_id, 0),
                                 worker.name if worker else "—", is_cast, lang)
    row = outlines.loc[grid_id]
    if is_cast:
        return body, _zoom(patch, spot_trace, row)
    spot_trace["x"], spot_trace["y"] = row["xs"], row["ys"]
    patch["layout"]["xaxis"]["autorange"] = True
    patch["layout"]["yaxis"]["autorange"] = True
    return body, patch


def _zoom(patch: Patch, spot_trace, row) -> Patch:
    spot_trace["x"], spot_trace["y"] = row["xs"], row["ys"]
    x0, y0, x1, y1 = row["bounds"]
    pad_x, pad_y = (x1 - x0) * 0.6, (y1 - y0) * 0.6
    patch["layout"]["xaxis"]["range"] = [x0 - pad_x, x1 + pad_x]
    patch["layout"]["yaxis"]["range"] = [y0 - pad_y, y1 + pad_y]
    return patch


def register(app: Dash, state: AppState, cache: Cache) -> None:
    data = WallData(state, cache)
    app.server.extensions["gov_wall"] = data  # web/push.py: the pushed changes
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
        Input(ids.WALL_SPOT_TICK, "n_intervals"),
        Input(ids.WALL_CAST, "data"),
        State(ids.WALL_SITE, "data"),
        State(ids.WALL_LANG, "data"),
        prevent_initial_call="initial_duplicate",
    )(lambda tick, cast, site, lang: update_spotlight(tick, cast, site, lang, data))
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
        "function(n) { if (window.govWall) { window.govWall.poll(); }"
        " return window.dash_clientside.no_update; }",
        Output(ids.WALL_ACK, "data", allow_duplicate=True),
        Input(ids.WALL_POLL, "n_intervals"),
        prevent_initial_call=True,
    )


