"""Configuration from environment variables.

Every setting has one place: :class:`Config`. :func:`load_config` reads the
environment, checks each value and raises :class:`ConfigError` with one line
naming the variable when a value is wrong, so start-up stops with a message a
person can act on.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SITES_ROOT = PROJECT_ROOT / "data" / "sites"

_PREFIX_RE = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")


class ConfigError(ValueError):
    """A configuration value is wrong; the message names the variable."""


@dataclass(frozen=True)
class Config:
    """The settings one process runs with (see README, "Configuration")."""

    redis_url: str | None
    prefix: str
    sites: tuple[str, ...]
    demo: bool
    host: str
    port: int
    data_dir: Path
    sites_root: Path = SITES_ROOT
    demo_rate: float = 1.0
    demo_days: int = 30  # history the demo writes on its first start (0: none)
    dedup_seconds: int = 3600
    snapshot_interval_ms: int = 200
    fold_period_ms: int = 3000
    wall_reload_hour: int = 4
    wall_spot_seconds: int = 15
    wall_interrupt_seconds: int = 60  # an urgent event's hold on the spotlight
    producer_late_s: int = 60  # data/feed/producers.py: late after this quiet
    producer_silent_s: int = 600  # ... and silent after this
    device_incident_minutes: int = 15  # a device silent this long: 设备故障
    secret_key: str | None = None
    session_hours: int = 12
    audit_maxlen: int = 1_000_000
    cookie_secure: bool = False
    history_url: str | None = None  # GOV_HISTORY_URL; None: data_dir/history
    replay_days: int = 30  # GOV_REPLAY_DAYS: what the walls showed, kept (0: off)
    ack_replicas: str | int = "auto"  # data/durable.py
    ack_timeout_ms: int = 500
    extra: Mapping[str, str] = field(default_factory=dict)

    @property
    def history(self) -> str | Path:
        """Where the history lives: ``GOV_HISTORY_URL`` or a folder of the data
        (:func:`data.history.store.as_store` opens either)."""
        return self.history_url or self.data_dir / "history"

    @property
    def replay(self) -> Path:
        """Where what the walls were shown is recorded (data.replay)."""
        return self.data_dir / "replay"

    @property
    def site_cache(self) -> Path:
        """Where parsed site files are kept between starts (data.site_cache)."""
        return site_cache_dir(self.data_dir)

    @property
    def default_site(self) -> str:
        return self.sites[0]

    @property
    def embedded(self) -> bool:
        """True when this process starts its own redis-server."""
        return not self.redis_url


def site_cache_dir(data_dir: Path) -> Path:
    return data_dir / "cache" / "sites"


def _available_sites(root: Path) -> list[str]:
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / "site.yaml").is_file())


def _flag(name: str, raw: str) -> bool:
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name}={raw!r}: expected 1 or 0")


def _int(name: str, raw: str, low: int, high: int) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r}: expected a whole number") from None
    if not low <= value <= high:
        raise ConfigError(f"{name}={raw!r}: expected a number from {low} to {high}")
    return value


def _float(name: str, raw: str, low: float, high: float) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r}: expected a number") from None
    if not low <= value <= high:
        raise ConfigError(f"{name}={raw!r}: expected a number from {low} to {high}")
    return value


def _history_url(raw: str) -> str | None:
    """``GOV_HISTORY_URL`` as given, if its form is right: a URL with a scheme
    (``s3://bucket/prefix?endpoint_override=…``, ``file:///srv/history``) or an
    absolute folder. Whether it opens is checked where it is opened, since
    reaching an object store is not a matter of configuration syntax."""
    if not raw:
        return None
    scheme, sep, rest = raw.partition("://")
    if sep and re.fullmatch(r"[a-z][a-z0-9+.-]*", scheme) and rest.strip("/"):
        return raw
    if not sep and Path(raw).expanduser().is_absolute():
        return str(Path(raw).expanduser())
    raise ConfigError(
        f"GOV_HISTORY_URL={raw.split('?', 1)[0]!r}: expected an object store URL "
        "(s3://bucket/prefix?endpoint_override=http://host:9000) or an absolute "
        "folder"
    )


def load_config(env: Mapping[str, str] | None = None) -> Config:
    """Read the configuration from ``env`` (default: ``os.environ``)."""
    env = os.environ if env is None else env
    get = lambda name, default="": env.get(name, default).strip()  # noqa: E731

    redis_url = get("REDIS_URL") or None
    if redis_url and not redis_url.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigError(
            f"REDIS_URL={redis_url!r}: expected redis://host:port/db, rediss:// "
            "or unix://path"
        )

    prefix = get("GOV_PREFIX", "gov")
    if not _PREFIX_RE.match(prefix):
        raise ConfigError(
            f"GOV_PREFIX={prefix!r}: expected 1-32 letters, digits, '_', '.' or '-'"
        )

    sites_root = Path(get("GOV_SITES_DIR") or SITES_ROOT)
    available = _available_sites(sites_root)
    raw_sites = get("GOV_SITES")
    if raw_sites:
        sites = tuple(s.strip() for s in raw_sites.split(",") if s.strip())
        unknown = [s for s in sites if s not in available]
        if not sites or unknown:
            raise ConfigError(
                f"GOV_SITES={raw_sites!r}: no site folder {', '.join(unknown)} "
                f"under {sites_root} (available: {', '.join(available) or 'none'})"
            )
    else:
        sites = tuple(available)
        if not sites:
            raise ConfigError(f"GOV_SITES: no site folders under {sites_root}")

    demo_raw = get("GOV_DEMO")
    demo = _flag("GOV_DEMO", demo_raw) if demo_raw else redis_url is None

    host = get("HOST", "127.0.0.1")
    if not host or any(c.isspace() for c in host):
        raise ConfigError(f"HOST={host!r}: expected a host name or address")
    port = _int("PORT", get("PORT", "8050"), 1, 65535)

    data_dir = Path(get("GOV_DATA_DIR", "./var")).expanduser()
    if data_dir.exists() and not data_dir.is_dir():
        raise ConfigError(f"GOV_DATA_DIR={str(data_dir)!r}: not a directory")

    ack_raw = get("GOV_ACK_REPLICAS", "auto").lower()
    ack_replicas: str | int = (
        "auto" if ack_raw == "auto" else _int("GOV_ACK_REPLICAS", ack_raw, 0, 16))

    return Config(
        redis_url=redis_url,
        prefix=prefix,
        sites=sites,
        demo=demo,
        host=host,
        port=port,
        data_dir=data_dir.resolve(),
        sites_root=sites_root,
        demo_rate=_float("GOV_DEMO_RATE", get("GOV_DEMO_RATE", "1"), 0.01, 1000),
        demo_days=_int("GOV_DEMO_DAYS", get("GOV_DEMO_DAYS", "30"), 0, 400),
        dedup_seconds=_int(
            "GOV_DEDUP_SECONDS", get("GOV_DEDUP_SECONDS", "3600"), 60, 7 * 86400
        ),
        snapshot_interval_ms=_int(
            "GOV_SNAPSHOT_MS", get("GOV_SNAPSHOT_MS", "200"), 50, 10_000
        ),
        fold_period_ms=_int(
            "GOV_FOLD_PERIOD_MS", get("GOV_FOLD_PERIOD_MS", "3000"), 0, 60_000
        ),
        secret_key=get("GOV_SECRET_KEY") or None,
        session_hours=_int("GOV_SESSION_HOURS", get("GOV_SESSION_HOURS", "12"),
                           1, 24 * 30),
        audit_maxlen=_int("GOV_AUDIT_MAXLEN", get("GOV_AUDIT_MAXLEN", "1000000"),
                          1000, 1_000_000_000),
        cookie_secure=_flag("GOV_COOKIE_SECURE", get("GOV_COOKIE_SECURE", "0")),
        history_url=_history_url(get("GOV_HISTORY_URL")),
        replay_days=_int("GOV_REPLAY_DAYS", get("GOV_REPLAY_DAYS", "30"), 0, 400),
        ack_replicas=ack_replicas,
        ack_timeout_ms=_int("GOV_ACK_TIMEOUT_MS", get("GOV_ACK_TIMEOUT_MS", "500"),
                            10, 60_000),
        wall_reload_hour=_int(
            "GOV_WALL_RELOAD_HOUR", get("GOV_WALL_RELOAD_HOUR", "4"), -1, 23
        ),
        wall_spot_seconds=_int(
            "GOV_WALL_SPOT_SECONDS", get("GOV_WALL_SPOT_SECONDS", "15"), 2, 3600
        ),
        wall_interrupt_seconds=_int(
            "GOV_WALL_INTERRUPT_SECONDS", get("GOV_WALL_INTERRUPT_SECONDS", "60"),
            1, 3600),
        producer_late_s=_int("GOV_PRODUCER_LATE_S", get("GOV_PRODUCER_LATE_S",
                                                         "60"), 1, 86_400),
        producer_silent_s=_int("GOV_PRODUCER_SILENT_S",
                               get("GOV_PRODUCER_SILENT_S", "600"), 1, 7 * 86_400),
        device_incident_minutes=_int(
            "GOV_DEVICE_INCIDENT_MINUTES", get("GOV_DEVICE_INCIDENT_MINUTES", "15"),
            1, 7 * 24 * 60),
    )
