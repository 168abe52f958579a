"""The ops of the chain (issue 12 item 6) on a real Redis, through the app's
own writing (:func:`data.incidents.ops.submit_op`) and the aggregator: a
street's supervisor accepts what was escalated to the street, hands it down
with a deadline, returns it, closes it, and marks incidents for supervision
(督办); a neighbour street's supervisor and a community's are refused. On one
Redis and on a cluster."""

from __future__ import annotations

import pytest

from data import accounts
from data.clock import now_ms
from data.feed.aggregator import Aggregator
from data.feed.snapshot import read_snapshot
from data.incidents.lifecycle import Refused, public_view
from data.incidents.ops import allowed_ops, submit_op, wait_applied
from data.incidents.store import read_incident
from data.keys import AuthKeys, Keys
from data.site_files import load_sites
from data.units.inbox import unit_incidents
from data.units.tree import tree_of_sites
from tests.auth import add_account, add_roster
from tests.chain import write_chain_sites
from tests.common import PREFIX
from tests.feed import drain
from tests.rollup_feed import HOUR, op, report

pytestmark = pytest.mark.cluster  # on one Redis and on a cluster


@pytest.fixture(scope="module")
def sites(tmp_path_factory):
    root = write_chain_sites(tmp_path_factory.mktemp("chain"))
    return load_sites(root, ["ta", "tb", "tc"])


@pytest.fixture
def agg(raw, r, sites):
    for site in sites.values():
        add_roster(r, PREFIX, site)
    add_account(r, PREFIX, "s1-chief", "supervisor", unit="S1")
    add_account(r, PREFIX, "s2-chief", "supervisor", unit="S2")
    add_account(r, PREFIX, "d1-chief", "supervisor", unit="D1")
    aggregator = Aggregator(raw, sites, PREFIX, snapshot_interval_ms=1,
                            consumer="agg-chain-ops")
    aggregator.setup()
    return aggregator


def person(r, sites, name: str, site: str):
    account = accounts.get_user(r, AuthKeys(PREFIX), name)
    return accounts.site_user(account, sites[site], "city")


def act(r, agg, sites, name: str, site: str, incident: str, the_op: str,
        **values) -> dict:
    """Write ``the_op`` as ``name`` through the app's own path, fold it and
    return the record; raises Refused as the app would tell the person."""
    keys = Keys(PREFIX, site)
    written = submit_op(r, keys, sites[site], person(r, sites, name, site),
                        the_op, incident, **values)
    for _ in range(50):  # fold until it is applied (a lease may be taken first)
        drain(agg)
        try:
            assert wait_applied(r, keys, incident, written, timeout=0.1) is None
            return read_incident(r, keys, incident)
        except TimeoutError:
            continue
    raise AssertionError(f"{the_op} of {incident} never applied")


def at_street(r, agg, site: str = "ta") -> str:
    """An incident of ``site`` escalated by its community's supervisor from
    the grid to the street."""
    incident = report(r, site, ago_ms=HOUR)
    op(r, site, incident, "escalate", "sup", level="street", note="需要街道协调")
    drain(agg)
    assert read_incident(r, Keys(PREFIX, site), incident)["owner_level"] == "street"
    return incident


def test_a_street_accepts_and_hands_down_with_a_deadline(r, agg, sites):
    incident = at_street(r, agg)
    tree = tree_of_sites(sites)
    listed = unit_incidents(r, PREFIX, tree, "S1", sites, "owned", now_ms())
    assert [(s, rec["id"]) for s, rec in listed] == [("ta", incident)]
    assert act(r, agg, sites, "s1-chief", "ta", incident, "accept")[
        "status"] == "accepted"
    due = now_ms() + 8 * HOUR
    record = act(r, agg, sites, "s1-chief", "ta", incident, "hand_down",
                 level="community", deadline=due, note="三日内清理")
    assert (record["status"], record["owner_level"], record["task_deadline"]) == (
        "reported", "community", due)
    assert record["handed_down"]["from"] == "street"
    last = record["history"][-1]
    assert (last["op"], last["level"], last["deadline"], last["actor"]) == (
        "hand_down", "community", due, "s1-chief")
    # the street's list is empty now, the community's holds it
    assert unit_incidents(r, PREFIX, tree, "S1", sites, "owned", now_ms()) == []
    assert [rec["id"] for _, rec in unit_incidents(
        r, PREFIX, tree, "C1", sites, "owned", now_ms())] == [incident]
    # the community takes it up; it may not make a handed-down matter vanish
    with pytest.raises(Refused, match="handed this incident down"):
        act(r, agg, sites, "ta-sup", "ta", incident, "reject", reason="不管")
    assert act(r, agg, sites, "ta-sup", "ta", incident, "accept")[
        "status"] == "accepted"


def test_hand_down_is_refused_with_the_reason(r, agg, sites):
    incident = at_street(r, agg)
    for values, reason in (
            ({"level": "street", "deadline": now_ms() + HOUR}, "not below"),
            ({"level": "district", "deadline": now_ms() + HOUR}, "not below"),
            ({"level": "community", "deadline": now_ms() - HOUR},
             "deadline after now"),
            ({"level": "somewhere", "deadline": now_ms() + HOUR}, "not one of")):
        with pytest.raises(Refused, match=reason):
            act(r, agg, sites, "s1-chief", "ta", incident, "hand_down", **values)
    # the community's supervisor acts up to community level only
    with pytest.raises(Refused, match="above ta-sup's community level"):
        act(r, agg, sites, "ta-sup", "ta", incident, "hand_down",
            level="grid", deadline=now_ms() + HOUR)
    assert len(read_incident(r, Keys(PREFIX, "ta"), incident)["history"]) == 2


