"""How a quiet site wakes up its folder.

An aggregator folds a thousand sites; it cannot block on each site's streams
(one blocking read per site), and on a Redis Cluster one XREADGROUP cannot
name the streams of many sites (they live in different slots). So it listens
instead: Redis announces every ``XADD`` as a keyspace event
(``notify-keyspace-events`` with ``E`` and ``t``) on the node that holds the
stream, and a :class:`Waker` subscribes to ``__keyevent@<db>__:xadd`` on every
master, keeping the sites whose feed streams grew. The aggregator then reads
just those sites, without blocking. When the city is quiet no event comes and
the aggregator sleeps.

Events are fire-and-forget: while a subscription is being (re)made, an XADD
may go unheard. Every (re)subscription therefore wakes every site once, and
the aggregator sweeps all its sites every :data:`SWEEP_S` seconds anyway. A
server that refuses ``CONFIG SET`` (a managed Redis) and has the events off
gets the sweep every :data:`POLL_S` instead, with a warning.

An event per XADD is cheap for a quiet city and dear for a busy one (at
20,000 entries a second, parsing the events alone takes a good part of a
core). So while an aggregator's rounds are busy it pauses the listening and
reads every one of its sites each round instead — one pipelined read per
master — and listens again after a second without entries.

A busy round of a thousand sites lasts seconds, and a new report must not
wait for the next one: the people on the other screens expect it within a
second. So the listeners also hear, busy or not, the XADDs to incident
streams alone — the keyspace events (``K``) of those keys, by pattern, a
few a second in a whole city — and the aggregator folds those sites' incident
entries between two sites of its round (:meth:`Waker.take_urgent`).
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Iterable

import redis

from data.keys import FEED_STREAMS
from data.redis_conn import RETRY_ERRORS, Backoff, as_text, is_cluster

log = logging.getLogger(__name__)

SWEEP_S = 5.0  # every site read once this often, events or not
POLL_S = 0.25  # the sweep when the server sends no events
REFRESH_S = 2.0  # how often the set of masters is looked at (failover)


def enable_stream_events(r: redis.Redis) -> bool:
    """Turn on the key-event and keyspace events for streams on every node
    (keeping what else is on); False if a node refuses."""
    nodes = _nodes(r, every=True)
    ok = True
    for client in nodes:
        try:
            flags = client.config_get("notify-keyspace-events").get(
                "notify-keyspace-events", "")
            flags = as_text(flags)
            if {"K", "E"} <= set(flags) and ("t" in flags or "A" in flags):
                continue
            wanted = "".join(sorted(set(flags) | {"K", "E", "t"}))
            client.config_set("notify-keyspace-events", wanted)
        except redis.ResponseError as exc:
            log.warning("cannot turn on keyspace events for streams (%s): "
                        "quiet sites are polled every %.2f s instead; set "
                        "notify-keyspace-events KEt on the server to avoid it",
                        exc, POLL_S)
            ok = False
    return ok


def _nodes(r: redis.Redis, every: bool = False) -> list[redis.Redis]:
    """A client per master (and replica, with ``every``) of a cluster, or
    ``r`` itself on one Redis."""
    if not is_cluster(r):
        return [r]
    nodes = r.get_nodes() if every else r.get_primaries()
    return [r.get_redis_connection(node) for node in nodes]


def _db(r: redis.Redis) -> int:
    if is_cluster(r):
        return 0
    return int(r.connection_pool.connection_kwargs.get("db", 0) or 0)


class Waker:
    """Sites whose feed streams grew since they were last taken."""

    def __init__(self, r: redis.Redis, prefix: str) -> None:
        self.r = r
        self.head = f"{prefix}:{{".encode()
        self.tails = tuple(f"}}:{name}".encode() for name in FEED_STREAMS)
        self.channel = f"__keyevent@{_db(r)}__:xadd"
        # the incident streams alone, heard also while busy
        self.space = f"__keyspace@{_db(r)}__:".encode()
        self.pattern = f"__keyspace@{_db(r)}__:{prefix}:{{*}}:incident"
        self.events = enable_stream_events(r)
        self._woken: set[str] = set()
        self._urgent: set[str] = set()
        self._all = True  # wake every site: start, resubscription
        self._changed = threading.Condition()
        self._stop = threading.Event()
        self.paused = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Waker:
        """Listen from background threads, which end with :meth:`stop` or
        once nothing refers to this waker any more (they hold it weakly)."""
        if self.events:
            self._thread = threading.Thread(
                target=_watch_masters, args=(weakref.ref(self),),
                name="agg-waker", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        with self._changed:
            self._changed.notify_all()

    def wake_all(self) -> None:
        with self._changed:
            self._all = True
            self._changed.notify_all()

    def pause(self) -> None:
        """Stop listening: the aggregator is busy and reads every site each
        round anyway (an event per XADD would cost more than the reads)."""
        self.paused.set()

    def resume(self) -> None:
        """Listen again; every site is woken once when the listening starts."""
        self.paused.clear()

    def take(self, timeout: float) -> tuple[bool, set[str]]:
        """Wait up to ``timeout`` s for a site to wake; (every site, the sites
        woken). Returns at once if some are already."""
        polling = not self.events or self.paused.is_set()
        with self._changed:
            if not (self._all or self._woken) and timeout > 0:
                self._changed.wait(min(timeout, POLL_S) if polling else timeout)
            every = self._all or polling
            woken, self._woken, self._all = self._woken, set(), False
            return every, woken

    def take_urgent(self) -> set[str]:
        """The sites whose incident streams grew since the last call (none,
        without taking the lock, most of the time: it is asked between two
        sites of every round)."""
        if not self._urgent:
            return set()
        with self._changed:
            urgent, self._urgent = self._urgent, set()
        return urgent

    def wait_urgent(self, timeout: float) -> None:
        """Wait up to ``timeout`` s for an incident stream to grow (at once
        if one has since the last :meth:`take_urgent`)."""
        with self._changed:
            if not self._urgent:
                self._changed.wait(timeout)

    # --- what the listeners call -------------------------------------------

    def _drain(self, pubsub: redis.client.PubSub) -> None:
        """What else has arrived, without waiting (one lock for many)."""
        keys: list[bytes] = []
        incidents: list[bytes] = []
        while True:
            message = pubsub.get_message(timeout=0)
            if not message:
                break
            if message["type"] == "message":
                keys.append(message["data"])
            elif message["type"] == "pmessage" and as_text(message["data"]) == "xadd":
                incidents.append(message["channel"])
        if keys:
            self._heard(*keys)
        if incidents:
            self._heard_incident(*incidents)

    def _heard(self, *keys: bytes | str) -> None:
        found = set(self._sites_of(keys))
        if found:
            with self._changed:
                self._woken |= found
                self._changed.notify_all()

    def _heard_incident(self, *channels: bytes | str) -> None:
        keys = (c if isinstance(c, bytes) else c.encode() for c in channels)
        found = set(self._sites_of(k[len(self.space):] for k in keys
                                   if k.startswith(self.space)))
        if found:
            with self._changed:
                self._woken |= found
                self._urgent |= found
                self._changed.notify_all()

    def _sites_of(self, keys: Iterable[bytes | str]) -> Iterable[str]:
        for key in keys:
            key = key if isinstance(key, bytes) else key.encode()
            if key.startswith(self.head) and key.endswith(self.tails):
                yield key[len(self.head):key.rindex(b"}")].decode(errors="replace")


def _watch_masters(ref: weakref.ref) -> None:
    """One listener per master; new masters (after a failover or a reshard)
    get one, and the sites are all woken then."""
    listeners: dict[str, threading.Thread] = {}
    while True:
        waker = ref()
        if waker is None or waker._stop.is_set():
            return
        try:
            masters = {_name(c): c for c in _nodes(waker.r)}
        except RETRY_ERRORS as exc:
            log.warning("waker: cannot list the masters (%s)", exc)
            masters = {}
        for name, client in masters.items():
            listener = listeners.get(name)
            if listener is None or not listener.is_alive():
                listeners[name] = threading.Thread(
                    target=_listen, args=(ref, client, name), daemon=True,
                    name=f"agg-waker-{name}")
                listeners[name].start()
        stop = waker._stop
        del waker  # only the aggregator keeps it alive
        stop.wait(REFRESH_S)


def _listen(ref: weakref.ref, client: redis.Redis, name: str) -> None:
    """Listen to one master: every XADD while the aggregator waits for
    events, the incident streams' alone while it is busy (resubscribing when
    that changes)."""
    backoff = Backoff()
    waker = ref()
    if waker is None:
        return
    channel, pattern = waker.channel, waker.pattern
    cluster, stop, paused = is_cluster(waker.r), waker._stop, waker.paused
    del waker
    while not stop.is_set():
        busy = paused.is_set()
        pubsub = client.pubsub(ignore_subscribe_messages=True)
        try:
            pubsub.psubscribe(pattern)
            if not busy:
                pubsub.subscribe(channel)
            backoff.reset()
            waker = ref()
            if waker is None:
                return
            waker.wake_all()  # what came while nobody listened
            del waker
            while not stop.is_set() and paused.is_set() == busy:
                message = pubsub.get_message(timeout=0.25)
                waker = ref()
                if waker is None:
                    return
                if message and message["type"] == "message":
                    waker._heard(message["data"])
                    waker._drain(pubsub)
                elif message and message["type"] == "pmessage":
                    if as_text(message["data"]) == "xadd":
                        waker._heard_incident(message["channel"])
                    waker._drain(pubsub)
                del waker
        except (*RETRY_ERRORS, OSError, TypeError, AttributeError) as exc:
            # (the last ones: the client's pool was closed under us)
            if ref() is None:
                return
            pause = backoff.failed()
            if backoff.failures > 3 and cluster:
                log.info("waker: master %s gone (%s); its successor gets its "
                         "own listener", name, exc)
                return
            log.warning("waker: %s unavailable (%s); retry in %.1f s",
                        name, exc, pause)
            stop.wait(pause)
        finally:
            try:
                pubsub.close()
            except redis.RedisError:
                pass


def _name(client: redis.Redis) -> str:
    kwargs = client.connection_pool.connection_kwargs
    return f"{kwargs.get('host')}:{kwargs.get('port')}"
