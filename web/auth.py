"""Who is asking, and the gate every request passes.

Three kinds of caller: a person signed in (flask-login over a server-side
session, see ``data/accounts.py``), a wall with a kiosk token (shown once in
the URL, then kept as a device cookie), and another system with an API key
(``Authorization: Bearer …``, JSON API only). :func:`gate` runs before every
request and decides from the path alone what the caller must be; Dash
callbacks are checked by the screen they belong to and by the site they ask
about, so a forged ``/_dash-update-component`` post is refused before any
callback runs — and logged.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import redis
from flask import Flask, Response, current_app, g, jsonify, redirect, request
from flask_login import LoginManager, UserMixin, current_user

from data import accounts, audit
from data.accounts import Account, Credential
from data.durable import NotReplicated
from data.keys import AuthKeys
from web.pages import forbidden
from web.state import app_state
from web.tenant import Refusal, callback_scope, sees_whole_site, units_of

SCREEN_ROLES: dict[str, frozenset[str]] = {
    "home": frozenset({"admin", "supervisor", "worker", "analyst"}),
    "wall": frozenset({"wall", "admin", "supervisor", "analyst"}),
    "console": frozenset({"admin", "supervisor"}),
    "mobile": frozenset({"admin", "supervisor", "worker", "volunteer"}),
    "analysis": frozenset({"admin", "supervisor", "analyst"}),
    "replay": frozenset({"admin", "supervisor", "analyst"}),  # never a kiosk
    "admin": frozenset({"admin"}),
}
PAGE_SCREENS = {"/": "home", "/wall": "wall", "/console": "console", "/m": "mobile",
                "/analysis": "analysis", "/replay": "replay"}
OPEN_PREFIXES = ("/assets/", "/_dash-component-suites/", "/login", "/logout")
OPEN_PATHS = frozenset({"/_favicon.ico", "/api/v1/openapi.json", "/favicon.ico",
                        "/theme.css"})
KIOSK_COOKIE = "gov_kiosk"
KIOSK_DAYS = 400
PAGES_CALLBACK = "_pages_"  # Dash's own page routing: any caller


@dataclass(frozen=True)
class Principal:
    """The caller of one request."""

    kind: str  # "user", "kiosk" or "key"
    name: str
    role: str  # an account's role, "wall" for a kiosk, "key:<scope>"
    site: str | None  # None: every site; "" none of its own (a unit's)
    account: Account | None = None
    credential: Credential | None = None
    unit: str | None = None  # a unit's credential: that unit and under it
    reach: frozenset[str] = frozenset()  # ... and the sites wholly under it

    def on_site(self, site_id: str | None) -> bool:
        if self.unit is not None:
            return site_id in self.reach
        return self.site is None or self.site == site_id

    def may(self, screen: str) -> bool:
        return self.role in SCREEN_ROLES.get(screen, ())

    @property
    def sees_personal_data(self) -> bool:
        return self.kind == "user" and self.role in ("supervisor", "admin")


class SessionUser(UserMixin):
    """flask-login's user: the session id is the id the cookie carries."""

    def __init__(self, sid: str, account: Account) -> None:
        self.sid, self.account = sid, account

    def get_id(self) -> str:
        return self.sid


def auth_keys() -> AuthKeys:
    return AuthKeys(app_state().config.prefix)


def client_address() -> str:
    return request.remote_addr or "-"


def _unit_scope(unit: str | None) -> dict[str, Any]:
    """A unit credential's unit and the sites under it; a unit no longer
    above the sites served reaches nothing."""
    if unit is None:
        return {}
    return {"unit": unit, "reach": app_state().unit_sites.get(unit, frozenset())}


def principal() -> Principal | None:
    """The signed-in person or the kiosk wall of this request (not API keys)."""
    if "gov_principal" in g:
        return g.gov_principal
    found = None
    if current_user.is_authenticated:
        account = current_user.account
        found = Principal("user", account.name, account.role, account.site,
                          account=account, **_unit_scope(account.unit))
    else:
        token = request.cookies.get(KIOSK_COOKIE)
        cred = accounts.find_kiosk_token(app_state().redis, auth_keys(), token) \
            if token else None
        if cred is not None:
            found = Principal("kiosk", f"kiosk:{cred.id}", "wall", cred.site,
                              credential=cred, **_unit_scope(cred.unit))
    g.gov_principal = found
    return found


