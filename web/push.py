"""Push: new snapshot versions to browsers over server-sent events.

Every open stream waits on this process's one Redis subscriber
(:class:`web.hub.Hub`), which listens to a site while a stream of it is
open here. Each stream carries
small JSON events: ``hello`` (the server's build id, so a wall reloads after a
deploy), ``version`` (a new snapshot version of its site, or a cast change) and
``ping`` every few seconds with the subscriber's health, so a wall can tell
"Redis is down" from "nothing happened". A wall's stream (``?wall=<lang>``)
also carries the wall itself: the whole of it in ``hello``, what changed in
each ``version`` (``web/wall_push.py``), serialized once per process and
version for all the walls of a site, and the spotlight in ``spot`` when its
rotation turns or the cast changes (``web/wall_spot.py``).

The factory builds the blueprint (:func:`push_blueprint`) with the app's
state and the same :class:`~web.wall_push.WallData` the wall's callbacks
answer from: handed over as arguments, nothing looked up at request time.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterator

import redis
from flask import Blueprint, Response, request, stream_with_context

from data.config import PROJECT_ROOT
from layouts.i18n import LANGS
from web.auth import Principal, credential_check, principal
from web.hub import STREAMS_PER_CLIENT, STREAMS_PER_KIOSK, Hub, hub
from web.state import AppState
from web.wall_push import WallData

log = logging.getLogger(__name__)

PING_S = 3.0
RECHECK_S = 1.0  # how stale a stream's view of its credential may be
RETRY_MS = 2000


def build_id() -> str:
    """A digest of the code and assets this process serves."""
    digest = hashlib.sha1()
    for folder in ("data", "web", "layouts", "callbacks", "assets"):
        for path in sorted((PROJECT_ROOT / folder).rglob("*")):
            if path.suffix in (".py", ".js", ".css") and path.is_file():
                digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def _event(kind: str, body: dict, **parts: str | None) -> str:
    """One event; ``parts``, JSON serialized once for every stream, are
    spliced in as they are."""
    data = json.dumps(body, separators=(",", ":"))
    for name, part in parts.items():
        if part is not None:
            data = f'{data[:-1]},"{name}":{part}}}'
    return f"event: {kind}\ndata: {data}\n\n"


Changes = Callable[[int | None, int | None], "tuple[int, str | None] | None"]
Spot = Callable[[int, int], str]  # (rotation period, cast number) -> JSON


def event_stream(the_hub: Hub, site: str, build: str, ping_s: float = PING_S,
                 changes: Changes | None = None,
                 people: Callable[[int], str] | None = None,
                 spot: Spot | None = None, spot_ms: int = 0,
                 alive: Callable[[], bool] | None = None) -> Iterator[str]:
    """The events of one browser's stream for ``site``.

    A wall's stream carries the wall itself. ``changes(base, version)``
    gives the newest wall version (at least the hub's ``version``) and, as
    JSON, what changed since ``base``, the version this stream carried last:
    ``hello`` carries the whole wall and each ``version`` event the change
    (``"wall"``), so a wall needs no request. ``people(n)``, JSON of the
    props showing n people present, goes out in a ``live`` event as soon as a
    fold moves the number, ahead of the next snapshot. ``spot(period,
    cast)``, JSON of the spotlight, goes out in ``hello`` and in a ``spot``
    event when the rotation period (epoch ms // ``spot_ms``) or the cast
    moves on: every wall of the site turns at the same moment, with no timer
    or request of its own. ``alive()`` is asked before what it sends, at most
    once every ``RECHECK_S`` and at least once a heartbeat: when the credential
    behind the stream has ended (signed out, revoked), a ``bye`` event goes out
    and the stream ends.
    """
    connected = the_hub.connected
    seen = the_hub.current(site)
    carried: int | None = None
    yield f"retry: {RETRY_MS}\n\n"
    hello = {"build": build, "site": site, "v": seen[0], "cast": seen[1],
             "inc": seen[3], "redis": connected, "t": int(time.time() * 1000)}
    carried, wall = _wall_change(changes, carried, seen[0])
    spot_key = (_period(spot_ms), seen[1])
    yield _event("hello", hello, wall=wall, spot=_spot(spot, spot_key))
    checked = time.monotonic()
    while True:
        now, connected = the_hub.wait(site, seen, connected,
                                      _until_turn(spot_ms, ping_s))
        if alive is not None and time.monotonic() - checked >= min(ping_s,
                                                                   RECHECK_S):
            checked = time.monotonic()
            if not _still(alive):
                yield _event("bye", {"t": int(time.time() * 1000)})
                return
        before, seen = seen, now
        turn = (_period(spot_ms), now[1])
        turned = spot is not None and turn != spot_key
        body = {"v": now[0], "cast": now[1], "inc": now[3], "redis": connected,
                "t": int(time.time() * 1000)}
        if now[:2] != before[:2] or now[3] != before[3]:
            wall = None
            if now[0] != before[0]:
                carried, wall = _wall_change(changes, carried, now[0])
            yield _event("version", body, wall=wall)
        elif now[2] == before[2] and not turned:  # the time or Redis' health
            yield _event("ping", body)
        if turned:  # if it cannot be made, the wall keeps what it shows
            spot_key = turn
            yield _event("spot", body, spot=_spot(spot, turn))
        if people is not None and now[2] != before[2]:
            base, count = the_hub.people_now(site)
            if carried is not None and base >= carried:  # not in what it has
                yield _event("live", body, live=f'{{"b":{base},"props":'
                                               f'{people(count)}}}')


def _wall_change(changes: Changes | None, carried: int | None,
                 version: int) -> tuple[int | None, str | None]:
    """(version now carried, the change as JSON or None)."""
    if changes is None:
        return carried, None
    try:
        found = changes(carried, version or None)
    except redis.RedisError as exc:  # the wall asks by callback instead
        log.warning("push: no wall change for the stream (%s)", exc)
        return carried, None
    if found is None:
        return carried, None
    return found


def _still(alive: Callable[[], bool]) -> bool:
    """A credential that cannot be checked (Redis down) is given the benefit
    of the doubt: the stream then carries nothing new anyway."""
    try:
        return alive()
    except redis.RedisError:
        return True


def _period(spot_ms: int) -> int:
    return int(time.time() * 1000) // spot_ms if spot_ms else 0


def _until_turn(spot_ms: int, ping_s: float) -> float:
    """Seconds to wait: the ping interval, or less if the spotlight turns."""
    if not spot_ms:
        return ping_s
    return min(ping_s, (spot_ms - time.time() * 1000 % spot_ms) / 1000 + 0.005)


def _spot(spot: Spot | None, key: tuple[int, int]) -> str | None:
    if spot is None:
        return None
    try:
        return spot(*key)
    except redis.RedisError as exc:
        log.warning("push: no spotlight for the stream (%s)", exc)
    except Exception:  # a spotlight that fails must not end every wall's stream
        log.exception("push: the spotlight failed")
    return None


def stream_owner(caller: Principal) -> tuple[str, int]:
    """Whose stream this is, and how many such one credential may hold."""
    limit = STREAMS_PER_KIOSK if caller.kind == "kiosk" else STREAMS_PER_CLIENT
    return f"{caller.kind}:{caller.name}:{caller.site or '*'}", limit


def push_blueprint(state: AppState, wall: WallData) -> Blueprint:
    """``/events/<site>`` of one app: its sites, and ``wall``'s changes and
    spotlights on a wall's stream."""
    push = Blueprint("push", __name__)

    @push.get("/events/<site_id>")
    def events(site_id: str):
        return event_response(state, wall, site_id)
    return push


def event_response(state: AppState, wall: WallData,
                   site_id: str) -> Response | tuple[dict, int]:
    """The event stream of ``site_id`` for this request's caller."""
    if site_id not in state.sites:
        return {"error": f"site {site_id!r} is not served here"}, 404
    the_hub = hub(state)
    changes = people = spot = None
    lang = request.args.get("wall")
    if lang in LANGS:
        changes = functools.partial(wall.event, site_id, lang)
        people = wall.people_props
        spot = functools.partial(wall.spots.event, site_id, lang)
    streams = the_hub.streams
    slot = streams.take(*stream_owner(principal()))  # the gate let a caller in
    if slot is None:
        return {"error": "too many open event streams for this sign-in"}, 429
    response = Response(
        stream_with_context(streams.held(slot, the_hub.watching(
            site_id, event_stream(
                the_hub, site_id, BUILD, changes=changes, people=people,
                spot=spot, spot_ms=wall.spots.period_ms if spot else 0,
                alive=credential_check())))),
        mimetype="text/event-stream")
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Accel-Buffering"] = "no"  # let proxies pass it through
    return response


BUILD = build_id()
