"""The aggregator against a real Redis: figures computed by hand on ``tiny``."""

from __future__ import annotations

import json
import threading
import time

import pytest

from data import pubsub as channels
from data.clock import now_ms
from data.feed import aggregator as aggregators
from data.feed.aggregator import Aggregator
from data.feed.snapshot import read_snapshot
from data.keys import Keys
from tests.common import PREFIX
from tests.feed import INC1, INC2, INC9, crowd, drain, xadd

pytestmark = pytest.mark.cluster  # on one Redis and on a cluster


@pytest.fixture
def agg(raw, tiny):
    aggregator = Aggregator(raw, {"tiny": tiny}, PREFIX, snapshot_interval_ms=50,
                            consumer="agg-test")
    aggregator.setup()
    return aggregator


def snap(r) -> dict:
    return read_snapshot(r, Keys(PREFIX, "tiny"))


def test_people_present_per_grid_and_site(r, agg):
    crowd(r, "E1", 30, 5)   # G1: 25
    crowd(r, "E2", 70, 10)  # G2: 60
    crowd(r, "E1", 0, 40)   # G1 would go to -15: clamps at 0
    drain(agg)
    s = snap(r)
    assert s["grids"]["G1"]["people_present"] == 0
    assert s["grids"]["G2"]["people_present"] == 60
    assert s["people_present"] == 60
    assert s["people_in_1h"] == 100 and s["people_out_1h"] == 55
    assert s["entrances"]["E1"]["people_in_1h"] == 30
    assert s["entrances"]["E1"]["people_out_1h"] == 45
    assert s["people_in_today"] == 100
    # G2 holds 200 with thresholds 0.6/0.8/0.95: 60 is 0.3 -> green
    assert s["grids"]["G2"]["density_level"] == 0


def test_density_levels_follow_grid_thresholds(r, agg):
    crowd(r, "E1", 75, 0)  # G1 capacity 100, thresholds 0.5/0.75/0.9 -> orange
    crowd(r, "E2", 190, 0)  # G2 capacity 200, 0.95 -> red
    drain(agg)
    s = snap(r)
    assert s["grids"]["G1"]["density_level"] == 2
    assert s["grids"]["G2"]["density_level"] == 3
    assert {a["grid"] for a in s["alerts"] if a["kind"] == "density"} == {"G1", "G2"}


def test_vehicles_and_parking(r, agg):
    t = now_ms()
    xadd(r, "traffic", v=1, src="gate", entrance="V1", ts=t, **{"in": 4, "out": 1})
    xadd(r, "traffic", v=1, src="lot", lot="P1", ts=t, occupied=31)
    xadd(r, "traffic", v=1, src="lot", lot="P1", ts=t - 60_000, occupied=5)  # older
    drain(agg)
    s = snap(r)
    assert s["vehicles_in_today"] == 4 and s["vehicles_out_today"] == 1
    assert s["entrances"]["V1"]["vehicles_in_1h"] == 4
    assert s["parking"]["P1"]["occupied"] == 31
    assert s["parking_occupied"] == 31 and s["parking_capacity"] == 50


def test_repeated_eid_counts_once(r, agg):
    t = now_ms()
    for _ in range(3):
        crowd(r, "E1", 10, 0, ts=t, eid="evt-1")
    crowd(r, "E1", 10, 0, ts=t, eid="evt-2")
    drain(agg)
    crowd(r, "E1", 10, 0, ts=t, eid="evt-1")  # a retry in a later batch
    drain(agg)
    assert snap(r)["people_in_1h"] == 20


def test_bad_entries_go_to_dead_letters_and_do_not_block(r, agg):
    crowd(r, "E99", 1, 0)
    crowd(r, "E1", -3, 0)
    xadd(r, "crowd", v=1, src="x", entrance="E1", ts=now_ms(), out=0)  # no "in"
    crowd(r, "E1", 5, 0)
    drain(agg)
    s = snap(r)
    assert s["dead_letters"] == 3
    assert s["people_in_1h"] == 5
    dead = r.xrange(Keys(PREFIX, "tiny").dead)
    reasons = [fields["reason"] for _, fields in dead]
    assert "entrance E99 is not in site tiny" in reasons
    assert any("'in'" in reason and "-3" in reason for reason in reasons)
    assert any("missing field 'in'" in reason for reason in reasons)
    assert all(fields["stream"] == "crowd" for _, fields in dead)