def stream_credential() -> tuple[str, str] | None:
    """What a long event stream of this request ends with (see
    :mod:`web.credentials`): its session, ``("user", sid)``, or kiosk token,
    ``("kiosk", token)``; None if nobody is signed in."""
    caller = principal()
    if caller is None:
        return None
    if caller.kind == "user":
        return "user", current_user.sid
    return "kiosk", request.cookies.get(KIOSK_COOKIE, "")


def api_principal() -> Principal | None:
    """The caller of a JSON API request: a session, or a Bearer API key."""
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        cred = accounts.find_api_key(app_state().redis, auth_keys(),
                                     header[7:].strip())
        if cred is None:
            return None
        return Principal("key", f"key:{cred.producer}", f"key:{cred.scope}",
                         cred.site, credential=cred, **_unit_scope(cred.unit))
    found = principal()
    return found if found is not None and found.kind == "user" else None


def audit_log(action: str, target: str = "", outcome: str = "ok", detail: str = "",
        who: str | None = None, site: str | None = None) -> None:
    """An audit line, under the site it concerns (by default the caller's);
    a refusal of nobody signed in is throttled (:func:`audit.record_anonymous`)."""
    caller = (g.get("gov_api_caller") or principal()) if who is None else None
    if site is None:
        site = (caller.site if caller else None) or ""
    state = app_state()
    if who is None and caller is None and outcome != "ok":
        audit.record_anonymous(state.redis, auth_keys(), action, target, outcome,
                               client_address(), detail, site,
                               state.config.audit_maxlen)
        return
    audit.record(state.redis, auth_keys(),
                 who or (caller.name if caller else "-"), action, target,
                 outcome, client_address(), detail, site=site,
                 maxlen=state.config.audit_maxlen)


def _json_refusal(status: int, message: str) -> tuple[Response, int]:
    return jsonify({"error": message, "status": status}), status


def _callback_gate(callbacks: dict[str, dict], callback_screens: dict[str, str]):
    body = request.get_json(silent=True)
    body = body if isinstance(body, dict) else {}
    output = str(body.get("output", ""))
    caller = principal()
    screen = callback_screens.get(output)
    spec = callbacks.get(output)
    if caller is None:
        audit_log("callback", output[:120], "refused", "no session")
        return _json_refusal(401, "sign in first")
    if spec is None or (screen is None and not output.startswith(
            f"..{PAGES_CALLBACK}") and output != f"{PAGES_CALLBACK}dummy.children"):
        audit_log("callback", output[:120], "refused", "unknown callback")
        return _json_refusal(403, "unknown callback")
    if screen is not None and not caller.may(screen):
        audit_log("callback", output[:120], "refused",
                  f"role {caller.role} on {screen}")
        return _json_refusal(403, f"role {caller.role} may not use the {screen} "
                                  "screen")
    try:
        tenant = callback_scope(caller, body, spec, app_state().sites,
                                app_state().units)
        if screen in WHOLE_SITE_SCREENS and tenant.grids:
            raise Refusal(403, WHOLE_SITE)
    except Refusal as refusal:
        audit_log("callback", output[:120], "refused", refusal.message)
        return _json_refusal(refusal.status, refusal.message)
    return None


WHOLE_SITE = ("the wall, the snapshot and the replay show the whole site: not "
              "for a person limited to some grids")
# the screens that show a site whole (the page gate; the home page's links)
WHOLE_SITE_SCREENS = frozenset({"wall", "replay"})
# the JSON API's views of a site whole (/api/v1/sites/<site>/<what>...)
WHOLE_SITE_API = frozenset({"snapshot", "replay"})


API_READERS = frozenset({"admin", "supervisor", "analyst", "worker", "key:read"})
REPORTERS = frozenset({"admin", "supervisor", "worker", "volunteer"})
OPEN_API = frozenset({"/api/v1/openapi.json", "/api/v1/health"})


