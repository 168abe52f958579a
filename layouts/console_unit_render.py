"""Pieces of a unit's console, from plain values (people's text stays text)."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from dash import dcc, html

from data.incidents.lifecycle import mask_name, mask_phone
from data.site import Site
from data.terms import CHAIN
from layouts import ids
from layouts.console_render import history_list, supervised_mark, when
from layouts.i18n import t

KPIS = ("incidents_open", "overdue", "owned_here", "closure_rate", "on_time_rate")


def _figure(value: Any) -> str:
    if value is None:
        return "—"
    return f"{value:.0%}" if isinstance(value, float) else str(value)


def kpi_strip(kpis: dict[str, Any], lang: str) -> list:
    return [html.Div(className="uc-kpi", children=[
        html.B(_figure(kpis.get(k)), **{"data-testid": f"uc-kpi-{k}"}),
        html.Span(t(f"uc.kpi_{k}", lang))]) for k in KPIS]


def children_list(entries: list[dict[str, Any]], lang: str) -> list:
    """One row per unit or grid below: its name (a link where this person may
    go down), open, overdue and waiting-at-the-parent figures."""
    if not entries:
        return [html.P(t("uc.nothing_below", lang), className="c-empty")]
    out = []
    for entry in entries:
        # a whole page load: the community's console starts its own push
        name = (html.A(entry["label"], href=entry["href"], className="uc-down")
                if entry.get("href") else html.Span(entry["label"],
                                                    className="uc-down off"))
        figures = [html.Span(str(entry[k]), className=f"uc-n uc-n-{k}",
                             title=t(f"uc.kpi_{k}", lang))
                   for k in ("incidents_open", "overdue") if k in entry]
        out.append(html.Div([name, *figures], className="uc-child",
                            **{"data-unit": entry["id"]}))
    return out


def table_rows(rows: list[tuple[Site, dict, str]], community_names: dict[str, str],
               lang: str) -> list[dict]:
    """Rows of a unit's incident table: (site, record, SLA light)."""
    out = []
    for site, record, light in rows:
        grid = site.grids.get(record["grid"])
        due = record.get("task_deadline") or record["deadline"]
        out.append({
            "key": f"{site.id}/{record['id']}", "site": site.id, "id": record["id"],
            "supervised": t("mark.supervised", lang) if record.get("supervised")
            else "",
            "level": t(f"level.{record['level']}", lang), "title": record["title"],
            "community": community_names.get(grid.community, "") if grid else "",
            "grid": (grid.name_en if lang == "en" else grid.name) if grid else "",
            "status": t(f"status.{record['status']}", lang),
            "owner": t(f"owner.{record['owner_level']}", lang),
            "sla": t(f"sla.{light}", lang),
            "deadline": when(due, ZoneInfo(site.timezone)),
            "reported": when(record["reported_at"], ZoneInfo(site.timezone)),
        })
    return out


def _forms(ops: list[str], record: dict, site: Site, lang: str) -> list:
    """The fields the offered ops need (all present, so the action callback
    can always read them)."""
    def shown(*needs: str) -> str:
        return "c-field" if set(ops) & set(needs) else "c-field hidden"

    grid = site.grids[record["grid"]]
    below = CHAIN[:CHAIN.index(record["owner_level"])]
    names = {"grid": grid.name_en if lang == "en" else grid.name,
             "community": (site.units[grid.community].name_en if lang == "en"
                           else site.units[grid.community].name)
             if grid.community in site.units else ""}
    return [
        html.Div(className=shown("hand_down"), children=[
            html.Label(t("uc.hand_to", lang)),
            dcc.Dropdown(id=ids.UC_LEVEL, clearable=False,
                         value=below[-1] if below else None, options=[
                             {"label": f"{t('owner.' + lvl, lang)} · {names[lvl]}",
                              "value": lvl} for lvl in reversed(below)]),
            html.Label(t("uc.hours", lang)),
            dcc.Input(id=ids.UC_HOURS, type="number", min=0.5, max=720, step=0.5,
                      value=24, className="c-input")]),
        html.Div(className=shown("return"), children=[
            html.Label(t("uc.return_reason", lang)),
            dcc.Input(id=ids.UC_REASON, className="c-input", maxLength=500)]),
        html.Div(className=shown("close", "supervise", "unsupervise", "escalate",
                                 "comment", "accept", "hand_down"), children=[
            html.Label(t("c.note", lang)),
            dcc.Textarea(id=ids.UC_NOTE, className="c-input", maxLength=2000)]),
    ]


def detail(site: Site | None, record: dict | None, ops: list[str], lang: str,
           light: str, unmasked: bool) -> list:
    if site is None or record is None:
        return [html.P(t("c.pick", lang), className="c-empty")]
    tz = ZoneInfo(site.timezone)
    grid = site.grids.get(record["grid"])
    reporter, phone = record.get("reporter", ""), record.get("phone", "")
    if not unmasked:
        reporter, phone = mask_name(reporter), mask_phone(phone)
    handed = record.get("handed_down") or {}
    facts = [
        (t("uc.col_community", lang), site.name_en if lang == "en" else site.name),
        (t("c.col_grid", lang), (grid.name_en if lang == "en" else grid.name)
         if grid else record["grid"]),
        (t("c.col_owner", lang), t(f"owner.{record['owner_level']}", lang)),
        (t("c.reporter", lang), " ".join(x for x in (reporter, phone) if x) or "—"),
        (t("c.deadline", lang), when(record["deadline"], tz)),
        (t("uc.handed_deadline", lang), when(handed.get("deadline"), tz)),
    ]
    buttons = [html.Button(t(f"op.{op}", lang), id=ids.uc_action(op),
                           className=f"c-btn c-op-{op}") for op in ops]
    return [
        html.Div(className="c-dhead", children=[
            html.Span(className=f"sla sla-{light}"),
            html.Span(t(f"level.{record['level']}", lang),
                      className=f"badge lvl{record['level']}"),
            html.Span(t(f"status.{record['status']}", lang), className="c-status"),
            *supervised_mark(record, lang, "uc-supervised"),
        ]),
        html.H2(record["title"], className="c-dtitle"),
        html.P(record.get("detail") or "", className="c-dtext"),
        html.Dl([item for label, value in facts
                 for item in (html.Dt(label), html.Dd(str(value)))]),
        html.Div(_forms(ops, record, site, lang), className="c-forms"),
        html.Div(buttons or [html.P(t("c.no_actions", lang), className="c-empty")],
                 className="c-actions", **{"data-testid": "uc-actions"}),
        html.H3(t("c.history", lang)),
        history_list(record, site, lang, tz),
    ]
