"""One Redis subscriber per web process (:class:`Hub`, a thread started on the
first event stream), fanned out inside the process to every open stream, so a
hundred walls cost one Redis connection, not a hundred.

What it listens to and keeps grows with the sites (and units: a street's,
district's or city's wall, :func:`unit_feed`) this process has open streams
for, not with the city: a site's channel is subscribed when its first
stream opens (its versions read once, so the stream starts from the newest)
and dropped ``grace_s`` after its last one closes (a wall that reloads comes
back within seconds, and should not cost an unsubscribe and a subscribe).
Per watched site it keeps the newest snapshot version, cast, incident change
and people present, and wakes that site's streams, and only those, when one
moves; a stream asks it with :meth:`Hub.wait`. A wait is a wait on the
site's ``threading.Event`` of the moment, which the hub sets and replaces
at each change: real threads under gunicorn's ``gthread`` worker, greenlets
under ``gevent`` (whose monkey-patching makes the same event cooperative),
so one idle stream costs a few kilobytes there, not a thread, and a version
wakes the 5,000 streams of a site in one pass of gevent's loop (a condition
would hand its lock from stream to stream).

The credentials behind the open streams are re-checked here too, all of
them at once every second (:class:`web.credentials.CredentialWatch`): a
stream asks an answer in memory, never Redis.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator

import redis
from flask import current_app

from data.keys import AuthKeys, Keys, UnitKeys
from data.redis_conn import Backoff
from web.channels import Subscription
from web.credentials import CredentialWatch
from web.state import AppState

log = logging.getLogger(__name__)

UNSUBSCRIBE_GRACE_S = 60.0  # a site's channel is kept this long after its last stream
POLL_S = 0.1  # how soon the hub thread takes up a newly watched site


class SiteFeed:
    """What the hub keeps of one watched site, and the streams waiting on it."""

    __slots__ = ("version", "cast", "incidents", "people", "stirred", "moved",
                 "streams", "idle_since", "direct", "_swap")

    def __init__(self) -> None:
        self.version = self.cast = 0
        self.incidents = 0  # the last version with an incident change in it
        # people present after a fold, ahead of the next snapshot:
        # (sequence number, snapshot version it follows, people)
        self.people = (0, 0, 0)
        # set, then replaced, at the next change of anything (people present
        # included), and of anything but people present: a stream that does
        # not show people (a phone's, a console's) sleeps through the folds
        self.stirred, self.moved = threading.Event(), threading.Event()
        self.streams = 0  # open streams of the site in this process
        self.idle_since: float | None = None
        self.direct: set = set()  # streams the fan-out writes to (web/push.py)
        self._swap = threading.Lock()

    def current(self) -> tuple[int, int, int, int]:
        return self.version, self.cast, self.people[0], self.incidents

    def wake_direct(self) -> None:
        """Wake the streams the fan-out writes to (they sleep through the
        versions): a credential to check, Redis' health to tell."""
        for stream in list(self.direct):
            stream.wake()

    def wake(self, people_only: bool = False) -> None:
        """Wake the streams waiting now (after the fields have moved)."""
        with self._swap:
            stirred, self.stirred = self.stirred, threading.Event()
            moved = None
            if not people_only:
                moved, self.moved = self.moved, threading.Event()
        stirred.set()
        if moved is not None:
            moved.set()


