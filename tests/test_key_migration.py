"""Incident keys move from layout 1 to layout 2, once, whatever state they are in.

Layout-1 data is made the honest way: the aggregator folds real reports, then
the test renames its keys back to the names layout 1 used, and writes the
poisoned record a report with id ``open`` left over the open index.
"""

from __future__ import annotations

import json

import pytest

from data.clock import now_ms
from data.feed.aggregator import Aggregator
from data.feed.migration import migrate_incident_keys
from data.feed.snapshot import read_snapshot
from data.keys import Keys
from tests.common import PREFIX
from tests.feed import INC1, INC2, drain, xadd

pytestmark = pytest.mark.cluster  # on one Redis and on a cluster

KEYS = Keys(PREFIX, "tiny")
OLD = f"{KEYS.base}:inc:"


def fold_two_incidents(r, agg) -> None:
    """INC1 stays open, INC2 is closed (a closure counted in its month)."""
    t = now_ms()
    for incident_id in (INC1, INC2):
        xadd(r, "incident", v=1, src="phone", op="report", id=incident_id, ts=t,
             category="sanitation", level=2, title="垃圾堆积", grid="G1")
    steps = [("accept", "sup", {}), ("dispatch", "sup", {"assignee": "w1"}),
             ("start", "w1", {}), ("resolve", "w1", {"note": "已清理"}),
             ("verify", "sup", {"passed": 1})]
    for n, (op, actor, extra) in enumerate(steps, start=1):
        xadd(r, "incident", v=1, src="app", op=op, id=INC2, ts=t + n, actor=actor,
             **extra)
    drain(agg)


def back_to_layout_1(r) -> str:
    """Rename layout-2 keys to layout-1 names; returns the closure month."""
    for incident_id in (INC1, INC2):
        r.rename(KEYS.incident(incident_id), f"{OLD}{incident_id}")
    for word in ("all", "open", "closed"):
        r.rename(f"{KEYS.base}:inc:idx:{word}", f"{OLD}{word}")
    [month_key] = r.keys(f"{KEYS.base}:inc:count:*")
    month = month_key.rsplit(":", 1)[1]
    r.rename(month_key, f"{OLD}month:{month}")
    r.delete(KEYS.incidents_layout)
    return month


def poison_open_index(r) -> None:
    """What a report with id ``open`` did under layout 1."""
    record = json.loads(r.get(f"{OLD}{INC1}"))
    r.set(f"{OLD}open", json.dumps({**record, "id": "open"}))


def test_layout_1_data_is_readable_after_the_move(r, raw, tiny):
    agg = Aggregator(raw, {"tiny": tiny}, PREFIX, snapshot_interval_ms=1)
    agg.setup()
    fold_two_incidents(r, agg)
    before = read_snapshot(r, KEYS)["incidents"]
    agg.release()
    month = back_to_layout_1(r)
    poison_open_index(r)

    assert migrate_incident_keys(raw, KEYS) == 4  # 3 records and the month

    assert json.loads(r.get(KEYS.incident(INC1)))["status"] == "reported"
    assert json.loads(r.get(KEYS.incident(INC2)))["status"] == "closed"
    assert json.loads(r.get(KEYS.incident("open")))["id"] == "open"
    assert set(r.zrange(KEYS.incidents_all, 0, -1)) == {INC1, INC2, "open"}
    assert set(r.zrange(KEYS.incidents_open, 0, -1)) == {INC1, "open"}
    assert r.zrange(KEYS.incidents_closed, 0, -1) == [INC2]
    assert r.hget(KEYS.incidents_month(month), "closed") == "1"
    left = [k[len(OLD):] for k in r.keys(f"{OLD}*")]
    assert all(k.startswith(("rec:", "idx:", "count:", "layout")) for k in left)

    again = Aggregator(raw, {"tiny": tiny}, PREFIX, snapshot_interval_ms=1)
    again.setup()  # moves nothing more
    drain(again)
    after = read_snapshot(r, KEYS)["incidents"]
    assert after["closed_month"] == before["closed_month"] == 1
    assert after["open"] == before["open"] + 1  # the poisoned one, now a record


def test_the_move_is_done_once_and_a_second_run_changes_nothing(r, raw, tiny):
    agg = Aggregator(raw, {"tiny": tiny}, PREFIX, snapshot_interval_ms=1)
    agg.setup()
    fold_two_incidents(r, agg)
    back_to_layout_1(r)
    assert migrate_incident_keys(raw, KEYS) == 3
    keyspace = {k: r.type(k) for k in r.keys(f"{KEYS.base}:inc:*")}
    assert migrate_incident_keys(raw, KEYS) == 0
    r.delete(KEYS.incidents_layout)  # even when the mark is lost
    assert migrate_incident_keys(raw, KEYS) == 0
    assert {k: r.type(k) for k in r.keys(f"{KEYS.base}:inc:*")} == keyspace


def test_a_fresh_site_is_marked_without_moving_anything(r, raw):
    assert migrate_incident_keys(raw, KEYS) == 0
    assert r.get(KEYS.incidents_layout) == "2"
