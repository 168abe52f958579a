"""Callbacks of a unit's console (``/console?unit=``): the incidents of the
communities below, the way down, and the ops of the chain.

The gate (``web/tenant.py``) has already refused a unit outside the
caller's, and a chosen incident of a site the caller does not reach; here
each site is read as the signed-in person of it (``web/identity.py``), and
every op goes through :func:`callbacks.feedback.run_op`: checked, written to
the site's stream, applied once by the aggregator, audited.
"""

from __future__ import annotations

from typing import Any

from dash import Dash, Input, Output, State, html, no_update

from callbacks.feedback import FORWARD_PRESS, run_op
from data.clock import now_ms
from data.feed.snapshot import read_snapshot
from data.incidents.lifecycle import in_scope, sla_light
from data.incidents.ops import allowed_ops
from data.incidents.store import read_incident
from data.units.inbox import VIEWS, unit_incidents
from data.units.rollup import kpis, read_units
from layouts import console_unit_render as render
from layouts import ids
from layouts.i18n import t
from web.auth import principal
from web.identity import current_user, sees_personal_data
from web.state import AppState
from web.tenant import units_of

UNIT_OPS = ("accept", "hand_down", "return", "close", "escalate", "supervise",
            "unsupervise", "comment")
NEEDS = {"return": ("reason", "uc.return_reason"), "close": ("note", "c.note"),
         "comment": ("note", "c.note"), "hand_down": ("level", "uc.hand_to")}


def _reachable(state: AppState, unit_id: Any) -> frozenset[str] | None:
    """The units the caller may open, if ``unit_id`` is one of them (the gate
    refused it already; a direct call too)."""
    reach = units_of(principal(), state.units)
    if not isinstance(unit_id, str) or unit_id not in state.units or (
            reach is not None and unit_id not in reach):
        raise PermissionError(f"unit {unit_id!r} is outside your scope")
    return reach


def _sites(state: AppState) -> list[str]:
    caller = principal()
    return [s for s in state.sites if caller is not None and caller.on_site(s)]


def _below(state: AppState, unit_id: str, reach: frozenset[str] | None,
           lang: str) -> list[dict]:
    """The drill-down: child units with their figures; a community's grids,
    each a link to its site's console on that grid."""
    tree, node = state.units, state.units[unit_id]
    if node.level != "community":
        counts = read_units(state.redis, state.config.prefix, node.children)
        return [{"id": c, "label": tree[c].label(lang),
                 "href": f"/console?unit={c}&lang={lang}"
                 if reach is None or c in reach else None,
                 **{k: v for k, v in kpis(counts[c], tree[c].level).items()
                    if k in ("incidents_open", "overdue")}}
                for c in node.children]
    if node.site not in state.sites:
        return []
    site = state.sites[node.site]
    snap = read_snapshot(state.redis, state.keys(site.id)) or {}
    opened = node.site in _sites(state)
    out = []
    for grid in site.grids.values():
        if grid.community != unit_id:
            continue
        marks = [i for i in snap.get("open_incidents", []) if i["grid"] == grid.id]
        out.append({"id": grid.id, "label": grid.name_en if lang == "en"
                    else grid.name,
                    "href": f"/console?site={site.id}&grid={grid.id}&lang={lang}"
                    if opened else None,
                    "incidents_open": len(marks),
                    "overdue": sum(1 for i in marks if i.get("sla") == "red")})
    return out


def refresh(_tick, view, _done, unit_id, lang, state: AppState) -> tuple:
    """The incident table, the unit's figures and the way down."""
    try:
        reach = _reachable(state, unit_id)
    except PermissionError:
        return [], [], []
    tree, now = state.units, now_ms()
    rows, users = [], {}
    # every served site with a community under the unit, also one that spans
    # two streets (its screens stay closed to either street's people): the
    # person is a user of the grids under their unit alone (site_user), and
    # the rows are limited to those
    for site_id, record in unit_incidents(
            state.redis, state.config.prefix, tree, unit_id, state.sites,
            view if view in VIEWS else VIEWS[0], now):
        site = state.sites[site_id]
        user = users.setdefault(site_id, current_user(site))
        if user is not None and in_scope(user, record["grid"]):
            rows.append((site, record, sla_light(record, now)))
    names = {u: n.label(lang) for u, n in tree.units.items()
             if n.level == "community"}
    own = read_units(state.redis, state.config.prefix, [unit_id])[unit_id]
    return (render.table_rows(rows, names, lang),
            render.kpi_strip(kpis(own, tree[unit_id].level), lang),
            render.children_list(_below(state, unit_id, reach, lang), lang))


