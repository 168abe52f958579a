"""The demo feed's model of a site: people, vehicles, parking and incidents.

Pure, no Redis: :class:`SiteSim` advances a site by one tick and returns the feed
entries (contract v1 fields, all strings) that its sensors would have written.

- People: each grid draws visitors at a rate following a daily profile
  (:func:`flow_profile`: morning and evening peaks, a market-hours bump around a
  market grid, a night lull, weekends unlike weekdays; a business district peaks
  in the afternoon and evening and on weekends), split over its entrances by
  stable per-entrance weights (popular and quiet gates) with Poisson noise.
  People leave after a mean dwell time, so over a day outs balance ins and
  presence never drifts. Now and then a surge pushes one grid past its red
  threshold for a few minutes, then drains.
- Vehicles: parking lots drift towards an occupancy curve (a residential lot
  fills at night, a business one by day) with some churn; the cars pass the
  vehicle gates, with some through traffic.
- Incidents: reports at a believable rate, moved through their workflow by
  :mod:`data.sim.incidents`.

``rate`` multiplies volumes and incident frequency; the dwell time shrinks by
the same factor so that presence stays plausible at any rate.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

import numpy as np

from data.sim.incidents import IncidentMaker
from data.site import Site

Entry = tuple[str, dict[str, str]]  # (stream name, fields)

TICK_S = 5.0  # people counters report every 5 s
GATE_EVERY = 2  # vehicle gates every 10 s
PARKING_EVERY = 12  # parking sensors every minute
MARKET_WORDS = ("市场", "菜场", "market")
DWELL_MIN = {"residential": 40.0, "business": 75.0}
INCIDENTS_PER_H = {"residential": 3.0 / 9, "business": 4.0 / 12}  # per grid, by day
SURGES_PER_H = 0.4  # per site, by day
LOT_SETTLE_S = 25 * 60.0  # a lot closes half its gap to the target in ~17 min


@dataclass(frozen=True)
class Peak:
    hour: float
    width: float
    height: float


@dataclass(frozen=True)
class Profile:
    opens: float  # daytime activity rises around this hour …
    closes: float  # … and falls around this one
    base: float  # daytime level between the peaks
    peaks: tuple[Peak, ...]
    night: float = 0.03


PROFILES: dict[tuple[str, bool], Profile] = {  # (family, weekend)
    ("residential", False): Profile(6.0, 23.0, 0.25, (
        Peak(7.8, 0.6, 1.0), Peak(12.0, 0.8, 0.3), Peak(18.0, 0.8, 0.9),
        Peak(20.5, 0.8, 0.3))),
    ("residential", True): Profile(7.0, 23.5, 0.35, (
        Peak(9.5, 1.2, 0.55), Peak(12.0, 1.0, 0.3), Peak(15.5, 1.5, 0.45),
        Peak(18.5, 1.0, 0.6), Peak(20.5, 0.8, 0.4))),
    ("business", False): Profile(9.5, 22.0, 0.25, (
        Peak(8.3, 0.5, 0.35), Peak(12.3, 0.8, 0.45), Peak(15.5, 1.5, 0.55),
        Peak(19.3, 1.3, 0.8)), night=0.02),
    ("business", True): Profile(9.5, 22.5, 0.4, (
        Peak(11.0, 1.0, 0.5), Peak(15.0, 1.6, 1.1), Peak(19.5, 1.4, 1.3)),
        night=0.02),
}
MARKET_PEAKS = {False: (Peak(9.8, 0.9, 0.9), Peak(17.0, 1.0, 0.3)),
                True: (Peak(9.5, 1.2, 1.2),)}


def family(kind: str) -> str:
    """``business`` for a business district or commercial site, else residential."""
    return "business" if kind.startswith(("business", "commercial")) else "residential"


def _sigmoid(x: np.ndarray | float) -> np.ndarray | float:
    return 1.0 / (1.0 + np.exp(-x))


def _bumps(hour: np.ndarray | float, peaks: tuple[Peak, ...]) -> np.ndarray | float:
    return sum(p.height * np.exp(-0.5 * ((hour - p.hour) / p.width) ** 2)
               for p in peaks)


def flow_profile(kind: str, weekend: bool, hour: np.ndarray | float,
                 market: np.ndarray | bool = False) -> np.ndarray | float:
    """Relative rate of people through an entrance at local ``hour`` (0-24)."""
    p = PROFILES[family(kind), weekend]
    day = _sigmoid((hour - p.opens) / 0.4) * _sigmoid((p.closes - hour) / 0.5)
    value = p.night + p.base * day + _bumps(hour, p.peaks)
    return value + np.where(market, _bumps(hour, MARKET_PEAKS[weekend]), 0.0)


@lru_cache(maxsize=16)
def busiest(kind: str, market: bool) -> float:
    """The highest :func:`flow_profile` of the week, to scale rates by."""
    hours = np.arange(0.0, 24.0, 0.05)
    return float(max(np.max(flow_profile(kind, w, hours, market)) for w in (0, 1)))


def lot_share(kind: str, weekend: bool, hour: float, market: bool) -> float:
    """The share of a parking lot's spaces taken at ``hour``."""
    if market:  # the market's lot: shoppers in the morning
        return min(0.95, 0.15 + (0.8 if weekend else 0.7)
                   * math.exp(-0.5 * ((hour - 9.5) / 1.8) ** 2))
    if family(kind) == "business":
        open_ = _sigmoid((hour - 9.8) / 0.7) * _sigmoid((21.8 - hour) / 0.6)
        return 0.06 + (0.88 if weekend else 0.72) * float(open_)
    away = float(_sigmoid((hour - 7.5) / 0.6) * _sigmoid((18.5 - hour) / 0.8))
    return 0.92 - (0.25 if weekend else 0.47) * away  # residents' cars: home at night


