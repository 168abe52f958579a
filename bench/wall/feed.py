"""The load and what the benchmark watches of it: the background feed of crowd
entries, and every version the aggregator publishes (with people present)."""

from __future__ import annotations

import random
import threading
import time

from bench.wall.stats import ms
from data.feed.snapshot import read_snapshot
from data.keys import Keys
from data.redis_conn import connect


class Feed(threading.Thread):
    """Crowd entries at ``rate``/s over ``entrances`` (in = out) while on."""

    def __init__(self, url: str, keys: Keys, entrances: list[str], rate: float):
        super().__init__(daemon=True)
        self.client, self.stream = connect(url), keys.stream("crowd")
        self.entrances, self.rate = entrances, rate
        self.on, self.stopped = threading.Event(), threading.Event()

    def run(self) -> None:
        n, rng, due = 0, random.Random(3), time.monotonic()
        while not self.stopped.is_set():
            if not self.on.wait(0.2):
                due = time.monotonic()
                continue
            k = str(rng.randint(1, 3))
            self.client.xadd(self.stream, {
                "v": "1", "src": "bench-feed", "entrance": self.entrances[
                    n % len(self.entrances)], "ts": str(int(ms())), "in": k,
                "out": k, "eid": f"f{n}"})
            n += 1
            due += 1 / self.rate
            time.sleep(max(0.0, due - time.monotonic()))


class Versions(threading.Thread):
    """Every published version: when this process saw it, and people present;
    every cast number announced."""

    def __init__(self, url: str, keys: Keys) -> None:
        super().__init__(daemon=True)
        self.client, self.keys = connect(url), keys
        self.seen: list[tuple[float, int]] = []
        self.people: dict[int, int] = {}
        self.live: list[tuple[float, int, int]] = []  # (seen, after version, people)
        self.casts: list[tuple[float, int]] = []  # (seen, cast number)
        self.stopped = threading.Event()

    def run(self) -> None:
        pubsub = self.client.pubsub(ignore_subscribe_messages=True)
        pubsub.subscribe(self.keys.channel)
        while not self.stopped.is_set():
            message = pubsub.get_message(timeout=0.5)
            if not message:
                continue
            if str(message["data"]).startswith("cast:"):  # a cast or an interrupt
                self.casts.append((ms(), int(str(message["data"])[5:])))
                continue
            if str(message["data"]).startswith("live:"):  # people between snapshots
                _, base, people = str(message["data"]).split(":")
                self.live.append((ms(), int(base), int(people)))
                continue
            if not str(message["data"]).isdigit():  # inc:<n>, an incident's change
                continue
            self.seen.append((ms(), int(message["data"])))
            snap = read_snapshot(self.client, self.keys) or {}
            if "version" in snap:
                self.people[snap["version"]] = snap.get("people_present", 0)

    def first_live(self, people: int, after: float) -> float | None:
        """When people present of ``people`` or more went out between snapshots."""
        return next((seen for seen, _, n in self.live
                     if seen >= after and n >= people), None)

    def first_counting(self, people: int, after: float) -> tuple[float, int] | None:
        """The first version published after ``after`` showing ``people``."""
        for seen, version in self.seen:
            if seen >= after and self.people.get(version, -1) >= people:
                return seen, version
        return None
