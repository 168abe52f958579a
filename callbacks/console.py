"""Callbacks of the supervisor console: table, grid profile, incident, actions.

Who acts is the signed-in user (``web/identity.py``), looked up on the server;
the buttons offered are :func:`data.incidents.ops.allowed_ops`, and every op is checked
again when written and when applied.
"""

from __future__ import annotations

from typing import Any

from dash import Dash, Input, Output, State, html, no_update

from callbacks import console_producers
from callbacks.feedback import FORWARD_PRESS, run_op
from data.cast import cast, clear_cast, read_cast
from data.clock import now_ms
from data.feed.snapshot import grid_flow, read_snapshot
from data.incidents.lifecycle import (
    DONE,
    OPEN,
    grid_scope,
    in_scope,
    is_overdue,
    sla_light,
)
from data.incidents.ops import allowed_ops
from data.incidents.store import open_incidents, read_incident, recent_incidents
from data.interrupt import dismiss
from layouts import console_render as render
from layouts import ids
from layouts.i18n import t
from web.auth import audit_log
from web.identity import current_user, sees_personal_data
from web.state import AppState

TABLE_LIMIT = 500


def triage_order(pair: tuple[dict, str]) -> tuple:
    """New reports first, newest on top (they wait for someone to accept
    them), then open incidents by deadline, then finished ones."""
    record = pair[0]
    if record["status"] == "reported":
        return (0, -record["reported_at"])
    return (1 if record["status"] not in DONE else 2, record["deadline"])


def refresh_table(statuses, levels, categories, overdue, grid_only, grid_id,
                  site_id, lang, state: AppState) -> tuple:
    """The incident table and what the wall shows: on an incident or cast
    change (``assets/push.js``), a filter, or the clock."""
    site = state.sites[site_id]
    user = current_user(site)
    if user is None:
        return [], "", {"n": now_ms()}
    keys = state.keys(site_id)
    now = now_ms()
    wanted = set()
    for status in statuses or []:
        wanted |= set(OPEN) if status == "open" else {status}
    records = (open_incidents(state.redis, keys, TABLE_LIMIT)
               if wanted and wanted <= set(OPEN)
               else recent_incidents(state.redis, keys, TABLE_LIMIT))
    rows = [
        (r, sla_light(r, now)) for r in records
        if (not wanted or r["status"] in wanted)
        and (not levels or r["level"] in levels)
        and (not categories or r["category"] in categories)
        and (not overdue or is_overdue(r, now))
        and (not grid_only or r["grid"] == grid_id)
        and (not user.grids or r["grid"] in user.grids)
    ]
    rows.sort(key=triage_order)
    shown = read_cast(state.redis, keys)
    cast_text = t("c.wall_rotates", lang)
    if shown:
        what = shown["id"]
        if shown["kind"] == "grid" and shown["id"] in site.grids:
            grid = site.grids[shown["id"]]
            what = grid.name_en if lang == "en" else grid.name
        elif shown["kind"] == "incident":
            record = read_incident(state.redis, keys, shown["id"])
            what = record["title"] if record else what
        cast_text = t("c.wall_shows", lang, what=what)
    return render.table_rows(rows, site, lang), cast_text, {"n": now}


def refresh_grids(_live, grid_id, signature, site_id, lang,
                  state: AppState) -> tuple:
    """The grid list and the chosen grid's profile, from the snapshot: on new
    versions (at most once a second) and a change of grid. The profile is
    redrawn only when its figures change."""
    site = state.sites[site_id]
    scope = grid_scope(current_user(site))
    if scope and grid_id not in scope:  # the gate refuses it; a direct call too
        return [], no_update, no_update, {"n": now_ms()}
    keys = state.keys(site_id)
    snap = read_snapshot(state.redis, keys) or {}
    open_by_grid: dict[str, int] = {}
    for inc in snap.get("open_incidents", []):
        open_by_grid[inc["grid"]] = open_by_grid.get(inc["grid"], 0) + 1
    buttons = render.grid_buttons(site, snap.get("grids", {}), open_by_grid,
                                  grid_id, lang, scope)
    live = snap.get("grids", {}).get(grid_id, {})
    n_open = open_by_grid.get(grid_id, 0)
    flow = grid_flow(state.redis, keys, grid_id, now_ms())
    sig = [grid_id, lang, n_open, live, flow[-1]]
    ack = {"n": now_ms()}
    if sig == signature:
        return buttons, no_update, no_update, ack
    return (buttons, render.grid_profile(site, grid_id, live, n_open, flow, lang),
            sig, ack)