def _is_market(*names: str) -> bool:
    return any(w in n.lower() for n in names for w in MARKET_WORDS)


def market_grids(site: Site) -> set[str]:
    """Grids with a market: by the name of the grid, an entrance or a lot there."""
    found = {g.id for g in site.grids.values() if _is_market(g.name, g.name_en)}
    found |= {e.grid for e in site.entrances.values() if _is_market(e.name, e.name_en)}
    found |= {p.grid for p in site.parking.values() if _is_market(p.name, p.name_en)}
    return found


class SiteSim:
    """One site's sensors and people, advanced tick by tick."""

    def __init__(self, site: Site, *, rate: float = 1.0, seed: object = None) -> None:
        self.site, self.rate = site, rate
        self.kind = family(site.kind)
        self.tz = ZoneInfo(site.timezone)
        self.np = np.random.default_rng(random.Random(seed).getrandbits(64))
        self.rng = random.Random(seed)
        self.incidents = IncidentMaker(site, self.rng)
        self.ticks = 0
        self.queue: list[tuple[int, int, dict[str, str]]] = []  # incident entries
        self._order = itertools.count()
        self._grid_setup()
        self._vehicle_setup()

    # --- set-up ---------------------------------------------------------

    def _grid_setup(self) -> None:
        site = self.site
        markets = market_grids(site)
        self.grid_ids = list(site.grids)
        self.entrance_ids = list(site.entrances)
        index = {g: i for i, g in enumerate(self.grid_ids)}
        self.grid_of = np.array([index[e.grid] for e in site.entrances.values()])
        walkers = {e.grid for e in site.entrances.values() if e.kind == "pedestrian"}
        weights, shifts = [], []
        for e in site.entrances.values():
            stable = random.Random(f"{site.id}/{e.id}")  # same gate, same habits
            weight = stable.lognormvariate(0.0, 0.6)
            if e.kind == "vehicle" and e.grid in walkers:
                weight *= 0.25  # people mostly use the pedestrian gates
            weights.append(weight)
            shifts.append(max(-0.5, min(0.5, stable.gauss(0.0, 0.2))))
        weights_a = np.array(weights)
        totals = np.bincount(self.grid_of, weights_a, minlength=len(self.grid_ids))
        self.share = weights_a / totals[self.grid_of]
        self.shift = np.array(shifts)
        self.market = np.array([e.grid in markets for e in site.entrances.values()])
        self.dwell_s = DWELL_MIN[self.kind] * 60.0 / self.rate
        peak_load = np.array([random.Random(f"{site.id}/{g}/load").uniform(0.3, 0.62)
                              for g in self.grid_ids])
        capacity = np.array([g.capacity for g in site.grids.values()], dtype=float)
        scale = np.array([busiest(self.kind, g in markets) for g in self.grid_ids])
        # arrivals per second per grid at profile 1.0: presence peaks near peak_load
        self.grid_rate = peak_load * capacity / self.dwell_s / scale
        self.present = np.zeros(len(self.grid_ids))
        self.capacity = capacity
        self.red = np.array([g.thresholds[2] for g in site.grids.values()])
        self.surge: dict[str, float] | None = None

    def _vehicle_setup(self) -> None:
        site = self.site
        self.gates = [e.id for e in site.entrances.values() if e.kind == "vehicle"]
        self.lots = list(site.parking.values())
        self.lot_gates: list[list[int]] = []
        for lot in self.lots:
            near = [i for i, g in enumerate(self.gates)
                    if site.entrances[g].grid == lot.grid]
            self.lot_gates.append(near or list(range(len(self.gates))))
        self.lot_market = [_is_market(p.name, p.name_en) for p in self.lots]
        self.occupied: list[float] | None = None
        self.gate_in = np.zeros(len(self.gates), dtype=int)
        self.gate_out = np.zeros(len(self.gates), dtype=int)

    def readings_per_tick(self) -> float:
        """Crowd and traffic entries a tick on average (incidents aside, being
        a few an hour): every counter, gates every other tick, lots a minute."""
        return (len(self.entrance_ids) + len(self.gates) / GATE_EVERY
                + len(self.lots) / PARKING_EVERY)

    # --- one tick -------------------------------------------------------

    def step(self, now_ms: int, dt_s: float = TICK_S) -> list[Entry]:
        """The entries of the ``dt_s`` seconds ending at ``now_ms``."""
        moment = datetime.fromtimestamp((now_ms - dt_s * 500) / 1000, self.tz)
        hour = moment.hour + moment.minute / 60 + moment.second / 3600
        weekend = moment.weekday() >= 5
        level = float(flow_profile(self.kind, weekend, hour))
        entries = self._people(now_ms, dt_s, hour, weekend)
        if self.gates or self.lots:
            entries += self._vehicles(now_ms, dt_s, hour, weekend, level)
        self._maybe_report(now_ms, dt_s, hour)
        entries += self.due(now_ms)
        self.ticks += 1
        return entries

    def _people(self, ts: int, dt_s: float, hour: float, weekend: bool) -> list[Entry]:
        rng = self.np
        profile = flow_profile(self.kind, weekend, hour - self.shift, self.market)
        arrivals = self.grid_rate[self.grid_of] * self.share * profile * dt_s
        ins = rng.poisson(arrivals)
        leaving = self.present[self.grid_of] * self.share * dt_s / self.dwell_s
        outs = rng.poisson(leaving)
        net = np.bincount(self.grid_of, ins - outs, minlength=len(self.grid_ids))
        self.present = np.maximum(0.0, self.present + net)
        extra_in, extra_out = self._surge(ts, dt_s, hour)  # kept apart: no dwell
        ins, outs = ins + extra_in, outs + extra_out
        stamp = str(ts)
        return [("crowd", {"v": "1", "src": f"cnt-{e}", "entrance": e, "ts": stamp,
                           "in": str(i), "out": str(o), "eid": stamp})
                for e, i, o in zip(self.entrance_ids, ins.tolist(), outs.tolist(),
                                   strict=True)]

    def _surge(self, ts: int, dt_s: float, hour: float) -> tuple[np.ndarray, ...]:
        """Extra people of a surge: in fast, a few minutes above red, then out."""
        zero = np.zeros(len(self.entrance_ids), dtype=int)
        surge = self.surge
        daytime = 8.0 <= hour <= 21.0
        if surge is None:
            if daytime and self.rng.random() < SURGES_PER_H * self.rate * dt_s / 3600:
                self.start_surge(ts)
            return zero, zero
        mine = self.grid_of == surge["grid"]
        weights = np.where(mine, self.share, 0.0)
        weights /= weights.sum()
        elapsed = (ts - surge["start"]) / 1000
        if elapsed < surge["ramp"]:
            want = surge["people"] * min(1.0, elapsed / surge["ramp"]) - surge["in"]
            extra = self.np.multinomial(max(0, int(want)), weights)
            surge["in"] += int(extra.sum())
            return extra, zero
        if elapsed < surge["ramp"] + surge["hold"]:
            return zero, zero
        gone = min(1.0, (elapsed - surge["ramp"] - surge["hold"]) / surge["leave"])
        want = int(surge["in"] * gone) - surge["out"]
        extra = self.np.multinomial(max(0, want), weights)
        surge["out"] += int(extra.sum())
        if gone >= 1.0:
            self.surge = None
        return zero, extra

    def start_surge(self, ts: int, grid: str | None = None) -> str:
        """Begin a surge at ``grid`` (default: a busy one, markets first)."""
        if grid is None:
            counts = np.bincount(self.grid_of, minlength=len(self.grid_ids))
            markets = np.bincount(self.grid_of, self.market, minlength=len(counts))
            weights = self.capacity * np.where(markets, 3, 1) * (counts > 0)
            n = int(self.np.choice(len(self.grid_ids), p=weights / weights.sum()))
        else:
            n = self.grid_ids.index(grid)
            if not (self.grid_of == n).any():
                raise ValueError(f"grid {grid} has no entrance for a surge to pass")
        target = self.red[n] * self.capacity[n] * self.rng.uniform(1.03, 1.12)
        self.surge = {"grid": n, "start": ts, "in": 0, "out": 0,
                      "people": max(0.0, target - self.present[n]),
                      "ramp": self.rng.uniform(45, 120),
                      "hold": self.rng.uniform(120, 300),
                      "leave": self.rng.uniform(180, 360)}
        return self.grid_ids[n]

    def _vehicles(self, ts: int, dt_s: float, hour: float, weekend: bool,
                  level: float) -> list[Entry]:
        rng = self.np
        busy = level / busiest(self.kind, False) * self.rate
        if self.occupied is None:  # parking sensors know the lots at start
            self.occupied = [lot.capacity * lot_share(self.kind, weekend, hour, m)
                             for lot, m in zip(self.lots, self.lot_market, strict=True)]
        for n, lot in enumerate(self.lots):
            target = lot.capacity * lot_share(self.kind, weekend, hour,
                                              self.lot_market[n])
            gap = target - self.occupied[n]
            churn = lot.capacity * 0.05 / 3600 * busy
            come = rng.poisson(dt_s * (churn + max(0.0, gap) / LOT_SETTLE_S))
            go = rng.poisson(dt_s * (churn + max(0.0, -gap) / LOT_SETTLE_S))
            now = self.occupied[n] + come - go
            come -= max(0.0, now - lot.capacity)
            go -= max(0.0, -now)
            self.occupied[n] = min(float(lot.capacity), max(0.0, now))
            if self.lot_gates[n]:
                self.gate_in[rng.choice(self.lot_gates[n])] += int(come)
                self.gate_out[rng.choice(self.lot_gates[n])] += int(go)
        through = rng.poisson(dt_s * 12 / 3600 * busy, size=(2, len(self.gates)))
        self.gate_in += through[0]
        self.gate_out += through[1]
        stamp, out = str(ts), []
        if (self.ticks + 1) % GATE_EVERY == 0:
            for g, i, o in zip(self.gates, self.gate_in.tolist(),
                               self.gate_out.tolist(), strict=True):
                out.append(("traffic", {"v": "1", "src": f"gate-{g}", "entrance": g,
                                        "ts": stamp, "in": str(i), "out": str(o),
                                        "eid": stamp}))
            self.gate_in[:] = 0
            self.gate_out[:] = 0
        if self.ticks % PARKING_EVERY == 0:
            for lot, occupied in zip(self.lots, self.occupied, strict=True):
                out.append(("traffic", {"v": "1", "src": f"lot-{lot.id}",
                                        "lot": lot.id, "ts": stamp,
                                        "occupied": str(round(occupied)),
                                        "eid": stamp}))
        return out

    # --- incidents ------------------------------------------------------

    def _maybe_report(self, ts: int, dt_s: float, hour: float) -> None:
        day = float(_sigmoid((hour - 7.5) / 0.5) * _sigmoid((20.5 - hour) / 0.7))
        per_h = INCIDENTS_PER_H[self.kind] * len(self.grid_ids) * (0.1 + 0.9 * day)
        for _ in range(int(self.np.poisson(per_h * self.rate * dt_s / 3600))):
            self.schedule(self.incidents.report(ts))

    def schedule(self, plan: list[tuple[int, dict[str, str]]]) -> None:
        for due, fields in plan:
            heapq.heappush(self.queue, (due, next(self._order), fields))

    def due(self, until_ms: int) -> list[Entry]:
        """Incident entries (reports, workflow ops) due by ``until_ms``."""
        out: list[Entry] = []
        while self.queue and self.queue[0][0] <= until_ms:
            out.append(("incident", heapq.heappop(self.queue)[2]))
        return out

    def presence(self) -> dict[str, int]:
        """People the model holds in each grid now (surges included)."""
        now = {g: int(p) for g, p in zip(self.grid_ids, self.present, strict=True)}
        if self.surge is not None:
            surge = self.surge
            now[self.grid_ids[surge["grid"]]] += surge["in"] - surge["out"]
        return now
