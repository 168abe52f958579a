"""Three-screen linkage in headless Chromium: phone, console and wall together."""

from __future__ import annotations

import json
import time

from tests.waiting import on_page, wait_until


def wait_for(page, predicate_js: str, timeout: float = 20.0) -> None:
    # a function, not an expression: the app's CSP forbids eval in the page
    page.wait_for_function(f"() => ({predicate_js})", timeout=timeout * 1000)


def text_in(selector: str, text: str) -> str:
    return (f"(() => {{ const el = document.querySelector('{selector}');"
            f" return !!el && el.innerText.includes('{text}'); }})()")


def choose(page, dropdown: str, option: str) -> None:
    page.click(dropdown)
    page.click(f"text={option}")


def open_phone(browser, live, user: str, **context):
    ctx = browser.new_context(viewport={"width": 360, "height": 740}, **context)
    page = ctx.new_page()
    live.sign_in(page, user, "/m?site=tiny")
    page.wait_for_selector("[data-testid=m-tasks]")
    return ctx, page


def open_console(browser, live):
    ctx = browser.new_context(viewport={"width": 1280, "height": 800})
    page = ctx.new_page()
    live.sign_in(page, "sup", "/console?site=tiny")
    page.wait_for_selector(".ag-root")
    return ctx, page


def report(page, title: str) -> None:
    choose(page, "#m-category", "环境卫生")
    page.fill("#m-title", title)
    page.click("[data-testid=m-submit]")


def test_report_dispatch_resolve_verify_and_cast(browser, live, artifacts):
    phone_ctx, phone = open_phone(browser, live, "w1")
    console_ctx, console = open_console(browser, live)
    wall = browser.new_page(viewport={"width": 1920, "height": 1080})
    wall.goto(live.wall_url("tiny"))
    wait_for(wall, text_in("[data-testid=kpi-incidents-open]", "0"))

    # report on the phone -> console table and wall ticker
    report(phone, "井盖松动")
    wait_for(phone, text_in("[data-testid=m-queue]", "井盖松动"))
    wait_for(console, text_in(".ag-center-cols-container", "井盖松动"))
    wait_for(wall, text_in("[data-testid=incident-ticker]", "井盖松动"))
    wait_for(wall, text_in("[data-testid=kpi-incidents-open]", "1"))

    # accept and dispatch on the console -> the worker's phone
    console.click("text=井盖松动")
    console.click("[data-testid=c-actions] >> text=受理")
    wait_for(console, text_in("[data-testid=c-flash]", "受理"))
    console.click("[data-testid=c-actions] >> text=派遣")
    wait_for(console, text_in("[data-testid=c-flash]", "派遣"))
    wait_for(phone, text_in("[data-testid=m-tasks]", "已派遣"))
    phone.screenshot(path=str(artifacts / "mobile-360x740.png"))

    # start and resolve on the phone, verify on the console -> wall KPIs
    phone.click("[data-testid=m-tasks] >> text=开始处置")
    wait_for(phone, text_in("[data-testid=m-tasks]", "处置中"))
    phone.fill("[data-testid=m-tasks] textarea", "已更换井盖")
    phone.click("[data-testid=m-tasks] >> text=处置完成")
    wait_for(phone, text_in("[data-testid=m-flash]", "处置完成"))
    wait_for(console, text_in("[data-testid=c-actions]", "核查通过"))
    console.click("text=核查通过")
    wait_for(console, text_in("[data-testid=c-flash]", "核查通过"))
    wait_for(wall, text_in("[data-testid=kpi-incidents-open]", "0"))
    closed = wall.locator('[id*="closed_today"]').first.inner_text()
    assert closed == "1"

    # cast a grid from the console -> the wall's spotlight
    console.click("text=推送网格到大屏")
    wait_for(console, text_in("[data-testid=c-flash]", "已推送"))
    wait_for(wall, text_in("[data-testid=spotlight]", "值班长推送"))
    assert "一网格" in wall.inner_text("[data-testid=spotlight]")
    console.screenshot(path=str(artifacts / "console-1280x800.png"))
    console.click("text=清除大屏推送")
    wait_for(wall, "!document.querySelector('[data-testid=spotlight]')"
                   ".innerText.includes('值班长推送')")
    for ctx in (phone_ctx, console_ctx):
        ctx.close()
    wall.close()


def test_a_report_made_offline_is_sent_once_when_back_online(browser, live):
    phone_ctx, phone = open_phone(browser, live, "w1")
    tries: list[str] = []
    phone.on("requestfailed", lambda req: tries.append(req.url)
             if req.url.endswith("/reports") else None)
    phone_ctx.set_offline(True)
    report(phone, "路灯不亮")
    wait_for(phone, text_in("[data-testid=m-queue]", "1条待发送"))
    # the queue tries again while offline (every 3 s): nothing may be lost
    wait_until(lambda: len(tries) >= 2, 15, every=0.2, pause=on_page(phone),
               what="a second try while offline")
    assert live.client.zcard(live.keys("tiny").incidents_all) == 0
    phone_ctx.set_offline(False)
    wait_for(phone, text_in("[data-testid=m-queue]", "已上报"), timeout=15)
    incidents = live.keys("tiny").incidents_all
    wait_until(lambda: live.client.zcard(incidents), 15, what="the report folded")
    ids = live.client.zrange(incidents, 0, -1)
    assert len(ids) == 1
    record = live.client.get(live.keys("tiny").incident(ids[0]))
    assert "路灯不亮" in record
    phone_ctx.close()


