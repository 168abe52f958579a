"""Exports: valid files whose content matches the views, JSON errors for bad URLs."""

from __future__ import annotations

import csv
import io
import re
import struct
import unicodedata
import xml.etree.ElementTree as ET
from datetime import date, datetime

import openpyxl
import pandas as pd
import plotly.graph_objects as go
import pytest
from pypdf import PdfReader

from tests import analysis_data as hand
from tests.auth import add_account, sign_in_client
from tests.common import PREFIX
from web.export import table_bytes
from web.workbook import workbook_bytes

QUERY = "start=2024-05-07&end=2024-05-13"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory, tiny):
    folder = tmp_path_factory.mktemp("data")
    hand.write(folder / "history", tiny)
    return folder


@pytest.fixture
def analyst(r, make_app, data_dir):
    """A test client on the hand-made history, signed in as an analyst."""
    test_client = make_app(GOV_DATA_DIR=str(data_dir)).server.test_client()
    add_account(r, PREFIX, "ana", "analyst", display="孙八")
    sign_in_client(test_client, "ana")
    return test_client


def get(client, path: str):
    response = client.get(path)
    assert response.status_code == 200, response.get_json()
    return response


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def pdf_text(reader: PdfReader, page: int = 0) -> str:
    """A page's text; NFKC folds the Kangxi radicals some glyphs map to (⽹ → 网)."""
    return unicodedata.normalize("NFKC", reader.pages[page].extract_text())


def test_the_chart_list(analyst):
    body = get(analyst, "/api/v1/sites/tiny/export").get_json()
    names = [c["name"] for c in body["charts"]]
    assert names == ["flow_heatmap", "daily_trend", "incident_breakdown",
                     "resolve_time", "sla", "solved_in_grid", "escalation", "repeats"]
    assert body["charts"][0]["formats"] == ["png", "svg", "pdf", "csv", "xlsx"]
    assert body["charts"][4]["title"] == "按时办结率（网格 × 等级）"
    assert body["briefing"].endswith("/briefing/{YYYY-MM-DD}.pdf")


def test_csv_is_utf8_with_bom_and_holds_the_view(analyst):
    response = get(analyst, f"/api/v1/sites/tiny/export/incident_breakdown.csv?{QUERY}")
    assert response.mimetype == "text/csv"
    assert "tiny_incident_breakdown_2024-05-07_2024-05-13.csv" in (
        response.headers["Content-Disposition"])
    raw = response.data
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0] == ["dimension", "key", "count", "label"]
    assert len(rows) == 1 + 11
    assert ["category", "sanitation", "3", "环境卫生"] in rows
    repeats = get(analyst, f"/api/v1/sites/tiny/export/repeats.csv?{QUERY}")
    lines = list(csv.DictReader(io.StringIO(repeats.data.decode("utf-8-sig"))))
    assert [(x["id"], x["previous_id"], x["grid_name"]) for x in lines] == [
        ("B", "A", "一网格")]
    assert lines[0]["reported_at"] == "2024-05-09 10:00:00"


def test_excel_has_the_data_and_where_it_came_from(analyst):
    response = get(analyst, f"/api/v1/sites/tiny/export/sla.xlsx?{QUERY}&grids=G1")
    book = openpyxl.load_workbook(io.BytesIO(response.data))
    assert book.sheetnames == ["数据", "说明"]
    data = list(book["数据"].values)
    assert data[0][:4] == ("grid", "grid_name", "level", "level_name")
    assert len(data) == 2 and data[1][:3] == ("G1", "一网格", 2)
    about = dict(list(book["说明"].values)[1:])
    assert about["时间范围"] == "2024-05-07 – 2024-05-13"
    assert about["网格"] == "一网格"
    assert about["数据截至"] == "2024-05-13 12:00"
    assert about["导出人"] == "孙八 (ana)"
    assert about["图表"] == "按时办结率（网格 × 等级）"
    english = get(analyst, f"/api/v1/sites/tiny/export/sla.xlsx?{QUERY}&lang=en")
    assert openpyxl.load_workbook(io.BytesIO(english.data)).sheetnames == [
        "data", "about"]