class Hub:
    """Latest version per watched site, from one pub/sub connection, with
    waiters."""

    def __init__(self, client: redis.Redis, sites: dict[str, Keys | UnitKeys],
                 grace_s: float = UNSUBSCRIBE_GRACE_S,
                 auth: AuthKeys | None = None,
                 prepare: Callable[[str, int, int], None] | None = None,
                 fan_out: Callable[[Hub, str, set], None] | None = None) -> None:
        self.client = client
        # fan_out(hub, site, streams): writes the site's direct streams their
        # events when it moves, before the others are woken (web/push.py)
        self.fan_out = fan_out
        # prepare(site, version before, version): what the site's streams will
        # send, made before they are woken (see :meth:`_publish`)
        self.prepare = prepare
        self.keys = sites  # the sites served: what may be watched
        self.grace_s = grace_s
        self.streams = StreamSlots()  # open streams, per credential
        # whether the credentials behind them hold (``auth``: the account store)
        self.credentials = CredentialWatch(client, auth, self.wake) if auth else None
        self.feeds: dict[str, SiteFeed] = {}  # the watched sites
        self.channels: dict[str, str] = {}  # channel -> site, of self.feeds
        self.connected = False
        self._lock = threading.Lock()  # self.feeds and self.channels
        self._dirty = False  # the set of watched sites may have changed
        self._recheck_at = float("inf")  # when the next grace runs out
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Hub:
        self._thread = threading.Thread(target=self._run, name="push-hub",
                                        daemon=True)
        self._thread.start()
        if self.credentials is not None:
            self.credentials.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self.credentials is not None:
            self.credentials.stop()
        self._wake_all()

    # --- streams come and go -------------------------------------------------

    def watching(self, site: str, stream: Iterator[str]) -> Iterator[str]:
        """``stream`` of ``site``, the site watched while it runs (from its
        first event, so its ``hello`` already has the site's versions)."""
        self.watch(site)
        try:
            yield from stream
        finally:
            self.unwatch(site)

    def watch(self, site: str) -> None:
        """One more open stream of ``site``; its first is read from Redis at
        once and subscribed by the hub thread within ``POLL_S``."""
        with self._lock:
            feed = self.feeds.get(site)
            new = feed is None
            if new:
                feed = self.feeds[site] = SiteFeed()
                self.channels[self.keys[site].channel] = site
                self._dirty = True
            feed.streams += 1
            feed.idle_since = None
        if new:
            try:
                self._catch_up([site])
            except redis.RedisError as exc:  # the hub thread catches up later
                log.warning("push hub: no versions of %s yet (%s)", site, exc)

    def join(self, site: str, stream) -> None:
        """A watched ``site``'s stream that the fan-out writes to."""
        self.feeds[site].direct.add(stream)

    def leave(self, site: str, stream) -> None:
        feed = self.feeds.get(site)
        if feed is not None:
            feed.direct.discard(stream)

    def unwatch(self, site: str) -> None:
        with self._lock:
            feed = self.feeds[site]
            feed.streams -= 1
            if feed.streams == 0:
                feed.idle_since = time.monotonic()
                self._dirty = True

    def _wanted(self) -> set[str] | None:
        """The channels to listen to now, having let go of the sites idle past
        their grace; None if that cannot have changed since last asked."""
        now = time.monotonic()
        with self._lock:
            if not self._dirty and now < self._recheck_at:
                return None
            idle = {site: feed.idle_since for site, feed in self.feeds.items()
                    if feed.idle_since is not None}
            for site, since in idle.items():
                if now - since >= self.grace_s:
                    del self.feeds[site]
                    del self.channels[self.keys[site].channel]
            self._recheck_at = min(
                (since + self.grace_s for since in idle.values()
                 if now - since < self.grace_s), default=float("inf"))
            self._dirty = False
            return set(self.channels)

    # --- the hub thread --------------------------------------------------------

    def _run(self) -> None:
        backoff = Backoff()
        while not self._stop.is_set():
            subscription = Subscription(self.client)
            try:
                self._follow(subscription, backoff)
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                self._set_connected(False)
                pause = backoff.failed()
                log.warning("push hub: redis unavailable (%s); retry in %.1f s",
                            exc, pause)
                self._stop.wait(pause)
            finally:
                subscription.close()

    def _follow(self, subscription: Subscription, backoff: Backoff) -> None:
        """Listen on one connection until it fails or the hub stops."""
        with self._lock:
            self._dirty = True  # a new connection: subscribe to every watched site
        while not self._stop.is_set():
            wanted = self._wanted()
            if wanted is not None:
                subscription.drop(subscription.channels - wanted)
                added = wanted - subscription.channels
                subscription.add(added)
                self._catch_up(self.channels.get(c) for c in added)
                if added:  # Redis answered
                    self._set_connected(True)
                    backoff.reset()
            message = subscription.next(POLL_S)
            if message is not None:
                self._publish(*message)

    def _catch_up(self, sites: Iterable[str | None]) -> None:
        """Versions published while we were not listening (a new site, a
        reconnect), one round trip for all of ``sites``."""
        sites = [s for s in sites if s is not None]
        pipe = self.client.pipeline(transaction=False)
        for site in sites:
            keys = self.keys[site]
            if isinstance(keys, UnitKeys):  # a unit: the version of its figures
                pipe.execute_command("HMGET", keys.figures, "version")
                continue
            # MGET by name: a cluster pipeline refuses its mget() even in one slot
            pipe.execute_command("MGET", keys.version, keys.cast_seq,
                                 keys.incidents_version)
        for site, reply in zip(sites, pipe.execute(), strict=True):
            version, cast, incidents = (*reply, None, None)[:3]
            channel = self.keys[site].channel
            if incidents is not None:
                self._publish(channel, b"inc:" + _bytes(incidents))
            if version is not None:
                self._publish(channel, version)
            if cast is not None:
                self._publish(channel, b"cast:" + _bytes(cast))

    def _set_connected(self, value: bool) -> None:
        self.connected = value
        self._wake_all()

    def _wake_all(self) -> None:
        self.wake(list(self.feeds))

    def wake(self, sites: Iterable[str]) -> None:
        """Wake every stream of ``sites`` (a credential behind one of them
        ended: each asks whether it is its own)."""
        for site in sites:
            feed = self.feeds.get(site)
            if feed is not None:
                feed.wake()
                feed.wake_direct()

    def _publish(self, channel: bytes | str, data: bytes | str) -> None:
        """``<n>`` is a snapshot version, ``inc:<n>`` a version with an
        incident change (it comes just before ``<n>``), ``cast:<n>`` a change
        of the cast."""
        channel = channel.decode() if isinstance(channel, bytes) else channel
        text = data.decode() if isinstance(data, bytes) else str(data)
        feed = self.feeds.get(self.channels.get(channel, ""))
        if feed is None:  # a site let go of, its last messages in flight
            return
        if text.startswith("live:"):
            if self._people(feed, text):
                self._fan_out(self.channels[channel], feed)
                feed.wake(people_only=True)
            return
        kind, _, number_text = text.rpartition(":")
        fields = {"": ("version",), "cast": ("cast",),
                  "inc": ("incidents", "version")}.get(kind)
        try:
            number = int(number_text)
        except ValueError:
            return
        if fields is None:
            return
        moved, before = False, feed.version
        for field in fields:  # inc:<n> is version <n> too: one wake-up
            if number > getattr(feed, field):
                setattr(feed, field, number)
                moved = True
        if moved and feed.version != before and self.prepare is not None:
            self._prepare(self.channels[channel], feed, before, feed.version)
        if moved:
            self._fan_out(self.channels[channel], feed)
            feed.wake()

    def _fan_out(self, site: str, feed: SiteFeed) -> None:
        if self.fan_out is None or not feed.direct:
            return
        try:
            self.fan_out(self, site, feed.direct)
        except Exception:  # each stream sends for itself then
            log.exception("push hub: the fan-out to %s failed", site)
            feed.wake_direct()

    def _prepare(self, site: str, feed: SiteFeed, before: int, version: int) -> None:
        """Made here, once, before the streams wake: the first stream to
        build the event would read Redis while every other one waited for
        it, a second round of wake-ups for thousands of streams. A new cast
        number it answers (the version put an urgent event in the spotlight)
        goes out in the same wake-up as the version, not a Redis round trip
        later when its ``cast:<n>`` comes back."""
        try:
            cast = self.prepare(site, before, version)
        except Exception:  # the streams make it themselves then
            log.exception("push hub: preparing version %s of %s failed",
                          version, site)
            return
        if isinstance(cast, int) and cast > feed.cast:
            feed.cast = cast

    @staticmethod
    def _people(feed: SiteFeed, text: str) -> bool:
        """``live:<version>:<people>``: people present, counted after the
        snapshot ``version`` (data/snapshot.py: publish_people)."""
        try:
            base, people = (int(x) for x in text.split(":")[1:3])
        except ValueError:
            return False
        feed.people = (feed.people[0] + 1, base, people)
        return True

    # --- what a stream asks ----------------------------------------------------

    def wait(self, site: str, seen: tuple[int, int, int, int], connected: bool,
             timeout: float, people: bool = True
             ) -> tuple[tuple[int, int, int, int], bool]:
        """Block until ``site``'s (version, cast, people sequence, incident
        version) moves past ``seen`` (people present only if ``people``), the
        subscriber's health changes, ``timeout`` passes or :meth:`wake` is
        called. ``site`` is watched (:meth:`watching`)."""
        feed = self.feeds[site]
        woken = feed.stirred if people else feed.moved  # before looking
        now = feed.current()
        same = now == seen if people else (now[:2], now[3]) == (seen[:2], seen[3])
        if same and self.connected == connected:  # stopped too: never spin
            woken.wait(timeout)
        return feed.current(), self.connected

    def current(self, site: str) -> tuple[int, int, int, int]:
        return self.feeds[site].current()

    def people_now(self, site: str) -> tuple[int, int]:
        """(the snapshot version they follow, people present)."""
        return self.feeds[site].people[1:]