def test_a_bad_field_is_named_to_the_user(browser, live):
    phone_ctx, phone = open_phone(browser, live, "w1")
    phone.fill("#m-title", "没有选类别")
    phone.click("[data-testid=m-submit]")
    wait_for(phone, text_in("[data-testid=m-queue]", "事件类别"))
    phone_ctx.close()


def test_phone_and_console_table_refresh_on_incident_changes_only(browser, live):
    """Crowd-only versions (the producer's entry every second) cost the phone
    and the console's table nothing; the console's grid figures still move
    (at most once a second); an incident change reaches both."""
    phone_ctx, phone = open_phone(browser, live, "w1")
    console_ctx, console = open_console(browser, live)
    posts: dict[str, list[str]] = {"phone": [], "console": []}
    for name, page in (("phone", phone), ("console", console)):
        page.on("request", lambda req, name=name: posts[name].append(
            req.post_data or "") if "_dash-update-component" in req.url else None)
    keys = live.keys("tiny")
    versions = int(live.client.get(keys.version) or 0)
    started = time.monotonic()

    def grid_posts() -> list[str]:
        return [p for p in posts["console"] if "c-grid-list.children" in p]

    # three crowd-only versions flow, and the console's grid figures move
    wait_until(lambda: int(live.client.get(keys.version) or 0) >= versions + 3
               and grid_posts(), 30, every=0.1, pause=on_page(console),
               what="crowd versions and a grid-list refresh")
    observed = time.monotonic() - started
    assert posts["phone"] == []
    assert not [p for p in posts["console"] if "c-table.rowData" in p]
    assert len(grid_posts()) <= observed + 2  # at most once a second (+ edges)

    from data.incidents.ops import submit_op, submit_report, wait_applied
    site = live.sites["tiny"]
    sup = site.users["sup"]
    incident = "5f0e8a52-2c57-4d0a-9f51-0a1f3c7e9b11"
    submit_report(live.client, keys, site, site.users["w1"], {
        "id": incident, "category": "sanitation", "level": "3",
        "title": "路面积水", "grid": "G1"})
    wait_for(console, text_in(".ag-center-cols-container", "路面积水"))
    wait_applied(live.client, keys, incident,
                 submit_op(live.client, keys, site, sup, "accept", incident))
    submit_op(live.client, keys, site, sup, "dispatch", incident, assignee="w1")
    wait_for(phone, text_in(f'[data-incident="{incident}"]', "已派遣"))
    refreshes = [p for p in posts["phone"] if "m-tasks.children" in p]
    assert 1 <= len(refreshes) <= 3  # the report, the accept, the dispatch
    # new task buttons cost no request: the action runs only when pressed
    assert not [p for p in posts["phone"] if "m-flash.children" in p]
    for ctx in (phone_ctx, console_ctx):
        ctx.close()


def sign_out_page(page, live) -> None:
    page.goto(f"{live.url}/logout")
    with page.expect_navigation():
        page.click("button[type=submit]")


def test_a_queued_report_is_sent_only_under_the_name_of_who_made_it(browser, live):
    phone_ctx, phone = open_phone(browser, live, "w1")
    phone_ctx.route("**/reports", lambda route: route.abort())  # no signal
    report(phone, "三号楼路灯不亮")
    wait_for(phone, text_in("[data-testid=m-queue]", "1条待发送"))
    sign_out_page(phone, live)
    phone_ctx.unroute("**/reports")
    live.sign_in(phone, "w2", "/m?site=tiny")  # the same phone, someone else
    phone.wait_for_selector("[data-testid=m-tasks]")
    # Deliberate: time for the queue's retry (every 3 s) to run under w2; it
    # must send nothing, and "nothing sent" has no event to wait for.
    phone.wait_for_timeout(4000)
    assert live.client.zcard(live.keys("tiny").incidents_all) == 0
    kept = phone.evaluate("() => window.govMobile.pending()")
    assert [r["user"] for r in kept] == ["w1"]
    sign_out_page(phone, live)
    live.sign_in(phone, "w1", "/m?site=tiny")  # its owner is back
    wait_for(phone, text_in("[data-testid=m-queue]", "已上报"), timeout=15)
    incidents = live.keys("tiny").incidents_all  # accepted; folded a moment later
    wait_until(lambda: live.client.zcard(incidents), 15, what="the report folded")
    ids = live.client.zrange(incidents, 0, -1)
    assert len(ids) == 1
    record = json.loads(live.client.get(live.keys("tiny").incident(ids[0])))
    assert record["title"] == "三号楼路灯不亮" and record["reporter_id"] == "w1"
    phone_ctx.close()
