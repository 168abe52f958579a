"""Who may do what, tried over HTTP the way a hostile client would.

Pages, JSON API and forged ``/_dash-update-component`` posts for every role,
replayed sessions after sign-out, revoked keys and kiosk tokens, sign-in
throttling, the audit trail and the account command line — against a real
Redis and the real app.
"""

from __future__ import annotations

import json
import time
import uuid

import pytest
from click.testing import CliRunner

from data import accounts, audit
from data.accounts import AccountError
from data.clock import now_ms
from data.config import load_config
from data.feed.aggregator import Aggregator
from data.keys import AuthKeys, Keys
from data.redis_conn import connect
from tests.auth import (
    PASSWORD,
    api_key,
    csrf_of,
    kiosk_token,
    sign_in_client,
    sign_out_client,
)
from tests.common import PREFIX, SITES

AUTH = AuthKeys(PREFIX)
PHONE = "13912345678"


def client_as(app, name: str | None):
    client = app.server.test_client()
    if name is not None:
        assert sign_in_client(client, name).status_code == 302
    return client




@pytest.fixture
def agg(raw, tiny):
    return Aggregator(raw, {"tiny": tiny}, PREFIX, snapshot_interval_ms=1)


def fold(agg) -> None:
    agg.step(block_ms=50)
    agg.step(block_ms=1)


def report(r, agg, grid: str = "G2") -> str:
    """An incident reported through the stream, folded by a real aggregator."""
    incident = str(uuid.uuid4())
    r.xadd(Keys(PREFIX, "tiny").stream("incident"), {
        "v": "1", "src": "hotline", "op": "report", "id": incident,
        "ts": str(now_ms()), "category": "sanitation", "level": "2",
        "title": "楼道堆物", "grid": grid, "reporter": "张三丰", "phone": PHONE})
    fold(agg)
    return incident


def status_of(r, incident: str) -> str:
    return json.loads(r.get(Keys(PREFIX, "tiny").incident(incident)))["status"]


# -- pages -------------------------------------------------------------------

PAGES = ("/", "/wall", "/console", "/m", "/analysis", "/admin")
ALLOWED = {
    "adm": PAGES,
    "sup": ("/", "/wall", "/console", "/m", "/analysis"),
    "w1": ("/", "/m"),
    "vol": ("/m",),
    "ana": ("/", "/wall", "/analysis"),
}


@pytest.mark.parametrize("user", sorted(ALLOWED))
def test_each_role_opens_exactly_its_screens(app, user):
    client = client_as(app, user)
    for page in PAGES:
        status = client.get(f"{page}?site=tiny").status_code
        assert status == (200 if page in ALLOWED[user] else 403), (user, page)


def test_without_a_session_every_page_asks_to_sign_in(app):
    client = client_as(app, None)
    for page in PAGES:
        response = client.get(page)
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/login?next=")
    assert client.get("/_dash-layout").status_code == 401
    assert client.get("/events/tiny").status_code == 401


def test_sign_in_refuses_a_wrong_password_and_never_says_which_part(app):
    client = client_as(app, None)
    wrong_pw = sign_in_client(client, "sup", "not-the-password")
    no_user = sign_in_client(client, "nobody", PASSWORD)
    assert wrong_pw.status_code == no_user.status_code == 401
    assert "用户名或密码错误" in wrong_pw.get_data(as_text=True)
    assert "用户名或密码错误" in no_user.get_data(as_text=True)


def test_sign_in_goes_only_to_a_path_on_this_server(app):
    client = app.server.test_client()
    page = client.get("/login").get_data(as_text=True)
    csrf = page.split('name="csrf" value="')[1].split('"')[0]
    response = client.post("/login", data={
        "name": "sup", "password": PASSWORD, "csrf": csrf,
        "next": "https://evil.example/"})
    assert response.headers["Location"] == "/console?site=tiny"  # the landing


def test_each_role_lands_on_its_own_screen(app):
    for name, place in (("w1", "/m?site=tiny"), ("vol", "/m?site=tiny"),
                        ("ana", "/analysis?site=tiny"), ("adm", "/")):
        response = sign_in_client(app.server.test_client(), name)
        assert response.headers["Location"] == place, name


