"""Push: new snapshot versions to browsers over server-sent events.

One Redis subscriber per web process (:class:`Hub`, a thread started on the
first event stream), fanned out inside the process to every open stream, so a
hundred walls cost one Redis connection, not a hundred. Each stream carries
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
import threading
import time
from collections.abc import Callable, Iterator

import redis
from flask import Blueprint, Response, current_app, request, stream_with_context

from data.config import PROJECT_ROOT
from data.keys import Keys
from data.redis_conn import Backoff
from layouts.i18n import LANGS
from web.auth import credential_check, principal
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


class Hub:
    """Latest version per site, from one pub/sub connection, with waiters."""

    def __init__(self, client: redis.Redis, sites: dict[str, Keys]) -> None:
        self.client = client
        self.keys = sites
        self.streams = StreamSlots(STREAMS_PER_CLIENT)  # open, per credential
        self.channels = {keys.channel: site for site, keys in sites.items()}
        self.versions: dict[str, int] = dict.fromkeys(sites, 0)
        self.casts: dict[str, int] = dict.fromkeys(sites, 0)
        # the last version with an incident change in it
        self.incidents: dict[str, int] = dict.fromkeys(sites, 0)
        # people present after a fold, ahead of the next snapshot:
        # site -> (sequence number, snapshot version it follows, people)
        self.people: dict[str, tuple[int, int, int]] = dict.fromkeys(
            sites, (0, 0, 0))
        self.connected = False
        self.changed = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Hub:
        self._thread = threading.Thread(target=self._run, name="push-hub",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        backoff = Backoff()
        while not self._stop.is_set():
            pubsub = self.client.pubsub(ignore_subscribe_messages=True)
            try:
                pubsub.subscribe(*self.channels)
                self._catch_up()
                self._set_connected(True)
                backoff.reset()
                while not self._stop.is_set():
                    message = pubsub.get_message(timeout=1.0)
                    if message and message["type"] == "message":
                        self._publish(message["channel"], message["data"])
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                self._set_connected(False)
                pause = backoff.failed()
                log.warning("push hub: redis unavailable (%s); retry in %.1f s",
                            exc, pause)
                self._stop.wait(pause)
            finally:
                try:
                    pubsub.close()
                except redis.RedisError:
                    pass

    def _catch_up(self) -> None:
        """Versions published while we were not listening (start, reconnect)."""
        for keys in self.keys.values():
            channel = keys.channel
            version, cast, incidents = self.client.mget(
                keys.version, keys.cast_seq, keys.incidents_version)
            if incidents is not None:
                self._publish(channel, b"inc:" + _bytes(incidents))
            if version is not None:
                self._publish(channel, version)
            if cast is not None:
                self._publish(channel, b"cast:" + _bytes(cast))

    def _set_connected(self, value: bool) -> None:
        with self.changed:
            self.connected = value
            self.changed.notify_all()

    def _publish(self, channel: bytes | str, data: bytes | str) -> None:
        """``<n>`` is a snapshot version, ``inc:<n>`` a version with an
        incident change (it comes just before ``<n>``), ``cast:<n>`` a change
        of the cast."""
        channel = channel.decode() if isinstance(channel, bytes) else channel
        text = data.decode() if isinstance(data, bytes) else str(data)
        site = self.channels.get(channel)
        if text.startswith("live:"):
            self._people(site, text)
            return
        kind, _, number_text = text.rpartition(":")
        tables = {"": (self.versions,), "cast": (self.casts,),
                  "inc": (self.incidents, self.versions)}.get(kind)
        try:
            number = int(number_text)
        except ValueError:
            return
        if site is None or tables is None:
            return
        with self.changed:
            moved = False
            for table in tables:  # inc:<n> is version <n> too: one wake-up
                if number > table[site]:
                    table[site], moved = number, True
            if moved:
                self.changed.notify_all()

    def _people(self, site: str | None, text: str) -> None:
        """``live:<version>:<people>``: people present, counted after the
        snapshot ``version`` (data/snapshot.py: publish_people)."""
        try:
            base, people = (int(x) for x in text.split(":")[1:3])
        except ValueError:
            return
        if site is None:
            return
        with self.changed:
            self.people[site] = (self.people[site][0] + 1, base, people)
            self.changed.notify_all()

    def wait(self, site: str, seen: tuple[int, int, int, int], connected: bool,
             timeout: float) -> tuple[tuple[int, int, int, int], bool]:
        """Block until ``site``'s (version, cast, people sequence, incident
        version) moves past ``seen``, the subscriber's health changes, or
        ``timeout`` passes."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while (self.current(site) == seen and self.connected == connected
                   and not self._stop.is_set()):
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self.changed.wait(left)
            return self.current(site), self.connected

    def current(self, site: str) -> tuple[int, int, int, int]:
        return (self.versions[site], self.casts[site], self.people[site][0],
                self.incidents[site])

    def people_now(self, site: str) -> tuple[int, int]:
        """(the snapshot version they follow, people present)."""
        return self.people[site][1:]


def _bytes(value: bytes | str | int) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode()


_hub_lock = threading.Lock()


def hub(state: AppState) -> Hub:
    """This app's hub in this process, started on first use (after any fork);
    kept with the Flask app, whose per-process extension it is."""
    extensions = current_app.extensions
    with _hub_lock:
        if "gov_hub" not in extensions:
            sites = {s: state.keys(s) for s in state.sites}
            extensions["gov_hub"] = Hub(state.redis, sites).start()
        return extensions["gov_hub"]


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


class StreamSlots:
    """Open event streams per credential in this process, bounded: a client
    that opens streams in a loop holds threads of the web tier."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.open: dict[str, int] = {}
        self._lock = threading.Lock()

    def take(self, owner: str) -> str | None:
        with self._lock:
            if self.open.get(owner, 0) >= self.limit:
                return None
            self.open[owner] = self.open.get(owner, 0) + 1
            return owner

    def give_back(self, owner: str) -> None:
        with self._lock:
            left = self.open.get(owner, 0) - 1
            if left > 0:
                self.open[owner] = left
            else:
                self.open.pop(owner, None)

    def held(self, owner: str, stream: Iterator[str]) -> Iterator[str]:
        """``stream``, giving its slot back however it ends."""
        try:
            yield from stream
        finally:
            self.give_back(owner)


STREAMS_PER_CLIENT = 16  # a center's walls may share one kiosk token


def stream_owner() -> str:
    caller = principal()
    if caller is None:
        return "-"
    return f"{caller.kind}:{caller.name}:{caller.site or '*'}"


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
    slot = streams.take(stream_owner())
    if slot is None:
        return {"error": "too many open event streams for this sign-in"}, 429
    response = Response(
        stream_with_context(streams.held(slot, event_stream(
            the_hub, site_id, BUILD, changes=changes, people=people, spot=spot,
            spot_ms=wall.spots.period_ms if spot else 0,
            alive=credential_check()))),
        mimetype="text/event-stream")
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Accel-Buffering"] = "no"  # let proxies pass it through
    return response


BUILD = build_id()
