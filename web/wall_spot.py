"""The wall's spotlight: what a supervisor cast, else the busiest grids in turn.

The rotation goes by the clock: period ``n`` is epoch ms // the rotation
period (``GOV_WALL_SPOT_SECONDS``), and its grid is the ``n mod 5``-th
busiest. The first web process that asks during a period decides it and keeps
it in Redis for the period (SET NX), so every wall of the site shows the same
grid, whichever worker serves it and however late it joined.
:class:`Spotlights` builds the spotlight once per process, site, language,
period and cast, and serializes it once for every wall's event stream
(``web/push.py`` sends it when the period or the cast changes); the fallback
callback answers with the same spotlight while a wall's event stream is down.

An urgent event (``data/interrupt.py``) takes the spotlight from the
rotation, not from a cast: each of its changes bumps the cast number, so it
reaches the walls as a cast does, and this process sets a timer for its end
so that the next one, or the rotation, follows on time.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from typing import Any

import redis
from dash import Patch
from plotly.io.json import to_json_plotly

from data.cast import read_cast, restate
from data.clock import now_ms
from data.incidents.lifecycle import public_view
from data.incidents.store import read_incident
from data.interrupt import Interrupt, current, observe_cast
from data.site import Site
from layouts import ids
from layouts.wall_figures import MAP_SPOTLIGHT
from layouts.wall_render import (
    interrupt_header,
    render_grid_spotlight,
    render_incident_spotlight,
)

log = logging.getLogger(__name__)

SPOT_CANDIDATES = 5
KEPT = 16


def busiest_grids(site: Site, parts: dict) -> list[str]:
    """Grids by people through them in the last hour, an open incident
    counting as 50; ties by id."""
    live, open_by_grid = parts["grids"], parts["open_by_grid"]
    return sorted(site.grids, key=lambda g: (
        -(live.get(g, {}).get("people_in_1h", 0)
          + live.get(g, {}).get("people_out_1h", 0)
          + 50 * open_by_grid.get(g, 0)), g))


def rotation_grid(r: redis.Redis, keys, site: Site, parts: dict, period: int,
                  period_ms: int) -> str:
    """The grid of rotation ``period``: decided by the first process to ask."""
    ranked = busiest_grids(site, parts)
    choice = ranked[period % min(SPOT_CANDIDATES, len(ranked))]
    pipe = r.pipeline(transaction=True)
    pipe.set(keys.spot(period), choice, nx=True, px=2 * period_ms)
    pipe.get(keys.spot(period))
    decided = pipe.execute()[-1]
    decided = decided.decode() if isinstance(decided, bytes) else decided
    return decided if decided in site.grids else choice


def _zoom(patch: Patch, spot_trace, row) -> Patch:
    spot_trace["x"], spot_trace["y"] = row["xs"], row["ys"]
    x0, y0, x1, y1 = row["bounds"]
    pad_x, pad_y = (x1 - x0) * 0.6, (y1 - y0) * 0.6
    patch["layout"]["xaxis"]["range"] = [x0 - pad_x, x1 + pad_x]
    patch["layout"]["yaxis"]["range"] = [y0 - pad_y, y1 + pad_y]
    return patch


class Spotlights:
    """The spotlight of each (site, language, period, cast), built once per
    process; ``data`` is the wall's :class:`web.wall_push.WallData`."""

    def __init__(self, data) -> None:
        self.data, self.state = data, data.state
        self.period_ms = self.state.config.wall_spot_seconds * 1000
        self.hold_ms = self.state.config.wall_interrupt_seconds * 1000
        self._ends: dict[str, int] = {}  # site -> the end a timer is set for
        self._estimated: dict[str, str] = {}  # site -> estimated grids, as told
        self._built: OrderedDict[tuple, tuple[Any, Any, str]] = OrderedDict()
        self._lock = threading.Lock()

    def period(self, at_ms: float | None = None) -> int:
        return int((time.time() * 1000 if at_ms is None else at_ms)
                   // self.period_ms)

    def event(self, site_id: str, lang: str, period: int, cast_seq: int) -> str:
        """JSON of ``{"period", "cast", "props": [[id, {prop: value}], …]}``
        for the event streams: serialized once for all of them."""
        return self.get(site_id, lang, period, cast_seq)[2]

    def now(self, site_id: str, lang: str) -> tuple[Any, Any]:
        """(children, map patch) now: for the fallback callback."""
        seq = self.state.redis.get(self.state.keys(site_id).cast_seq)
        body, patch, _ = self.get(site_id, lang, self.period(), int(seq or 0))
        return body, patch

    def get(self, site_id: str, lang: str, period: int,
            cast_seq: int) -> tuple[Any, Any, str]:
        key = (site_id, lang, period, cast_seq)
        with self._lock:  # the streams of a site wake together: build once
            found = self._built.get(key)
            if found is None:
                body, patch = self.build(site_id, lang, period)
                found = (body, patch, to_json_plotly({
                    "period": period, "cast": cast_seq, "props": [
                        [ids.WALL_SPOTLIGHT, {"children": body}],
                        [ids.WALL_MAP, {"figure": patch}]]}))
                self._built[key] = found
                while len(self._built) > KEPT:
                    self._built.popitem(last=False)
            return found

    def build(self, site_id: str, lang: str, period: int) -> tuple[Any, Patch]:
        """The cast grid or incident zoomed on the map, else the period's grid."""
        state = self.state
        site, keys = state.sites[site_id], state.keys(site_id)
        parts = self.data.latest(site_id, lang) or {"grids": {}, "open_by_grid": {}}
        cast = read_cast(state.redis, keys)
        outlines = self.data.outlines[site_id, lang].set_index("id")
        patch = Patch()
        spot_trace = patch["data"][len(site.grids) + MAP_SPOTLIGHT]
        urgent = None if cast else current(state.redis, keys, now_ms(),
                                             self.hold_ms)
        if urgent is not None:
            self._time_the_end(site_id, urgent)
        if cast and cast.get("kind") == "incident" or (
                urgent is not None and urgent.kind == "incident"):
            record = read_incident(state.redis, keys,
                                   cast["id"] if cast else urgent.id)
            if record:
                view = public_view(record, now_ms())
                grid = site.grids.get(view["grid"])
                cat = site.categories.get(view["category"])
                body = render_incident_spotlight(
                    view, (cat.name_en if lang == "en" else cat.name) if cat else "",
                    (grid.name_en if lang == "en" else grid.name) if grid else "",
                    lang, header=self._header(urgent, lang))
                return body, _zoom(patch, spot_trace, outlines.loc[view["grid"]])
        is_cast = bool(cast and cast.get("kind") == "grid"
                       and cast.get("id") in site.grids)
        is_urgent = bool(urgent and urgent.kind == "grid" and urgent.id in site.grids)
        grid_id = cast["id"] if is_cast else urgent.id if is_urgent else (
            rotation_grid(state.redis, keys, site, parts, period, self.period_ms))
        grid = site.grids[grid_id]
        worker = site.users.get(grid.worker) if grid.worker else None
        body = render_grid_spotlight(grid, parts["grids"].get(grid_id, {}),
                                     parts["open_by_grid"].get(grid_id, 0),
                                     worker.name if worker else "—", is_cast, lang,
                                     header=self._header(urgent, lang)
                                     if is_urgent else None,
                                     estimated=grid_id in parts.get(
                                         "estimate", {}).get("grids", {}))
        row = outlines.loc[grid_id]
        if is_cast or is_urgent:
            return body, _zoom(patch, spot_trace, row)
        spot_trace["x"], spot_trace["y"] = row["xs"], row["ys"]
        patch["layout"]["xaxis"]["autorange"] = True
        patch["layout"]["yaxis"]["autorange"] = True
        return body, patch

    @staticmethod
    def _header(urgent: Interrupt | None, lang: str) -> Any:
        if urgent is None:
            return None
        return interrupt_header(urgent.kind, urgent.until_ms, urgent.queued, lang)

    def _time_the_end(self, site_id: str, urgent: Interrupt) -> None:
        """When ``urgent`` runs out, move on (and tell the walls): the first
        process whose timer fires does it, the others find nothing to do."""
        if self._ends.get(site_id) == urgent.until_ms:
            return
        self._ends[site_id] = urgent.until_ms
        timer = threading.Timer(max(0.0, (urgent.until_ms - now_ms()) / 1000) + 0.02,
                                self._end, (site_id,))
        timer.daemon = True
        timer.start()

    def _end(self, site_id: str) -> None:
        try:
            current(self.state.redis, self.state.keys(site_id), now_ms(),
                    self.hold_ms)
        except redis.RedisError as exc:  # the next spotlight asked moves it on
            log.warning("wall: an urgent spotlight of %s did not end (%s)",
                        site_id, exc)

    def observe(self, site_id: str, parts: dict) -> int:
        """Queue what newly alerts in a new version (``WallData.prepare``);
        when a grid's people present becomes an estimate (a counter of it
        silent) or stops being one, draw the spotlight again at once, not at
        its next turn (a cast grid never turns). The new cast number if the
        spotlight changed, else 0."""
        keys = self.state.keys(site_id)
        cast = observe_cast(self.state.redis, keys,
                            [tuple(x) for x in parts["interrupting"]],
                            now_ms(), self.hold_ms)
        estimated = ",".join(sorted(parts.get("estimate", {}).get("grids", {})))
        if self._estimated.get(site_id) != estimated:  # Redis only on a change
            cast = restate(self.state.redis, keys, keys.spot_estimated,
                           estimated) or cast
            self._estimated[site_id] = estimated
        return cast