def test_sign_in_without_the_form_token_is_refused(app):
    client = app.server.test_client()
    response = client.post("/login", data={"name": "sup", "password": PASSWORD})
    assert response.status_code == 400
    assert client.get("/console?site=tiny").status_code == 302


def test_sign_in_is_throttled_per_name(app):
    client = client_as(app, None)
    codes = [sign_in_client(client, "sup", f"guess-{n}-wrong").status_code
             for n in range(7)]
    assert codes[:5] == [401] * 5 and codes[5:] == [429, 429]
    # the right password is refused too while the name is throttled
    response = sign_in_client(client, "sup")
    assert response.status_code == 429
    assert "尝试次数过多" in response.get_data(as_text=True)


def test_only_what_is_limited_counts_against_a_limit(app):
    """Signing in, reporting and feeding are counted; signing out, reading a
    page or the OpenAPI document are not (X-RateLimit-* says which is)."""
    client = client_as(app, "sup")
    counted = client.post("/api/v1/sites/tiny/reports", json={})
    assert counted.headers["X-RateLimit-Limit"] == "30"
    csrf = csrf_of(client.get("/logout").get_data(as_text=True))
    for free in (client.get("/login"), client.get("/api/v1/openapi.json"),
                 client.get("/logout"), client.post("/logout", data={"csrf": csrf})):
        assert "X-RateLimit-Limit" not in free.headers
    assert "X-RateLimit-Limit" in sign_in_client(client, "sup").headers


def test_security_headers(app):
    response = client_as(app, "sup").get("/console?site=tiny")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self' 'sha256-" in csp and "unsafe-inline" not in \
        csp.split("script-src")[1].split(";")[0]
    assert "frame-ancestors 'none'" in csp and "unsafe-eval" not in csp
    assert response.headers["X-Frame-Options"] == "DENY"
    cookie = client_as(app, None).post("/login").headers.get("Set-Cookie", "")
    assert "HttpOnly" in cookie or cookie == ""


# -- the JSON API ------------------------------------------------------------

def test_api_needs_a_session_or_a_key_with_the_right_scope(app, r):
    anonymous = app.server.test_client()
    assert anonymous.get("/api/v1/sites/tiny/incidents").status_code == 401
    read = api_key(r, PREFIX, "tiny", "read")
    ingest = api_key(r, PREFIX, "tiny", "ingest")
    get = lambda key: anonymous.get(  # noqa: E731
        "/api/v1/sites/tiny/incidents", headers={"Authorization": f"Bearer {key}"})
    assert get(read).status_code == 200
    assert get(ingest).status_code == 403
    assert get(read + "x").status_code == 401
    accounts.revoke_api_key(r, AUTH, read.split("_")[1])
    assert get(read).status_code == 401
    assert client_as(app, "vol").get("/api/v1/sites/tiny/incidents").status_code \
        == 403


def test_api_masks_personal_data_unless_the_role_needs_it(app, r, agg):
    incident = report(r, agg)
    path = f"/api/v1/sites/tiny/incidents/{incident}"
    key = api_key(r, PREFIX, "tiny", "read")
    by_key = app.server.test_client().get(
        path, headers={"Authorization": f"Bearer {key}"}).get_json()
    by_analyst = client_as(app, "ana").get(path).get_json()
    by_supervisor = client_as(app, "sup").get(path).get_json()
    for body in (by_key, by_analyst):
        assert body["reporter"] == "张**" and body["phone"] == "139****5678"
    assert by_supervisor["reporter"] == "张三丰" and by_supervisor["phone"] == PHONE


# -- forged callback posts ---------------------------------------------------

def phone_op(incident: str, op: str = "accept") -> dict:
    """What the phone posts when a task button is pressed, written by hand."""
    pressed = {"id": incident, "op": op, "type": "m-act", "at": 1}
    return {
        "output": "m-flash.children",
        "outputs": {"id": "m-flash", "property": "children"},
        "inputs": [{"id": "m-clicked", "property": "data", "value": pressed}],
        "changedPropIds": ["m-clicked.data"],
        "state": [[{"id": {"id": incident, "type": "m-note"}, "property": "value",
                    "value": None}],
                  {"id": "m-site", "property": "data", "value": "tiny"},
                  {"id": "m-lang", "property": "data", "value": "en"}],
    }


