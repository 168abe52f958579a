"""Callbacks of the console's producers panel (``layouts/console_producers.py``).

The site is the page's (checked by the request gate before any of this
runs), the person the session's: a supervisor scoped to some grids sees the
devices of those grids only, as the producers API shows them. The list is
judged when the panel opens, when the filter changes and every 10 s while
it is open (one supervisor's panel, not every wall's).
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from dash import Dash, Input, Output, State, no_update

from data.clock import now_ms
from data.feed.dead import recent_dead
from data.feed.producers import (
    REFUSED_MINUTES,
    device_key,
    device_of_raw,
    limits_of,
    read_health,
)
from data.incidents.lifecycle import grid_scope
from layouts import console_producers as render
from layouts import ids
from web.identity import current_user
from web.state import AppState


def _rows_in_scope(state: AppState, site_id: str) -> list[dict] | None:
    """Every device of the site judged now, those of the person's grids if
    they have a grid scope; None for no person of the site."""
    site = state.sites[site_id]
    user = current_user(site)
    if user is None:
        return None
    rows = read_health(state.redis, state.keys(site_id), site, now_ms(),
                       limits_of(state.config), rows=True)
    scope = grid_scope(user)
    return [r for r in rows if not scope or r["grid"] in scope]


def refresh_producers(_tick, chosen, closed, site_id, lang,
                      state: AppState) -> tuple:
    """The table under the filter ``chosen`` and the counts per state;
    nothing while the panel is closed (its timer disabled)."""
    if closed:
        return no_update, no_update
    rows = _rows_in_scope(state, site_id)
    if rows is None:
        return [], []
    shown = [r for r in rows if render.wanted(r["state"], chosen)]
    return (render.table_rows(shown, state.sites[site_id], lang, now_ms()),
            render.counts_line(rows, lang))


def show_refused(selected, site_id, lang, state: AppState) -> Any:
    """The chosen producer's refused entries of the last 15 minutes with
    their reasons, read from the site's dead-letter stream. The row is the
    client's: it is looked up again among the devices this person may see."""
    if not selected:
        return []
    row = selected[0] if isinstance(selected, list) else None
    if not isinstance(row, dict):
        return []
    rows = _rows_in_scope(state, site_id) or []
    found = next((r for r in rows if (r["src"], r["device"], r["kind"]) == (
        row.get("src_id"), row.get("device"), row.get("kind_id"))), None)
    if found is None:
        return []
    site = state.sites[site_id]
    key = device_key(found["src"], found["device"], found["kind"])
    entries = recent_dead(
        state.redis, state.keys(site_id), now_ms() - REFUSED_MINUTES * 60_000,
        lambda fields: device_of_raw(fields.get("stream", ""), fields, site) == key)
    shown = render.table_rows([found], site, lang, now_ms())[0]
    name = " · ".join(x for x in (shown["name"], found["src"]) if x)
    return render.refused_panel(name, entries, lang, ZoneInfo(site.timezone))


def register(app: Dash, state: AppState) -> None:
    """Wired from ``callbacks/console.py``: the console's screen."""
    app.clientside_callback(
        """function(opened, closed, cls) {
            var trigger = window.dash_clientside.callback_context.triggered_id;
            var open = trigger === "c-producers-open";
            return [open ? "c-producers open" : "c-producers", !open];
        }""",
        Output(ids.C_PRODUCERS, "className"),
        Output(ids.C_P_TICK, "disabled"),
        Input(ids.C_PRODUCERS_OPEN, "n_clicks"),
        Input(ids.C_PRODUCERS_CLOSE, "n_clicks"),
        State(ids.C_PRODUCERS, "className"),
        prevent_initial_call=True,
    )
    app.callback(
        Output(ids.C_P_TABLE, "rowData"),
        Output(ids.C_P_COUNTS, "children"),
        Input(ids.C_P_TICK, "n_intervals"), Input(ids.C_P_FILTER, "value"),
        Input(ids.C_P_TICK, "disabled"),
        State(ids.C_SITE, "data"), State(ids.C_LANG, "data"),
        prevent_initial_call=True,
    )(lambda *args: refresh_producers(*args, state=state))
    app.callback(
        Output(ids.C_P_REFUSED, "children"),
        Input(ids.C_P_TABLE, "selectedRows"),
        State(ids.C_SITE, "data"), State(ids.C_LANG, "data"),
        prevent_initial_call=True,
    )(lambda *args: show_refused(*args, state=state))
