"""HTTP ingest: ``POST /api/v1/sites/<site>/feeds/<stream>``, and the API's
OpenAPI description at ``GET /api/v1/openapi.json``.

For producers that cannot speak Redis. The gate (``web/auth.py``) lets only a
Bearer API key of scope ``ingest`` for the site through; the key's producer
is the ``src`` of every entry. The body is one entry (a JSON object) or a
batch (an array of at most :data:`MAX_BATCH`); what happens to each entry is
decided in :mod:`data.feed.ingest` and answered per entry with 202.
"""

from __future__ import annotations

import json

from flask import Blueprint, g, jsonify, request

from data.clock import now_ms
from data.feed.ingest import ACCEPTED, DUPLICATE, REJECTED, ingest
from data.keys import FEED_STREAMS
from web.api import error
from web.auth import api_caller, audit_log, client_address
from web.openapi import document
from web.state import app_state

MAX_BATCH = 500
MAX_BODY_BYTES = 2 * 1024 * 1024
# Per API key, counted in entries (a batch of 500 costs 500): a camera
# vendor posting every second for 20 entrances fits, with room for catching up
# after an outage. Requests are limited too, for the cost of each request.
INGEST_ENTRY_LIMIT = "3000 per minute;120000 per hour"
INGEST_REQUEST_LIMIT = "600 per minute"

ingest_api = Blueprint("ingest", __name__, url_prefix="/api/v1")


class BadBody(ValueError):
    """The body is not one entry or a batch; ``args[1]`` is the status."""


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


def read_entries() -> list:
    """The posted entries, or BadBody with the status and a reason."""
    length = request.content_length
    if length is not None and length > MAX_BODY_BYTES:
        raise BadBody(f"body of {length} bytes; at most {MAX_BODY_BYTES}", 413)
    data = request.stream.read(MAX_BODY_BYTES + 1)
    if len(data) > MAX_BODY_BYTES:
        raise BadBody(f"body over {MAX_BODY_BYTES} bytes", 413)
    try:
        body = json.loads(data, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:  # RecursionError: [[[[…]]]]
        raise BadBody(f"body is not JSON: {str(exc)[:120]}", 400) from None
    if isinstance(body, dict):
        return [body]
    if not isinstance(body, list):
        raise BadBody("body is one entry (a JSON object) or a batch (an array "
                      "of objects)", 400)
    if not body:
        raise BadBody("the batch is empty", 400)
    if len(body) > MAX_BATCH:
        raise BadBody(f"batch of {len(body)} entries; at most {MAX_BATCH} per "
                      "request", 413)
    return body


def posted_entries() -> list:
    """:func:`read_entries`, read once per request: the rate limit counts the
    entries before the view handles them."""
    if "ingest_entries" not in g:
        try:
            g.ingest_entries = read_entries()
        except BadBody as exc:
            g.ingest_entries = exc
    if isinstance(g.ingest_entries, BadBody):
        raise g.ingest_entries
    return g.ingest_entries


def entry_cost() -> int:
    """What a request costs against :data:`INGEST_ENTRY_LIMIT`: its entries
    (a body that is not one entry or a batch is refused, and costs one)."""
    try:
        return len(posted_entries())
    except BadBody:
        return 1


def entry_rate_key() -> str:
    return f"entries:{rate_key()}"


def rate_key() -> str:
    """Rate-limit key: the API key (not its producer: each key its own)."""
    caller = api_caller()
    if caller is not None and caller.credential is not None:
        return f"apikey:{caller.credential.id}"
    return f"ip:{client_address()}"


@ingest_api.post("/sites/<site_id>/feeds/<stream>")
def feed(site_id: str, stream: str):
    state = app_state()
    site = state.sites.get(site_id)
    if site is None:
        return error(404, f"site {site_id!r} is not served here",
                     sites=list(state.sites))
    if stream not in FEED_STREAMS:
        return error(404, f"stream {stream[:40]!r} is not one of "
                          f"{', '.join(FEED_STREAMS)}")
    caller = api_caller()
    if caller is None or caller.credential is None:  # the gate ensures a key
        return error(403, "only an API key of scope ingest may post feeds")
    try:
        entries = posted_entries()
    except BadBody as exc:
        return error(exc.args[1], exc.args[0])
    outcomes = ingest(state.redis, state.keys(site_id), site, stream,
                      caller.credential.producer, entries, now_ms=now_ms(),
                      dedup_seconds=state.config.dedup_seconds)
    counts = {s: sum(o.status == s for o in outcomes)
              for s in (ACCEPTED, REJECTED, DUPLICATE)}
    audit_log("ingest", f"{site_id}/{stream}",
        detail=f"{counts[ACCEPTED]} accepted, {counts[REJECTED]} rejected, "
               f"{counts[DUPLICATE]} duplicates")
    return jsonify({"accepted": counts[ACCEPTED], "rejected": counts[REJECTED],
                    "duplicates": counts[DUPLICATE],
                    "results": [o.public() for o in outcomes]}), 202


@ingest_api.get("/openapi.json")
def openapi():
    state = app_state()
    response = jsonify(document(state.sites, max_batch=MAX_BATCH,
                                units=state.units))
    response.headers["Cache-Control"] = "no-cache"
    return response
