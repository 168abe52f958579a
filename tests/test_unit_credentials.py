"""Credentials of a unit (issue 12 item 4): a street's reach its
communities and their sites, not the neighbour street's; made from the
command line like a site's."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from data import accounts
from data.accounts import AccountError
from data.keys import AuthKeys
from tests.auth import (
    add_account,
    sign_in_client,
    unit_api_key,
    unit_kiosk_token,
)
from tests.chain import write_chain_sites
from tests.common import PREFIX
from web.cli import api_keys, kiosk_tokens, users


@pytest.fixture(scope="module")
def chain_dir(tmp_path_factory):
    return write_chain_sites(tmp_path_factory.mktemp("chain"))


@pytest.fixture
def chain_app(make_app, chain_dir):
    return make_app(GOV_SITES_DIR=str(chain_dir), GOV_SITES="")


def with_key(chain_app, key: str):
    client = chain_app.server.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {key}"
    return client


def test_a_streets_key_reads_its_units_and_sites_not_the_neighbours(r, chain_app):
    client = with_key(chain_app, unit_api_key(r, PREFIX, "S1"))
    tree = client.get("/api/v1/units").get_json()["units"]
    assert [u["id"] for u in tree] == ["S1"]
    assert [c["id"] for c in tree[0]["children"]] == ["C1", "C2"]
    for unit in ("S1", "C1", "C2"):
        assert client.get(f"/api/v1/units/{unit}").status_code == 200
    for unit in ("S2", "C3", "D1", "city"):
        assert client.get(f"/api/v1/units/{unit}").status_code == 403
    for site in ("ta", "tb"):
        assert client.get(f"/api/v1/sites/{site}").status_code == 200
        assert client.get(f"/api/v1/sites/{site}/incidents").status_code == 200
    assert client.get("/api/v1/sites/tc").status_code == 403
    assert client.get("/api/v1/sites/tc/incidents").status_code == 403
    # a unit's key reads: it writes no feed of any site under it
    assert client.post("/api/v1/sites/ta/feeds/crowd", json={}).status_code == 403


def test_a_districts_key_reaches_both_streets(r, chain_app):
    client = with_key(chain_app, unit_api_key(r, PREFIX, "D1"))
    assert client.get("/api/v1/units/S2").status_code == 200
    assert client.get("/api/v1/sites/tc").status_code == 200
    assert client.get("/api/v1/units/city").status_code == 403


def test_a_street_supervisor_opens_its_sites_and_not_the_neighbours(r, chain_app):
    client = chain_app.server.test_client()
    add_account(r, PREFIX, "s1-chief", "supervisor", unit="S1")
    assert sign_in_client(client, "s1-chief").status_code == 302
    assert client.get("/console?site=ta").status_code == 200
    assert client.get("/console?site=tb").status_code == 200
    assert client.get("/console?site=tc").status_code == 403
    assert client.get("/api/v1/units/S1").status_code == 200
    assert client.get("/api/v1/units/S2").status_code == 403
    assert client.get("/admin").status_code == 403


def test_a_streets_wall_token_opens_walls_under_it_only(r, chain_app):
    client = chain_app.server.test_client()
    token = unit_kiosk_token(r, PREFIX, "S2")
    assert client.get(f"/wall?kiosk={token}").status_code == 302
    assert client.get("/wall?site=tc").status_code == 200
    assert client.get("/wall?site=ta").status_code == 403
    assert client.get("/events/tc?wall=1").status_code != 403
    assert client.get("/events/ta?wall=1").status_code == 403


def test_a_unit_admin_is_no_admin_of_the_sites_or_of_every_site(r, chain_app):
    client = chain_app.server.test_client()
    add_account(r, PREFIX, "d1-admin", "admin", unit="D1")
    assert sign_in_client(client, "d1-admin").status_code == 302
    assert client.get("/admin").status_code == 403
    assert client.get("/api/v1/units/D1").status_code == 200
    account = accounts.get_user(r, AuthKeys(PREFIX), "d1-admin")
    assert account.site == "" and not account.on_site("ta")


def test_only_supervisors_analysts_and_admins_belong_to_a_unit(r):
    for role in ("worker", "volunteer"):
        with pytest.raises(AccountError, match="belongs to a site"):
            accounts.add_user(r, AuthKeys(PREFIX), "x-unit", role, "password-123",
                              unit="S1")
    with pytest.raises(AccountError, match="a unit's key reads"):
        accounts.add_api_key(r, AuthKeys(PREFIX), "feeder", "", "ingest", unit="S1")


def cli(command, args: list[str], env: dict, stdin: str | None = None):
    return CliRunner().invoke(command, args, env=env, input=stdin)


def test_the_command_line_makes_credentials_of_a_unit(r, redis_url, chain_dir,
                                                      tmp_path):
    env = {"REDIS_URL": redis_url, "GOV_PREFIX": PREFIX, "GOV_SITES": "",
           "GOV_SITES_DIR": str(chain_dir), "GOV_DATA_DIR": str(tmp_path)}
    made = cli(users, ["add", "chief", "--role", "supervisor", "--unit", "S1",
                       "--password-stdin"], env, "a-long-password\n")
    assert made.exit_code == 0, made.output
    assert "unit S1" in made.output
    chief = accounts.get_user(r, AuthKeys(PREFIX), "chief")
    assert (chief.unit, chief.site, chief.max_level) == ("S1", "", "street")
    refused = cli(users, ["add", "ww", "--role", "worker", "--unit", "S1",
                          "--password-stdin"], env, "a-long-password\n")
    assert refused.exit_code != 0 and "belongs to a site" in refused.output
    unknown = cli(users, ["add", "xx", "--role", "analyst", "--unit", "S9",
                          "--password-stdin"], env, "a-long-password\n")
    assert unknown.exit_code != 0 and "S9 is not a unit" in unknown.output
    both = cli(users, ["add", "yy", "--role", "analyst", "--unit", "S1", "--site",
                       "ta", "--password-stdin"], env, "a-long-password\n")
    assert both.exit_code != 0 and "one of the two" in both.output

    key = cli(api_keys, ["add", "dash", "--unit", "D1", "--scope", "read"], env)
    assert key.exit_code == 0, key.output
    [cred] = accounts.list_api_keys(r, AuthKeys(PREFIX))
    assert (cred.unit, cred.site, cred.scope) == ("D1", "", "read")

    wall = cli(kiosk_tokens, ["add", "S2", "--label", "街道大厅"], env)
    site_wall = cli(kiosk_tokens, ["add", "tc"], env)
    assert wall.exit_code == 0 and site_wall.exit_code == 0, wall.output
    tokens = {(t.site, t.unit) for t in accounts.list_kiosk_tokens(r, AuthKeys(PREFIX))}
    assert tokens == {("", "S2"), ("tc", None)}
    listed = cli(users, ["list"], env)
    assert "unit:S1" in listed.output
