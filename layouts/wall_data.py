"""Shaping a snapshot into what the wall shows: pure pandas, no Redis, no Dash.

:func:`wall_parts` turns one snapshot into named parts (KPIs, ranking, ticker,
map properties, …). The callback compares the parts of the version the
browser has with the new ones and sends only those that changed.
"""

from __future__ import annotations

import html
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd

from data.site import Site
from layouts.i18n import t
from layouts.theme import Theme
from layouts.wall_figures import (
    INCIDENT_SYMBOLS,
    entrance_colours,
    entrance_size,
    rgba,
)

RANKING = 8
GATES = 5
TICKER = 8


def grid_outlines(site: Site, lang: str = "zh") -> pd.DataFrame:
    """One row per grid: id, name, outline (xs, ys with None between rings), centre."""
    rows = []
    for grid in site.grids.values():
        geom = grid.geometry
        polygons = list(geom.geoms) if geom.geom_type == "MultiPolygon" else [geom]
        xs: list[float | None] = []
        ys: list[float | None] = []
        for polygon in polygons:
            x, y = polygon.exterior.coords.xy
            xs += [*x, None]
            ys += [*y, None]
        centre = geom.representative_point()
        rows.append({"id": grid.id, "name": grid.name_en if lang == "en" else grid.name,
                     "xs": xs[:-1], "ys": ys[:-1], "cx": centre.x, "cy": centre.y,
                     "bounds": geom.bounds})
    return pd.DataFrame(rows)


def people_label(people: int, estimated: bool) -> str:
    """A grid's people present, marked when one of its counters is silent."""
    return f"≈{people}" if estimated else str(people)


def entrance_hover(name: str, flow: int, silent: bool, lang: str) -> str:
    return f"{name}: {flow} / 5 min" + (
        f" · {t('health.state.silent', lang)}" if silent else "")