def _bytes(value: bytes | str | int) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode()


def unit_feed(unit: str) -> str:
    """The hub's name of a unit's figures (a street's, a district's wall
    watches it as a site's wall watches the site); no site id holds a ``/``."""
    return f"unit/{unit}"


_hub_lock = threading.Lock()


def hub(state: AppState,
        prepare: Callable[[str, int, int], None] | None = None,
        fan_out: Callable[[Hub, str, set], None] | None = None) -> Hub:
    """This app's hub in this process, started on first use (after any fork);
    kept with the Flask app, whose per-process extension it is. ``prepare``,
    ``fan_out``: see :class:`Hub`."""
    extensions = current_app.extensions
    with _hub_lock:
        if "gov_hub" not in extensions:
            sites: dict[str, Keys | UnitKeys] = {
                s: state.keys(s) for s in state.sites}
            sites.update({unit_feed(u): UnitKeys(state.config.prefix, u)
                          for u in state.units.units})
            extensions["gov_hub"] = Hub(
                state.redis, sites, grace_s=UNSUBSCRIBE_GRACE_S,
                auth=AuthKeys(state.config.prefix), prepare=prepare,
                fan_out=fan_out).start()
        return extensions["gov_hub"]


class StreamSlots:
    """Open event streams per credential in this process, bounded: a client
    that opens streams in a loop holds threads of the web tier."""

    def __init__(self) -> None:
        self.open: dict[str, int] = {}
        self._lock = threading.Lock()

    def take(self, owner: str, limit: int) -> str | None:
        """A slot for ``owner`` if it holds fewer than ``limit``, else None."""
        with self._lock:
            if self.open.get(owner, 0) >= limit:
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


STREAMS_PER_CLIENT = 16  # a person's tabs and phone
STREAMS_PER_KIOSK = 256  # a center's walls may all share one kiosk token
