"""The wall in headless Chromium against the real app and a real Redis."""

from __future__ import annotations

import re
import time
import uuid

import pytest

from data.clock import now_ms
from data.feed.snapshot import read_snapshot
from tests.waiting import on_page, wait_until


@pytest.fixture
def wall(browser, live):
    page = browser.new_page(viewport={"width": 1920, "height": 1080})
    page.goto(live.wall_url("tiny"))
    page.wait_for_function(
        "() => document.querySelector('[data-testid=kpi-people-present]')"
        " && /[1-9]|^0+$/.test(document.querySelector("
        "'[data-testid=kpi-people-present]').innerText.replace(/\\s/g, ''))")
    yield page
    page.close()


def people_present(page) -> int:
    text = page.inner_text("[data-testid=kpi-people-present]")
    return int(re.sub(r"\D", "", text) or 0)


def test_feed_entries_and_a_report_show_on_the_wall(live, wall):
    before = people_present(wall)
    live.xadd("tiny", "crowd", {"v": 1, "src": "cam-x", "entrance": "E2",
                                "ts": now_ms(), "in": 37, "out": 0})
    wait_until(lambda: people_present(wall) == before + 37)
    assert wall.inner_text("[data-testid=kpi-incidents-open]") == "0"
    live.xadd("tiny", "incident", {
        "v": 1, "src": "phone", "op": "report", "id": str(uuid.uuid4()),
        "ts": now_ms(), "category": "sanitation", "level": 2,
        "title": "楼道堆放杂物", "grid": "G1", "reporter": "张三丰",
        "phone": "13812345678"})
    ticker_hook = "[data-testid=incident-ticker]"
    wait_until(lambda: "楼道堆放杂物" in wall.inner_text(ticker_hook))
    ticker = wall.inner_text(ticker_hook)
    assert "张**" in ticker and "138****5678" in ticker
    assert "13812345678" not in wall.content() and "张三丰" not in wall.content()
    wait_until(lambda: wall.inner_text("[data-testid=kpi-incidents-open]") == "1")


def test_the_data_times_line_moves_with_the_report_not_a_tick_later(live, wall):
    """A report shows as 事件 0秒前 with the version that brings it: the
    line is redrawn on the pushed status, not only by the wall's 1-s tick
    (stopped here, so only the push can redraw it)."""
    wall.evaluate("() => window.dash_clientside.set_props("
                  "'wall-tick', {disabled: true})")
    wall.wait_for_timeout(1500)  # a tick that was due has come and gone
    assert "事件 0秒前" not in wall.inner_text("#wall-fresh")
    live.xadd("tiny", "incident", {
        "v": 1, "src": "phone", "op": "report", "id": str(uuid.uuid4()),
        "ts": now_ms(), "category": "sanitation", "level": 2,
        "title": "时效测试", "grid": "G1"})
    wait_until(lambda: "时效测试" in wall.inner_text(
        "[data-testid=incident-ticker]"), 15, pause=on_page(wall))
    wait_until(lambda: re.search(r"事件 [01]秒前", wall.inner_text(
        "#wall-fresh")), 5, pause=on_page(wall),
        what="the report's time on the data times line")


def test_alert_banner_follows_a_grid_over_its_threshold(live, wall):
    banner = "[data-testid=alert-banner]"
    assert not wall.is_visible(banner)
    live.xadd("tiny", "crowd", {"v": 1, "src": "cam-x", "entrance": "E1",
                                "ts": now_ms(), "in": 95, "out": 0})
    wait_until(lambda: wall.is_visible(banner))
    assert "一网格" in wall.inner_text(banner)
    live.xadd("tiny", "crowd", {"v": 1, "src": "cam-x", "entrance": "E1",
                                "ts": now_ms(), "in": 0, "out": 90})
    wait_until(lambda: not wall.is_visible(banner))


def test_stale_banner_when_redis_stops_and_leaves_when_it_returns(live, wall):
    stale = "[data-testid=stale-banner]"
    wait_until(lambda: not wall.is_visible(stale))
    live.stop_redis()
    started = time.monotonic()
    wait_until(lambda: wall.is_visible(stale), timeout=10)  # 2 x the 5 s heartbeat
    appeared = time.monotonic() - started
    assert "数据已停止更新" in wall.inner_text(stale)
    live.start_redis()
    wait_until(lambda: not wall.is_visible(stale), timeout=30)
    assert appeared <= 10


@pytest.mark.parametrize(("width", "height"), [(1920, 1080), (3840, 2160)])
def test_no_scrollbars_and_a_screenshot(browser, live, artifacts, width, height):
    live.xadd("tiny", "incident", {
        "v": 1, "src": "hotline", "op": "report", "id": str(uuid.uuid4()),
        "ts": now_ms(), "category": "parking", "level": 1, "title": "消防通道被占",
        "grid": "G2", "reporter": "李四", "phone": "13900001111"})
    page = browser.new_page(viewport={"width": width, "height": height})
    page.goto(live.wall_url("tiny"))
    page.wait_for_function(
        "() => document.querySelector('[data-testid=incident-ticker]')"
        " && document.querySelector('[data-testid=incident-ticker]')"
        ".innerText.includes('消防通道被占')")
    overflow = page.evaluate(
        "[document.documentElement.scrollWidth - window.innerWidth,"
        " document.documentElement.scrollHeight - window.innerHeight]")
    assert overflow[0] <= 0 and overflow[1] <= 0
    canvas = page.locator("#wall-canvas").bounding_box()
    assert abs(canvas["width"] - width) < 2 and abs(canvas["height"] - height) < 2
    page.wait_for_timeout(1000)  # deliberate: transitions settle for the picture
    page.screenshot(path=str(artifacts / f"wall-{width}x{height}.png"))
    page.close()


