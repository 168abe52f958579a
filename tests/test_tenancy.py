"""Isolation between sites, generated from what the app registers.

Every Dash callback the app registers is posted by every kind of caller — a
person of each role of one site, a grid-scoped supervisor, a kiosk wall, no
one — first as the page would post it, then with each input and state id
renamed, the posted items reordered, the site's value set to another site
and the grid's value to a grid outside the caller's scope. Every answer must
be a refusal or data of the caller's own tenant only: it is scanned for the
other site's (or the other grids') phone numbers, names and titles. The
other site has live data to leak: a folded snapshot and incidents with a
reporter's phone number.
"""

from __future__ import annotations

import copy
import json
import re
import uuid
from pathlib import Path
from urllib.parse import urlencode

import pytest
from dash.dependencies import Wildcard

from data.clock import now_ms
from data.config import PROJECT_ROOT, load_config
from data.feed.aggregator import Aggregator
from data.keys import Keys
from data.site_files import load_sites
from data.units.tree import tree_of_sites
from layouts import analysis as analysis_page
from layouts import analysis_charts
from tests.auth import (
    add_account,
    add_roster,
    kiosk_token,
    sign_in_client,
    unit_kiosk_token,
)
from tests.common import PREFIX
from web.factory import create_app
from web.tenant import ANALYSIS_UNIT_IDS, GRID_IDS, PICK_IDS, SITE_IDS, UNIT_IDS

SITES_DIR = PROJECT_ROOT / "data" / "sites"
SECRET_PHONE = "13900009999"
SECRET_TITLE = "二七机密事件"
SCOPED = "eq_sup_minggonglu"  # erqi supervisor of grids G01, G05, G09
REFUSED = {400, 401, 403}


@pytest.fixture(scope="module")
def sites():
    return load_sites(SITES_DIR, ("yaozhai", "erqi"))




def report(r, site: str, grid: str, title: str, phone: str) -> str:
    incident = str(uuid.uuid4())
    r.xadd(Keys(PREFIX, site).stream("incident"), {
        "v": "1", "src": "hotline", "op": "report", "id": incident,
        "ts": str(now_ms()), "category": next(iter(SITES[site].categories)),
        "level": "2", "title": title, "grid": grid, "reporter": "钱多多",
        "phone": phone})
    return incident


SITES: dict = {}
PICKS: dict[str, str] = {}  # site -> an incident of it (a unit console's pick)
UNITS: dict[str, tuple[str, str]] = {}  # site -> its community, its street


@pytest.fixture
def app(r, raw, redis_url, sites, tmp_path: Path):
    SITES.update(sites)
    for site in sites.values():
        add_roster(r, PREFIX, site)
    for grid in sites["erqi"].grids:  # one per grid: the scoped user's test
        PICKS.setdefault("erqi", report(r, "erqi", grid, f"{SECRET_TITLE}{grid}",
                                        SECRET_PHONE))
    PICKS["yaozhai"] = report(r, "yaozhai", "G01", "姚寨楼道堆物", "13800001111")
    tree = tree_of_sites(sites)
    for site in sites:  # a unit console's unit: the site's community, its street
        community = tree.site_communities[site][0]
        UNITS[site] = (community, tree[community].parent)
    agg = Aggregator(raw, sites, PREFIX, snapshot_interval_ms=1)
    for _ in range(3):
        agg.step(block_ms=20)
    config = load_config({"REDIS_URL": redis_url, "GOV_PREFIX": PREFIX,
                          "GOV_SITES_DIR": str(SITES_DIR),
                          "GOV_SITES": "yaozhai,erqi",
                          "GOV_DATA_DIR": str(tmp_path)})
    return create_app(config)


def markers(site, grids: tuple[str, ...] = ()) -> set[str]:
    """What must never reach a caller outside ``site`` (or outside ``grids``
    of it, when given): phone numbers of its people, its secret incidents."""
    people = [u for u in site.users.values()
              if not grids or (u.grids and not set(u.grids) & set(grids))]
    found = {u.phone for u in people if u.phone}
    if grids:
        found |= {f"{SECRET_TITLE}{g}" for g in site.grids if g not in grids}
    else:
        found |= {SECRET_PHONE, SECRET_TITLE, site.name, site.name_en}
    return found


