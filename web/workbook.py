"""The Excel workbook of an export: the data under a chart, and where it came from.

Written with xlsxwriter a column at a time, each column's kind decided once
(text, number, date, date and time), rather than with ``DataFrame.to_excel``:
through pandas every cell became a styled ``ExcelCell``, then an openpyxl
``Cell`` checked against a regular expression, then an element serialized by
et_xmlfile's pure-Python writer: about 15 µs a cell, 0.5 s for a sheet of
3,280 rows by 12 columns, and 0.6-0.7 s in a web process, whose garbage
collector walks the whole application (0.1 s) at each full collection that
those many objects set off. Here it is 4 µs a cell, with few objects alive.

Text stays text: a title that someone typed starting with ``=`` is not turned
into a formula, nor an address into a link, and control characters are
escaped rather than refused.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterable, Sequence
from datetime import date, datetime

import numpy as np
import pandas as pd
import xlsxwriter
from pandas.api import types
from xlsxwriter.worksheet import Worksheet

DATE_FORMAT = "yyyy-mm-dd"
DATETIME_FORMAT = "yyyy-mm-dd hh:mm:ss"
# Excel counts days from 1899-12-30 (for any day after 1900-02-28)
EXCEL_EPOCH = pd.Timestamp("1899-12-30")
DAY = pd.Timedelta(days=1)


def workbook_bytes(frame: pd.DataFrame, about: Sequence[tuple[str, str]], *,
                   data_sheet: str, about_sheet: str) -> bytes:
    """``frame`` on sheet ``data_sheet`` (a header row, then one row per row) and
    the (item, value) pairs of ``about`` on ``about_sheet``, as .xlsx bytes.

    Datetimes with a time zone are written as their local wall time.
    Missing values (None, NaN, NaT) are empty cells.
    """
    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, {"in_memory": True, "strings_to_formulas": False,
                                     "strings_to_urls": False})
    formats = {"header": book.add_format({"bold": True}),
               "date": book.add_format({"num_format": DATE_FORMAT}),
               "datetime": book.add_format({"num_format": DATETIME_FORMAT})}
    sheet = book.add_worksheet(data_sheet)
    sample = frame.head(50)
    for col, name in enumerate(frame.columns):
        sheet.write_string(0, col, str(name), formats["header"])
        width = max(_width(str(v)) for v in [name, *sample.iloc[:, col].tolist()])
        sheet.set_column(col, col, min(max(width + 2, 8), 60))
        _column(sheet, col, frame.iloc[:, col], formats)
    if len(frame.columns):
        sheet.freeze_panes(1, 0)
        sheet.autofilter(0, 0, len(frame), len(frame.columns) - 1)
    notes = book.add_worksheet(about_sheet)
    notes.write_string(0, 0, "item", formats["header"])
    notes.write_string(0, 1, "value", formats["header"])
    for row, (item, value) in enumerate(about, start=1):
        notes.write_string(row, 0, str(item))
        notes.write_string(row, 1, str(value))
    notes.set_column(0, 0, 14)
    notes.set_column(1, 1, 48)
    book.close()
    return out.getvalue()


def _width(text: str) -> int:
    """Columns a text needs on screen: CJK characters are two wide."""
    return sum(2 if ord(ch) >= 0x2E80 else 1 for ch in text)


def _column(sheet: Worksheet, col: int, series: pd.Series, formats: dict) -> None:
    """Write one column below its header, in the way its dtype calls for."""
    dtype = series.dtype
    if isinstance(dtype, pd.DatetimeTZDtype):
        series = series.dt.tz_localize(None)
        dtype = series.dtype
    if types.is_datetime64_dtype(dtype):
        serials = ((series - EXCEL_EPOCH) / DAY).to_numpy(dtype=float, na_value=np.nan)
        _numbers(sheet, col, serials.tolist(), formats["datetime"])
    elif types.is_bool_dtype(dtype) and not series.hasnans:
        for row, value in enumerate(series.tolist(), start=1):
            sheet.write_boolean(row, col, value)
    elif types.is_integer_dtype(dtype) and not series.hasnans:
        for row, value in enumerate(series.tolist(), start=1):
            sheet.write_number(row, col, value)
    elif types.is_numeric_dtype(dtype):
        values = series.to_numpy(dtype=float, na_value=np.nan)
        _numbers(sheet, col, values.tolist(), None)
    elif types.is_string_dtype(dtype) and not types.is_object_dtype(dtype):
        for row, value in enumerate(series.tolist(), start=1):
            if isinstance(value, str):
                sheet.write_string(row, col, value)
    else:
        _objects(sheet, col, series.tolist(), formats)


def _numbers(sheet: Worksheet, col: int, values: Iterable[float], fmt) -> None:
    for row, value in enumerate(values, start=1):
        _number(sheet, row, col, value, fmt)


def _number(sheet: Worksheet, row: int, col: int, value: float, fmt=None) -> None:
    if math.isfinite(value):
        sheet.write_number(row, col, value, fmt)
    elif not math.isnan(value):  # Excel has no infinity: say it in words
        sheet.write_string(row, col, "inf" if value > 0 else "-inf")


def _objects(sheet: Worksheet, col: int, values: Iterable[object],
             formats: dict) -> None:
    """A column of Python objects (days, mixed values), one cell at a time."""
    for row, value in enumerate(values, start=1):
        if value is None or value is pd.NaT or (
                isinstance(value, float) and math.isnan(value)):
            continue
        if isinstance(value, bool):
            sheet.write_boolean(row, col, value)
        elif isinstance(value, (int, float, np.number)):
            _number(sheet, row, col, float(value))
        elif isinstance(value, datetime):
            if value.tzinfo is not None:
                value = value.replace(tzinfo=None)
            sheet.write_datetime(row, col, value, formats["datetime"])
        elif isinstance(value, date):
            sheet.write_datetime(row, col, value, formats["date"])
        else:
            sheet.write_string(row, col, str(value))
