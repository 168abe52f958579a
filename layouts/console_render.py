"""Pieces of the console, from plain values (people's text stays text)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import plotly.graph_objects as go
from dash import dcc, html

from data.incidents.lifecycle import mask_name, mask_phone
from data.photos import photo_url
from data.site import Site, User
from layouts import ids
from layouts.i18n import duty_text, t
from layouts.theme import LIGHT

FORCE_DUTIES = ("grid_worker", "community_police", "property", "volunteer")


def when(ms: int | None, tz: ZoneInfo, fmt: str = "%m-%d %H:%M") -> str:
    return datetime.fromtimestamp(ms / 1000, tz).strftime(fmt) if ms else "—"


def supervised_mark(record: dict, lang: str, testid: str) -> list:
    """The 督办 mark of a supervised incident (none otherwise): on every screen
    below the unit that marked it."""
    mark = record.get("supervised")
    if not mark:
        return []
    return [html.Span(t("mark.supervised", lang), className="sup-mark",
                      title=t("mark.supervised_by", lang,
                              level=t(f"owner.{mark['level']}", lang)),
                      **{"data-testid": testid})]


def grid_buttons(site: Site, live: dict, open_by_grid: dict, selected: str,
                 lang: str, scope: tuple[str, ...] = ()) -> list[html.Button]:
    """A button per grid of the site, or per grid of ``scope`` if given."""
    out = []
    for grid in site.grids.values():
        if scope and grid.id not in scope:
            continue
        g = live.get(grid.id, {})
        out.append(html.Button(
            id=ids.c_grid_button(grid.id),
            className="c-gbtn" + (" on" if grid.id == selected else ""),
            children=[
                html.I(className=f"dens d{g.get('density_level', 0)}"),
                html.Span(grid.name_en if lang == "en" else grid.name),
                html.Span(f"{g.get('people_present', 0)}", className="c-gnum"),
                html.Span(str(open_by_grid.get(grid.id, 0)) if open_by_grid.get(
                    grid.id) else "", className="c-gopen"),
            ]))
    return out


def flow_sparkline(points: list[tuple[int, int, int]], tz: ZoneInfo,
                   lang: str) -> go.Figure:
    times = [datetime.fromtimestamp(p[0] / 1000, tz).replace(tzinfo=None)
             for p in points]
    fig = go.Figure()
    fig.add_bar(x=times, y=[p[1] for p in points], name=t("wall.flow_in", lang),
                marker_color=LIGHT.flow_in)
    fig.add_bar(x=times, y=[-p[2] for p in points], name=t("wall.flow_out", lang),
                marker_color=LIGHT.flow_out)
    fig.update_layout(barmode="relative", height=120, showlegend=False,
                      margin={"l": 30, "r": 6, "t": 4, "b": 20},
                      paper_bgcolor="rgba(0,0,0,0)", plot_bgcolor="rgba(0,0,0,0)",
                      font={"family": LIGHT.font, "size": 11},
                      uirevision="c-flow")
    fig.update_xaxes(tickformat="%H:%M", showgrid=False)
    fig.update_yaxes(gridcolor=LIGHT.grid_line)
    return fig


def forces(site: Site, grid_id: str) -> list[User]:
    """People of the site on duty for this grid (its worker first)."""
    on_duty = [u for u in site.users.values() if u.duty in FORCE_DUTIES
               and grid_id in u.grids]
    return sorted(on_duty, key=lambda u: (FORCE_DUTIES.index(u.duty), u.name))


def grid_profile(site: Site, grid_id: str, live: dict, n_open: int,
                 flow: list[tuple[int, int, int]], lang: str) -> list:
    grid = site.grids[grid_id]
    worker = site.users.get(grid.worker or "")
    tz = ZoneInfo(site.timezone)
    facts = [
        (t("c.party_branch", lang), grid.party_branch),
        (t("c.secretary", lang), grid.party_secretary),
        (t("c.worker", lang), f"{worker.name} {worker.phone}" if worker else "—"),
        (t("c.people", lang), f"{live.get('people_present', 0)} / {grid.capacity}"),
        (t("c.in_out", lang), f"{live.get('people_in_1h', 0)} / "
                              f"{live.get('people_out_1h', 0)}"),
        (t("c.open", lang), n_open),
    ]
    return [
        html.H2(grid.name_en if lang == "en" else grid.name),
        html.Dl([item for label, value in facts
                 for item in (html.Dt(label), html.Dd(str(value)))]),
        html.H3(t("c.forces", lang)),
        html.Ul([html.Li(f"{duty_text(u.duty, lang)} · {u.name} · {u.phone}")
                 for u in forces(site, grid_id)], className="c-forces"),
        html.H3(t("c.flow", lang)),
        dcc.Graph(figure=flow_sparkline(flow, tz, lang), config={
            "displayModeBar": False, "staticPlot": True}, className="c-spark"),
    ]


def table_rows(records: list[tuple[dict, str]], site: Site, lang: str) -> list[dict]:
    """Rows of the incident table: (record, SLA light) pairs."""
    tz = ZoneInfo(site.timezone)
    rows = []
    for record, light in records:
        cat = site.categories.get(record["category"])
        grid = site.grids.get(record["grid"])
        assignee = site.users.get(record.get("assignee") or "")
        rows.append({
            "id": record["id"], "level": t(f"level.{record['level']}", lang),
            "title": record["title"],
            "supervised": t("mark.supervised", lang) if record.get("supervised")
            else "",
            "category": (cat.name_en if lang == "en" else cat.name) if cat else "",
            "grid": (grid.name_en if lang == "en" else grid.name) if grid else "",
            "status": t(f"status.{record['status']}", lang),
            "owner": t(f"owner.{record['owner_level']}", lang),
            "sla": t(f"sla.{light}", lang),
            "deadline": when(record["deadline"], tz),
            "assignee": assignee.name if assignee else "",
            "reported": when(record["reported_at"], tz),
        })
    return rows


def history_list(record: dict, site: Site, lang: str, tz: ZoneInfo) -> html.Ol:
    items = []
    for h in reversed(record["history"]):
        actor = site.users.get(h.get("actor", ""))
        who = actor.name if actor else h.get("actor", "")
        words = [h.get(k) for k in ("reason", "note") if h.get(k)]
        if h.get("assignee"):
            assignee = site.users.get(h["assignee"])
            words.append(f"→ {assignee.name if assignee else h['assignee']}")
        if h.get("level") and h["op"] in ("escalate", "hand_down", "return"):
            words.append(f"→ {t('owner.' + h['level'], lang)}")
        if h.get("deadline") and h["op"] == "hand_down":
            words.append(t("uc.until", lang, when=when(h["deadline"], tz)))
        if h.get("op") == "verify":
            words.insert(0, t("c.pass" if h.get("passed") else "c.fail", lang))
        items.append(html.Li([
            html.Span(when(h["ts"], tz, "%m-%d %H:%M:%S"), className="h-time"),
            html.Span(t(f"op.{h['op']}", lang), className="h-op"),
            html.Span(who, className="h-who"),
            html.Span(" ".join(str(w) for w in words), className="h-note"),
        ]))
    return html.Ol(items, className="c-history")


def _forms(ops: list[str], record: dict, site: Site, lang: str,
           open_ids: list[tuple[str, str]]) -> list:
    """Every form field, shown only where one of the allowed ops needs it
    (they all exist, so the action callback can always read them)."""
    def shown(*needs: str) -> str:
        return "c-field" if set(ops) & set(needs) else "c-field hidden"

    people = [u for u in site.users.values() if u.role == "worker"
              and (not u.grids or record["grid"] in u.grids)]
    grid = site.grids[record["grid"]]
    return [
        html.Div(className=shown("reject"), children=[
            html.Label(t("c.reason", lang)),
            dcc.Input(id=ids.C_REASON, className="c-input", maxLength=500)]),
        html.Div(className=shown("dispatch"), children=[
            html.Label(t("c.assignee", lang)),
            dcc.Dropdown(id=ids.C_ASSIGNEE, clearable=False, value=grid.worker,
                         options=[{"label": f"{u.name} · {duty_text(u.duty, lang)}",
                                   "value": u.id} for u in people]),
            html.Label(t("c.task_hours", lang)),
            dcc.Input(id=ids.C_DEADLINE_H, type="number", min=0.5, max=720,
                      step=0.5, value=4, className="c-input")]),
        html.Div(className=shown("merge"), children=[
            html.Label(t("c.into", lang)),
            dcc.Dropdown(id=ids.C_INTO, options=[
                {"label": title, "value": i} for i, title in open_ids
                if i != record["id"]])]),
        html.Div(className=shown("resolve", "verify", "comment", "reopen",
                                 "escalate"), children=[
            html.Label(t("c.note", lang)),
            dcc.Textarea(id=ids.C_NOTE, className="c-input", maxLength=2000)]),
    ]


def detail(record: dict | None, ops: list[str], site: Site, lang: str, now: int,
           light: str, unmasked: bool, open_ids: list[tuple[str, str]]) -> list:
    if record is None:
        return [html.P(t("c.pick", lang), className="c-empty")]
    tz = ZoneInfo(site.timezone)
    cat = site.categories.get(record["category"])
    grid = site.grids.get(record["grid"])
    reporter = record.get("reporter", "")
    phone = record.get("phone", "")
    if not unmasked:
        reporter, phone = mask_name(reporter), mask_phone(phone)
    buttons = []
    for op in ops:
        if op == "verify":
            buttons += [html.Button(t("op.verify_pass", lang),
                                    id=ids.c_action("verify_pass"),
                                    className="c-btn c-op-ok"),
                        html.Button(t("op.verify_fail", lang),
                                    id=ids.c_action("verify_fail"),
                                    className="c-btn c-op-warn")]
        else:
            buttons.append(html.Button(t(f"op.{op}", lang), id=ids.c_action(op),
                                       className=f"c-btn c-op-{op}"))
    facts = [
        (t("c.col_category", lang), (cat.name_en if lang == "en" else cat.name)
         if cat else record["category"]),
        (t("c.col_grid", lang), (grid.name_en if lang == "en" else grid.name)
         if grid else record["grid"]),
        (t("c.col_owner", lang), t(f"owner.{record['owner_level']}", lang)),
        (t("c.channel", lang), t(f"channel.{record.get('channel', 'app')}", lang)),
        (t("c.reporter", lang), " ".join(x for x in (reporter, phone) if x) or "—"),
        (t("c.deadline", lang), when(record["deadline"], tz)),
        (t("c.rework", lang), record.get("rework", 0)),
    ]
    src = photo_url(site.id, record.get("photo"))
    photo = ([html.Img(src=src, className="c-photo", alt=t("c.photo", lang))]
             if src else [])
    return [
        html.Div(className="c-dhead", children=[
            html.Span(className=f"sla sla-{light}"),
            html.Span(t(f"level.{record['level']}", lang),
                      className=f"badge lvl{record['level']}"),
            html.Span(t(f"status.{record['status']}", lang), className="c-status"),
            *supervised_mark(record, lang, "c-supervised"),
            html.Button(t("c.cast_incident", lang), id=ids.C_CAST_INCIDENT,
                        className="c-btn c-btn-cast"),
        ]),
        html.H2(record["title"], className="c-dtitle"),
        html.P(record.get("detail") or "", className="c-dtext"),
        *photo,
        html.Dl([item for label, value in facts
                 for item in (html.Dt(label), html.Dd(str(value)))]),
        html.Div(_forms(ops, record, site, lang, open_ids), className="c-forms"),
        html.Div(buttons or [html.P(t("c.no_actions", lang), className="c-empty")],
                 className="c-actions", **{"data-testid": "c-actions"}),
        html.H3(t("c.history", lang)),
        history_list(record, site, lang, tz),
    ]
