"""The monthly bulletin of a unit (月度通报): the pages of a PDF.

:func:`bulletin_pages` takes a unit's figures for a month
(:class:`data.history.unit_view.UnitView`) and returns one stamped figure per
page: the unit's own figures, each child unit's counts and rates, the rates
side by side, and the problems that came back most. Rendering and joining
the pages is the export's job (:func:`web.unit_export.bulletin_pdf`).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

import plotly.graph_objects as go

from data.history.unit_view import UnitView
from layouts import unit_figures as figs
from layouts.analysis_figures import stamp
from layouts.i18n import t
from layouts.theme import LIGHT, Theme

# Latin letters and figures from DejaVu, Chinese from Noto CJK: Chromium's PDF
# of Noto CJK's own figures has no text behind them (a reader copying "75.0%"
# from the bulletin got "\0\0.\0%"); DejaVu's are searchable and copyable.
PDF_THEME = replace(LIGHT, font=f'"DejaVu Sans", {LIGHT.font}')


def footer(view: UnitView, lang: str, exported_by: str) -> list[str]:
    """The provenance lines of every page and export of ``view``."""
    f = view.filters
    as_of = view.as_of.strftime("%Y-%m-%d %H:%M") if view.as_of else "—"
    made = datetime.now(view.as_of.tzinfo if view.as_of else None)
    return [f"{t('ua.unit', lang)}: {view.unit.label(lang)} ({view.unit.id})  ·  "
            f"{t('analysis.range', lang)}: {f.start} – {f.end}  ·  "
            f"{t('ua.formulas', lang)}",
            f"{t('analysis.data_time', lang)}: {as_of}  ·  "
            f"{t('analysis.exported_by', lang)}: {exported_by}  ·  "
            f"{t('analysis.exported_at', lang)}: {made:%Y-%m-%d %H:%M:%S}  ·  "
            f"{t('analysis.source', lang)}: {t('analysis.source_text', lang)}"]


def bulletin_pages(view: UnitView, month: str, lang: str, exported_by: str, *,
                   height: int, theme: Theme = PDF_THEME) -> list[go.Figure]:
    """The stamped figures of the bulletin of ``month``, one per page."""
    name = view.unit.label(lang)
    lines = footer(view, lang, exported_by)
    first = "ua.child" if view.unit.children else "analysis.grids"

    def page(fig: go.Figure, title: str) -> go.Figure:
        return stamp(fig, f"{name} · {title} · {month}", lines, theme=theme,
                     height=height)

    return [
        page(figs.kpi_figure(view.totals, theme=theme, lang=lang),
             t("ua.bulletin", lang)),
        page(figs.children_table(view.children, theme=theme, lang=lang,
                                 first=first), t("ua.by_child", lang)),
        page(figs.rates_figure(view.children, theme=theme, lang=lang),
             t("ua.rates", lang)),
        page(figs.recurring_table(view.top, view.names, theme=theme, lang=lang),
             t("ua.recurring", lang)),
    ]
