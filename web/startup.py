"""What ``python app.py`` tells a person at start-up: where to go next.

A short table: each screen's address with one demo sign-in that opens it (the
wall's with a kiosk token, no sign-in), and where the embedded Redis listens.
Every demo account and its password go to a file under the data folder
(mode 0600), named in one line; the Redis URL is in ``<data>/redis/url``,
so scripts and docs can say ``redis-cli -u "$(cat var/redis/url)"``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import redis

from data.accounts import (
    Account,
    add_kiosk_token,
    list_kiosk_tokens,
    revoke_kiosk_token,
)
from data.config import Config
from data.keys import AuthKeys
from data.redis_conn import URL_FILE

ACCOUNTS_FILE = "demo-accounts.txt"
KIOSK_LABEL = "demo (scripts/run)"
# (screen, path, role that opens it), in the order shown
SCREENS = (("console", "/console", "supervisor"), ("phone", "/m", "worker"),
           ("analysis", "/analysis", "analyst"), ("admin", "/", "admin"))


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by its owner only (0600)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        os.fchmod(handle.fileno(), 0o600)  # also when it existed before
        handle.write(text)


def demo_kiosk_tokens(r: redis.Redis, keys: AuthKeys, sites: Iterable[str]
                      ) -> dict[str, str]:
    """A fresh wall token per site; the previous demo start's are revoked."""
    for cred in list_kiosk_tokens(r, keys):
        if cred.label == KIOSK_LABEL and cred.revoked is None:
            revoke_kiosk_token(r, keys, cred.id)
    return {site: add_kiosk_token(r, keys, site, KIOSK_LABEL)[1] for site in sites}


def wall_address(base: str, site: str, token: str) -> str:
    return f"{base}/wall?site={site}&kiosk={token}"


def accounts_text(base: str, made: list[tuple[Account, str]],
                  kiosks: dict[str, str]) -> str:
    lines = ["# Demo sign-in (new passwords at each start; GOV_DEMO=0 makes none).",
             f"# Sign in at {base}/login; each lands on its own screen.", "",
             "# walls (kiosk token in the address, no sign-in)"]
    lines += [f"{site:<10} {wall_address(base, site, token)}"
              for site, token in kiosks.items()]
    lines += ["", f"# {'site':<8} {'role':<10} {'name':<26} {'password':<14} person"]
    for account, password in sorted(made, key=lambda m: (m[0].site or "",
                                                         m[0].role, m[0].name)):
        lines.append(f"{account.site or '*':<10} {account.role:<10} "
                     f"{account.name:<26} {password:<14} {account.display}")
    return "\n".join(lines) + "\n"


def pick(made: list[tuple[Account, str]], site: str, role: str
         ) -> tuple[Account, str] | None:
    """One account of ``role``, of ``site`` if it has one."""
    fits = [m for m in made if m[0].role == role]
    return next((m for m in fits if m[0].site == site), fits[0] if fits else None)


def banner(config: Config, *, redis_url: str | None, embedded: bool,
           made: list[tuple[Account, str]] | None = None,
           kiosks: dict[str, str] | None = None, accounts_file: Path | None = None,
           seeding_days: int = 0) -> list[str]:
    """The lines printed at start-up."""
    base = f"http://{config.host}:{config.port}"
    lines = [f"Command center on {base}/  (sites: {', '.join(config.sites)}; "
             f"demo feed: {'on' if config.demo else 'off'}). Ctrl-C stops."]
    site = config.default_site
    if kiosks and site in kiosks:
        lines.append(f"  {'wall':<9} {wall_address(base, site, kiosks[site])}")
    for screen, path, role in SCREENS if made else ():
        found = pick(made, site, role)
        if found is not None:
            lines.append(f"  {screen:<9} {base + path:<32} sign in: "
                         f"{found[0].name} / {found[1]}")
    if embedded and redis_url:
        url_file = config.data_dir / "redis" / URL_FILE
        lines.append(f"  {'redis':<9} {redis_url:<32} "
                     f"redis-cli -u \"$(cat {url_file})\"")
    if accounts_file is not None:
        lines.append(f"Every demo account, password and wall address: {accounts_file}")
    if seeding_days:
        lines.append(f"Writing {seeding_days} days of demo history in the "
                     "background (log lines \"demo history: …\").")
    return lines
