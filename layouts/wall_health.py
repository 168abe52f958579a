"""The wall's feed health: whether its counters, gates and channels still send.

Pure shaping of the stored health summary (``data/feed/producers.py:
summary``: counts per state, the silent and erroring devices, the silent
people counters of each grid) into what the wall shows, and its components:
the strip along the bottom (``data-testid="feed-health"``), the note under
people present while some of it is an estimate. No Redis, no Dash callbacks.

The strip names devices whole or not at all: a budget of display width
(a Chinese character counts one, a Latin one a little over half) decides how
many names fit, the rest are counted ("+3"), so no name is ever cut.
"""

from __future__ import annotations

import unicodedata
from typing import Any

from dash import html

from data.site import Site
from layouts.i18n import t

STRIP_STATES = ("ok", "late", "silent", "erroring", "flapping")
NAMED_STATES = ("silent", "erroring")
NAME_BUDGET = 56.0  # display width for names on the 1920 px strip, all groups
NAME_GAP = 1.0  # the separator between two names
KIND_ORDER = {"counter": 0, "gate": 1, "parking": 2, "hotline": 3, "phones": 4}


def width(text: str) -> float:
    """Display width of ``text``: wide (CJK) characters 1, others 0.6."""
    return sum(1.0 if unicodedata.east_asian_width(ch) in "WF" else 0.6
               for ch in text)


def device_name(row: dict, site: Site, lang: str) -> str:
    """A device as people at the center call it: the entrance or lot by
    name, the hotline and the phones by kind, anything else by its producer."""
    place = site.entrances.get(row["device"]) or site.parking.get(row["device"])
    if place is not None:
        return place.name_en if lang == "en" else place.name
    if row["kind"] in ("hotline", "phones"):
        return t(f"health.kind.{row['kind']}", lang)
    return row["src"] or row["device"] or "?"


def _named(rows: list[dict], site: Site, lang: str) -> list[str]:
    """Names of ``rows``, people counters first (what people present
    rests on), then gates, parking, channels; one named twice (two
    producers of one place) is told apart by its producer."""
    names = [device_name(row, site, lang) for row in rows]
    twice = {n for n in names if names.count(n) > 1}
    ranked = {(KIND_ORDER.get(row["kind"], len(KIND_ORDER)),
               f"{n} ({row['src']})" if n in twice and row["src"] else n)
              for n, row in zip(names, rows, strict=True)}
    return [name for _, name in sorted(ranked)]


def strip_values(summary: dict | None, site: Site, lang: str) -> dict[str, Any]:
    """The strip: counts per state, and per named state the names that fit
    (whole) and how many more there are. ``summary`` None: not known yet."""
    if not summary:
        return {"counts": None, "groups": []}
    counts = summary.get("counts", {})
    budget = NAME_BUDGET
    groups = []
    for state in NAMED_STATES:
        names = _named([r for r in summary.get("named", [])
                        if r["state"] == state], site, lang)
        if not names:
            continue
        shown = []
        for name in names:
            cost = width(name) + NAME_GAP
            if cost > budget:
                break
            shown.append(name)
            budget -= cost
        groups.append({"state": state, "names": shown,
                       "more": len(names) - len(shown)})
    return {"counts": [[s, int(counts.get(s, 0))] for s in STRIP_STATES],
            "groups": groups}


def render_feed_health(values: dict, lang: str) -> list[Any]:
    """The strip's children: the label, a chip per state with its count,
    then the silent and erroring devices by name."""
    label = html.Span(t("health.title", lang), className="health-label")
    if values["counts"] is None:
        return [label, html.Span(t("no_data", lang), className="health-none")]
    chips = [html.Span(className=f"health-chip {state}" + (" zero" if not n else ""),
                       children=[html.I(), t(f"health.state.{state}", lang),
                                 html.B(f"{n}")],
                       **{"data-state": state, "data-count": str(n)})
             for state, n in values["counts"]]
    groups = []
    for group in values["groups"]:
        names = [html.Span(name, className="health-name")
                 for name in group["names"]]
        if group["more"]:
            names.append(html.Span(t("health.more", lang, n=group["more"]),
                                   className="health-more"))
        groups.append(html.Span(
            className=f"health-group {group['state']}",
            **{"data-state": group["state"]},
            children=[html.Span(t(f"health.named.{group['state']}", lang),
                                className="health-group-label"), *names]))
    return [label, html.Span(chips, className="health-chips"),
            html.Span(groups, className="health-groups")]
def estimate_values(summary: dict | None) -> dict[str, Any]:
    """Silent people counters, per grid and in all: while one of a grid's is
    silent, its people present (and the site's) are an estimate."""
    grids = {g: len(devices) for g, devices in
             sorted(((summary or {}).get("silent_counters") or {}).items())
             if devices}
    return {"silent": sum(grids.values()), "grids": grids}


def silent_places(summary: dict | None) -> list[str]:
    """Entrances whose counter or gate is silent (drawn hollow on the map)."""
    return sorted({r["device"] for r in (summary or {}).get("named", [])
                   if r["state"] == "silent" and r["kind"] in ("counter", "gate")})


def render_people_note(estimate: dict, lang: str) -> list[Any]:
    """Under people present: "≈ estimate, 2 counters silent", or nothing."""
    if not estimate["silent"]:
        return []
    return [html.Span(t("health.estimate_mark", lang), className="estimate-mark"),
            html.Span(t("health.estimate_note", lang, n=estimate["silent"]),
                      className="estimate-note")]
