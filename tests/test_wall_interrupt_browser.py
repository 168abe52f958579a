"""An urgent event takes the wall's spotlight, uncast, then the rotation
resumes: in headless Chromium against the real app, aggregator and Redis."""

from __future__ import annotations

import re
import uuid

from data.cast import cast, clear_cast
from data.clock import now_ms
from tests.waiting import wait_until

SPOT = "[data-testid=spotlight]"
COUNTDOWN = "[data-testid=spot-countdown]"


def spot(page) -> str:
    return page.inner_text(SPOT)


def countdown(page) -> int | None:
    found = re.search(r"(\d+)", page.inner_text(COUNTDOWN)) if page.query_selector(
        COUNTDOWN) else None
    return int(found.group(1)) if found else None


def test_an_urgent_report_takes_the_spotlight_then_the_rotation_resumes(
        browser, live_app, artifacts):
    live = live_app(env={"GOV_WALL_INTERRUPT_SECONDS": "4"})
    page = browser.new_page(viewport={"width": 1920, "height": 1080})
    page.goto(live.wall_url("tiny"))
    wait_until(lambda: "轮播" in spot(page) and "紧急插播" not in spot(page))
    live.xadd("tiny", "incident", {
        "v": 1, "src": "hotline", "op": "report", "id": str(uuid.uuid4()),
        "ts": now_ms(), "category": "parking", "level": 1,
        "title": "消防通道被占用", "grid": "G2"})
    # then, while it holds the spotlight, grid G1 goes red: it waits its turn
    wait_until(lambda: "消防通道被占用" in spot(page))
    live.xadd("tiny", "crowd", {"v": 1, "src": "cam-x", "entrance": "E1",
                                "ts": now_ms(), "in": 95, "out": 0})
    assert "紧急插播" in spot(page)
    wait_until(lambda: "另有1条待播" in spot(page))
    wait_until(lambda: countdown(page) is not None)
    first = countdown(page)
    assert 1 <= first <= 4
    page.screenshot(path=str(artifacts / "wall-interrupt.png"))
    wait_until(lambda: (countdown(page) or 99) < first)  # it counts down
    # the red grid follows, zoomed on the map, then the rotation resumes
    wait_until(lambda: "严重拥挤" in spot(page) and "一网格" in spot(page))
    # a supervisor's cast comes first, and clearing the wall dismisses it
    keys = live.keys("tiny")
    cast(live.client, keys, "grid", "G2", "sup")
    wait_until(lambda: "值班长推送" in spot(page))
    clear_cast(live.client, keys)
    wait_until(lambda: "轮播 · 活跃网格" in spot(page), timeout=15)
    assert page.query_selector(COUNTDOWN) is None
    page.close()
