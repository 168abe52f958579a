"""Accounts: people who sign in, producers' API keys, walls' kiosk tokens.

All three live in Redis hashes under ``<prefix>:auth:*`` so every web worker
and the aggregator see the same list and a revocation takes effect on the
next request. Passwords are hashed with argon2id (argon2-cffi); keys and
tokens are long random strings of which only a SHA-256 is stored (they carry
256 bits, so a slow hash adds nothing), compared in constant time. A key or
token is shown once, when it is made, and never again.

Sessions are server-side: the signed cookie carries a random session id, and
the record ``<prefix>:auth:session:<sid>`` (with its own expiry) is what makes
it valid, so signing out or revoking a user ends a session even if someone
kept a copy of the cookie.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import redis
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from data.keys import AuthKeys
from data.site import Site, User
from data.terms import CHAIN, PERSON_ROLES, SITE_ROLES, UNIT_ROLES

SCOPES = ("read", "ingest")
MIN_PASSWORD = 10
_NAME = re.compile(r"^[A-Za-z0-9_.-]{2,40}$")
_HASHER = PasswordHasher()
# A hash to verify against when the user does not exist, so that a wrong
# name takes as long as a wrong password.
_DUMMY_HASH = _HASHER.hash(secrets.token_hex(16))


class AccountError(ValueError):
    """A bad account request; the text says what is wrong."""


def _now() -> int:
    return int(time.time() * 1000)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class Account:
    """A person who signs in. ``site`` None: every site (admins, analysts).
    ``unit``: a person of a unit (street, district, city) and what is under
    it; their ``site`` is "" (no site of its own). Which sites a unit takes
    in is the web tier's to say (it knows the tree): here such an account is
    on no site (:meth:`on_site`), and acts on the grids under its unit
    (:func:`site_user`)."""

    name: str
    role: str
    site: str | None = None
    grids: tuple[str, ...] = ()
    max_level: str | None = None
    display: str = ""
    phone: str = ""
    created: int = 0
    revoked: int | None = None
    demo: bool = False  # made by the demo mode; remade at each demo start
    password: str = field(default="", repr=False)
    unit: str | None = None

    def on_site(self, site_id: str) -> bool:
        return (self.revoked is None and self.unit is None
                and self.site in (None, site_id))

    def public(self) -> dict[str, Any]:
        body = asdict(self)
        body.pop("password")
        body["grids"] = list(self.grids)
        return body


def _account(raw: bytes | str | None) -> Account | None:
    if not raw:
        return None
    body = json.loads(raw)
    body["grids"] = tuple(body.get("grids") or ())
    return Account(**body)


def _store(r: redis.Redis, keys: AuthKeys, account: Account) -> None:
    body = asdict(account)
    body["grids"] = list(account.grids)
    r.hset(keys.users, account.name, json.dumps(body, ensure_ascii=False))


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"password: at least {MIN_PASSWORD} characters")


def add_user(r: redis.Redis, keys: AuthKeys, name: str, role: str, password: str,
             *, site: str | None = None, grids: tuple[str, ...] = (),
             max_level: str | None = None, display: str = "", phone: str = "",
             replace: bool = False, demo: bool = False,
             unit: str | None = None) -> Account:
    """Create (or with ``replace`` overwrite) a user; raises AccountError.
    ``unit``: a person of that unit (the caller checks that it exists)."""
    if not _NAME.match(name):
        raise AccountError("name: 2–40 letters, digits, '_', '.' or '-'")
    if role not in PERSON_ROLES:
        raise AccountError(f"role: one of {', '.join(PERSON_ROLES)}")
    if max_level is not None and max_level not in CHAIN:
        raise AccountError(f"max level: one of {', '.join(CHAIN)}")
    if unit is not None:
        if role not in UNIT_ROLES:
            raise AccountError(f"unit: a {role} belongs to a site; a unit has "
                               f"{', '.join(UNIT_ROLES)}")
        if site is not None or grids:
            raise AccountError("unit: a person of a unit has no site or grids")
        site = ""
    if role in SITE_ROLES and site is None:
        raise AccountError(f"site: a {role} belongs to one site")
    if role == "worker" and not grids:
        raise AccountError("grids: a worker works in named grids")
    check_password(password)
    existing = get_user(r, keys, name, include_revoked=True)
    if existing is not None and not replace:
        raise AccountError(f"user {name} exists already")
    account = Account(name=name, role=role, site=site, grids=tuple(grids),
                      max_level=max_level, display=display or name, phone=phone,
                      created=_now(), demo=demo, password=_HASHER.hash(password),
                      unit=unit)
    _store(r, keys, account)
    if existing is not None:
        end_sessions(r, keys, name)
    return account


def demo_users(r: redis.Redis, keys: AuthKeys, sites: dict[str, Site]
               ) -> list[tuple[Account, str]]:
    """For the demo mode only: an account with a fresh random password for
    every person in the sample sites' user lists (never over a real account
    of the same name). Returns each account with its password, to print."""
    made = []
    for site in sites.values():
        for user in site.users.values():
            existing = get_user(r, keys, user.id, include_revoked=True)
            if existing is not None and not existing.demo:
                continue
            password = secrets.token_urlsafe(9)
            made.append((add_user(r, keys, user.id, user.role, password,
                                  site=site.id, grids=user.grids,
                                  display=user.name, replace=True, demo=True),
                         password))
    return made


def get_user(r: redis.Redis, keys: AuthKeys, name: str,
             include_revoked: bool = False) -> Account | None:
    account = _account(r.hget(keys.users, name))
    if account is None or (account.revoked is not None and not include_revoked):
        return None
    return account


def list_users(r: redis.Redis, keys: AuthKeys) -> list[Account]:
    return sorted((a for a in map(_account, r.hvals(keys.users)) if a),
                  key=lambda a: a.name)


def set_password(r: redis.Redis, keys: AuthKeys, name: str, password: str) -> None:
    account = get_user(r, keys, name)
    if account is None:
        raise AccountError(f"no user {name}")
    check_password(password)
    _store(r, keys, replace(account, password=_HASHER.hash(password)))
    end_sessions(r, keys, name)


def revoke_user(r: redis.Redis, keys: AuthKeys, name: str) -> Account:
    """Revoke a user: no more sign-in, every open session ends now."""
    account = get_user(r, keys, name)
    if account is None:
        raise AccountError(f"no active user {name}")
    revoked = replace(account, revoked=_now())
    _store(r, keys, revoked)
    end_sessions(r, keys, name)
    return revoked


def verify_password(r: redis.Redis, keys: AuthKeys, name: str,
                    password: str) -> Account | None:
    """The user if ``password`` is theirs; the same work either way."""
    account = get_user(r, keys, name)
    try:
        _HASHER.verify(account.password if account else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return None
    return account


# -- sessions ---------------------------------------------------------------

def open_session(r: redis.Redis, keys: AuthKeys, account: Account, ttl_s: int,
                 where: str = "") -> str:
    sid = secrets.token_urlsafe(32)
    body = json.dumps({"user": account.name, "created": _now(), "from": where})
    with r.pipeline() as pipe:
        pipe.set(keys.session(sid), body, ex=ttl_s)
        pipe.sadd(keys.user_sessions(account.name), sid)
        pipe.expire(keys.user_sessions(account.name), ttl_s)
        pipe.execute()
    return sid


def session_user(r: redis.Redis, keys: AuthKeys, sid: str) -> Account | None:
    """The (not revoked) user of a live session, or None."""
    if not sid or len(sid) > 100:
        return None
    raw = r.get(keys.session(sid))
    if not raw:
        return None
    return get_user(r, keys, json.loads(raw)["user"])


def live_sessions(r: redis.Redis, keys: AuthKeys, sids: Iterable[str]) -> set[str]:
    """Those of ``sids`` that :func:`session_user` would accept, in two round
    trips for all of them (the open event streams of a web process)."""
    sids = [sid for sid in set(sids) if sid and len(sid) <= 100]
    pipe = r.pipeline(transaction=False)
    for sid in sids:
        pipe.get(keys.session(sid))
    users = {sid: json.loads(raw)["user"]
             for sid, raw in zip(sids, pipe.execute() if sids else [], strict=True)
             if raw}
    names = sorted(set(users.values()))
    found = dict(zip(names, r.hmget(keys.users, names), strict=True)) if names else {}
    return {sid for sid, name in users.items()
            if (account := _account(found[name])) and account.revoked is None}


def close_session(r: redis.Redis, keys: AuthKeys, sid: str) -> None:
    raw = r.getdel(keys.session(sid))
    if raw:
        r.srem(keys.user_sessions(json.loads(raw)["user"]), sid)


def end_sessions(r: redis.Redis, keys: AuthKeys, name: str) -> None:
    sids = r.smembers(keys.user_sessions(name))
    with r.pipeline() as pipe:
        for sid in sids:
            pipe.delete(keys.session(sid.decode() if isinstance(sid, bytes)
                                     else sid))
        pipe.delete(keys.user_sessions(name))
        pipe.execute()


# -- API keys and kiosk tokens --------------------------------------------

@dataclass(frozen=True)
class Credential:
    """An API key (``producer``, ``scope``) or a kiosk token (``label``) of a
    site, or of a ``unit`` (then ``site`` is "")."""

    id: str
    site: str
    scope: str
    producer: str = ""
    label: str = ""
    created: int = 0
    revoked: int | None = None
    digest: str = field(default="", repr=False)
    unit: str | None = None

    def public(self) -> dict[str, Any]:
        body = asdict(self)
        body.pop("digest")
        return body


def _make(r: redis.Redis, hash_key: str, marker: str, **fields: Any
          ) -> tuple[Credential, str]:
    cred_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    cred = Credential(id=cred_id, created=_now(), digest=_digest(secret), **fields)
    r.hset(hash_key, cred_id, json.dumps(asdict(cred), ensure_ascii=False))
    return cred, f"{marker}_{cred_id}_{secret}"


def _find(r: redis.Redis, hash_key: str, marker: str,
          presented: str) -> Credential | None:
    parts = _parts(marker, presented)
    return _valid(r.hget(hash_key, parts[1]), parts[2]) if parts else None


def _parts(marker: str, presented: str) -> list[str] | None:
    """(marker, id, secret) of a presented key or token, if it is shaped as one."""
    parts = (presented or "").strip().split("_", 2)
    if len(parts) != 3 or parts[0] != marker or len(presented) > 200:
        return None
    return parts


def _valid(raw: bytes | str | None, secret: str) -> Credential | None:
    """The stored credential ``raw`` if not revoked and ``secret`` is its own."""
    if not raw:
        return None
    cred = Credential(**json.loads(raw))
    if cred.revoked is not None:
        return None
    if not hmac.compare_digest(cred.digest, _digest(secret)):
        return None
    return cred


def _list(r: redis.Redis, hash_key: str) -> list[Credential]:
    return sorted((Credential(**json.loads(v)) for v in r.hvals(hash_key)),
                  key=lambda c: c.created)


def _revoke(r: redis.Redis, hash_key: str, cred_id: str) -> Credential:
    raw = r.hget(hash_key, cred_id)
    if not raw:
        raise AccountError(f"no key or token with id {cred_id}")
    cred = Credential(**{**json.loads(raw), "revoked": _now()})
    r.hset(hash_key, cred_id, json.dumps(asdict(cred), ensure_ascii=False))
    return cred


def add_api_key(r: redis.Redis, keys: AuthKeys, producer: str, site: str,
                scope: str, unit: str | None = None) -> tuple[Credential, str]:
    """A new key for ``producer`` on ``site`` (or, with ``site`` "", on
    ``unit``: read only, a unit has no feeds); the key itself is returned
    once."""
    if scope not in SCOPES:
        raise AccountError(f"scope: one of {', '.join(SCOPES)}")
    if not _NAME.match(producer):
        raise AccountError("producer: 2–40 letters, digits, '_', '.' or '-'")
    if unit is not None and (site or scope != "read"):
        raise AccountError("scope: a unit's key reads (a unit has no feeds)")
    return _make(r, keys.api_keys, "gk", site=site, scope=scope, producer=producer,
                 unit=unit)


def find_api_key(r: redis.Redis, keys: AuthKeys, presented: str
                 ) -> Credential | None:
    return _find(r, keys.api_keys, "gk", presented)


def list_api_keys(r: redis.Redis, keys: AuthKeys) -> list[Credential]:
    return _list(r, keys.api_keys)


def revoke_api_key(r: redis.Redis, keys: AuthKeys, key_id: str) -> Credential:
    return _revoke(r, keys.api_keys, key_id)


def add_kiosk_token(r: redis.Redis, keys: AuthKeys, site: str,
                    label: str = "", unit: str | None = None
                    ) -> tuple[Credential, str]:
    """A new wall token for ``site`` (or, with ``site`` "", for ``unit``);
    the token itself is returned once."""
    return _make(r, keys.kiosk, "kt", site=site, scope="wall", label=label[:60],
                 unit=unit)


def find_kiosk_token(r: redis.Redis, keys: AuthKeys, presented: str
                     ) -> Credential | None:
    return _find(r, keys.kiosk, "kt", presented)


def live_kiosk_tokens(r: redis.Redis, keys: AuthKeys,
                      presented: Iterable[str]) -> set[str]:
    """Those of ``presented`` that :func:`find_kiosk_token` would accept, in
    one round trip for all of them."""
    parsed = {p: parts for p in set(presented) if (parts := _parts("kt", p))}
    ids = sorted({parts[1] for parts in parsed.values()})
    found = dict(zip(ids, r.hmget(keys.kiosk, ids), strict=True)) if ids else {}
    return {p for p, parts in parsed.items() if _valid(found[parts[1]], parts[2])}


def list_kiosk_tokens(r: redis.Redis, keys: AuthKeys) -> list[Credential]:
    return _list(r, keys.kiosk)


def revoke_kiosk_token(r: redis.Redis, keys: AuthKeys, token_id: str
                       ) -> Credential:
    return _revoke(r, keys.kiosk, token_id)


# -- accounts acting on a site -----------------------------------------------

def site_user(account: Account | None, site: Site,
              city: str | None = None) -> User | None:
    """The account as a user of ``site`` (role and scope from the account,
    name, duty and phone from the site's roster), or None if not on the site.
    A unit's person is a user of the grids of the site under their unit
    (:func:`unit_grids`), acting up to their unit's level; which sites they
    may open is the web tier's to say (those wholly under the unit).
    ``city``: the id of the city above the districts (the tree's root)."""
    if account is None or account.revoked is not None:
        return None
    if account.unit is not None:
        under = unit_grids(site, account.unit, city)
        if not under:
            return None
        # the whole site: () as for a supervisor of the site
        grids = () if len(under) == len(site.grids) else under
    elif not account.on_site(site.id):
        return None
    else:
        grids = tuple(g for g in account.grids if g in site.grids)
        if account.grids and not grids:
            return None  # scoped to grids this site does not have
    roster = site.users.get(account.name)
    default_level = {"admin": "district", "supervisor": "community"}.get(
        account.role, "grid")
    if account.unit is not None and account.role == "supervisor":
        unit = site.units.get(account.unit)  # none: the city above the district
        default_level = unit.level if unit and unit.level in CHAIN else CHAIN[-1]
    return User(
        id=account.name,
        name=account.display or (roster.name if roster else account.name),
        role=account.role,
        grids=grids or (roster.grids if roster else ()),
        duty=roster.duty if roster else account.role,
        phone=account.phone or (roster.phone if roster else ""),
        max_level=account.max_level or (roster.max_level if roster
                                        and account.role == "supervisor"
                                        else default_level),
    )


def unit_grids(site: Site, unit: str, city: str | None = None
               ) -> tuple[str, ...]:
    """The grids of ``site`` under ``unit``, as the site's own files place
    them (each grid names its community, street and district; a district
    names the city above it, or leaves it to ``units.yaml``: ``city``)."""
    def chain(grid: Any) -> tuple[str | None, ...]:
        district = site.units.get(grid.district)
        return (grid.community, grid.street, grid.district,
                (district.parent if district else None) or city)
    return tuple(g.id for g in site.grids.values() if unit in chain(g))


def actor(r: redis.Redis, keys: AuthKeys, site: Site, actor_id: str,
          city: str | None = None) -> User | None:
    """Who an op on the stream names: a stored account decides (a revoked one
    acts for nobody); an id with no account falls back to the site's roster,
    which the site's own configuration vouches for."""
    raw = r.hget(keys.users, actor_id)
    if raw:
        return site_user(_account(raw), site, city)
    return site.users.get(actor_id)
