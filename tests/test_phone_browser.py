"""The grid worker's phone in headless Chromium: reporting offline, the form
after a report, who is signed in, and a photo the phone cannot keep."""

from __future__ import annotations

import json
import os

import pytest

from tests.auth import add_account
from tests.waiting import wait_until

QUEUE = "[data-testid=m-queue]"


@pytest.fixture
def live(live_app):
    return live_app(producer=None)


def wait_for(page, predicate_js: str, timeout: float = 20.0) -> None:
    # a function, not an expression: the app's CSP forbids eval in the page
    page.wait_for_function(f"() => ({predicate_js})", timeout=timeout * 1000)


def says(selector: str, text: str) -> str:
    return (f"(() => {{ const el = document.querySelector('{selector}');"
            f" return !!el && el.innerText.includes('{text}'); }})()")


def open_phone(browser, live, user: str):
    ctx = browser.new_context(viewport={"width": 360, "height": 740})
    page = ctx.new_page()
    live.sign_in(page, user, "/m?site=tiny")
    page.wait_for_selector("[data-testid=m-tasks]")
    return ctx, page


def fill_report(page, title: str) -> None:
    page.click("#m-category")
    page.get_by_role("option", name="环境卫生").click()
    page.fill("#m-title", title)


def incidents(live) -> list[dict]:
    keys = live.keys("tiny")
    return [json.loads(live.client.get(keys.incident(i)))
            for i in live.client.zrange(keys.incidents_all, 0, -1)]


def test_a_report_pressed_twice_offline_arrives_once_and_the_form_clears(
        browser, live):
    ctx, phone = open_phone(browser, live, "w1")
    ctx.set_offline(True)
    fill_report(phone, "路灯不亮")
    phone.click("[data-testid=m-submit]")
    phone.click("[data-testid=m-submit]")  # "nothing seemed to happen"
    wait_for(phone, says(QUEUE, "1条待发送"))
    wait_for(phone, "document.querySelector('#m-title').value === ''")
    assert phone.input_value("#m-detail") == ""
    assert "环境卫生" not in phone.inner_text("#m-category")
    # the same content once more, typed again: the same report, not a second one
    fill_report(phone, "路灯不亮")
    phone.click("[data-testid=m-submit]")
    wait_for(phone, says(QUEUE, "已提交过"))
    assert "1条待发送" in phone.inner_text(QUEUE)
    assert len(phone.evaluate("() => window.govMobile.pending()")) == 1
    assert incidents(live) == []
    ctx.set_offline(False)
    wait_for(phone, says(QUEUE, "已上报"), timeout=15)
    wait_for(phone, "window.govMobile.pending().length === 0")
    wait_until(lambda: incidents(live), what="the report folded")
    assert [r["title"] for r in incidents(live)] == ["路灯不亮"]
    # the form is ready for the next report, which is a new one
    fill_report(phone, "井盖缺失")
    phone.click("[data-testid=m-submit]")
    wait_until(lambda: len(incidents(live)) == 2, timeout=15, what="the next report")
    ctx.close()


def test_an_account_outside_the_roster_shows_its_name_and_role_in_chinese(
        browser, live):
    add_account(live.client, live.config.prefix, "zhou", "worker", "tiny", ("G1",),
                display="周小明")
    ctx, phone = open_phone(browser, live, "zhou")
    who = phone.inner_text("[data-testid=who]")
    assert "周小明 · 网格员" in who and "worker" not in who
    ctx.close()


def test_a_photo_the_phone_cannot_keep_offline_is_named_and_sent_when_online(
        browser, live):
    ctx, phone = open_phone(browser, live, "w1")
    # leave local storage with room for a report's text but not for a photo
    phone.evaluate("""() => {
      for (const size of [1 << 20, 1 << 16, 1 << 12]) {
        const chunk = 'x'.repeat(size);
        for (let i = 0; ; i++) {
          try { localStorage.setItem('fill.' + size + '.' + i, chunk); }
          catch (e) { break; }
        }
      }
      localStorage.removeItem('fill.4096.0');
      localStorage.removeItem('fill.4096.1');
    }""")
    ctx.set_offline(True)
    fill_report(phone, "垃圾满溢")
    photo = b"\x89PNG\r\n\x1a\n" + os.urandom(120_000)
    phone.set_input_files("#m-photo input[type=file]", files=[
        {"name": "scene.png", "mimeType": "image/png", "buffer": photo}])
    wait_for(phone, says("#m-photo-name", "scene.png"))
    phone.click("[data-testid=m-submit]")
    wait_for(phone, says(QUEUE, "照片过大，无法离线保存"))
    assert phone.inner_text(QUEUE).startswith("已保存，1条待发送")
    kept = phone.evaluate("() => window.govMobile.pending()")
    assert len(kept) == 1 and "photo" not in kept[0]["body"]
    ctx.set_offline(False)
    wait_for(phone, says(QUEUE, "已上报"), timeout=15)
    # acknowledged by the server; folded a moment later
    [record] = wait_until(lambda: incidents(live), what="the report folded")
    assert record["title"] == "垃圾满溢" and record.get("photo")
    stored = live.config.data_dir / "photos" / "tiny" / record["photo"]
    assert stored.read_bytes() == photo  # the photo chosen, kept in the page
    ctx.close()