def _chosen(state: AppState, pick: Any) -> tuple[Any, Any, Any]:
    """(site, user, record) of the chosen incident, each None if not seen."""
    if not isinstance(pick, dict) or pick.get("site") not in state.sites:
        return None, None, None
    site = state.sites[pick["site"]]
    user = current_user(site)
    record = read_incident(state.redis, state.keys(site.id), str(pick.get("id")))
    if user is None or record is None or not in_scope(user, record["grid"]):
        return site, user, None
    return site, user, record


def refresh_detail(pick, _done, _tick, signature, lang, state: AppState) -> tuple:
    """The chosen incident, redrawn only when it changed (a note being typed
    survives the refreshes)."""
    site, user, record = _chosen(state, pick)
    sig = [pick, user.id if user else None,
           len(record["history"]) if record else 0, lang]
    if sig == signature:
        return no_update, no_update
    ops = [op for op in allowed_ops(user, record, site) if op in UNIT_OPS] \
        if record else []
    light = sla_light(record, now_ms()) if record else "green"
    return render.detail(site, record, ops, lang, light, sees_personal_data()), sig


def act(clicked, note, reason, level, hours, pick, lang, state: AppState) -> tuple:
    """Run the op of the button pressed on the chosen incident."""
    op = (clicked or {}).get("op")
    if op not in UNIT_OPS or not isinstance(pick, dict):
        return no_update, no_update
    site, user, record = _chosen(state, pick)
    if record is None:
        return html.Span(t("m.refused", lang, reason=t("uc.not_yours", lang)),
                         className="err"), no_update
    values = {"note": (note or "").strip() or None,
              "reason": (reason or "").strip() or None,
              "level": level if isinstance(level, str) else None}
    need = NEEDS.get(op)
    if need and not values[need[0]]:
        return html.Span(t("c.need", lang, what=t(need[1], lang)),
                         className="err"), no_update
    extra: dict[str, Any] = {"note": values["note"]}
    if op == "return":
        extra = {"reason": values["reason"]}
    elif op == "hand_down":
        try:
            span = float(hours) * 3_600_000
        except (TypeError, ValueError):
            span = 0
        if not 0 < span <= 720 * 3_600_000:
            return html.Span(t("c.need", lang, what=t("uc.hours", lang)),
                             className="err"), no_update
        extra.update(level=values["level"], deadline=now_ms() + int(span))
    flash = run_op(state, site.id, user, op, record["id"], lang, **extra)
    return flash, {"n": now_ms()}


def register(app: Dash, state: AppState) -> None:
    app.callback(
        Output(ids.UC_TABLE, "rowData"),
        Output(ids.UC_KPIS, "children"),
        Output(ids.UC_CHILDREN, "children"),
        Input(ids.UC_TICK, "n_intervals"), Input(ids.UC_VIEW, "value"),
        Input(ids.UC_DONE, "data"),
        State(ids.UC_UNIT, "data"), State(ids.UC_LANG, "data"),
    )(lambda *args: refresh(*args, state=state))
    app.clientside_callback(  # the row chosen: no request
        """function(rows) {
            if (!rows || !rows.length) { return window.dash_clientside.no_update; }
            return {site: rows[0].site, id: rows[0].id};
        }""",
        Output(ids.UC_PICK, "data"),
        Input(ids.UC_TABLE, "selectedRows"),
        prevent_initial_call=True,
    )
    app.callback(
        Output(ids.UC_DETAIL, "children"),
        Output(ids.UC_DETAIL_SIG, "data"),
        Input(ids.UC_PICK, "data"), Input(ids.UC_DONE, "data"),
        Input(ids.UC_TICK, "n_intervals"),
        State(ids.UC_DETAIL_SIG, "data"), State(ids.UC_LANG, "data"),
    )(lambda *args: refresh_detail(*args, state=state))
    app.clientside_callback(
        FORWARD_PRESS,
        Output(ids.UC_CLICKED, "data"),
        Input(ids.UC_ACTIONS, "n_clicks"),
        prevent_initial_call=True,
    )
    app.callback(
        Output(ids.UC_FLASH, "children"),
        Output(ids.UC_DONE, "data"),
        Input(ids.UC_CLICKED, "data"),
        State(ids.UC_NOTE, "value"), State(ids.UC_REASON, "value"),
        State(ids.UC_LEVEL, "value"), State(ids.UC_HOURS, "value"),
        State(ids.UC_PICK, "data"), State(ids.UC_LANG, "data"),
        prevent_initial_call=True,
    )(lambda *args: act(*args, state=state))
