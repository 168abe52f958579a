"""A unit's console in headless Chromium (issue 12 item 6): the city's
supervisor goes down city → district → street → community → grid in four
clicks and lands on the community's console on that grid; a street's
supervisor accepts what a community escalated, marks it for supervision
(督办), hands it down with a deadline, and the 督办 mark appears on the
community's console and its wall."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from data.clock import now_ms
from tests.auth import add_account
from tests.chain import write_chain_sites
from tests.common import ARTIFACTS
from tests.rollup_feed import HOUR, new_id
from tests.waiting import on_page, wait_until


def wait_for(page, predicate_js: str, timeout: float = 60.0) -> None:
    """Waits for ``predicate_js`` to hold on ``page``; on a timeout, fails
    with what the page showed (address, grid rows, flash) and keeps its
    screenshot in the artifacts, so a rare failure says why."""
    try:
        page.wait_for_function(f"() => ({predicate_js})", timeout=timeout * 1000)
    except PlaywrightTimeout:
        shown = page.evaluate("""() => [...document.querySelectorAll(
            '.ag-center-cols-container, [data-testid$=flash], .c-site')]
            .map(el => el.innerText.slice(0, 400)).join(' | ')""")
        ARTIFACTS.mkdir(exist_ok=True)
        shot = ARTIFACTS / f"timeout-{page.url.split('/')[-1][:40]}.png"
        page.screenshot(path=str(shot))
        raise AssertionError(f"waited {timeout:g} s for {predicate_js} on "
                             f"{page.url}; it showed: {shown!r} ({shot})") from None


def text_in(selector: str, text: str) -> str:
    return (f"(() => {{ const el = document.querySelector('{selector}');"
            f" return !!el && el.innerText.includes('{text}'); }})()")


@pytest.fixture(scope="module")
def chain(module_live_app, tmp_path_factory):
    live = module_live_app(write_chain_sites(tmp_path_factory.mktemp("chain")),
                           producer="ta")
    for name, unit in (("city-chief", "city"), ("s1-chief", "S1"),
                       ("s2-chief", "S2")):
        add_account(live.client, live.config.prefix, name, "supervisor", unit=unit)
    return live


def escalated(live, title: str, ago_ms: int = HOUR) -> str:
    """An incident of ``ta`` reported ``ago_ms`` ago, its community escalated
    to the street."""
    incident = new_id()
    live.xadd("ta", "incident", {
        "v": "1", "src": "hotline", "op": "report", "id": incident,
        "ts": str(now_ms() - ago_ms), "category": "sanitation", "level": "2",
        "title": title, "grid": "G1", "reporter": "钱多多", "phone": "13900001111"})
    live.xadd("ta", "incident", {
        "v": "1", "src": "app", "op": "escalate", "id": incident,
        "ts": str(now_ms()), "actor": "ta-sup", "level": "street",
        "note": "需街道协调"})
    keys = live.keys("ta")
    wait_until(lambda: '"street"' in (live.client.get(keys.incident(incident))
                                      or ""), 15, what="the escalation folded")
    return incident


def test_four_clicks_from_the_city_to_a_grid(browser, chain, artifacts):
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    chain.sign_in(page, "city-chief", "/console")
    page.wait_for_selector("[data-testid=uc-children] .uc-down")
    assert "全市" in page.inner_text("[data-testid=uc-trail]")
    for step in ("测试区", "测试街道", "甲社区"):
        with page.expect_navigation():
            page.click(f"[data-testid=uc-children] >> text={step}")
        wait_for(page, text_in(".c-site", step))
    page.wait_for_selector("[data-testid=uc-children] .uc-down")
    page.screenshot(path=str(artifacts / "unit-console-community-1280x800.png"))
    with page.expect_navigation():
        page.click("[data-testid=uc-children] >> text=二网格")  # the 4th click
    assert "/console?site=ta&grid=G2" in page.url
    wait_for(page, text_in("[data-testid=c-profile]", "二网格"), timeout=60)
    page.close()


def test_a_street_accepts_supervises_and_hands_down(browser, chain, artifacts):
    incident = escalated(chain, "河道漂浮物")
    keys = chain.keys("ta")
    site_ctx = browser.new_context(viewport={"width": 1280, "height": 800})
    site = site_ctx.new_page()
    chain.sign_in(site, "ta-sup", "/console?site=ta")
    wait_for(site, text_in(".ag-center-cols-container", "河道漂浮物"))
    assert not site.query_selector(".ag-center-cols-container .uc-sup")
    wall = browser.new_page(viewport={"width": 1920, "height": 1080})
    wall.goto(chain.wall_url("ta"))
    wait_for(wall, text_in("[data-testid=incident-ticker]", "河道漂浮物"))
    assert not wall.query_selector("[data-testid=wall-supervised]")

    street_ctx = browser.new_context(viewport={"width": 1280, "height": 800})
    street = street_ctx.new_page()
    chain.sign_in(street, "s1-chief", "/console")
    wait_for(street, text_in(".ag-center-cols-container", "河道漂浮物"))
    assert "测试街道" in street.inner_text("[data-testid=uc-trail]")
    street.click(".ag-center-cols-container >> text=河道漂浮物")
    wait_for(street, text_in("[data-testid=uc-actions]", "受理"))
    street.click("[data-testid=uc-actions] >> text=受理")
    wait_for(street, text_in("[data-testid=uc-flash]", "受理"))
    wait_for(street, text_in("[data-testid=uc-actions]", "督办"))
    street.fill("#uc-note", "群众反映强烈，限期清理")
    street.click("[data-testid=uc-actions] >> text=督办")
    wait_for(street, text_in("[data-testid=uc-flash]", "督办"))
    street.wait_for_selector("[data-testid=uc-supervised]")

    # the 督办 mark on the community's console and on its wall
    wait_for(site, "!!document.querySelector('.ag-center-cols-container .uc-sup')")
    site.click(".ag-center-cols-container >> text=河道漂浮物")
    site.wait_for_selector("[data-testid=c-supervised]")
    assert "街道督办" in site.get_attribute("[data-testid=c-supervised]", "title")
    wall.wait_for_selector("[data-testid=wall-supervised]", timeout=20_000)
    wall.screenshot(path=str(artifacts / "wall-supervised-1920x1080.png"))

    # hand it down to the community, 12 hours
    street.fill("#uc-hours", "12")
    street.screenshot(path=str(artifacts / "unit-console-street-1280x800.png"))
    before = now_ms()
    street.click("[data-testid=uc-actions] >> text=交办下级")
    wait_for(street, text_in("[data-testid=uc-flash]", "交办下级"))
    record = json.loads(chain.client.get(keys.incident(incident)))
    assert (record["status"], record["owner_level"]) == ("reported", "community")
    assert before + 11.9 * HOUR < record["task_deadline"] < now_ms() + 12 * HOUR
    assert record["supervised"]["level"] == "street"
    # no longer the street's to do; still under its supervision
    wait_until(lambda: "河道漂浮物" not in street.inner_text(
        ".ag-center-cols-container"), 15, pause=on_page(street),
        what="the street's list without it")
    street.click("text=督办事项")
    wait_for(street, text_in(".ag-center-cols-container", "河道漂浮物"))
    site.screenshot(path=str(artifacts / "console-supervised-1280x800.png"))
    for ctx in (site_ctx, street_ctx):
        ctx.close()
    wall.close()


def test_the_neighbour_street_cannot_open_or_act(browser, chain):
    incident = escalated(chain, "越界事件")
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    chain.sign_in(page, "s2-chief", "/console")
    page.wait_for_selector("[data-testid=uc-trail]")
    assert "第二街道" in page.inner_text("[data-testid=uc-trail]")
    assert "越界事件" not in page.inner_text(".ag-center-cols-container")
    for path in ("/console?unit=S1", "/console?unit=C1", "/console?site=ta"):
        assert page.goto(chain.url + path).status == 403, path
    record = json.loads(chain.client.get(chain.keys("ta").incident(incident)))
    assert record["status"] == "escalated"
    page.close()


def test_an_overdue_incident_is_red_on_the_site_and_street_consoles(browser, chain):
    """The SLA column's colour rule (layouts/console.py SLA_RULES) takes in
    dash-ag-grid: an incident past its deadline is drawn red."""
    # its deadline (8 h) 5 minutes past: overdue, and still the street's for
    # the SLA watchdog's 30 minutes of grace (past them it escalates it to the
    # district on its next pass, and the street no longer owns it)
    escalated(chain, "积水超期", ago_ms=8 * HOUR + 5 * 60_000)
    # drawn as the column's red text (bold), not as the walls' blinking light
    red = ("[...document.querySelectorAll('.ag-center-cols-container .cell-overdue')]"
           ".some(el => el.innerText.includes('超期')"
           " && getComputedStyle(el).fontWeight === '700'"
           " && getComputedStyle(el).animationName === 'none')")
    for who, path in (("ta-sup", "/console?site=ta"), ("s1-chief", "/console")):
        # wide enough for the SLA column to be drawn (the grid draws only
        # the columns in view)
        page = browser.new_page(viewport={"width": 1920, "height": 1080})
        chain.sign_in(page, who, path)
        wait_for(page, text_in(".ag-center-cols-container", "积水超期"))
        wait_for(page, red, timeout=30)
        page.close()
