"""Producer and device health from scripted feeds, folded on a real Redis
(data/feed/producers.py): a device that stops, one that sends junk, one that
comes and goes, and the hysteresis."""

from __future__ import annotations

import pytest

from data.feed.producers import Limits, judge, raw_state, read_health, step
from data.incidents.store import read_incident
from data.keys import Keys
from tests.common import PREFIX
from tests.feed import fold_at, xadd

S = 1000
LIMITS = Limits(late_ms=5 * S, silent_ms=20 * S, incident_ms=60 * S)
T0 = 1_800_000_000_000  # a fixed aggregator clock, moved by the script
KEYS = Keys(PREFIX, "tiny")


def count(raw, tiny, at: int, entrance: str = "E1", src: str = "cnt-1",
          **fields) -> None:
    xadd(raw, "crowd", **{"v": 1, "src": src, "entrance": entrance, "ts": at,
                          "in": 1, "out": 0, **fields})
    fold_at(raw, tiny, at)


def rows_at(raw, tiny, at: int) -> dict[tuple[str, str], dict]:
    rows = read_health(raw, KEYS, tiny, at, LIMITS, rows=True)
    raw.delete(f"{KEYS.producer_summary}:lock")  # the next call judges anew
    return {(row["src"], row["device"]): row for row in rows}


def test_declared_devices_never_heard_from_are_silent(raw, tiny):
    rows = rows_at(raw, tiny, T0)
    assert {d for (_, d), row in rows.items() if row["state"] == "silent"} == {
        "E1", "E2", "V1", "P1"}
    assert rows["", "E1"]["kind"] == "counter" and rows["", "V1"]["kind"] == "gate"


def test_a_device_that_stops_goes_late_then_silent(raw, tiny):
    for k in range(5):
        count(raw, tiny, T0 + k * S)
    row = rows_at(raw, tiny, T0 + 5 * S)["cnt-1", "E1"]
    assert (row["state"], row["last_ts"], row["refused_15m"]) == ("ok", T0 + 4 * S, 0)
    assert row["rate_per_min"] == 1.0  # 5 entries over the last five minutes
    assert rows_at(raw, tiny, T0 + 10 * S)["cnt-1", "E1"]["state"] == "late"
    row = rows_at(raw, tiny, T0 + 25 * S)["cnt-1", "E1"]
    assert (row["state"], row["since"]) == ("silent", T0 + 25 * S)
    # the counter heard from is no longer the declared one never heard from
    assert ("", "E1") not in rows_at(raw, tiny, T0 + 26 * S)


def test_a_device_sending_junk_is_erroring_with_its_reason(raw, tiny):
    count(raw, tiny, T0, src="junk-1", entrance="E2")
    for k in range(1, 5):
        count(raw, tiny, T0 + k * S, src="junk-1", entrance="E2", **{"in": -3})
    row = rows_at(raw, tiny, T0 + 5 * S)["junk-1", "E2"]
    assert row["state"] == "erroring" and row["refused_15m"] == 4
    assert "in" in row["last_reason"]
    dead = raw.xlen(KEYS.dead)
    assert dead == 4  # and nothing is lost: the entries are in the dead letters


def test_hysteresis_a_better_state_must_hold_before_it_is_shown(raw, tiny):
    count(raw, tiny, T0)
    assert rows_at(raw, tiny, T0 + 6 * S)["cnt-1", "E1"]["state"] == "late"
    count(raw, tiny, T0 + 7 * S)  # back, but not for long enough yet
    assert rows_at(raw, tiny, T0 + 8 * S)["cnt-1", "E1"]["state"] == "late"
    count(raw, tiny, T0 + 10 * S)
    assert rows_at(raw, tiny, T0 + 11 * S)["cnt-1", "E1"]["state"] == "late"
    count(raw, tiny, T0 + 12 * S)
    assert rows_at(raw, tiny, T0 + 12 * S + 500)["cnt-1", "E1"]["state"] == "late"
    row = rows_at(raw, tiny, T0 + 13 * S)["cnt-1", "E1"]  # ok for 5 s since 8 s
    assert (row["state"], row["since"]) == ("ok", T0 + 13 * S)


def test_a_device_that_comes_and_goes_is_flapping_until_it_settles(raw, tiny):
    at = T0
    states = []
    for _ in range(3):  # sends for 6 s, then nothing for 7 s
        for _ in range(4):
            count(raw, tiny, at)
            states.append(rows_at(raw, tiny, at)["cnt-1", "E1"]["state"])
            at += 2 * S
        at += 7 * S
        states.append(rows_at(raw, tiny, at)["cnt-1", "E1"]["state"])
    assert "late" in states and states[-1] == "flapping"
    # steady for the window (20 late times): no longer flapping
    while at < T0 + 200 * S:
        count(raw, tiny, at)
        last = rows_at(raw, tiny, at)["cnt-1", "E1"]["state"]
        at += 2 * S
    assert last == "ok"


@pytest.mark.parametrize(("quiet", "refused", "total", "state"), [
    (None, 0, 0, "silent"), (21 * S, 0, 0, "silent"), (6 * S, 0, 0, "late"),
    (1 * S, 3, 5, "erroring"), (1 * S, 2, 2, "ok"), (1 * S, 3, 6, "ok")])