def test_excel_rows_match_the_csv(analyst):
    """The workbook holds what the CSV holds: same header, same rows, local time."""
    query = f"/api/v1/sites/tiny/export/repeats.{{}}?{QUERY}"
    book = openpyxl.load_workbook(io.BytesIO(get(analyst, query.format("xlsx")).data))
    rows = list(book["数据"].values)
    lines = list(csv.reader(io.StringIO(
        get(analyst, query.format("csv")).data.decode("utf-8-sig"))))
    assert list(rows[0]) == lines[0]
    assert len(rows) == len(lines) == 2
    found = dict(zip(rows[0], rows[1], strict=True))
    assert (found["id"], found["previous_id"]) == ("B", "A")
    assert found["grid_name"] == "一网格"
    assert found["reported_at"] == datetime(2024, 5, 9, 10, 0)
    assert found["days_after"] == pytest.approx(1.83, abs=0.01)


def test_workbook_keeps_values_and_text_as_they_are():
    frame = pd.DataFrame({
        "title": pd.array(["=HYPERLINK(\"http://x\",\"点我\")", "井盖\x07缺失", None],
                          dtype="str"),
        "count": [3, 0, 12],
        "hours": [1.5, float("nan"), float("inf")],
        "at": pd.to_datetime(["2024-05-09 10:00:00", None, "2024-05-13 23:59:59.500"],
                             format="ISO8601").tz_localize("Asia/Shanghai"),
        "day": [date(2024, 5, 9), None, date(2024, 5, 13)],
    })
    data = workbook_bytes(frame, [("导出人", "孙八 (ana)")], data_sheet="数据",
                          about_sheet="说明")
    book = openpyxl.load_workbook(io.BytesIO(data))
    assert book.sheetnames == ["数据", "说明"]
    sheet = book["数据"]
    assert [c.value for c in sheet[1]] == ["title", "count", "hours", "at", "day"]
    first, second, third = (tuple(c.value for c in row) for row in sheet.iter_rows(2))
    assert first == ("=HYPERLINK(\"http://x\",\"点我\")", 3, 1.5,
                     datetime(2024, 5, 9, 10, 0), datetime(2024, 5, 9))
    assert sheet["A2"].data_type == "s"  # text, not a formula
    # a control character is escaped the OOXML way, which Excel reads back as
    # the character (openpyxl leaves the escape); it no longer fails the export
    assert second == ("井盖_x0007_缺失", 0, None, None, None)
    assert third[:3] == (None, 12, "inf")
    assert third[3] == datetime(2024, 5, 13, 23, 59, 59, 500000)
    assert sheet["D2"].number_format == "yyyy-mm-dd hh:mm:ss"
    assert list(book["说明"].values) == [("item", "value"), ("导出人", "孙八 (ana)")]


def test_png_svg_pdf_are_valid_and_stamped(analyst, warm):
    png = get(analyst, f"/api/v1/sites/tiny/export/daily_trend.png?{QUERY}")
    assert png.mimetype == "image/png" and png_size(png.data) == (1400, 820)
    svg = get(analyst, f"/api/v1/sites/tiny/export/sla.svg?{QUERY}")
    root = ET.fromstring(svg.data)
    assert root.tag.endswith("svg")
    text = "".join(root.itertext())
    assert "小测试社区 · 按时办结率（网格 × 等级）" in text  # the title, in Chinese
    assert "一网格" in text and "2024-05-07 – 2024-05-13" in text
    assert "数据截至: 2024-05-13 12:00" in text and "导出人: 孙八 (ana)" in text
    pdf = get(analyst, f"/api/v1/sites/tiny/export/escalation.pdf?{QUERY}")
    reader = PdfReader(io.BytesIO(pdf.data))
    assert len(reader.pages) == 1
    text = pdf_text(reader)
    assert "事件流转" in text and "小测试社区" in text  # drawn as glyphs, not boxes


def test_chinese_glyphs_are_drawn_not_boxes(warm):
    """Two titles of different characters differ as images only if the font
    has the glyphs: missing glyphs all draw as the same empty box."""
    def title_png(text: str) -> bytes:
        fig = go.Figure(layout={"title": {"text": text, "font": {
            "family": "Noto Sans CJK SC", "size": 40}}, "width": 400, "height": 120})
        return warm.render(fig, "png", 400, 120)

    assert title_png("网格治理") != title_png("社区街道")
    assert title_png("网格治理") == title_png("网格治理")  # rendering is stable