def _value(decl_id: str, prop: str, site: str, grid: str):
    if decl_id in SITE_IDS:
        return site
    if decl_id in GRID_IDS:
        return [grid] if prop == "value" else grid
    if decl_id in UNIT_IDS | ANALYSIS_UNIT_IDS:
        return UNITS[site][0]
    if decl_id in PICK_IDS:
        return {"site": site, "id": PICKS[site]}
    if decl_id.endswith("-lang"):
        return "zh"
    if decl_id == "_pages_location":
        return {"pathname": "/console", "search": f"?site={site}"}.get(prop)
    return None


def _items(declared: list[dict], site: str, grid: str) -> list:
    out = []
    for d in declared:
        if d["id"].startswith("{"):
            out.append([])  # no pattern-matched component on the page yet
        else:
            out.append({"id": d["id"], "property": d["property"],
                        "value": _value(d["id"], d["property"], site, grid)})
    return out


# The components a pattern (ALL) of a registered callback matches on its page.
ON_THE_PAGE = {"analysis-kpi": analysis_page.KPIS,
               "analysis-graph": tuple(analysis_charts.CHARTS),
               "analysis-export": tuple(analysis_charts.CHARTS)}


def _outputs(spec: dict):
    """The outputs as the browser posts them: a pattern's ids as the ids of
    components on the page (one for ``ALL``)."""
    def one(o):
        if not isinstance(o.component_id, dict):
            return {"id": o.component_id, "property": o.component_property}
        wild = [k for k, v in o.component_id.items() if isinstance(v, Wildcard)]
        if not wild:
            return {"id": o.component_id, "property": o.component_property}
        kind = o.component_id["type"]
        return [{"id": {"type": kind, wild[0]: name},
                 "property": o.component_property}
                for name in ON_THE_PAGE[kind]]
    outputs = spec["output"] if isinstance(spec["output"], list) else [spec["output"]]
    items = [one(o) for o in outputs]
    return items if isinstance(spec["output"], list) else items[0]


def _with_hashes(output: str, outputs):
    """Each output's property as written in the callback's key (``@hash``)."""
    props = [part.rsplit(".", 1)[1] for part in output.strip(".").split("...")]
    flat = outputs if isinstance(outputs, list) else [outputs]
    for item, prop in zip(flat, props, strict=False):
        for one in (item if isinstance(item, list) else [item]):
            one["property"] = prop
    return outputs


def page_body(output: str, spec: dict, site: str, grid: str) -> dict:
    """The post the page itself would make."""
    inputs = _items(spec["inputs"], site, grid)
    changed = [f"{i['id']}.{i['property']}" for i in inputs[:1]
               if isinstance(i, dict)]
    return {"output": output, "outputs": _with_hashes(output, _outputs(spec)),
            "inputs": inputs,
            "state": _items(spec["state"], site, grid), "changedPropIds": changed}


def body_site(body: dict) -> str:
    """The site a post's chosen incident is on."""
    return next(i["value"]["site"] for part in ("inputs", "state")
                for i in body[part] if isinstance(i, dict)
                and i["id"] in PICK_IDS)


