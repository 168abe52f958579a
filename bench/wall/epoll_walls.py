"""The other walls as idle event streams on one ``epoll`` loop.

:mod:`bench.stream_clients` (what ``bench/streams.py`` holds 5,000 streams
with) opens ``/events/<site>?wall=zh`` with the kiosk cookie and reads every
event, for a tenth of the CPU of :mod:`bench.wall.streams`' asyncio walls.
What these walls leave out: the page's load (4 requests once per wall) and
``wall.js``'s fallback update callback (asked only when a pushed change does
not follow on what a wall shows; with the stream up, none: the figures of
every earlier run, ``update_callbacks_per_min`` 0). So the server sees what
it sees of a wall that has loaded: its stream.

The same face as :class:`bench.wall.streams.StreamWalls` (``grow``,
``counters``, ``stats``, ``close``, ``pid``, ``n``), so :class:`Walls` and
the measurement take either.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from bench.stream_clients import Clients

PATIENCE_S = 30.0  # a batch of streams with no hello for this long: no more held


class EpollWalls:
    """``n`` wall streams in a client process of their own (nice 0)."""

    def __init__(self, base_url: str, site: str, lang: str, token: str) -> None:
        if lang != "zh":
            raise ValueError(f"lang={lang!r}: the epoll walls open ?wall=zh only")
        url = urlsplit(base_url)
        self.clients = Clients(url.hostname, url.port, site)
        self.token = token
        self.n = 0
        self.opened: list[dict] = []  # what each grow asked and got

    @property
    def pid(self) -> int:
        return self.clients.pid

    def grow(self, n: int) -> None:
        """``n`` walls in all, each stream open and its hello read; raises,
        with how many the server holds, when it holds fewer."""
        if n <= self.n:
            return
        got = self.clients.ask("open", [self.token] * (n - self.n), PATIENCE_S)
        self.opened.append(got)
        held = sum(1 for c in self.counters() if c[2] == 1)
        if held < n:
            raise RuntimeError(
                f"stream walls did not all connect: the server holds {held} of "
                f"{n} streams ({got})")
        self.n = n

    def counters(self) -> list[list[int]]:
        """Per wall: [version events, update callbacks (none), 1 if held]."""
        return self.clients.ask("per_stream")

    def stats(self) -> dict:
        """The totals :func:`bench.wall.measure.streams_window` reads."""
        counts = self.clients.ask("counts")
        sizes = self.clients.ask("bytes")
        held = sum(1 for c in self.counters() if c[2] == 1)
        return {"walls": held, "events": counts, "event_bytes": sizes["event_bytes"],
                "requests": {}, "stream_wire_bytes": sizes["wire_bytes"],
                "reconnects": sum(1 for c in self.counters() if c[2] != 1),
                "update_errors": 0}

    def close(self) -> None:
        self.clients.close()
