"""What a unit's wall shows, and what changes on it from one version of the
unit's figures to the next.

A unit's figures move with every roll-up into it (data/units/rollup.py),
which announces the unit's new version on its channel; the push hub wakes the
unit's walls (web/hub.py: :func:`~web.hub.unit_feed`) and each stream sends
:meth:`UnitWallData.event`: the props that changed since the version it sent
last, made and serialized once per process, version, language and colour
figure, whatever the number of walls. The spotlight turns by the clock
(:meth:`UnitWallData.spot`), the same child on every wall of the unit.

Per version this reads two hashes a unit (the unit and its children) in one
round trip; each unit's past (its figures at the end of the same weekday
last week and the same date last month, data/units/past.py) once per local
day and process; the incidents escalated to the unit (data/units/escalated.py)
when the unit's incident figures move, and at least once a minute for their
SLA lights.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Any
from zoneinfo import ZoneInfo

from dash import Patch, no_update
from plotly.io.json import to_json_plotly

from data.clock import now_ms
from data.units.escalated import escalated
from data.units.outlines import unit_outlines
from data.units.past import PAST, local_today, past_days, read_days
from data.units.rollup import kpis, read_units
from layouts import ids
from layouts.theme import DARK
from layouts.unit_wall_render import (
    KPIS,
    MAP_LABELS,
    MAP_SPOTLIGHT,
    _rings,
    map_values,
    render_compare,
    render_escalated,
    render_past,
    render_ranking,
    render_spot,
    value_text,
)
from web.state import AppState
from web.wall_changes import RENDERED, children_patch

EVENTS_KEPT = 64
TICKER_EVERY_S = 60.0
PAST_EVERY_S = 300.0


class UnitWallData:
    """Shaped versions of the units' walls, shared by every wall of a unit
    in this process, and the pushed change from one to the next."""

    def __init__(self, state: AppState) -> None:
        self.state = state
        self._outlines: dict[str, Any] | None = None
        self._shaped: OrderedDict[tuple, dict] = OrderedDict()
        self._events: OrderedDict[tuple, tuple[int, str | None]] = OrderedDict()
        self._past: dict[str, tuple[float, str, dict]] = {}
        self._ticker: dict[tuple, tuple[float, tuple, list]] = {}
        self._lock = threading.Lock()

    # --- what does not move with the versions --------------------------------

    def outlines(self, unit: str) -> list[tuple[str, Any]]:
        """(child, outline) of each child of ``unit``, dissolved once per
        process from the grids and simplified for a wall."""
        if self._outlines is None:
            frame = unit_outlines(self.state.sites, self.state.units)
            self._outlines = {u: g.simplify(0.0002, preserve_topology=True)
                              for u, g in frame.geometry.items()}
        return [(c, self._outlines[c]) for c in self.state.units[unit].children
                if c in self._outlines]

    def timezone(self, unit: str) -> ZoneInfo:
        for _, node in self.state.units.walk(unit):
            if node.site in self.state.sites:
                return ZoneInfo(self.state.sites[node.site].timezone)
        return ZoneInfo("UTC")

    def name(self, unit: str, lang: str) -> str:
        return self.state.units[unit].label(lang)

    def past(self, unit: str, now: int) -> dict:
        """(unit, when) -> its figures then (None: none kept)."""
        today = local_today(now, self.timezone(unit)).isoformat()
        found = self._past.get(unit)
        if found and found[1] == today and time.monotonic() - found[0] < PAST_EVERY_S:
            return found[2]
        node = self.state.units[unit]
        days = past_days(local_today(now, self.timezone(unit)))
        raw = read_days(self.state.redis, self.state.config.prefix,
                        (unit, *node.children), days.values())
        out = {(u, when): (kpis(raw[u, day], self.state.units[u].level)
                           if raw[u, day] else None)
               for u in (unit, *node.children) for when, day in days.items()}
        self._past[unit] = (time.monotonic(), today, out)
        return out

    def ticker(self, unit: str, figures: dict, lang: str, now: int) -> list[dict]:
        sign = tuple(figures.get(k, 0) for k in (
            "incidents_open", "closed", "rework", *(f for f in figures
                                                    if f.startswith("owned:"))))
        found = self._ticker.get((unit, lang))
        if found and found[1] == sign and time.monotonic() - found[0] < TICKER_EVERY_S:
            return found[2]
        rows = []
        for view in escalated(self.state.redis, self.state.config.prefix,
                              self.state.units, unit, now):
            site = self.state.sites.get(view["site"])
            cat = site.categories.get(view["category"]) if site else None
            grid = site.grids.get(view["grid"]) if site else None
            rows.append({**{k: view[k] for k in ("id", "level", "title", "status",
                                                 "sla", "reporter", "phone",
                                                 "reported_at")},
                         "category": _label(cat, lang),
                         "grid": " ".join(x for x in (
                             self.name(view["community"], lang),
                             _label(grid, lang)) if x)})
        self._ticker[unit, lang] = (time.monotonic(), sign, rows)
        return rows

    # --- one version -----------------------------------------------------------

    def latest(self, unit: str, lang: str, by: str) -> dict:
        """The unit's wall now: one read of its figures and its children's."""
        state, node = self.state, self.state.units[unit]
        now = now_ms()
        counts = read_units(state.redis, state.config.prefix, (unit, *node.children))
        own = counts[unit]
        key = (unit, lang, by, own.get("version", 0))
        with self._lock:
            if key in self._shaped:
                return self._shaped[key]
        past = self.past(unit, now)
        children = [{"id": c, "name": self.name(c, lang),
                     "kpis": kpis(counts[c], state.units[c].level),
                     "past": {w: past[c, w] for w in PAST}} for c in node.children]
        mine = kpis(own, node.level)
        drawn = {c for c, _ in self.outlines(unit)}
        attention = sorted((c for c in children if c["kpis"]["overdue"]),
                           key=lambda c: (-c["kpis"]["overdue"], c["id"]))
        shaped = {
            "version": own.get("version", 0),
            "generated_ms": own.get("generated_ms"),
            "kpi": {k: value_text(k, mine[k]) for k in KPIS},
            "past": {k: [mine[k], past[unit, "week"] and past[unit, "week"][k],
                         past[unit, "month"] and past[unit, "month"][k]]
                     for k in KPIS},
            "children": children,
            "map": map_values([c for c in children if c["id"] in drawn], by, DARK,
                              lang),
            "ticker": self.ticker(unit, own, lang, now),
            "attention": [c["id"] for c in attention],
        }
        with self._lock:
            self._shaped[key] = shaped
            while len(self._shaped) > EVENTS_KEPT:
                self._shaped.popitem(last=False)
        return shaped

    def parts(self, unit: str, lang: str, by: str, version: int | None) -> dict | None:
        with self._lock:
            return self._shaped.get((unit, lang, by, version))

    def changes(self, unit: str, old: dict | None, new: dict, lang: str,
                by: str) -> list[tuple[Any, dict]]:
        """[(component id, {prop: value})] of what differs from ``old``."""
        out: list[tuple[Any, dict]] = []
        for k in KPIS:
            if old is None or old["kpi"][k] != new["kpi"][k]:
                out.append((ids.unit_wall_kpi(k), {"children": new["kpi"][k]}))
            if old is None or old["past"][k] != new["past"][k]:
                now, week, month = new["past"][k]
                out.append((ids.unit_wall_past(k), {"children": render_past(
                    k, now, {"week": None if week is None else {k: week},
                             "month": None if month is None else {k: month}},
                    lang)}))
        for cid, name, render in (
                (ids.UW_COMPARE, "children",
                 lambda rows: render_compare(rows, lang)),
                (ids.UW_RANKING, "children",
                 lambda rows: render_ranking(rows, by, lang)),
                (ids.UW_TICKER, "ticker", lambda rows: render_escalated(
                    rows, lang, self.timezone(unit)))):
            if old is not None and old[name] == new[name]:
                continue
            if old is None:
                out.append((cid, {"children": render(new[name])}))
                continue
            before, plain_before = RENDERED.get(f"uw{cid}", old[name], render,
                                                lang, by, unit)
            after, plain_after = RENDERED.get(f"uw{cid}", new[name], render,
                                              lang, by, unit)
            value = children_patch(before, after, plain=(plain_before, plain_after))
            if value is not no_update:
                out.append((cid, {"children": value}))
        if old is None or old["map"] != new["map"]:
            out.append((ids.UW_MAP, {"figure": map_patch(old, new)}))
        return out

    def event(self, unit: str, lang: str, by: str, base: int | None,
              version: int | None = None) -> tuple[int, str | None] | None:
        """The newest version and, as JSON, what changed since ``base``
        (``{"v", "base", "g", "props"}``; base None: everything)."""
        with self._lock:
            found = self._events.get((unit, lang, by, base, version))
        if version is not None and found is not None:
            return found
        new = self.latest(unit, lang, by)
        if base is not None and base == new["version"]:
            return base, None
        old = self.parts(unit, lang, by, base) if base is not None else None
        body = to_json_plotly({"v": new["version"],
                               "base": old["version"] if old else None,
                               "g": new["generated_ms"],
                               "props": self.changes(unit, old, new, lang, by)})
        found = (new["version"], body)
        with self._lock:
            self._events[unit, lang, by, base, version] = found
            while len(self._events) > EVENTS_KEPT:
                self._events.popitem(last=False)
        return found

    def spot(self, unit: str, lang: str, by: str, period: int, _cast: int) -> str:
        """JSON of the spotlight for rotation ``period``: the children that
        need attention (overdue incidents, most first) in turn."""
        shaped = self.latest(unit, lang, by)
        attention = shaped["attention"]
        child = None
        n = 0
        if attention:
            n = period % len(attention)
            child = next(c for c in shaped["children"] if c["id"] == attention[n])
        patch = Patch()
        outlines = dict(self.outlines(unit))
        trace = patch["data"][len(outlines) + MAP_SPOTLIGHT]
        xs, ys = _rings(outlines[child["id"]]) if child and child["id"] in outlines \
            else ([], [])
        trace["x"], trace["y"] = xs, ys
        return to_json_plotly({"period": period, "props": [
            (ids.UW_SPOTLIGHT, {"children": render_spot(child, n + 1,
                                                        len(attention), lang)}),
            (ids.UW_MAP, {"figure": patch})]})


def _label(thing: Any, lang: str) -> str:
    if thing is None:
        return ""
    return thing.name_en if lang == "en" else thing.name


def map_patch(old: dict | None, new: dict) -> Patch:
    """The children's colours, hovers and labels that moved."""
    before, after = (old or {}).get("map"), new["map"]
    patch = Patch()
    for i, fill in enumerate(after["fill"]):
        if before is None or before["fill"][i] != fill or \
                before["line"][i] != after["line"][i]:
            patch["data"][i]["fillcolor"] = fill
            patch["data"][i]["line"]["color"] = after["line"][i]
        if before is None or before["hover"][i] != after["hover"][i]:
            patch["data"][i]["text"] = after["hover"][i]
    if before is None or before["labels"] != after["labels"]:
        patch["data"][len(after["fill"]) + MAP_LABELS]["text"] = after["labels"]
    return patch
