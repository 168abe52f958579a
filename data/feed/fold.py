"""Folding a batch of validated feed events into counter increments.

Pure Python, no Redis: :class:`Fold` collects, for one site and one batch, the
increments of every time-bucketed counter, the new people-present figures and
parking readings. The aggregator reads the current state, folds, and writes the
result together with the XACK in one fenced write (data/feed/batch.py).

Counter hashes (fields; ``i`` in, ``o`` out):
``e:<entrance>:i|o`` people at an entrance, ``g:<grid>:i|o`` people into a
grid, ``s:i|o`` people into the site, ``v:<gate>:i|o`` vehicles at a gate,
``vs:i|o`` vehicles into the site.
"""

from __future__ import annotations

import weakref
from collections import Counter
from datetime import datetime, timedelta
from typing import NamedTuple
from zoneinfo import ZoneInfo

from data.feed.check import Tally
from data.feed.contract import ParkingEntry
from data.keys import Keys
from data.site import Site

MINUTE_KEEP_S = 25 * 3600  # 24 h of minute buckets, plus an hour of slack
TENS_KEEP_S = 16 * 60  # 15 minutes of 10-second buckets, plus slack
DAY_KEEP_S = 8 * 86400  # today and the same day a week ago


def local_day(ts_ms: int, tz: ZoneInfo) -> str:
    return datetime.fromtimestamp(ts_ms / 1000, tz).strftime("%Y%m%d")


def baseline_day(ts_ms: int, tz: ZoneInfo, hour: int) -> str:
    """The day whose people-present baseline applies at ``ts_ms``.

    People present is in − out since the last baseline hour (a quiet hour of
    the night), so counter drift never lasts more than a day.
    """
    moment = datetime.fromtimestamp(ts_ms / 1000, tz) - timedelta(hours=hour)
    return moment.strftime("%Y%m%d")


SITE_FIELDS = ("s:i", "s:o")
VEHICLE_FIELDS = ("vs:i", "vs:o")


class EntranceFields(NamedTuple):
    """The counter field names of one entrance (see above)."""

    people: tuple[str, str]  # e:<entrance>:i|o
    vehicles: tuple[str, str]  # v:<entrance>:i|o
    grid: tuple[str, str]  # g:<grid>:i|o, its grid's
    present: str  # g:<grid>, people present in its grid


# per loaded site (a city's entrances are tens of thousands: an LRU of a
# few thousand names missed every time)
_FIELDS: weakref.WeakKeyDictionary[Site, dict[str, EntranceFields]] = \
    weakref.WeakKeyDictionary()


def entrance_fields(site: Site) -> dict[str, EntranceFields]:
    """Every entrance's counter field names, by entrance id, made once per
    loaded site (the fold and the snapshot use them for every entry and
    every build)."""
    fields = _FIELDS.get(site)
    if fields is None:
        fields = _FIELDS[site] = {
            e.id: EntranceFields((f"e:{e.id}:i", f"e:{e.id}:o"),
                                 (f"v:{e.id}:i", f"v:{e.id}:o"),
                                 (f"g:{e.grid}:i", f"g:{e.grid}:o"), f"g:{e.grid}")
            for e in site.entrances.values()}
    return fields


