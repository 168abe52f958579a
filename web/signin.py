"""Sign-in and sign-out pages (server-rendered, no script).

The forms carry a per-session CSRF token; a failed sign-in says only that the
name or password is wrong (never which), costs the same time either way
(``data.accounts.verify_password``) and is limited as OWASP's authentication
cheat sheet advises, without letting anyone lock a person out:

- per address, every attempt (``LOGIN_LIMITS``);
- per name *and* address, failed attempts only (``NAME_LIMIT``): refused
  beyond it, so one client cannot guess on and on, while the person, from
  their own device, still signs in;
- per name from anywhere, failed attempts (:func:`backoff`): never a refusal,
  a growing delay before the answer, so guessing from many addresses is slow
  and the right password from a new client still works.

The name is counted as the account lookup reads it (:func:`login_name`), so
a leading space does not start a fresh count. The limits are the factory's to
apply (``limiter.limit(...)(signin)``): every POST of :data:`signin` is a
sign-in; signing out is a blueprint of its own, :data:`signout`, not counted.
"""

from __future__ import annotations

import hmac
import secrets
import time
from urllib.parse import urlparse

from flask import Blueprint, Response, redirect, render_template, request, session
from flask_login import current_user, login_user, logout_user

from data import accounts
from layouts.i18n import t
from web.auth import SessionUser, audit_log, auth_keys, client_address, landing
from web.pages import request_lang
from web.state import app_state

signin = Blueprint("signin", __name__)
signout = Blueprint("signout", __name__)
LOGIN_LIMITS = ("10 per minute", "60 per hour")  # per address
NAME_LIMIT = "5 per minute;20 per hour"  # failures per name and address
BACKOFF_FREE = 10  # failures of a name (from anywhere) before any delay
BACKOFF_WINDOW_S = 900
BACKOFF_MAX_S = 5.0


def login_name() -> str:
    """The name of a sign-in form, as the account lookup reads it."""
    return request.form.get("name", "").strip()[:40]


def name_and_address() -> str:
    """The key of the per-name limit: a name tried from one client address."""
    return f"name:{login_name()}@{client_address()}"


def failed(response: Response) -> bool:
    return response.status_code == 401


def backoff_delay(failures: int) -> float:
    """Seconds to wait before answering, after ``failures`` recent failed
    sign-ins of one name from anywhere: none for the first BACKOFF_FREE,
    then doubling from 0.25 s up to BACKOFF_MAX_S."""
    over = failures - BACKOFF_FREE
    return 0.0 if over <= 0 else min(BACKOFF_MAX_S, 0.25 * 2 ** (over - 1))


def backoff(name: str) -> None:
    """Slow down (never refuse) a sign-in of a name many have failed on."""
    count = app_state().redis.get(auth_keys().signin_failures(name))
    delay = backoff_delay(int(count or 0))
    if delay:
        time.sleep(delay)


def count_failure(name: str) -> None:
    key = auth_keys().signin_failures(name)
    with app_state().redis.pipeline() as pipe:
        pipe.incr(key)
        pipe.expire(key, BACKOFF_WINDOW_S)
        pipe.execute()


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


def _page(error: str | None = None, status: int = 200) -> tuple[str, int]:
    lang = request_lang()
    return render_template(
        "login.html", t=t, lang=lang, error=error, csrf=csrf_token(),
        next=safe_next(request.values.get("next")),
        name=request.form.get("name", "")), status


@signin.get("/login")
def login_form():
    return _page()


@signin.post("/login")
def login():
    lang = request_lang()
    if not csrf_ok():
        return _page(t("auth.expired", lang), 400)
    name = login_name()
    password = request.form.get("password", "")
    state = app_state()
    backoff(name)
    account = accounts.verify_password(state.redis, auth_keys(), name, password)
    if account is None:
        count_failure(name)
        known = accounts.get_user(state.redis, auth_keys(), name) if name else None
        audit_log("sign-in", name, "failed", "wrong name or password", who=name or "-",
            site=(known.site or "") if known else "")
        return _page(t("auth.wrong", lang), 401)
    sid = accounts.open_session(state.redis, auth_keys(), account,
                                state.config.session_hours * 3600,
                                client_address())
    session.clear()
    session.permanent = True
    login_user(SessionUser(sid, account))
    audit_log("sign-in", name, "ok", account.role, who=name, site=account.site or "")
    target = safe_next(request.form.get("next"))
    return redirect(landing(account) if target == "/" else target)


@signout.get("/logout")
def logout_form():
    lang = request_lang()
    return render_template("logout.html", t=t, lang=lang, csrf=csrf_token(),
                           who=current_user.account.display
                           if current_user.is_authenticated else None)


@signout.post("/logout")
def logout():
    if not csrf_ok():
        return _page(t("auth.expired", request_lang()), 400)
    if current_user.is_authenticated:
        accounts.close_session(app_state().redis, auth_keys(), current_user.sid)
        account = current_user.account
        audit_log("sign-out", account.name, who=account.name, site=account.site or "")
    logout_user()
    session.clear()
    lang = request_lang()
    return redirect("/login" + (f"?lang={lang}" if lang == "en" else ""))


def too_many(_error) -> tuple[str, int]:
    if request.path.startswith("/login"):
        return _page(t("auth.too_many", request_lang()), 429)
    return {"error": "too many requests; slow down and retry shortly",
            "status": 429}, 429