def test_english_by_query(browser, live):
    page = browser.new_page(viewport={"width": 1920, "height": 1080})
    page.goto(live.wall_url("tiny", lang="en"))
    page.wait_for_selector("text=People inside now")
    assert "Grid Governance Command Center" in page.inner_text("header")
    page.close()


def test_pushed_changes_need_no_callback_per_version(live, wall):
    """Each version reaches the wall inside its event: no request per wall."""
    labels = ("document.querySelector('#wall-map .js-plotly-plot').data[2].text"
              ".join(' ')")
    wall.wait_for_function("() => (document.querySelector("
                           "'#wall-map .js-plotly-plot') || {}).data")
    shown = wall.evaluate(labels)
    calls = []
    wall.on("request", lambda req: calls.append(req.post_data or "")
            if "_dash-update-component" in req.url else None)
    before = people_present(wall)
    for n in range(1, 6):
        live.xadd("tiny", "crowd", {"v": 1, "src": "cam-x", "entrance": "E2",
                                    "ts": now_ms(), "in": 2, "out": 0})
        wait_until(lambda n=n: people_present(wall) == before + 2 * n)
    assert not [c for c in calls if "wall-request" in c]
    # the charts follow too (at most a second later)
    wait_until(lambda: wall.evaluate(labels) != shown)


def spot_title(page) -> str:
    return page.evaluate("() => (document.querySelector("
                         "'[data-testid=spotlight] .spot-title') || {}).textContent")


def test_the_spotlight_turns_with_no_request_from_the_wall(browser, live_app):
    """The rotation comes in the event stream, the same grid on every wall."""
    live = live_app(env={"GOV_WALL_SPOT_SECONDS": "2"})
    page = browser.new_page(viewport={"width": 1920, "height": 1080})
    calls = []
    page.on("request", lambda req: calls.append(req.post_data)
            if "_dash-update-component" in req.url else None)
    page.goto(live.wall_url("tiny"))
    first = wait_until(lambda: spot_title(page), timeout=20)
    assert first in ("一网格", "二网格")
    page.wait_for_function("() => (document.querySelector("
                           "'#wall-map .js-plotly-plot') || {}).data")
    loaded = len(calls)  # the page's first callbacks, if any
    # the spotlight's outline on the map: after the 2 grids and 3 traces
    trace = ("() => JSON.stringify(document.querySelector("
             "'#wall-map .js-plotly-plot').data[2 + 3].x)")
    outline = page.evaluate(trace)
    # the tiny site's two grids take turns, one each 2 s period
    wait_until(lambda: spot_title(page) not in (None, first), timeout=10)
    wait_until(lambda: page.evaluate(trace) != outline, timeout=5)
    wait_until(lambda: spot_title(page) == first, timeout=10)
    assert len(calls) == loaded  # no callback: not one request per turn
    # a wall that joins later shows the same grid at the same time
    other = browser.new_page(viewport={"width": 1920, "height": 1080})
    other.goto(live.wall_url("tiny"))
    wait_until(lambda: spot_title(other), timeout=20)
    differ, run, longest = 0, 0, 0
    for _ in range(20):  # over two turns; they may differ for a moment
        apart = spot_title(other) != spot_title(page)
        differ += apart
        run = run + 1 if apart else 0
        longest = max(longest, run)
        page.wait_for_timeout(200)  # deliberate: samples over two turns
    # apart only at a turn (one's event in before the other's), not for a
    # turn: a wall a turn behind would be apart in every sample
    assert longest <= 4 and differ <= 8, (longest, differ)
    other.close()
    page.close()


def test_fallback_poll_keeps_the_wall_current_without_the_event_stream(browser,
                                                                      live):
    page = browser.new_page(viewport={"width": 1920, "height": 1080})
    page.route("**/events/**", lambda route: route.abort())
    page.goto(live.wall_url("tiny"))
    page.wait_for_function("() => /\\d/.test((document.querySelector("
                           "'[data-testid=kpi-people-present]') || {}).innerText)")
    def shown_and_current() -> tuple[int] | None:
        shown = people_present(page)
        snap = read_snapshot(live.client, live.keys("tiny"))
        return (shown,) if snap and shown == snap["people_present"] else None
    (before,) = wait_until(shown_and_current, 15,
                           what="the wall to show the snapshot's count")
    live.xadd("tiny", "crowd", {"v": 1, "src": "cam-x", "entrance": "E2",
                                "ts": now_ms(), "in": 41, "out": 0})
    wait_until(lambda: people_present(page) == before + 41, timeout=30)
    # the spotlight too, by callback
    wait_until(lambda: spot_title(page) in ("一网格", "二网格"), timeout=15)
    page.close()
