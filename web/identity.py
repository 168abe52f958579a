"""Who is acting: the user of a site chosen for this browser session.

Until sign-in lands (access-control issue), a person picks themselves from the
site's user list; the choice lives in Flask's signed session cookie, and the
server looks the user up in the site's own list on every request, so a
browser can name a user but never a role or a scope. Every op still passes
through :func:`data.incidents.authorize`.
"""

from __future__ import annotations

from flask import session

from data.site import Site, User


def current_user(site: Site) -> User | None:
    """The user this session acts as on ``site``, or None."""
    chosen = session.get("acting_as") or {}
    return site.users.get(chosen.get(site.id, ""))


def act_as(site: Site, user_id: str | None) -> User | None:
    """Remember that this session acts as ``user_id`` on ``site``."""
    user = site.users.get(user_id or "")
    chosen = dict(session.get("acting_as") or {})
    if user is None:
        chosen.pop(site.id, None)
    else:
        chosen[site.id] = user.id
    session["acting_as"] = chosen
    return user
