"""HTTP ingest, ``POST /api/v1/sites/<site>/feeds/<stream>``, against a real Redis."""

from __future__ import annotations

import threading
import uuid

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from data.accounts import revoke_api_key
from data.clock import now_ms
from data.feed.aggregator import Aggregator
from data.feed.snapshot import read_snapshot
from data.keys import AuthKeys, Keys
from tests.auth import add_account, api_key, sign_in_client
from tests.common import PREFIX
from tests.waiting import wait_until
from web.ingest import MAX_BATCH

pytestmark = pytest.mark.cluster  # on one Redis and on a cluster

CROWD = "/api/v1/sites/tiny/feeds/crowd"
KEYS = Keys(PREFIX, "tiny")




def crowd(n_in: int = 5, n_out: int = 1, **extra) -> dict:
    return {"v": "1", "entrance": "E1", "ts": now_ms(), "in": n_in, "out": n_out,
            **extra}


@pytest.fixture
def key(r):
    return api_key(r, PREFIX, "tiny", "ingest")


def post(client, key, body, path=CROWD, **kwargs):
    return client.post(path, json=body, headers={"Authorization": f"Bearer {key}"},
                       **kwargs)


def fold(raw, tiny) -> Aggregator:
    agg = Aggregator(raw, {"tiny": tiny}, PREFIX, snapshot_interval_ms=1)
    agg.step(block_ms=50)
    agg.step(block_ms=1)
    return agg


def dead_letters(r) -> list[dict]:
    return [fields for _, fields in r.xrange(KEYS.dead)]


def test_one_entry_is_accepted_and_folded(client, key, r, raw, tiny):
    response = post(client, key, crowd(12, 2, eid="e-1"))
    assert response.status_code == 202
    body = response.get_json()
    assert (body["accepted"], body["rejected"], body["duplicates"]) == (1, 0, 0)
    [result] = body["results"]
    assert result["index"] == 0 and result["status"] == "accepted"
    [(entry_id, fields)] = r.xrange(KEYS.stream("crowd"))
    assert result["entry_id"] == entry_id
    # numbers became text, src is the key's producer
    assert fields["in"] == "12" and fields["src"] == "tests"
    fold(raw, tiny)
    assert r.hget(KEYS.present, "site") == "10"


def test_a_batch_is_answered_per_entry(client, key, r, raw, tiny):
    batch = [crowd(3, 0, eid="a"), crowd(eid="b", entrance="E99"),
             crowd(2, 1, eid="c"), {"v": "1", "entrance": "E1", "ts": now_ms(),
                                    "in": {"n": 1}, "out": 0},
             crowd(-1, 0), crowd(1.5, 0), "not an entry"]
    body = post(client, key, batch).get_json()
    assert (body["accepted"], body["rejected"], body["duplicates"]) == (2, 5, 0)
    statuses = [(x["index"], x["status"]) for x in body["results"]]
    assert statuses == [(0, "accepted"), (1, "rejected"), (2, "accepted"),
                        (3, "rejected"), (4, "rejected"), (5, "rejected"),
                        (6, "rejected")]
    reasons = {x["index"]: x["reason"] for x in body["results"] if "reason" in x}
    assert reasons[1] == "entrance E99 is not in site tiny"
    assert "field 'in' is an object" in reasons[3]
    assert "whole number" in reasons[4] and "whole number" in reasons[5]
    assert "JSON object" in reasons[6]
    dead = dead_letters(r)
    assert [d["reason"] for d in dead] == [reasons[i] for i in (1, 3, 4, 5, 6)]
    assert all(d["stream"] == "crowd" for d in dead)
    assert dead[1]["in"] == '{"n": 1}'  # kept, as JSON, so nothing is lost
    assert len(r.xrange(KEYS.stream("crowd"))) == 2
    fold(raw, tiny)
    assert r.hget(KEYS.present, "site") == "4"  # 3 - 0 + 2 - 1
    assert int(r.hget(KEYS.stats, "dead")) == 5


