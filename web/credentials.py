"""Whether the credentials behind this process's open event streams still
hold, asked of Redis for all of them at once.

A stream ends soon after its credential does (signed out, revoked: see
tests/test_streams.py). Asking Redis from each stream cost a read per
stream and wake-up, and under gevent thousands of walls woken by one
version asked together (each found the shared answer stale before the
first read came back). Here the process keeps the credentials of its open
streams, with the sites they follow, and a thread of its own asks about all
of them every ``RECHECK_S``: two round trips for the sessions, one for the
kiosk tokens, however many streams and credentials. A stream asks
:meth:`CredentialWatch.alive`, a set lookup; when a credential ends, the
streams of its sites are woken so that its own say ``bye`` at once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator

import redis

from data import accounts
from data.keys import AuthKeys

log = logging.getLogger(__name__)

RECHECK_S = 1.0  # how stale a stream's view of its credential may be
Credential = tuple[str, str]  # ("user", session id) or ("kiosk", token)


class CredentialWatch:
    """The credentials of the open streams, re-checked every ``every_s``;
    ``wake(sites)`` is called with the sites of those that ended."""

    def __init__(self, client: redis.Redis, keys: AuthKeys,
                 wake: Callable[[Iterable[str]], None],
                 every_s: float = RECHECK_S) -> None:
        self.client, self.keys, self.every_s = client, keys, every_s
        self._wake = wake
        self.held: dict[Credential, dict[str, int]] = {}  # -> site -> streams
        self.ended: set[Credential] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()

    def start(self) -> CredentialWatch:
        threading.Thread(target=self._run, name="credential-watch",
                         daemon=True).start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def alive(self, credential: Credential) -> bool:
        """Whether ``credential`` held at the last check (or came since)."""
        return credential not in self.ended

    def holding(self, credential: Credential, site: str,
                stream: Iterator) -> Iterator:
        """``stream``, a stream of ``site`` on ``credential``, watched while
        it runs."""
        with self._lock:
            sites = self.held.setdefault(credential, {})
            sites[site] = sites.get(site, 0) + 1
        try:
            yield from stream
        finally:
            with self._lock:
                sites = self.held.get(credential, {})
                sites[site] = sites.get(site, 0) - 1
                if sites[site] <= 0:
                    del sites[site]
                if not sites:
                    self.held.pop(credential, None)
                    self.ended.discard(credential)

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            try:
                self.check()
            except redis.RedisError as exc:  # the benefit of the doubt
                log.warning("credential watch: no answer from Redis (%s)", exc)

    def check(self) -> set[Credential]:
        """Ask Redis about every held credential; the ones that ended."""
        with self._lock:
            held = {c: set(sites) for c, sites in self.held.items()
                    if c not in self.ended}
        sessions = [sid for kind, sid in held if kind == "user"]
        tokens = [token for kind, token in held if kind == "kiosk"]
        live = set()
        if sessions:
            live |= {("user", sid) for sid in
                     accounts.live_sessions(self.client, self.keys, sessions)}
        if tokens:
            live |= {("kiosk", token) for token in
                     accounts.live_kiosk_tokens(self.client, self.keys, tokens)}
        gone = set(held) - live
        if gone:
            with self._lock:
                self.ended |= gone & set(self.held)
            log.info("credential watch: %d credentials ended; their streams end",
                     len(gone))
            self._wake(set().union(*(held[c] for c in gone)))
        return gone
