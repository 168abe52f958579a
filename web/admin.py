"""The admin page: users, API keys, kiosk tokens and the audit log.

Server-rendered forms (no script) behind the gate's ``admin`` check, each
carrying the session's CSRF token; every change is written to the audit log.
A new key or token is shown on the page that made it, once.

An admin is scoped like everyone else: an admin of a site sees and acts on
the users, keys, tokens and audit lines of that site only; an admin of every
site is an account made explicitly for every site (``*``).
"""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint, Response, render_template, request

from data import accounts, audit
from data.accounts import AccountError
from data.terms import CHAIN, PERSON_ROLES
from layouts.i18n import t
from web.auth import audit_log, auth_keys, principal
from web.pages import request_lang
from web.signin import csrf_ok, csrf_token
from web.state import app_state

admin = Blueprint("admin", __name__, url_prefix="/admin")
AUDIT_ROWS = 200


@admin.before_request
def _no_unit_admins() -> tuple[str, int] | None:
    """An admin of a unit manages its people from the command line for now:
    this page knows sites, not the units above them (issue 12)."""
    caller = principal()
    if caller is not None and caller.unit is not None:
        audit_log("admin", request.path, "refused", f"admin of unit {caller.unit}")
        return t("auth.forbidden", request_lang()), 403
    return None


def when(ms: int | str | None) -> str:
    if not ms:
        return ""
    return datetime.fromtimestamp(int(ms) / 1000).strftime("%Y-%m-%d %H:%M:%S")


ALL_SITES = "*"  # the admin form's explicit choice of every site


def _own() -> str | None:
    """The acting admin's site; None for an admin of every site."""
    return principal().site


def _mine(site: str | None) -> bool:
    return _own() is None or site == _own()


def _page(message: str | None = None, error: str | None = None,
          status: int = 200) -> tuple[str, int]:
    state, keys, own = app_state(), auth_keys(), _own()
    return render_template(
        "admin.html", t=t, lang=request_lang(), csrf=csrf_token(), when=when,
        message=message, error=error, roles=PERSON_ROLES, scopes=accounts.SCOPES,
        levels=CHAIN, every_site=own is None, all_sites=ALL_SITES,
        sites=[s for s in state.sites if _mine(s)],
        users=[u for u in accounts.list_users(state.redis, keys) if _mine(u.site)],
        api_keys=[k for k in accounts.list_api_keys(state.redis, keys)
                  if _mine(k.site)],
        kiosk_tokens=[k for k in accounts.list_kiosk_tokens(state.redis, keys)
                      if _mine(k.site)],
        audit=audit.read(state.redis, keys, AUDIT_ROWS, site=own)), status


@admin.get("")
def page():
    return _page()


def _act(action: str, target: str, work, site: str | None = None
         ) -> tuple[str, int]:
    lang = request_lang()
    if not csrf_ok():
        return _page(error=t("auth.expired", lang), status=400)
    try:
        shown = work()
    except AccountError as exc:
        audit_log(action, target, "refused", str(exc), site=site)
        return _page(error=t("auth.failed", lang, why=str(exc)), status=400)
    audit_log(action, target, site=site)
    return _page(message=shown or t("auth.done", lang, what=f"{action} {target}"))


def _field(name: str) -> str:
    return request.form.get(name, "").strip()


def _served(site: str) -> str:
    """A site this admin may act on: served here, and theirs."""
    if site not in app_state().sites:
        raise AccountError(f"site: {site!r} is not served here")
    if not _mine(site):
        raise AccountError(f"site: an admin of {_own()} acts on {_own()} only")
    return site


def _account_site() -> str | None:
    """The site of a new account: one site, or every site (``*``) chosen
    explicitly by an admin of every site."""
    chosen = _field("site")
    if chosen == ALL_SITES:
        if _own() is not None:
            raise AccountError(f"site: an admin of {_own()} makes accounts of "
                               f"{_own()} only")
        return None
    if not chosen:
        raise AccountError("site: choose a site, or every site (*)")
    return _served(chosen)


@admin.post("/users")
def add_user():
    name = _field("name")

    def work() -> None:
        site = _account_site()
        grids = tuple(g.strip() for g in _field("grids").split(",") if g.strip())
        accounts.add_user(app_state().redis, auth_keys(), name, _field("role"),
                          request.form.get("password", ""), site=site, grids=grids,
                          max_level=_field("max_level") or None,
                          display=_field("display"))
    return _act("user:add", name, work, site=_field("site").strip("*") or None)


def _revoke_user(name: str) -> None:
    state = app_state()
    found = accounts.get_user(state.redis, auth_keys(), name,
                              include_revoked=True)
    if found is None or not _mine(found.site):
        raise AccountError(f"user: no user {name!r} of your site")
    accounts.revoke_user(state.redis, auth_keys(), name)


@admin.post("/users/<name>/revoke")
def revoke_user(name: str):
    return _act("user:revoke", name, lambda: _revoke_user(name))


@admin.post("/api-keys")
def add_api_key():
    producer, site = _field("producer"), _field("site")

    def work() -> str:
        _, secret = accounts.add_api_key(app_state().redis, auth_keys(), producer,
                                         _served(site), _field("scope"))
        return t("auth.shown_once", request_lang(), secret=secret)
    return _act("api-key:add", f"{producer}@{site}", work, site=site)


def _revoke(listed, revoke, cred_id: str, what: str) -> None:
    state = app_state()
    found = next((c for c in listed(state.redis, auth_keys()) if c.id == cred_id),
                 None)
    if found is None or not _mine(found.site):
        raise AccountError(f"{what}: no {what} {cred_id!r} of your site")
    revoke(state.redis, auth_keys(), cred_id)


@admin.post("/api-keys/<key_id>/revoke")
def revoke_api_key(key_id: str):
    return _act("api-key:revoke", key_id, lambda: _revoke(
        accounts.list_api_keys, accounts.revoke_api_key, key_id, "key"))


@admin.post("/kiosk-tokens")
def add_kiosk_token():
    site = _field("site")

    def work() -> str:
        _, secret = accounts.add_kiosk_token(app_state().redis, auth_keys(),
                                             _served(site), _field("label"))
        url = f"{request.host_url}wall?site={site}&kiosk={secret}"
        return t("auth.wall_link", request_lang(), url=url)
    return _act("kiosk-token:add", site, work, site=site)


@admin.post("/kiosk-tokens/<token_id>/revoke")
def revoke_kiosk_token(token_id: str):
    return _act("kiosk-token:revoke", token_id, lambda: _revoke(
        accounts.list_kiosk_tokens, accounts.revoke_kiosk_token, token_id,
        "token"))


@admin.get("/audit.csv")
def audit_csv():
    audit_log("audit:export", "audit.csv")
    own = _own()
    body = audit.to_csv(audit.all_lines(app_state().redis, auth_keys(), own))
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return Response(body, mimetype="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="audit-{stamp}.csv"'})