def test_incident_report_then_hotline_closes_its_case(client, r, raw, tiny):
    key = api_key(r, PREFIX, "tiny", "ingest")  # producer "tests"
    add_account(r, PREFIX, "tests", "supervisor", "tiny")  # what it may do
    incident_id = str(uuid.uuid4())
    path = "/api/v1/sites/tiny/feeds/incident"
    report = {"v": "1", "op": "report", "id": incident_id, "ts": now_ms(),
              "category": "sanitation", "level": 2, "title": "楼道堆放杂物",
              "grid": "G1", "channel": "hotline", "eid": f"r-{incident_id}"}
    accept = {"v": "1", "op": "accept", "id": incident_id, "ts": now_ms(),
              "eid": f"a-{incident_id}"}
    as_someone = {**accept, "actor": "adm", "eid": f"b-{incident_id}"}
    body = post(client, key, [report, accept, as_someone], path=path).get_json()
    assert body["accepted"] == 2, body
    assert "acts as its producer's account only" in body["results"][2]["reason"]
    fold(raw, tiny)
    record = client.get(f"/api/v1/sites/tiny/incidents/{incident_id}", headers={
        "Authorization": f"Bearer {api_key(r, PREFIX, 'tiny', 'read')}"}).get_json()
    assert record["status_detail"] == "accepted"
    assert record["channel"] == "hotline"
    assert record["history"][-1]["actor"] == "tests"


def test_a_producer_without_an_account_makes_no_workflow_op(client, key, r, raw,
                                                             tiny):
    incident_id = str(uuid.uuid4())
    path = "/api/v1/sites/tiny/feeds/incident"
    post(client, key, {"v": "1", "op": "report", "id": incident_id, "ts": now_ms(),
                       "category": "sanitation", "level": 2, "title": "井盖缺失",
                       "grid": "G1"}, path=path)
    post(client, key, {"v": "1", "op": "accept", "id": incident_id,
                       "ts": now_ms()}, path=path)
    fold(raw, tiny)
    reason = dead_letters(r)[-1]["reason"]
    assert "unknown user" in reason


def test_a_report_whose_id_is_not_a_uuid_is_refused_and_the_site_goes_on(
        client, key, r, raw, tiny):
    path = "/api/v1/sites/tiny/feeds/incident"
    report = {"v": "1", "op": "report", "ts": now_ms(), "category": "sanitation",
              "level": 2, "title": "楼道堆放杂物", "grid": "G1"}
    good = str(uuid.uuid4())
    body = post(client, key, [{**report, "id": "open"}, {**report, "id": good}],
                path=path).get_json()
    assert body["results"][0]["status"] == "rejected"
    assert "field 'id'" in body["results"][0]["reason"]
    assert "not an incident UUID" in body["results"][0]["reason"]
    assert body["results"][1]["status"] == "accepted"
    assert "not an incident UUID" in dead_letters(r)[-1]["reason"]
    fold(raw, tiny)
    assert r.zrange(KEYS.incidents_open, 0, -1) == [good]
    assert read_snapshot(r, KEYS) is not None


def test_duplicates_inside_a_batch_and_across_batches(client, key, r, raw, tiny):
    body = post(client, key, [crowd(eid="x"), crowd(eid="x"), crowd(eid="y")]
                ).get_json()
    assert [x["status"] for x in body["results"]] == ["accepted", "duplicate",
                                                      "accepted"]
    assert body["duplicates"] == 1
    assert body["results"][1]["reason"] == ("eid x of src tests was received at "
                                            "index 0 of this batch")
    # not folded yet: the HTTP side remembers what it wrote
    again = post(client, key, [crowd(eid="x"), crowd(eid="z")]).get_json()
    assert [x["status"] for x in again["results"]] == ["duplicate", "accepted"]
    fold(raw, tiny)
    # folded: and after the aggregator, still a duplicate
    third = post(client, key, crowd(eid="y")).get_json()
    assert third["results"][0]["status"] == "duplicate"
    assert "eid y" in third["results"][0]["reason"]
    assert len(r.xrange(KEYS.stream("crowd"))) == 3
    assert dead_letters(r) == []


def test_an_eid_is_unique_within_its_time_bucket_as_in_the_aggregator(
        client, key, r, raw, tiny):
    """The aggregator keeps eids per dedup window of event time; an eid used
    again hours later is a new event there, so it is not a duplicate here."""
    hours_ago = now_ms() - 2 * 3600 * 1000
    body = post(client, key, [crowd(eid="x", ts=hours_ago), crowd(eid="x")]
                ).get_json()
    assert [x["status"] for x in body["results"]] == ["accepted", "accepted"]
    fold(raw, tiny)
    assert r.hget(KEYS.present, "site") == "8"