def map_frames(snap: dict | None, site: Site, outlines: pd.DataFrame,
               lang: str, *, silent: frozenset[str] = frozenset(),
               estimated: frozenset[str] = frozenset(),
               ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Frames for :func:`grid_map_figure` from a snapshot (or none yet);
    ``silent``: entrances whose counter is silent, ``estimated``: grids
    whose people present are an estimate for it."""
    grids = outlines.copy()
    live = (snap or {}).get("grids", {})
    grids["level"] = [live.get(g, {}).get("density_level", 0) for g in grids["id"]]
    grids["people"] = [live.get(g, {}).get("people_present", 0) for g in grids["id"]]
    shown = [people_label(p, g in estimated)
             for g, p in zip(grids["id"], grids["people"], strict=True)]
    grids["label"] = [f"{n}<br>{p}" for n, p in zip(grids["name"], shown,
                                                    strict=True)]
    grids["hover"] = [
        f"{n}: {p} {t('unit.people', lang)} · "
        f"{round(100 * live.get(g, {}).get('load', 0))}%"
        for g, n, p in zip(grids["id"], grids["name"], shown, strict=True)]
    flows = (snap or {}).get("entrances", {})
    entrances = pd.DataFrame([
        {"id": e.id, "lon": e.lon, "lat": e.lat,
         "flow": flows.get(e.id, {}).get("flow_5m", 0), "silent": e.id in silent,
         "hover": entrance_hover(e.name_en if lang == "en" else e.name,
                                 flows.get(e.id, {}).get("flow_5m", 0),
                                 e.id in silent, lang)}
        for e in site.entrances.values()])
    return grids, entrances, incident_points(snap, outlines, lang)


def incident_points(snap: dict | None, outlines: pd.DataFrame,
                    lang: str) -> pd.DataFrame:
    """Open incidents where they were reported, or spread around their grid."""
    centres = outlines.set_index("id")[["cx", "cy", "bounds"]]
    rows = []
    for n, inc in enumerate((snap or {}).get("open_incidents", [])):
        lon, lat = inc.get("lon"), inc.get("lat")
        if lon is None or lat is None:
            cx, cy, (x0, y0, x1, y1) = centres.loc[inc["grid"]]
            spread = ((n * 0.618) % 1 - 0.5) * 0.5
            lon, lat = cx + spread * (x1 - x0), cy + ((n * 0.382) % 1 - 0.5) * 0.5 * (
                y1 - y0)
        rows.append({"lon": lon, "lat": lat, "level": inc["level"],
                     "hover": f"{t('level.' + str(inc['level']), lang)} · "
                              f"{plain(inc['title'])}"})
    return pd.DataFrame(rows, columns=["lon", "lat", "level", "hover"])


def plain(text: str) -> str:
    """Typed text for a plotly label: plotly reads a few HTML tags in labels
    (<a href>, <b>, <br>), so what people typed is escaped to stay text."""
    return html.escape(text or "", quote=False)


def flow_frame(snap: dict | None, tz: ZoneInfo) -> pd.DataFrame:
    flow = (snap or {}).get("flow")
    if not flow:
        return pd.DataFrame()
    n = len(flow["in"])
    times = [datetime.fromtimestamp((flow["start_ms"] + k * flow["step_ms"]) / 1000,
                                    tz).replace(tzinfo=None) for k in range(n)]
    return pd.DataFrame({
        "time": times, "people_in": flow["in"], "people_out": flow["out"],
        "in_week_ago": flow["in_week_ago"] or [None] * n,
        "out_week_ago": flow["out_week_ago"] or [None] * n,
    })


def gates(snap: dict | None, site: Site, lang: str) -> list[dict[str, Any]]:
    """Vehicle gates by vehicles in + out in the last hour, busiest first."""
    flows = (snap or {}).get("entrances", {})
    rows = [{"id": e.id, "name": e.name_en if lang == "en" else e.name,
             "in": flows.get(e.id, {}).get("vehicles_in_1h", 0),
             "out": flows.get(e.id, {}).get("vehicles_out_1h", 0)}
            for e in site.entrances.values() if e.kind == "vehicle"]
    rows.sort(key=lambda r: (-(r["in"] + r["out"]), r["id"]))
    return rows[:GATES]


def ranking(snap: dict, site: Site, lang: str) -> list[dict[str, Any]]:
    """The busiest entrances in the last hour (people in + out)."""
    rows = []
    for eid, e in snap.get("entrances", {}).items():
        if site.entrances[eid].kind != "pedestrian":
            continue
        rows.append({"id": eid, "name": e["name_en"] if lang == "en" else e["name"],
                     "in": e["people_in_1h"], "out": e["people_out_1h"],
                     "total": e["people_in_1h"] + e["people_out_1h"]})
    rows.sort(key=lambda r: (-r["total"], r["id"]))
    return rows[:RANKING]


def kpis(snap: dict) -> dict[str, Any]:
    inc = snap["incidents"]
    cap = snap.get("parking_capacity") or 0
    return {
        "people_present": snap["people_present"],
        "people_in_1h": snap["people_in_1h"], "people_out_1h": snap["people_out_1h"],
        "people_in_today": snap["people_in_today"],
        "people_out_today": snap["people_out_today"],
        "vehicles_in_today": snap["vehicles_in_today"],
        "vehicles_out_today": snap["vehicles_out_today"],
        "parking_rate": round(100 * snap["parking_occupied"] / cap) if cap else None,
        "parking_free": cap - snap["parking_occupied"] if cap else None,
        "open": inc["open"], "overdue": inc["overdue"],
        "closed_today": inc["closed_today"],
        "on_time_rate": inc["on_time_rate"],
        "solved_in_grid_share": inc["solved_in_grid_share"],
    }


def ticker(snap: dict, site: Site, lang: str) -> list[dict[str, Any]]:
    """Newest incidents first; reporter and phone are already masked."""
    rows = []
    for inc in snap.get("recent_incidents", [])[:TICKER]:
        cat = site.categories.get(inc["category"])
        grid = site.grids.get(inc["grid"])
        rows.append({
            "id": inc["id"], "level": inc["level"],
            "category": (cat.name_en if lang == "en" else cat.name) if cat else "",
            "grid": (grid.name_en if lang == "en" else grid.name) if grid else "",
            "title": inc["title"], "status": inc["status"], "sla": inc["sla"],
            "reporter": inc["reporter"], "phone": inc["phone"],
            "reported_at": inc["reported_at"],
            "supervised": (inc.get("supervised") or {}).get("level"),
        })
    return rows


def map_values(snap: dict, site: Site, outlines: pd.DataFrame, lang: str,
               theme: Theme, *, silent: frozenset[str] = frozenset(),
               estimated: frozenset[str] = frozenset()) -> dict[str, Any]:
    """The map properties that change with the data, straight from a snapshot
    (the same values :func:`map_frames` gives the figure builder)."""
    live = snap.get("grids", {})
    rows = outlines[["id", "name", "cx", "cy", "bounds"]].to_dict("records")
    levels, labels, hovers = [], [], []
    for row in rows:
        g = live.get(row["id"], {})
        people = people_label(g.get("people_present", 0), row["id"] in estimated)
        levels.append(int(g.get("density_level", 0)))
        labels.append(f"{row['name']}<br>{people}")
        hovers.append(f"{row['name']}: {people} {t('unit.people', lang)} · "
                      f"{round(100 * g.get('load', 0))}%")
    flows = snap.get("entrances", {})
    sizes, hover, quiet = [], [], []
    for e in site.entrances.values():
        flow = flows.get(e.id, {}).get("flow_5m", 0)
        sizes.append(entrance_size(flow))
        quiet.append(e.id in silent)
        hover.append(entrance_hover(e.name_en if lang == "en" else e.name, flow,
                                    e.id in silent, lang))
    points = incident_points(snap, outlines, lang)
    inc_levels = [int(v) for v in points["level"]]
    return {
        "fill": [rgba(theme.density[lv], 0.38) for lv in levels],
        "line": [theme.density[lv] for lv in levels],
        "labels": labels, "grid_hover": hovers, "sizes": sizes,
        "entrance_hover": hover, **entrance_colours(quiet, theme),
        "incidents": {
            "x": list(points["lon"]), "y": list(points["lat"]),
            "text": list(points["hover"]),
            "color": [theme.levels[lv] for lv in inc_levels],
            "symbol": [INCIDENT_SYMBOLS[lv] for lv in inc_levels],
        },
    }


def flow_values(snap: dict, tz: ZoneInfo) -> dict[str, Any]:
    """The flow chart's x (local ISO times) and four y series, as lists."""
    flow = snap.get("flow")
    if not flow:
        return {"x": [], "y": []}
    n = len(flow["in"])
    x = [datetime.fromtimestamp((flow["start_ms"] + k * flow["step_ms"]) / 1000, tz)
         .replace(tzinfo=None).isoformat() for k in range(n)]
    return {"x": x, "y": [flow["in"], flow["out"],
                          flow["in_week_ago"] or [None] * n,
                          flow["out_week_ago"] or [None] * n]}


def map_patch_values(grids: pd.DataFrame, entrances: pd.DataFrame,
                     incidents: pd.DataFrame, theme: Theme) -> dict[str, Any]:
    """The map properties that change with the data (compared between versions)."""
    levels = [int(v) for v in incidents["level"]]
    return {
        "fill": [rgba(theme.density[int(lv)], 0.38) for lv in grids["level"]],
        "line": [theme.density[int(lv)] for lv in grids["level"]],
        "labels": list(grids["label"]),
        "grid_hover": list(grids["hover"]),
        "sizes": [entrance_size(f) for f in entrances["flow"]],
        "entrance_hover": list(entrances["hover"]),
        **entrance_colours(list(entrances["silent"]), theme),
        "incidents": {
            "x": list(incidents["lon"]), "y": list(incidents["lat"]),
            "text": list(incidents["hover"]),
            "color": [theme.levels[lv] for lv in levels],
            "symbol": [INCIDENT_SYMBOLS[lv] for lv in levels],
        },
    }
