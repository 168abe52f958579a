"""What changes on the wall from one snapshot version to the next.

:func:`shape` turns a snapshot into the wall's parts once per web process and
version; :func:`wall_changes` compares two shaped versions and gives the new
value of every output that differs (components, figures as ``Patch``). The
same changes go two ways: pushed in the event stream to every wall of the
site (:meth:`WallData.event`: computed and serialized once per process and
version, whatever the number of walls, and applied in the browser by
``assets/wall.js``), and as the answer of the fallback update callback when
the event stream is down.
"""

from __future__ import annotations

import functools
import json
import logging
import threading
import time
from collections import OrderedDict
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import redis
from dash import Patch, no_update
from flask_caching import Cache
from plotly.io.json import to_json_plotly

from data.clock import now_ms
from data.feed.producers import limits_of, read_health
from data.feed.snapshot import read_snapshot, read_version
from data.interrupt import alerting
from layouts import ids
from layouts.theme import DARK
from layouts.wall import INCIDENT_KPIS, PEOPLE_KPIS, flip_digits
from layouts.wall_data import (
    flow_values,
    gates,
    grid_outlines,
    kpis,
    map_values,
    ranking,
    ticker,
)
from layouts.wall_figures import (
    MAP_ENTRANCES,
    MAP_INCIDENTS,
    MAP_LABELS,
    flow_figure,
)
from layouts.wall_health import (
    estimate_values,
    render_feed_health,
    render_people_note,
    silent_places,
    strip_values,
)
from layouts.wall_render import (
    alert_texts,
    kpi_text,
    render_alerts,
    render_gates,
    render_parking,
    render_ranking,
    render_ticker,
)
from web.state import AppState
from web.wall_spot import Spotlights

log = logging.getLogger(__name__)
KPI_NAMES = (*PEOPLE_KPIS, *INCIDENT_KPIS)
# every output the wall's data drives, in the order of the update callback
LIVE_OUTPUTS: tuple[tuple[Any, str], ...] = (
    (ids.WALL_PEOPLE, "children"),
    (ids.WALL_PEOPLE, "data-estimate"),
    (ids.WALL_PEOPLE, "className"),
    (ids.WALL_PEOPLE_NOTE, "children"),
    *((ids.wall_kpi(name), "children") for name in KPI_NAMES),
    (ids.WALL_RANKING, "children"),
    (ids.WALL_VEHICLES, "children"),
    (ids.WALL_PARKING, "children"),
    (ids.WALL_MAP, "figure"),
    (ids.WALL_FLOW, "figure"),
    (ids.WALL_TICKER, "children"),
    (ids.WALL_ALERT, "children"),
    (ids.WALL_ALERT, "className"),
    (ids.WALL_HEALTH, "children"),
    (ids.WALL_STATUS, "data"),
)
EVENTS_KEPT = 32
ASKED_S = 120.0  # a language no wall asked for this long is not prepared


def shape(snap: dict, site, outlines, lang: str,
          health: dict | None = None) -> dict[str, Any]:
    """Every part of the wall for one snapshot (JSON-ready, comparable),
    with the feed health as last judged (``data/feed/producers.py:
    summary``, None: not known).

    Plain Python rather than pandas: this runs for every version, and frames
    of a dozen rows cost more to build than to use.
    """
    k = kpis(snap)
    estimate = estimate_values(health)
    values = {name: k.get(name) for name in KPI_NAMES}
    values["vehicles_today"] = (k["vehicles_in_today"], k["vehicles_out_today"])
    return {
        "version": snap["version"],
        "people": k["people_present"],
        "kpi": {name: kpi_text(name, v) for name, v in values.items()},
        "ranking": ranking(snap, site, lang),
        "gates": gates(snap, site, lang),
        "parking": [{"name": p["name_en"] if lang == "en" else p["name"],
                     "occupied": p["occupied"], "capacity": p["capacity"]}
                    for p in snap.get("parking", {}).values()],
        "estimate": estimate,
        "map": map_values(snap, site, outlines, lang, DARK,
                          silent=frozenset(silent_places(health)),
                          estimated=frozenset(estimate["grids"])),
        "flow": flow_values(snap, ZoneInfo(site.timezone)),
        "ticker": ticker(snap, site, lang),
        "alerts": alert_texts(snap, site, lang),
        "health": strip_values(health, site, lang),
        "interrupting": alerting(snap),
        "grids": snap.get("grids", {}),
        "open_by_grid": _open_by_grid(snap),
        "status": {"generated_ms": snap["generated_ms"],
                   "feeds": {n: f["last_ts"] for n, f in snap["feeds"].items()}},
    }