def test_incident_report_and_lifecycle(r, agg):
    t = now_ms()
    xadd(r, "incident", v=1, src="phone", op="report", id=INC1, ts=t,
         category="sanitation", level=2, title="垃圾堆积", grid="G1",
         reporter="张三丰", phone="13812345678", actor="w1")
    xadd(r, "incident", v=1, src="app", op="accept", id=INC1, ts=t + 1,
         actor="sup")
    xadd(r, "incident", v=1, src="app", op="dispatch", id=INC1, ts=t + 2,
         actor="sup", assignee="w1")
    xadd(r, "incident", v=1, src="app", op="start", id=INC1, ts=t + 3, actor="w1")
    xadd(r, "incident", v=1, src="app", op="resolve", id=INC1, ts=t + 4,
         actor="w1", note="已清理")
    drain(agg)
    s = snap(r)
    assert s["incidents"]["open"] == 1
    assert s["recent_incidents"][0]["status"] == "resolved"
    assert s["recent_incidents"][0]["reporter"] == "张**"
    assert s["recent_incidents"][0]["phone"] == "138****5678"
    xadd(r, "incident", v=1, src="app", op="verify", id=INC1, ts=t + 5,
         actor="sup", passed=1)
    drain(agg)
    s = snap(r)
    assert s["incidents"]["open"] == 0
    assert s["incidents"]["closed_today"] == 1
    assert s["incidents"]["on_time_rate"] == 1.0
    assert s["incidents"]["solved_in_grid_share"] == 1.0


def test_refused_op_goes_to_dead_letters_and_changes_nothing(r, agg):
    t = now_ms()
    xadd(r, "incident", v=1, src="phone", op="report", id=INC2, ts=t,
         category="sanitation", level=3, title="路灯不亮", grid="G2")
    xadd(r, "incident", v=1, src="app", op="resolve", id=INC2, ts=t + 1,
         actor="w2")  # not dispatched yet
    xadd(r, "incident", v=1, src="app", op="accept", id=INC2, ts=t + 2,
         actor="w1")  # w1's scope is G1
    drain(agg)
    s = snap(r)
    assert s["recent_incidents"][0]["status"] == "reported"
    reasons = [f["reason"] for _, f in r.xrange(Keys(PREFIX, "tiny").dead)]
    assert any("cannot resolve an incident that is reported" in x for x in reasons)
    assert any("outside w1's scope" in x for x in reasons)


def test_a_change_waits_for_entries_only_until_it_may_be_published(r, raw, tiny):
    agg = Aggregator(raw, {"tiny": tiny}, PREFIX, snapshot_interval_ms=400,
                     consumer="agg-test")
    agg.setup()
    agg.step(block_ms=20)  # the first snapshot goes out at once
    state = agg.states["tiny"]
    assert not state.dirty
    assert agg._block_ms([state], 5000) == 5000  # nothing waiting: block long
    crowd(r, "E1", 3, 0)
    agg.step(block_ms=20)
    assert state.dirty and not state.urgent  # within the interval: it waits ...
    assert agg._block_ms([state], 5000) <= 400  # ... but not for the next entry
    xadd(r, "incident", v=1, src="phone", op="report", id=INC9, ts=now_ms(),
         category="sanitation", level=3, title="路灯不亮", grid="G2")
    agg.step(block_ms=20)
    # an incident (a report, a dispatch) waits a quarter of the interval at most
    assert state.urgent or not state.dirty
    if state.dirty:
        assert agg._block_ms([state], 5000) <= 100


def test_people_present_go_out_at_once_between_snapshots(r, raw, tiny):
    keys = Keys(PREFIX, "tiny")
    agg = Aggregator(raw, {"tiny": tiny}, PREFIX, snapshot_interval_ms=10_000,
                     consumer="agg-test")
    agg.setup()
    agg.step(block_ms=20)  # the first snapshot
    first = snap(r)["version"]
    pubsub = r.pubsub(ignore_subscribe_messages=True)
    channels.subscribe(r, pubsub, keys.channel)  # sharded on a Redis 7 cluster
    channels.next_message(r, pubsub, 0.5)  # the subscription itself
    crowd(r, "E1", 7, 0)
    agg.step(block_ms=20)
    crowd(r, "E2", 3, 3)  # in = out: nothing new to announce
    agg.step(block_ms=20)
    heard, deadline = [], time.monotonic() + 1
    while time.monotonic() < deadline:
        message = channels.next_message(r, pubsub, 0.1)
        if channels.is_message(message):
            heard.append(message["data"])
    assert heard == [f"live:{first}:7"]  # counted after snapshot `first`
    assert snap(r)["version"] == first  # the snapshot waits for its throttle
    pubsub.close()


