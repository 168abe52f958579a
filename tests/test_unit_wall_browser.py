"""A street's wall in headless Chromium against the real app and Redis: its
key figures are the roll-up API's, a report in one of its communities moves
them live, and the ranking is one click away."""

from __future__ import annotations

import pytest

from tests.auth import unit_api_key, unit_kiosk_token
from tests.chain import write_chain_sites
from tests.common import PREFIX
from tests.rollup_feed import report, write_example
from tests.waiting import wait_until

HOOKS = {"people_present": "kpi-people-present",
         "incidents_open": "kpi-incidents-open",
         "overdue": "kpi-incidents-overdue", "closed_today": "kpi-closed-today",
         "closure_rate": "kpi-closure-rate", "on_time_rate": "kpi-on-time-rate",
         "rework_rate": "kpi-rework-rate",
         "solved_in_grid_share": "kpi-solved-in-grid",
         "owned_here": "kpi-owned-here"}


def shown(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{round(100 * value)}%"
    return f"{value:,}"


@pytest.fixture
def street(browser, live_app, tmp_path):
    live = live_app(write_chain_sites(tmp_path / "sites"), producer=None,
                    prefix=PREFIX)
    write_example(live.client)
    token = unit_kiosk_token(live.client, live.config.prefix, "S1")
    page = browser.new_page(viewport={"width": 1920, "height": 1080})
    page.goto(f"{live.url}/wall?kiosk={token}")
    page.wait_for_function(
        "() => { const e = document.querySelector('[data-testid=kpi-people-present]');"
        " return e && e.innerText.trim() !== '—'; }")
    yield live, page
    page.close()


def api_figures(live, unit: str) -> dict:
    import requests

    key = unit_api_key(live.client, live.config.prefix, unit)
    return requests.get(f"{live.url}/api/v1/units/{unit}", timeout=10,
                        headers={"Authorization": f"Bearer {key}"}).json()["kpis"]


def wall_figures(page) -> dict:
    return {name: page.inner_text(f"[data-testid={hook}]").strip()
            for name, hook in HOOKS.items()}


def test_a_streets_wall_shows_the_rollup_and_moves_with_a_report(street, artifacts):
    live, page = street
    wait_until(lambda: wall_figures(page) == {
        k: shown(v) for k, v in api_figures(live, "S1").items()}, timeout=15)
    assert wall_figures(page)["people_present"] == "80"  # ta 30 + tb 50
    assert "C1" in page.inner_text("[data-testid=unit-compare]") or \
        "甲社区" in page.inner_text("[data-testid=unit-compare]")
    assert "甲社区" in page.inner_text("[data-testid=spotlight]")  # its overdue
    page.screenshot(path=str(artifacts / "unit-wall-street-1920x1080.png"))
    before = int(wall_figures(page)["incidents_open"])
    report(live.client, "tb", ago_ms=1000)
    wait_until(lambda: int(wall_figures(page)["incidents_open"]) == before + 1,
               timeout=5)
    assert not page.is_visible("[data-testid=unit-ranking]")
    page.click("[data-testid=show-ranking]")
    assert page.is_visible("[data-testid=unit-ranking]")
    assert not page.is_visible("[data-testid=unit-compare]")
    page.screenshot(path=str(artifacts / "unit-wall-street-ranking.png"))


def test_the_district_wall_draws_its_streets(street, artifacts, browser):
    live, _ = street
    token = unit_kiosk_token(live.client, live.config.prefix, "D1")
    page = browser.new_page(viewport={"width": 1920, "height": 1080})
    page.goto(f"{live.url}/wall?kiosk={token}")
    wait_until(lambda: page.inner_text("[data-testid=kpi-people-present]").strip()
               == "110", timeout=15)
    wait_until(lambda: "第二街道" in page.inner_text("[data-testid=unit-compare]"))
    # tc's escalation went to its street, not to the district
    assert page.inner_text("[data-testid=incident-ticker]") == "暂无上报至本级的事件"
    page.screenshot(path=str(artifacts / "unit-wall-district-1920x1080.png"))
    page.close()