def test_eid_folded_from_a_direct_producer_is_a_duplicate(client, key, r, raw,
                                                          tiny):
    r.xadd(KEYS.stream("crowd"), {"v": "1", "src": "tests", "entrance": "E1",
                                  "ts": str(now_ms()), "in": "1", "out": "0",
                                  "eid": "direct-1"})
    fold(raw, tiny)
    body = post(client, key, crowd(eid="direct-1")).get_json()
    assert body["results"][0]["status"] == "duplicate"


def test_src_of_another_producer_is_refused(client, key, r):
    body = post(client, key, [crowd(src="cam-e01"), crowd(src="tests")]).get_json()
    first, second = body["results"]
    assert first["status"] == "rejected"
    assert "not this key's producer 'tests'" in first["reason"]
    assert second["status"] == "accepted"
    assert dead_letters(r)[0]["src"] == "cam-e01"


def test_version_stays_required(client, key):
    entry = crowd()
    del entry["v"]
    result = post(client, key, entry).get_json()["results"][0]
    assert result == {"index": 0, "status": "rejected",
                      "reason": "missing field 'v'"}


@pytest.mark.parametrize(("headers", "status"), [
    ({}, 401),
    ({"Authorization": "Bearer gk_nope_nope"}, 401),
])
def test_no_key_or_unknown_key_is_401(client, headers, status):
    assert client.post(CROWD, json=crowd(), headers=headers).status_code == status


def test_read_key_revoked_key_and_other_site_key(client, r):
    read = api_key(r, PREFIX, "tiny", "read")
    assert post(client, read, crowd()).status_code == 403
    other = api_key(r, PREFIX, "elsewhere", "ingest")
    response = post(client, other, crowd())
    assert response.status_code == 403
    assert "outside" in response.get_json()["error"]
    key = api_key(r, PREFIX, "tiny", "ingest")
    assert post(client, key, crowd()).status_code == 202
    revoke_api_key(r, AuthKeys(PREFIX), key.split("_")[1])
    assert post(client, key, crowd()).status_code == 401
    assert r.xlen(KEYS.stream("crowd")) == 1


def test_bad_bodies(client, key, r):
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    for data, status, says in (
            (b"{not json", 400, "not JSON"), (b'"text"', 400, "one entry"),
            (b"[]", 400, "empty"), (b"NaN", 400, "not JSON"),
            (b"[" * 100_000 + b"]" * 100_000, 400, "not JSON"),
            (b'[{"v": "1"}' + b', {"v": "1"}' * MAX_BATCH + b"]", 413, "at most 500"),
            (b" " * (3 * 1024 * 1024) + b"{}", 413, "at most")):
        response = client.post(CROWD, data=data, headers=headers)
        assert response.status_code == status, data[:20]
        assert says in response.get_json()["error"]
    assert r.exists(KEYS.stream("crowd")) == 0


def test_too_deeply_nested_json_is_a_400_not_a_500_anywhere(client, r):
    """Found while fuzzing ingest: json.loads raises RecursionError (not a
    ValueError), which Flask's get_json let through as a 500."""
    deep = b"[" * 100_000 + b"]" * 100_000
    headers = {"Content-Type": "application/json"}
    assert client.post("/_dash-update-component", data=deep, headers=headers
                       ).status_code == 401
    add_account(r, PREFIX, "w1", "worker", "tiny", ("G1",))
    sign_in_client(client, "w1")
    assert client.post("/api/v1/sites/tiny/reports", data=deep, headers=headers
                       ).status_code == 400


def test_ingest_is_rate_limited_per_key(r, make_app, monkeypatch):
    monkeypatch.setattr("web.factory.INGEST_REQUEST_LIMIT", "2 per minute")
    client = make_app().server.test_client()  # after the limit is patched
    first, second = (api_key(r, PREFIX, "tiny", "ingest") for _ in range(2))
    assert [post(client, first, crowd()).status_code for _ in range(3)] == [
        202, 202, 429]
    assert "slow down" in post(client, first, crowd()).get_json()["error"]
    assert post(client, second, crowd()).status_code == 202