def test_an_incident_change_is_announced_apart_from_crowd_versions(r, agg):
    """Screens showing incidents only (phone, console table) refresh on
    ``inc:<v>``; a crowd-only version is announced as a plain ``<v>``."""
    keys = Keys(PREFIX, "tiny")
    drain(agg)
    pubsub = r.pubsub(ignore_subscribe_messages=True)
    channels.subscribe(r, pubsub, keys.channel)
    channels.next_message(r, pubsub, 0.5)

    def heard() -> list[str]:
        out, deadline = [], time.monotonic() + 0.5
        while time.monotonic() < deadline:
            message = channels.next_message(r, pubsub, 0.05)
            if (channels.is_message(message)
                    and not message["data"].startswith("live:")):
                out.append(message["data"])
        return out

    crowd(r, "E1", 5, 0)
    drain(agg)
    crowd_version = snap(r)["version"]
    crowd_only = heard()
    assert str(crowd_version) in crowd_only
    assert all(m.isdigit() for m in crowd_only)  # no incident news in them
    assert r.get(keys.incidents_version) is None
    xadd(r, "incident", v=1, src="phone", op="report", id=INC9, ts=now_ms(),
         category="sanitation", level=2, title="井盖缺失", grid="G1", actor="w1")
    drain(agg)
    version = r.get(keys.incidents_version)  # the version with the report in
    assert crowd_version < int(version) <= snap(r)["version"]
    messages = heard()
    first = messages.index(f"inc:{version}")  # the change, once, first
    assert messages[first + 1] == version
    assert [m for m in messages if m.startswith("inc:")] == [f"inc:{version}"]
    pubsub.close()


def test_the_hub_wakes_once_for_an_incident_version_and_catches_up(r):
    from web.hub import Hub

    keys = Keys(PREFIX, "tiny")
    hub = Hub(r, {"tiny": keys})
    hub.watch("tiny")  # a stream of the site is open
    hub._publish(keys.channel, "inc:7")
    assert hub.current("tiny") == (7, 0, 0, 7)  # version 7, incidents at 7
    hub._publish(keys.channel, "7")  # the plain version that follows: no news
    hub._publish(keys.channel, "8")
    hub._publish(keys.channel, "cast:2")
    assert hub.current("tiny") == (8, 2, 0, 7)
    r.mset({keys.version: 12, keys.incidents_version: 11, keys.cast_seq: 3})
    later = Hub(r, {"tiny": keys})
    later.watch("tiny")  # the first stream of the site reads its versions
    assert later.current("tiny") == (12, 3, 0, 11)


def test_the_hub_sends_an_urgent_spotlight_with_the_version_that_caused_it(r):
    """The web process that hears a version putting an urgent report in the
    spotlight (its prepare queues it: data/interrupt.py) wakes the streams
    with the new cast number at once, not a Redis round trip later when its
    own ``cast:<n>`` comes back; that one is then no news."""
    from data.interrupt import observe_cast
    from web.hub import Hub

    keys = Keys(PREFIX, "tiny")

    def prepare(site: str, before: int, version: int) -> int:
        return observe_cast(r, keys, [("incident:" + INC1, 0)], now_ms(), 60_000)

    hub = Hub(r, {"tiny": keys}, prepare=prepare)
    hub.watch("tiny")
    hub._publish(keys.channel, "5")
    assert hub.current("tiny")[:2] == (5, 1)  # version and spotlight together
    hub._publish(keys.channel, "cast:1")  # what Redis tells a moment later
    assert hub.current("tiny")[:2] == (5, 1)
    hub._publish(keys.channel, "6")  # still alerting: nothing new to show
    assert hub.current("tiny")[:2] == (6, 1)


