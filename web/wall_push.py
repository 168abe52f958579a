"""The wall's data per web process: shaped versions, and the pushed change.

:class:`WallData` shapes each snapshot version once per process and
language (``web/wall_shape.py``), keeps it in the cache, and makes the
change from one version to the next (``web/wall_changes.py``) once for
every wall of the site: pushed in the event stream (:meth:`WallData.event`,
computed and serialized once per process and version, whatever the number
of walls, and applied in the browser by ``assets/wall.js``), and answered
by the fallback update callback when the event stream is down.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections import OrderedDict
from typing import Any
from zoneinfo import ZoneInfo

import redis
from dash import no_update
from flask_caching import Cache
from plotly.io.json import to_json_plotly

from data.clock import now_ms
from data.feed.producers import limits_of, read_health
from data.feed.snapshot import read_snapshot, read_version
from layouts import ids
from layouts.wall import flip_digits
from layouts.wall_data import grid_outlines
from web.state import AppState
from web.wall_changes import LIVE_OUTPUTS, wall_changes
from web.wall_shape import shape
from web.wall_spot import Spotlights

log = logging.getLogger(__name__)
EVENTS_KEPT = 32
ASKED_S = 120.0  # a language no wall asked for this long is not prepared


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
        # site -> the settled minute buckets its devices' judge keeps
        self._judged: dict[str, dict] = {}
        self._judged_lock = threading.Lock()  # health() runs under self._lock

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
                               now_ms(), self.limits,
                               cache=self._judge_cache(site_id))
        except redis.RedisError as exc:  # the wall still shows the rest
            log.warning("wall: no feed health of %s (%s)", site_id, exc)
            return None

    def _judge_cache(self, site_id: str) -> dict:
        """What this process keeps of a site's device minutes for judging it
        (data/feed/producers.py), while its walls ask (``ASKED_S``): what
        the process holds grows with the sites it shows, not with the city.
        Let go when another site comes in, not on every version."""
        with self._judged_lock:
            kept = self._judged.get(site_id)
            if kept is None:
                now = time.monotonic()
                shown = {site for (site, _), at in list(self._asked.items())
                         if now - at < ASKED_S}
                for other in [s for s in self._judged if s not in shown]:
                    del self._judged[other]
                kept = self._judged[site_id] = {}
        return kept

    def changes(self, site_id: str, old: dict | None, new: dict,
                lang: str) -> list[Any]:
        site = self.state.sites[site_id]
        return wall_changes(old, new, len(site.grids), lang, ZoneInfo(site.timezone))

    def prepare(self, site_id: str, before: int, version: int) -> int:
        """The change from ``before`` to ``version`` in each language the
        walls of the site asked for lately, made when the push hub hears of
        ``version`` and before it wakes them (``web.hub.Hub.prepare``).
        Returns the new cast number when an urgent event took the spotlight
        (0 if not): the hub sends the new spotlight with this version."""
        now = time.monotonic()
        langs = [lang for (site, lang), at in list(self._asked.items())
                 if site == site_id and now - at < ASKED_S]
        cast = 0
        if langs:  # an urgent event takes the spotlight of the walls open
            parts = self.latest(site_id, langs[0])
            if parts is not None:
                cast = self.spots.observe(site_id, parts)
        for lang in langs:
            self.event(site_id, lang, before or None, version)
        return cast

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
