"""Push for the walls of the chain: ``/events/unit/<unit>?wall=<lang>&by=<figure>``.

The same event stream as a site's wall (web/push.py: ``hello`` with the
whole wall, ``version`` with what changed, ``spot`` when the spotlight
turns, ``ping``, ``bye``), fed by the push hub from the unit's channel
(:func:`web.hub.unit_feed`), which the roll-up announces on each new
version of the unit's figures; what goes in it is :class:`web.unit_wall.
UnitWallData`'s. The gate (web/auth.py) let in only a caller who reaches the
unit.
"""

from __future__ import annotations

import functools

from flask import Blueprint, Response, request, stream_with_context

from layouts.i18n import LANGS
from layouts.unit_wall import DEFAULT_BY
from layouts.unit_wall_render import KPIS
from web.auth import principal, stream_credential
from web.hub import hub, unit_feed
from web.push import BUILD, SharedEvents, event_stream, fan_out, stream_owner
from web.state import AppState
from web.unit_wall import UnitWallData
from web.wall_push import WallData


def unit_push_blueprint(state: AppState, wall: WallData,
                        unit_wall: UnitWallData) -> Blueprint:
    """``/events/unit/<unit>`` of one app (``wall``: the site walls' data,
    whose spotlight period and hub preparation the hub shares)."""
    push = Blueprint("unit_push", __name__)
    shared = SharedEvents()

    @push.get("/events/unit/<unit_id>")
    def unit_events(unit_id: str):
        return unit_event_response(state, wall, unit_wall, unit_id, shared)
    return push


UNIT_GAP_S = 0.2  # a unit's wall: at most five versions a second


def unit_event_response(state: AppState, wall: WallData, unit_wall: UnitWallData,
                        unit_id: str, shared: SharedEvents
                        ) -> Response | tuple[dict, int]:
    """The event stream of a unit's wall (the gate checked the unit):
    ``?wall=<lang>&by=<figure>``."""
    if unit_id not in state.units:
        return {"error": f"unit {unit_id[:60]!r} is not above the sites served "
                         "here"}, 404
    lang = request.args.get("wall")
    by = request.args.get("by") or DEFAULT_BY
    if lang not in LANGS or by not in KPIS:
        return {"error": "wall: expected zh or en; by: one of "
                         + ", ".join(KPIS)}, 400
    the_hub = hub(state, prepare=wall.prepare, fan_out=fan_out)
    feed = unit_feed(unit_id)
    slot = the_hub.streams.take(*stream_owner(principal()))
    if slot is None:
        return {"error": "too many open event streams for this sign-in"}, 429
    credential, watch = stream_credential(), the_hub.credentials
    stream = event_stream(
        the_hub, feed, BUILD,
        changes=functools.partial(unit_wall.event, unit_id, lang, by),
        spot=functools.partial(unit_wall.spot, unit_id, lang, by),
        spot_ms=wall.spots.period_ms,
        alive=functools.partial(watch.alive, credential) if credential
        else lambda: False, shared=shared, lang=f"{lang}:{by}",
        min_gap_s=UNIT_GAP_S)
    if credential:
        stream = watch.holding(credential, feed, stream)
    response = Response(stream_with_context(
        the_hub.streams.held(slot, the_hub.watching(feed, stream))),
        mimetype="text/event-stream")
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Accel-Buffering"] = "no"
    return response
