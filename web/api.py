"""The JSON API under ``/api/v1`` for other systems: sites and snapshots.

Unknown sites answer 404 and an unreachable Redis 503, both as JSON with an
``error`` a person can read; nothing here ever answers with a traceback.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import redis
from flask import Blueprint, Response, jsonify, request

from data.clock import now_ms
from data.durable import NotReplicated
from data.feed.health import describe, read_failure
from data.feed.producers import limits_of, read_health
from data.feed.snapshot import read_snapshot
from data.incidents.lifecycle import DONE, OPEN, public_view
from data.incidents.store import CHUNK, read_incident, read_incidents
from web.auth import api_caller
from web.state import app_state
from web.tenant import api_grid_scope

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
def redis_down(exc: redis.RedisError):
    logging.getLogger(__name__).warning("redis error on %s: %r", request.path, exc)
    if isinstance(exc, NotReplicated):
        response, status = error(503, str(exc), detail="NotReplicated")
        response.headers["Retry-After"] = "1"
        return response, status
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


@api.get("/sites/<site_id>/producers")
def producers(site_id: str):
    """Every producer and device of the site, judged now
    (``data/feed/producers.py``); a person sees the devices of their grids."""
    site, failure = _site_or_404(site_id)
    if failure:
        return failure
    state = app_state()
    rows = read_health(state.redis, state.keys(site_id), site, now_ms(),
                       limits_of(state.config), rows=True)
    scope = api_grid_scope(api_caller(), site)
    shown = [{k: row[k] for k in PRODUCER_FIELDS} for row in rows
             if not scope or row["grid"] in scope]
    response = jsonify({"site": site_id, "producers": shown})
    response.headers["Cache-Control"] = "no-store"
    return response


PRODUCER_FIELDS = ("src", "device", "kind", "state", "since", "last_ts",
                   "rate_per_min", "usual_per_min", "refused_15m", "last_reason",
                   "grid")
FRESH_MS = 15_000


@api.get("/health")
def health():
    """Liveness for a monitoring probe: Redis answers, snapshots are fresh and
    no site is failing. ``?site=<id>`` asks about one site alone (200 while
    that site is healthy, whatever the others do)."""
    state = app_state()
    wanted = request.args.get("site")
    if wanted is not None and wanted not in state.sites:
        return error(404, f"site {wanted[:40]!r} is not served here")
    now = now_ms()
    sites = {site_id: site_health(state.redis, state.keys(site_id), now)
             for site_id in state.sites if wanted in (None, site_id)}
    ok = all(s["ok"] for s in sites.values())
    return jsonify({"ok": ok, "sites": sites}), 200 if ok else 503


def site_health(r: redis.Redis, keys, now: int) -> dict[str, Any]:
    """One site: its snapshot's version and age, and why it is unhealthy."""
    try:
        snap = read_snapshot(r, keys)
    except (redis.ResponseError, ValueError) as exc:
        snap, unreadable = None, f"snapshot unreadable: {describe(exc)}"
    else:
        unreadable = None
    failure = read_failure(r, keys)
    age = now - snap["generated_ms"] if snap else None
    reason = (failure["reason"] if failure else unreadable
              or ("no snapshot yet" if snap is None else None)
              or (f"snapshot is {age // 1000} s old" if age >= FRESH_MS else None))
    out: dict[str, Any] = {"ok": reason is None,
                           "version": snap["version"] if snap else None,
                           "snapshot_age_ms": age}
    if reason:
        out["reason"] = reason
    return out


def _iso(ms: int | None, tz: str) -> str | None:
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, ZoneInfo(tz)).isoformat(
        timespec="seconds")


