"""Each person lands on their own site; a site switch only for those with more.

A deployment serving yaozhai and erqi: an erqi worker, supervisor or analyst
who opens /m, /console or /analysis without ``?site=`` gets erqi, never the
first site served; the analysis page offers a site switch only to a caller
who may see more than one site, and then only those sites.
"""

from __future__ import annotations

import json

import pytest

from data.config import PROJECT_ROOT
from data.site_files import load_sites
from tests.auth import add_account, sign_in_client
from tests.common import PREFIX

SITES_DIR = PROJECT_ROOT / "data" / "sites"


@pytest.fixture(scope="module")
def sites():
    return load_sites(SITES_DIR, ("yaozhai", "erqi"))


@pytest.fixture
def app(r, make_app, sites):
    add_account(r, PREFIX, "boss", "admin")  # every site
    return make_app(*sites.values(), GOV_SITES_DIR=str(SITES_DIR),
                    GOV_SITES="yaozhai,erqi")


def open_page(app, user: str, path: str, search: str = "") -> str:
    """The page as Dash's pages callback renders it for ``user`` (JSON text)."""
    client = app.server.test_client()
    assert sign_in_client(client, user).status_code in (302, 303)
    output = next(o for o in app.callback_map if "_pages_content.children" in o)
    spec = app.callback_map[output]
    values = {"pathname": path, "search": search}
    inputs = [{"id": i["id"], "property": i["property"],
               "value": values.get(i["property"])} for i in spec["inputs"]]
    state = [{"id": s["id"], "property": s["property"],
              "value": values.get(s["property"])} for s in spec["state"]]
    outputs = [{"id": part.rsplit(".", 1)[0], "property": part.rsplit(".", 1)[1]}
               for part in output.strip(".").split("...")]
    response = client.post("/_dash-update-component", json={
        "output": output, "outputs": outputs if len(outputs) > 1 else outputs[0],
        "inputs": inputs, "state": state,
        "changedPropIds": [f"{inputs[0]['id']}.{inputs[0]['property']}"]})
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    return response.get_data(as_text=True)


def store_value(page: str, component_id: str):
    found = []

    def walk(node):
        if isinstance(node, dict):
            props = node.get("props", {})
            if props.get("id") == component_id:
                found.append(props)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)
    walk(json.loads(page))
    return found[0] if found else None


@pytest.mark.parametrize(("user", "path", "site_store"), [
    ("eq_analyst", "/analysis", "analysis-site"),
    ("eq_sup_minggonglu", "/console", "c-site"),
    ("eq_sup_minggonglu", "/m", "m-site"),
])
def test_a_page_without_a_site_opens_the_callers_own(app, sites, user, path,
                                                      site_store):
    assert sites["erqi"].users[user]  # an erqi person, yaozhai served first
    page = open_page(app, user, path)
    assert store_value(page, site_store)["data"] == "erqi"


def test_someone_of_one_site_gets_no_site_switch(app):
    page = open_page(app, "eq_analyst", "/analysis")
    assert store_value(page, "analysis-site-pick") is None
    assert "yaozhai" not in page


def test_someone_of_every_site_may_switch_between_them(app):
    page = open_page(app, "boss", "/analysis", "?site=erqi")
    pick = store_value(page, "analysis-site-pick")
    assert pick["value"] == "erqi"
    assert [o["value"] for o in pick["options"]] == ["yaozhai", "erqi"]
