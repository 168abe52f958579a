"""The figures of every unit, rolled up from its sites as they change.

After the aggregator publishes a site's snapshot it calls
:meth:`Rollup.after_publish`: one pipelined read of the site's own counts
(people present by grid, and what :mod:`data.units.counts` keeps per
community); once a round, for the communities whose figures moved, one
script call per unit of their chains (the community, its street, its
district, the city), with all of that unit's communities. The script keeps
each community's figures as last added (``parts``) and adds the differences
into the unit's figures (``figures``) with HINCRBY, atomically on the unit's
own slot (``{u:<unit>}``). Run twice with the same figures, it
changes nothing; a roll-up cut short is completed by the next. So a report in
a community reaches its street's, district's and city's figures in the same
step as its own snapshot, a few tens of milliseconds after it is folded.

A unit's figures are read by :func:`read_units` (two hashes a unit); the
rates are worked out on reading (:func:`kpis`) as city bulletins do:

* due to close (应结案数) = closed this month + overdue now
* closure_rate (结案率) = closed ÷ due to close
* on_time_rate (按期结案率) = closed by the deadline ÷ due to close
* rework_rate (返工率) = closed incidents reopened this month ÷ closed
* solved_in_grid_share (小事不出网格) = closed while owned by the grid ÷ closed
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import redis

from data.keys import Keys, UnitKeys
from data.pubsub import announce_each
from data.redis_conn import (
    RETRY_ERRORS,
    SLOT_MOVED,
    as_text,
    by_node,
    node_for,
    refresh_slots,
)
from data.site import Site
from data.terms import CHAIN
from data.units.counts import LAYOUT, MONTH_FIGURES, local, rebuild_counts
from data.units.tree import UnitTree

log = logging.getLogger(__name__)

# what one community adds into each unit above it, in this order
FIGURES = ("people_present", "incidents_open", "overdue", "closed_today",
           *MONTH_FIGURES, *(f"owned:{level}" for level in CHAIN[1:]))
RESEND_S = 30.0  # unchanged figures are added again this often (idempotent)
KPIS = ("people_present", "incidents_open", "overdue", "closed_today",
        "closure_rate", "on_time_rate", "rework_rate", "solved_in_grid_share",
        "owned_here")

# KEYS[1] figures, KEYS[2] parts, KEYS[3] today's copy of the figures;
# ARGV[1] now (ms), ARGV[2] how long a day's copy is kept (s), ARGV[3] how
# many figures a community has, ARGV[4…] their names, then for each
# community of the unit that moved: its id and its figures ("n,n,…" in the
# order of the names). Each community's difference from what it last added
# is added into the figures, once for all of them. Returns the unit's new
# version, or 0 when nothing changed.
ADD_PARTS = """
local function keep_day()
  local all = redis.call('HGETALL', KEYS[1])
  if #all > 0 then
    redis.call('HSET', KEYS[3], unpack(all))
    redis.call('EXPIRE', KEYS[3], ARGV[2])
  end
