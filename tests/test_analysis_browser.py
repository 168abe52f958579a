"""The analyst's workspace in headless Chromium, against the real app."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlparse

import pytest

from tests import analysis_data as hand

VIEW = "/analysis?site=tiny&start=2024-05-06&end=2024-05-13"


@pytest.fixture(scope="module")
def shared_live(module_live_app, tmp_path_factory, tiny):
    """One live app for the module, on the hand-made history, no producer."""
    folder = tmp_path_factory.mktemp("analysis")
    hand.write(folder / "history", tiny)
    return module_live_app(data_dir=folder, producer=None)


@pytest.fixture(scope="module")
def signed_in(browser, shared_live):
    """The analyst's cookies, signed in once (sign-in is rate-limited per name)."""
    context = browser.new_context()
    page = context.new_page()
    shared_live.sign_in(page, "ana", "/")
    state = context.storage_state()
    context.close()
    return state


@pytest.fixture
def page(browser, signed_in):
    page = browser.new_page(viewport={"width": 1600, "height": 1000},
                            accept_downloads=True, storage_state=signed_in)
    yield page
    page.close()


def kpi(page, name: str) -> str:
    return page.inner_text(f"[id*='\"name\":\"{name}\"']")


def wait_drawn(page) -> None:
    page.wait_for_function(
        "() => { const v = document.querySelector(\"[id*='people_in']\");"
        " return v && v.innerText.trim() !== '—'; }", timeout=30_000)
    page.wait_for_selector(".an-grid .js-plotly-plot .main-svg", timeout=30_000)
    page.wait_for_timeout(600)  # the last figures settle


def test_views_draw_the_history_in_chinese(page, shared_live, artifacts):
    page.goto(shared_live.url + VIEW)
    wait_drawn(page)
    assert kpi(page, "people_in") == "43"  # 15 + 8 + 20
    assert kpi(page, "reported") == "5" and kpi(page, "on_time_rate") == "50.0%"
    assert kpi(page, "repeats") == "1"
    assert "研判分析 · 小测试社区" in page.inner_text("h1")
    assert page.locator(".an-export-link").count() == 8 * 5
    assert "数据截至: 2024-05-13 12:00" in page.inner_text(".an-footer")
    assert "B 测试事件" in page.inner_text(".an-table")
    page.screenshot(path=str(artifacts / "analysis_zh.png"), full_page=False)
    page.screenshot(path=str(artifacts / "analysis_zh_full.png"), full_page=True)


def test_english_and_the_url_keeps_the_filters(page, shared_live, artifacts):
    page.goto(shared_live.url + VIEW + "&lang=en&grids=G1")
    wait_drawn(page)
    assert "Analysis · Tiny Test Community" in page.inner_text("h1")
    assert kpi(page, "reported") == "2"  # A and B stand in G1
    query = parse_qs(urlparse(page.url).query)
    assert query["grids"] == ["G1"] and query["lang"] == ["en"]
    page.screenshot(path=str(artifacts / "analysis_en.png"))
    # narrowing the range rewrites the address bar, so the view can be shared
    page.fill("#analysis-dates", "2024-05-10")
    page.keyboard.press("Tab")
    page.wait_for_function("() => location.search.includes('start=2024-05-10')",
                           timeout=15_000)
    page.wait_for_function(
        "() => document.querySelector(\"[id*='reported']\").innerText === '0'",
        timeout=15_000)
    shared = page.url
    page.goto(shared)
    wait_drawn(page)
    assert kpi(page, "reported") == "0" and "start=2024-05-10" in page.url


@pytest.mark.parametrize(("query", "message"), [
    ("&grids=G9", "网格 G9 不在本站点"),
    ("&start=2024-05-13&end=2024-05-01", "开始日期 2024-05-13 晚于结束日期 2024-05-01"),
    ("&start=2024-05-01&end=2999-01-01", "2999-01-01 是未来日期"),
    ("&start=2024-13-01&end=2024-05-01", "日期 2024-13-01 格式不对"),
])
def test_a_bad_url_says_what_is_wrong_in_the_page(page, shared_live, query, message):
    page.goto(shared_live.url + "/analysis?site=tiny" + query)
    page.wait_for_selector(".an-message:not(:empty)", timeout=30_000)
    assert message in page.inner_text(".an-message")
    assert "Traceback" not in page.content()


def test_a_range_without_data_says_so(page, shared_live):
    page.goto(shared_live.url + "/analysis?site=tiny&start=2024-03-01&end=2024-03-31")
    page.wait_for_selector(".an-message:not(:empty)", timeout=30_000)
    assert "2024-03-01 至 2024-03-31 没有历史数据" in page.inner_text(".an-message")


def test_the_briefing_button_downloads_the_pdf(page, shared_live):
    page.goto(shared_live.url + VIEW)
    wait_drawn(page)
    page.fill("#analysis-brief-day", "2024-05-13")
    page.keyboard.press("Tab")
    page.wait_for_function(
        "() => document.querySelector('#analysis-brief-link').href"
        ".includes('2024-05-13')")
    with page.expect_download(timeout=90_000) as download:
        page.click("#analysis-brief-button")
    path = download.value.path()
    data = open(path, "rb").read()
    assert data.startswith(b"%PDF") and download.value.suggested_filename == (
        "tiny_briefing_2024-05-13.pdf")
    assert re.search(rb"/Count 8\b", data)