def open311(record: dict, site, now: int, with_history: bool = False,
            unmasked: bool = False) -> dict:
    """An incident in Open311-like fields, personal data masked unless
    ``unmasked`` (a signed-in supervisor or admin)."""
    view = public_view(record, now)
    if unmasked:
        view = {**view, "reporter": record.get("reporter", ""),
                "phone": record.get("phone", "")}
    category = site.categories.get(record["category"])
    chain = site.grids[record["grid"]]
    owner = record["owner_level"]
    agency = (site.grids[record["grid"]].name if owner == "grid"
              else site.units[getattr(chain, owner)].name)
    body = {
        "service_request_id": record["id"],
        "status": "closed" if record["status"] in DONE else "open",
        "status_detail": record["status"],
        "service_code": record["category"],
        "service_name": category.name if category else record["category"],
        "title": record["title"], "description": record["detail"],
        "level": record["level"], "grid": record["grid"], "channel": record["channel"],
        "lat": record["lat"], "long": record["lon"],
        "requested_datetime": _iso(record["reported_at"], site.timezone),
        "updated_datetime": _iso(record["updated_at"], site.timezone),
        "expected_datetime": _iso(record["deadline"], site.timezone),
        "closed_datetime": _iso(record["closed_at"], site.timezone),
        "agency_responsible": agency, "owner_level": owner,
        "assignee": record["assignee"], "rework": record["rework"],
        "sla": view["sla"], "overdue": view["overdue"],
        "reporter": view["reporter"], "phone": view["phone"],
        "merged_into": record["merged_into"],
    }
    if with_history:
        body["history"] = [
            {k: v for k, v in {**h, "datetime": _iso(h["ts"], site.timezone)}.items()
             if k not in ("eid", "src")}
            for h in record["history"]]
    return body


@api.get("/sites/<site_id>/incidents")
def list_incidents(site_id: str):
    site, failure = _site_or_404(site_id)
    if failure:
        return failure
    status, grid, level = (request.args.get(k) for k in ("status", "grid", "level"))
    statuses = {"open": set(OPEN), "closed": set(DONE)}.get(
        status or "", {status} if status else None)
    if status and not statuses <= set(OPEN + DONE):
        return error(400, f"status {status!r} is not one of open, closed, "
                          f"{', '.join(OPEN + DONE)}")
    if grid and grid not in site.grids:
        return error(400, f"grid {grid!r} is not in site {site_id}")
    if level and level not in ("1", "2", "3"):
        return error(400, f"level {level!r} is not 1, 2 or 3")
    try:
        limit = min(1000, max(1, int(request.args.get("limit", "200"))))
    except ValueError:
        return error(400, "limit must be a whole number")
    state = app_state()
    keys = state.keys(site_id)
    scope = api_grid_scope(api_caller(), site)
    ids = state.redis.zrevrange(keys.incidents_all, 0, 4999)
    now = now_ms()
    out = []
    for chunk in range(0, len(ids), CHUNK):
        for record in read_incidents(state.redis, keys, ids[chunk:chunk + CHUNK]):
            if ((statuses and record["status"] not in statuses)
                    or (grid and record["grid"] != grid)
                    or (scope and record["grid"] not in scope)
                    or (level and str(record["level"]) != level)):
                continue
            out.append(open311(record, site, now, unmasked=_unmasked()))
            if len(out) >= limit:
                return jsonify({"site": site_id, "incidents": out})
    return jsonify({"site": site_id, "incidents": out})


@api.get("/sites/<site_id>/incidents/<incident_id>")
def one_incident(site_id: str, incident_id: str):
    site, failure = _site_or_404(site_id)
    if failure:
        return failure
    state = app_state()
    record = read_incident(state.redis, state.keys(site_id), incident_id)
    scope = api_grid_scope(api_caller(), site)
    if record is None or (scope and record["grid"] not in scope):
        return error(404, f"incident {incident_id!r} is not in site {site_id}")
    return jsonify(open311(record, site, now_ms(), with_history=True,
                           unmasked=_unmasked()))


def _unmasked() -> bool:
    """Reporters' names and phones only for signed-in supervisors and admins."""
    caller = api_caller()
    return bool(caller and caller.sees_personal_data)


API_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]


def no_such_api(rest: str = ""):
    """Any /api/ path no route serves: a JSON 404, never the HTML page that
    Dash's catch-all route would answer with 200."""
    return error(404, f"no API at {request.path[:200]!r}",
                 see="/api/v1/openapi.json")


def mount_not_found(server: Any) -> None:
    """Route every unknown /api/ path to :func:`no_such_api` (more specific
    rules, every real endpoint, win over ``<path:rest>``)."""
    for endpoint, rule in (("api_root", "/api/"), ("api_not_found",
                                                   "/api/<path:rest>")):
        server.add_url_rule(rule, endpoint, no_such_api, methods=API_METHODS)
