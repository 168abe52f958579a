"""The incident lifecycle: every transition, rights, SLA light, escalation."""

from __future__ import annotations

import itertools

import pytest

from data.clock import now_ms
from data.feed.aggregator import Aggregator
from data.feed.contract import IncidentOp, IncidentReport
from data.feed.upkeep import escalate_overdue
from data.incidents.lifecycle import (
    DONE,
    OPEN,
    SOURCES,
    Refused,
    apply_op,
    escalation_due,
    new_incident,
    sla_light,
)
from data.incidents.ops import allowed_ops, submit_op, submit_report, wait_applied
from data.incidents.store import read_incident
from data.keys import Keys
from tests.common import PREFIX

pytestmark = pytest.mark.cluster  # on one Redis and on a cluster

INC1 = "00000000-0000-4000-8000-000000000001"
INC2 = "00000000-0000-4000-8000-000000000002"
INC3 = "00000000-0000-4000-8000-000000000003"
INC9 = "00000000-0000-4000-8000-000000000009"

T0 = 1_800_000_000_000
HOUR = 3_600_000
STATES = OPEN + DONE


def report(**over) -> IncidentReport:
    fields = {"v": "1", "src": "phone", "op": "report", "id": INC1, "ts": str(T0),
              "category": "sanitation", "level": "2", "title": "垃圾", "grid": "G1"}
    return IncidentReport.model_validate({**fields, **over})


def op(name: str, actor: str = "adm", **over) -> IncidentOp:
    extra = {"reject": {"reason": "重复"}, "dispatch": {"assignee": "w1"},
             "verify": {"passed": "1"}, "merge": {"into": INC2},
             "comment": {"note": "已联系"}, "hand_down": {
                 "level": "community", "deadline": str(T0 + HOUR)},
             "return": {"reason": "社区职责"}, "close": {"note": "已办结"},
             }.get(name, {})
    fields = {"v": "1", "src": "app", "op": name, "id": INC1, "ts": str(T0 + 1),
              "actor": actor, **extra, **over}
    return IncidentOp.model_validate(fields)


def in_state(tiny, status: str, **over) -> dict:
    record = new_incident(report(), "G1", tiny)
    record.update(status=status, **over)
    return record


OTHER = {"id": INC2, "status": "reported"}


@pytest.mark.parametrize(("status", "name"), itertools.product(STATES, SOURCES))
def test_every_transition_is_legal_exactly_where_the_lifecycle_says(tiny, status,
                                                                     name):
    # owned at street level, as the ops of the chain need (the admin acts
    # at district level, so may supervise it)
    record = in_state(tiny, status, owner_level="street",
                      supervised={"level": "street", "by": "adm", "at": T0}
                      if name == "unsupervise" else None)
    if status in SOURCES[name]:
        after = apply_op(record, op(name), tiny, lambda _id: OTHER)
        assert after["history"][-1]["op"] == name
        assert after["history"][-1]["from"] == status
    else:
        with pytest.raises(Refused, match=f"cannot {name} an incident that is"):
            apply_op(record, op(name), tiny, lambda _id: OTHER)


def test_the_happy_path_and_rework(tiny):
    record = new_incident(report(), "G1", tiny)
    for name, actor, expected in [
        ("accept", "sup", "accepted"), ("dispatch", "sup", "dispatched"),
        ("start", "w1", "in_progress"), ("resolve", "w1", "resolved"),
    ]:
        record = apply_op(record, op(name, actor), tiny)
        assert record["status"] == expected
    record = apply_op(record, op("verify", "sup", passed="0"), tiny)
    assert (record["status"], record["rework"]) == ("dispatched", 1)
    record = apply_op(record, op("resolve", "w1", note="再次清理"), tiny)
    record = apply_op(record, op("verify", "sup"), tiny)
    assert record["status"] == "closed" and record["solved_level"] == "grid"
    record = apply_op(record, op("reopen", "sup"), tiny)
    assert (record["status"], record["rework"]) == ("dispatched", 2)
    assert [h["op"] for h in record["history"]] == [
        "report", "accept", "dispatch", "start", "resolve", "verify", "resolve",
        "verify", "reopen"]


@pytest.mark.parametrize(("actor", "name", "status", "reason"), [
    ("w2", "accept", "reported", "outside w2's scope"),
    ("vol", "accept", "reported", "role volunteer may not accept"),
    ("ana", "comment", "reported", "role analyst may not comment"),
    ("w1", "dispatch", "accepted", "role worker may not dispatch"),
    ("w2", "start", "dispatched", "outside w2's scope"),
    ("nobody", "accept", "reported", "unknown user"),
])
def test_ops_a_user_may_not_make_are_refused(tiny, actor, name, status, reason):
    record = in_state(tiny, status, assignee="w1")
    with pytest.raises(Refused, match=reason):
        apply_op(record, op(name, actor), tiny)