def test_daily_briefing_is_a_multipage_pdf(analyst, warm):
    response = get(analyst, "/api/v1/sites/tiny/briefing/2024-05-13.pdf")
    reader = PdfReader(io.BytesIO(response.data))
    assert len(reader.pages) == 8
    assert "2024-05-13" in pdf_text(reader)
    assert "日报" in pdf_text(reader) and "按时办结率" in pdf_text(reader, 4)


@pytest.mark.parametrize(("path", "status", "code"), [
    ("/api/v1/sites/nowhere/export", 404, "unknown_site"),
    ("/api/v1/sites/tiny/export/pie.png?" + QUERY, 404, "unknown_chart"),
    ("/api/v1/sites/tiny/export/sla.gif?" + QUERY, 404, "unknown_chart"),
    ("/api/v1/sites/tiny/export/sla.png?start=&end=2024-05-13", 400, "date_missing"),
    ("/api/v1/sites/tiny/export/sla.png?start=2024-05-13&end=2024-05-01", 400,
     "date_inverted"),
    ("/api/v1/sites/tiny/export/sla.png?start=2024-05-01&end=2999-01-01", 400,
     "date_future"),
    ("/api/v1/sites/tiny/export/sla.csv?start=2024-13-01&end=2024-05-01", 400,
     "date_format"),
    ("/api/v1/sites/tiny/export/sla.csv?" + QUERY + "&grids=G9", 400, "unknown_grid"),
    ("/api/v1/sites/tiny/export/sla.csv?" + QUERY + "&categories=x", 400,
     "unknown_category"),
    ("/api/v1/sites/tiny/export/sla.csv?start=2024-03-01&end=2024-03-31", 404,
     "no_data"),
    ("/api/v1/sites/tiny/briefing/2024-03-01.pdf", 404, "no_data"),
    ("/api/v1/sites/tiny/briefing/2999-03-01.pdf", 400, "date_future"),
    ("/api/v1/sites/tiny/briefing/yesterday.pdf", 400, "date_format"),
])
def test_bad_export_urls_answer_json_errors(analyst, path, status, code):
    response = analyst.get(path)
    assert response.status_code == status
    body = response.get_json()
    assert body["code"] == code and body["error"] and body["error_zh"]


def test_date_ticks_speak_the_readers_language(analyst, warm):
    def ticks(lang: str) -> list[str]:
        svg = get(analyst, f"/api/v1/sites/tiny/export/daily_trend.svg?{QUERY}"
                          f"&lang={lang}")
        root = ET.fromstring(svg.data)
        return ["".join(g.itertext()) for g in root.iter()
                if re.fullmatch(r"x\d*tick", g.get("class") or "")]

    zh, en = ticks("zh"), ticks("en")
    assert "5月7日" in zh and "5月13日" in zh and not any("May" in x for x in zh)
    assert "May 7" in en


def test_csv_cells_that_a_spreadsheet_would_run_stay_text():
    frame = pd.DataFrame({
        "title": ['=HYPERLINK("http://x","点我")', "+1", "-cmd", "@SUM(A1)",
                  "\tx", "\rx", "井盖缺失", None],
        "count": [1, -2, 3, 4, 5, 6, 7, 8]})
    rows = list(csv.reader(io.StringIO(
        table_bytes(frame, "csv", [], "zh").decode("utf-8-sig"), newline="")))
    assert [row[0] for row in rows[1:]] == [
        '\'=HYPERLINK("http://x","点我")', "'+1", "'-cmd", "'@SUM(A1)", "'\tx",
        "'\rx", "井盖缺失", ""]
    assert rows[2][1] == "-2"  # a number stays a number


def test_the_exporters_name_is_drawn_as_text_not_a_link(r, make_app, data_dir,
                                                         warm):
    client = make_app(GOV_DATA_DIR=str(data_dir)).server.test_client()
    name = '<a href="http://evil.example/">点我</a><b>x</b>'
    add_account(r, PREFIX, "ana", "analyst", display=name)
    sign_in_client(client, "ana")
    svg = get(client, f"/api/v1/sites/tiny/export/sla.svg?{QUERY}")
    root = ET.fromstring(svg.data)
    assert f"导出人: {name} (ana)" in "".join(root.itertext())
    links = [el for el in root.iter() if el.tag.endswith("}a")]
    assert links == []
