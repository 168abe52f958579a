"""A site whose communities lie in two streets (the sample site erqi is one:
its grids belong to communities of 三官庙街道, 德化街街道 and 西大街街道).

Neither street's supervisor may open the site's own screens (they show the
whole site), but each street's console lists and acts on the incidents of
the site's communities under that street, and on nothing of the other's.
"""

from __future__ import annotations

import json

import pytest

from data.feed.aggregator import Aggregator
from data.incidents.store import read_incident
from data.keys import Keys
from data.site_files import load_sites
from layouts import ids
from tests.auth import add_account, add_roster, sign_in_client
from tests.chain import copy_tiny, write_chain_sites
from tests.common import PREFIX
from tests.feed import drain
from tests.rollup_feed import HOUR, op, report


def write_split_site(folder):
    """``ts``: ``tiny`` with grid G1 in community C4 of street S1 and grid G2
    in community C5 of street S2, beside the chain's three sites."""
    def units(meta: str) -> str:
        return meta.replace(
            "  - {id: C1, level: community, name: 测试社区, name_en: Test "
            "Community, parent: S1}\n",
            "  - {id: C4, level: community, name: 丁社区, name_en: Community C4, "
            "parent: S1}\n"
            "  - {id: C5, level: community, name: 戊社区, name_en: Community C5, "
            "parent: S2}\n"
            "  - {id: S2, level: street, name: 第二街道, name_en: Street S2, "
            "parent: D1}\n").replace("name_en: Test Street,", "name_en: Street S1,")

    def place(props: dict) -> tuple[str, str]:
        second = "G2" in (props.get("id"), props.get("grid"))
        return ("C5", "S2") if second else ("C4", "S1")

    copy_tiny(folder, "ts", 0.05, units, place)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = write_chain_sites(tmp_path_factory.mktemp("split"))
    write_split_site(root)
    return root


@pytest.fixture
def split_app(r, raw, make_app, folder):
    sites = load_sites(folder, ["ta", "tb", "tc", "ts"])
    for site in sites.values():
        add_roster(r, PREFIX, site)
    agg = Aggregator(raw, sites, PREFIX, snapshot_interval_ms=1,
                     consumer="agg-split")
    agg.setup()
    # one incident escalated to the street in each of ts's grids
    g1 = report(r, "ts", ago_ms=HOUR, grid="G1")
    g2 = report(r, "ts", ago_ms=HOUR, grid="G2")
    for incident in (g1, g2):
        op(r, "ts", incident, "escalate", "sup", level="street", note="街道协调")
    drain(agg)
    app = make_app(GOV_SITES_DIR=str(folder), GOV_SITES="")
    return app, agg, g1, g2


def signed_in(r, app, name: str, unit: str, role: str = "supervisor"):
    client = app.server.test_client()
    add_account(r, PREFIX, name, role, unit=unit)
    assert sign_in_client(client, name).status_code == 302
    return client


def listed(client, unit: str) -> set[str]:
    outputs = [{"id": ids.UC_TABLE, "property": "rowData"},
               {"id": ids.UC_KPIS, "property": "children"},
               {"id": ids.UC_CHILDREN, "property": "children"}]
    body = {"output": ".." + "...".join(f"{o['id']}.{o['property']}"
                                        for o in outputs) + "..",
            "outputs": outputs,
            "inputs": [{"id": ids.UC_TICK, "property": "n_intervals", "value": 1},
                       {"id": ids.UC_VIEW, "property": "value", "value": "owned"},
                       {"id": ids.UC_DONE, "property": "data", "value": None}],
            "state": [{"id": ids.UC_UNIT, "property": "data", "value": unit},
                      {"id": ids.UC_LANG, "property": "data", "value": "zh"}],
            "changedPropIds": [f"{ids.UC_TICK}.n_intervals"]}
    answer = client.post("/_dash-update-component", json=body)
    assert answer.status_code == 200, answer.data[:300]
    rows = answer.get_json()["response"][ids.UC_TABLE]["rowData"]
    return {(row["site"], row["id"]) for row in rows}


def act(client, site: str, incident: str, the_op: str, status: int = 200) -> str:
    outputs = [{"id": ids.UC_FLASH, "property": "children"},
               {"id": ids.UC_DONE, "property": "data"}]
    body = {"output": f"..{ids.UC_FLASH}.children...{ids.UC_DONE}.data..",
            "outputs": outputs,
            "inputs": [{"id": ids.UC_CLICKED, "property": "data",
                        "value": {"op": the_op, "n": 1}}],
            "state": [{"id": ids.UC_NOTE, "property": "value", "value": None},
                      {"id": ids.UC_REASON, "property": "value", "value": None},
                      {"id": ids.UC_LEVEL, "property": "value", "value": None},
                      {"id": ids.UC_HOURS, "property": "value", "value": None},
                      {"id": ids.UC_PICK, "property": "data",
                       "value": {"site": site, "id": incident}},
                      {"id": ids.UC_LANG, "property": "data", "value": "zh"}],
            "changedPropIds": [f"{ids.UC_CLICKED}.data"]}
    answer = client.post("/_dash-update-component", json=body)
    assert answer.status_code == status, answer.data[:300]
    return json.dumps(answer.get_json().get("response"), ensure_ascii=False)


def test_each_street_lists_the_incidents_of_its_own_part_of_the_site(r, split_app):
    app, _, g1, g2 = split_app
    first = signed_in(r, app, "s1-chief", "S1")
    second = signed_in(r, app, "s2-chief", "S2")
    assert listed(first, "S1") == {("ts", g1)}
    assert listed(second, "S2") == {("ts", g2)}
    # the district lists what its own level owns: none of them
    assert listed(signed_in(r, app, "d1-chief", "D1"), "D1") == set()
    # and neither opens the site's own screens, which show all of it
    assert first.get("/console?site=ts").status_code == 403
    assert second.get("/wall?site=ts").status_code == 403


def test_each_street_acts_on_its_part_and_is_refused_the_other(r, split_app):
    app, agg, g1, g2 = split_app
    first = signed_in(r, app, "s1-chief", "S1")
    refused = act(first, "ts", g2, "accept")
    assert "该事件不在您的辖区内" in refused, refused
    # a unit's admin is no admin of a site it reaches in part
    admin = signed_in(r, app, "s1-admin", "S1", role="admin")
    act(admin, "ts", g1, "accept", status=403)
    assert read_incident(r, Keys(PREFIX, "ts"), g2)["status"] != "accepted"
    act(first, "ts", g1, "accept")
    for _ in range(20):
        drain(agg)
        if read_incident(r, Keys(PREFIX, "ts"), g1)["status"] == "accepted":
            break
    assert read_incident(r, Keys(PREFIX, "ts"), g1)["status"] == "accepted"


def test_a_return_without_its_reason_names_the_field(r, split_app):
    app, _, g1, _ = split_app
    first = signed_in(r, app, "s1-chief", "S1")
    said = act(first, "ts", g1, "return")
    assert "退回理由" in said, said
    assert read_incident(r, Keys(PREFIX, "ts"), g1)["owner_level"] == "street"
