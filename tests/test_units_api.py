"""GET /api/v1/units and /api/v1/units/<unit>: the tree, a unit's figures
and its children's, in the shapes the OpenAPI document gives, and who
reaches which unit (issue 12 item 3). On one Redis and on a cluster."""

from __future__ import annotations

import pytest
from jsonschema import Draft202012Validator

from data.feed.aggregator import Aggregator
from data.keys import UnitKeys
from data.site_files import load_sites
from data.units.rollup import kpis, read_units
from tests.auth import add_account, api_key, sign_in_client
from tests.chain import write_chain_sites
from tests.common import PREFIX
from tests.feed import drain
from tests.rollup_feed import write_example

pytestmark = pytest.mark.cluster


@pytest.fixture(scope="module")
def chain_dir(tmp_path_factory):
    return write_chain_sites(tmp_path_factory.mktemp("chain"))


@pytest.fixture
def chain_app(make_app, chain_dir):
    return make_app(GOV_SITES_DIR=str(chain_dir), GOV_SITES="")


@pytest.fixture
def analyst(r, chain_app):
    """A client signed in as an analyst of the whole deployment."""
    client = chain_app.server.test_client()
    add_account(r, PREFIX, "ana_all", "analyst")
    sign_in_client(client, "ana_all")
    return client


def key_client(r, chain_app, site: str):
    """A client that sends a read key of ``site``."""
    client = chain_app.server.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {api_key(r, PREFIX, site)}"
    return client


def valid(client, body: dict, schema: str) -> bool:
    doc = client.get("/api/v1/openapi.json").get_json()
    if schema == "UnitTree":
        ref = doc["paths"]["/api/v1/units"]["get"]["responses"]["200"]["content"][
            "application/json"]["schema"]
    else:
        ref = {"$ref": f"#/components/schemas/{schema}"}
    validator = Draft202012Validator({**doc, **ref})
    errors = [e.message for e in validator.iter_errors(body)]
    assert errors == []
    return True


def test_the_tree_lists_every_unit_under_the_city(analyst):
    answer = analyst.get("/api/v1/units")
    assert answer.status_code == 200
    body = answer.get_json()
    assert valid(analyst, body, "UnitTree")
    [city] = body["units"]
    assert (city["id"], city["level"]) == ("city", "city")
    [district] = city["children"]
    assert (district["id"], district["name"]) == ("D1", "测试区")
    s1, s2 = district["children"]
    assert [c["id"] for c in s1["children"]] == ["C1", "C2"]
    assert s2["children"] == [{"id": "C3", "level": "community", "name": "丙社区",
                               "name_en": "Community C3", "site": "tc",
                               "children": []}]
    assert "site" not in s1


def test_a_unit_answers_its_figures_and_its_childrens(r, raw, analyst, chain_dir):
    sites = load_sites(chain_dir, ["ta", "tb", "tc"])
    agg = Aggregator(raw, sites, PREFIX, snapshot_interval_ms=50, consumer="api")
    agg.setup()
    write_example(r)
    drain(agg)
    answer = analyst.get("/api/v1/units/S1")
    assert answer.status_code == 200
    body = answer.get_json()
    assert valid(analyst, body, "UnitFigures")
    assert (body["id"], body["level"], body["name"]) == ("S1", "street", "测试街道")
    assert body["generated_at"].startswith("20") and "+08:00" in body["generated_at"]
    counts = read_units(r, PREFIX, ["S1", "C1", "C2"])
    assert body["kpis"] == kpis(counts["S1"], "street")
    # worked out by hand in tests/test_rollup.py
    assert body["kpis"]["incidents_open"] == 2
    assert body["kpis"]["closure_rate"] == 0.75
    assert [(c["id"], c["site"], c["kpis"]["closed_today"])
            for c in body["children"]] == [("C1", "ta", 1), ("C2", "tb", 2)]
    assert body["children"][0]["kpis"] == kpis(counts["C1"], "community")
    city = analyst.get("/api/v1/units/city").get_json()
    assert city["kpis"]["people_present"] == 110
    assert [c["id"] for c in city["children"]] == ["D1"]


def test_a_unit_with_no_figures_yet_answers_zeros_and_no_rates(analyst):
    body = analyst.get("/api/v1/units/D1").get_json()
    assert body["generated_at"] is None
    assert body["kpis"]["incidents_open"] == 0
    assert body["kpis"]["closure_rate"] is None
    assert valid(analyst, body, "UnitFigures")


def test_a_sites_key_reaches_its_own_community_and_nothing_above_or_beside(
        r, chain_app):
    client = key_client(r, chain_app, "ta")
    body = client.get("/api/v1/units").get_json()
    assert body == {"units": [{"id": "C1", "level": "community", "name": "甲社区",
                               "name_en": "Community C1", "site": "ta",
                               "children": []}]}
    assert client.get("/api/v1/units/C1").status_code == 200
    for unit in ("S1", "D1", "city", "C2", "C3"):
        answer = client.get(f"/api/v1/units/{unit}")
        assert answer.status_code == 403
        assert answer.get_json()["error"] == \
            f"unit {unit} is outside this caller's scope"


def test_a_site_person_reaches_their_community_only(r, chain_app):
    client = chain_app.server.test_client()
    add_account(r, PREFIX, "tb-sup", "supervisor", "tb")
    sign_in_client(client, "tb-sup")
    assert client.get("/api/v1/units/C2").status_code == 200
    assert client.get("/api/v1/units/S1").status_code == 403


def test_unknown_unit_is_a_json_404_and_no_caller_a_401(analyst, chain_app):
    answer = analyst.get("/api/v1/units/nowhere")
    assert answer.status_code == 404
    assert "nowhere" in answer.get_json()["error"]
    assert chain_app.server.test_client().get("/api/v1/units").status_code == 401
    assert chain_app.server.test_client().get("/api/v1/units/S1").status_code == 401


def test_a_unit_whose_figures_cannot_be_read_is_a_json_503(r, analyst):
    r.set(UnitKeys(PREFIX, "S1").figures, "not a hash")
    answer = analyst.get("/api/v1/units/S1")
    assert answer.status_code == 503
    assert answer.get_json()["error"].startswith("the data service")
    assert analyst.get("/api/v1/units/S2").status_code == 200