class Fold:
    """Increments for one site and one batch."""

    def __init__(self, site: Site, keys: Keys, present: dict[str, int],
                 parking: dict[str, str], now_ms: int) -> None:
        self.site, self.keys, self.now_ms = site, keys, now_ms
        self.tz = ZoneInfo(site.timezone)
        self._fields = entrance_fields(site)
        self.incr: Counter[tuple[str, str]] = Counter()
        self.expire_at: dict[str, int] = {}
        self.present = present  # "g:<grid>" -> people; changed in place
        self.parking = parking  # "<lot>" -> occupied, "<lot>:ts" -> ts
        self.parking_changed = False
        self.present_changed = False
        self._days: dict[int, str] = {}  # hour -> day, a cache for the hot path
        self._minutes: dict[int, tuple[str, int]] = {}  # minute -> local day, minute
        self._bucket_cache: dict[int, list[str]] = {}  # 10-s slot -> its buckets
        self.minutes: set[int] = set()  # the minute buckets added to
        self._crowd: dict[tuple[int, str], list[int]] = {}  # (slot, entrance) -> in/out
        self._gates: dict[tuple[int, str], list[int]] = {}

    def _day(self, ts: int) -> str:
        hour = ts // 3_600_000
        day = self._days.get(hour)
        if day is None:
            day = self._days[hour] = local_day(ts, self.tz)
        return day

    def _buckets(self, ts: int) -> list[str]:
        """The counter hashes an event at ``ts`` adds to (those still kept)."""
        tens = ts // 10_000
        found = self._bucket_cache.get(tens)
        if found is None:
            found = self._bucket_cache[tens] = self._buckets_of(ts)
        return found

    def _buckets_of(self, ts: int) -> list[str]:
        now_s = self.now_ms // 1000
        minute, tens = ts // 60_000, ts // 10_000
        out = []
        for key, end_s, keep in (
            (self.keys.minute(minute), (minute + 1) * 60, MINUTE_KEEP_S),
            (self.keys.tens(tens), (tens + 1) * 10, TENS_KEEP_S),
            (self.keys.day(self._day(ts)), (ts // 1000) + 86400, DAY_KEEP_S),
        ):
            if end_s + keep > now_s:
                out.append(key)
                self.expire_at.setdefault(key, end_s + keep)
        if out and out[0] == self.keys.minute(minute):
            self.minutes.add(minute)
        return out

    def _add(self, buckets: list[str], fields: tuple[str, str], people_in: int,
             people_out: int) -> None:
        incr = self.incr
        for key in buckets:
            if people_in:
                incr[key, fields[0]] += people_in
            if people_out:
                incr[key, fields[1]] += people_out

    def _site_minute(self, ts: int, people_in: int, people_out: int) -> None:
        """Per-minute site totals kept 8 days, for the week-ago curve."""
        minute = ts // 60_000
        local = self._minutes.get(minute)
        if local is None:
            moment = datetime.fromtimestamp(minute * 60, self.tz)
            local = self._minutes[minute] = (
                moment.strftime("%Y%m%d"), moment.hour * 60 + moment.minute)
        day, minute_of_day = local
        key = self.keys.site_minutes(day)
        if people_in:
            self.incr[key, f"{minute_of_day}:i"] += people_in
        if people_out:
            self.incr[key, f"{minute_of_day}:o"] += people_out
        self.expire_at.setdefault(key, ts // 1000 + DAY_KEEP_S + 86400)

    def rebaseline(self) -> None:
        """Reset people present if the baseline hour has passed since last time."""
        day = baseline_day(self.now_ms, self.tz, self.site.baseline_hour)
        if self.present.get("baseline") != day:
            self.present.clear()
            self.present["baseline"] = day
            self.present_changed = True

    def crowd(self, tally: Tally) -> None:
        """People at an entrance: summed per 10-second slot, spread at finish."""
        key = (tally.ts // 10_000, tally.entrance)
        acc = self._crowd.get(key)
        if acc is None:
            self._crowd[key] = [tally.n_in, tally.n_out]
        else:
            acc[0] += tally.n_in
            acc[1] += tally.n_out
        grid = self._fields[tally.entrance].present
        present = self.present
        present[grid] = max(0, int(present.get(grid, 0)) + tally.n_in - tally.n_out)
        self.present_changed = True

    def gate(self, tally: Tally) -> None:
        key = (tally.ts // 10_000, tally.entrance)
        acc = self._gates.get(key)
        if acc is None:
            self._gates[key] = [tally.n_in, tally.n_out]
        else:
            acc[0] += tally.n_in
            acc[1] += tally.n_out

    def finish(self) -> None:
        """Spread the per-slot sums over every counter hash they belong to."""
        for (tens, entrance), (n_in, n_out) in self._crowd.items():
            fields = self._fields[entrance]
            buckets = self._buckets(tens * 10_000)
            self._add(buckets, fields.people, n_in, n_out)
            self._add(buckets, fields.grid, n_in, n_out)
            self._add(buckets, SITE_FIELDS, n_in, n_out)
            self._site_minute(tens * 10_000, n_in, n_out)
        for (tens, entrance), (n_in, n_out) in self._gates.items():
            buckets = self._buckets(tens * 10_000)
            self._add(buckets, self._fields[entrance].vehicles, n_in, n_out)
            self._add(buckets, VEHICLE_FIELDS, n_in, n_out)
        self._crowd.clear()
        self._gates.clear()

    def parking_reading(self, event: ParkingEntry) -> None:
        if int(self.parking.get(f"{event.lot}:ts", 0)) <= event.ts:
            self.parking[event.lot] = str(event.occupied)
            self.parking[f"{event.lot}:ts"] = str(event.ts)
            self.parking_changed = True

    def present_total(self) -> int:
        return sum(int(v) for k, v in self.present.items() if k.startswith("g:"))
