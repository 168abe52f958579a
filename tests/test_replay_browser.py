"""The replay page in headless Chromium, over a live run recorded by the
recorder as in production (real Redis, aggregator, web server)."""

from __future__ import annotations

import re
import threading
import uuid
from urllib.parse import parse_qs, quote, urlparse

import pytest

from data import audit
from data.clock import now_ms
from data.feed.snapshot import read_snapshot
from data.keys import AuthKeys
from data.redis_conn import connect
from data.replay import read
from data.replay.recorder import Recorder
from tests.waiting import on_page, wait_until


@pytest.fixture
def recorded(live):
    """``live`` with a recorder following it."""
    recorder = Recorder(connect(live.redis.url, decode=False), live.sites,
                        live.config.prefix, live.config.replay)
    thread = threading.Thread(target=recorder.run, daemon=True)
    thread.start()
    yield live
    recorder.stop()
    thread.join(10)


def settled(live, check) -> dict:
    """The snapshot once ``check`` holds for it and the recorder has it."""
    keys = live.keys("tiny")
    snap = wait_until(lambda: (lambda s: s if s and check(s) else None)(
        read_snapshot(live.client, keys)), what="the snapshot")
    wait_until(lambda: (read.last_record(live.config.replay, "tiny") or
                        type("none", (), {"version": 0})).version >= snap["version"],
               what="the recorder")
    return snap


def digits(page, testid: str) -> int:
    return int(re.sub(r"\D", "", page.inner_text(f"[data-testid={testid}]")) or 0)


def test_the_replay_page_shows_the_moment_and_keeps_it_in_the_address(
        browser, recorded, artifacts):
    live = recorded
    first = settled(live, lambda s: True)
    live.xadd("tiny", "crowd", {"v": 1, "src": "cam-x", "entrance": "E2",
                                "ts": now_ms(), "in": 37, "out": 0})
    live.xadd("tiny", "incident", {
        "v": 1, "src": "phone", "op": "report", "id": str(uuid.uuid4()),
        "ts": now_ms(), "category": "sanitation", "level": 2,
        "title": "楼道堆放杂物", "grid": "G1"})
    then = settled(live, lambda s: s["people_present"] >= first["people_present"]
                   + 37 and s["incidents"]["open"] == 1)
    live.xadd("tiny", "crowd", {"v": 1, "src": "cam-x", "entrance": "E2",
                                "ts": now_ms(), "in": 50, "out": 0})
    later = settled(live, lambda s: s["people_present"] >= then["people_present"]
                    + 50)
    page = browser.new_page(viewport={"width": 1920, "height": 1080})
    live.sign_in(page, "sup", f"/replay?site=tiny&at={quote(then['generated_at'])}")
    pause = on_page(page)
    wait_until(lambda: digits(page, "kpi-people-present") == then["people_present"],
               pause=pause, what="the moment's people present")
    assert page.inner_text("[data-testid=kpi-incidents-open]") == str(
        then["incidents"]["open"])
    assert "楼道堆放杂物" in page.inner_text("[data-testid=incident-ticker]")
    assert page.get_attribute("#replay-root", "data-shown-version") == str(
        then["version"])
    asked = parse_qs(urlparse(page.url).query)
    assert asked["site"] == ["tiny"] and asked["at"][0].startswith(
        then["generated_at"][:19])
    # the time bar marks the report (an event of the recorded run)
    wait_until(lambda: page.locator("[data-testid=replay-scrubber] "
                                    ".ev-incident_reported").count() >= 1,
               pause=pause, what="the report's mark")
    export = page.get_attribute("[data-testid=replay-export]", "href")
    assert parse_qs(urlparse(export).query)["at"][0].startswith(
        then["generated_at"][:19])
    page.wait_for_timeout(1200)  # deliberate: the charts redraw once a second
    page.screenshot(path=str(artifacts / "replay-1920x1080.png"))
    # a link to the moment opens the same picture
    other = browser.new_page(viewport={"width": 1600, "height": 900})
    live.sign_in(other, "sup", urlparse(page.url)._replace(
        scheme="", netloc="").geturl())
    wait_until(lambda: digits(other, "kpi-people-present") == then["people_present"],
               pause=on_page(other), what="the link's moment")
    other.close()
    # a bookmark with a note: listed, audited, linkable
    page.fill("[data-testid=replay-bookmark-note] input", "人流骤增 <b>核查</b>")
    page.click("[data-testid=replay-bookmark-add]")
    wait_until(lambda: "人流骤增 <b>核查</b>" in page.inner_text(
        "[data-testid=replay-bookmarks]"), pause=pause, what="the bookmark")
    lines = audit.read(live.client, AuthKeys(live.config.prefix), site="tiny")
    assert any(line["action"] == "bookmark" and line["who"] == "sup"
               and "人流骤增" in line["detail"] for line in lines)
    href = page.get_attribute("[data-testid=replay-bookmarks] a", "href")
    assert parse_qs(urlparse(href).query)["at"][0].startswith(
        then["generated_at"][:19])
    # played at 600x it reaches the newest recorded moment
    page.click("[data-testid=replay-speed][data-speed='600']")
    assert parse_qs(urlparse(page.url).query)["speed"] == ["600"]
    page.click("[data-testid=replay-play]")
    wait_until(lambda: digits(page, "kpi-people-present")
               >= later["people_present"], pause=pause, timeout=20,
               what="playback to reach the later moment")
    page.close()


