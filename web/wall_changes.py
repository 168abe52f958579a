"""What changes on the wall from one shaped version to the next.

:func:`wall_changes` compares two versions shaped by
:func:`web.wall_shape.shape` and gives the new value of every output in
:data:`LIVE_OUTPUTS` that differs: components as the texts that moved
(:func:`children_patch`), figures as a ``Patch`` (:func:`map_patch`,
:func:`flow_patch`). The same changes go out in the event stream
(``web/wall_push.py``) and as the fallback update callback's answer.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
from dash import Patch, no_update
from plotly.io.json import to_json_plotly

from layouts import ids
from layouts.theme import DARK
from layouts.wall import flip_digits
from layouts.wall_figures import (
    MAP_ENTRANCES,
    MAP_INCIDENTS,
    MAP_LABELS,
    flow_figure,
)
from layouts.wall_health import render_feed_health, render_people_note
from layouts.wall_render import (
    render_alerts,
    render_gates,
    render_parking,
    render_ranking,
    render_ticker,
)
from web.wall_shape import KPI_NAMES

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