def test_the_state_now_before_hysteresis(quiet, refused, total, state):
    assert raw_state(quiet, 5 * S, 20 * S, refused, total) == state


def test_a_state_does_not_blink_between_two_judgements():
    state = step(None, "ok", 0, 5 * S)
    state = step(state, "late", 1 * S, 5 * S)
    assert state["base"] == "late"
    for t in range(2, 6):  # ok now and then, late in between: stays late
        state = step(state, "ok" if t % 2 else "late", t * S, 5 * S)
        assert state["base"] == "late"


def test_a_silent_device_opens_one_maintenance_incident_and_its_return_comments(
        raw, r, tiny):
    count(raw, tiny, T0)
    rows_at(raw, tiny, T0 + 30 * S)  # silent from here
    rows_at(raw, tiny, T0 + 80 * S)
    rows = rows_at(raw, tiny, T0 + 95 * S)
    assert rows["cnt-1", "E1"]["incident"], rows["cnt-1", "E1"]
    rows_at(raw, tiny, T0 + 99 * S)  # still silent: still one
    fold_at(raw, tiny, T0 + 96 * S)
    reports = [e for _, e in r.xrange(KEYS.stream("incident"))
               if e["op"] == "report"]
    assert len(reports) == 1
    incident = reports[0]["id"]
    record = read_incident(r, KEYS, incident)
    assert record["category"] == "device_fault" and record["grid"] == "G1"
    assert "西门" in record["title"]
    count(raw, tiny, T0 + 100 * S)
    rows_at(raw, tiny, T0 + 101 * S)  # back: on probation
    count(raw, tiny, T0 + 104 * S)
    rows_at(raw, tiny, T0 + 106 * S)  # and steady for a late time
    fold_at(raw, tiny, T0 + 107 * S)
    notes = [h.get("note") or "" for h in read_incident(r, KEYS, incident)["history"]]
    assert any("恢复" in n for n in notes)


def hgetalls(raw) -> int:
    return int(raw.info("commandstats").get("cmdstat_hgetall", {}).get("calls", 0))


def test_a_judge_with_a_cache_reads_the_settled_minutes_once_and_judges_the_same(
        raw, tiny):
    """The aggregator judges every site every 30 s: a minute's bucket is
    written in that minute only, so the settled ones are read once."""
    minute = 60 * S
    for k in range(10):  # a count a minute, and junk now and then
        count(raw, tiny, T0 + k * minute)
        if k % 3 == 0:
            count(raw, tiny, T0 + k * minute + S, src="junk-1", entrance="E2",
                  **{"in": -3})
    cache: dict = {}
    first_at = T0 + 9 * minute + 30 * S
    before = hgetalls(raw)
    assert judge(raw, KEYS, tiny, first_at, LIMITS, store=False, cache=cache) \
        == judge(raw, KEYS, tiny, first_at, LIMITS, store=False)
    assert hgetalls(raw) - before == 2 * 121  # the first time: every minute
    # a minute on: what came in since is seen, the settled minutes not read again
    count(raw, tiny, T0 + 9 * minute + 40 * S)
    count(raw, tiny, T0 + 10 * minute + 5 * S, src="junk-1", entrance="E2",
          **{"in": -3})
    later = T0 + 10 * minute + 10 * S
    before = hgetalls(raw)
    cached = judge(raw, KEYS, tiny, later, LIMITS, store=False, cache=cache)
    # the devices, and the three minutes not settled at the last judge (8, 9)
    # or new (10): not the 118 others
    assert hgetalls(raw) - before == 4
    assert cached == judge(raw, KEYS, tiny, later, LIMITS, store=False)
    row = {(r["src"], r["device"]): r for r in cached}["junk-1", "E2"]
    assert row["refused_15m"] == 5


def test_judged_with_other_sites_as_judged_alone_unless_another_holds_the_lock(
        raw, tiny):
    """judge_many (the aggregator's upkeep of a round) stores the summary
    read_health would; a site another caller judges at this moment (its
    lock held) is left as that one judged it."""
    import json

    from data.feed.producers import judge_many, summary

    count(raw, tiny, T0)
    count(raw, tiny, T0 + S, src="junk-1", entrance="E2", **{"in": -3})
    at = T0 + 30 * S
    alone = summary(judge(raw, KEYS, tiny, at, LIMITS, store=False), at)
    assert judge_many(raw, [(KEYS, tiny, {})], at, LIMITS) == [None]
    assert json.loads(raw.get(KEYS.producer_summary)) == alone
    assert raw.pttl(f"{KEYS.producer_summary}:lock") > 0  # for a second
    raw.set(f"{KEYS.producer_summary}:lock", "1", px=60_000)  # another judges
    later = at + 5 * S
    assert judge_many(raw, [(KEYS, tiny, {})], later, LIMITS) == [None]
    assert json.loads(raw.get(KEYS.producer_summary))["at"] == at  # locked
    raw.delete(f"{KEYS.producer_summary}:lock")
    assert judge_many(raw, [(KEYS, tiny, {})], later, LIMITS) == [None]
    assert json.loads(raw.get(KEYS.producer_summary))["at"] == later
