"""The wall's parts for one snapshot version: :func:`shape`.

Everything the wall shows, taken out of a snapshot and the feed health once
per web process, version and language, as plain values that compare (the
change to the next version is what differs: ``web/wall_changes.py``) and
that the cache keeps (``web/wall_push.py``). No Redis, no Dash callbacks.
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from data.interrupt import alerting
from layouts.theme import DARK
from layouts.wall import INCIDENT_KPIS, PEOPLE_KPIS
from layouts.wall_data import (
    flow_values,
    gates,
    kpis,
    map_values,
    ranking,
    ticker,
)
from layouts.wall_health import estimate_values, silent_places, strip_values
from layouts.wall_render import alert_texts, kpi_text

KPI_NAMES = (*PEOPLE_KPIS, *INCIDENT_KPIS)


def shape(snap: dict, site, outlines, lang: str,
          health: dict | None = None) -> dict[str, Any]:
    """Every part of the wall for one snapshot (JSON-ready, comparable),
    with the feed health as last judged (``data/feed/producers.py:
    summary``, None: not known).

    Plain Python rather than pandas: this runs for every version, and frames
    of a dozen rows cost more to build than to use.
    """
    k = kpis(snap)
    estimate = estimate_values(health)
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
        "estimate": estimate,
        "map": map_values(snap, site, outlines, lang, DARK,
                          silent=frozenset(silent_places(health)),
                          estimated=frozenset(estimate["grids"])),
        "flow": flow_values(snap, ZoneInfo(site.timezone)),
        "ticker": ticker(snap, site, lang),
        "alerts": alert_texts(snap, site, lang),
        "health": strip_values(health, site, lang),
        "interrupting": alerting(snap),
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

