"""The demo feed simulator: a believable day, and a feed the real aggregator takes.

Every feed test runs the real :class:`~data.feed.aggregator.Aggregator` over what the
simulator wrote and checks what the wall would show: no dead letters, the
counts, the incidents' states.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from data.clock import now_ms
from data.feed.aggregator import Aggregator
from data.feed.check import report_grid, validate
from data.feed.snapshot import read_snapshot
from data.incidents.lifecycle import apply_op, new_incident
from data.keys import Keys
from data.sim import run as simulator
from data.sim.incidents import IncidentMaker
from data.sim.model import SiteSim, flow_profile
from data.site_files import load_site
from tests.common import DATA_SITES, FIXTURES, PREFIX
from tests.waiting import wait_until

pytestmark = pytest.mark.cluster  # on one Redis and on a cluster

SITES = DATA_SITES
SAMPLES = [n for n in ("yaozhai", "erqi") if (SITES / n / "site.yaml").is_file()]


@pytest.fixture(scope="session")
def samples() -> dict:
    return {name: load_site(SITES / name) for name in SAMPLES}


def yesterday(site) -> date:
    return datetime.now(ZoneInfo(site.timezone)).date() - timedelta(days=1)


def fold_all(raw, site) -> dict[str, int]:
    """Run the aggregator until the streams are drained; the site's stats."""
    agg = Aggregator(raw, {site.id: site}, PREFIX, snapshot_interval_ms=50,
                     consumer="agg-sim-test")
    agg.setup()
    idle = 0
    while idle < 2:  # twice empty: the SLA watchdog's ops are folded too
        idle = 0 if agg.step(block_ms=20) else idle + 1
    for state in agg.states.values():
        state.last_snapshot_ms = 0
    agg.step(block_ms=1)
    stats = raw.hgetall(Keys(PREFIX, site.id).stats)
    return {k.decode(): int(v) for k, v in stats.items()}


def entries(r, site, stream: str) -> list[dict]:
    return [fields for _, fields in r.xrange(Keys(PREFIX, site.id).stream(stream))]


def dead_reasons(r, site) -> list[str]:
    return [f["reason"] for _, f in r.xrange(Keys(PREFIX, site.id).dead, count=5)]


