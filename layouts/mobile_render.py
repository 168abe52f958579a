"""Task cards of the phone, from incident records (text is always text)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from dash import dcc, html

from data.site import Site
from layouts import ids
from layouts.console_render import supervised_mark
from layouts.i18n import t


def _due(deadline: int, tz: ZoneInfo) -> str:
    return datetime.fromtimestamp(deadline / 1000, tz).strftime("%m-%d %H:%M")


def task_cards(cards: list[tuple[dict, str, list[str]]], site: Site,
               lang: str) -> list:
    """One card per (record, SLA light, ops this user may make)."""
    if not cards:
        return [html.P(t("m.no_tasks", lang), className="m-empty")]
    tz = ZoneInfo(site.timezone)
    out = []
    for record, light, ops in cards:
        cat = site.categories.get(record["category"])
        grid = site.grids.get(record["grid"])
        buttons = [html.Button(t(f"op.{op}", lang), id=ids.m_action(op, record["id"]),
                               className=f"m-btn m-op-{op}") for op in ops]
        body = [
            html.Div(className="m-task-head", children=[
                html.Span(className=f"sla sla-{light}"),
                html.Span(t(f"level.{record['level']}", lang),
                          className=f"badge lvl{record['level']}"),
                html.Span(record["title"], className="m-task-title"),
                *supervised_mark(record, lang, "m-supervised"),
            ]),
            html.Div(" · ".join(x for x in (
                (cat.name_en if lang == "en" else cat.name) if cat else "",
                (grid.name_en if lang == "en" else grid.name) if grid else "",
                t(f"status.{record['status']}", lang),
                f"{t('m.deadline', lang)} {_due(record['deadline'], tz)}") if x),
                className="m-task-meta"),
        ]
        if record.get("detail"):
            body.append(html.Div(record["detail"], className="m-task-detail"))
        if "resolve" in ops:
            body.append(dcc.Textarea(id=ids.m_note(record["id"]), maxLength=2000,
                                     placeholder=t("m.note", lang),
                                     className="m-input m-note"))
        if buttons:
            body.append(html.Div(buttons, className="m-actions"))
        out.append(html.Article(body, className=f"m-task lvl{record['level']}",
                                **{"data-incident": record["id"]}))
    return out
