"""A unit's own past: its figures as they stood at the end of a day.

The roll-up (:mod:`data.units.rollup`) copies a unit's figures into a hash
of the local day (``UnitKeys.day``) each time it adds into them, and once a
day when nothing moved; the copy of a day that is over is the unit's
figures at its end (the last change of that day). Kept
:data:`~data.units.rollup.DAY_KEEP_S`. A street's or district's wall
compares each unit with itself (重在纵向对比): now against the same weekday
last week and the same date last month. A day with no copy (before the
chain was kept, or a unit new since) has no figures: the wall shows "—",
never a guess.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import redis

from data.keys import UnitKeys
from data.redis_conn import as_text

PAST = ("week", "month")  # the comparisons, in the order shown


def past_days(today: date) -> dict[str, str]:
    """``week``: the same weekday a week before; ``month``: the same date a
    month before (the month's last day when it has no such date), as
    ``YYYYMMDD``."""
    year, month = (today.year, today.month - 1) if today.month > 1 else (
        today.year - 1, 12)
    day = min(today.day, calendar.monthrange(year, month)[1])
    return {"week": (today - timedelta(days=7)).strftime("%Y%m%d"),
            "month": date(year, month, day).strftime("%Y%m%d")}


def local_today(now_ms: int, tz: ZoneInfo) -> date:
    return datetime.fromtimestamp(now_ms / 1000, tz).date()


def read_days(r: redis.Redis, prefix: str, units: Iterable[str],
              days: Iterable[str]) -> dict[tuple[str, str], dict[str, int]]:
    """(unit, day) -> the unit's figures at the end of ``day`` ({} when none
    were kept), in one round trip."""
    asked = [(u, d) for u in units for d in days]
    pipe = r.pipeline(transaction=False)
    for unit, day in asked:
        pipe.hgetall(UnitKeys(prefix, unit).day(day))
    return {key: {as_text(k): int(v) for k, v in raw.items()}
            for key, raw in zip(asked, pipe.execute(), strict=True)}
