"""Feed health on the wall, in headless Chromium against the real app, a real
Redis and the real aggregator: a device that stops sending is named on the
strip, its entrance drawn hollow, people present called an estimate; when it
sends again the marks go away (issue 13 item 3)."""

from __future__ import annotations

import threading

import pytest

from data.clock import now_ms
from tests.waiting import wait_until

# a few seconds, so that a test sees a device fall silent and come back
HEALTH_ENV = {"GOV_PRODUCER_LATE_S": "2", "GOV_PRODUCER_SILENT_S": "5"}
STRIP = "[data-testid=feed-health]"


class Counter:
    """A people counter at ``entrance``: an entry every half second while
    it runs, as a real one does."""

    def __init__(self, live, site: str, src: str, entrance: str) -> None:
        self.live, self.site, self.src, self.entrance = live, site, src, entrance
        self.stopped = threading.Event()
        self.thread: threading.Thread | None = None

    def start(self) -> Counter:
        self.stopped.clear()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stopped.set()
        if self.thread is not None:
            self.thread.join()

    def _run(self) -> None:
        while not self.stopped.is_set():
            self.live.xadd(self.site, "crowd", {
                "v": 1, "src": self.src, "entrance": self.entrance,
                "ts": now_ms(), "in": 1, "out": 1})
            self.stopped.wait(0.5)


@pytest.fixture
def health_live(live_app):
    return live_app(env=HEALTH_ENV)


def open_wall(browser, live, lang: str = "zh"):
    page = browser.new_page(viewport={"width": 1920, "height": 1080})
    page.goto(live.wall_url("tiny", lang=lang))
    page.wait_for_selector(f"{STRIP} .health-chip")
    return page


def chip_count(page, state: str) -> int:
    return int(page.get_attribute(f"{STRIP} .health-chip[data-state={state}]",
                                  "data-count"))


def named(page, state: str) -> list[str]:
    return page.eval_on_selector_all(
        f"{STRIP} .health-group[data-state={state}] .health-name",
        "els => els.map(e => e.textContent)")


def test_the_strip_counts_devices_and_names_the_silent_ones(browser, health_live,
                                                           artifacts):
    """The tiny site's west gate counter sends (the trickle); the east gate
    counter, the vehicle gate and the parking sensor never did: silent, by
    name, every name whole and inside the strip."""
    page = open_wall(browser, health_live)
    never_heard = ["东门", "车辆门", "一号停车场"]  # counters, gates, parking
    wait_until(lambda: named(page, "silent") == never_heard)
    wait_until(lambda: chip_count(page, "ok") == 1)
    assert chip_count(page, "silent") == 3
    strip = page.locator(STRIP).bounding_box()
    assert strip["y"] + strip["height"] <= 1080
    boxes = page.eval_on_selector_all(
        f"{STRIP} .health-name", "els => els.map(e => {"
        " const b = e.getBoundingClientRect(); return [b.left, b.right, b.top,"
        " b.bottom, e.scrollWidth <= e.clientWidth + 1]; })")
    for left, right, top, bottom, whole in boxes:
        assert strip["x"] <= left and right <= strip["x"] + strip["width"]
        assert strip["y"] <= top and bottom <= strip["y"] + strip["height"]
        assert whole
    page.wait_for_timeout(1000)  # deliberate: transitions settle for the picture
    page.screenshot(path=str(artifacts / "wall-feed-health.png"))
    page.locator(STRIP).screenshot(path=str(artifacts / "wall-feed-health-strip.png"))
    page.close()


ENTRANCES = 2 + 1  # the map's entrance trace: after tiny's 2 grids and the labels
E2 = 1  # the east gate: the second entrance of tiny's site file


def east_gate(page) -> dict:
    return page.evaluate(
        "() => { const d = document.querySelector('#wall-map .js-plotly-plot').data;"
        f" const m = d[{ENTRANCES}].marker;"
        f" return {{fill: m.color[{E2}], line: m.line.color[{E2}],"
        " g2: d[2].text[1]}; }")


def alpha(rgba: str) -> float:
    return float(rgba.rstrip(")").split(",")[-1])


def estimate(page) -> str | None:
    return page.get_attribute("[data-testid=kpi-people-present]", "data-estimate")


