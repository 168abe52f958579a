"""Command line for accounts: ``python app.py users|api-keys|kiosk-tokens …``.

Works against ``REDIS_URL``, or with no ``REDIS_URL`` against the embedded
server: the one ``python app.py`` is running on the data directory if it is
up, else one started for the command and stopped after it. Keys and tokens
are printed once; passwords are read from standard input
(``--password-stdin``) or asked for without echo, never taken as arguments.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import click
import redis

from data import accounts, audit
from data.accounts import AccountError
from data.config import Config, ConfigError, load_config
from data.keys import AuthKeys
from data.redis_conn import EmbeddedRedis, connect
from data.site import SiteError
from data.terms import CHAIN, PERSON_ROLES
from data.units.tree import UnitTree, tree_of_folders


@contextmanager
def store() -> Iterator[tuple[redis.Redis, AuthKeys, Config]]:
    try:
        config = load_config()
    except ConfigError as exc:
        raise click.ClickException(f"configuration error: {exc}") from None
    embedded = None
    url = config.redis_url or EmbeddedRedis.running_url(config.data_dir / "redis")
    if url is None:
        embedded = EmbeddedRedis(config.data_dir / "redis").start()
        url = embedded.url
    client = connect(url)
    try:
        yield client, AuthKeys(config.prefix), config
    except AccountError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        client.close()
        if embedded is not None:
            embedded.stop()


def _when(ms: int | None) -> str:
    return datetime.fromtimestamp(ms / 1000).strftime("%Y-%m-%d %H:%M") if ms else ""


def _table(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> None:
    if not rows:
        click.echo("(none)")
        return
    widths = {c: max(len(c), *(len(str(r.get(c, ""))) for r in rows))
              for c in columns}
    click.echo("  ".join(c.ljust(widths[c]) for c in columns))
    for row in rows:
        click.echo("  ".join(str(row.get(c, "")).ljust(widths[c]) for c in columns))


def _audit(r: redis.Redis, keys: AuthKeys, action: str, target: str) -> None:
    audit.record(r, keys, "cli", action, target, where="command line")


def _site_check(config: Config, site: str | None, hint: str = "--site") -> None:
    if site is not None and site not in config.sites:
        raise click.BadParameter(f"{site} is not one of {', '.join(config.sites)}",
                                 param_hint=hint)


def _tree(config: Config) -> UnitTree:
    try:
        return tree_of_folders(config.sites_root, config.sites, config.site_cache)
    except SiteError as exc:
        raise click.ClickException(f"site error: {exc}") from None


def _unit_check(config: Config, unit: str, hint: str = "--unit") -> UnitTree:
    """The tree, once ``unit`` is found in it."""
    tree = _tree(config)
    if unit not in tree:
        raise click.BadParameter(f"{unit} is not a unit above the sites served "
                                 "(python app.py units lists them)",
                                 param_hint=hint)
    return tree


def _scope_text(site: str | None, unit: str | None) -> str:
    return f"unit {unit}" if unit else f"site {site or 'all'}"


@click.group()
def users() -> None:
    """People who sign in: add, list, revoke, set a new password."""


@users.command("add")
@click.argument("name")
@click.option("--role", required=True, type=click.Choice(PERSON_ROLES))
@click.option("--site", default=None,
              help="the user's site; '*' for every site (said explicitly)")
@click.option("--unit", default=None,
              help="or the user's unit (street, district, city) and what is "
                   "under it: supervisors, analysts and admins")
@click.option("--grids", default="", help="grid ids in scope, comma separated")
@click.option("--max-level", type=click.Choice(CHAIN), default=None,
              help="highest level a supervisor acts for (default community)")
@click.option("--display", default="", help="full name shown on the screens")
@click.option("--password-stdin", is_flag=True,
              help="read the password from standard input")
def add_user(name: str, role: str, site: str | None, unit: str | None,
             grids: str, max_level: str | None, display: str,
             password_stdin: bool) -> None:
    """Add a user NAME."""
    if (site is None) == (unit is None):
        raise click.UsageError("--site: the user's site, or '*' for every site; "
                               "or --unit: the user's unit (one of the two)")
    site = None if site == "*" else site
    password = _password(password_stdin)
    with store() as (r, keys, config):
        _site_check(config, site)
        if unit is not None:
            level = _unit_check(config, unit)[unit].level
            # a supervisor of a unit acts for its level (the city's: district)
            if role == "supervisor" and max_level is None:
                max_level = level if level in CHAIN else CHAIN[-1]
        scope = tuple(g.strip() for g in grids.split(",") if g.strip())
        account = accounts.add_user(r, keys, name, role, password, site=site,
                                    grids=scope, max_level=max_level,
                                    display=display, unit=unit)
        _audit(r, keys, "user:add", name)
    click.echo(f"user {account.name} added: {account.role}, "
               f"{_scope_text(account.site, account.unit)}, "
               f"grids {','.join(scope) or 'all'}")


def _password(from_stdin: bool) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    elif sys.stdin.isatty():
        password = click.prompt("password", hide_input=True,
                                confirmation_prompt=True)
    else:
        raise click.UsageError("no terminal to ask for a password: "
                               "use --password-stdin")
    try:
        accounts.check_password(password)
    except AccountError as exc:
        raise click.ClickException(str(exc)) from None
    return password


@users.command("list")
def list_users() -> None:
    """List users (revoked ones too)."""
    with store() as (r, keys, _):
        rows = [{**a.public(), "grids": ",".join(a.grids),
                 "site": f"unit:{a.unit}" if a.unit else a.site or "all",
                 "created": _when(a.created), "revoked": _when(a.revoked)}
                for a in accounts.list_users(r, keys)]
    _table(rows, ("name", "display", "role", "site", "grids", "created", "revoked"))


@users.command("revoke")
@click.argument("name")
def revoke_user(name: str) -> None:
    """Revoke user NAME: no more sign-in, open sessions end now."""
    with store() as (r, keys, _):
        accounts.revoke_user(r, keys, name)
        _audit(r, keys, "user:revoke", name)
    click.echo(f"user {name} revoked")


@users.command("password")
@click.argument("name")
@click.option("--password-stdin", is_flag=True)
def set_password(name: str, password_stdin: bool) -> None:
    """Set a new password for NAME (open sessions end)."""
    password = _password(password_stdin)
    with store() as (r, keys, _):
        accounts.set_password(r, keys, name, password)
        _audit(r, keys, "user:password", name)
    click.echo(f"password of {name} changed")


def _credential_group(name: str, what: str, lister: Callable, revoker: Callable,
                      columns: tuple[str, ...]) -> click.Group:
    group = click.Group(name, help=f"{what}: add, list, revoke.")

    @group.command("list")
    def list_all() -> None:
        """List them (revoked ones too); the secrets are never shown again."""
        with store() as (r, keys, _):
            rows = [{**c.public(), "created": _when(c.created),
                     "revoked": _when(c.revoked)} for c in lister(r, keys)]
        _table(rows, columns)

    @group.command("revoke")
    @click.argument("ident")
    def revoke(ident: str) -> None:
        """Revoke the one with id IDENT; it stops working at once."""
        with store() as (r, keys, _):
            revoker(r, keys, ident)
            _audit(r, keys, f"{name}:revoke", ident)
        click.echo(f"{ident} revoked")

    return group


api_keys = _credential_group("api-keys", "API keys of producers and other systems",
                             accounts.list_api_keys, accounts.revoke_api_key,
                             ("id", "producer", "site", "unit", "scope", "created",
                              "revoked"))
kiosk_tokens = _credential_group("kiosk-tokens", "Tokens of wall displays",
                                 accounts.list_kiosk_tokens,
                                 accounts.revoke_kiosk_token,
                                 ("id", "site", "unit", "label", "created",
                                  "revoked"))


@api_keys.command("add")
@click.argument("producer")
@click.option("--site", default=None, help="the key's site")
@click.option("--unit", default=None,
              help="or its unit and what is under it (scope read)")
@click.option("--scope", required=True, type=click.Choice(accounts.SCOPES))
def add_api_key(producer: str, site: str | None, unit: str | None,
                scope: str) -> None:
    """Make a key for PRODUCER; it is printed once."""
    if (site is None) == (unit is None):
        raise click.UsageError("--site or --unit: the key's site, or its unit")
    with store() as (r, keys, config):
        if unit is not None:
            _unit_check(config, unit)
        else:
            _site_check(config, site)
        cred, secret = accounts.add_api_key(r, keys, producer, site or "", scope,
                                            unit=unit)
        where = site or unit
        _audit(r, keys, "api-keys:add", f"{producer}@{where} {cred.id}")
    click.echo(f"key {cred.id} for {producer} on {_scope_text(site, unit)} "
               f"({scope}); shown once, keep it now:", err=True)
    click.echo(secret)


@kiosk_tokens.command("add")
@click.argument("site")
@click.option("--label", default="", help="where the wall hangs")
def add_kiosk_token(site: str, label: str) -> None:
    """Make a token for a wall of SITE: a site id, or a unit id (its walls
    show the sites under it); it is printed once."""
    with store() as (r, keys, config):
        unit = None
        if site not in config.sites:
            _unit_check(config, site, "SITE")
            site, unit = "", site
        cred, secret = accounts.add_kiosk_token(r, keys, site, label, unit=unit)
        _audit(r, keys, "kiosk-tokens:add", f"{site or unit} {cred.id}")
        # a unit's wall opens on a site under it, until units have walls
        query = f"site={site}&" if site else ""
        address = f"http://{config.host}:{config.port}/wall?{query}kiosk="
    click.echo(f"token {cred.id} for a wall of {_scope_text(site, unit)}; shown "
               f"once, open the wall once at {address}<token>:", err=True)
    click.echo(secret)
