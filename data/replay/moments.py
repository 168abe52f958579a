"""Moments as people and addresses write them (ISO 8601) and as the records
hold them (epoch ms)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

MAX_CLIP_MINUTES = 60  # the longest range a clip of the replay covers


class BadMoment(ValueError):
    """A value that is not a moment; the message names the parameter."""


def parse_moment(name: str, raw: str | None, tz: str) -> int:
    """Epoch ms of the ISO 8601 moment ``raw`` (a time without an offset is
    the site's local time; a ``+`` that a query string turned into a space
    is taken back)."""
    if not raw:
        raise BadMoment(f"{name}: required, an ISO 8601 moment "
                        "(2026-05-01T19:42:00+08:00)")
    try:
        moment = datetime.fromisoformat(raw.strip().replace(" ", "+"))
    except ValueError:
        raise BadMoment(f"{name}={raw[:40]!r}: not an ISO 8601 moment "
                        "(2026-05-01T19:42:00+08:00)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(tz))
    # a moment must also be one the site's clock can write back: 0001-01-01
    # at +00:01 is year 0 there (schemathesis found it: a 500)
    if not 2000 <= moment.year <= 9998:
        raise BadMoment(f"{name}={raw[:40]!r}: not a moment of this service "
                        "(years 2000 to 9998)")
    return int(moment.timestamp() * 1000)


def iso(ms: int, tz: str) -> str:
    """``ms`` in the site's local time, to the millisecond."""
    return datetime.fromtimestamp(ms / 1000, ZoneInfo(tz)).isoformat(
        timespec="milliseconds")
