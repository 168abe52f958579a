"""Text cells for spreadsheets: typed text must never become a formula.

Excel, LibreOffice and Google Sheets read a CSV cell starting with ``=``,
``+``, ``-``, ``@``, a tab or a carriage return as a formula (OWASP "CSV
injection"); a leading apostrophe makes them show it as text. Every CSV the
app writes (the audit log, the analysis exports) passes its text cells
through :func:`text_cell`; the workbook writer sets ``strings_to_formulas``
off instead.
"""

from __future__ import annotations

from typing import Any

FORMULA_LEADS = ("=", "+", "-", "@", "\t", "\r")


def text_cell(value: str) -> str:
    """``value``, with an apostrophe first if a spreadsheet would run it."""
    return "'" + value if value[:1] in FORMULA_LEADS else value


def csv_cell(value: Any) -> Any:
    """A CSV value: strings made safe by :func:`text_cell`, numbers, dates and
    missing values left as they are (``-3`` is a number, not a formula)."""
    return text_cell(value) if isinstance(value, str) else value
