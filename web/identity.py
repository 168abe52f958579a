"""Who is acting on a site: the signed-in account, as a user of that site.

The browser names nothing here: the session cookie carries a random session
id, the server looks the account up in Redis on every request
(``web/auth.py``) and :func:`data.accounts.site_user` gives its role and
grid scope on the site asked about — None if the account is not on it. Every
op still passes through :func:`data.incidents.lifecycle.authorize`.
"""

from __future__ import annotations

from data.accounts import site_user
from data.site import Site, User
from web.auth import principal
from web.state import app_state


def current_user(site: Site) -> User | None:
    """The signed-in person acting on ``site``, or None (kiosk walls too)."""
    caller = principal()
    if caller is None or caller.account is None:
        return None
    return site_user(caller.account, site, app_state().units.root)


def sees_personal_data() -> bool:
    """True for callers whose role needs reporters' names and phone numbers."""
    caller = principal()
    return bool(caller and caller.sees_personal_data)
