"""The units above the sites, under ``/api/v1/units``: the tree and each
unit's rolled-up figures (data/units/rollup.py).

A unit is read from its own rolled-up hash and its children's, never from
its sites; a caller reaches the units :func:`web.tenant.units_of` gives it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import redis
from flask import Blueprint, jsonify

from data.units.rollup import kpis, read_units
from data.units.tree import Node, UnitTree
from web.api import error, redis_down
from web.auth import api_caller
from web.state import app_state
from web.tenant import units_of

units_api = Blueprint("api_v1_units", __name__, url_prefix="/api/v1")
units_api.register_error_handler(redis.RedisError, redis_down)


def _head(node: Node) -> dict[str, Any]:
    out: dict[str, Any] = {"id": node.id, "level": node.level, "name": node.name,
                           "name_en": node.name_en}
    if node.level == "community":
        out["site"] = node.site
    return out


def _subtree(tree: UnitTree, unit_id: str) -> dict[str, Any]:
    node = tree[unit_id]
    return {**_head(node),
            "children": [_subtree(tree, child) for child in node.children]}


def _tops(tree: UnitTree, reachable: frozenset[str] | None) -> list[str]:
    """The highest units of ``reachable`` (the root for every unit)."""
    if reachable is None:
        return [tree.root]
    return sorted(u for u in reachable
                  if u in tree and tree[u].parent not in reachable)


@units_api.get("/units")
def unit_tree():
    """The tree of the units the caller may read."""
    tree = app_state().units
    tops = _tops(tree, units_of(api_caller(), tree))
    return jsonify({"units": [_subtree(tree, u) for u in tops]})


def _timezone(tree: UnitTree, unit_id: str) -> ZoneInfo:
    """The timezone of the first site under ``unit_id``."""
    sites = app_state().sites
    for _, node in tree.walk(unit_id):
        if node.site in sites:
            return ZoneInfo(sites[node.site].timezone)
    return ZoneInfo("UTC")


@units_api.get("/units/<unit_id>")
def unit_figures(unit_id: str):
    """A unit's key figures, and each of its children's."""
    state = app_state()
    tree = state.units
    if unit_id not in tree:
        return error(404, f"unit {unit_id[:60]!r} is not above the sites served "
                          "here (GET /api/v1/units lists them)")
    reachable = units_of(api_caller(), tree)
    if reachable is not None and unit_id not in reachable:
        return error(403, f"unit {unit_id} is outside this caller's scope")
    node = tree[unit_id]
    counts = read_units(state.redis, state.config.prefix, (unit_id, *node.children))
    own = counts[unit_id]
    at = own.get("generated_ms")
    body = {
        **_head(node),
        "generated_at": (datetime.fromtimestamp(at / 1000, _timezone(tree, unit_id))
                         .isoformat(timespec="milliseconds") if at else None),
        "kpis": kpis(own, node.level),
        "children": [{**_head(tree[c]), "kpis": kpis(counts[c], tree[c].level)}
                     for c in node.children],
    }
    response = jsonify(body)
    response.headers["Cache-Control"] = "no-store"
    return response
