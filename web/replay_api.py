"""The replay API: ``/api/v1/sites/<site>/replay?at=`` (the snapshot the
walls were shown at a moment, in the shape of ``/snapshot``) and
``/replay/events?start=&end=`` (what happened, for the time bar).

Read from the recorder's files (:mod:`data.replay`) with no Redis; the gate
(``web/auth.py``) has already checked that the caller reads this site. A
moment outside what is kept is a 404 naming the range kept; a moment that is
not ISO 8601 a 400 naming the parameter.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request

from data.replay.moments import BadMoment, iso, parse_moment
from data.replay.read import events, kept_range, snapshot_at
from data.replay.recorder import STALE_GAP_MS
from web.api import _site_or_404, error
from web.state import app_state

replay_api = Blueprint("api_replay", __name__, url_prefix="/api/v1")
MAX_SPAN_MS = 7 * 86_400_000  # events of at most a week per request


def kept(site) -> dict[str, Any] | None:
    """The range kept for ``site``: from its first recorded version to two
    heartbeats after its last (the walls showed the last one until then)."""
    found = kept_range(app_state().config.replay, site.id)
    if found is None:
        return None
    first, last = found
    return {"from": iso(first, site.timezone),
            "to": iso(last + STALE_GAP_MS, site.timezone),
            "from_ms": first, "to_ms": last + STALE_GAP_MS}


def _outside(site, span: dict | None, what: str) -> tuple[Response, int]:
    if span is None:
        return error(404, f"nothing is recorded for site {site.id} (yet): "
                          "is the recorder running (GOV_REPLAY_DAYS > 0)?",
                     kept=None)
    return error(404, f"{what} is outside what is kept for site {site.id}: "
                      f"from {span['from']} to {span['to']}", kept=span)


def replay_snapshot(site, at: int) -> tuple[dict | None, dict | None]:
    """(the snapshot at ``at``, the range kept); the snapshot is None when
    ``at`` is outside the range."""
    span = kept(site)
    if span is None or not span["from_ms"] <= at <= span["to_ms"]:
        return None, span
    return snapshot_at(app_state().config.replay, site.id, at), span


@replay_api.get("/sites/<site_id>/replay")
def replay(site_id: str):
    site, failure = _site_or_404(site_id)
    if failure:
        return failure
    try:
        at = parse_moment("at", request.args.get("at"), site.timezone)
    except BadMoment as exc:
        return error(400, str(exc))
    snap, span = replay_snapshot(site, at)
    if snap is None:
        return _outside(site, span, f"at={iso(at, site.timezone)}")
    response = jsonify(snap)
    response.headers["Cache-Control"] = "no-store"  # the newest moments still grow
    return response


@replay_api.get("/sites/<site_id>/replay/events")
def replay_events(site_id: str):
    site, failure = _site_or_404(site_id)
    if failure:
        return failure
    try:
        start = parse_moment("start", request.args.get("start"), site.timezone)
        end = parse_moment("end", request.args.get("end"), site.timezone)
    except BadMoment as exc:
        return error(400, str(exc))
    if end < start:
        return error(400, "end: before start")
    if end - start > MAX_SPAN_MS:
        return error(400, "end: at most 7 days after start")
    span = kept(site)
    if span is None or end < span["from_ms"] or start > span["to_ms"]:
        return _outside(site, span, "that span")
    found = events(app_state().config.replay, site.id, start, end)
    for event in found:
        event["at"] = iso(event["ms"], site.timezone)
    return jsonify({"site": site.id, "start": iso(start, site.timezone),
                    "end": iso(end, site.timezone), "kept": span,
                    "events": found})