def detail_read(incident: str, site: str = "tiny") -> dict:
    """The console's incident panel, asked for by hand."""
    return {
        "output": "..c-detail.children...c-detail-sig.data..",
        "outputs": [{"id": "c-detail", "property": "children"},
                    {"id": "c-detail-sig", "property": "data"}],
        "inputs": [{"id": "c-push", "property": "data", "value": None},
                   {"id": "c-incident", "property": "data", "value": incident}],
        "changedPropIds": ["c-incident.data"],
        "state": [{"id": "c-detail-sig", "property": "data", "value": None},
                  {"id": "c-site", "property": "data", "value": site},
                  {"id": "c-lang", "property": "data", "value": "zh"}],
    }


def post(client, body: dict):
    return client.post("/_dash-update-component", json=body)


def refusals(r) -> list[dict]:
    return [a for a in audit.read(r, AUTH, 50)
            if a["action"] == "callback" and a["outcome"] == "refused"]


def test_forged_callback_without_a_session_changes_nothing_and_is_logged(
        app, r, agg):
    incident = report(r, agg, grid="G1")
    response = post(app.server.test_client(), phone_op(incident))
    assert response.status_code == 401
    assert status_of(r, incident) == "reported"
    assert refusals(r)[0]["detail"] == "no session"


def test_a_lower_role_cannot_use_the_console_callbacks(app, r, agg):
    incident = report(r, agg, grid="G1")
    response = post(client_as(app, "w1"), detail_read(incident))
    assert response.status_code == 403
    assert "张三丰" not in response.get_data(as_text=True)
    assert refusals(r)[0]["detail"] == "role worker on console"


def test_the_console_shows_reporters_to_a_supervisor(app, r, agg):
    incident = report(r, agg, grid="G1")
    response = post(client_as(app, "sup"), detail_read(incident))
    assert response.status_code == 200 and PHONE in response.get_data(as_text=True)


def test_a_callback_asking_about_another_site_is_refused(app, r, agg):
    incident = report(r, agg)
    response = post(client_as(app, "sup"), detail_read(incident, site="erqi"))
    assert response.status_code == 403


def test_a_worker_cannot_act_on_another_grids_incident(app, r, agg):
    incident = report(r, agg, grid="G2")
    response = post(client_as(app, "w1"), phone_op(incident))
    assert response.status_code == 200
    assert "outside" in response.get_data(as_text=True)  # refused, in words
    assert status_of(r, incident) == "reported"
    line = audit.read(r, AUTH, 5)[0]
    assert (line["who"], line["action"], line["outcome"]) == \
        ("w1", "op:accept", "refused")


def test_a_replayed_request_after_sign_out_changes_nothing(app, r, agg):
    incident = report(r, agg, grid="G1")
    client = client_as(app, "w1")
    cookie = client.get_cookie("gov_session")
    sign_out_client(client)
    thief = app.server.test_client()
    thief.set_cookie("gov_session", cookie.value)
    response = post(thief, phone_op(incident))
    assert response.status_code == 401
    assert status_of(r, incident) == "reported"


def test_revoking_a_user_ends_their_sessions_at_once(app, r):
    client = client_as(app, "sup")
    assert client.get("/console?site=tiny").status_code == 200
    accounts.revoke_user(r, AUTH, "sup")
    assert client.get("/console?site=tiny").status_code == 302
    assert sign_in_client(app.server.test_client(), "sup").status_code == 401


def test_a_revoked_account_acts_for_nobody_on_the_stream(app, r, agg):
    incident = report(r, agg, grid="G1")
    accounts.revoke_user(r, AUTH, "sup")
    r.xadd(Keys(PREFIX, "tiny").stream("incident"), {
        "v": "1", "src": "app", "op": "accept", "id": incident,
        "ts": str(now_ms()), "actor": "sup"})
    fold(agg)
    assert status_of(r, incident) == "reported"
    dead = r.xrevrange(Keys(PREFIX, "tiny").dead, count=1)[0][1]
    assert "unknown user" in dead["reason"]


