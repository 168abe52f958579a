"""GET /api/v1/sites/<site>/producers, against a real Redis and aggregator."""

from __future__ import annotations

from data.clock import now_ms
from tests.auth import add_account, api_key, sign_in_client
from tests.common import PREFIX
from tests.feed import fold_at, xadd


def test_producers_lists_every_device_with_its_state(r, raw, tiny, client):
    now = now_ms()
    xadd(raw, "crowd", v=1, src="cnt-e2", entrance="E2", ts=now, **{"in": 2,
                                                                    "out": 0})
    xadd(raw, "traffic", v=1, src="lot-s", lot="P1", ts=now, occupied="many")
    fold_at(raw, tiny, now)
    key = api_key(r, PREFIX, "tiny")
    answer = client.get("/api/v1/sites/tiny/producers",
                        headers={"Authorization": f"Bearer {key}"})
    assert answer.status_code == 200
    rows = {(p["src"], p["device"]): p for p in answer.get_json()["producers"]}
    assert rows["cnt-e2", "E2"]["state"] == "ok"
    assert rows["cnt-e2", "E2"]["last_ts"] == now
    assert rows["", "E1"]["state"] == "silent"  # declared, never heard from
    assert rows["lot-s", "P1"]["refused_15m"] == 1
    assert "occupied" in rows["lot-s", "P1"]["last_reason"]
    assert set(rows["cnt-e2", "E2"]) == {
        "src", "device", "kind", "state", "since", "last_ts", "rate_per_min",
        "usual_per_min", "refused_15m", "last_reason", "grid"}


def test_producers_needs_a_caller_and_keeps_a_worker_to_their_grid(r, client):
    assert client.get("/api/v1/sites/tiny/producers").status_code == 401
    assert client.get("/api/v1/sites/nowhere/producers").status_code in (401, 404)
    add_account(r, PREFIX, "w_g1", "worker", site="tiny", grids=("G1",))
    sign_in_client(client, "w_g1")
    rows = client.get("/api/v1/sites/tiny/producers").get_json()["producers"]
    assert rows and {p["grid"] for p in rows} == {"G1"}