def test_a_counter_that_stops_is_named_hollow_and_people_present_estimated(
        browser, health_live, artifacts):
    counter = Counter(health_live, "tiny", "cam-east", "E2").start()
    try:
        page = open_wall(browser, health_live)
        page.wait_for_function("() => (document.querySelector("
                               "'#wall-map .js-plotly-plot') || {}).data")
        wait_until(lambda: "东门" not in named(page, "silent")
                   and estimate(page) == "0", timeout=20)
        filled = east_gate(page)
        assert "≈" not in filled["g2"]
        assert page.inner_text("[data-testid=people-estimate]") == ""

        counter.stop()  # the east gate's counter stops sending
        wait_until(lambda: "东门" in named(page, "silent"), timeout=20)
        wait_until(lambda: estimate(page) == "1")
        note = page.inner_text("[data-testid=people-estimate]")
        assert "≈" in note and "1个计数器无数据" in note
        assert page.is_visible("[data-testid=people-estimate] .estimate-mark")
        wait_until(lambda: east_gate(page)["line"] != filled["line"])
        hollow = east_gate(page)
        assert alpha(hollow["fill"]) == 0 < alpha(filled["fill"])  # nothing inside
        assert "≈" in hollow["g2"]  # the east gate's grid: an estimate too
        page.wait_for_timeout(1000)  # deliberate: the map redraws for the picture
        page.screenshot(path=str(artifacts / "wall-counter-silent.png"))

        counter.start()  # it comes back: the marks go away by themselves
        wait_until(lambda: "东门" not in named(page, "silent"), timeout=20)
        wait_until(lambda: estimate(page) == "0")
        assert page.inner_text("[data-testid=people-estimate]") == ""
        wait_until(lambda: east_gate(page) == filled)
        page.wait_for_timeout(1000)
        page.screenshot(path=str(artifacts / "wall-counter-back.png"))
        page.close()
    finally:
        counter.stop()


def spot_people(page) -> tuple[str, str]:
    """The spotlight's people present: its text and its estimate flag."""
    found = page.query_selector("[data-testid=spot-people]")
    return (found.inner_text(), found.get_attribute("data-estimate")) if found \
        else ("", "")


def test_the_spotlight_calls_a_grid_with_a_silent_counter_an_estimate_at_once(
        browser, live_app, artifacts):
    """The east gate's grid is cast onto the wall (a cast never turns: the
    rotation is an hour besides). When its counter stops, the spotlight's
    people present get the ≈ together with the headline's, not at some
    later turn; when it sends again, the mark goes."""
    from data.cast import cast

    live = live_app(env={**HEALTH_ENV, "GOV_WALL_SPOT_SECONDS": "3600"})
    counter = Counter(live, "tiny", "cam-east", "E2").start()
    try:
        page = open_wall(browser, live)
        wait_until(lambda: "东门" not in named(page, "silent")
                   and estimate(page) == "0", timeout=20)
        cast(live.client, live.keys("tiny"), "grid", "G2", "sup")
        wait_until(lambda: "二网格" in page.inner_text("[data-testid=spotlight]")
                   and spot_people(page)[1] == "0")
        assert "≈" not in spot_people(page)[0]

        counter.stop()  # G2's only counter stops sending
        wait_until(lambda: estimate(page) == "1", timeout=20)
        wait_until(lambda: spot_people(page)[1] == "1", timeout=5)  # at once
        assert spot_people(page)[0].startswith("≈")
        page.wait_for_timeout(500)  # deliberate: the panel settles for the picture
        page.screenshot(path=str(artifacts / "wall-spot-estimate.png"))

        counter.start()
        wait_until(lambda: estimate(page) == "0", timeout=20)
        wait_until(lambda: spot_people(page)[1] == "0", timeout=5)
        assert "≈" not in spot_people(page)[0]
        page.close()
    finally:
        counter.stop()


def panel_rows(page) -> list[str]:
    return page.eval_on_selector_all(
        "[data-testid=c-producers] .ag-center-cols-container .ag-row",
        "els => els.map(e => e.innerText.replace(/\\s+/g, ' '))")


