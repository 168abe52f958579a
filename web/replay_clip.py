"""Clips of the replay: a range of minutes as an animated PNG, made on the
server by the exports' long-lived renderer (:func:`web.render.renderer`),
each frame the stamped picture of its moment that the PNG export makes
(:func:`web.replay_page.moment_figure`: site, moment, version shown, its
figures, who made the clip and when).

``GET /replay/clip.png?site=&start=&end=&every=&lang=`` (the replay page;
the gate lets only people allowed on the ``replay`` screen reach it) and
``GET /api/v1/sites/<site>/replay/clip.png?start=&end=&every=&lang=`` (a
session or a ``read`` key; a kiosk's wall has neither).

The work is bounded so that a clip never stalls the web process: at most
``MAX_MINUTES`` of replay and ``MAX_FRAMES`` frames (a 400 naming the field
past them), one clip at a time per process (a second is a 429 with
``Retry-After``, not a queue), frames rendered one after the other on one of
the renderer's tabs (the other stays free for PNG and chart exports: the
browser, not this process, does the drawing), and a clip that runs past
``DEADLINE_S`` is abandoned (503). The APNG is written by Pillow; its
``gov:frames`` text chunk lists each frame's moment and version.
"""

from __future__ import annotations

import io
import json
import threading
import time
from datetime import datetime
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, jsonify, request
from PIL import Image, PngImagePlugin

from data.replay.moments import MAX_CLIP_MINUTES, BadMoment, iso, parse_moment
from data.replay.read import snapshot_at
from layouts.i18n import lang_of
from web.api import _site_or_404
from web.auth import audit_log
from web.export import exported_by
from web.push import gevent_patched
from web.render import RenderError, renderer
from web.replay_api import kept
from web.replay_page import _site as page_site
from web.replay_page import moment_figure
from web.state import app_state

clip_page = Blueprint("replay_clip", __name__, url_prefix="/replay")
clip_api = Blueprint("api_replay_clip", __name__, url_prefix="/api/v1")

MAX_MINUTES = MAX_CLIP_MINUTES
MAX_FRAMES = 120
DEFAULT_FRAMES = 30
FRAME_MS = 500  # each frame shown half a second: 30 frames, a 15 s clip
CLIP_WIDTH, CLIP_HEIGHT = 1280, 800
DEADLINE_S = 120.0
_busy = threading.BoundedSemaphore(1)


class BadClip(ValueError):
    """A clip that cannot be made as asked; ``field`` names the parameter."""

    def __init__(self, field: str, message: str, status: int = 400,
                 **extra) -> None:
        super().__init__(message)
        self.field, self.status, self.extra = field, status, extra