def _api_gate(path: str):
    """Session or Bearer key; ``read`` for data, ``ingest`` for feeds."""
    if path in OPEN_API:
        return None
    caller = api_principal()
    g.gov_api_caller = caller
    if caller is None:
        if request.headers.get("Authorization"):
            audit_log("api", path, "refused", "unknown or revoked key", who="-")
        response, status = _json_refusal(
            401, "sign in, or send an API key: Authorization: Bearer KEY")
        response.headers["WWW-Authenticate"] = 'Bearer realm="gov"'
        return response, status
    parts = path.split("/")  # "", "api", "v1", "sites", site, what, ...
    site = parts[4] if len(parts) > 4 and parts[3] == "sites" else None
    what = parts[5] if len(parts) > 5 else ""
    if site is not None and not caller.on_site(site):
        return _json_refusal(403, f"site {site} is outside this caller's scope")
    if what in WHOLE_SITE_API and not sees_whole(caller, site):
        return _json_refusal(403, WHOLE_SITE)
    if what == "feeds":
        need, allowed = "ingest", caller.role == "key:ingest"
    elif what == "reports":
        need, allowed = "report", caller.kind == "user" and caller.role in REPORTERS
    else:
        need, allowed = "read", caller.role in API_READERS
    if not allowed:
        audit_log("api", path, "refused", f"{caller.role} lacks {need}")
        return _json_refusal(403, f"this caller lacks the {need} right")
    return None


def api_caller() -> Principal | None:
    """The caller the gate let through on this API request."""
    return g.get("gov_api_caller")


LANDING = {"volunteer": "/m", "worker": "/m", "supervisor": "/console",
           "analyst": "/analysis", "admin": "/"}


def landing(account: Account) -> str:
    """Where a person lands after signing in with no page asked for."""
    path = LANDING.get(account.role, "/")
    return f"{path}?site={account.site}" if account.site and path != "/" else path


def _sign_in_redirect() -> Response:
    target = request.full_path if request.query_string else request.path
    return redirect("/login?" + urlencode({"next": target}))


def _kiosk_arrival() -> Response | None:
    """``/wall?kiosk=TOKEN``: check it, keep it as a device cookie, drop it
    from the address bar (so it is not left in history or screenshots)."""
    token = request.args.get("kiosk")
    if not token:
        return None
    cred = accounts.find_kiosk_token(app_state().redis, auth_keys(), token)
    if cred is None:
        audit_log("kiosk", request.path, "refused", "unknown or revoked token", who="-")
        return Response("kiosk token not valid (revoked?)", 403,
                        mimetype="text/plain")
    args = {k: v for k, v in request.args.items() if k != "kiosk"}
    if cred.site:
        args.setdefault("site", cred.site)
    elif cred.unit and "site" not in args:  # a unit's token: the unit's wall
        args.setdefault("unit", cred.unit)
    response = redirect(request.path + "?" + urlencode(args))
    response.set_cookie(KIOSK_COOKIE, token, max_age=KIOSK_DAYS * 86400,
                        httponly=True, samesite="Lax",
                        secure=app_state().config.cookie_secure)
    audit_log("kiosk", cred.site, "ok", f"wall {cred.id} {cred.label}",
        who=f"kiosk:{cred.id}")
    return response


