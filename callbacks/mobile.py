"""Callbacks of the phone: my tasks, and accept/start/resolve on them.

Reports do not pass through here: ``assets/mobile.js`` posts them to
``web/reports.py`` so that they survive a lost connection.
"""

from __future__ import annotations

from typing import Any

from dash import ALL, Dash, Input, Output, State, ctx, html, no_update

from callbacks.feedback import FORWARD_PRESS, run_op
from data.incidents.lifecycle import sla_light
from data.incidents.ops import allowed_ops
from data.incidents.store import open_incidents, recent_incidents
from data.site import Site, User
from layouts import ids
from layouts.i18n import t
from layouts.mobile_render import task_cards
from web.identity import current_user
from web.state import AppState

PHONE_OPS = ("accept", "start", "resolve")
MAX_TASKS = 30


def my_tasks(user: User | None, site: Site, open_records: list[dict],
             recent: list[dict]) -> list[dict]:
    """What this user should act on, most urgent first."""
    if user is None:
        return []
    if user.role == "volunteer":
        mine = [r for r in recent if r.get("reporter_id") == user.id]
        return mine[:MAX_TASKS]
    in_scope = [r for r in open_records if not user.grids or r["grid"] in user.grids]
    if user.role == "worker":
        in_scope = [r for r in in_scope if r.get("assignee") == user.id or (
            r.get("assignee") is None and r["owner_level"] == "grid")]
    return sorted(in_scope, key=lambda r: (r["deadline"], r["level"]))[:MAX_TASKS]


def update_tasks(_push: Any, signature: list | None, site_id: str, lang: str,
                 state: AppState, now: int) -> tuple[Any, dict, Any]:
    """The task cards, redrawn only when they would change (a note being
    typed must survive the live updates)."""
    site = state.sites[site_id]
    user = current_user(site)
    keys = state.keys(site_id)
    records = my_tasks(user, site, open_incidents(state.redis, keys),
                       recent_incidents(state.redis, keys, 300)
                       if user and user.role == "volunteer" else [])
    cards = [(r, sla_light(r, now),
              [op for op in allowed_ops(user, r, site) if op in PHONE_OPS])
             for r in records]
    sig = [lang, user.id if user else None,
           *([r["id"], len(r["history"]), light, ops] for r, light, ops in cards)]
    if sig == signature:
        return no_update, {"n": now}, no_update
    return task_cards(cards, site, lang), {"n": now}, sig


def act(clicked: dict | None, notes: list, site_id: str, lang: str,
        state: AppState) -> Any:
    """Run the op of the action button pressed (``clicked``: {op, id})."""
    if not clicked or clicked.get("op") not in PHONE_OPS:
        return no_update
    site = state.sites[site_id]
    user = current_user(site)  # from the session, never from the page
    incident = str(clicked.get("id", ""))
    note = next((v for v, spec in zip(notes, ctx.states_list[0], strict=True)
                 if spec["id"]["id"] == incident), None)
    op = clicked["op"]
    if op == "resolve" and not (note or "").strip():
        return html.Span(t("m.note_needed", lang), className="err")
    return run_op(state, site_id, user, op, incident, lang,
                  note=(note or "").strip() or None)


def register(app: Dash, state: AppState) -> None:
    from data.clock import now_ms

    app.callback(
        Output(ids.M_TASKS, "children"),
        Output(ids.M_ACK, "data"),
        Output(ids.M_TASKS_SIG, "data"),
        Input(ids.M_PUSH, "data"),
        State(ids.M_TASKS_SIG, "data"),
        State(ids.M_SITE, "data"),
        State(ids.M_LANG, "data"),
    )(lambda push, sig, site, lang: update_tasks(push, sig, site, lang, state,
                                                  now_ms()))
    app.clientside_callback(
        FORWARD_PRESS,
        Output(ids.M_CLICKED, "data"),
        Input(ids.M_ACTIONS, "n_clicks"),
        prevent_initial_call=True,
    )
    app.callback(
        Output(ids.M_FLASH, "children"),
        Input(ids.M_CLICKED, "data"),
        State({"type": "m-note", "id": ALL}, "value"),
        State(ids.M_SITE, "data"),
        State(ids.M_LANG, "data"),
        prevent_initial_call=True,
    )(lambda clicked, notes, site, lang: act(clicked, notes, site, lang, state))
    app.clientside_callback(
        "function(a) { return window.govPush ? window.govPush.ack('m-push')"
        " : window.dash_clientside.no_update; }",
        Output(ids.M_PUSH, "data"),  # no_update: only tells push.js we are done
        Input(ids.M_ACK, "data"),
        prevent_initial_call=True,
    )
    app.clientside_callback(
        "function(n, cat, level, title, detail, grid, pos, photo) {"
        " return window.govMobile.submit(n, {category: cat, level: level,"
        " title: title, detail: detail, grid: grid, position: pos, photo: photo});}",
        Output(ids.M_QUEUE, "children"),
        Input(ids.M_SUBMIT, "n_clicks"),
        State(ids.M_CATEGORY, "value"), State(ids.M_LEVEL, "value"),
        State(ids.M_TITLE, "value"), State(ids.M_DETAIL, "value"),
        State(ids.M_GRID, "value"), State(ids.M_POSITION, "data"),
        State(ids.M_PHOTO, "contents"),
        prevent_initial_call=True,
    )
    app.clientside_callback(
        "function(n) { return window.govMobile.locate(n); }",
        Output(ids.M_POSITION_TEXT, "children"),
        Input(ids.M_LOCATE, "n_clicks"),
        prevent_initial_call=True,
    )
    app.clientside_callback(
        "function(contents, name) { return window.govMobile.photoName(contents, name);"
        " }",
        Output(ids.M_PHOTO_NAME, "children"),
        Input(ids.M_PHOTO, "contents"),
        State(ids.M_PHOTO, "filename"),
        prevent_initial_call=True,
    )
