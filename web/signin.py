"""Sign-in and sign-out pages (server-rendered, no script), and "no access".

The forms carry a per-session CSRF token; a failed sign-in says only that the
name or password is wrong (never which), costs the same time either way
(``data.accounts.verify_password``) and is rate-limited per address and per
name (flask-limiter, Redis storage, see :func:`limit`).
"""

from __future__ import annotations

import hmac
import secrets
from urllib.parse import urlparse

from flask import Blueprint, Response, redirect, render_template, request, session
from flask_login import current_user, login_user, logout_user

from data import accounts
from layouts.i18n import lang_of, t
from web.auth import SessionUser, auth_keys, client_address, landing, log
from web.state import app_state

signin = Blueprint("signin", __name__)
LOGIN_LIMITS = ("10 per minute", "60 per hour")  # per address
NAME_LIMIT = "5 per minute"  # per name tried, from anywhere


def csrf_token() -> str:
    token = session.get("csrf")
    if not token:
        token = session["csrf"] = secrets.token_urlsafe(24)
    return token


def csrf_ok() -> bool:
    sent = request.form.get("csrf", "")
    return bool(sent) and hmac.compare_digest(sent, session.get("csrf", ""))


def safe_next(target: str | None) -> str:
    """Only a path on this server: never ``//host`` or ``https://elsewhere``."""
    if not target:
        return "/"
    parsed = urlparse(target)
    if parsed.scheme or parsed.netloc or not target.startswith("/") \
            or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _lang() -> str:
    return lang_of(request.args.get("lang") or request.form.get("lang"))


def _page(error: str | None = None, status: int = 200) -> tuple[str, int]:
    lang = _lang()
    return render_template(
        "login.html", t=t, lang=lang, error=error, csrf=csrf_token(),
        next=safe_next(request.values.get("next")),
        name=request.form.get("name", "")), status


@signin.get("/login")
def login_form():
    return _page()


@signin.post("/login")
def login():
    lang = _lang()
    if not csrf_ok():
        return _page(t("auth.expired", lang), 400)
    name = request.form.get("name", "").strip()[:40]
    password = request.form.get("password", "")
    state = app_state()
    account = accounts.verify_password(state.redis, auth_keys(), name, password)
    if account is None:
        known = accounts.get_user(state.redis, auth_keys(), name) if name else None
        log("sign-in", name, "failed", "wrong name or password", who=name or "-",
            site=(known.site or "") if known else "")
        return _page(t("auth.wrong", lang), 401)
    sid = accounts.open_session(state.redis, auth_keys(), account,
                                state.config.session_hours * 3600,
                                client_address())
    session.clear()
    session.permanent = True
    login_user(SessionUser(sid, account))
    log("sign-in", name, "ok", account.role, who=name, site=account.site or "")
    target = safe_next(request.form.get("next"))
    return redirect(landing(account) if target == "/" else target)


@signin.get("/logout")
def logout_form():
    lang = _lang()
    return render_template("logout.html", t=t, lang=lang, csrf=csrf_token(),
                           who=current_user.account.display
                           if current_user.is_authenticated else None)


@signin.post("/logout")
def logout():
    if not csrf_ok():
        return _page(t("auth.expired", _lang()), 400)
    if current_user.is_authenticated:
        accounts.close_session(app_state().redis, auth_keys(), current_user.sid)
        account = current_user.account
        log("sign-out", account.name, who=account.name, site=account.site or "")
    logout_user()
    session.clear()
    return redirect("/login" + (f"?lang={_lang()}" if _lang() == "en" else ""))


def forbidden(screen: str) -> Response:
    lang = _lang()
    body = render_template("forbidden.html", t=t, lang=lang,
                           screen=t(f"auth.screen.{screen}", lang))
    return Response(body, 403)


def too_many(_error) -> tuple[str, int]:
    if request.path.startswith("/login"):
        return _page(t("auth.too_many", _lang()), 429)
    return {"error": "too many requests; slow down and retry shortly",
            "status": 429}, 429