def clip_moments(start: int, end: int, every_s: str | None) -> list[int]:
    """The moments of the frames: ``start``, then every ``every_s`` seconds
    (by default ``DEFAULT_FRAMES`` over the range), up to ``end``."""
    if end <= start:
        raise BadClip("end", "end: must be after start")
    if end - start > MAX_MINUTES * 60_000:
        raise BadClip("end", f"end: at most {MAX_MINUTES} minutes after start")
    if every_s in (None, ""):
        step = max(1000, (end - start) // (DEFAULT_FRAMES - 1))
    else:
        try:
            step = int(float(every_s) * 1000)
        except ValueError:
            raise BadClip("every", f"every={every_s[:20]!r}: seconds between "
                                   "two frames, a number") from None
        if not 1000 <= step <= MAX_MINUTES * 60_000:
            raise BadClip("every", "every: from 1 second to "
                                   f"{MAX_MINUTES * 60} seconds")
    frames = (end - start) // step + 1
    if frames > MAX_FRAMES:
        raise BadClip("every", f"every: {frames} frames asked, at most "
                               f"{MAX_FRAMES} (a larger every, or a shorter "
                               "range)")
    return [start + k * step for k in range(frames)]


def _range(site) -> tuple[int, int, list[int]]:
    """(start, end, moments) of the request's ``start``, ``end``, ``every``,
    within what is kept."""
    moment = {}
    for name in ("start", "end"):
        try:
            moment[name] = parse_moment(name, request.args.get(name),
                                        site.timezone)
        except BadMoment as exc:
            raise BadClip(name, str(exc)) from None
    start, end = moment["start"], moment["end"]
    moments = clip_moments(start, end, request.args.get("every"))
    span = kept(site)
    if span is None or start < span["from_ms"] or end > span["to_ms"]:
        where = (f"from {span['from']} to {span['to']}" if span
                 else "nothing is recorded yet")
        raise BadClip("start" if span is None or start < span["from_ms"]
                      else "end", f"the range is outside what is kept for site "
                      f"{site.id}: {where}", status=404, kept=span)
    return start, end, moments


def make_clip(site, moments: list[int], lang: str, who: str,
              made: datetime | None = None) -> tuple[bytes, list[dict]]:
    """The clip of ``moments`` as APNG bytes and, per frame, its moment and
    version. Raises RenderError (the browser failed or the deadline passed)."""
    root = app_state().config.replay
    made = made or datetime.now(ZoneInfo(site.timezone))
    deadline = time.monotonic() + DEADLINE_S
    frames, about = [], []
    for at in moments:
        if time.monotonic() > deadline:
            raise RenderError(f"the clip took over {DEADLINE_S:g} s; "
                              "ask for fewer frames")
        snap = snapshot_at(root, site.id, at)
        if snap is None:  # a moment before the first record of a gap
            continue
        fig = moment_figure(site, snap, at, lang, who, made_at=made)
        frames.append(renderer().render(fig, "png", CLIP_WIDTH, CLIP_HEIGHT))
        about.append({"at": iso(at, site.timezone), "version": snap["version"],
                      "people_present": snap["people_present"]})
    if not frames:
        raise RenderError("no recorded moment in that range")
    info = PngImagePlugin.PngInfo()
    info.add_itxt("gov:frames", json.dumps(about, ensure_ascii=False))
    info.add_itxt("Author", who)
    info.add_itxt("Creation Time", made.isoformat(timespec="seconds"))
    return off_the_loop(_apng, frames, info), about


def _apng(pngs: list[bytes], info: PngImagePlugin.PngInfo) -> bytes:
    """The frames (PNG bytes) decoded and written as one animated PNG: the
    clip's CPU-bound part (seconds for a hundred frames)."""
    frames = [Image.open(io.BytesIO(png)).convert("RGB") for png in pngs]
    out = io.BytesIO()
    frames[0].save(out, format="PNG", save_all=True, append_images=frames[1:],
                   duration=FRAME_MS, loop=0, pnginfo=info)
    return out.getvalue()


def off_the_loop(work, *args):
    """``work(*args)``, on one of gevent's real threads when this process is
    gevent's (Pillow lets go of the GIL while it decodes and compresses, so
    the event loop goes on serving the walls' streams meanwhile); here
    otherwise (a thread of its own already)."""
    if not gevent_patched():
        return work(*args)
    import gevent

    return gevent.get_hub().threadpool.apply(work, args)


def _error(status: int, message: str, **extra) -> tuple[Response, int]:
    return jsonify({"error": message, "status": status, **extra}), status


def clip_answer(site) -> Response | tuple[Response, int]:
    """The clip the request asks for, or the error naming what is wrong."""
    lang = lang_of(request.args.get("lang"))
    try:
        start, end, moments = _range(site)
    except BadClip as exc:
        return _error(exc.status, str(exc), field=exc.field, **exc.extra)
    if not _busy.acquire(blocking=False):
        response, status = _error(429, "another clip is being made on this "
                                       "server; retry in a moment")
        response.headers["Retry-After"] = "10"
        return response, status
    try:
        clip, about = make_clip(site, moments, lang, exported_by())
    except RenderError as exc:
        return _error(503, str(exc))
    finally:
        _busy.release()
    first, last = iso(start, site.timezone), iso(end, site.timezone)
    audit_log("export", f"{site.id} replay clip {first}/{last}", "ok",
              f"{len(about)} frames, versions {about[0]['version']}-"
              f"{about[-1]['version']}", site=site.id)
    name = (f"replay-{site.id}-{first[:19].replace(':', '')}-"
            f"{last[11:19].replace(':', '')}.png")
    return Response(clip, mimetype="image/png", headers={
        "Content-Disposition": f'attachment; filename="{name}"',
        "Cache-Control": "no-store", "X-Frames": str(len(about))})


@clip_page.get("/clip.png")
def page_clip():
    """``?site=&start=&end=&every=&lang=``: the replay page's clip."""
    site = page_site()
    if site is None:
        return _error(403, "that site is outside your scope")
    return clip_answer(site)


@clip_api.get("/sites/<site_id>/replay/clip.png")
def api_clip(site_id: str):
    site, failure = _site_or_404(site_id)
    if failure:
        return failure
    return clip_answer(site)