def refresh_detail(_push, incident_id, signature, site_id, lang,
                   state: AppState) -> tuple:
    """The incident panel, redrawn only when the incident or the user changed
    (so a note being typed survives the live updates)."""
    site = state.sites[site_id]
    user = current_user(site)
    keys = state.keys(site_id)
    record = read_incident(state.redis, keys, incident_id) if incident_id else None
    if record is not None and (user is None or (user.grids and record["grid"]
                                                 not in user.grids)):
        record = None  # outside this user's scope: show nothing of it
    sig = [incident_id, user.id if user else None,
           len(record["history"]) if record else 0, lang]
    if sig == signature:
        return no_update, no_update
    now = now_ms()
    ops = allowed_ops(user, record, site) if record else []
    open_ids = [(r["id"], r["title"]) for r in open_incidents(state.redis, keys, 200)]
    return (render.detail(record, ops, site, lang, now,
                          sla_light(record, now) if record else "green",
                          sees_personal_data(), open_ids), sig)


def act(clicked, reason, note, assignee, hours, into, incident_id, site_id, lang,
        state: AppState) -> Any:
    """Run the op of the action button pressed (``clicked``: {op})."""
    if not clicked or not clicked.get("op") or not incident_id:
        return no_update
    site = state.sites[site_id]
    user = current_user(site)  # the session's user, looked up on the server
    pressed = op = str(clicked["op"])
    values: dict[str, Any] = {}
    if op in ("verify_pass", "verify_fail"):
        values["passed"] = "1" if op == "verify_pass" else "0"
        op = "verify"
    need = {"reject": (reason, "c.reason"), "dispatch": (assignee, "c.assignee"),
            "merge": (into, "c.into"), "comment": (note, "c.note")}.get(op)
    if need and not (need[0] or "").strip():
        return html.Span(t("c.need", lang, what=t(need[1], lang)), className="err")
    if op == "dispatch":
        values.update(assignee=assignee,
                      deadline=now_ms() + int(float(hours or 4) * 3_600_000))
    values.update(reason=(reason or "").strip() or None if op == "reject" else None,
                  note=(note or "").strip() or None, into=into if op == "merge"
                  else None)
    return run_op(state, site_id, user, op, incident_id, lang,
                  label=pressed, **values)


def cast_or_clear(clicks, grid_id, incident_id, site_id, lang, state: AppState,
                  what: str) -> Any:
    if not clicks:
        return no_update
    site = state.sites[site_id]
    user = current_user(site)
    if user is None or user.role not in ("supervisor", "admin"):
        audit_log(f"cast:{what}", site_id, "refused", "role")
        return html.Span(t("m.refused", lang,
                           reason=t("m.choose", lang) if user is None else
                           f"role {user.role} may not cast"), className="err")
    refusal = _cast_refusal(state, site_id, user, grid_id, incident_id, what, lang)
    if refusal is not None:
        return refusal
    keys = state.keys(site_id)
    audit_log(f"cast:{what}", f"{site_id}/{grid_id if what == 'grid' else incident_id}")
    if what == "clear":  # the cast, and an urgent event's hold on the walls
        clear_cast(state.redis, keys)
        dismiss(state.redis, keys, now_ms(),
                state.config.wall_interrupt_seconds * 1000)
        return html.Span(t("c.cleared", lang), className="ok")
    if what == "grid":
        cast(state.redis, keys, "grid", grid_id, user.id)
    elif incident_id:
        cast(state.redis, keys, "incident", incident_id, user.id)
    return html.Span(t("c.cast_done", lang), className="ok")


def _cast_refusal(state: AppState, site_id: str, user: Any, grid_id: str | None,
                  incident_id: str | None, what: str, lang: str) -> Any:
    """Why ``user`` may not cast this (None if they may): the grid, or the
    incident's grid, must be within their scope."""
    if what == "grid":
        grid = grid_id if grid_id in state.sites[site_id].grids else None
    elif what == "incident" and incident_id:
        record = read_incident(state.redis, state.keys(site_id), incident_id)
        grid = record["grid"] if record else None
    else:
        return None
    if grid is not None and in_scope(user, grid):
        return None
    audit_log(f"cast:{what}", site_id, "refused", "outside scope")
    return html.Span(t("m.refused", lang, reason=t("c.cast_out_of_scope", lang)),
                     className="err")