def forgeries(body: dict, other_site: str, other_grid: str):
    """(what was forged, body): each id renamed (with the other site's value
    too), the items reordered, the site and the grid changed."""
    for part in ("inputs", "state"):
        for n, item in enumerate(body[part]):
            if not isinstance(item, dict):
                continue
            for value in (item["value"], other_site):
                forged = copy.deepcopy(body)
                forged[part][n] = {**item, "id": "renamed", "value": value}
                yield f"{part}[{n}] renamed, value {value!r}", forged
            if item["id"] in SITE_IDS:
                forged = copy.deepcopy(body)
                forged[part][n]["value"] = other_site
                yield f"{part}[{n}] other site", forged
            # the other site's community, street
            if item["id"] in UNIT_IDS | ANALYSIS_UNIT_IDS:
                for unit in UNITS[other_site]:
                    forged = copy.deepcopy(body)
                    forged[part][n]["value"] = unit
                    yield f"{part}[{n}] other unit {unit}", forged
            if item["id"] in PICK_IDS:  # the other site's incident
                own = body_site(body)
                for site in (other_site, own):
                    forged = copy.deepcopy(body)
                    forged[part][n]["value"] = {"site": site,
                                                "id": PICKS[other_site]}
                    yield f"{part}[{n}] other incident on {site}", forged
            if item["id"] in GRID_IDS:
                forged = copy.deepcopy(body)
                forged[part][n]["value"] = ([other_grid] if isinstance(
                    item["value"], list) else other_grid)
                yield f"{part}[{n}] other grid", forged
        if len(body[part]) > 1:
            forged = copy.deepcopy(body)
            forged[part] = forged[part][::-1]
            yield f"{part} reordered", forged
    if body["inputs"] and isinstance(body["inputs"][0], dict) and \
            body["inputs"][0]["id"] == "_pages_location":
        for path in ("/console", "/wall", "/m", "/analysis", "/"):
            forged = copy.deepcopy(body)
            forged["inputs"][0]["value"] = path
            forged["inputs"][1]["value"] = f"?site={other_site}"
            yield f"page {path} of the other site", forged


CALLERS = {  # name: (site, grid the page would post, what may not leak)
    "admin": ("yaozhai", "G01", ("erqi", ())),
    "sup_comm": ("yaozhai", "G01", ("erqi", ())),
    "analyst": ("yaozhai", "G01", ("erqi", ())),
    "w_g01": ("yaozhai", "G01", ("erqi", ())),
    "vol_rider1": ("yaozhai", "G01", ("erqi", ())),
    "kiosk": ("yaozhai", "G01", ("erqi", ())),
    # people and walls of a unit: yaozhai's street and district hold no
    # part of erqi (whose grids lie in three other districts)
    "street_sup": ("yaozhai", "G01", ("erqi", ())),
    "district_analyst": ("yaozhai", "G01", ("erqi", ())),
    "district_kiosk": ("yaozhai", "G01", ("erqi", ())),
    SCOPED: ("erqi", "G01", ("erqi", ("G01", "G05", "G09"))),
    None: ("yaozhai", "G01", ("erqi", ())),
}


UNIT_PEOPLE = {"street_sup": ("supervisor", None, (), "", "st_dashiqiao"),
               "district_analyst": ("analyst", None, (), "", "dist_jinshui")}


def client_for(app, r, name: str | None):
    client = app.server.test_client()
    if name == "kiosk":
        token = kiosk_token(r, PREFIX, "yaozhai")
        assert client.get(f"/wall?site=yaozhai&kiosk={token}").status_code == 302
    elif name == "district_kiosk":
        token = unit_kiosk_token(r, PREFIX, "dist_jinshui")
        assert client.get(f"/wall?kiosk={token}").status_code == 302
    elif name in UNIT_PEOPLE:
        add_account(r, PREFIX, name, *UNIT_PEOPLE[name])
        assert sign_in_client(client, name).status_code == 302
    elif name is not None:
        assert sign_in_client(client, name).status_code == 302
    return client


def test_no_forged_callback_post_reads_another_tenant(app, r, sites):
    """The figure of the closing note: posts sent and leaks (target 0)."""
    sent, leaks, refused = 0, [], 0
    for name, (site, grid, (secret_site, kept_grids)) in CALLERS.items():
        client = client_for(app, r, name)
        sent_before, refused_before = sent, refused
        secret = markers(sites[secret_site], kept_grids)
        other_site = "erqi" if site == "yaozhai" else "yaozhai"
        other_grid = "G02"
        for output, spec in app.callback_map.items():
            body = page_body(output, spec, site, grid)
            for what, posted in [("as the page", body),
                                 *forgeries(body, other_site, other_grid)]:
                response = client.post("/_dash-update-component", json=posted)
                sent += 1
                text = response.get_data(as_text=True)
                if response.status_code in REFUSED:
                    refused += 1
                    if what != "as the page":
                        continue
                    assert response.status_code != 400, (  # the page's own post
                        name, output[:80], text[:200])
                assert response.status_code in (200, 204, *REFUSED), (
                    name, output, what, response.status_code, text[:300])
                found = [m for m in secret if m in text]
                if found:
                    leaks.append((name, output[:60], what, found[:3]))
        if name is None:
            assert refused - refused_before == sent - sent_before, \
                "no session: every post refused"
    print(f"\nforged callback posts: {sent} sent, {refused} refused, "
          f"{len(leaks)} leaked")
    assert not leaks, leaks[:10]