def hourly(sim: SiteSim, day: date, step_s: float = 60.0) -> tuple[Counter, Counter]:
    """People in and out per local hour over one simulated day."""
    start = datetime(day.year, day.month, day.day, tzinfo=sim.tz).timestamp() * 1000
    ins, outs = Counter(), Counter()
    for k in range(int(86400 / step_s)):
        for stream, fields in sim.step(int(start + (k + 1) * step_s * 1000), step_s):
            if stream == "crowd":
                hour = int(k * step_s // 3600)
                ins[hour] += int(fields["in"])
                outs[hour] += int(fields["out"])
    return ins, outs


# --- the model ---------------------------------------------------------------


def test_residential_profile_peaks_morning_and_evening_above_the_night_lull():
    night = flow_profile("residential", False, 3.0)
    assert flow_profile("residential", False, 7.8) > 10 * night
    assert flow_profile("residential", False, 18.0) > 10 * night
    assert flow_profile("residential", False, 14.5) < flow_profile(
        "residential", False, 7.8) / 2


def test_weekends_differ_from_weekdays():
    # residents sleep in on Saturday; the business district is busier
    assert flow_profile("residential", True, 7.8) < 0.6 * flow_profile(
        "residential", False, 7.8)
    assert flow_profile("business", True, 15.0) > 1.3 * flow_profile(
        "business", False, 15.0)
    assert flow_profile("business", False, 19.5) > flow_profile("business", False, 10)


def test_market_grid_gets_a_market_hours_bump():
    assert flow_profile("residential", False, 10.0, market=True) > 1.5 * flow_profile(
        "residential", False, 10.0)


def test_simulated_day_has_a_morning_peak_and_balances(tiny):
    monday = date(2024, 5, 6)
    ins, outs = hourly(SiteSim(tiny, seed=1), monday)
    assert ins[7] + ins[8] > 5 * (ins[2] + ins[3])
    assert ins[17] + ins[18] > 5 * (ins[2] + ins[3])
    # people leave again: the day's outs roughly balance its ins
    assert abs(sum(ins.values()) - sum(outs.values())) < 0.1 * sum(ins.values())
    saturday_ins, _ = hourly(SiteSim(tiny, seed=1), date(2024, 5, 11))
    assert saturday_ins[7] < 0.7 * ins[7]


@pytest.mark.parametrize("name", SAMPLES)
def test_sample_site_day_keeps_presence_and_parking_plausible(samples, name):
    site = samples[name]
    sim = SiteSim(site, seed=2)
    day = date(2024, 5, 8)
    start = datetime(day.year, day.month, day.day, tzinfo=sim.tz).timestamp() * 1000
    occupied: dict[str, dict[int, int]] = {p: {} for p in site.parking}
    for k in range(1440):
        for _, fields in sim.step(int(start + (k + 1) * 60_000), 60.0):
            if "lot" in fields:
                occupied[fields["lot"]][k // 60] = int(fields["occupied"])
        load = sim.present / sim.capacity
        assert load.max() < 1.3, "no grid holds far more than it can"
    for lot, by_hour in occupied.items():
        assert max(by_hour.values()) <= site.parking[lot].capacity
    lots = [p for p in site.parking.values() if "市场" not in p.name]
    night = sum(occupied[p.id][2] for p in lots)
    noon = sum(occupied[p.id][13] for p in lots)
    assert night > noon if site.kind == "residential" else noon > night


def test_surge_takes_a_grid_past_red_then_drains(r, raw, tiny):
    sim = SiteSim(tiny, seed=3)
    now = now_ms()
    start = now - 15 * 60_000
    ts = start
    while ts < now - 5 * 60_000:  # ten quiet minutes first
        ts += 5000
        simulator.send(raw, [simulator.pack_xadd(Keys(PREFIX, "tiny").stream(s), f)
                             for s, f in sim.step(ts) if s != "incident"])
    grid = sim.start_surge(ts, "G2")
    for _ in range(30):  # 150 s: the ramp is over, the hold has begun
        ts += 5000
        simulator.send(raw, [simulator.pack_xadd(Keys(PREFIX, "tiny").stream(s), f)
                             for s, f in sim.step(ts) if s != "incident"])
    assert fold_all(raw, tiny).get("dead", 0) == 0
    snap = read_snapshot(r, Keys(PREFIX, "tiny"))
    assert snap["grids"][grid]["density_level"] == 3
    assert {"kind": "density", "grid": grid, "level": 3} in snap["alerts"]
    for _ in range(150):  # the crowd leaves within minutes
        ts += 5000
        sim.step(ts)
    assert sim.surge is None
    assert sim.presence()[grid] < 0.8 * 200


# --- real time ---------------------------------------------------------------


@pytest.mark.parametrize("name", ["tiny", *SAMPLES])
def test_real_time_feed_is_accepted_by_the_aggregator(r, raw, tiny, samples, name):
    site = tiny if name == "tiny" else samples[name]
    stop = threading.Event()
    written = []
    worker = threading.Thread(target=lambda: written.append(simulator.run(
        raw, {name: site}, PREFIX, stop, rate=50, tick_s=0.2, seed=4)))
    before = now_ms()
    worker.start()
    crowd_key = Keys(PREFIX, name).stream("crowd")
    wait_until(lambda: r.xlen(crowd_key) >= 3 * len(site.entrances), 30,
               what="three ticks of crowd entries")  # a tick every 0.2 s
    stop.set()
    worker.join(5)
    assert not worker.is_alive(), "run() stops when asked"
    crowd = entries(r, site, "crowd")
    assert len(crowd) >= 3 * len(site.entrances)
    assert {e["entrance"] for e in crowd} == set(site.entrances)
    assert all(before - 1000 <= int(e["ts"]) <= now_ms() for e in crowd)
    gates = [e for e in entries(r, site, "traffic") if "entrance" in e]
    assert {e["entrance"] for e in gates} == {
        e.id for e in site.entrances.values() if e.kind == "vehicle"}
    stats = fold_all(raw, site)
    assert stats.get("dead", 0) == 0, dead_reasons(r, site)
    assert stats["folded:crowd"] == len(crowd)
    assert sum(written) == sum(r.xlen(Keys(PREFIX, name).stream(s))
                               for s in ("crowd", "traffic", "incident"))
    snap = read_snapshot(r, Keys(PREFIX, name))
    assert snap["people_in_1h"] == sum(int(e["in"]) for e in crowd)


# --- replay --------------------------------------------------------------------


def test_replay_writes_the_days_own_timestamps(r, raw, tiny):
    day = yesterday(tiny)
    n = simulator.replay(raw, tiny, PREFIX, day, speed=0, hours=(7, 10), rate=20)
    tz = ZoneInfo(tiny.timezone)
    low = datetime(day.year, day.month, day.day, 7, tzinfo=tz).timestamp() * 1000
    high = low + 3 * 3_600_000
    crowd = entries(r, tiny, "crowd")
    assert len(crowd) == 3 * 3 * 720  # 3 entrances, every 5 s for 3 hours
    assert all(low < int(e["ts"]) <= high for e in crowd)
    traffic = entries(r, tiny, "traffic")
    assert all(low < int(e["ts"]) <= high for e in traffic)
    reports = [e for e in entries(r, tiny, "incident") if e["op"] == "report"]
    assert reports and all(low < int(e["ts"]) <= high for e in reports)
    assert n == len(crowd) + len(traffic) + len(entries(r, tiny, "incident"))
    stats = fold_all(raw, tiny)
    assert stats.get("dead", 0) == 0, dead_reasons(r, tiny)
    assert stats["folded:crowd"] == len(crowd)


def test_replay_is_reproducible_and_refuses_the_future(r, raw, tiny):
    day = yesterday(tiny)
    simulator.replay(raw, tiny, PREFIX, day, hours=(8, 8.5))
    first = entries(r, tiny, "crowd")
    r.flushdb()
    simulator.replay(raw, tiny, PREFIX, day, hours=(8, 8.5))
    assert entries(r, tiny, "crowd") == first
    with pytest.raises(ValueError, match="only past time"):
        simulator.replay(raw, tiny, PREFIX, day + timedelta(days=1))


def test_replay_speed_paces_simulated_time(r, raw, tiny):
    started = time.monotonic()
    simulator.replay(raw, tiny, PREFIX, yesterday(tiny), speed=600, hours=(9, 9.1))
    # 6 minutes at 600x: never sooner than 0.6 s (no upper window: slow is slow)
    assert time.monotonic() - started >= 0.59


def test_incidents_move_through_their_lifecycle_without_refusals(r, raw, tiny):
    simulator.replay(raw, tiny, PREFIX, yesterday(tiny), hours=(8, 14), rate=40)
    written = entries(r, tiny, "incident")
    stats = fold_all(raw, tiny)
    assert stats.get("dead", 0) == 0, dead_reasons(r, tiny)
    keys = Keys(PREFIX, "tiny")
    ids = r.zrange(keys.incidents_all, 0, -1)
    records = [json.loads(r.get(keys.incident(i))) for i in ids]
    reports = [e for e in written if e["op"] == "report"]
    assert len(records) == len(reports) > 50
    status = Counter(rec["status"] for rec in records)
    assert status["closed"] > 0.6 * len(records)
    assert status["rejected"] > 0
    assert any(rec["rework"] for rec in records)
    ops = [h for rec in records for h in rec["history"]]
    assert {"accept", "dispatch", "start", "resolve", "verify", "escalate",
            "comment", "reject"} <= {h["op"] for h in ops}
    for rec in records:  # dispatched to the grid's own worker
        assignees = {h["assignee"] for h in rec["history"] if h["op"] == "dispatch"}
        assert assignees <= {tiny.grids[rec["grid"]].worker}
    people = {h["actor"] for h in ops if h["op"] != "report"}
    assert people <= set(tiny.users) | {"system"}
    titles = {rec["title"] for rec in records}
    assert len(titles) > 5 and any("楼道堆放杂物" in t or "车" in t for t in titles)
    assert all(rec["reporter"] == "" or 2 <= len(rec["reporter"]) <= 3
               for rec in records)


@pytest.mark.parametrize("name", ["tiny", *SAMPLES])
def test_every_planned_op_passes_the_lifecycle_rules(tiny, samples, name):
    """Hundreds of plans, checked by the rules the aggregator applies."""
    site = tiny if name == "tiny" else samples[name]
    maker = IncidentMaker(site, random.Random(5))
    start = 1_700_000_000_000
    for k in range(400):
        reported_at = start + k * 600_000
        plan = maker.report(reported_at)
        later = plan[-1][0] + 1
        report = validate("incident", plan[0][1], site, later)
        record = new_incident(report, report_grid(report, site), site, report.actor)
        for _, fields in plan[1:]:
            record = apply_op(record, validate("incident", fields, site, later), site)
        assert record["status"] != "resolved", "the SLA watchdog cannot escalate it"
        limit = record["deadline"] + site.escalate_grace_min * 60_000
        assert plan[-1][0] < limit, "done before the watchdog could step in"


# --- load generator and command line -------------------------------------------


def test_load_generator_holds_its_rate_and_is_accepted(r, raw, tiny):
    # 4000 entries at 4000 a second: all of them, and never ahead of the pace
    # (however slow the machine, so no window on how long it took)
    figures = simulator.load(raw, tiny, PREFIX, 4000, 60.0, limit=4000)
    written = sum(r.xlen(Keys(PREFIX, "tiny").stream(s)) for s in ("crowd", "traffic"))
    assert figures["entries"] == written == 4000
    assert figures["seconds"] >= (written - 1) / 4000 - 0.002  # (rounded to ms)
    stats = fold_all(raw, tiny)
    assert stats.get("dead", 0) == 0, dead_reasons(r, tiny)
    assert stats["folded:crowd"] + stats["folded:traffic"] == written


def test_command_line_runs_the_load_generator(r, redis_url, monkeypatch, capsys):
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("GOV_PREFIX", PREFIX)
    monkeypatch.setenv("GOV_SITES_DIR", str(FIXTURES / "sites"))
    monkeypatch.setenv("GOV_SITES", "tiny")
    assert simulator.main(["--load", "2000", "--seconds", "0.5"]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert figures["entries"] == r.xlen(Keys(PREFIX, "tiny").stream("crowd")) + r.xlen(
        Keys(PREFIX, "tiny").stream("traffic")) > 800
    monkeypatch.delenv("REDIS_URL")
    assert simulator.main(["--replay", "2024-05-01"]) == 2
    assert "REDIS_URL is not set" in capsys.readouterr().err
