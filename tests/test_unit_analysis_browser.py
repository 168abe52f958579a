"""The analysis of a unit (/analysis?unit=) in headless Chromium, on the
hand-made May of the three chain sites (tests/unit_history.py)."""

from __future__ import annotations

import pytest

from tests import unit_history as hand
from tests.auth import add_account
from tests.chain import write_chain_sites

MAY = f"start={hand.START}&end={hand.END}"


@pytest.fixture(scope="module")
def shared_live(module_live_app, tmp_path_factory):
    folder = tmp_path_factory.mktemp("unit-analysis")
    sites_dir = write_chain_sites(folder / "sites")
    live = module_live_app(sites_dir, data_dir=folder / "data", producer=None)
    hand.write(folder / "data" / "history", live.sites)
    add_account(live.client, live.config.prefix, "ana_s1", "analyst", None, (),
                "街道分析员", "S1")
    return live


@pytest.fixture(scope="module")
def signed_in(browser, shared_live):
    context = browser.new_context()
    page = context.new_page()
    shared_live.sign_in(page, "ana_s1", "/")
    state = context.storage_state()
    context.close()
    return state


@pytest.fixture
def page(browser, signed_in):
    page = browser.new_page(viewport={"width": 1600, "height": 1000},
                            storage_state=signed_in)
    yield page
    page.close()


def tile(page, name: str) -> str:
    return page.inner_text(f"[data-testid='ua-kpi-{name}']")


def wait_drawn(page) -> None:
    page.wait_for_function(
        "() => { const v = document.querySelector(\"[data-testid='ua-kpi-due']\");"
        " return v && v.innerText.trim() !== '—'; }", timeout=90_000)
    page.wait_for_selector(".an-grid .js-plotly-plot .main-svg", timeout=30_000)
    page.wait_for_timeout(600)


def test_a_streets_analysis_shows_its_rates_by_community(page, shared_live,
                                                         artifacts):
    page.goto(f"{shared_live.url}/analysis?unit=S1&{MAY}")
    wait_drawn(page)
    assert "研判分析 · 测试街道" in page.inner_text("h1")
    assert tile(page, "closure_rate") == "75.0%"
    assert tile(page, "on_time_rate") == "37.5%"
    assert tile(page, "rework_rate") == "16.7%"
    assert tile(page, "solved_in_grid_share") == "83.3%"
    assert tile(page, "due") == "8" and tile(page, "repeats") == "2"
    table = page.inner_text("[data-testid='ua-children-table']")
    assert "甲社区" in table and "乙社区" in table and "丙社区" not in table
    assert "环境卫生" in page.inner_text("#ua-recurring")
    assert page.locator("#ua-bulletin-link").get_attribute("href").startswith(
        "/api/v1/units/S1/bulletin/")
    page.screenshot(path=str(artifacts / "unit_analysis_zh.png"))
    page.screenshot(path=str(artifacts / "unit_analysis_zh_full.png"),
                    full_page=True)
    # one click down: the community's own figures, by grid
    page.click("text=甲社区")
    page.wait_for_function("() => location.search.includes('unit=C1')",
                           timeout=15_000)
    page.wait_for_function(  # the community's tiles: 4 closed of 5 due
        "() => document.querySelector(\"[data-testid='ua-kpi-closure_rate']\")"
        "?.innerText === '80.0%'", timeout=30_000)
    assert "研判分析 · 甲社区" in page.inner_text("h1")
    assert tile(page, "due") == "5"


def test_in_english_and_the_neighbour_street_is_refused(page, shared_live,
                                                        artifacts):
    page.goto(f"{shared_live.url}/analysis?unit=S1&{MAY}&lang=en")
    wait_drawn(page)
    assert "Analysis · Street S1" in page.inner_text("h1")
    page.screenshot(path=str(artifacts / "unit_analysis_en.png"))
    page.goto(f"{shared_live.url}/analysis?unit=S2&{MAY}")
    page.wait_for_selector(".auth-error", timeout=30_000)
    assert "第二街道" not in page.content()