def test_a_quiet_site_gets_a_restamped_heartbeat_with_the_same_figures(r, agg):
    crowd(r, "E1", 12, 2, ts=now_ms() - 90_000)  # measured a while ago
    drain(agg)
    first = snap(r)
    state = agg.states["tiny"]
    state.last_snapshot_ms -= 6_000  # past the heartbeat, nothing new folded
    time.sleep(0.01)
    agg.step(block_ms=1)
    beat = snap(r)
    assert beat["version"] == first["version"] + 1
    assert beat["generated_ms"] > first["generated_ms"]
    assert beat["feeds"]["crowd"]["lag_ms"] > first["feeds"]["crowd"]["lag_ms"]
    for same in ("people_present", "grids", "entrances", "incidents", "flow"):
        assert beat[same] == first[same]
    assert state.last_build_ms < beat["generated_ms"]  # not rebuilt


def test_the_snapshot_throttle_stretches_when_many_sites_are_busy(raw, tiny):
    agg = Aggregator(raw, {"tiny": tiny}, PREFIX, snapshot_interval_ms=200)
    assert agg._interval() == 200  # one busy site: as configured
    agg._build_ms = 10.0
    many = {f"s{n}": agg.states["tiny"] for n in range(300)}
    for state in many.values():
        state.owned = state.dirty = True
    agg.states = many
    # 300 sites at 10 ms a snapshot, at most half the time on them: 6 s
    assert agg._interval() == 6_000
    # at the start of a round the last one's changes are all published:
    # the sites changed in it are busy still, not dirty
    state = many["s0"]  # the same state under 300 names
    state.dirty, state.changed_at = False, time.monotonic()
    assert agg._interval() == 6_000
    state.changed_at = time.monotonic() - 60  # quiet for a minute
    assert agg._interval() == 200
    state.dirty = True
    # an incident change has its own throttle: a quarter of the configured
    # interval while few sites have one, stretched only past its own share
    assert agg._urgent_gap == 50
    from dataclasses import replace
    agg.states = {name: replace(state) for name, state in many.items()}
    for state in list(agg.states.values())[:100]:
        state.urgent = True
    assert agg._interval() == 6_000
    assert agg._urgent_gap == 100 * 10 // 0.25 == 4_000