def test_a_renamed_site_id_is_refused_not_answered(app, r):
    """The hole found by hand: ``c-site`` renamed, erqi's value, as sup_comm."""
    client = client_for(app, r, "sup_comm")
    output = next(o for o in app.callback_map if "c-profile.children" in o)
    body = page_body(output, app.callback_map[output], "yaozhai", "G01")
    for item in body["state"]:
        if item["id"] == "c-site":
            item.update(id="anything", value="erqi")
    response = client.post("/_dash-update-component", json=body)
    assert response.status_code == 400
    assert "registered callback" in response.get_json()["error"]
    assert "15100005036" not in response.get_data(as_text=True)


def test_the_page_posts_are_answered_for_the_callers_own_site(app, r):
    """The gate is not simply refusing everything: the console's own post
    for its own site gets the site's grid profile."""
    client = client_for(app, r, "sup_comm")
    output = next(o for o in app.callback_map if "c-profile.children" in o)
    body = page_body(output, app.callback_map[output], "yaozhai", "G01")
    response = client.post("/_dash-update-component", json=body)
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    assert json.loads(response.get_data())["response"]["c-grid-list"]


def test_a_street_supervisor_reads_the_sites_under_the_street_only(app, r):
    """A unit's person through the same gate: yaozhai is under their street,
    erqi is not."""
    client = client_for(app, r, "street_sup")
    output = next(o for o in app.callback_map if "c-profile.children" in o)
    body = page_body(output, app.callback_map[output], "yaozhai", "G01")
    response = client.post("/_dash-update-component", json=body)
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    assert json.loads(response.get_data())["response"]["c-grid-list"]
    body = page_body(output, app.callback_map[output], "erqi", "G01")
    response = client.post("/_dash-update-component", json=body)
    assert response.status_code == 403
    assert "outside your scope" in response.get_json()["error"]


def test_a_grid_scoped_supervisor_gets_no_profile_of_another_grid(app, r, sites):
    client = client_for(app, r, SCOPED)
    output = next(o for o in app.callback_map if "c-profile.children" in o)
    body = page_body(output, app.callback_map[output], "erqi", "G02")
    response = client.post("/_dash-update-component", json=body)
    assert response.status_code == 403
    assert "outside your scope" in response.get_json()["error"]


def test_the_producers_panel_is_among_the_callbacks_checked(app, r, sites):
    """The console's producers panel (issue 13) is generated into the posts
    above like every callback: registered for the console's screen, the
    page's post gets the caller's own devices (a grid-scoped supervisor:
    those of their grids), a wall's kiosk is refused."""
    screens = app.server.extensions["gov_callbacks"]
    output = next(o for o in app.callback_map if "c-p-table.rowData" in o)
    refused = next(o for o in app.callback_map if "c-p-refused.children" in o)
    assert screens[output] == screens[refused] == "console"
    body = page_body(output, app.callback_map[output], "erqi", "G01")
    response = client_for(app, r, SCOPED).post("/_dash-update-component",
                                               json=body)
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    rows = json.loads(response.get_data())["response"]["c-p-table"]["rowData"]
    places = {**sites["erqi"].entrances, **sites["erqi"].parking}
    assert rows and {places[row["device"]].grid for row in rows} <= {
        "G01", "G05", "G09"}
    assert client_for(app, r, "kiosk").post(
        "/_dash-update-component",
        json=page_body(output, app.callback_map[output], "yaozhai", "G01"),
    ).status_code in REFUSED


# -- admins ------------------------------------------------------------------

def _admin_form(target_site: str, fresh: str) -> dict:
    """The form of an admin action aimed at ``target_site``."""
    return {"name": fresh, "role": "supervisor", "site": target_site,
                  "password": "another-password-1", "producer": "forged",
                  "scope": "read", "label": "forged", "grids": ""}


