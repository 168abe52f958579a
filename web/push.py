"""Push: new snapshot versions to browsers over server-sent events.

Every open stream waits on this process's one Redis subscriber
(:class:`web.hub.Hub`), which listens to a site while a stream of it is
open here. Each stream carries
small JSON events: ``hello`` (the server's build id, so a wall reloads after a
deploy), ``version`` (a new snapshot version of its site, or a cast change) and
``ping`` every few seconds with the subscriber's health, so a wall can tell
"Redis is down" from "nothing happened". A wall's stream (``?wall=<lang>``)
also carries the wall itself: the whole of it in ``hello``, what changed in
each ``version`` (``web/wall_push.py``, ``web/wall_changes.py``), serialized
once per process and version for all the walls of a site, and the spotlight
in ``spot`` when its rotation turns or the cast changes (``web/wall_spot.py``).

The factory builds the blueprint (:func:`push_blueprint`) with the app's
state and the same :class:`~web.wall_push.WallData` the wall's callbacks
answer from: handed over as arguments, nothing looked up at request time.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import random
import threading
import time
from collections.abc import Callable, Hashable, Iterator
from typing import Any

import redis
from flask import Blueprint, Response, request, stream_with_context

from data.config import PROJECT_ROOT
from layouts.i18n import LANGS
from web.auth import Principal, principal, stream_credential
from web.hub import STREAMS_PER_CLIENT, STREAMS_PER_KIOSK, Hub, hub
from web.state import AppState
from web.wall_push import WallData

log = logging.getLogger(__name__)

PING_S = 3.0
PING_SPREAD = 0.25  # a ping comes after (1 - PING_SPREAD .. 1) * PING_S of quiet
RETRY_MS = 2000
BUILD_WAIT_S = 5.0  # how long a stream waits for an event another one builds


def build_id() -> str:
    """A digest of the code and assets this process serves."""
    digest = hashlib.sha1()
    for folder in ("data", "web", "layouts", "callbacks", "assets"):
        for path in sorted((PROJECT_ROOT / folder).rglob("*")):
            if path.suffix in (".py", ".js", ".css") and path.is_file():
                digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def _event(kind: str, body: dict, **parts: str | None) -> bytes:
    """One event; ``parts``, JSON serialized once for every stream, are
    spliced in as they are."""
    data = json.dumps(body, separators=(",", ":"))
    for name, part in parts.items():
        if part is not None:
            data = f'{data[:-1]},"{name}":{part}}}'
    return f"event: {kind}\ndata: {data}\n\n".encode()


class SharedEvents:
    """Events as bytes, each built once for all the streams of this process
    that send it within ``max_age_s`` (its ``t`` is when it was built): a
    version that wakes 5,000 walls of a site costs one build, and each wall
    writes the same bytes, with no JSON, no lock held across a build and no
    Redis read of its own. The streams that ask while it is being built wait
    for it rather than build it again."""

    def __init__(self, max_age_s: float = 0.5, kept: int = 256) -> None:
        self.max_age_s, self.kept = max_age_s, kept
        self._made: dict[Hashable, tuple[float, Any]] = {}
        self._building: dict[Hashable, threading.Event] = {}
        self._lock = threading.Lock()  # never held across a build

    def _fresh(self, key: Hashable) -> tuple[float, Any] | None:
        found = self._made.get(key)
        if found is not None and time.monotonic() - found[0] < self.max_age_s:
            return found
        return None

    def get(self, key: Hashable, build: Callable[[], Any]) -> Any:
        found = self._fresh(key)
        if found is not None:
            return found[1]
        with self._lock:
            found = self._fresh(key)
            building = self._building.get(key) if found is None else None
            if found is None and building is None:
                self._building[key] = threading.Event()
        if found is not None:
            return found[1]
        if building is not None:  # another stream builds it
            building.wait(BUILD_WAIT_S)
            found = self._made.get(key)
            return found[1] if found is not None else build()
        try:
            value = build()
            with self._lock:
                self._made.pop(key, None)  # the newest last: the oldest go first
                self._made[key] = (time.monotonic(), value)
                while len(self._made) > self.kept:
                    del self._made[next(iter(self._made))]
            return value
        finally:
            with self._lock:
                self._building.pop(key).set()


Changes = Callable[[int | None, int | None], "tuple[int, str | None] | None"]
Spot = Callable[[int, int], str]  # (rotation period, cast number) -> JSON


class StreamState:
    """What one stream has sent, and what it should send next: the events
    due when the site's state is ``now`` (see :func:`event_stream`). Asked by
    the stream's own greenlet or thread, or, for a :class:`Direct` stream, by
    the hub's fan-out, never by both at once."""

    __slots__ = ("the_hub", "site", "changes", "people", "spot", "spot_ms",
                 "shared", "lang", "ping_s", "seen", "connected", "carried",
                 "spot_key", "ping_at")

    def __init__(self, the_hub: Hub, site: str, ping_s: float,
                 changes: Changes | None, people: Callable[[int], str] | None,
                 spot: Spot | None, spot_ms: int, shared: SharedEvents,
                 lang: str | None) -> None:
        self.the_hub, self.site, self.ping_s = the_hub, site, ping_s
        self.changes, self.people, self.spot = changes, people, spot
        self.spot_ms, self.shared, self.lang = spot_ms, shared, lang
        self.connected = the_hub.connected
        self.seen = the_hub.current(site)
        self.carried: int | None = None
        self.spot_key = (_period(spot_ms), self.seen[1])
        self.ping_at = 0.0

    def hello(self, build: str) -> bytes:
        seen = self.seen
        hello = {"build": build, "site": self.site, "v": seen[0], "cast": seen[1],
                 "inc": seen[3], "redis": self.connected,
                 "t": int(time.time() * 1000)}
        self.carried, wall = _wall_change(self.changes, self.carried, seen[0])
        self.ping_at = time.monotonic() + _jittered(self.ping_s)
        return _event("hello", hello, wall=wall, spot=_spot(self.spot,
                                                             self.spot_key))

    def wait_s(self) -> float:
        """How long the stream may sleep: until its ping or the spot's turn."""
        return max(0.0, min(self.ping_at - time.monotonic(),
                            _until_turn(self.spot_ms, self.ping_s)))

    def due(self, now: tuple[int, int, int, int], health: bool) -> list[bytes]:
        """The events to send now that the site is at ``now`` and Redis'
        health is ``health`` (none: nothing moved, no ping due yet)."""
        shared, site, lang = self.shared, self.site, self.lang
        before, self.seen = self.seen, now
        moved, self.connected = health != self.connected, health
        connected = health
        state = (site, lang, now, connected)
        turn = (_period(self.spot_ms), now[1])
        out: list[bytes] = []
        # the spotlight first: an urgent event taking it is what the room
        # must see at once; the version's many changes (ticker, map, figures)
        # take the browser longer to draw and follow in the same write
        if self.spot is not None and turn != self.spot_key:
            self.spot_key = turn  # if it cannot be made, the wall keeps its own
            out.append(shared.get(("spot", state, turn), functools.partial(
                _event_of, "spot", now, connected,
                spot=functools.partial(_spot, self.spot, turn))))
        if now[:2] != before[:2] or now[3] != before[3]:
            new_version = now[0] != before[0]
            self.carried, data = shared.get(
                ("version", state, self.carried, new_version), functools.partial(
                    _version_event, self.changes, self.carried, now, connected,
                    new_version))
            out.append(data)
        if self.people is not None and now[2] != before[2]:
            base, count = self.the_hub.people_now(site)
            if self.carried is not None and base >= self.carried:  # not sent yet
                out.append(shared.get(("live", state, base, count), functools.partial(
                    _event_of, "live", now, connected,
                    live=functools.partial(_live, self.people, base, count))))
        if not out and (moved or time.monotonic() >= self.ping_at):
            out.append(shared.get(("ping", state), functools.partial(
                _event_of, "ping", now, connected)))
        if out:
            self.ping_at = time.monotonic() + _jittered(self.ping_s)
        return out