def test_the_checks_of_many_credentials_at_once_answer_as_one_by_one(r):
    """What the web process asks every second for its open streams."""
    for name in ("b1", "b2"):
        accounts.add_user(r, AUTH, name, "admin", PASSWORD)
    account = accounts.get_user(r, AUTH, "b1")
    live, closed, also = (accounts.open_session(r, AUTH, account, 60)
                             for _ in range(3))
    accounts.close_session(r, AUTH, closed)
    b2 = accounts.get_user(r, AUTH, "b2")
    accounts.revoke_user(r, AUTH, "b2")
    other = accounts.open_session(r, AUTH, b2, 60)  # a revoked person's session
    sids = [live, closed, other, also, "", "x" * 101, "no-such-session"]
    assert accounts.live_sessions(r, AUTH, sids) == {live, also} == {
        sid for sid in sids if accounts.session_user(r, AUTH, sid)}
    assert accounts.live_sessions(r, AUTH, []) == set()

    good, gone = kiosk_token(r, PREFIX, "tiny"), kiosk_token(r, PREFIX, "tiny")
    accounts.revoke_kiosk_token(r, AUTH, gone.split("_")[1])
    tokens = [good, gone, good[:-1] + ("A" if good[-1] != "A" else "B"),
              "kt_nothing", "", "kt_" + "x" * 300, good.replace("kt_", "gk_")]
    assert accounts.live_kiosk_tokens(r, AUTH, tokens) == {good} == {
        t for t in tokens if accounts.find_kiosk_token(r, AUTH, t)}


# -- walls -------------------------------------------------------------------

def test_a_kiosk_token_opens_one_sites_wall_read_only(app, r):
    token = kiosk_token(r, PREFIX, "tiny")
    wall = app.server.test_client()
    arrival = wall.get(f"/wall?site=tiny&kiosk={token}")
    assert arrival.status_code == 302 and "kiosk" not in arrival.headers["Location"]
    assert wall.get("/wall?site=tiny").status_code == 200
    assert wall.get("/console?site=tiny").status_code == 403
    assert wall.get("/api/v1/sites/tiny/incidents").status_code == 401
    assert post(wall, detail_read("x")).status_code == 403
    accounts.revoke_kiosk_token(r, AUTH, token.split("_")[1])
    assert wall.get("/wall?site=tiny").status_code == 302
    assert app.server.test_client().get(
        f"/wall?kiosk={token}").status_code == 403


# -- accounts ----------------------------------------------------------------

def test_account_rules(r):
    with pytest.raises(AccountError, match="at least 10"):
        accounts.add_user(r, AUTH, "x1", "admin", "short")
    with pytest.raises(AccountError, match="role"):
        accounts.add_user(r, AUTH, "x1", "king", PASSWORD)
    with pytest.raises(AccountError, match="worker works in named grids"):
        accounts.add_user(r, AUTH, "x1", "worker", PASSWORD, site="tiny")
    accounts.add_user(r, AUTH, "x1", "admin", PASSWORD)
    with pytest.raises(AccountError, match="exists"):
        accounts.add_user(r, AUTH, "x1", "admin", PASSWORD)
    stored = r.hget(AUTH.users, "x1")
    assert PASSWORD not in stored and "$argon2id$" in stored


@pytest.fixture
def cli_env(redis_url, r):
    return {"REDIS_URL": redis_url, "GOV_PREFIX": PREFIX,
            "GOV_SITES_DIR": str(SITES), "GOV_SITES": "tiny"}


def test_command_line_manages_users_keys_and_tokens(cli_env, r):
    from app import cli

    run = CliRunner().invoke
    made = run(cli, ["users", "add", "boss", "--role", "admin", "--site", "*",
                     "--password-stdin"],
               input="a-long-password\n", env=cli_env)
    assert made.exit_code == 0, made.output
    assert accounts.verify_password(r, AUTH, "boss", "a-long-password")
    listed = run(cli, ["users", "list"], env=cli_env)
    assert "boss" in listed.output and "a-long-password" not in listed.output
    key = run(cli, ["api-keys", "add", "hotline", "--site", "tiny", "--scope",
                    "ingest"], env=cli_env)
    secret = key.stdout.strip().splitlines()[-1]
    assert accounts.find_api_key(r, AUTH, secret).producer == "hotline"
    assert secret not in run(cli, ["api-keys", "list"], env=cli_env).output
    token = run(cli, ["kiosk-tokens", "add", "tiny"], env=cli_env)
    kiosk = token.stdout.strip().splitlines()[-1]
    assert accounts.find_kiosk_token(r, AUTH, kiosk).site == "tiny"
    revoked = run(cli, ["kiosk-tokens", "revoke", kiosk.split("_")[1]], env=cli_env)
    assert revoked.exit_code == 0 and accounts.find_kiosk_token(r, AUTH, kiosk) \
        is None
    bad = run(cli, ["users", "add", "x", "--role", "admin", "--site", "tiny",
                    "--password-stdin"], input="short\n", env=cli_env)
    assert bad.exit_code != 0 and "at least 10" in bad.output
    unsaid = run(cli, ["users", "add", "y", "--role", "admin", "--password-stdin"],
                 input="a-long-password\n", env=cli_env)
    assert unsaid.exit_code != 0 and "every site" in unsaid.output
    assert [a["action"] for a in audit.read(r, AUTH, 10)][::-1] == [
        "user:add", "api-keys:add", "kiosk-tokens:add", "kiosk-tokens:revoke"]


