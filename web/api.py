"""The JSON API under ``/api/v1`` for other systems: sites and snapshots.

Unknown sites answer 404 and an unreachable Redis 503, both as JSON with an
``error`` a person can read; nothing here ever answers with a traceback.
"""

from __future__ import annotations

from typing import Any

import redis
from flask import Blueprint, Response, jsonify

from data.aggregator import now_ms
from data.snapshot import read_snapshot
from web.state import app_state

api = Blueprint("api_v1", __name__, url_prefix="/api/v1")


def error(status: int, message: str, **extra: Any) -> tuple[Response, int]:
    return jsonify({"error": message, "status": status, **extra}), status


def _site_or_404(site_id: str):
    state = app_state()
    site = state.sites.get(site_id)
    if site is None:
        return None, error(404, f"site {site_id!r} is not served here",
                           sites=list(state.sites))
    return site, None


@api.errorhandler(redis.RedisError)
def _redis_down(exc: redis.RedisError):
    return error(503, "the data service (Redis) is unavailable; retry shortly",
                 detail=type(exc).__name__)


@api.get("/sites")
def list_sites():
    state = app_state()
    return jsonify({"sites": [
        {"id": s.id, "name": s.name, "name_en": s.name_en, "kind": s.kind,
         "default": s.id == state.config.default_site}
        for s in state.sites.values()
    ]})


@api.get("/sites/<site_id>")
def describe_site(site_id: str):
    site, failure = _site_or_404(site_id)
    if failure:
        return failure
    state = app_state()
    keys = state.keys(site_id)
    body = site.describe()
    body["streams"] = {name: keys.stream(name)
                       for name in ("crowd", "traffic", "incident", "dead")}
    body["contract"] = "v1"
    return jsonify(body)


@api.get("/sites/<site_id>/snapshot")
def snapshot(site_id: str):
    _, failure = _site_or_404(site_id)
    if failure:
        return failure
    snap = read_snapshot(app_state().redis, app_state().keys(site_id))
    if snap is None:
        response, status = error(503, "no snapshot yet: is the aggregator running?")
        response.headers["Retry-After"] = "2"
        return response, status
    response = jsonify(snap)
    response.headers["Cache-Control"] = "no-store"
    return response


@api.get("/health")
def health():
    """Liveness for a monitoring probe: Redis answers, snapshots are fresh."""
    state = app_state()
    now = now_ms()
    sites = {}
    for site_id in state.sites:
        snap = read_snapshot(state.redis, state.keys(site_id))
        sites[site_id] = {
            "version": snap["version"] if snap else None,
            "snapshot_age_ms": now - snap["generated_ms"] if snap else None,
        }
    fresh = all(s["snapshot_age_ms"] is not None and s["snapshot_age_ms"] < 15_000
                for s in sites.values())
    return jsonify({"ok": fresh, "sites": sites}), 200 if fresh else 503
