"""One Redis subscriber per web process (:class:`Hub`, a thread started on the
first event stream), fanned out inside the process to every open stream, so a
hundred walls cost one Redis connection, not a hundred. It keeps, per site, the
newest snapshot version, cast, incident change and people present, and wakes
the streams waiting on them; a stream asks it with :meth:`Hub.wait`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator

import redis
from flask import current_app

from data import pubsub as channels
from data.keys import Keys
from data.redis_conn import Backoff
from web.state import AppState

log = logging.getLogger(__name__)


class Hub:
    """Latest version per site, from one pub/sub connection, with waiters."""

    def __init__(self, client: redis.Redis, sites: dict[str, Keys]) -> None:
        self.client = client
        self.keys = sites
        self.streams = StreamSlots()  # open streams, per credential
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
                channels.subscribe(self.client, pubsub, *self.channels)
                self._catch_up()
                self._set_connected(True)
                backoff.reset()
                while not self._stop.is_set():
                    message = channels.next_message(self.client, pubsub, 1.0)
                    if channels.is_message(message):
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