def _open_by_grid(snap: dict) -> dict[str, int]:
    counts: dict[str, int] = {}
    for inc in snap.get("open_incidents", []):
        counts[inc["grid"]] = counts.get(inc["grid"], 0) + 1
    return counts


def _changed(old: dict | None, new: dict, name: str) -> bool:
    return old is None or old.get(name) != new.get(name)


def map_patch(old: dict | None, new: dict, n_grids: int) -> Patch | Any:
    before, after = (old or {}).get("map"), new["map"]
    if before == after:
        return no_update
    patch = Patch()
    for i in range(n_grids):
        if before is None or before["fill"][i] != after["fill"][i]:
            patch["data"][i]["fillcolor"] = after["fill"][i]
            patch["data"][i]["line"]["color"] = after["line"][i]
        if before is None or before["grid_hover"][i] != after["grid_hover"][i]:
            patch["data"][i]["text"] = after["grid_hover"][i]
    if before is None or before["labels"] != after["labels"]:
        patch["data"][n_grids + MAP_LABELS]["text"] = after["labels"]
    entrances = patch["data"][n_grids + MAP_ENTRANCES]
    if before is None or before["sizes"] != after["sizes"] or (
            before["entrance_hover"] != after["entrance_hover"]):
        entrances["marker"]["size"] = after["sizes"]
        entrances["text"] = after["entrance_hover"]
    if before is None or before.get("entrance_line") != after["entrance_line"]:
        entrances["marker"]["color"] = after["entrance_fill"]
        entrances["marker"]["line"]["color"] = after["entrance_line"]
    if before is None or before["incidents"] != after["incidents"]:
        inc = after["incidents"]
        trace = patch["data"][n_grids + MAP_INCIDENTS]
        trace["x"], trace["y"], trace["text"] = inc["x"], inc["y"], inc["text"]
        trace["marker"]["color"] = inc["color"]
        trace["marker"]["symbol"] = inc["symbol"]
    return patch


def flow_patch(old: dict | None, new: dict, lang: str) -> Patch | Any:
    """The whole figure the first time; then, within the same two hours,
    only the minutes whose counts moved (usually the current one); when the
    window moves on a minute, the four series."""
    if not _changed(old, new, "flow") or not new["flow"]["x"]:
        return no_update
    if old is None or not old["flow"]["x"]:  # the first figure this browser gets
        columns = ("people_in", "people_out", "in_week_ago", "out_week_ago")
        frame = pd.DataFrame({"time": pd.to_datetime(new["flow"]["x"]),
                              **dict(zip(columns, new["flow"]["y"], strict=True))})
        fig = flow_figure(frame, theme=DARK, lang=lang).to_plotly_json()
        for trace, ys in zip(fig["data"], new["flow"]["y"], strict=True):
            # plain lists, not plotly's typed arrays: later patches set minutes
            trace["x"], trace["y"] = list(new["flow"]["x"]), list(ys)
        return fig
    patch = Patch()
    same_window = old["flow"]["x"] == new["flow"]["x"]
    for i, ys in enumerate(new["flow"]["y"]):
        before = old["flow"]["y"][i]
        if same_window and len(before) == len(ys):
            for k, value in enumerate(ys):
                if before[k] != value:
                    patch["data"][i]["y"][k] = value
        else:
            patch["data"][i]["x"] = new["flow"]["x"]
            patch["data"][i]["y"] = ys
        if i >= 2 and _shown(before) != _shown(ys):
            patch["data"][i]["visible"] = _shown(ys)
    return patch


def _shown(ys: list) -> bool | str:
    """A week-ago series is drawn when there is one, else only in the legend."""
    return True if any(v is not None for v in ys) else "legendonly"


def _plain(components: Any) -> Any:
    return json.loads(to_json_plotly(components))