end
local n = tonumber(ARGV[3])
local sums, moved = {}, {}
for p = 4 + n, #ARGV, 2 do
  local community, figures = ARGV[p], ARGV[p + 1]
  local old = redis.call('HGET', KEYS[2], community)
  if old ~= figures then
    local before = {}
    if old then for v in string.gmatch(old, '[^,]+') do before[#before + 1] = v end end
    local i = 0
    for v in string.gmatch(figures, '[^,]+') do
      i = i + 1
      sums[i] = (sums[i] or 0) + tonumber(v) - tonumber(before[i] or 0)
    end
    moved[#moved + 1] = community
    moved[#moved + 1] = figures
  end
end
if #moved == 0 then
  if redis.call('EXISTS', KEYS[3]) == 0 then keep_day() end
  return 0
end
-- the figures first: if they cannot be written (not a hash), the parts
-- still say "not added", and the next roll-up adds them
for i = 1, n do
  if sums[i] and sums[i] ~= 0 then
    redis.call('HINCRBY', KEYS[1], ARGV[3 + i], string.format('%d', sums[i]))
  end
end
for k = 1, #moved, 2000 do  -- (Lua unpacks 7,000 at most)
  redis.call('HSET', KEYS[2], unpack(moved, k, math.min(k + 1999, #moved)))
end
redis.call('HSET', KEYS[1], 'generated_ms', ARGV[1])
local version = redis.call('HINCRBY', KEYS[1], 'version', 1)
keep_day()
return version
"""
DAY_KEEP_S = 40 * 86400  # a unit's daily figures: last month's day and then some


def _ints(raw: Mapping) -> dict[str, int]:
    return {as_text(k): int(v) for k, v in raw.items()}


def read_site_figures(r: redis.Redis, keys: Keys, site: Site,
                      communities: Iterable[str], now_ms: int
                      ) -> dict[str, tuple[int, ...]]:
    """community -> its figures (in the order of :data:`FIGURES`), read in one
    round trip on the site's node."""
    communities = list(communities)

    def read(client: redis.Redis) -> list:
        pipe = client.pipeline(transaction=False)
        queue_site_figures(pipe, keys, site, communities, now_ms)
        return pipe.execute()
    try:
        replies = read(node_for(r, keys.present))
    except SLOT_MOVED:
        refresh_slots(r)
        replies = read(r)
    return site_figures(replies, site, communities)


def queue_site_figures(pipe: Any, keys: Keys, site: Site,
                       communities: list[str], now_ms: int) -> None:
    """Queue :func:`read_site_figures`' reads on ``pipe`` (of the site's
    node), for :func:`site_figures`."""
    month, day = local(now_ms, site, "%Y%m"), local(now_ms, site, "%Y%m%d")
    pipe.hgetall(keys.present)
    pipe.hgetall(keys.unit_owned)
    pipe.hgetall(keys.unit_month(month))
    pipe.hgetall(keys.unit_day(day))
    for comm in communities:
        pipe.zcard(keys.unit_open(comm))
        pipe.zcount(keys.unit_open(comm), "-inf", now_ms - 1)


def site_figures(replies: list, site: Site, communities: list[str]
                 ) -> dict[str, tuple[int, ...]]:
    """community -> its figures from the replies of :func:`queue_site_figures`
    (an error among them is raised)."""
    for reply in replies:
        if isinstance(reply, Exception):
            raise reply
    present = {k: int(v) for k, v in ((as_text(k), v) for k, v in replies[0].items())
               if k.startswith("g:")}
    owned, month_n, day_n = (_ints(x) for x in replies[1:4])
    people: dict[str, int] = dict.fromkeys(communities, 0)
    for grid in site.grids.values():
        if grid.community in people:
            people[grid.community] += present.get(f"g:{grid.id}", 0)
    out = {}
    for n, comm in enumerate(communities):
        n_open, n_overdue = replies[4 + 2 * n], replies[5 + 2 * n]
        out[comm] = (people[comm], int(n_open), int(n_overdue),
                     day_n.get(f"{comm}:closed", 0),
                     *(month_n.get(f"{comm}:{f}", 0) for f in MONTH_FIGURES),
                     *(owned.get(f"{comm}:{lvl}", 0) for lvl in CHAIN[1:]))
    return out


def add_parts(r: redis.Redis, prefix: str, tree: UnitTree,
              parts: Mapping[str, tuple[int, ...]], now_ms: int,
              day: str) -> tuple[int, set[str]]:
    """Add each community's figures into every unit of its chain, keep each
    unit's figures of the local ``day`` (``YYYYMMDD``) and announce each
    changed unit's newest version on its channel (its walls listen).

    One script call a unit for all its communities that moved, one round
    trip a node for all units: a busy round moves every community of the
    city, and a call per community and unit was four thousand calls, the
    city's own a thousand of them. Returns how many units changed, and the
    communities a unit of whose chain could not be written (another
    roll-up adds them again: adding is idempotent)."""
    if not parts:
        return 0, set()
    by_unit: dict[str, list[str]] = {}
    for comm, figures in parts.items():
        packed = ",".join(map(str, figures))
        for unit in tree.chain(comm):
            by_unit.setdefault(unit, []).extend((comm, packed))
    units = list(by_unit)

    def queue(unit: str):
        keys = UnitKeys(prefix, unit)
        return lambda pipe: pipe.execute_command(
            "EVAL", ADD_PARTS, 3, keys.figures, keys.parts, keys.day(day),
            now_ms, DAY_KEEP_S, len(FIGURES), *FIGURES, *by_unit[unit])
    replies = by_node(r, [(UnitKeys(prefix, u).figures, queue(u)) for u in units])
    newest: dict[str, int] = {}
    failed: set[str] = set()
    for unit, version in zip(units, replies, strict=True):
        if isinstance(version, Exception):
            log.warning("roll-up into unit %s failed (%r); tried again with "
                        "the next snapshots", unit, version)
            failed.update(by_unit[unit][::2])
        elif int(version):
            newest[unit] = int(version)
    if newest:
        announce_each(r, {UnitKeys(prefix, u).channel: v for u, v in newest.items()})
    return len(newest), failed


@dataclass
class Rollup:
    """The roll-up step of one aggregator process: what it last added for
    each community and when (so a quiet site costs one read; every
    :data:`RESEND_S` it is added again all the same, in case another process
    folded the site meanwhile), and which sites' counts it has checked are
    complete."""

    prefix: str
    tree: UnitTree
    sent: dict[str, tuple[tuple[int, ...], float]] = field(default_factory=dict)
    counted: set[str] = field(default_factory=set)
    pending: dict[str, tuple[tuple[int, ...], str]] = field(default_factory=dict)

    def after_publish(self, r: redis.Redis, keys: Keys, site: Site,
                      now_ms: int, *, defer: bool = False) -> int:
        """Roll ``site``'s figures up the chain; how many units changed.
        ``defer``: only note them, for :meth:`flush`."""
        self._counted(r, keys, site)
        communities = list(self.tree.site_communities.get(site.id, ()))
        self._note(site, read_site_figures(r, keys, site, communities, now_ms),
                   now_ms)
        return 0 if defer else self.flush(r, now_ms)

    def figure_reads(self, r: redis.Redis, keys: Keys, site: Site,
                     now_ms: int) -> Callable[[Any], None]:
        """What queues the reads of ``site``'s figures, sent with its
        snapshot's (:attr:`data.feed.snapshot.Job.also`: no round trip of
        their own), for :meth:`note_figures`."""
        self._counted(r, keys, site)
        communities = list(self.tree.site_communities.get(site.id, ()))
        return lambda pipe: queue_site_figures(pipe, keys, site, communities,
                                               now_ms)

    def note_figures(self, site: Site, replies: list, now_ms: int) -> None:
        """:meth:`after_publish` (deferred) of the replies of
        :meth:`figure_reads` (an error among them is raised)."""
        communities = list(self.tree.site_communities.get(site.id, ()))
        self._note(site, site_figures(replies, site, communities), now_ms)

    def _counted(self, r: redis.Redis, keys: Keys, site: Site) -> None:
        """The site's incident counts in the current layout (once)."""
        if site.id not in self.counted:
            if as_text(r.get(keys.unit_layout) or "") != LAYOUT:
                rebuild_counts(r, keys, site)
            self.counted.add(site.id)

    def _note(self, site: Site, figures: dict[str, tuple[int, ...]],
              now_ms: int) -> None:
        clock = time.monotonic()
        day = local(now_ms, site, "%Y%m%d")
        self.pending.update(
            (c, (f, day)) for c, f in figures.items()
            if self.sent.get(c, ((), 0.0))[0] != f
            or clock - self.sent[c][1] > RESEND_S)

    def flush(self, r: redis.Redis, now_ms: int) -> int:
        """Add what :meth:`after_publish` found moved into the units above,
        all communities at once (one round trip per node); how many units
        changed. The aggregator calls it once a round."""
        pending, self.pending = self.pending, {}
        if not pending:
            return 0
        moved = {c: f for c, (f, _) in pending.items()}
        by_day: dict[str, dict] = {}  # the sites' local days (one, but for
        for comm, (figures, day) in pending.items():  # a city across midnight)
            by_day.setdefault(day, {})[comm] = figures
        changed, failed = 0, set()
        try:
            for day, parts in by_day.items():
                n, not_added = add_parts(r, self.prefix, self.tree, parts,
                                         now_ms, day)
                changed += n
                failed |= not_added
        except redis.RedisError as exc:
            # A unit's node away (the city's hash lives on one) must not stop
            # the folding of the sites: what was not added is added by a
            # later roll-up, since it is not noted as sent.
            if isinstance(exc, RETRY_ERRORS + SLOT_MOVED):
                refresh_slots(r)
            log.warning("roll-up of %d communities up the chain failed (%r); "
                        "tried again with their next snapshots", len(moved), exc)
            return 0
        clock = time.monotonic()
        self.sent.update((c, (f, clock)) for c, f in moved.items()
                         if c not in failed)
        return changed


# --- reading -------------------------------------------------------------------


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 3) if whole else None


def kpis(figures: Mapping[str, int], level: str) -> dict[str, Any]:
    """The key figures of a unit at ``level`` from its rolled-up counts."""
    closed = figures.get("closed", 0)
    due = closed + figures.get("overdue", 0)
    return {
        "people_present": figures.get("people_present", 0),
        "incidents_open": figures.get("incidents_open", 0),
        "overdue": figures.get("overdue", 0),
        "closed_today": figures.get("closed_today", 0),
        "closure_rate": _rate(closed, due),
        "on_time_rate": _rate(figures.get("on_time", 0), due),
        "rework_rate": _rate(figures.get("rework", 0), closed),
        "solved_in_grid_share": _rate(figures.get("in_grid", 0), closed),
        "owned_here": figures.get(f"owned:{level}", 0),
    }


def read_units(r: redis.Redis, prefix: str,
               units: Iterable[str]) -> dict[str, dict[str, int]]:
    """unit -> its rolled-up counts (plus ``generated_ms`` and ``version``)."""
    units = list(units)
    pipe = r.pipeline(transaction=False)
    for unit in units:
        pipe.hgetall(UnitKeys(prefix, unit).figures)
    return {u: _ints(raw) for u, raw in zip(units, pipe.execute(), strict=True)}
