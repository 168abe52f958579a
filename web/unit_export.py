"""Exports of a unit's analysis, under ``/api/v1/units/<unit>``:

- ``GET …/export/<table>.<csv|xlsx>?start=…&end=…[&categories=…]
  [&repeat_days=…][&lang=en]``: ``children`` (figures per child unit),
  ``recurring`` (the problems that come back most), ``repeats`` (each repeated
  incident) or ``incidents`` (every incident reported in the range);
- ``GET …/bulletin/<YYYY-MM>.pdf[?lang=en]``: the monthly bulletin (月度通报).

A caller reaches a unit its credential reaches (:func:`web.tenant.units_of`):
a street's analyst its street and the communities under it, never the
neighbour street. Errors are JSON with ``error`` and ``error_zh``, as the
site exports' are.
"""

from __future__ import annotations

import io
from typing import Any

import pandas as pd
from flask import Blueprint, request

from data.history.dataset import FilterError
from data.history.unit_read import unit_scope
from data.history.unit_view import (
    UnitView,
    load_unit_view,
    month_range,
    parse_unit_filters,
    unit_today,
)
from layouts.i18n import lang_of, t
from layouts.unit_bulletin import bulletin_pages, footer
from web.auth import api_caller
from web.export import (
    HEIGHT,
    TABLE,
    WIDTH,
    _attachment,
    _error,
    exported_by,
    table_bytes,
)
from web.render import RenderError, renderer
from web.state import AppState, app_state
from web.tenant import analysable_units

unit_export = Blueprint("unit_export", __name__, url_prefix="/api/v1")
TABLES = ("children", "recurring", "repeats", "incidents")
INCIDENT_COLUMNS = ["id", "site", "community", "grid", "category", "level", "title",
                    "status", "owner_level", "solved_level", "reported_at",
                    "deadline", "closed_at", "rework"]


def may_read_unit(caller: Any, state: AppState, unit: str) -> bool:
    """True if ``caller`` may analyse ``unit`` (a unit served here)."""
    tree = state.units
    reachable = analysable_units(caller, tree, state.sites)
    return unit in tree and (reachable is None or unit in reachable)


def unit_view(state: AppState, unit: str, args: dict[str, Any],
              lang: str) -> UnitView:
    """The unit's figures for the query ``args`` (raises FilterError)."""
    scope = unit_scope(state.units, unit, state.sites)
    filters = parse_unit_filters(args, scope, state.sites)
    return load_unit_view(state.config.history, state.units, state.sites, unit,
                          filters, lang)


def table_frame(view: UnitView, table: str) -> pd.DataFrame:
    """The rows of one of :data:`TABLES`."""
    if table == "children":
        return view.children
    if table == "recurring":
        return view.top.assign(name=[view.names.get(k, k) for k in view.top["key"]])
    if table == "repeats":
        return view.repeats
    return view.reported[INCIDENT_COLUMNS]


def _refusal(unit: str):
    state = app_state()
    if unit not in state.units:
        return _error(404, "ua.err.unknown_unit", value=unit[:40])
    if not may_read_unit(api_caller(), state, unit):
        return _error(403, "ua.err.out_of_scope", value=unit[:40])
    return None


@unit_export.get("/units/<unit>/export/<table>.<fmt>")
def export_table(unit: str, table: str, fmt: str):
    refused = _refusal(unit)
    if refused is not None:
        return refused
    if table not in TABLES or fmt not in TABLE:
        return _error(404, "analysis.err.unknown_chart", value=f"{table}.{fmt}"[:60])
    lang = lang_of(request.args.get("lang"))
    try:
        view = unit_view(app_state(), unit, dict(request.args), lang)
    except FilterError as exc:
        return _error(400, f"analysis.err.{exc.code}", **exc.values)
    if view.empty:
        return _error(404, "analysis.err.no_data", start=view.filters.start,
                      end=view.filters.end)
    about = [(t("ua.unit", lang), f"{view.unit.label(lang)} ({unit})"),
             *((str(n), line) for n, line in enumerate(
                 footer(view, lang, exported_by()), start=1))]
    body = table_bytes(table_frame(view, table), fmt, about, lang)
    f = view.filters
    return _attachment(body, TABLE[fmt], f"{unit}_{table}_{f.start}_{f.end}.{fmt}")


def bulletin_pdf(view: UnitView, month: str, lang: str) -> bytes:
    """The bulletin's pages as one PDF (raises RenderError)."""
    from pypdf import PdfWriter

    writer = PdfWriter()
    for fig in bulletin_pages(view, month, lang, exported_by(), height=HEIGHT):
        writer.append(io.BytesIO(renderer().render(fig, "pdf", WIDTH, HEIGHT)))
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def month_view(state: AppState, unit: str, month: str, lang: str) -> UnitView:
    """The unit's figures over ``YYYY-MM`` (raises FilterError)."""
    scope = unit_scope(state.units, unit, state.sites)
    start, end = month_range(month, unit_today(scope, state.sites))
    return unit_view(state, unit, {"start": start.isoformat(),
                                   "end": end.isoformat()}, lang)


@unit_export.get("/units/<unit>/bulletin/<month>.pdf")
def bulletin(unit: str, month: str):
    refused = _refusal(unit)
    if refused is not None:
        return refused
    lang = lang_of(request.args.get("lang"))
    try:
        view = month_view(app_state(), unit, month, lang)
    except FilterError as exc:
        return _error(400, f"analysis.err.{exc.code}", **exc.values)
    if view.empty:
        return _error(404, "analysis.err.no_data", start=view.filters.start,
                      end=view.filters.end)
    try:
        body = bulletin_pdf(view, month, lang)
    except RenderError:
        return _error(503, "analysis.err.renderer")
    return _attachment(body, "application/pdf", f"{unit}_bulletin_{month}.pdf")