def test_every_admin_action_across_sites_is_refused(app, r, sites):
    """Generated from the admin routes the app registers: the yaozhai admin
    aims each at erqi (and at every site, ``*``); each is refused and
    nothing of erqi changes or shows."""
    from data import accounts
    from data.keys import AuthKeys

    keys = AuthKeys(PREFIX)
    erqi_key, _ = accounts.add_api_key(r, keys, "erqi-counter", "erqi", "read")
    erqi_token, _ = accounts.add_kiosk_token(r, keys, "erqi", "二七大厅")
    assert sign_in_client(app.server.test_client(), "eq_admin").status_code == 302
    erqi_things = {"eq_admin": ("users", "eq_admin"),
                   erqi_key.id: ("api-keys", erqi_key.id),
                   erqi_token.id: ("kiosk-tokens", erqi_token.id)}
    before = (accounts.list_users(r, keys), accounts.list_api_keys(r, keys),
              accounts.list_kiosk_tokens(r, keys))
    client = client_for(app, r, "admin")
    page = client.get("/admin").get_data(as_text=True)
    csrf = page.split('name="csrf" value="')[1].split('"')[0]
    rules = [rule for rule in app.server.url_map.iter_rules()
             if rule.rule.startswith("/admin")]
    assert len(rules) >= 7, [rule.rule for rule in rules]
    tried = 0
    actions = sorted(((method, rule) for rule in rules
                      for method in rule.methods - {"HEAD", "OPTIONS"}),
                     key=lambda a: a[0] != "GET")
    # reads first: later lines of the audit name what this admin typed
    for method, rule in actions:
        if "<" in rule.rule:  # an action on one thing: each of erqi's
            kind = rule.rule.split("/")[2]
            paths = [f"/admin/{kind}/{thing}/revoke"
                     for thing, (k, _) in erqi_things.items() if k == kind]
        else:
            paths = [rule.rule]
        for path in paths:
            for target in ("erqi", "*"):
                fresh = f"forged{tried}"
                form = _admin_form(target, fresh)
                if method == "GET":
                    answer = client.get(path)
                    text = answer.get_data().decode("utf-8-sig")
                    for thing in erqi_things:
                        assert thing not in text, (path, thing)
                    assert "二七大厅" not in text and "erqi-counter" not in text
                    assert "eq_admin" not in text, path
                else:
                    answer = client.post(path, data={**form, "csrf": csrf})
                    assert answer.status_code in (400, 403, 404), (
                        path, target, answer.status_code)
                    assert accounts.get_user(r, keys, fresh) is None
                tried += 1
    taken = client.post("/admin/users", data={  # an erqi name, on yaozhai
        "csrf": csrf, "name": "eq_admin", "role": "admin", "site": "yaozhai",
        "password": "another-password-1"})
    assert taken.status_code == 400
    after = (accounts.list_users(r, keys), accounts.list_api_keys(r, keys),
             accounts.list_kiosk_tokens(r, keys))
    assert after == before, "an admin of yaozhai changed erqi's accounts"
    assert tried >= 14


# -- grid scope --------------------------------------------------------------

KEPT = ("G01", "G05", "G09")  # the scoped supervisor's grids of erqi


def test_the_incidents_api_keeps_to_a_grid_scoped_supervisors_grids(app, r):
    client = client_for(app, r, SCOPED)
    listed = client.get("/api/v1/sites/erqi/incidents").get_json()["incidents"]
    titles = {i["description"] if "description" in i else str(i) for i in listed}
    assert listed and {i["grid"] for i in listed} <= set(KEPT)
    assert not any(f"{SECRET_TITLE}G02" in text for text in titles)
    other = [i for i in r.zrange(Keys(PREFIX, "erqi").incidents_all, 0, -1)
             if '"G02"' in (r.get(Keys(PREFIX, "erqi").incident(i)) or "")]
    assert other
    one = client.get(f"/api/v1/sites/erqi/incidents/{other[0]}")
    assert one.status_code == 404
    assert client.get("/api/v1/sites/erqi/incidents?grid=G02").get_json()[
        "incidents"] == []
    assert client.get("/api/v1/sites/yaozhai/incidents").status_code == 403


