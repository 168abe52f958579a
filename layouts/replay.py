"""The replay page (``/replay?site=&at=&speed=``): the wall as it was, above
a time bar.

The stage is the wall's own canvas (:func:`layouts.wall.canvas`: the same
components, ids and ``data-testid``s); ``assets/replay.js`` fills it with the
frames the server shapes from the recorded snapshots, drawn by the wall's
browser code, and keeps the address on the moment shown. No Dash callback:
what the page reads goes through routes the gate checks (web/replay_page.py).
"""

from __future__ import annotations

import json

from dash import dcc, html

from data.replay.moments import MAX_CLIP_MINUTES, BadMoment, iso, parse_moment
from data.site import Site
from layouts import ids
from layouts.i18n import lang_of, t
from layouts.wall import canvas

SPEEDS = (1, 10, 60, 600)
EVENT_KINDS = ("incident_reported", "incident_closed", "alert_raised",
               "alert_cleared", "cast", "cast_cleared", "stale", "feeds_silent",
               "feeds_back")
BROWSER_TEXT = ("replay.play", "replay.pause", "replay.no_more_events",
                "replay.clip_making", "replay.clip_done",
                "replay.no_bookmarks", "replay.bookmark_saved",
                *(f"replay.event.{k}" for k in EVENT_KINDS))


def moment(raw: str | None, site: Site, kept: dict) -> int:
    """The moment asked for, within what is kept (the newest if none)."""
    try:
        at = parse_moment("at", raw, site.timezone)
    except BadMoment:
        return kept["to_ms"]
    return min(max(at, kept["from_ms"]), kept["to_ms"])


def _controls(lang: str, speed: int) -> html.Div:
    speeds = [html.Button(f"{n}×", className="replay-speed" + (
        " on" if n == speed else ""), **{"data-speed": str(n),
                                          "data-testid": "replay-speed"})
              for n in SPEEDS]
    return html.Div(className="replay-controls", children=[
        html.Button(t("replay.play", lang), id=ids.REPLAY_PLAY,
                    className="replay-play", **{"data-testid": "replay-play"}),
        html.Span(t("replay.speed", lang), className="replay-label"),
        html.Span(speeds, id=ids.REPLAY_SPEEDS, className="replay-speeds"),
        html.Button(t("replay.prev_event", lang), id=ids.REPLAY_PREV,
                    **{"data-testid": "replay-prev-event"}),
        html.Button(t("replay.next_event", lang), id=ids.REPLAY_NEXT,
                    **{"data-testid": "replay-next-event"}),
        html.Span(id=ids.REPLAY_MOMENT, className="replay-moment",
                  **{"data-testid": "replay-moment"}),
        html.A(t("replay.export_png", lang), id=ids.REPLAY_EXPORT,
               className="replay-export", href="#",
               **{"data-testid": "replay-export"}),
        html.Span(className="replay-clip", children=[
            dcc.Input(id=ids.REPLAY_CLIP_MINUTES, type="number", min=1,
                      max=MAX_CLIP_MINUTES, step=1, value=5,
                      className="replay-clip-minutes"),
            html.Span(t("replay.clip_minutes", lang), className="replay-label"),
            html.Button(t("replay.export_clip", lang), id=ids.REPLAY_CLIP,
                        **{"data-testid": "replay-export-clip"}),
        ]),
        html.Span(id=ids.REPLAY_STATUS, className="replay-status",
                  **{"data-testid": "replay-status"}),
    ])


def _bookmarks(lang: str) -> html.Div:
    return html.Div(className="replay-marks-box", children=[
        html.Div(className="replay-mark-form", children=[
            html.Div(dcc.Input(id=ids.REPLAY_NOTE, type="text", maxLength=200,
                               placeholder=t("replay.note", lang)),
                     className="replay-note", **{"data-testid":
                                                 "replay-bookmark-note"}),
            html.Button(t("replay.bookmark_add", lang), id=ids.REPLAY_MARK_ADD,
                        **{"data-testid": "replay-bookmark-add"}),
        ]),
        html.Div(t("replay.bookmarks", lang), className="replay-label"),
        html.Ul(id=ids.REPLAY_BOOKMARKS, className="replay-bookmarks",
                **{"data-testid": "replay-bookmarks"}),
    ])


def layout(site: Site, lang: str | None = None, *, kept: dict | None,
           at: str | None = None, speed: str | None = None, **_: str) -> html.Div:
    """The replay of ``site`` at ``at``, played at ``speed`` (1, 10, 60, 600)."""
    lang = lang_of(lang)
    if kept is None:
        return html.Div(className="replay-empty", children=[
            html.H1(t("replay.title", lang)), html.P(t("replay.nothing", lang))])
    at_ms = moment(at, site, kept)
    pace = int(speed) if speed in tuple(map(str, SPEEDS)) else 1
    scrubber = html.Div(id=ids.REPLAY_SCRUBBER, className="replay-scrubber",
                        **{"data-testid": "replay-scrubber"}, children=[
        html.Div(id=ids.REPLAY_MARKS, className="replay-events"),
        dcc.Input(id=ids.REPLAY_RANGE, type="range", min=kept["from_ms"],
                   max=kept["to_ms"], step=1000, value=at_ms,
                   className="replay-range"),
    ])
    return html.Div(
        id=ids.REPLAY_ROOT, className="replay",
        **{"data-site": site.id, "data-lang": lang, "data-tz": site.timezone,
           "data-from": str(kept["from_ms"]), "data-to": str(kept["to_ms"]),
           "data-at": str(at_ms), "data-at-iso": iso(at_ms, site.timezone),
           "data-speed": str(pace),
           "data-i18n": json.dumps({k: t(k, lang) for k in BROWSER_TEXT},
                                   ensure_ascii=False)},
        children=[
            html.Div(canvas(site, lang), id=ids.REPLAY_STAGE,
                     className="wall replay-stage"),
            html.Div(className="replay-bar", children=[
                html.Div([_controls(lang, pace), scrubber],
                         className="replay-main"),
                _bookmarks(lang),
            ]),
        ])
