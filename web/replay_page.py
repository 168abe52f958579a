"""The replay page's data: ``/replay/frame`` (the wall at a moment, as the
changes ``assets/wall.js`` applies) and ``/replay/bookmarks`` (list, add).

Plain routes, not Dash callbacks: the page (``layouts/replay.py``) draws what
they answer with the wall's own browser code. The gate (``web/auth.py``) lets
only a person allowed on the ``replay`` screen reach them, for a site the
credential covers; each route checks the site again (deny by default). A
moment is shaped for the wall by the wall's own functions
(:func:`web.wall_shape.shape`, :func:`web.wall_changes.wall_changes`), from the
recorded snapshot: the same components, the same figures.
"""

from __future__ import annotations

import functools
import threading
from collections import OrderedDict
from datetime import datetime
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from dash import no_update
from flask import Blueprint, Response, jsonify, request
from plotly.io.json import to_json_plotly

from data.replay.bookmarks import BadBookmark, add_bookmark, list_bookmarks
from data.replay.moments import BadMoment, iso, parse_moment
from data.replay.recorder import STALE_GAP_MS
from layouts import ids
from layouts.analysis_figures import stamp
from layouts.i18n import lang_of, t
from layouts.theme import LIGHT
from layouts.wall_data import grid_outlines, map_frames
from layouts.wall_figures import grid_map_figure
from web.auth import audit_log, principal
from web.export import exported_by
from web.render import RenderError, renderer
from web.replay_api import replay_snapshot
from web.state import app_state
from web.tenant import page_site
from web.wall_changes import LIVE_OUTPUTS, wall_changes
from web.wall_shape import shape

replay_page = Blueprint("replay_page", __name__, url_prefix="/replay")
SHAPED_KEPT = 64
NOT_ON_THE_PAGE = ids.WALL_STATUS  # a store of the live wall only


def _error(status: int, message: str, **extra: Any) -> tuple[Response, int]:
    return jsonify({"error": message, "status": status, **extra}), status


def _site():
    """The site of the request, if its caller may replay it."""
    state = app_state()
    asked = request.args.get("site")
    found = page_site(principal(), asked, list(state.sites)) if asked else None
    return state.sites.get(found) if found else None


def _moment() -> tuple[tuple | None, tuple[Response, int] | None]:
    """((site, lang, at, snapshot) of ``?site=&at=&lang=``, None), or (None,
    the error to answer): a site outside the caller's scope, a bad moment,
    one not kept."""
    site = _site()
    if site is None:
        return None, _error(403, "that site is outside your scope")
    lang = lang_of(request.args.get("lang"))
    try:
        at = parse_moment("at", request.args.get("at"), site.timezone)
    except BadMoment as exc:
        return None, _error(400, str(exc))
    snap, span = replay_snapshot(site, at)
    if snap is None:
        return None, _error(404, "outside what is kept", kept=span)
    return (site, lang, at, snap), None


@functools.lru_cache(maxsize=32)
def _outlines(site_id: str, lang: str):
    return grid_outlines(app_state().sites[site_id], lang)


class Shaped:
    """Shaped versions by (site, version, language), a few dozen kept: a
    frame is sent as the change from the version the page shows."""

    def __init__(self) -> None:
        self._kept: OrderedDict[tuple, dict] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple) -> dict | None:
        with self._lock:
            return self._kept.get(key)

    def put(self, key: tuple, shaped: dict) -> None:
        with self._lock:
            self._kept[key] = shaped
            while len(self._kept) > SHAPED_KEPT:
                self._kept.popitem(last=False)


SHAPED = Shaped()