def test_previous_and_next_event_jump_to_what_happened(browser, recorded):
    live = recorded
    first = settled(live, lambda s: True)
    live.xadd("tiny", "crowd", {"v": 1, "src": "cam-x", "entrance": "E1",
                                "ts": now_ms(), "in": 95, "out": 0})
    dense = settled(live, lambda s: any(a["kind"] == "density"
                                        for a in s["alerts"]))
    live.xadd("tiny", "crowd", {"v": 1, "src": "cam-x", "entrance": "E1",
                                "ts": now_ms(), "in": 0, "out": 90})
    settled(live, lambda s: not s["alerts"])
    page = browser.new_page(viewport={"width": 1920, "height": 1080})
    live.sign_in(page, "ana", f"/replay?site=tiny&at={quote(first['generated_at'])}")
    pause = on_page(page)
    banner = "[data-testid=alert-banner]"
    def shown() -> int:
        return int(page.get_attribute("#replay-root", "data-shown-version") or 0)

    wait_until(lambda: shown() == first["version"], pause=pause,
               what="the first moment")
    assert not page.is_visible(banner)
    for _ in range(6):  # event by event (the feeds waking up is one too)
        before = shown()
        page.click("[data-testid=replay-next-event]")
        wait_until(lambda before=before: shown() > before, pause=pause,
                   what="the next event")
        if shown() >= dense["version"]:
            break
    assert shown() == dense["version"]  # the version that raised the alert
    wait_until(lambda: page.is_visible(banner), pause=pause, what="the alert")
    assert "一网格" in page.inner_text(banner)
    page.click("[data-testid=replay-next-event]")  # the alert cleared
    wait_until(lambda: not page.is_visible(banner), pause=pause)
    page.click("[data-testid=replay-prev-event]")
    wait_until(lambda: page.is_visible(banner), pause=pause, what="back to it")
    page.close()


def test_the_clip_button_downloads_the_minutes_from_the_moment(
        browser, recorded, warm, artifacts):
    """The page's clip: one minute from the moment shown, made on the
    server, downloaded; its first frame is that moment, its frames follow
    the recorded numbers. At the newest moment there is no minute after it:
    the refusal, naming the field, is the status."""
    import io
    import json

    from PIL import Image, ImageSequence

    live = recorded
    first = settled(live, lambda s: True)
    live.xadd("tiny", "crowd", {"v": 1, "src": "cam-x", "entrance": "E2",
                                "ts": now_ms(), "in": 41, "out": 0})
    later = settled(live, lambda s: s["people_present"] >= first["people_present"]
                    + 41)
    page = browser.new_page(viewport={"width": 1920, "height": 1080},
                            accept_downloads=True)
    live.sign_in(page, "ana", f"/replay?site=tiny&at={quote(first['generated_at'])}")
    pause = on_page(page)
    wait_until(lambda: page.get_attribute("#replay-root", "data-shown-version")
               == str(first["version"]), pause=pause, what="the first moment")
    page.fill("#replay-clip-minutes", "1")
    with page.expect_download(timeout=60_000) as made:
        page.click("[data-testid=replay-export-clip]")
    download = made.value
    assert download.suggested_filename.startswith("replay-tiny-")
    clip = Image.open(io.BytesIO(open(download.path(), "rb").read()))
    frames = list(ImageSequence.Iterator(clip))
    about = json.loads(clip.info["gov:frames"])
    assert len(frames) == len(about) > 2
    assert about[0]["at"][:19] == first["generated_at"][:19]
    assert about[0]["version"] == first["version"]
    assert {f["people_present"] for f in about} == {
        first["people_present"], later["people_present"]}
    wait_until(lambda: page.get_attribute("#replay-root", "data-clip") == "done",
               pause=pause, what="the status")
    assert str(len(frames)) in page.inner_text("[data-testid=replay-status]")
    page.screenshot(path=str(artifacts / "replay-clip-1920x1080.png"))
    page.goto(live.url + "/replay?site=tiny")  # the newest moment: nothing after
    wait_until(lambda: page.get_attribute("#replay-root", "data-shown-version"),
               pause=pause, what="the newest moment")
    page.click("[data-testid=replay-export-clip]")
    wait_until(lambda: page.get_attribute("#replay-root", "data-clip") == "failed",
               pause=pause, what="the refusal")
    assert "end" in page.inner_text("[data-testid=replay-status]")
    page.close()