def test_ingest_limits_count_entries_not_requests(r, make_app, monkeypatch):
    monkeypatch.setattr("web.factory.INGEST_ENTRY_LIMIT", "10 per minute")
    client = make_app().server.test_client()  # after the limit is patched
    first, second = (api_key(r, PREFIX, "tiny", "ingest") for _ in range(2))

    def batch(n: int) -> list[dict]:
        return [crowd(1, 0, eid=str(uuid.uuid4())) for _ in range(n)]

    assert post(client, first, batch(4)).status_code == 202  # 4 of 10
    assert post(client, first, batch(4)).status_code == 202  # 8 of 10
    refused = post(client, first, batch(4))  # 12 would be over: three requests
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) > 0
    assert post(client, first, batch(2)).status_code == 202  # exactly 10
    assert post(client, first, crowd()).status_code == 429
    assert r.xlen(KEYS.stream("crowd")) == 10  # nothing of the refused ones
    assert post(client, second, batch(4)).status_code == 202  # its own budget


def test_unknown_stream_or_site_is_404(client, key, r):
    assert post(client, key, crowd(), path="/api/v1/sites/tiny/feeds/dead"
                ).status_code == 404
    admin = api_key(r, PREFIX, "nowhere", "ingest")
    response = post(client, admin, crowd(), path="/api/v1/sites/nowhere/feeds/crowd")
    assert response.status_code == 404


def test_each_batch_is_in_the_audit_log(client, key, r):
    post(client, key, [crowd(), crowd(entrance="E99")])
    entries = r.xrevrange(AuthKeys(PREFIX).audit, count=5)
    ingest = [f for _, f in entries if f.get("action") == "ingest"]
    assert ingest and ingest[0]["target"] == "tiny/crowd"
    assert ingest[0]["detail"].startswith("1 accepted, 1 rejected")


def test_openapi_document_is_open_and_derived_from_the_contract(client):
    doc = client.get("/api/v1/openapi.json").get_json()
    assert doc["openapi"].startswith("3.1")
    crowd_schema = doc["components"]["schemas"]["CrowdEntry"]
    assert set(crowd_schema["required"]) == {"v", "ts", "entrance", "in", "out"}
    assert crowd_schema["properties"]["entrance"]["enum"] == ["E1", "E2", "V1"]
    post_op = doc["paths"]["/api/v1/sites/{site}/feeds/crowd"]["post"]
    assert post_op["security"] == [{"bearer": []}]
    assert post_op["parameters"][0]["schema"]["enum"] == ["tiny"]
    assert doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"


def fuzz(operation, headers: dict, mode: GenerationMode, failures: list,
         seen: set) -> None:
    """Call ``operation`` with cases made from its description; note any 5xx."""
    @settings(max_examples=50, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode))
    def call(case):
        response = case.call(headers=headers)
        seen.add((operation.label, response.status_code))
        if response.status_code >= 500:
            failures.append((operation.label, response.status_code,
                             response.text[:200], case.path_parameters,
                             case.query, str(case.body)[:200]))

    call()


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_schemathesis_finds_no_server_error(app, r, raw, tiny, mode):
    """Every operation the OpenAPI document describes, fuzzed from it, with a
    valid key; the aggregator runs meanwhile, so health and snapshot are live
    (their 503s mean "no snapshot yet", a state, not a fault)."""
    keys = {"ingest": api_key(r, PREFIX, "tiny", "ingest"),
            "read": api_key(r, PREFIX, "tiny", "read")}
    agg = Aggregator(raw, {"tiny": tiny}, PREFIX, snapshot_interval_ms=100)
    folding = threading.Thread(target=agg.run, daemon=True)
    folding.start()
    try:
        wait_until(lambda: read_snapshot(r, KEYS) is not None, 20,
                   what="the aggregator's first snapshot")
        schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app.server)
        failures, seen = [], set()
        for result in schema.get_all_operations():
            operation = result.ok()
            if mode == GenerationMode.NEGATIVE and not (
                    operation.path_parameters or operation.query or operation.body):
                continue  # nothing in the request to make invalid
            scope = "ingest" if "/feeds/" in operation.path else "read"
            fuzz(operation, {"Authorization": f"Bearer {keys[scope]}"}, mode,
                 failures, seen)
        assert failures == []
        if mode == GenerationMode.POSITIVE:  # the fuzzer got past the gate
            for stream in ("crowd", "traffic", "incident"):
                assert (f"POST /api/v1/sites/{{site}}/feeds/{stream}", 202) in seen
    finally:
        agg.stop()
        folding.join(timeout=10)