def _age(ms: int, lang: str) -> str:
    sec = ms // 1000
    if sec < 120:
        return t("age.seconds", lang, n=sec)
    if sec < 7200:
        return t("age.minutes", lang, n=sec // 60)
    return t("age.hours", lang, n=sec // 3600)


def frame_props(site, snap: dict, at: int, lang: str, shown: str | None
                ) -> tuple[list, int | None]:
    """The wall's props at moment ``at`` (the whole wall, or the change from
    ``shown``, ``<version>-<generated_ms>`` of what the page shows, when it
    is still known here) and the version of the base used. Versions are
    named with their time: a Redis started afresh counts them again."""
    name = f"{snap['version']}-{snap['generated_ms']}"
    new = SHAPED.get((site.id, name, lang))
    if new is None:
        new = shape(snap, site, _outlines(site.id, lang), lang)
        SHAPED.put((site.id, name, lang), new)
    old = SHAPED.get((site.id, shown, lang)) if shown else None
    tz = ZoneInfo(site.timezone)
    props: dict[str, tuple[Any, dict]] = {}
    for (cid, prop), value in zip(LIVE_OUTPUTS, wall_changes(
            old, new, len(site.grids), lang, tz), strict=True):
        if value is not no_update and cid != NOT_ON_THE_PAGE:
            name = cid if isinstance(cid, str) else to_json_plotly(cid)
            props.setdefault(name, (cid, {}))[1][prop] = value
    behind = at - snap["generated_ms"]
    stale = behind > STALE_GAP_MS
    moment = datetime.fromtimestamp(at / 1000, tz)
    made = datetime.fromtimestamp(snap["generated_ms"] / 1000, tz)
    extra = [
        (ids.WALL_CLOCK, {"children": moment.strftime("%Y-%m-%d %H:%M:%S")}),
        (ids.WALL_FRESH, {"children": t(
            "replay.shown", lang, at=moment.strftime("%H:%M:%S"),
            version=snap["version"], generated=made.strftime("%H:%M:%S"))}),
        (ids.WALL_STALE, {"children": t("replay.stale", lang,
                                        age=_age(behind, lang)) if stale else "",
                          "className": "wall-stale on" if stale else "wall-stale"}),
    ]
    return [*props.values(), *extra], (old["version"] if old else None)


def link(site_id: str, at: str) -> str:
    """The address of the replay at ``at``."""
    return "/replay?" + urlencode({"site": site_id, "at": at})


@replay_page.get("/frame")
def frame():
    """``?site=&at=&lang=&shown=``: the wall at ``at``."""
    moment, failure = _moment()
    if failure:
        return failure
    site, lang, at, snap = moment
    props, base = frame_props(site, snap, at, lang,
                              request.args.get("shown", "")[:40] or None)
    body = to_json_plotly({"v": snap["version"], "base": base, "ms": at,
                           "name": f"{snap['version']}-{snap['generated_ms']}",
                           "at": iso(at, site.timezone),
                           "generated_ms": snap["generated_ms"],
                           "people": snap["people_present"],
                           "open": snap["incidents"]["open"], "props": props})
    return Response(body, mimetype="application/json",
                    headers={"Cache-Control": "no-store"})


@replay_page.get("/bookmarks")
def bookmarks():
    site = _site()
    if site is None:
        return _error(403, "that site is outside your scope")
    state = app_state()
    marks = list_bookmarks(state.redis, state.keys(site.id))
    for mark in marks:
        mark["at"] = iso(mark["at_ms"], site.timezone)
        mark["link"] = link(site.id, mark["at"])
    return jsonify({"site": site.id, "bookmarks": marks})


@replay_page.post("/bookmarks")
def add():
    """JSON ``{"at": ISO 8601, "note": text}``: a bookmark, audited."""
    site = _site()
    if site is None:
        return _error(403, "that site is outside your scope")
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return _error(400, "send JSON: {\"at\": ISO 8601, \"note\": text}",
                      field=None)
    try:
        at = parse_moment("at", str(body.get("at") or ""), site.timezone)
        snap, span = replay_snapshot(site, at)
        if snap is None:
            raise BadBookmark("at", "at: outside what is kept")
        state, caller = app_state(), principal()
        mark = add_bookmark(state.redis, state.keys(site.id), at,
                            str(body.get("note") or ""), caller.name)
    except BadMoment as exc:
        return _error(400, str(exc), field="at")
    except BadBookmark as exc:
        return _error(400, str(exc), field=exc.field)
    mark["at"] = iso(at, site.timezone)
    mark["link"] = link(site.id, mark["at"])
    audit_log("bookmark", f"{site.id} {mark['at']}", "ok",
              str(mark["note"]), site=site.id)
    return jsonify(mark), 201


EXPORT_WIDTH, EXPORT_HEIGHT = 1600, 1000


def moment_figure(site, snap: dict, at: int, lang: str, who: str,
                  made_at: datetime | None = None):
    """The grid map of the moment, stamped with the site, the moment, the
    version shown then, its figures, who exported it and when (``made_at``,
    by default now: a clip's frames share one)."""
    tz = ZoneInfo(site.timezone)
    fig = grid_map_figure(*map_frames(snap, site, _outlines(site.id, lang), lang),
                          theme=LIGHT, lang=lang)
    moment = datetime.fromtimestamp(at / 1000, tz)
    made = datetime.fromtimestamp(snap["generated_ms"] / 1000, tz)
    name = site.name_en if lang == "en" else site.name
    incidents = snap["incidents"]
    lines = [
        "  ·  ".join([
            f"{t('wall.people_present', lang)}: {snap['people_present']}",
            f"{t('wall.open', lang)}: {incidents['open']}",
            f"{t('wall.overdue', lang)}: {incidents['overdue']}",
            t("replay.shown", lang, at=moment.strftime("%H:%M:%S"),
              version=snap["version"], generated=made.strftime("%H:%M:%S"))]),
        "  ·  ".join([
            f"{t('analysis.exported_by', lang)}: {who}",
            f"{t('analysis.exported_at', lang)}: "
            f"{(made_at or datetime.now(tz)).strftime('%Y-%m-%d %H:%M:%S')}"]),
    ]
    title = (f"{name} · {t('replay.title', lang)} · "
             f"{moment.strftime('%Y-%m-%d %H:%M:%S')}")
    return stamp(fig, title, lines, theme=LIGHT, height=EXPORT_HEIGHT)


@replay_page.get("/export.png")
def export_png():
    """``?site=&at=&lang=``: the moment as a PNG, made by the exports'
    renderer (one Chromium per process), stamped and audited."""
    moment, failure = _moment()
    if failure:
        return failure
    site, lang, at, snap = moment
    fig = moment_figure(site, snap, at, lang, exported_by())
    try:
        png = renderer().render(fig, "png", EXPORT_WIDTH, EXPORT_HEIGHT)
    except RenderError as exc:
        return _error(503, str(exc))
    stamp_at = iso(at, site.timezone)
    audit_log("export", f"{site.id} replay {stamp_at}", "ok",
              f"version {snap['version']}", site=site.id)
    name = f"replay-{site.id}-{stamp_at[:19].replace(':', '')}.png"
    return Response(png, mimetype="image/png", headers={
        "Content-Disposition": f'attachment; filename="{name}"',
        "Cache-Control": "no-store"})