def test_the_neighbour_streets_supervisor_acts_on_nothing_of_this_street(
        r, agg, sites):
    incident = at_street(r, agg)
    assert person(r, sites, "s2-chief", "ta") is None
    for the_op in ("accept", "close", "supervise"):
        with pytest.raises(Refused, match="unknown user"):
            act(r, agg, sites, "s2-chief", "ta", incident, the_op, note="越权")
    # written straight to the stream as another system might: the aggregator
    # refuses it too, and the record is unchanged
    op(r, "ta", incident, "accept")  # (as "ta-adm": a site admin may)
    keys = Keys(PREFIX, "ta")
    r.xadd(keys.stream("incident"), {
        "v": "1", "src": "app", "op": "close", "id": incident,
        "ts": str(now_ms()), "actor": "s2-chief", "note": "越权"})
    drain(agg)
    record = read_incident(r, keys, incident)
    assert record["status"] == "accepted"
    reason = r.xrevrange(keys.dead, count=1)[0][1]["reason"]
    assert "close of incident" in reason and "by s2-chief refused" in reason
    # the district above both streets may
    assert act(r, agg, sites, "d1-chief", "ta", incident, "close",
               note="区里协调办结")["status"] == "closed"


def test_return_sends_it_back_to_the_level_that_escalated_it(r, agg, sites):
    incident = at_street(r, agg)  # escalated from the grid, past the community
    record = act(r, agg, sites, "s1-chief", "ta", incident, "return",
                 reason="属网格职责")
    assert (record["status"], record["owner_level"], record["assignee"]) == (
        "reported", "grid", None)
    assert record["history"][-1]["reason"] == "属网格职责"
    with pytest.raises(Refused, match="cannot return an incident that is"):
        act(r, agg, sites, "s1-chief", "ta", incident, "return", reason="再退")


def test_a_street_closes_what_it_owns_and_the_figures_follow(r, agg, sites):
    incident = at_street(r, agg)
    record = act(r, agg, sites, "s1-chief", "ta", incident, "close",
                 note="街道协调城管处理完毕")
    assert (record["status"], record["solved_level"]) == ("closed", "street")
    assert read_snapshot(r, Keys(PREFIX, "ta"))["incidents"]["solved_by_level"][
        "street"] == 1
    # a community's incident is closed by verifying its resolution
    other = report(r, "ta", ago_ms=HOUR)
    op(r, "ta", other, "accept", "sup")
    drain(agg)
    with pytest.raises(Refused, match="closed by verifying"):
        act(r, agg, sites, "ta-adm", "ta", other, "close", note="直接关")


def test_supervision_is_marked_from_above_and_lifted_from_above(r, agg, sites):
    incident = report(r, "ta", ago_ms=HOUR)
    op(r, "ta", incident, "accept", "sup")
    drain(agg)
    keys = Keys(PREFIX, "ta")
    # owned by the grid: its community may mark it, the grid's worker not
    assert "supervise" in allowed_ops(person(r, sites, "ta-sup", "ta"),
                                      read_incident(r, keys, incident), sites["ta"])
    assert "supervise" not in allowed_ops(person(r, sites, "ta-w1", "ta"),
                                          read_incident(r, keys, incident),
                                          sites["ta"])
    record = act(r, agg, sites, "s1-chief", "ta", incident, "supervise",
                 note="群众反映强烈，限期解决")
    assert record["supervised"]["level"] == "street"
    assert record["supervised"]["by"] == "s1-chief"
    # shown below without who marked it
    view = public_view(record, now_ms())
    assert view["supervised"] == {"level": "street", "at": record["supervised"]["at"]}
    ticker = read_snapshot(r, keys)["recent_incidents"]
    assert next(i for i in ticker if i["id"] == incident)["supervised"][
        "level"] == "street"
    tree = tree_of_sites(sites)
    assert [rec["id"] for _, rec in unit_incidents(
        r, PREFIX, tree, "S1", sites, "supervised", now_ms())] == [incident]
    with pytest.raises(Refused, match="already under supervision"):
        act(r, agg, sites, "s1-chief", "ta", incident, "supervise")
    with pytest.raises(Refused, match="lifted at street level or above"):
        act(r, agg, sites, "ta-sup", "ta", incident, "unsupervise")
    # the district may mark it again, higher
    assert act(r, agg, sites, "d1-chief", "ta", incident, "supervise")[
        "supervised"]["level"] == "district"
    with pytest.raises(Refused, match="lifted at district level"):
        act(r, agg, sites, "s1-chief", "ta", incident, "unsupervise")
    record = act(r, agg, sites, "d1-chief", "ta", incident, "unsupervise",
                 note="已解决")
    assert record["supervised"] is None
    assert unit_incidents(r, PREFIX, tree, "S1", sites, "supervised",
                          now_ms()) == []


def test_an_op_of_the_chain_written_twice_is_applied_once(r, agg, sites):
    incident = at_street(r, agg)
    keys = Keys(PREFIX, "ta")
    entry = {"v": "1", "src": "app", "op": "hand_down", "id": incident,
             "ts": str(now_ms()), "actor": "s1-chief", "level": "grid",
             "deadline": str(now_ms() + HOUR), "eid": "once-1"}
    r.xadd(keys.stream("incident"), entry)
    r.xadd(keys.stream("incident"), entry)  # a retry of the same write
    drain(agg)
    record = read_incident(r, keys, incident)
    assert [h["op"] for h in record["history"]].count("hand_down") == 1
    assert (record["owner_level"], record["status"]) == ("grid", "reported")