def test_admin_page_manages_accounts_and_exports_the_audit_log(app, r):
    admin = client_as(app, "adm")
    page = admin.get("/admin").get_data(as_text=True)
    csrf = page.split('name="csrf" value="')[1].split('"')[0]
    added = admin.post("/admin/users", data={
        "csrf": csrf, "name": "newsup", "role": "supervisor", "site": "tiny",
        "grids": "G1", "password": "another-password"})
    assert added.status_code == 200
    assert accounts.get_user(r, AUTH, "newsup").grids == ("G1",)
    made = admin.post("/admin/kiosk-tokens", data={"csrf": csrf, "site": "tiny",
                                                   "label": "大厅"})
    assert "kiosk=kt_" in made.get_data(as_text=True)
    elsewhere = admin.post("/admin/users", data={
        "csrf": csrf, "name": "boss2", "role": "admin", "site": "*",
        "password": "another-password"})
    assert elsewhere.status_code == 400  # an admin of tiny makes tiny accounts only
    assert "tiny only" in elsewhere.get_data(as_text=True)
    forged = admin.post("/admin/users/newsup/revoke", data={"csrf": "nope"})
    assert forged.status_code == 400 and accounts.get_user(r, AUTH, "newsup")
    csv = admin.get("/admin/audit.csv")
    text = csv.get_data().decode("utf-8-sig")
    assert csv.mimetype == "text/csv" and "user:add" in text and "sign-in" in text
    own = r.xrange(AUTH.site_audit("tiny"))  # what a tiny admin reads, alone
    assert own and all(fields["site"] == "tiny" for _, fields in own)
    assert client_as(app, "sup").get("/admin/audit.csv").status_code == 403


def test_command_line_writes_to_the_embedded_server_the_app_runs(tmp_path):
    from app import cli
    from data.redis_conn import EmbeddedRedis

    running = EmbeddedRedis(tmp_path / "redis", persist=False).start()
    try:
        with pytest.raises(RuntimeError, match="already runs"):
            EmbeddedRedis(tmp_path / "redis").start()  # never two on one file
        env = {"REDIS_URL": "", "GOV_DATA_DIR": str(tmp_path), "GOV_PREFIX": PREFIX,
               "GOV_SITES_DIR": str(SITES), "GOV_SITES": "tiny"}
        made = CliRunner().invoke(cli, ["kiosk-tokens", "add", "tiny"], env=env)
        assert made.exit_code == 0, made.output
        token = made.stdout.strip().splitlines()[-1]
        client = connect(running.url)
        assert accounts.find_kiosk_token(client, AUTH, token).site == "tiny"
        assert (tmp_path / "redis" / "port").read_text() == str(running.port)
    finally:
        running.stop()


def test_dash_is_set_up_before_the_first_request(app):
    """Dash sets itself up at its first request, not thread-safely; requests
    racing it (every wall after a deploy) must not find a half-made app: the
    factory has made that request. The first page served already carries the
    CSP with the pages script's hash, and the pages callback exists."""
    assert any("_pages_content.children" in output for output in app.callback_map)
    client = client_as(app, "sup")
    first = client.get("/console?site=tiny").headers["Content-Security-Policy"]
    assert all(digest in first for digest in app.csp_hashes())
    assert client.get("/m?site=tiny").headers["Content-Security-Policy"] == first


