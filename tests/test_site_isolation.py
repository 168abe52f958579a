"""One site whose data cannot be read never stops the folding of the others.

A real redis-server, two real sites; one site's key is broken by hand (a string
where a hash or a sorted set belongs), as a bug or an operator might.
"""

from __future__ import annotations

import time

import pytest

from data.clock import now_ms
from data.config import PROJECT_ROOT
from data.feed.aggregator import Aggregator
from data.feed.snapshot import read_snapshot
from data.keys import Keys
from data.site_files import load_sites
from tests.common import PREFIX

pytestmark = pytest.mark.cluster  # on one Redis and on a cluster

SITES_DIR = PROJECT_ROOT / "data" / "sites"
BROKEN, FINE = Keys(PREFIX, "yaozhai"), Keys(PREFIX, "erqi")


@pytest.fixture(scope="module")
def sites():
    return load_sites(SITES_DIR, ("yaozhai", "erqi"))




def crowd(r, keys: Keys, entrance: str, n_in: int) -> None:
    r.xadd(keys.stream("crowd"), {"v": "1", "src": "cam", "entrance": entrance,
                                  "ts": str(now_ms()), "in": str(n_in),
                                  "out": "0"})


def people(r, keys: Keys) -> int:
    return int(r.hget(keys.present, "site") or 0)


def fold_until(agg: Aggregator, done, seconds: float = 8.0) -> None:
    deadline = time.monotonic() + seconds
    while not done():
        assert time.monotonic() < deadline, "the condition never came true"
        agg.step(block_ms=20)


@pytest.fixture
def agg(r, raw, sites):
    aggregator = Aggregator(raw, sites, PREFIX, snapshot_interval_ms=1)
    crowd(r, BROKEN, "E01", 5)
    crowd(r, FINE, "E01", 5)
    fold_until(aggregator, lambda: people(r, BROKEN) == people(r, FINE) == 5
               and read_snapshot(r, BROKEN) and read_snapshot(r, FINE))
    return aggregator


@pytest.fixture
def app(make_app):
    return make_app(GOV_SITES_DIR=str(SITES_DIR), GOV_SITES="yaozhai,erqi")


# A fold reads the present hash; a snapshot reads the open-incidents index
# and numbers itself with the version; the roll-up reads the owned counts.
# Each is read or written with the other site's, in one round trip a node.
@pytest.mark.parametrize("broken_key", [BROKEN.present, BROKEN.incidents_open,
                                        BROKEN.version, BROKEN.unit_owned])
def test_the_other_site_keeps_folding_and_stays_healthy(r, agg, app, broken_key):
    r.delete(broken_key)
    r.set(broken_key, "not what belongs here")
    crowd(r, BROKEN, "E01", 1)
    version = read_snapshot(r, FINE)["version"]
    for n in range(1, 4):
        crowd(r, FINE, "E01", 1)
        fold_until(agg, lambda n=n: people(r, FINE) == 5 + n)
    fold_until(agg, lambda: read_snapshot(r, FINE)["version"] > version + 2
               and r.exists(BROKEN.health))

    client = app.server.test_client()
    body = client.get("/api/v1/health").get_json()
    assert body["ok"] is False
    assert body["sites"]["erqi"]["ok"] is True
    assert body["sites"]["yaozhai"]["ok"] is False
    assert ("WRONGTYPE" in body["sites"]["yaozhai"]["reason"]
            or "not an integer" in body["sites"]["yaozhai"]["reason"])
    assert client.get("/api/v1/health?site=erqi").status_code == 200
    assert client.get("/api/v1/health?site=yaozhai").status_code == 503
    assert client.get("/api/v1/health?site=nowhere").status_code == 404


def test_the_broken_site_comes_back_on_its_own_once_repaired(r, agg, app):
    r.delete(BROKEN.present)
    r.set(BROKEN.present, "not a hash")
    crowd(r, BROKEN, "E01", 1)
    fold_until(agg, lambda: r.exists(BROKEN.health))
    r.delete(BROKEN.present)  # repaired: present people are counted afresh
    fold_until(agg, lambda: not r.exists(BROKEN.health) and people(r, BROKEN) == 1)
    fold_until(agg, lambda: app.server.test_client().get(
        "/api/v1/health").status_code == 200)


def test_a_deleted_stream_rests_its_site_alone_and_is_made_again(r, agg):
    r.delete(BROKEN.stream("crowd"))
    r.set(BROKEN.stream("crowd"), "not a stream")
    crowd(r, FINE, "E01", 2)
    fold_until(agg, lambda: people(r, FINE) == 7 and r.exists(BROKEN.health))
    r.delete(BROKEN.stream("crowd"))  # the set-up makes stream and group again
    fold_until(agg, lambda: not r.exists(BROKEN.health))
    crowd(r, BROKEN, "E01", 3)
    fold_until(agg, lambda: people(r, BROKEN) == 8)
