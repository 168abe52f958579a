"""Callbacks of the wall: one snapshot read and one shaping per version.

``assets/wall.js`` sets the request store when a new version is pushed (or
the slow poll fires while the event stream is down), never while an update is
in flight. :func:`update_wall` reads the version once, shapes it once per web
process (flask-caching, keyed on site, version and language) and sends only
the parts that differ from what this browser shows, figures as ``Patch``.
"""

from __future__ import annotations

import json
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
from dash import Dash, Input, Output, Patch, State, no_update
from flask_caching import Cache

from data.aggregator import now_ms
from data.cast import read_cast
from data.incidents import public_view
from data.snapshot import read_snapshot, read_version
from layouts import ids
from layouts.theme import DARK
from layouts.wall import INCIDENT_KPIS, PEOPLE_KPIS, flip_digits
from layouts.wall_data import (
    flow_values,
    gates,
    grid_outlines,
    kpis,
    map_values,
    ranking,
    ticker,
)
from layouts.wall_figures import (
    MAP_ENTRANCES,
    MAP_INCIDENTS,
    MAP_LABELS,
    MAP_SPOTLIGHT,
    flow_figure,
)
from layouts.wall_render import (
    alert_texts,
    kpi_text,
    render_alerts,
    render_gates,
    render_grid_spotlight,
    render_incident_spotlight,
    render_parking,
    render_ranking,
    render_ticker,
)
from web.state import AppState

KPI_NAMES = (*PEOPLE_KPIS, *INCIDENT_KPIS)
SPOT_CANDIDATES = 5
N_LIVE_OUTPUTS = 10 + len(KPI_NAMES)  # every output of update_wall but the last


def shape(snap: dict, site, outlines, lang: str) -> dict[str, Any]:
    """Every part of the wall for one snapshot (JSON-ready, comparable).

    Plain Python rather than pandas: this runs for every version, and frames
    of a dozen rows cost more to build than to use.
    """
    k = kpis(snap)
    values = {name: k.get(name) for name in KPI_NAMES}
    values["vehicles_today"] = (k["vehicles_in_today"], k["vehicles_out_today"])
    return {
        "version": snap["version"],
        "people": k["people_present"],
        "kpi": {name: kpi_text(name, v) for name, v in values.items()},
        "ranking": ranking(snap, site, lang),
        "gates": gates(snap, site, lang),
        "parking": [{"name": p["name_en"] if lang == "en" else p["name"],
                     "occupied": p["occupied"], "capacity": p["capacity"]}
                    for p in snap.get("parking", {}).values()],
        "map": map_values(snap, site, outlines, lang, DARK),
        "flow": flow_values(snap, ZoneInfo(site.timezone)),
        "ticker": ticker(snap, site, lang),
        "alerts": alert_texts(snap, site, lang),
        "grids": snap.get("grids", {}),
        "open_by_grid": _open_by_grid(snap),
        "status": {"generated_ms": snap["generated_ms"],
                   "feeds": {n: f["last_ts"] for n, f in snap["feeds"].items()}},
    }


def _open_by_grid(snap: dict) -> dict[str, int]:
    counts: dict[str, int] = {}
    for inc in snap.get("open_incidents", []):
        counts[inc["grid"]] = counts.get(inc["grid"], 0) + 1
    return counts


class WallData:
    """Shaped snapshots per (site, version, language), shared by every wall."""

    def __init__(self, state: AppState, cache: Cache) -> None:
        self.state, self.cache = state, cache
        self.outlines = {(s, lang): grid_outlines(site, lang)
                         for s, site in state.sites.items() for lang in ("zh", "en")}

    def parts(self, site_id: str, version: int, lang: str) -> dict | None:
        return self.cache.get(f"wall:{site_id}:{version}:{lang}")

    def latest(self, site_id: str, lang: str) -> dict | None:
        """The newest shaped snapshot: one GET of the version when cached."""
        keys = self.state.keys(site_id)
        version = read_version(self.state.redis, keys)
        found = self.parts(site_id, version, lang)
        if found is not None:
            return found
        snap = read_snapshot(self.state.redis, keys)
        if snap is None:
            return None
        shaped = shape(snap, self.state.sites[site_id],
                       self.outlines[site_id, lang], lang)
        self.cache.set(f"wall:{site_id}:{snap['version']}:{lang}", shaped)
        return shaped


