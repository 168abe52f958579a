"""A live command center for browser tests: real Redis, aggregator, web server.

:class:`LiveApp` runs the pieces `python app.py` runs, in threads of the test
process, against an embedded redis-server of its own (so a test may stop and
restart it), plus an optional producer writing a crowd entry every second
through the public contract, as a real people counter would.
"""

from __future__ import annotations

import threading
from pathlib import Path

import redis
from werkzeug.serving import make_server

from data.clock import now_ms
from data.config import load_config
from data.feed.aggregator import Aggregator
from data.feed.producers import limits_of
from data.keys import Keys
from data.redis_conn import EmbeddedRedis, connect, free_port
from data.site_files import load_sites
from tests.auth import add_roster, kiosk_token, sign_in_page
from web.factory import create_app

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-sync"]


def chromium_path() -> str:
    """The Chromium the app's renderer uses too: ``GOV_CHROMIUM``, else the
    one on the PATH (Debian's ``/usr/bin/chromium``)."""
    from web.render import browser_path

    path = browser_path()
    if path is None:
        raise RuntimeError("no Chromium: install Debian's chromium or set "
                           "GOV_CHROMIUM (or run pytest -m 'not browser')")
    return path


class LiveApp:
    """Embedded Redis + aggregator + web server (+ a trickle producer)."""

    def __init__(self, data_dir: Path, sites_dir: Path, prefix: str = "live",
                 sites: str = "", producer: str | None = None,
                 env: dict[str, str] | None = None) -> None:
        self.redis = EmbeddedRedis(data_dir / "redis").start()
        env = {"REDIS_URL": self.redis.url, "GOV_PREFIX": prefix,
               "GOV_SITES_DIR": str(sites_dir), "GOV_DEMO": "0",
               "GOV_DATA_DIR": str(data_dir), "GOV_SNAPSHOT_MS": "50",
               **(env or {})}
        if sites:
            env["GOV_SITES"] = sites
        self.config = load_config(env)
        self.sites = load_sites(self.config.sites_root, self.config.sites)
        self.client = connect(self.redis.url)
        self.stop_event = threading.Event()
        self.aggregator = Aggregator(
            connect(self.redis.url, decode=False), self.sites, prefix,
            snapshot_interval_ms=50, lease_ms=3000)
        # judged with the limits the web processes use, as web/runtime.py does
        self.aggregator.producer_limits = limits_of(self.config)
        self.app = create_app(self.config)
        self.kiosk = {}
        for site in self.sites.values():  # everyone signs in with tests.auth
            add_roster(self.client, prefix, site)
            self.kiosk[site.id] = kiosk_token(self.client, prefix, site.id)
        self.port = free_port()
        self.http = make_server("127.0.0.1", self.port, self.app.server,
                                threaded=True)
        self.threads = [
            threading.Thread(target=self.aggregator.run, daemon=True),
            threading.Thread(target=self.http.serve_forever, daemon=True),
        ]
        if producer:
            self.threads.append(threading.Thread(
                target=self._produce, args=(producer,), daemon=True))
        for thread in self.threads:
            thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wall_url(self, site: str, **query: str) -> str:
        """A wall's first address: the kiosk token, kept as a cookie after."""
        extra = "".join(f"&{k}={v}" for k, v in query.items())
        return f"{self.url}/wall?site={site}&kiosk={self.kiosk[site]}{extra}"

    def sign_in(self, page, name: str, path: str) -> None:
        """Sign ``page`` in as ``name`` through the form and open ``path``."""
        sign_in_page(page, self.url, name, path)

    def keys(self, site: str) -> Keys:
        return Keys(self.config.prefix, site)

    def xadd(self, site: str, stream: str, fields: dict) -> None:
        self.client.xadd(self.keys(site).stream(stream),
                         {k: str(v) for k, v in fields.items()})

    def _produce(self, site: str) -> None:
        entrance = next(iter(self.sites[site].entrances))
        while not self.stop_event.wait(1.0):
            try:
                self.xadd(site, "crowd", {"v": 1, "src": "trickle",
                                          "entrance": entrance, "ts": now_ms(),
                                          "in": 1, "out": 1})
            except redis.RedisError:
                pass  # Redis is down on purpose in some tests

    def stop_redis(self) -> None:
        self.redis.kill()

    def start_redis(self) -> None:
        self.redis = EmbeddedRedis(self.redis.directory, port=self.redis.port).start()

    def close(self) -> None:
        self.stop_event.set()
        hub = self.app.server.extensions.get("gov_hub")
        if hub is not None:
            hub.stop()
        self.aggregator.stop()
        self.http.shutdown()
        self.redis.stop()
