"""The console's producers panel: the list by state, and a producer's refused
entries with their reasons from the dead-letter stream, matched to it the
same way the aggregator counts them (real Redis, real folding)."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from data.clock import now_ms
from data.feed.dead import recent_dead
from data.feed.producers import (
    REFUSED_MINUTES,
    Limits,
    device_key,
    device_of_raw,
    read_health,
)
from data.keys import Keys
from layouts.console_producers import (
    FILTERS,
    refused_panel,
    table_rows,
    wanted,
)
from tests.common import PREFIX
from tests.feed import fold_at, xadd

KEYS = Keys(PREFIX, "tiny")
LIMITS = Limits()


def refused_of(r, site, row: dict) -> list[dict]:
    key = device_key(row["src"], row["device"], row["kind"])
    return recent_dead(r, KEYS, now_ms() - REFUSED_MINUTES * 60_000,
                       lambda f: device_of_raw(f.get("stream", ""), f, site) == key)


def test_a_producers_refused_entries_are_the_ones_it_is_counted_for(raw, tiny):
    now = now_ms()
    for n in range(3):  # junk at the east gate: negative counts
        xadd(raw, "crowd", v=1, src="junk-cam", entrance="E2", ts=now, **{"in": -n - 1},
             out=0)
    xadd(raw, "crowd", v=1, src="junk-cam", entrance="E9", ts=now, **{"in": 1},
         out=0)  # an entrance the site does not have: the producer as a whole
    xadd(raw, "crowd", v=1, src="good-cam", entrance="E2", ts=now, **{"in": 1},
         out=0)
    xadd(raw, "incident", v=1, src="hotline", op="report", id="not-a-uuid", ts=now,
         category="sanitation", level=2, title="t", grid="G1", reporter="张三丰",
         phone="13812345678")
    fold_at(raw, tiny, now)
    rows = {(r["src"], r["device"]): r
            for r in read_health(raw, KEYS, tiny, now, LIMITS, rows=True)}
    junk = rows["junk-cam", "E2"]
    entries = refused_of(raw, tiny, junk)
    assert len(entries) == junk["refused_15m"] == 3
    assert all(e["stream"] == "crowd" and e["fields"]["entrance"] == "E2"
               for e in entries)
    assert entries[0]["reason"] == junk["last_reason"]
    assert [e["fields"]["in"] for e in entries] == ["-3", "-2", "-1"]  # newest first
    whole = refused_of(raw, tiny, rows["junk-cam", ""])
    assert [e["fields"]["entrance"] for e in whole] == ["E9"]
    assert refused_of(raw, tiny, rows["good-cam", "E2"]) == []
    (report,) = refused_of(raw, tiny, rows["hotline", "hotline"])
    assert report["fields"]["phone"] == "138****5678"  # masked before any screen
    assert report["fields"]["reporter"] == "张**"
    shown = str(refused_panel("东门", entries, "zh", ZoneInfo(tiny.timezone)))
    assert junk["last_reason"] in shown and "近15分钟拒收 3 条" in shown


def test_the_filter_by_state(tiny):
    states = ["ok", "late", "silent", "erroring", "flapping"]
    listed = {f: [s for s in states if wanted(s, f)] for f in FILTERS}
    assert listed["all"] == states
    assert listed["problem"] == states[1:]
    assert all(listed[s] == [s] for s in states)


def test_rows_worst_first_named_by_the_site_file(tiny):
    base = {"src": "c", "kind": "counter", "since": 0, "last_ts": None,
            "seen_ms": None, "rate_per_min": 0.0, "usual_per_min": 1.5,
            "refused_15m": 0, "last_reason": None, "grid": "G1"}
    rows = table_rows([{**base, "device": "E1", "state": "ok"},
                       {**base, "device": "E2", "state": "erroring",
                        "refused_15m": 4, "last_reason": "in: negative"}],
                      tiny, "zh", 0)
    assert [(r["name"], r["state"], r["refused"]) for r in rows] == [
        ("东门", "报错", 4), ("西门", "正常", 0)]
    assert rows[0]["kind"] == "人流计数器" and rows[0]["rate"] == "0 / 1.5"