def test_the_embedded_redis_refuses_a_client_without_its_password(tmp_path):
    import redis

    from data.redis_conn import EmbeddedRedis

    server = EmbeddedRedis(tmp_path / "redis", persist=False).start()
    try:
        stranger = redis.Redis(port=server.port, socket_connect_timeout=1)
        with pytest.raises(redis.AuthenticationError):
            stranger.set(AUTH.users, "{}")  # e.g. writing an account
        stranger.close()
        assert connect(server.url).ping()  # the app's URL carries the password
        folder = tmp_path / "redis"
        assert folder.stat().st_mode & 0o777 == 0o700
        for name in ("password", "auth.conf", "url"):
            assert (folder / name).stat().st_mode & 0o777 == 0o600
        assert (folder / "url").read_text().strip() == server.url
        cmdline = open(f"/proc/{server.process.pid}/cmdline", "rb").read()
        assert server.password.encode() not in cmdline
        server.stop()
        assert not (folder / "url").exists()  # only while it runs
        again = EmbeddedRedis(folder, port=server.port, persist=False).start()
        assert again.url == server.url and connect(again.url).ping()
        again.stop()
    finally:
        server.stop()


def test_requests_nobody_signed_in_to_do_not_fill_the_audit_log(app, r):
    stranger = client_as(app, None)
    window = lambda: int(time.time()) // audit.QUIET_WINDOW_S  # noqa: E731
    first = window()
    for n in range(300):
        refused = stranger.post("/_dash-update-component",
                                json={"output": f"x{n}.children", "inputs": []})
        assert refused.status_code == 401
    windows = window() - first + 1  # a line a window: the run may span two
    lines = [line for line in audit.read(r, AUTH, count=1000)
             if line["who"] == "-"]
    assert 1 <= len(lines) <= windows
    assert all(line["action"] == "callback" and line["outcome"] == "refused"
               for line in lines)
    signed_in = client_as(app, "w1")  # signed-in refusals stay one line each
    for _ in range(3):
        signed_in.get("/admin")
    assert len(audit.read(r, AUTH, count=1000)) > 1


def test_the_audit_log_is_capped(r):
    for n in range(3000):
        audit.record(r, AUTH, "adm", "test", str(n), maxlen=1000)
    assert 1000 <= r.xlen(AUTH.audit) < 1200
    assert audit.read(r, AUTH, count=1)[0]["target"] == "2999"  # newest kept
    assert load_config({"REDIS_URL": "redis://x"}).audit_maxlen == 1_000_000
    assert load_config({"REDIS_URL": "redis://x",
                        "GOV_AUDIT_MAXLEN": "5000"}).audit_maxlen == 5000


def client_from(app, address: str):
    client = app.server.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def try_password(client, name: str, password: str):
    csrf = csrf_of(client.get("/login").get_data(as_text=True))
    return client.post("/login", data={"name": name, "password": password,
                                       "csrf": csrf})


def test_the_per_name_limit_counts_the_name_as_the_lookup_reads_it(app):
    guesser = client_from(app, "10.0.0.1")
    for _ in range(5):
        assert try_password(guesser, "w1", "guess").status_code == 401
    for variant in (" w1", "w1 ", "\tw1"):
        assert try_password(guesser, variant, "guess").status_code == 429


def test_nobody_can_lock_a_person_out_by_failing_on_their_name(app):
    guesser = client_from(app, "10.0.0.1")
    for _ in range(5):
        assert try_password(guesser, "w1", "guess").status_code == 401
    assert try_password(guesser, "w1", "guess").status_code == 429
    owner = client_from(app, "10.0.0.2")
    assert try_password(owner, "w1", PASSWORD).status_code == 302


def test_failures_from_many_addresses_slow_a_name_down_without_refusing(app):
    from web.signin import BACKOFF_FREE, backoff_delay

    assert backoff_delay(BACKOFF_FREE) == 0 and backoff_delay(BACKOFF_FREE + 2) > 0
    for n in range(BACKOFF_FREE + 2):
        guesser = client_from(app, f"10.0.1.{n}")
        assert try_password(guesser, "w1", "guess").status_code == 401
    started = time.monotonic()
    owner = client_from(app, "10.0.0.2")
    assert try_password(owner, "w1", PASSWORD).status_code == 302
    assert time.monotonic() - started >= backoff_delay(BACKOFF_FREE + 2) * 0.9