def _changed(old: dict | None, new: dict, name: str) -> bool:
    return old is None or old.get(name) != new.get(name)


def map_patch(old: dict | None, new: dict, n_grids: int) -> Patch | Any:
    before, after = (old or {}).get("map"), new["map"]
    if before == after:
        return no_update
    patch = Patch()
    for i in range(n_grids):
        if before is None or before["fill"][i] != after["fill"][i]:
            patch["data"][i]["fillcolor"] = after["fill"][i]
            patch["data"][i]["line"]["color"] = after["line"][i]
        if before is None or before["grid_hover"][i] != after["grid_hover"][i]:
            patch["data"][i]["text"] = after["grid_hover"][i]
    if before is None or before["labels"] != after["labels"]:
        patch["data"][n_grids + MAP_LABELS]["text"] = after["labels"]
    if before is None or before["sizes"] != after["sizes"]:
        patch["data"][n_grids + MAP_ENTRANCES]["marker"]["size"] = after["sizes"]
        patch["data"][n_grids + MAP_ENTRANCES]["text"] = after["entrance_hover"]
    if before is None or before["incidents"] != after["incidents"]:
        inc = after["incidents"]
        trace = patch["data"][n_grids + MAP_INCIDENTS]
        trace["x"], trace["y"], trace["text"] = inc["x"], inc["y"], inc["text"]
        trace["marker"]["color"] = inc["color"]
        trace["marker"]["symbol"] = inc["symbol"]
    return patch


def flow_patch(old: dict | None, new: dict, lang: str) -> Patch | Any:
    if not _changed(old, new, "flow") or not new["flow"]["x"]:
        return no_update
    if old is None:  # this browser's first update: the whole figure
        columns = ("people_in", "people_out", "in_week_ago", "out_week_ago")
        frame = pd.DataFrame({"time": pd.to_datetime(new["flow"]["x"]),
                              **dict(zip(columns, new["flow"]["y"], strict=True))})
        return flow_figure(frame, theme=DARK, lang=lang)
    patch = Patch()
    for i, ys in enumerate(new["flow"]["y"]):
        patch["data"][i]["x"] = new["flow"]["x"]
        patch["data"][i]["y"] = ys
        if i >= 2:
            patch["data"][i]["visible"] = True if any(
                v is not None for v in ys) else "legendonly"
    return patch


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
    seen = (applied or {}).get("v")
    old = data.parts(site_id, seen, lang) if seen else None
    if old is not None and old["version"] == new["version"]:
        return (*([no_update] * N_LIVE_OUTPUTS),
                {"v": new["version"], "cast": cast, "n": done})
    site, tz = data.state.sites[site_id], ZoneInfo(data.state.sites[site_id].timezone)
    keep = lambda name, value: value if _changed(old, new, name) else no_update  # noqa: E731
    return (
        keep("people", flip_digits(new["people"])),
        *(new["kpi"][n] if old is None or old["kpi"][n] != new["kpi"][n]
          else no_update for n in KPI_NAMES),
        keep("ranking", render_ranking(new["ranking"], lang)),
        keep("gates", render_gates(new["gates"], lang)),
        keep("parking", render_parking(new["parking"], lang)),
        map_patch(old, new, len(site.grids)),
        flow_patch(old, new, lang),
        keep("ticker", render_ticker(new["ticker"], lang, tz)),
        keep("alerts", render_alerts(new["alerts"], lang)),
        keep("alerts", "wall-alert on" if new["alerts"] else "wall-alert"),
        new["status"],
        {"v": new["version"], "cast": cast, "n": done},
    )


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
    app.callback(
        Output(ids.WALL_PEOPLE, "children"),
        *(Output(ids.wall_kpi(name), "children") for name in KPI_NAMES),
        Output(ids.WALL_RANKING, "children"),
        Output(ids.WALL_VEHICLES, "children"),
        Output(ids.WALL_PARKING, "children"),
        Output(ids.WALL_MAP, "figure"),
        Output(ids.WALL_FLOW, "figure"),
        Output(ids.WALL_TICKER, "children"),
        Output(ids.WALL_ALERT, "children"),
        Output(ids.WALL_ALERT, "className"),
        Output(ids.WALL_STATUS, "data"),
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


