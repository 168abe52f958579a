"""Exports of the analyst's workspace: plain GET URLs under ``/api/v1/sites/<site>``.

- ``GET …/export`` lists the charts (name, title, formats);
- ``GET …/export/<chart>.<png|svg|pdf|csv|xlsx>?start=…&end=…[&grids=…]
  [&categories=…][&entrance=…][&repeat_days=…][&lang=en]`` returns one chart
  or the data under it;
- ``GET …/briefing/<YYYY-MM-DD>.pdf`` the daily briefing (日报).

Images are drawn by the process's one Chromium (:mod:`web.render`) and stamped
with the title, filters, time range, data time and who exported them; the CSV
is UTF-8 with a BOM (Excel reads it right), the workbook has the data and a
sheet saying where it came from. Bad filters answer 400, an unknown site or
chart or a range without data 404, a broken renderer 503, all as JSON with an
``error`` (and ``error_zh``); never a traceback.
"""

from __future__ import annotations

import io
from datetime import date, datetime
from typing import Any

import pandas as pd
from flask import Blueprint, Response, jsonify, request

from data.cells import csv_cell
from data.history.dataset import (
    Dataset,
    FilterError,
    History,
    parse_filters,
    site_today,
)
from data.site import Site
from layouts import analysis_charts as charts
from layouts.analysis_figures import stamp
from layouts.briefing import briefing_pages
from layouts.i18n import lang_of, t
from layouts.theme import LIGHT
from web.auth import api_caller
from web.render import RenderError, renderer
from web.state import app_state
from web.tenant import api_grid_scope, scoped_filters
from web.workbook import workbook_bytes

export = Blueprint("analysis_export", __name__, url_prefix="/api/v1")