def register(app: Dash, state: AppState) -> None:
    console_producers.register(app, state)
    app.callback(
        Output(ids.C_TABLE, "rowData"),
        Output(ids.C_CAST_STATUS, "children"),
        Output(ids.C_ACK, "data"),
        Input(ids.C_PUSH, "data"),
        Input(ids.C_F_STATUS, "value"), Input(ids.C_F_LEVEL, "value"),
        Input(ids.C_F_CATEGORY, "value"), Input(ids.C_F_OVERDUE, "value"),
        Input(ids.C_F_MINE, "value"), Input(ids.C_GRID, "data"),
        State(ids.C_SITE, "data"), State(ids.C_LANG, "data"),
    )(lambda _p, *args: refresh_table(*args, state=state))
    app.callback(
        Output(ids.C_GRID_LIST, "children"),
        Output(ids.C_PROFILE, "children"),
        Output(ids.C_PROFILE_SIG, "data"),
        Output(ids.C_LIVE_ACK, "data"),
        Input(ids.C_LIVE, "data"), Input(ids.C_GRID, "data"),
        State(ids.C_PROFILE_SIG, "data"),
        State(ids.C_SITE, "data"), State(ids.C_LANG, "data"),
    )(lambda *args: refresh_grids(*args, state=state))
    app.callback(
        Output(ids.C_DETAIL, "children"),
        Output(ids.C_DETAIL_SIG, "data"),
        Input(ids.C_PUSH, "data"), Input(ids.C_INCIDENT, "data"),
        State(ids.C_DETAIL_SIG, "data"),
        State(ids.C_SITE, "data"), State(ids.C_LANG, "data"),
    )(lambda *args: refresh_detail(*args, state=state))
    # In the browser: the grid list is redrawn every second with the crowd
    # figures, and Dash calls this for each new set of buttons.
    app.clientside_callback(
        """function(clicks, clickData, grids) {
            var none = window.dash_clientside.no_update;
            var trigger = window.dash_clientside.callback_context.triggered_id;
            if (trigger && trigger.type === "c-grid-btn") {
                return (clicks || []).some(Boolean) ? trigger.id : none;
            }
            if (trigger === "c-grid-map" && clickData && clickData.points.length) {
                var n = clickData.points[0].curveNumber;
                // null: a grid outside this supervisor's scope
                return n >= 0 && n < grids.length && grids[n] ? grids[n] : none;
            }
            return none;
        }""",
        Output(ids.C_GRID, "data"),
        Input(ids.C_GRID_BUTTONS, "n_clicks"),
        Input(ids.C_GRID_MAP, "clickData"),
        State(ids.C_GRID_IDS, "data"),
        prevent_initial_call=True,
    )
    app.callback(
        Output(ids.C_INCIDENT, "data"),
        Input(ids.C_TABLE, "selectedRows"),
        prevent_initial_call=True,
    )(lambda rows: rows[0]["id"] if rows else no_update)
    app.clientside_callback(
        FORWARD_PRESS,
        Output(ids.C_CLICKED, "data"),
        Input(ids.C_ACTIONS, "n_clicks"),
        prevent_initial_call=True,
    )
    app.callback(
        Output(ids.C_FLASH, "children"),
        Input(ids.C_CLICKED, "data"),
        State(ids.C_REASON, "value"), State(ids.C_NOTE, "value"),
        State(ids.C_ASSIGNEE, "value"), State(ids.C_DEADLINE_H, "value"),
        State(ids.C_INTO, "value"), State(ids.C_INCIDENT, "data"),
        State(ids.C_SITE, "data"), State(ids.C_LANG, "data"),
        prevent_initial_call=True,
    )(lambda *args: act(*args, state=state))
    for button, what in ((ids.C_CAST_GRID, "grid"),
                         (ids.C_CAST_INCIDENT, "incident"),
                         (ids.C_CLEAR_WALL, "clear")):
        app.callback(
            Output(ids.C_FLASH, "children", allow_duplicate=True),
            Input(button, "n_clicks"),
            State(ids.C_GRID, "data"), State(ids.C_INCIDENT, "data"),
            State(ids.C_SITE, "data"), State(ids.C_LANG, "data"),
            prevent_initial_call=True,
        )(lambda *args, what=what: cast_or_clear(*args, state=state, what=what))
    for store, ack in ((ids.C_PUSH, ids.C_ACK), (ids.C_LIVE, ids.C_LIVE_ACK)):
        app.clientside_callback(
            f"function(a) {{ return window.govPush ? window.govPush.ack('{store}')"
            " : window.dash_clientside.no_update; }",
            Output(store, "data"),
            Input(ack, "data"),
            prevent_initial_call=True,
        )