def test_the_snapshot_read_through_its_minute_cache_equals_a_fresh_one(
        r, raw, tiny):
    """A busy site's snapshot reads only the minutes folded into since the
    last one (data/feed/snapshot.py): late entries into past minutes, a new
    minute, and the demo's past written beside the fold all show, exactly
    as a build from nothing reads them."""
    from data.feed.fold import Fold
    from data.feed.snapshot import build
    from data.sim.demo_seed import store_fold

    keys = Keys(PREFIX, "tiny")
    agg = Aggregator(raw, {"tiny": tiny}, PREFIX, snapshot_interval_ms=50,
                     consumer="agg-test")
    agg.setup()
    state = agg.states["tiny"]
    now = now_ms()
    for back in (0, 1, 5, 30, 70, 110):  # the hour and the early hour
        crowd(r, "E1", 10 + back, 1, ts=now - back * 60_000)
    drain(agg)
    cached = state.kept.get("minutes")
    assert cached, "the aggregator's build keeps the minutes it read"

    def same():
        drain(agg)
        kept = agg.states["tiny"].kept["snap"]
        # from nothing, at the same moment (the minutes' window slides)
        fresh = build(raw, keys, tiny, kept["generated_ms"])
        for part in ("flow", "entrances", "people_in_1h"):
            assert kept[part] == fresh[part], part

    same()
    crowd(r, "E1", 7, 0, ts=now - 30 * 60_000)  # late, into a cached minute
    crowd(r, "E2", 3, 0, ts=now - 100 * 60_000)  # ... and an early one
    same()
    assert sum(state.kept["snap"]["flow"]["in"]) == sum(
        10 + b for b in (0, 1, 5, 30, 70, 110)) + 10
    # the demo's past, written straight into the buckets, not by the fold
    past = Fold(tiny, keys, {}, {}, now_ms())
    past.incr[keys.minute(now // 60_000 - 20), "s:i"] += 1000
    past.expire_at[keys.minute(now // 60_000 - 20)] = now // 1000 + 3600
    store_fold(raw, past, now_ms())
    state.dirty = True
    same()
    assert sum(state.kept["snap"]["flow"]["in"]) == sum(
        10 + b for b in (0, 1, 5, 30, 70, 110)) + 1010


def many_sites(raw, tiny, n: int, tag: str) -> tuple[dict, Aggregator]:
    """``tiny`` and ``n`` copies of it (``<tag>000``, …, each its own
    community), all leased and set up by one aggregator."""
    from dataclasses import replace

    def copy(k: int):
        community = replace(tiny.units["C1"], id=f"C-{tag}{k:03d}")
        units = {u: v for u, v in tiny.units.items() if u != "C1"}
        return replace(tiny, id=f"{tag}{k:03d}",
                       units={**units, community.id: community})

    sites = {"tiny": tiny, **{f"{tag}{k:03d}": copy(k) for k in range(n)}}
    agg = Aggregator(raw, sites, PREFIX, snapshot_interval_ms=50,
                     consumer="agg-test")
    agg.setup()
    for _ in range(3):
        agg.step(block_ms=20)  # every site leased and set up
    return sites, agg


def counts_of(r, site: str, n: int, ts: int) -> None:
    """``n`` crowd entries (one person in at E1) on ``site``, in one go."""
    pipe = r.pipeline(transaction=False)
    for _ in range(n):
        pipe.xadd(Keys(PREFIX, site).stream("crowd"),
                  {"v": "1", "src": "cam-1", "entrance": "E1",
                   "ts": str(ts), "in": "1", "out": "0"})
    pipe.execute()


def test_a_site_behind_catches_up_among_many_that_are_not(r, raw, tiny):
    """One site with a backlog among 200 quiet ones reads full batches once
    it is known to be behind, not its even share of a round (150 here)."""
    _, agg = many_sites(raw, tiny, 199, "q")
    t = now_ms()
    counts_of(r, "q000", 600, t)  # busy: every site is read each round now
    agg.step(block_ms=20)
    assert agg.waker.paused.is_set()
    counts_of(r, "tiny", 1500, t)
    for _ in range(3):
        agg.step(block_ms=20)
    stats = r.hgetall(Keys(PREFIX, "tiny").stats)
    assert int(stats.get("folded:crowd", 0)) == 1500


def test_incident_views_kept_between_builds_follow_changes_and_the_clock(r, raw,
                                                                        agg, tiny):
    """The ticker's records are read again only when the fold changed them
    (data/feed/snapshot.py, _incident_views); the SLA light and the overdue
    flag of those kept still move with the clock."""
    from data.feed.snapshot import build

    keys = Keys(PREFIX, "tiny")
    xadd(r, "incident", v=1, src="hotline", op="report", id=INC1, ts=now_ms(),
         category="parking", level=2, title="占道", grid="G2")
    drain(agg)
    state = agg.states["tiny"]
    first = state.kept["snap"]["recent_incidents"][0]
    assert (first["status"], first["sla"], first["overdue"]) == (
        "reported", "green", False)
    assert INC1 in state.kept["views"]
    xadd(r, "incident", v=1, src="app", op="accept", id=INC1, ts=now_ms(),
         actor="sup")
    drain(agg)
    assert state.kept["snap"]["recent_incidents"][0]["status"] == "accepted"
    later = build(raw, keys, tiny, now_ms() + 30 * 86_400_000, cache=state.kept)
    view = later["recent_incidents"][0]
    assert (view["status"], view["sla"], view["overdue"]) == ("accepted", "red", True)


def test_the_hour_kept_between_builds_is_the_hour_read_afresh(r, raw, agg, tiny):
    """The last hour's sums and the flow's curves are kept between builds
    and brought up to date with the minutes that moved (data/feed/snapshot.py,
    _hour_total and _flow): after late entries into old minutes and with the
    hour sliding on, every figure of the hour and every minute of the curves
    is what a build that reads everything says."""
    from data.feed.snapshot import build

    keys, state = Keys(PREFIX, "tiny"), agg.states["tiny"]
    t = now_ms()

    def hour_figures(snapshot: dict) -> dict:
        return {"site": (snapshot["people_in_1h"], snapshot["people_out_1h"]),
                "vehicles": (snapshot["vehicles_in_1h"], snapshot["vehicles_out_1h"]),
                **{e: (v["people_in_1h"], v["people_out_1h"], v["flow_5m"])
                   for e, v in snapshot["entrances"].items()},
                **{g: (v["people_in_1h"], v["people_out_1h"])
                   for g, v in snapshot["grids"].items()},
                "flow": snapshot["flow"]}

    def same_as_afresh(at: int) -> dict:
        kept = build(raw, keys, tiny, at, cache=state.kept)
        afresh = build(raw, keys, tiny, at)
        assert hour_figures(kept) == hour_figures(afresh)
        return hour_figures(kept)

    crowd(r, "E1", 5, 1, ts=t - 50 * 60_000)
    crowd(r, "E2", 7, 0, ts=t - 10 * 60_000)
    crowd(r, "E1", 3, 2, ts=t)
    drain(agg)
    assert same_as_afresh(now_ms())["site"] == (15, 3)
    crowd(r, "E2", 11, 4, ts=t - 50 * 60_000)  # late, into a minute kept
    crowd(r, "E1", 1, 0, ts=t - 2 * 60_000)
    drain(agg)
    assert same_as_afresh(now_ms())["site"] == (27, 7)
    # twenty minutes on, the minute of t - 50 min has left the hour
    assert same_as_afresh(now_ms() + 20 * 60_000)["site"] == (11, 2)
    crowd(r, "E2", 2, 0, ts=t)
    drain(agg)
    assert same_as_afresh(now_ms())["site"] == (29, 7)  # and it comes back


def test_a_report_mid_round_is_folded_before_the_round_ends(r, raw, tiny):
    """A busy round of many sites lasts seconds; a report XADDed during it
    is heard (the incident streams' keyspace events, data/feed/wake.py) and
    folded between two chunks of that round, not in the next one; reports
    heard before the round go first. Stream order holds: an accept of a
    report is applied after the report."""
    sites, agg = many_sites(raw, tiny, 60, "b")
    t = now_ms()
    for name in sites:
        counts_of(r, name, 20, t)  # busy: the waker hears incident streams alone
    agg.step(block_ms=20)
    assert agg.waker.paused.is_set()
    time.sleep(0.6)  # the listeners resubscribed to the incident streams
    # before the next round: reports of b000 and b001, counts of every site
    incident = str(INC2)
    for name in ("b000", "b001"):
        r.xadd(Keys(PREFIX, name).stream("incident"),
               {"v": "1", "src": "hotline", "op": "report", "id": incident,
                "ts": str(now_ms()), "category": "parking", "level": "2",
                "title": "占道", "grid": "G2"})
    for name in sites:
        counts_of(r, name, 20, t)
    time.sleep(0.3)  # heard by the listener
    folded: list[list[str]] = []
    fold = agg._fold_many
    agg.chunk_sites = 1  # a site at a time, the incident streams between

    def fold_and_note(work):
        folded.append([state.site.id for state, _ in work])
        if len(folded) == 1:  # ... and while it goes, two more incident ops
            r.xadd(Keys(PREFIX, "b001").stream("incident"),
                   {"v": "1", "src": "app", "op": "accept", "id": incident,
                    "ts": str(now_ms()), "actor": "sup"})
            xadd(r, "incident", v=1, src="hotline", op="report", id=INC1,
                 ts=now_ms(), category="parking", level=2, title="占道",
                 grid="G2")
            time.sleep(0.3)  # heard by the listener
        return fold(work)

    agg._fold_many = fold_and_note
    agg.step(block_ms=20)
    # the two reports first, together; then the round's first site (tiny:
    # its counts and the report that came meanwhile); right after it, b001's
    # accept, 58 sites before the round ends; then the other sites
    assert sorted(folded[0]) == ["b000", "b001"]
    assert folded[1] == ["tiny"]
    assert folded[2] == ["b001"]
    assert [f for f in folded[3:] if f] == [[n] for n in sites if n != "tiny"]
    tiny_snap = read_snapshot(r, Keys(PREFIX, "tiny"))
    assert INC1 in {i["id"] for i in tiny_snap["recent_incidents"]}
    from data.incidents.store import read_incident
    record = read_incident(r, Keys(PREFIX, "b001"), incident)
    assert record["status"] == "accepted"
    assert r.xlen(Keys(PREFIX, "b001").stream("dead")) == 0


def test_a_busy_round_waits_for_its_entries_and_a_report_does_not(
        r, raw, tiny, monkeypatch):
    """Busy, a round's reads wait until its sites have entries enough to be
    worth their round (data/feed/aggregator.py, _paced), at most
    ``fold_period_ms`` after the last round's reads began; a report XADDed
    meanwhile is folded and on the walls before the wait ends, and the
    round then reads every site's counts."""
    monkeypatch.setattr(aggregators, "SITE_ROUND_ENTRIES", 10**6)  # the cap decides
    sites, agg = many_sites(raw, tiny, 30, "w")
    agg.fold_period_ms = 2_000
    t = now_ms()
    for _ in range(2):  # busy: the waker hears incident streams alone
        for name in sites:
            counts_of(r, name, 20, t)
        agg.step(block_ms=20)
    assert agg.waker.paused.is_set()
    began = agg._round_at  # the last round's reads
    time.sleep(0.6)  # the listeners resubscribed to the incident streams
    for name in sites:
        counts_of(r, name, 20, t)
    done: dict[str, float] = {}

    def step() -> None:
        agg.step(block_ms=20)
        done["at"] = time.monotonic()

    round_ = threading.Thread(target=step)
    round_.start()
    time.sleep(0.2)
    xadd(r, "incident", v=1, src="hotline", op="report", id=INC1, ts=now_ms(),
         category="parking", level=1, title="占道", grid="G2")
    while round_.is_alive() and INC1 not in {
            i["id"] for i in (snap(r) or {}).get("recent_incidents", [])}:
        time.sleep(0.01)
    assert time.monotonic() < began + 2.0  # on the walls while the round waits
    assert snap(r)["people_in_1h"] == 40  # ... its counts not read yet
    round_.join(10)
    assert done["at"] - began >= 2.0  # the wait was the period's
    people = {name: read_snapshot(r, Keys(PREFIX, name))["people_in_1h"]
              for name in sites}
    assert people == dict.fromkeys(sites, 60)  # and then every site was read


def test_a_site_behind_is_read_while_the_others_wait_for_their_round(
        r, raw, tiny, monkeypatch):
    """A site whose last read was a full batch (a big site, a backlog) is
    not held to the busy round's pace: it is read again while the others
    wait, until it has caught up."""
    monkeypatch.setattr(aggregators, "SITE_ROUND_ENTRIES", 10**6)  # the cap decides
    sites, agg = many_sites(raw, tiny, 30, "v")
    agg.fold_period_ms = 1_000
    t = now_ms()
    for _ in range(2):  # busy
        for name in sites:
            counts_of(r, name, 20, t)
        agg.step(block_ms=20)
    assert agg.waker.paused.is_set()
    counts_of(r, "v000", 2_500, t)  # more than a round reads of one site
    agg.step(block_ms=20)
    assert agg.states["v000"].more  # behind
    calls: list[list[str]] = []
    fold_new = agg._fold_new

    def noting(due):
        calls.append([state.site.id for state in due])
        return fold_new(due)

    agg._fold_new = noting
    agg.step(block_ms=20)
    assert calls[0] == ["v000"]  # while the others waited
    assert sorted(calls[-1]) == sorted(sites)  # then the round
    assert not agg.states["v000"].more
    assert read_snapshot(r, Keys(PREFIX, "v000"))["people_in_1h"] == 2_540


def test_an_urgent_report_is_published_at_once_another_on_its_throttle(r, raw, tiny):
    """Within the snapshot throttle, a general incident's change waits for a
    quarter of the interval; an urgent (level 1) one goes out at once: it
    takes every wall's spotlight."""
    agg = Aggregator(raw, {"tiny": tiny}, PREFIX, snapshot_interval_ms=8_000,
                     consumer="agg-test")
    agg.setup()
    crowd(r, "E1", 1, 0)
    drain(agg)  # a snapshot just published: the throttle runs
    xadd(r, "incident", v=1, src="hotline", op="report", id=INC1, ts=now_ms(),
         category="parking", level=3, title="占道", grid="G2")
    agg.step(block_ms=20)
    assert INC1 not in {i["id"] for i in snap(r)["recent_incidents"]}
    xadd(r, "incident", v=1, src="hotline", op="report", id=INC2, ts=now_ms(),
         category="parking", level=1, title="消防通道", grid="G2")
    agg.step(block_ms=20)
    shown = {i["id"] for i in snap(r)["recent_incidents"]}
    assert {INC1, INC2} <= shown  # the urgent one, and what waited with it


def count_sends(monkeypatch) -> list:
    """What the main thread sends to Redis from now on (a pipeline's
    commands go in one send: its round trip), until ``monkeypatch.undo()``."""
    import threading

    import redis as redis_py

    sent = []
    send = redis_py.connection.AbstractConnection.send_packed_command

    def counted(self, command, check_health=True):
        if threading.current_thread() is threading.main_thread():
            sent.append(command)
        return send(self, command, check_health)

    monkeypatch.setattr(redis_py.connection.AbstractConnection,
                        "send_packed_command", counted)
    return sent


def nodes_of(r) -> int:
    return len(r.get_primaries()) if hasattr(r, "get_primaries") else 1


def test_a_busy_round_of_many_sites_costs_a_few_round_trips_a_node(
        r, raw, tiny, monkeypatch):
    """Sixty-one sites with new counts: their state read, folded, committed,
    their snapshots built, stored and announced, and the chain above them
    read, all sites together, a few round trips a node, not several a site
    (a busy city's round was mostly those)."""
    sites, agg = many_sites(raw, tiny, 60, "c")
    agg.chunk_sites = 100  # all 61 in one chunk
    t = now_ms()
    for name in sites:
        counts_of(r, name, 5, t)
    for state in agg.states.values():
        state.last_snapshot_ms = 0  # every site publishes in this round
        state.last_maintain = time.monotonic()  # and none is due its upkeep
    versions = {n: read_snapshot(r, Keys(PREFIX, n))["version"] for n in sites}
    sent = count_sends(monkeypatch)
    assert agg.step(block_ms=20) == 5 * len(sites)
    monkeypatch.undo()
    assert len(sent) <= 12 * nodes_of(r), len(sent)  # 61 sites: was over 300
    for name in sites:
        snap = read_snapshot(r, Keys(PREFIX, name))
        assert snap["version"] > versions[name]
        assert snap["people_present"] == 5


def test_snapshots_of_many_sites_are_published_together_a_broken_one_alone(
        r, raw, tiny):
    """publish_many: every site's snapshot stored under its own next version
    (an incident change remembered as such), a restamp carrying the last
    snapshot under a new one; a site whose version cannot be counted fails
    alone."""
    import redis as redis_py

    from data.feed.snapshot import Job, publish_many

    sites, _ = many_sites(raw, tiny, 6, "p")
    names = sorted(sites)
    keys = {n: Keys(PREFIX, n) for n in names}
    r.set(keys["p003"].version, "not a number")
    kept = {n: {} for n in names}
    now = now_ms()
    jobs = [Job(keys[n], sites[n], now, kept[n], incidents=n == "p001")
            for n in names]
    out = dict(zip(names, publish_many(raw, jobs), strict=True))
    assert isinstance(out.pop("p003"), redis_py.ResponseError)
    for name, version in out.items():
        snap = read_snapshot(r, keys[name])
        assert (snap["version"], snap["site"]) == (version, name)
    assert int(r.get(keys["p001"].incidents_version)) == out["p001"]
    assert r.get(keys["p000"].incidents_version) in (None, "0")
    again = publish_many(raw, [Job(keys[n], sites[n], now + 5_000, kept[n],
                                   restamp=True) for n in out])
    for name, version in zip(out, again, strict=True):
        snap = read_snapshot(r, keys[name])
        assert version == snap["version"] == out[name] + 1
        assert snap["generated_ms"] == now + 5_000


def test_the_upkeep_of_many_sites_costs_a_few_round_trips_a_node(
        r, raw, tiny, monkeypatch):
    """Forty-one sites due their upkeep (entries reclaimed, streams trimmed,
    devices judged) together, a few round trips a node, not eight a site;
    one whose devices cannot be read rests alone, the others are judged."""
    from data.feed.health import read_failure

    sites, agg = many_sites(raw, tiny, 40, "u")
    t = now_ms()
    for name in sites:
        counts_of(r, name, 3, t)
    drain(agg)
    broken = Keys(PREFIX, "u007")
    r.delete(broken.producers)
    r.set(broken.producers, "not a hash")
    for name in sites:
        r.delete(Keys(PREFIX, name).producer_summary,
                 Keys(PREFIX, name).producer_summary + ":lock")
    due = list(agg.states.values())
    sent = count_sends(monkeypatch)
    agg._maintain_many(due)
    monkeypatch.undo()
    assert len(sent) <= 6 * nodes_of(r), len(sent)  # a site at a time: over 200
    for name in sites:
        keys = Keys(PREFIX, name)
        if keys == broken:
            assert "WRONGTYPE" in read_failure(r, keys)["reason"]
            assert not r.exists(keys.producer_summary)
        else:
            assert json.loads(r.get(keys.producer_summary))["at"] >= t
            assert read_failure(r, keys) is None
