"""Pacing the real-time feed of many sites: every site's sensors report once a
tick, and the sites take turns through the tick instead of all at once.

Site ``k`` of ``n`` is due at ``start + (round + k / n) * tick``, so a city of
a thousand sites sends a steady trickle rather than a thousand sites' worth
of entries every few seconds. A chosen total rate sets the tick: the shorter
the tick, the more often each counter reports (the counts in each report
shrink with it, so the people simulated stay the same).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from data.sim.model import SiteSim

MIN_TICK_S = 0.05  # a counter reports at most 20 times a second
PASS_S = 0.02  # least time between two passes over the due sites


def tick_for_total(sims: Iterable[SiteSim], total_rate: float) -> float:
    """The tick at which ``sims`` together send ``total_rate`` entries a second.

    Raises :class:`ValueError` when that would need counters reporting more
    often than :data:`MIN_TICK_S` allows.
    """
    per_tick = sum(sim.readings_per_tick() for sim in sims)
    if not total_rate > 0 or not per_tick:
        raise ValueError(f"total rate {total_rate:g}: expected entries a second > 0 "
                         "over sites that have entrances")
    tick = per_tick / total_rate
    if tick < MIN_TICK_S:
        raise ValueError(
            f"total rate {total_rate:g}: these sites send at most "
            f"{per_tick / MIN_TICK_S:,.0f} entries a second (a reading from every "
            f"counter every {MIN_TICK_S:g} s); serve more sites or ask for less")
    return tick


class RoundRobin:
    """Which sites are due, turn by turn; never more than one round behind."""

    def __init__(self, n_sites: int, tick_s: float, start: float) -> None:
        self.n, self.tick, self.start = n_sites, tick_s, start
        self.done = 0  # site-steps handed out so far

    def _scheduled(self, now: float) -> int:
        return math.floor((now - self.start) / self.tick * self.n) + 1

    def take(self, now: float) -> list[int]:
        """Indices of the sites due at ``now``, each at most once.

        A machine that cannot keep up skips what it missed beyond one round:
        the next step of each site covers the time since its last one, so the
        counts stay right and only the number of entries falls short.
        """
        due = self._scheduled(now)
        self.done = max(self.done, due - self.n)
        steps = [k % self.n for k in range(self.done, due)]
        self.done = max(self.done, due)
        return steps

    def next_at(self) -> float:
        """When the next site-step is due (monotonic seconds)."""
        return self.start + self.done * self.tick / self.n