class Direct:
    """A stream written to by the hub's fan-out (:func:`fan_out`) straight
    onto its socket, without waking the stream.

    Waking a stream to send an event cost about 60 µs of the web process's
    CPU under gevent (the greenlet switch and its timer, the WSGI layers, two
    system calls), so a version reached the last of 5,000 walls about 300 ms
    after the first; written from the hub's loop, each costs the one
    ``send``. The stream itself still sends its hello, its pings and its
    bye, and whatever the fan-out could not write at once: a slow client's
    rest (``rest``) and everything after it is the stream's own to send, so
    one slow wall never holds up the others. Only one of the two writes at a
    time: the fan-out skips (and wakes) a stream that is ``busy`` writing."""

    __slots__ = ("state", "sock", "raw", "chunked", "alive", "woken", "busy",
                 "rest", "gone")

    def __init__(self, state: StreamState, sock: Any, chunked: bool,
                 alive: Callable[[], bool]) -> None:
        self.state, self.sock, self.raw = state, sock, sock._sock
        self.chunked, self.alive = chunked, alive
        self.woken = threading.Event()  # gevent's, under its worker
        self.busy, self.rest, self.gone = False, b"", False

    def wake(self) -> None:
        self.woken.set()

    def sleep(self, timeout: float) -> None:
        self.woken.wait(timeout)
        self.woken.clear()

    def frame(self, data: bytes) -> bytes:
        """``data`` as the server frames body bytes on this connection (an
        HTTP/1.1 chunk, as gunicorn's own writes are)."""
        return b"%X\r\n%s\r\n" % (len(data), data) if self.chunked else data

    def send_rest(self) -> None:
        """What the fan-out could not write, written by the stream itself."""
        rest, self.rest = self.rest, b""
        if rest:
            self.sock.sendall(rest)


