"""The admin page: users, API keys, kiosk tokens and the audit log.

Server-rendered forms (no script) behind the gate's ``admin`` check, each
carrying the session's CSRF token; every change is written to the audit log.
A new key or token is shown on the page that made it, once.
"""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint, Response, render_template, request

from data import accounts, audit
from data.accounts import AccountError
from layouts.i18n import lang_of, t
from web.auth import auth_keys, log, principal
from web.signin import csrf_ok, csrf_token
from web.state import app_state

admin = Blueprint("admin", __name__, url_prefix="/admin")
AUDIT_ROWS = 200


def when(ms: int | str | None) -> str:
    if not ms:
        return ""
    return datetime.fromtimestamp(int(ms) / 1000).strftime("%Y-%m-%d %H:%M:%S")


def _lang() -> str:
    return lang_of(request.args.get("lang") or request.form.get("lang"))


def _page(message: str | None = None, error: str | None = None,
          status: int = 200) -> tuple[str, int]:
    state, keys = app_state(), auth_keys()
    return render_template(
        "admin.html", t=t, lang=_lang(), csrf=csrf_token(), when=when,
        message=message, error=error, roles=accounts.ROLES, scopes=accounts.SCOPES,
        levels=accounts.LEVELS,
        sites=list(state.sites), users=accounts.list_users(state.redis, keys),
        api_keys=accounts.list_api_keys(state.redis, keys),
        kiosk_tokens=accounts.list_kiosk_tokens(state.redis, keys),
        audit=audit.read(state.redis, keys, AUDIT_ROWS)), status


@admin.get("")
def page():
    return _page()


def _act(action: str, target: str, work) -> tuple[str, int]:
    lang = _lang()
    if not csrf_ok():
        return _page(error=t("auth.expired", lang), status=400)
    try:
        shown = work()
    except AccountError as exc:
        log(action, target, "refused", str(exc))
        return _page(error=t("auth.failed", lang, why=str(exc)), status=400)
    log(action, target)
    return _page(message=shown or t("auth.done", lang, what=f"{action} {target}"))


def _field(name: str) -> str:
    return request.form.get(name, "").strip()


def _served(site: str) -> str:
    if site not in app_state().sites:
        raise AccountError(f"site: {site!r} is not served here")
    return site


@admin.post("/users")
def add_user():
    name = _field("name")

    def work() -> None:
        site = _served(_field("site")) if _field("site") else None
        own = principal().site
        if own is not None and site != own:
            raise AccountError(f"site: an admin of {own} makes accounts of {own} only")
        grids = tuple(g.strip() for g in _field("grids").split(",") if g.strip())
        accounts.add_user(app_state().redis, auth_keys(), name, _field("role"),
                          request.form.get("password", ""), site=site, grids=grids,
                          max_level=_field("max_level") or None,
                          display=_field("display"))
    return _act("user:add", name, work)


@admin.post("/users/<name>/revoke")
def revoke_user(name: str):
    return _act("user:revoke", name,
                lambda: accounts.revoke_user(app_state().redis, auth_keys(), name)
                and None)


@admin.post("/api-keys")
def add_api_key():
    producer, site = _field("producer"), _field("site")

    def work() -> str:
        _, secret = accounts.add_api_key(app_state().redis, auth_keys(), producer,
                                         _served(site), _field("scope"))
        return t("auth.shown_once", _lang(), secret=secret)
    return _act("api-key:add", f"{producer}@{site}", work)


@admin.post("/api-keys/<key_id>/revoke")
def revoke_api_key(key_id: str):
    return _act("api-key:revoke", key_id,
                lambda: accounts.revoke_api_key(app_state().redis, auth_keys(),
                                                key_id) and None)


@admin.post("/kiosk-tokens")
def add_kiosk_token():
    site = _field("site")

    def work() -> str:
        _, secret = accounts.add_kiosk_token(app_state().redis, auth_keys(),
                                             _served(site), _field("label"))
        url = f"{request.host_url}wall?site={site}&kiosk={secret}"
        return t("auth.wall_link", _lang(), url=url)
    return _act("kiosk-token:add", site, work)


@admin.post("/kiosk-tokens/<token_id>/revoke")
def revoke_kiosk_token(token_id: str):
    return _act("kiosk-token:revoke", token_id,
                lambda: accounts.revoke_kiosk_token(app_state().redis, auth_keys(),
                                                    token_id) and None)


@admin.get("/audit.csv")
def audit_csv():
    log("audit:export", "audit.csv")
    body = audit.to_csv(audit.all_lines(app_state().redis, auth_keys()))
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return Response(body, mimetype="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="audit-{stamp}.csv"'})