def test_exports_keep_to_a_grid_scoped_supervisors_grids(app, r):
    client = client_for(app, r, SCOPED)
    name = client.get("/api/v1/sites/erqi/export").get_json()["charts"][0]["name"]
    chart = client.get(f"/api/v1/sites/erqi/export/{name}.csv?grids=G02")
    assert chart.status_code == 403
    assert "outside your scope" in chart.get_json()["error"]
    briefing = client.get("/api/v1/sites/erqi/briefing/2024-05-06.pdf")
    assert briefing.status_code == 403  # a page of every grid of the site
    whole = client_for(app, r, "eq_admin").get(
        "/api/v1/sites/erqi/briefing/2024-05-06.pdf")
    assert whole.status_code != 403


def test_casting_is_refused_outside_a_supervisors_grids(app, r):
    client = client_for(app, r, SCOPED)
    keys = Keys(PREFIX, "erqi")
    outside = next(i for i in r.zrange(keys.incidents_all, 0, -1)
                   if '"G02"' in (r.get(keys.incident(i)) or ""))
    inside = next(i for i in r.zrange(keys.incidents_all, 0, -1)
                  if '"G05"' in (r.get(keys.incident(i)) or ""))
    output = next(o for o in app.callback_map
                  if "c-flash.children" in o
                  and app.callback_map[o]["inputs"][0]["id"] == "c-cast-incident")
    spec = app.callback_map[output]
    for incident, refused in ((outside, True), (inside, False)):
        body = page_body(output, spec, "erqi", "G01")
        body["inputs"][0]["value"] = 1
        body["state"][1]["value"] = incident
        answer = client.post("/_dash-update-component", json=body)
        assert answer.status_code == 200
        text = json.dumps(answer.get_json(), ensure_ascii=False)
        assert ("不在您的管辖范围内" in text) is refused, text[:300]
    assert inside in (r.get(keys.cast) or "")  # the one in scope was cast


# -- every route of a site ------------------------------------------------------

PATH_VALUES = {"day": "2024-05-06", "name": "people.csv", "fmt": "csv",
               "stream": "crowd", "incident_id": str(uuid.uuid4())}
MOMENT = "2026-05-01T19:42:00+08:00"
QUERY = {"at": MOMENT, "start": MOMENT, "end": "2026-05-01T19:47:00+08:00",
         "every": "10"}
KIOSKS = ("kiosk", "district_kiosk")


def site_routes(app) -> list[tuple[str, str, bool]]:
    """(method, path for erqi, whether it is the replay's) of every route
    the app registers that takes a site: in its path (``<site_id>``) or in
    its query (the replay page's routes, ``?site=``)."""
    found = []
    for rule in app.server.url_map.iter_rules():
        takes_site = "site_id" in rule.arguments or rule.rule.startswith("/replay/")
        if not takes_site:
            continue
        path = rule.rule
        for arg in rule.arguments:
            value = "erqi" if arg == "site_id" else PATH_VALUES[arg]
            path = re.sub(rf"<(?:\w+:)?{arg}>", value, path)
        query = dict(QUERY, **({} if "site_id" in rule.arguments
                               else {"site": "erqi"}))
        path += "?" + urlencode(query)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            found.append((method, path, "/replay" in rule.rule))
    return found


def test_every_route_of_a_site_refuses_another_sites_callers(app, r, sites):
    """Generated from the routes the app registers: each route that takes a
    site, asked for erqi by every caller of yaozhai (and of the units above
    it), is refused and shows nothing of erqi; a kiosk's wall is refused
    every replay route, of its own site too."""
    routes = site_routes(app)
    paths = {path.split("?")[0] for _, path, _ in routes}
    assert {"/replay/clip.png", "/api/v1/sites/erqi/replay/clip.png",
            "/replay/export.png", "/events/erqi"} <= paths, paths
    secret = markers(sites["erqi"])
    tried = 0
    for name, (site, _, _) in CALLERS.items():
        if site != "yaozhai":
            continue
        client = client_for(app, r, name)
        for method, path, replay in routes:
            answer = client.open(path, method=method, json={})
            text = answer.get_data(as_text=True)
            to_sign_in = answer.status_code == 302 and name is None and \
                answer.headers["Location"].startswith("/login")
            assert answer.status_code in REFUSED or to_sign_in, (
                name, method, path, answer.status_code, text[:200])
            assert not [m for m in secret if m in text], (name, path)
            tried += 1
            if replay and name in KIOSKS:
                own = path.replace("erqi", "yaozhai")
                assert client.open(own, method=method, json={}).status_code in (
                    401, 403), (name, own)
    print(f"\nsite routes: {len(routes)}, requests refused: {tried}")