IMAGE = {"png": "image/png", "svg": "image/svg+xml", "pdf": "application/pdf"}
TABLE = {"csv": "text/csv; charset=utf-8",
         "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
WIDTH, HEIGHT = 1400, 820


def _error(status: int, key: str, **values: Any) -> tuple[Response, int]:
    body = {"error": t(key, "en", **values), "error_zh": t(key, "zh", **values),
            "code": key.rsplit(".", 1)[-1], "status": status}
    return jsonify(body), status


def history() -> History:
    return History(app_state().config.history)


def exported_by() -> str:
    """Who asked for the export: the signed-in person or the API key's producer."""
    from web.auth import api_caller, principal

    caller = api_caller() or principal()
    if caller is None:
        return f"anonymous ({request.remote_addr or '?'})"
    if caller.account is not None:
        return f"{caller.account.display} ({caller.name})"
    return caller.name


def provenance(site: Site, data: Dataset, lang: str) -> list[tuple[str, str]]:
    """(label, value) pairs stamped on an export: what, when, from where, by whom."""
    f = data.filters

    def names(ids: tuple[str, ...], table: dict) -> str:
        if not ids:
            return t("analysis.all", lang)
        return "、".join((table[i].name_en if lang == "en" else table[i].name)
                        for i in ids)

    as_of = data.as_of.strftime("%Y-%m-%d %H:%M") if data.as_of else "—"
    now = datetime.now(data.as_of.tzinfo if data.as_of else None)
    rows = [
        (t("analysis.site", lang), site.name_en if lang == "en" else site.name),
        (t("analysis.range", lang), f"{f.start} – {f.end}"),
        (t("analysis.grids", lang), names(f.grids, site.grids)),
        (t("analysis.categories", lang), names(f.categories, site.categories)),
        (t("analysis.data_time", lang), as_of),
        (t("analysis.exported_by", lang), exported_by()),
        (t("analysis.exported_at", lang), now.strftime("%Y-%m-%d %H:%M:%S")),
        (t("analysis.source", lang), t("analysis.source_text", lang)),
    ]
    if f.entrance:
        entrance = site.entrances[f.entrance]
        rows.insert(3, (t("analysis.entrance", lang),
                        entrance.name_en if lang == "en" else entrance.name))
    return rows


def footer_lines(rows: list[tuple[str, str]]) -> list[str]:
    cells = [f"{label}: {value}" for label, value in rows]
    return ["  ·  ".join(cells[:4]), "  ·  ".join(cells[4:])]


def table_bytes(frame: pd.DataFrame, fmt: str, about: list[tuple[str, str]],
                lang: str) -> bytes:
    """The frame as CSV (UTF-8 with BOM) or as a workbook with a provenance sheet;
    times in the site's local time either way."""
    if fmt == "xlsx":
        return workbook_bytes(frame, about,
                              data_sheet=t("analysis.sheet_data", lang),
                              about_sheet=t("analysis.sheet_about", lang))
    frame = frame.copy()
    for column in frame.columns:
        if isinstance(frame[column].dtype, pd.DatetimeTZDtype):
            frame[column] = frame[column].dt.tz_localize(None)
        elif not pd.api.types.is_numeric_dtype(frame[column].dtype):
            frame[column] = frame[column].map(csv_cell)
    # CRLF rows (RFC 4180): a CR inside a cell is then quoted, not a row break
    return frame.to_csv(index=False, lineterminator="\r\n").encode("utf-8-sig")


def _attachment(body: bytes, mimetype: str, filename: str) -> Response:
    response = Response(body, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "no-store"
    return response


def chart_file(site: Site, data: Dataset, name: str, fmt: str, lang: str) -> bytes:
    """One chart of ``data`` as ``fmt`` bytes, stamped with its provenance."""
    about = provenance(site, data, lang)
    if fmt in TABLE:  # the data alone: no figure to draw
        return table_bytes(charts.frame(name, data, site, lang=lang), fmt,
                           [(t("analysis.chart", lang), charts.title(name, lang)),
                            *about], lang)
    _, fig = charts.build(name, data, site, lang=lang, theme=LIGHT)
    site_name = site.name_en if lang == "en" else site.name
    title = f"{site_name} · {charts.title(name, lang)}"
    return renderer().render(stamp(fig, title, footer_lines(about), theme=LIGHT,
                                   height=HEIGHT),
                             fmt, WIDTH, HEIGHT)


def _site(site_id: str) -> Site | None:
    return app_state().sites.get(site_id)


@export.get("/sites/<site_id>/export")
def list_charts(site_id: str):
    if _site(site_id) is None:
        return _error(404, "analysis.err.unknown_site", value=site_id[:40])
    base = f"/api/v1/sites/{site_id}"
    return jsonify({
        "site": site_id,
        "charts": [{"name": name, "title": charts.title(name, "zh"),
                    "title_en": charts.title(name, "en"),
                    "formats": list(charts.FORMATS),
                    "url": f"{base}/export/{name}.{{format}}"}
                   for name in charts.CHARTS],
        "briefing": f"{base}/briefing/{{YYYY-MM-DD}}.pdf",
        "parameters": ["start", "end", "grids", "categories", "entrance",
                       "repeat_days", "lang"],
    })


@export.get("/sites/<site_id>/export/<name>.<fmt>")
def export_chart(site_id: str, name: str, fmt: str):
    site = _site(site_id)
    if site is None:
        return _error(404, "analysis.err.unknown_site", value=site_id[:40])
    if name not in charts.CHARTS or fmt not in charts.FORMATS:
        return _error(404, "analysis.err.unknown_chart", value=f"{name}.{fmt}"[:60])
    lang = lang_of(request.args.get("lang"))
    try:
        filters = parse_filters(request.args, site, site_today(site))
    except FilterError as exc:
        return _error(400, f"analysis.err.{exc.code}", **exc.values)
    filters = scoped_filters(filters, api_grid_scope(api_caller(), site))
    if filters is None:
        return _error(403, "analysis.err.out_of_scope")
    data = history().load(site, filters)
    if data.empty:
        return _error(404, "analysis.err.no_data", start=filters.start,
                      end=filters.end)
    try:
        body = chart_file(site, data, name, fmt, lang)
    except RenderError:
        return _error(503, "analysis.err.renderer")
    filename = f"{site.id}_{name}_{filters.start}_{filters.end}.{fmt}"
    return _attachment(body, IMAGE.get(fmt) or TABLE[fmt], filename)


def briefing_pdf(site: Site, day: date, lang: str) -> bytes:
    """The daily briefing of ``day``: a multi-page PDF (raises RenderError)."""
    from pypdf import PdfWriter

    writer = PdfWriter()
    for fig in briefing_pages(history(), site, day, lang, exported_by(),
                              height=HEIGHT):
        pdf = renderer().render(fig, "pdf", WIDTH, HEIGHT)
        writer.append(io.BytesIO(pdf))
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


@export.get("/sites/<site_id>/briefing/<day>.pdf")
def briefing(site_id: str, day: str):
    site = _site(site_id)
    if site is None:
        return _error(404, "analysis.err.unknown_site", value=site_id[:40])
    if api_grid_scope(api_caller(), site):  # a site's page, every grid on it
        return _error(403, "analysis.err.briefing_whole_site")
    lang = lang_of(request.args.get("lang"))
    try:
        filters = parse_filters({"start": day, "end": day}, site, site_today(site))
    except FilterError as exc:
        return _error(400, f"analysis.err.{exc.code}", **exc.values)
    if history().load(site, filters).empty:
        return _error(404, "analysis.err.no_data", start=day, end=day)
    try:
        body = briefing_pdf(site, filters.start, lang)
    except RenderError:
        return _error(503, "analysis.err.renderer")
    return _attachment(body, IMAGE["pdf"], f"{site.id}_briefing_{day}.pdf")
