"""Running the parts: embedded Redis, aggregator, simulator, web server.

``python app.py`` runs all of them in one process for a demo or a small site;
in production each runs on its own (``gunicorn app:server``, ``python app.py
aggregator``, ``python app.py simulator``) against one ``REDIS_URL``. Ctrl-C or
SIGTERM stops every part, embedded Redis last so nothing is lost.
"""

from __future__ import annotations

import gc
import logging
import signal
import threading
from collections.abc import Callable
from dataclasses import replace

from data.config import Config
from data.feed.aggregator import Aggregator
from data.feed.producers import limits_of
from data.redis_conn import EmbeddedRedis, connect
from data.site import Site
from data.site_files import load_sites

log = logging.getLogger(__name__)


# The collector's thresholds once a part runs: a young pass every 50,000
# container objects made (not 700) and a middle one every 50 of those. An
# aggregator's round holds up to 60,000 entries read (a dict and a tuple
# each) for its length, so at the default every round's entries survived a
# few young passes into the old generation, and full passes — each walking
# every site's caches — followed every round or two: a quarter of a
# 1,000-site aggregator's CPU (bench/README.md). What this process makes is
# trees freed by their counts; the collector is for the rare cycle.
GC_THRESHOLDS = (50_000, 50, 100)


def settle() -> None:
    """Keep what is alive once a part has started out of the collector's full
    passes: the sites and what each part keeps per site live as long as the
    process. A city's thousand sites are millions of objects, and every full
    pass walked them all: most of an aggregator's CPU at 20,000 entries a
    second before this (bench/README.md). Objects made later are collected as
    usual, less often (:data:`GC_THRESHOLDS`)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


class Runtime:
    """Starts and stops the background parts around the web server."""

    def __init__(self, config: Config, sites: dict[str, Site] | None = None) -> None:
        self.config = config
        self._sites = sites
        self.embedded: EmbeddedRedis | None = None
        self.stop_event = threading.Event()
        self.threads: list[threading.Thread] = []
        self.aggregator: Aggregator | None = None
        self.archiver = None
        self.recorder = None

    def start_redis(self) -> Config:
        """Start the embedded redis-server if no REDIS_URL is set."""
        if self.config.redis_url:
            return self.config
        self.embedded = EmbeddedRedis(self.config.data_dir / "redis").start()
        self.config = replace(self.config, redis_url=self.embedded.url)
        return self.config

    @property
    def sites(self) -> dict[str, Site]:
        """The sites of the configuration, loaded once for every part this
        process runs (a city takes seconds to load)."""
        if self._sites is None:
            self._sites = load_sites(self.config.sites_root, self.config.sites,
                                     self.config.site_cache)
        return self._sites

    def start_aggregator(self) -> None:
        self.aggregator = Aggregator(
            connect(self.config.redis_url, decode=False), self.sites,
            self.config.prefix,
            dedup_seconds=self.config.dedup_seconds,
            snapshot_interval_ms=self.config.snapshot_interval_ms,
            fold_period_ms=self.config.fold_period_ms,
        )
        self.aggregator.producer_limits = limits_of(self.config)
        settle()
        self._thread("aggregator", self.aggregator.run)

    def start_archiver(self, every_s: float | None = None) -> None:
        """Write the history (minute counts, incidents) to Parquet every minute."""
        from data.history.archiver import EVERY_S, Archiver

        self.archiver = Archiver(connect(self.config.redis_url), self.sites,
                                 self.config.prefix, self.config.history,
                                 every_s=every_s or EVERY_S)
        settle()
        self._thread("archiver", self.archiver.run)

    def start_recorder(self) -> None:
        """Record what the walls are shown, for replay (GOV_REPLAY_DAYS > 0).
        Next to the archiver, not in the aggregator: see data/replay/recorder.py."""
        if self.config.replay_days <= 0:
            return
        from data.replay.recorder import Recorder

        self.recorder = Recorder(connect(self.config.redis_url, decode=False),
                                 self.sites, self.config.prefix, self.config.replay,
                                 keep_days=self.config.replay_days)
        self._thread("recorder", self.recorder.run)

    def start_simulator(self) -> None:
        from data.sim import run as simulator

        client = connect(self.config.redis_url)
        self._thread("simulator", lambda: simulator.run(
            client, self.sites, self.config.prefix, self.stop_event,
            rate=self.config.demo_rate))

    def start_demo_seed(self) -> None:
        """The demo's past (:mod:`data.sim.demo_seed`), written by a process of its
        own; a thread here stops it when the runtime stops."""
        import multiprocessing as mp

        from data.sim.demo_seed import seed_process

        ctx = mp.get_context("spawn")  # no forked copy of our threads or sockets
        halt = ctx.Event()
        cfg = self.config
        proc = ctx.Process(target=seed_process, name="demo-seed", daemon=True,
                           args=(cfg.redis_url, cfg.sites_root, cfg.sites,
                                 cfg.prefix, cfg.data_dir, cfg.demo_days, halt,
                                 cfg.history))
        proc.start()

        def watch() -> None:
            while proc.is_alive():
                if self.stop_event.wait(0.5):
                    halt.set()
                    proc.join(4)
                    if proc.is_alive():
                        proc.terminate()
                    return

        self._thread("demo-seed", watch)

    def demo_users(self) -> list:
        """Accounts with fresh passwords for the sample sites' users (demo)."""
        from data.accounts import demo_users
        from data.keys import AuthKeys

        return demo_users(connect(self.config.redis_url),
                          AuthKeys(self.config.prefix), self.sites)

    def _thread(self, name: str, target: Callable[[], None]) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self.threads.append(thread)

    def stop(self) -> None:
        self.stop_event.set()
        if self.aggregator is not None:
            self.aggregator.stop()
        if self.archiver is not None:
            self.archiver.stop()
        if self.recorder is not None:
            self.recorder.stop()
        for thread in self.threads:
            thread.join(timeout=5)
        if self.embedded is not None:
            self.embedded.stop()
            log.info("embedded redis-server stopped; data kept in %s",
                     self.embedded.directory)

    def wait(self) -> None:
        """Block until SIGINT/SIGTERM, then stop everything."""
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: self.stop_event.set())
        self.stop_event.wait()