def test_a_person_of_some_grids_has_no_whole_site_view(app, r):
    """The wall, the snapshot and the replay show every grid's incidents,
    titles and places: their pages, stream, callbacks and API refuse a
    supervisor limited to some grids, who keeps the console of those (a
    replay kept of that moment would show the other grids, as the snapshot
    does now); a supervisor of the whole site has them."""
    scoped = client_for(app, r, SCOPED)
    at = urlencode({"at": MOMENT})
    for path in ("/wall", "/wall?site=erqi", "/events/erqi?wall=1",
                 "/replay?site=erqi", f"/replay/frame?site=erqi&{at}",
                 "/api/v1/sites/erqi/snapshot",
                 f"/api/v1/sites/erqi/replay?{at}"):
        assert scoped.get(path).status_code == 403, path
    assert scoped.get("/console?site=erqi").status_code == 200
    whole = client_for(app, r, "sup_comm")
    assert whole.get("/wall?site=yaozhai").status_code == 200
    assert whole.get("/api/v1/sites/yaozhai/snapshot").status_code == 200
    assert whole.get("/replay?site=yaozhai").status_code == 200


def test_the_home_page_offers_a_person_of_some_grids_no_view_of_the_site_whole(
        app, r):
    """The home page's card of a site: for a supervisor limited to some
    grids, no link to the wall or the snapshot (both refuse them) and no
    figures of the site whole; the console is there. A supervisor of the
    whole site gets the figures and every link."""
    output = next(o for o in app.callback_map if "home-live.children" in o)

    def card(name: str, site: str) -> str:
        body = page_body(output, app.callback_map[output], site, "G01")
        answer = client_for(app, r, name).post("/_dash-update-component", json=body)
        assert answer.status_code == 200, answer.get_data(as_text=True)[:300]
        return json.dumps(answer.get_json(), ensure_ascii=False)

    scoped = card(SCOPED, "erqi")
    assert "/console?site=erqi" in scoped
    for absent in ("/wall?", "/snapshot", "home-people-present",
                   "home-incidents-open"):
        assert absent not in scoped, absent
    whole = card("sup_comm", "yaozhai")
    for present in ("/wall?site=yaozhai", "/console?site=yaozhai",
                    "/api/v1/sites/yaozhai/snapshot", "home-incidents-open"):
        assert present in whole, present


def test_no_route_of_its_site_shows_a_grid_scoped_supervisor_other_grids(
        app, r, sites):
    """Generated from the routes the app registers: each route that takes a
    site, asked for erqi by a supervisor of three of its grids, answers a
    refusal or nothing of the other grids (their incidents' titles, their
    people's phones). An event stream is opened and closed, not read."""
    secret = markers(sites["erqi"], CALLERS[SCOPED][2][1])
    client = client_for(app, r, SCOPED)
    leaks, tried = [], 0
    for method, path, _ in site_routes(app):
        for asked in (path, path + "&wall=1") if path.startswith("/events/") \
                else (path,):
            answer = client.open(asked, method=method, json={}, buffered=False)
            tried += 1
            if answer.mimetype == "text/event-stream":
                answer.close()
                assert "wall=1" not in asked, asked  # the wall's: refused
                continue
            text = answer.get_data(as_text=True)
            found = [m for m in secret if m in text]
            if found:
                leaks.append((method, asked, answer.status_code, found[:3]))
    print(f"\nsite routes as a grid-scoped supervisor: {tried}, leaks {len(leaks)}")
    assert not leaks, leaks
