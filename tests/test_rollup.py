"""The roll-up of three sites in two streets, against figures worked out by
hand; what one report, escalation and close each move at every level
(issue 12 item 2). On one Redis and on a cluster."""

from __future__ import annotations

import pytest

from data.clock import now_ms
from data.feed.aggregator import Aggregator
from data.feed.snapshot import read_snapshot
from data.keys import Keys, UnitKeys
from data.site_files import load_sites
from data.units.rollup import Rollup, kpis, read_units
from tests.chain import write_chain_sites
from tests.common import PREFIX
from tests.feed import drain
from tests.rollup_feed import close, figures, op, report, write_example

pytestmark = pytest.mark.cluster  # on one Redis and on a cluster


@pytest.fixture(scope="module")
def sites(tmp_path_factory):
    root = write_chain_sites(tmp_path_factory.mktemp("chain"))
    return load_sites(root, ["ta", "tb", "tc"])


@pytest.fixture
def agg(raw, sites):
    aggregator = Aggregator(raw, sites, PREFIX, snapshot_interval_ms=50,
                            consumer="agg-chain")
    aggregator.setup()
    return aggregator


@pytest.fixture
def example(r, agg):
    """The example worked out by hand (tests/rollup_feed.py)."""
    write_example(r)
    drain(agg)
    for site in ("ta", "tb", "tc"):  # every entry of it was taken
        assert r.xlen(Keys(PREFIX, site).dead) == 0
    return agg


def unit_kpis(r, agg) -> dict[str, dict]:
    tree = agg.rollup.tree
    return {u: kpis(f, tree[u].level)
            for u, f in read_units(r, PREFIX, tree.units).items()}


def test_the_roll_up_of_three_sites_in_two_streets_is_as_worked_out_by_hand(
        r, example):
    got = unit_kpis(r, example)
    # C1: due = 1 closed + 1 overdue; C2: due = 2 closed; C3: due = 1 closed
    assert got["C1"] == {
        "people_present": 30, "incidents_open": 2, "overdue": 1, "closed_today": 1,
        "closure_rate": 0.5, "on_time_rate": 0.5, "rework_rate": 0.0,
        "solved_in_grid_share": 1.0, "owned_here": 1}
    assert got["C2"] == {
        "people_present": 50, "incidents_open": 0, "overdue": 0, "closed_today": 2,
        "closure_rate": 1.0, "on_time_rate": 0.5, "rework_rate": 0.5,
        "solved_in_grid_share": 1.0, "owned_here": 0}
    assert got["C3"] == {
        "people_present": 30, "incidents_open": 1, "overdue": 0, "closed_today": 1,
        "closure_rate": 1.0, "on_time_rate": 1.0, "rework_rate": 0.0,
        "solved_in_grid_share": 0.0, "owned_here": 0}
    # S1 = C1 + C2: 3 closed (2 on time, 3 in the grid, 1 reworked), 1 overdue
    assert got["S1"] == {
        "people_present": 80, "incidents_open": 2, "overdue": 1, "closed_today": 3,
        "closure_rate": 0.75, "on_time_rate": 0.5, "rework_rate": 0.333,
        "solved_in_grid_share": 1.0, "owned_here": 0}
    assert got["S2"] == {**got["C3"], "owned_here": 1}  # owned at the street
    # D1 and the city: 4 closed (3 on time, 3 in the grid, 1 reworked), 1 overdue
    district = {
        "people_present": 110, "incidents_open": 3, "overdue": 1, "closed_today": 4,
        "closure_rate": 0.8, "on_time_rate": 0.6, "rework_rate": 0.25,
        "solved_in_grid_share": 0.75, "owned_here": 0}
    assert got["D1"] == district
    assert got["city"] == district


def test_a_report_an_escalation_and_a_close_move_exactly_their_figures(
        r, example):
    tree = example.rollup.tree
    chain = {"C2", "S1", "D1", "city"}

    def step() -> dict[str, dict[str, int]]:
        drain(example)
        return figures(r, tree)

    def moved(before: dict, after: dict) -> dict[str, dict[str, int]]:
        out = {}
        for unit in tree.units:
            names = set(before[unit]) | set(after[unit])
            delta = {n: after[unit].get(n, 0) - before[unit].get(n, 0)
                     for n in names}
            delta = {n: d for n, d in delta.items() if d}
            if delta:
                out[unit] = delta
        return out

    start = figures(r, tree)
    incident = report(r, "tb", ago_ms=60_000, grid="G2")
    reported = step()
    assert moved(start, reported) == {u: {"incidents_open": 1} for u in chain}

    op(r, "tb", incident, "escalate", "sup", level="street")
    escalated = step()
    # from the grid to the street: owned at the street from C2 up to the city
    assert moved(reported, escalated) == {u: {"owned:street": 1} for u in chain}
    assert unit_kpis(r, example)["S1"]["owned_here"] == 1
    assert unit_kpis(r, example)["C2"]["owned_here"] == 0

    close(r, "tb", incident, actor="sup_street", worker="w2")
    closed = step()
    assert moved(escalated, closed) == {u: {
        "incidents_open": -1, "owned:street": -1, "closed_today": 1, "closed": 1,
        "on_time": 1} for u in chain}