def direct_socket(environ: dict) -> tuple[Any, bool] | None:
    """(the connection's socket, whether the body is chunked) when this
    request's stream may be written to by the fan-out: a GET served by
    gunicorn's gevent worker over HTTP/1.x. None otherwise (another server
    or worker: the stream writes everything itself)."""
    sock = environ.get("gunicorn.socket")
    protocol = environ.get("SERVER_PROTOCOL")
    if (sock is None or not hasattr(sock, "_sock") or not gevent_patched()
            or environ.get("REQUEST_METHOD") != "GET"
            or protocol not in ("HTTP/1.0", "HTTP/1.1")):
        return None
    return sock, protocol == "HTTP/1.1"


def gevent_patched() -> bool:
    try:
        from gevent import monkey
    except ImportError:
        return False
    return monkey.is_module_patched("socket")


def fan_out(the_hub: Hub, site: str, streams: set[Direct]) -> None:
    """Write what each direct stream of ``site`` is due, straight onto its
    socket (see :class:`Direct`); called by the hub when the site moves,
    before it wakes the other streams."""
    now, health = the_hub.current(site), the_hub.connected
    framed: dict[tuple[int, bool], bytes] = {}  # one framing per event
    for stream in list(streams):
        if stream.busy or stream.rest or stream.gone or not stream.alive():
            stream.wake()
            continue
        events = stream.state.due(now, health)
        if not events:
            continue
        data = b"".join(
            framed.get((id(e), stream.chunked))
            or framed.setdefault((id(e), stream.chunked), stream.frame(e))
            for e in events)
        try:
            sent = stream.raw.send(data)
        except BlockingIOError:
            sent = 0
        except OSError:  # the client went away: the stream ends itself
            stream.gone = True
            stream.wake()
            continue
        if sent < len(data):
            stream.rest = data[sent:]
            stream.wake()