def test_escalation_climbs_the_chain_and_scopes_follow(tiny):
    record = in_state(tiny, "reported")
    record = apply_op(record, op("escalate", "w1"), tiny)
    assert (record["status"], record["owner_level"]) == ("escalated", "community")
    with pytest.raises(Refused, match="owned at community level"):
        apply_op(record, op("accept", "w1"), tiny)
    record = apply_op(record, op("escalate", "sup"), tiny)
    assert record["owner_level"] == "street"
    with pytest.raises(Refused, match="above sup's community level"):
        apply_op(record, op("dispatch", "sup"), tiny)
    record = apply_op(record, op("dispatch", "sup_street"), tiny)
    assert record["status"] == "dispatched"
    record = apply_op(record, op("escalate", "adm", level="district"), tiny)
    with pytest.raises(Refused, match="already owned at district"):
        apply_op(record, op("escalate", "adm"), tiny)


def test_allowed_ops_are_what_the_buttons_offer(tiny):
    record = in_state(tiny, "reported")
    assert allowed_ops(tiny.users["w1"], record, tiny) == ["accept", "escalate",
                                                           "comment"]
    assert allowed_ops(tiny.users["w2"], record, tiny) == []
    assert "dispatch" not in allowed_ops(tiny.users["sup"], record, tiny)
    assert "dispatch" in allowed_ops(tiny.users["sup"],
                                     in_state(tiny, "accepted"), tiny)


@pytest.mark.parametrize(("share", "light"), [
    (0.79, "green"), (0.80, "yellow"), (1.00, "yellow"), (1.01, "red")])
def test_sla_light_at_the_edges(tiny, share, light):
    record = new_incident(report(), "G1", tiny)  # level 2 sanitation: 8 h
    deadline = record["deadline"] - record["reported_at"]
    assert deadline == 8 * HOUR
    assert sla_light(record, T0 + round(share * deadline)) == light


def test_escalation_is_due_after_the_grace_one_level_at_a_time(tiny):
    record = new_incident(report(), "G1", tiny)
    grace = 30 * 60_000
    assert not escalation_due(record, record["deadline"] + grace - 1, grace)
    assert escalation_due(record, record["deadline"] + grace, grace)
    stepped = dict(record, auto_escalated_at=record["deadline"] + grace,
                   owner_level="community")
    assert not escalation_due(stepped, record["deadline"] + grace + 1, grace)
    assert escalation_due(stepped, record["deadline"] + 2 * grace, grace)


def _fold(agg, rounds: int = 6) -> None:
    for _ in range(rounds):
        agg.step(block_ms=20)


def test_overdue_incident_is_escalated_automatically(r, raw, tiny):
    keys = Keys(PREFIX, "tiny")
    agg = Aggregator(raw, {"tiny": tiny}, PREFIX, consumer="a")
    agg.setup()
    long_ago = now_ms() - 3 * HOUR  # level 1 parking: 1 h
    r.xadd(keys.stream("incident"), {
        "v": "1", "src": "hotline", "op": "report", "id": INC3, "ts": str(long_ago),
        "category": "parking", "level": "1", "title": "占道", "grid": "G2"})
    _fold(agg)
    escalate_overdue(raw, tiny, keys)
    _fold(agg)
    record = read_incident(r, keys, INC3)
    assert (record["status"], record["owner_level"]) == ("escalated", "community")
    assert record["history"][-1]["actor"] == "system"
    escalate_overdue(raw, tiny, keys)  # not again within the grace
    _fold(agg)
    assert read_incident(r, keys, INC3)["owner_level"] == "community"


def test_a_retried_report_creates_one_incident(r, raw, tiny):
    keys = Keys(PREFIX, "tiny")
    agg = Aggregator(raw, {"tiny": tiny}, PREFIX, consumer="a")
    agg.setup()
    values = {"id": "3f1c7e0a-0000-4000-8000-00000000beef",
              "category": "sanitation", "level": "3",
              "title": "路面坑洼", "grid": "G1"}
    for _ in range(3):  # the phone retries after a lost answer
        submit_report(r, keys, tiny, tiny.users["w1"], values)
    _fold(agg)
    assert r.zcard(keys.incidents_all) == 1
    assert r.hget(keys.stats, "dead") is None


