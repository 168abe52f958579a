"""The console's producers panel: every counter, gate, sensor and channel of
the site with its state, a filter by state, and one click away a producer's
refused entries of the last 15 minutes with their reasons (the dead-letter
stream). Pure: plain values in, components out; no Redis.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import dash_ag_grid as dag
from dash import dcc, html

from data.site import Site
from layouts import ids
from layouts.i18n import age_text, t
from layouts.wall_health import STRIP_STATES, device_name

FILTERS = ("problem", "all", *STRIP_STATES)  # problem: every state but ok
COLUMNS = ("state", "name", "kind", "src", "seen", "rate", "refused", "reason")
WIDTHS = {"state": 84, "name": 130, "kind": 118, "src": 100, "seen": 90,
          "rate": 140, "refused": 104, "reason": 160}
FIELDS_SHOWN = 8  # of a refused entry, besides its reason


def wanted(state: str, chosen: str | None) -> bool:
    """Whether a device in ``state`` is listed under the filter ``chosen``."""
    return chosen in (None, "all") or (state != "ok" if chosen == "problem"
                                       else state == chosen)


def columns(lang: str) -> list[dict]:
    return [{"field": c, "headerName": t(f"c.p_col_{c}", lang), "width": WIDTHS[c],
             "sortable": True, "resizable": True, "tooltipField": c,
             **({"flex": 1, "minWidth": WIDTHS[c]} if c == "reason" else {})}
            for c in COLUMNS]


def panel(lang: str) -> html.Section:
    """The panel, closed; ``assets/console.css`` lays it over the incidents."""
    return html.Section(id=ids.C_PRODUCERS, className="c-producers",
                        **{"data-testid": "c-producers"}, children=[
        html.H2([t("c.producers", lang),
                 html.Button(t("c.p_close", lang), id=ids.C_PRODUCERS_CLOSE,
                             className="c-btn c-btn-plain")]),
        dcc.RadioItems(id=ids.C_P_FILTER, value="problem", inline=True,
                       className="c-p-filter",
                       options=[{"label": t(f"c.p_f_{f}", lang), "value": f}
                                for f in FILTERS]),
        html.Div(id=ids.C_P_COUNTS, className="c-p-counts",
                 **{"data-testid": "c-p-counts"}),
        dag.AgGrid(id=ids.C_P_TABLE, className="ag-theme-quartz c-p-table",
                   columnDefs=columns(lang), rowData=[], getRowId="params.data.key",
                   dashGridOptions={
                       "rowSelection": {"mode": "singleRow", "checkboxes": False,
                                        "enableClickSelection": True},
                       "rowHeight": 38, "animateRows": False,
                       "localeText": {"noRowsToShow": t("c.p_none", lang)}},
                   style={"height": "100%"}),
        html.Div(id=ids.C_P_REFUSED, className="c-p-refused",
                 **{"data-testid": "c-p-refused"}),
        dcc.Interval(id=ids.C_P_TICK, interval=10_000, disabled=True),
    ])


def table_rows(rows: list[dict], site: Site, lang: str, now: int) -> list[dict]:
    """One table row per device (``data/feed/producers.py: judge`` rows),
    worst first; ``key`` names it (producer, device, kind) for the click."""
    order = {s: n for n, s in enumerate(("erroring", "silent", "flapping", "late",
                                         "ok"))}
    out = []
    for row in sorted(rows, key=lambda r: (order[r["state"]], r["src"],
                                           r["device"])):
        seen = row.get("seen_ms")
        out.append({
            "key": "|".join((row["src"], row["device"], row["kind"])),
            "src_id": row["src"], "device": row["device"], "kind_id": row["kind"],
            "state_id": row["state"],
            "state": t(f"health.state.{row['state']}", lang),
            "name": device_name(row, site, lang),
            "kind": t(f"health.kind.{row['kind']}", lang),
            "src": row["src"] or "—",
            "seen": age_text(now - seen, lang) if seen else t("age.never", lang),
            "rate": f"{row['rate_per_min']:g} / {row['usual_per_min']:g}",
            "refused": row["refused_15m"],
            "reason": row["last_reason"] or "",
        })
    return out


def counts_line(rows: list[dict], lang: str) -> list[Any]:
    """How many devices in each state, as chips."""
    return [html.Span([t(f"health.state.{s}", lang), html.B(str(
        sum(1 for r in rows if r["state"] == s)))], className=f"c-p-count {s}",
        **{"data-state": s}) for s in STRIP_STATES]


def refused_panel(name: str, entries: list[dict], lang: str,
                  tz: ZoneInfo) -> list[Any]:
    """A producer's refused entries, newest first, each with why."""
    head = html.H3(t("c.p_refused_of", lang, name=name, n=len(entries)))
    if not entries:
        return [head, html.Div(t("c.p_refused_none", lang), className="c-empty")]
    items = []
    for entry in entries:
        fields = " · ".join(f"{k}={v}" for k, v in
                            list(entry["fields"].items())[:FIELDS_SHOWN])
        items.append(html.Li(className="c-p-dead", children=[
            html.Span(datetime.fromtimestamp(entry["at"] / 1000, tz)
                      .strftime("%H:%M:%S"), className="c-p-at"),
            html.Span(entry["stream"], className="c-p-stream"),
            html.Span(entry["reason"], className="c-p-reason"),
            html.Span(fields, className="c-p-fields"),
        ]))
    return [head, html.Ul(items, className="c-p-deads")]