def test_the_console_lists_producers_by_state_and_their_refused_entries(
        browser, live_app, artifacts):
    """A supervisor opens 设备状态: the devices that are not OK (the junk
    camera erroring, the declared ones silent), the filter by state, and
    one click on a producer shows its refused entries with the reasons."""
    health_live = live_app(env={"GOV_PRODUCER_LATE_S": "30",
                                "GOV_PRODUCER_SILENT_S": "120"})
    for n in range(3):  # a camera at the east gate that sends junk
        health_live.xadd("tiny", "crowd", {"v": 1, "src": "junk-cam",
                                           "entrance": "E2", "ts": now_ms(),
                                           "in": -1 - n, "out": 0})
    wall = open_wall(browser, health_live)  # the wall names it too
    wait_until(lambda: named(wall, "erroring") == ["东门"])
    assert chip_count(wall, "erroring") == 1
    wall.close()
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    health_live.sign_in(page, "sup", "/console?site=tiny")
    page.wait_for_selector(".ag-root")
    assert not page.is_visible("[data-testid=c-producers]")
    page.click("text=设备状态")
    wait_until(lambda: any("junk-cam" in row for row in panel_rows(page)))
    rows = panel_rows(page)
    assert all("正常" not in row for row in rows)  # the filter: not OK
    junk = next(row for row in rows if "junk-cam" in row)
    assert "报错" in junk and "东门" in junk and " 3 " in f" {junk} "
    assert any("一号停车场" in row and "无数据" in row for row in rows)
    assert page.get_attribute(
        "[data-testid=c-p-counts] [data-state=erroring]", "data-state")
    page.click("[data-testid=c-producers] .ag-cell >> text=junk-cam")
    refused = "[data-testid=c-p-refused]"
    wait_until(lambda: "近15分钟拒收 3 条" in page.inner_text(refused))
    assert page.locator(f"{refused} .c-p-dead").count() == 3
    assert "in=-3" in page.inner_text(f"{refused} .c-p-dead >> nth=0")
    page.wait_for_timeout(500)  # deliberate: the grid settles for the picture
    page.screenshot(path=str(artifacts / "console-producers.png"))
    page.click("[data-testid=c-producers] >> text=正常")
    wait_until(lambda: panel_rows(page) and all(
        "正常" in row for row in panel_rows(page)))
    assert any("西门" in row and "trickle" in row for row in panel_rows(page))
    page.click("[data-testid=c-producers] >> text=关闭")
    wait_until(lambda: not page.is_visible("[data-testid=c-producers]"))
    page.close()


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_site_whose_devices_all_went_quiet_names_what_fits_whole(
        browser, live_app, artifacts, lang):
    """The sample community: 24 entrances and its parking lots, one heard
    from (the trickle at the first entrance). The strip names as many as
    fit, each whole, counts the rest, and the 1920×1080 wall keeps its shape
    (no scrollbars, nothing pushed off)."""
    from data.config import PROJECT_ROOT

    live = live_app(PROJECT_ROOT / "data" / "sites", sites="yaozhai",
                    producer="yaozhai")
    page = browser.new_page(viewport={"width": 1920, "height": 1080})
    page.goto(f"{live.url}/wall?site=yaozhai&kiosk={live.kiosk['yaozhai']}"
              f"&lang={lang}")
    page.wait_for_selector(f"{STRIP} .health-more")
    site = live.sites["yaozhai"]
    whole = {(p.name_en if lang == "en" else p.name)
             for p in [*site.entrances.values(), *site.parking.values()]}

    def one_heard() -> bool:
        """Until the trickle's first entry is judged, all 28 are silent."""
        names = named(page, "silent")
        more = page.inner_text(f"{STRIP} .health-more")
        return str(len(whole) - 1 - len(names)) in more
    wait_until(one_heard, timeout=15)
    names = named(page, "silent")
    assert names and set(names) <= whole
    strip = page.locator(STRIP).bounding_box()
    for selector in (".health-name", ".health-more"):
        for box in page.eval_on_selector_all(
                f"{STRIP} {selector}", "els => els.map(e => {"
                " const b = e.getBoundingClientRect();"
                " return [b.right, b.bottom, e.scrollWidth <= e.clientWidth + 1];"
                " })"):
            right, bottom, fits = box
            assert right <= strip["x"] + strip["width"] and fits
            assert bottom <= strip["y"] + strip["height"]
    overflow = page.evaluate(
        "[document.documentElement.scrollWidth - window.innerWidth,"
        " document.documentElement.scrollHeight - window.innerHeight]")
    assert overflow[0] <= 0 and overflow[1] <= 0
    page.wait_for_timeout(1000)  # deliberate: transitions settle for the picture
    page.screenshot(path=str(artifacts / f"wall-all-silent-{lang}.png"))
    page.close()