def event_stream(the_hub: Hub, site: str, build: str, ping_s: float = PING_S,
                 changes: Changes | None = None,
                 people: Callable[[int], str] | None = None,
                 spot: Spot | None = None, spot_ms: int = 0,
                 alive: Callable[[], bool] | None = None,
                 shared: SharedEvents | None = None,
                 lang: str | None = None,
                 direct: tuple[Any, bool] | None = None,
                 min_gap_s: float = 0.0) -> Iterator[bytes]:
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
    or request of its own. ``alive()`` is asked at every wake-up (it answers
    from memory, :mod:`web.credentials`): when the credential behind the
    stream has ended (signed out, revoked), a ``bye`` event goes out and the
    stream ends.

    Every event after ``hello`` comes from ``shared``, built once for all
    the streams of the process in the same state; ``lang`` (the wall's
    language, None for other streams) tells apart what ``changes``,
    ``people`` and ``spot`` give. A ``ping`` goes out after 3/4 to all of
    ``ping_s`` without another event, drawn anew each time: the walls one
    version woke together do not all ping together.

    ``direct``: (socket, chunked) from :func:`direct_socket`; then, after
    its hello, the hub's fan-out writes the stream's events (:class:`Direct`).
    ``min_gap_s``: the least time between two events (a city's figures move
    with every roll-up of every site under it: its walls get the newest
    version at most this often, never a backlog).
    """
    alive = alive or (lambda: True)
    state = StreamState(the_hub, site, ping_s, changes, people, spot, spot_ms,
                        shared or SharedEvents(), lang)
    yield f"retry: {RETRY_MS}\n\n".encode()
    yield state.hello(build)
    if direct is not None:
        # joined once gunicorn has written the hello (the generator resumes
        # only then), so every later write comes after it
        yield from _direct_stream(the_hub, site, state,
                                  Direct(state, *direct, alive=alive))
        return
    while True:
        now, health = the_hub.wait(site, state.seen, state.connected,
                                   state.wait_s(), people=people is not None)
        if not alive():
            yield _event("bye", {"t": int(time.time() * 1000)})
            return
        events = state.due(now, health)
        yield from events
        if events and min_gap_s:
            time.sleep(min_gap_s)


def _direct_stream(the_hub: Hub, site: str, state: StreamState,
                   stream: Direct) -> Iterator[bytes]:
    """A :class:`Direct` stream's own part: wait to be woken (a slow write,
    a credential, Redis' health) or for its ping, and send what is due."""
    the_hub.join(site, stream)
    try:
        while True:
            stream.sleep(state.wait_s())
            if stream.gone:
                return
            stream.busy = True  # the fan-out leaves it alone meanwhile
            try:
                stream.send_rest()
                if not stream.alive():
                    yield _event("bye", {"t": int(time.time() * 1000)})
                    return
                yield from state.due(the_hub.current(site), the_hub.connected)
            finally:
                stream.busy = False
    finally:
        the_hub.leave(site, stream)


def _body(now: tuple[int, int, int, int], connected: bool) -> dict:
    return {"v": now[0], "cast": now[1], "inc": now[3], "redis": connected,
            "t": int(time.time() * 1000)}


def _event_of(kind: str, now: tuple[int, int, int, int], connected: bool,
              **parts: Callable[[], str | None]) -> bytes:
    """The event ``kind`` of the state ``now``, its ``parts`` made now."""
    return _event(kind, _body(now, connected),
                  **{name: make() for name, make in parts.items()})


def _live(people: Callable[[int], str], base: int, count: int) -> str:
    return f'{{"b":{base},"props":{people(count)}}}'


def _version_event(changes: Changes | None, carried: int | None,
                   now: tuple[int, int, int, int], connected: bool,
                   new_version: bool) -> tuple[int | None, bytes]:
    """(version now carried, the ``version`` event): with the wall's change
    since ``carried`` when the snapshot version moved."""
    wall = None
    if new_version:
        carried, wall = _wall_change(changes, carried, now[0])
    return carried, _event("version", _body(now, connected), wall=wall)


def _jittered(ping_s: float) -> float:
    return ping_s * (1 - PING_SPREAD * random.random())


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
    spotlights on a wall's stream (a unit's wall: web/unit_push.py)."""
    push = Blueprint("push", __name__)
    shared = SharedEvents()  # the events of this app's streams in this process

    @push.get("/events/<site_id>")
    def events(site_id: str):
        return event_response(state, wall, site_id, shared)
    return push


def event_response(state: AppState, wall: WallData, site_id: str,
                   shared: SharedEvents) -> Response | tuple[dict, int]:
    """The event stream of ``site_id`` for this request's caller."""
    if site_id not in state.sites:
        return {"error": f"site {site_id!r} is not served here"}, 404
    the_hub = hub(state, prepare=wall.prepare, fan_out=fan_out)
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
    credential, watch = stream_credential(), the_hub.credentials
    stream = event_stream(
        the_hub, site_id, BUILD, changes=changes, people=people, spot=spot,
        spot_ms=wall.spots.period_ms if spot else 0,
        alive=functools.partial(watch.alive, credential) if credential
        else lambda: False, shared=shared, lang=lang if changes else None,
        direct=direct_socket(request.environ))
    if credential:
        stream = watch.holding(credential, site_id, stream)
    response = Response(
        stream_with_context(streams.held(slot, the_hub.watching(site_id, stream))),
        mimetype="text/event-stream")
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Accel-Buffering"] = "no"  # let proxies pass it through
    return response


BUILD = build_id()