class Rendered:
    """Rendered lists and their plain JSON form, kept for the next version.

    The change from one version to the next compares the old rendering with
    the new; the old one is what the previous change made as its new one, so
    each list is rendered and converted once per version, not twice (the
    conversion, Dash's ``to_plotly_json`` over every component, was a fifth
    of a web process's CPU at 5,000 walls, all of it before their wake-up).
    Keyed by what was rendered, so any version, site or language may ask."""

    def __init__(self, kept: int = 64) -> None:
        self.kept = kept
        self._made: OrderedDict[tuple, tuple[Any, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, name: str, rows: Any, render, *context: Any) -> tuple[Any, Any]:
        """(components, their plain JSON form) of ``render(rows)``."""
        key = (name, *context, json.dumps(rows, sort_keys=True, default=str))
        with self._lock:
            found = self._made.get(key)
            if found is not None:
                self._made.move_to_end(key)
                return found
        components = render(rows)
        found = (components, _plain(components))
        with self._lock:
            self._made[key] = found
            while len(self._made) > self.kept:
                self._made.popitem(last=False)
        return found


RENDERED = Rendered()  # per process, shared by every site and language


def _differences(old: Any, new: Any, path: list, found: list) -> None:
    """(location, new value) of the smallest parts where ``new`` differs."""
    if type(old) is not type(new) or (isinstance(new, dict) and old.keys()
                                      != new.keys()) or (
            isinstance(new, list) and len(old) != len(new)):
        found.append((path, new))
    elif isinstance(new, dict):
        for key, value in new.items():
            if old[key] != value:
                _differences(old[key], value, [*path, key], found)
    elif isinstance(new, list):
        for i, value in enumerate(new):
            if old[i] != value:
                _differences(old[i], value, [*path, i], found)
    elif old != new:
        found.append((path, new))


def children_patch(before: Any, after: Any, most: int = 24, *,
                   plain: tuple[Any, Any] | None = None) -> Patch | Any:
    """Rendered children as a ``Patch`` of the texts and widths that moved
    (a ranking's numbers, not its eight rows), or whole if much changed.
    ``plain``: their plain JSON forms, when already made."""
    old, new = plain or (_plain(before), _plain(after))
    found: list = []
    _differences(old, new, [], found)
    if not found:
        return no_update
    if len(found) > most or [] in (path for path, _ in found):
        # whole: as the plain form when there is one (the same JSON the
        # components make, without making it again for the event's body)
        return new if plain else after
    patch = Patch()
    for path, value in found:
        target = patch
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    return patch


def wall_changes(old: dict | None, new: dict, n_grids: int, lang: str,
                 tz: ZoneInfo) -> list[Any]:
    """The value of each of :data:`LIVE_OUTPUTS` (``no_update`` if the same)."""
    keep = lambda name, value: value if _changed(old, new, name) else no_update  # noqa: E731

    def listed(name: str, render, *context: Any) -> Any:
        if not _changed(old, new, name):
            return no_update
        if old is None:
            return render(new[name])
        before, plain_before = RENDERED.get(name, old[name], render, *context)
        after, plain_after = RENDERED.get(name, new[name], render, *context)
        return children_patch(before, after, plain=(plain_before, plain_after))

    return [
        # always: the page may show a newer count pushed between snapshots
        flip_digits(new["people"]),
        keep("estimate", "1" if new["estimate"]["silent"] else "0"),
        keep("estimate", "flips estimate" if new["estimate"]["silent"] else "flips"),
        keep("estimate", render_people_note(new["estimate"], lang)),
        *(new["kpi"][n] if old is None or old["kpi"][n] != new["kpi"][n]
          else no_update for n in KPI_NAMES),
        listed("ranking", lambda rows: render_ranking(rows, lang), lang),
        listed("gates", lambda rows: render_gates(rows, lang), lang),
        listed("parking", lambda rows: render_parking(rows, lang), lang),
        map_patch(old, new, n_grids),
        flow_patch(old, new, lang),
        listed("ticker", lambda rows: render_ticker(rows, lang, tz), lang, str(tz)),
        keep("alerts", render_alerts(new["alerts"], lang)),
        keep("alerts", "wall-alert on" if new["alerts"] else "wall-alert"),
        keep("health", render_feed_health(new["health"], lang)),
        keep("status", new["status"]),
    ]


class WallData:
    """Shaped snapshots per (site, version, language), shared by every wall,
    and the pushed change from one version to the next."""

    def __init__(self, state: AppState, cache: Cache) -> None:
        self.state, self.cache = state, cache
        self.outlines = {(s, lang): grid_outlines(site, lang)
                         for s, site in state.sites.items() for lang in ("zh", "en")}
        self._events: OrderedDict[tuple, tuple[int, str]] = OrderedDict()
        self._asked: dict[tuple[str, str], float] = {}  # (site, lang) -> when
        self._lock = threading.Lock()
        self.spots = Spotlights(self)  # the spotlight, pushed too
        self.limits = limits_of(state.config)

    @functools.lru_cache(maxsize=64)  # noqa: B019  (one per process, kept)
    def people_props(self, people: int) -> str:
        """JSON of the props showing ``people`` present (a pushed count)."""
        return to_json_plotly([[ids.WALL_PEOPLE, {"children": flip_digits(people)}]])

    def parts(self, site_id: str, version: int, lang: str) -> dict | None:
        return self.cache.get(f"wall:{site_id}:{version}:{lang}")

    def latest(self, site_id: str, lang: str) -> dict | None:
        """The newest shaped snapshot: one GET of the version when cached."""
        keys = self.state.keys(site_id)
        version = read_version(self.state.redis, keys)
        found = self.parts(site_id, version, lang)
        if found is not None:
            return found
        snap = read_snapshot(self.state.redis, keys)
        if snap is None:
            return None
        site = self.state.sites[site_id]
        shaped = shape(snap, site, self.outlines[site_id, lang], lang,
                       self.health(site_id))
        self.cache.set(f"wall:{site_id}:{snap['version']}:{lang}", shaped)
        return shaped

    def health(self, site_id: str) -> dict | None:
        """The feed health as last judged, with each new version: one GET of
        the stored summary, judged anew by this process at most once a
        second for the whole deployment (``read_health``), never per wall."""
        site = self.state.sites[site_id]
        try:
            return read_health(self.state.redis, self.state.keys(site_id), site,
                               now_ms(), self.limits)
        except redis.RedisError as exc:  # the wall still shows the rest
            log.warning("wall: no feed health of %s (%s)", site_id, exc)
            return None

    def changes(self, site_id: str, old: dict | None, new: dict,
                lang: str) -> list[Any]:
        site = self.state.sites[site_id]
        return wall_changes(old, new, len(site.grids), lang, ZoneInfo(site.timezone))

    def prepare(self, site_id: str, before: int, version: int) -> None:
        """The change from ``before`` to ``version`` in each language the
        walls of the site asked for lately, made when the push hub hears of
        ``version`` and before it wakes them (``web.hub.Hub.prepare``)."""
        now = time.monotonic()
        langs = [lang for (site, lang), at in list(self._asked.items())
                 if site == site_id and now - at < ASKED_S]
        for lang in langs:
            self.event(site_id, lang, before or None, version)
        if langs:  # an urgent event takes the spotlight of the walls open
            parts = self.latest(site_id, langs[0])
            if parts is not None:
                self.spots.observe(site_id, parts)

    def event(self, site_id: str, lang: str, base: int | None,
              version: int | None = None) -> tuple[int, str | None] | None:
        """The newest version and, as JSON, what changed since ``base`` (the
        version this stream sent last; None or unknown here: everything;
        ``base`` itself: None, nothing to send).

        ``{"v": version, "base": base or null, "props": [[id, {prop:
        value}], …]}``. Serialized once per process for all the streams that
        sent ``base``; the browser applies it only on top of ``base``.
        """
        self._asked[site_id, lang] = time.monotonic()
        with self._lock:  # the streams of a site wake together: shape once
            # ``version`` (the push hub's): every stream after the first gets
            # the change from memory, without a Redis read or a cache load
            found = self._events.get((site_id, lang, base, version))
            if version is not None and found is not None:
                return found
            new = self.latest(site_id, lang)
            if new is None:
                return None
            if base == new["version"]:
                return base, None
            key = (site_id, lang, base, new["version"])
            found = self._events.get(key)
            if found is not None:
                return found
            old = self.parts(site_id, base, lang) if base else None
            props: dict[str, tuple[Any, dict]] = {}
            for (cid, prop), value in zip(
                    LIVE_OUTPUTS, self.changes(site_id, old, new, lang), strict=True):
                if value is not no_update:
                    name = cid if isinstance(cid, str) else to_json_plotly(cid)
                    props.setdefault(name, (cid, {}))[1][prop] = value
            body = to_json_plotly({"v": new["version"],
                                   "base": old["version"] if old else None,
                                   "props": list(props.values())})
            self._events[key] = found = (new["version"], body)
            if version is not None and version <= new["version"]:
                self._events[site_id, lang, base, version] = found
            while len(self._events) > EVENTS_KEPT:
                self._events.popitem(last=False)
            return found
