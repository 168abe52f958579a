"""Ids drawn from every key-name fragment the code uses reach no key name.

Hypothesis feeds one site's incident and crowd streams ids, entrances and
categories made of the words of ``data/keys.py`` (``open``, ``all``, ``idx``,
``rec``, ``lease`` …), of ``:``, ``{``, ``}``, empty and very long values, and
valid ones; a real redis-server folds them. No site stops (its snapshot still
builds, its valid entries fold), the other site folds its own entries all the
while, and each bad entry lands in the dead letters with a reason.
"""

from __future__ import annotations

import re
import time
import uuid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import data.keys
from data.clock import now_ms
from data.config import PROJECT_ROOT
from data.feed.aggregator import Aggregator
from data.feed.snapshot import read_snapshot
from data.keys import Keys
from data.site_files import load_sites
from tests.common import PREFIX

SITES_DIR = PROJECT_ROOT / "data" / "sites"
FUZZED, OTHER = Keys(PREFIX, "yaozhai"), Keys(PREFIX, "erqi")
KEY_WORDS = sorted(set(re.findall(r":([a-z][a-z-]*)",
                                  Path(data.keys.__file__).read_text())))
HOSTILE = [*KEY_WORDS, "open", "all", "closed", ":", "{", "}", "", "x" * 5000,
           "{yaozhai}", "inc:idx:open", "idx:open", "rec:x", "a:b", "}{", "*",
           "erqi", "{erqi}:crowd"]


@pytest.fixture(scope="module")
def sites():
    return load_sites(SITES_DIR, ("yaozhai", "erqi"))




def entries(site):
    category = st.sampled_from(sorted(site.categories))
    entrance = st.sampled_from(sorted(site.entrances))
    hostile = st.sampled_from(HOSTILE)
    reports = st.one_of(
        st.tuples(st.just("report"), st.uuids().map(str), category,
                  st.just(True)),
        st.tuples(st.just("report"), hostile, category, st.just(False)),
        st.tuples(st.just("report"), st.uuids().map(str), hostile,
                  st.just(False)))
    crowds = st.one_of(
        st.tuples(st.just("crowd"), entrance, st.integers(0, 9), st.just(True)),
        st.tuples(st.just("crowd"), hostile, st.integers(0, 9), st.just(False)))
    return st.lists(st.one_of(reports, crowds), min_size=1, max_size=12)


def write(r, keys: Keys, site, item: tuple) -> None:
    kind, value, extra, _ = item
    if kind == "crowd":
        r.xadd(keys.stream("crowd"), {"v": "1", "src": "cam", "entrance": value,
                                      "ts": str(now_ms()), "in": str(extra),
                                      "out": "0"})
    else:
        r.xadd(keys.stream("incident"), {
            "v": "1", "src": "hotline", "op": "report", "id": value,
            "ts": str(now_ms()), "category": extra, "level": "3",
            "title": "楼道堆物", "grid": sorted(site.grids)[0]})


def fold_all(agg: Aggregator, r) -> None:
    deadline = time.monotonic() + 10
    while agg.step(block_ms=5) or any(
            r.xpending(k.stream(n), "agg")["pending"]
            for k in (FUZZED, OTHER) for n in ("crowd", "incident")):
        assert time.monotonic() < deadline
    for state in agg.states.values():
        state.last_snapshot_ms = 0
    agg.step(block_ms=1)


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_no_producer_value_stops_or_slows_a_site(r, raw, sites, data):
    r.flushdb()
    agg = Aggregator(raw, sites, PREFIX, snapshot_interval_ms=1,
                     consumer=f"fuzz-{uuid.uuid4().hex[:6]}")
    items = data.draw(entries(sites["yaozhai"]))
    for item in items:
        write(r, FUZZED, sites["yaozhai"], item)
    write(r, OTHER, sites["erqi"], ("crowd", sorted(sites["erqi"].entrances)[0],
                                    3, True))
    fold_all(agg, r)

    for keys in (FUZZED, OTHER):
        assert not r.exists(keys.health), r.get(keys.health)
        assert read_snapshot(r, keys) is not None
    assert int(r.hget(OTHER.present, "site")) == 3
    people = sum(n for kind, _, n, ok in items if kind == "crowd" and ok)
    assert int(r.hget(FUZZED.present, "site") or 0) == people
    reported = {v for kind, v, _, ok in items if kind == "report" and ok}
    assert set(r.zrange(FUZZED.incidents_all, 0, -1)) == reported
    assert read_snapshot(r, FUZZED)["incidents"]["open"] == len(reported)
    dead = [fields for _, fields in r.xrange(FUZZED.dead)]
    assert len(dead) == sum(not ok for *_, ok in items)
    assert all(fields["reason"] for fields in dead)
