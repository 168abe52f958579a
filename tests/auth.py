"""Signing in from tests: accounts, API keys, kiosk tokens, the real forms.

Tests sign in the way people do — through ``/login`` — so the gate, the
session store and CSRF are part of every test that uses a screen.
"""

from __future__ import annotations

import re

import redis

from data import accounts
from data.keys import AuthKeys
from data.site import Site

PASSWORD = "test-password-1"  # tests only; accounts are made per test run


def add_account(r: redis.Redis, prefix: str, name: str, role: str,
                site: str | None = None, grids: tuple[str, ...] = (),
                display: str = "", unit: str | None = None) -> None:
    accounts.add_user(r, AuthKeys(prefix), name, role, PASSWORD, site=site,
                      grids=grids, display=display, replace=True, unit=unit)


def add_roster(r: redis.Redis, prefix: str, site: Site) -> None:
    """An account for every person in the site's user list."""
    for user in site.users.values():
        add_account(r, prefix, user.id, user.role, site.id, user.grids, user.name)


def api_key(r: redis.Redis, prefix: str, site: str, scope: str = "read") -> str:
    return accounts.add_api_key(r, AuthKeys(prefix), "tests", site, scope)[1]


def unit_api_key(r: redis.Redis, prefix: str, unit: str) -> str:
    return accounts.add_api_key(r, AuthKeys(prefix), "tests", "", "read",
                                unit=unit)[1]


def kiosk_token(r: redis.Redis, prefix: str, site: str) -> str:
    return accounts.add_kiosk_token(r, AuthKeys(prefix), site, "tests")[1]


def unit_kiosk_token(r: redis.Redis, prefix: str, unit: str) -> str:
    return accounts.add_kiosk_token(r, AuthKeys(prefix), "", "tests", unit=unit)[1]


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def sign_in_client(client, name: str, password: str = PASSWORD):
    """Sign a Flask test client in through the form; returns the response."""
    csrf = csrf_of(client.get("/login").get_data(as_text=True))
    return client.post("/login", data={"name": name, "password": password,
                                       "csrf": csrf})


def sign_out_client(client) -> None:
    csrf = csrf_of(client.get("/logout").get_data(as_text=True))
    client.post("/logout", data={"csrf": csrf})


def sign_in_page(page, base_url: str, name: str, next_path: str = "/",
                 password: str = PASSWORD) -> None:
    """Sign a Playwright page in through the form and land on ``next_path``."""
    from urllib.parse import quote

    page.goto(f"{base_url}/login?next={quote(next_path, safe='')}")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", password)
    with page.expect_navigation():
        page.click("button[type=submit]")