def test_app_ops_are_checked_before_writing_and_after(r, raw, tiny):
    keys = Keys(PREFIX, "tiny")
    agg = Aggregator(raw, {"tiny": tiny}, PREFIX, consumer="a")
    agg.setup()
    submit_report(r, keys, tiny, tiny.users["w1"], {
        "id": INC9, "category": "sanitation", "level": "2", "title": "积水",
        "grid": "G1"})
    _fold(agg)
    with pytest.raises(Refused, match="outside w2's scope"):
        submit_op(r, keys, tiny, tiny.users["w2"], "accept", INC9)
    assert r.xlen(keys.stream("incident")) == 1  # nothing was written
    first = submit_op(r, keys, tiny, tiny.users["sup"], "accept", INC9)
    second = submit_op(r, keys, tiny, tiny.users["adm"], "accept", INC9)  # a race
    _fold(agg)
    assert wait_applied(r, keys, INC9, first) is None
    refusal = wait_applied(r, keys, INC9, second)
    assert "cannot accept an incident that is accepted" in refusal
    assert read_incident(r, keys, INC9)["status"] == "accepted"


def test_a_resolved_incident_waiting_for_verification_is_not_escalated(tiny):
    record = dict(new_incident(report(), "G1", tiny), status="resolved")
    assert not escalation_due(record, record["deadline"] + 10 * HOUR, 60_000)


def test_the_console_lists_new_reports_first_then_by_deadline():
    from callbacks.console import triage_order

    def rec(i, status, reported_at, deadline):
        return ({"id": i, "status": status, "reported_at": reported_at,
                 "deadline": deadline}, "green")

    rows = [rec("a", "dispatched", 1, 50), rec("b", "reported", 2, 900),
            rec("c", "closed", 3, 10), rec("d", "reported", 5, 800),
            rec("e", "accepted", 4, 40)]
    assert [r[0]["id"] for r in sorted(rows, key=triage_order)] == [
        "d", "b", "e", "a", "c"]


@pytest.mark.parametrize(("assignee", "reason"), [
    ("w2", "outside assignee w2's grids"),  # works G2, the incident is in G1
    ("vol", "volunteer, who does not take tasks"),
    ("ana", "analyst, who does not take tasks"),
    ("nobody", "not a user of site tiny"),
])
def test_a_dispatch_names_only_someone_who_works_the_grid(tiny, assignee, reason):
    record = in_state(tiny, "accepted")
    with pytest.raises(Refused, match=reason):
        apply_op(record, op("dispatch", "sup", assignee=assignee), tiny)
    done = apply_op(record, op("dispatch", "sup", assignee="w1"), tiny)
    assert done["assignee"] == "w1"


def test_the_aggregators_upkeep_escalates_trims_and_forgets(r, raw, tiny,
                                                            monkeypatch):
    """The upkeep the aggregator runs every 30 s per site (two round trips,
    data/feed/upkeep.py): an overdue incident escalated, acknowledged old
    entries trimmed while pending ones stay, a long-gone consumer with
    nothing pending forgotten, the live one and one with pending kept."""
    from data.feed import upkeep as upkeep_module
    from data.keys import GROUP

    keys = Keys(PREFIX, "tiny")
    agg = Aggregator(raw, {"tiny": tiny}, PREFIX, consumer="a")
    agg.setup()
    crowd_key = keys.stream("crowd")
    old = now_ms() - 10 * 60_000  # far past the crowd stream's 2 minutes
    pipe = r.pipeline(transaction=False)
    for n in range(250):  # a trim is approximate: whole nodes of 100 go
        pipe.xadd(crowd_key, {"v": "1", "src": "cam", "entrance": "E1", "in": "1",
                              "out": "0", "ts": str(old)}, id=f"{old}-{n}")
    pipe.execute()
    r.xadd(keys.stream("incident"), {
        "v": "1", "src": "hotline", "op": "report", "id": INC3,
        "ts": str(now_ms() - 3 * HOUR), "category": "parking", "level": "1",
        "title": "占道", "grid": "G2"})
    _fold(agg)
    # a process gone long ago, and one that died holding an entry
    r.xgroup_createconsumer(crowd_key, GROUP, "gone")
    pending_id = r.xadd(crowd_key, {"v": "1", "src": "cam", "entrance": "E1",
                                    "in": "1", "out": "0", "ts": str(old)},
                        id=f"{old + 1000}-0")
    r.xreadgroup(GROUP, "dead-with-pending", {crowd_key: ">"}, count=1)
    monkeypatch.setattr(upkeep_module, "CONSUMER_FORGET_MS", -1)

    agg._maintain(agg.states["tiny"])

    names = {c["name"] for c in r.xinfo_consumers(crowd_key, GROUP)}
    assert "gone" not in names
    assert {"a", "dead-with-pending"} <= names
    left = [entry_id for entry_id, _ in r.xrange(crowd_key)]
    assert len(left) <= 51 and left[-1] == pending_id  # acknowledged ones went
    _fold(agg)
    record = read_incident(r, keys, INC3)
    assert (record["status"], record["owner_level"]) == ("escalated", "community")