def gate() -> Any:
    """Run before every request: None lets it through, else the refusal."""
    path = request.path
    if path.startswith(OPEN_PREFIXES) or path in OPEN_PATHS:
        return None
    if path.startswith("/api/"):
        return _api_gate(path)
    if path == "/_dash-update-component":
        extensions = current_app.extensions
        return _callback_gate(extensions["gov_callback_map"],
                              extensions["gov_callbacks"])
    arrival = _kiosk_arrival() if path == "/wall" else None
    if arrival is not None:
        return arrival
    caller = principal()
    if path.startswith(("/_dash-", "/_reload-hash", "/events/", "/photos/")):
        if caller is None:
            return _json_refusal(401, "sign in first")
        if path.startswith("/events/unit/"):
            if not may_reach_unit(caller, path.split("/")[3]) or \
                    not may_stream(caller) or request.args.get("wall") is None:
                return _json_refusal(403, "that unit is outside your scope")
            return None
        if path.startswith(("/events/", "/photos/")):
            site = path.split("/")[2]
            if not caller.on_site(site) or (path.startswith("/photos/")
                                            and caller.kind != "user"):
                return _json_refusal(403, "that site is outside your scope")
        if path.startswith("/events/") and not may_stream(caller):
            return _json_refusal(403, f"role {caller.role} may not follow "
                                      "this stream")
        if path.startswith("/events/") and request.args.get("wall") is not None \
                and not sees_whole(caller, site):
            return _json_refusal(403, WHOLE_SITE)
        return None
    if caller is None:
        return _sign_in_redirect()
    screen = ("admin" if path.startswith("/admin")
              else "replay" if path.startswith("/replay/") else PAGE_SCREENS.get(path))
    if screen is not None and not caller.may(screen):
        return forbidden(screen)
    site = request.args.get("site")
    if site and not caller.on_site(site):
        return forbidden(screen or "home")
    if screen in WHOLE_SITE_SCREENS and request.args.get("unit") is None and \
            not sees_whole(caller, site or caller.site or ""):
        return forbidden(screen)
    unit = request.args.get("unit")
    if unit is not None and not may_reach_unit(caller, unit):
        return forbidden(screen or "home")
    return None


def sees_whole(caller: Principal, site_id: str) -> bool:
    """Whether ``caller`` may have a view of site ``site_id`` whole — its
    wall (page, stream, callbacks), its snapshot, its replay: not a person
    limited to some grids of it (:func:`web.tenant.sees_whole_site`)."""
    site = app_state().sites.get(site_id)
    return site is None or sees_whole_site(caller, site)


def may_reach_unit(caller: Principal, unit: str) -> bool:
    """Whether ``caller`` may see ``unit`` (a unit served here): a unit's
    credential reaches its unit and those below it, a site's none."""
    tree = app_state().units
    reachable = units_of(caller, tree)
    return unit in tree and (reachable is None or unit in reachable)


# Who may hold an event stream: a wall's stream carries the wall; the plain
# one tells the console and the phone that their site moved.
STREAM_SCREENS = ("console", "mobile")


def may_stream(caller: Principal) -> bool:
    if request.args.get("wall") is not None:
        return caller.may("wall")
    return any(caller.may(screen) for screen in STREAM_SCREENS)


def install(server: Flask, callbacks: dict[str, dict],
            callback_screens: dict[str, str]) -> None:
    """Sessions, the gate and security headers for one app."""
    manager = LoginManager()
    manager.session_protection = "basic"
    manager.init_app(server)

    @manager.user_loader
    def _load(sid: str) -> SessionUser | None:
        account = accounts.session_user(app_state().redis, auth_keys(), sid)
        return SessionUser(sid, account) if account is not None else None

    server.extensions["gov_callbacks"] = callback_screens
    server.extensions["gov_callback_map"] = callbacks
    server.before_request(gate)
    server.register_error_handler(redis.RedisError, _redis_down)


def _redis_down(exc: redis.RedisError):
    """Sessions, tokens and keys live in Redis: without it nobody is known."""
    logging.getLogger(__name__).warning("redis error on %s: %r", request.path, exc)
    message = "the data service (Redis) is unavailable; retry shortly"
    if isinstance(exc, NotReplicated):  # written, not yet safe: ask again
        return jsonify({"error": str(exc), "status": 503,
                        "detail": "NotReplicated"}), 503, {"Retry-After": "1"}
    if request.path.startswith(("/api/", "/_dash-", "/events/")):
        return jsonify({"error": message, "status": 503,
                        "detail": type(exc).__name__}), 503
    return Response(message, 503, mimetype="text/plain",
                    headers={"Retry-After": "5"})


def callbacks_by_screen(callback_map: dict, before: set[str], screen: str,
                        into: dict[str, str]) -> None:
    """Remember which screen registered the callbacks added since ``before``."""
    for output in set(callback_map) - before:
        into[output] = screen


def caller_key() -> str:
    """Rate-limit key: the signed-in person, else the address."""
    caller = principal()
    return f"user:{caller.name}" if caller else f"ip:{client_address()}"