def test_a_site_folded_before_the_chain_is_counted_once_in_full(r, raw, example):
    tree = example.rollup.tree
    before = figures(r, tree)
    # the sites' counts gone (folded by an older version) or not known to be
    # whole, their parts still in the units
    for site in ("ta", "tb", "tc"):
        counts = list(r.scan_iter(match=f"{PREFIX}:{{{site}}}:u:*"))
        assert Keys(PREFIX, site).unit_layout in counts
        # ta keeps its counts (they are written whole again, not added to)
        for key in counts if site != "ta" else [Keys(PREFIX, site).unit_layout]:
            r.delete(key)
    fresh = Rollup(PREFIX, tree)  # another process takes the sites over
    for site_id, site in example.rollup.tree.site_communities.items():
        assert site
        fresh.after_publish(raw, Keys(PREFIX, site_id), example.states[site_id].site,
                            now_ms())
    assert figures(r, tree) == before
    # and adding the same figures again changes nothing
    version = int(r.hget(UnitKeys(PREFIX, "city").figures, "version"))
    Rollup(PREFIX, tree).after_publish(raw, Keys(PREFIX, "ta"),
                                       example.states["ta"].site, now_ms())
    assert figures(r, tree) == before
    assert int(r.hget(UnitKeys(PREFIX, "city").figures, "version")) == version



def test_a_unit_that_cannot_be_written_holds_up_no_site_and_catches_up(r, agg):
    city = UnitKeys(PREFIX, "city").figures
    r.set(city, "not a hash")  # WRONGTYPE for every script on it
    write_example(r)
    drain(agg)
    assert read_snapshot(r, Keys(PREFIX, "ta"))["incidents"]["open"] == 2
    tree = agg.rollup.tree
    # the others moved on
    assert read_units(r, PREFIX, ["D1"])["D1"]["incidents_open"] == 3
    r.delete(city)
    drain(agg)  # the next snapshot's roll-up adds what was left out
    assert figures(r, tree)["city"] == figures(r, tree)["D1"]


def test_thousands_of_communities_add_into_their_city_in_one_call_each_unit(r, raw):
    """A busy round moves every community of a city: each unit gets one
    call with all of its communities that moved (5,000 here, past what
    Lua unpacks at once), and the sums are what they add up to; adding the
    same again changes nothing, and what moved since adds its difference."""
    from data.units.rollup import FIGURES, add_parts
    from data.units.tree import Node, UnitTree

    n = 5_000
    comms = [f"c{k}" for k in range(n)]
    units = {"big": Node("big", "city", "大城", "Big", None, None,
                         ("s1", "s2")),
             "s1": Node("s1", "street", "一", "One", "big", None,
                        tuple(comms[: n // 2])),
             "s2": Node("s2", "street", "二", "Two", "big", None,
                        tuple(comms[n // 2:]))}
    units |= {c: Node(c, "community", c, c, "s1" if k < n // 2 else "s2", c)
              for k, c in enumerate(comms)}
    tree = UnitTree(units, "big", {c: (c,) for c in comms})

    def parts(bump: int = 0):
        return {c: tuple(k % 7 + (bump if k < 10 else 0)
                         for _ in FIGURES) for k, c in enumerate(comms)}

    def city() -> dict:
        return r.hgetall(UnitKeys(PREFIX, "big").figures)

    changed, failed = add_parts(raw, PREFIX, tree, parts(), now_ms(), "20261207")
    assert (changed, failed) == (n + 3, set())
    total = sum(k % 7 for k in range(n))
    assert int(city()["incidents_open"]) == total
    assert int(r.hget(UnitKeys(PREFIX, "s2").figures, "incidents_open")) == sum(
        k % 7 for k in range(n // 2, n))
    version = int(city()["version"])
    assert add_parts(raw, PREFIX, tree, parts(), now_ms(), "20261207") == (0, set())
    assert int(city()["version"]) == version
    changed, _ = add_parts(raw, PREFIX, tree, parts(bump=2), now_ms(), "20261207")
    assert changed == 10 + 2  # ten communities, their street, the city
    assert int(city()["incidents_open"]) == total + 20
    assert int(city()["version"]) == version + 1
