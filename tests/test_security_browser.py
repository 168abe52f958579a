"""Hostile text and personal data, seen through every screen in real Chromium.

XSS payloads go in through the phone's report route and as comments; then
each screen is opened as the person who uses it: no dialog may open, no
payload may run, the app may cause no CSP violation. A live wall's HTML,
callback responses and SSE are scanned for reporters' names and phones.
"""

from __future__ import annotations

import threading
import time
import urllib.request
import uuid

import pytest

from data.clock import now_ms
from data.incidents.ops import submit_op
from tests.waiting import wait_until

PAYLOADS = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "<svg onload=alert(1)>",
    "<svg><script>alert(1)</script></svg>",
    "javascript:alert(1)",
    '<a href="javascript:alert(1)">点我</a>',
    "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
    '<iframe src="javascript:alert(1)"></iframe>',
    '<iframe srcdoc="<script>alert(1)</script>"></iframe>',
    "<body onload=alert(1)>",
    '"><script>alert(1)</script>',
    "'><img src=x onerror=alert(1)>",
    "<details open ontoggle=alert(1)>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    "[点我](javascript:alert(1))",
    '![x](x" onerror="alert(1))',
    "<input autofocus onfocus=alert(1)>",
    "<video><source onerror=alert(1)></video>",
    '<object data="javascript:alert(1)"></object>',
    '<embed src="data:text/html,<script>alert(1)</script>">',
    "<style>@import 'javascript:alert(1)';</style>",
    '<div style="background:url(javascript:alert(1))">x</div>',
    "{{constructor.constructor('alert(1)')()}}",
    "${alert(1)}",
    "</textarea><script>alert(1)</script>",
    "</title><script>alert(1)</script>",
    '<svg><a xlink:href="javascript:alert(1)"><text x="9" y="9">x</text></a></svg>',
    "<svg><animate onbegin=alert(1) attributeName=x dur=1s>",
    "<marquee onstart=alert(1)>x</marquee>",
    '<form action="javascript:alert(1)"><button>x</button></form>',
    '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
    '<base href="javascript:alert(1)//">',
    "%3Cscript%3Ealert(1)%3C/script%3E",
    "&lt;script&gt;alert(1)&lt;/script&gt;",
    "<scr<script>ipt>alert(1)</scr</script>ipt>",
    '<img src="x" onerror="&#97;&#108;&#101;&#114;&#116;(1)">',
    '<a href="data:text/html,<script>alert(1)</script>">data</a>',
    "<b onmouseover=alert(1)>粗体</b>",
]
WATCH = """
window.__csp = [];
document.addEventListener('securitypolicyviolation',
    e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));
"""


class listen(threading.Thread):  # noqa: N801 - used like a function
    """Read a server-sent event stream for ``seconds`` with ``cookies``."""

    def __init__(self, url: str, cookies: dict[str, str], seconds: float) -> None:
        super().__init__(daemon=True)
        self.url, self.seconds, self.body = url, seconds, b""
        self.cookie = "; ".join(f"{k}={v}" for k, v in cookies.items())
        self.start()

    def run(self) -> None:
        request = urllib.request.Request(self.url, headers={"Cookie": self.cookie})
        deadline = time.monotonic() + self.seconds
        with urllib.request.urlopen(request, timeout=self.seconds) as stream:
            while time.monotonic() < deadline:
                try:
                    chunk = stream.read1(4096)
                except TimeoutError:
                    return
                if not chunk:
                    return
                self.body += chunk


@pytest.fixture(scope="module")
def shared_live(module_live_app):
    """One live app for the module (no producer)."""
    return module_live_app(producer=None)


def open_as(browser, shared_live, who: str | None, path: str, viewport=(1280, 800)):
    """A fresh browser context as ``who`` (None: the site's kiosk wall)."""
    context = browser.new_context(viewport={"width": viewport[0],
                                            "height": viewport[1]})
    context.add_init_script(WATCH)
    page = context.new_page()
    page.dialogs = []
    page.on("dialog", lambda d: (page.dialogs.append(d.message), d.dismiss()))
    if who is None:
        page.goto(shared_live.wall_url("tiny"))
    else:
        shared_live.sign_in(page, who, path)
    return context, page


def assert_nothing_ran(page, where: str) -> None:
    # Deliberate: a payload that ran would show later (late renders, hover
    # layers, lazy chunks); there is no event for "nothing happened".
    page.wait_for_timeout(1500)
    assert page.dialogs == [], (where, page.dialogs)
    violations = page.evaluate("() => window.__csp")
    assert violations == [], (where, violations)


def test_xss_payloads_stay_text_on_every_screen(browser, shared_live, artifacts):
    # two reporters: one phone may send 30 reports a minute
    helper_context, helper = open_as(browser, shared_live, "vol", "/m?site=tiny")
    context, phone = open_as(browser, shared_live, "w1", "/m?site=tiny", (360, 740))
    for n, payload in enumerate(PAYLOADS):
        incident = str(uuid.uuid4())
        answer = (phone if n % 2 else helper).request.post(
            f"{shared_live.url}/api/v1/sites/tiny/reports",
            data={"id": incident, "category": "sanitation", "level": "3",
                  "title": payload[:120], "detail": f"#{n} {payload}", "grid": "G1"})
        assert answer.status == 202, (payload, answer.text())
    site = shared_live.sites["tiny"]
    keys = shared_live.keys("tiny")
    wait_until(lambda: shared_live.client.zcard(keys.incidents_all) >= len(PAYLOADS),
               20, what="the reports to be folded")
    supervisor = site.users["sup"]
    newest = incident  # on top of the console's table (new reports first)
    for payload in PAYLOADS:
        submit_op(shared_live.client, keys, site, supervisor, "comment", newest,
                  note=payload)
    phone.reload()
    phone.wait_for_selector("[data-testid=m-tasks] .m-task-head", timeout=20_000)
    assert PAYLOADS[0] in phone.inner_text("[data-testid=m-tasks]")
    assert_nothing_ran(phone, "/m")
    assert_nothing_ran(helper, "/m (volunteer)")
    context.close()
    helper_context.close()

    context, console = open_as(browser, shared_live, "sup", "/console?site=tiny")
    console.wait_for_selector(".ag-center-cols-container .ag-row", timeout=20_000)
    console.click(f".ag-row[row-id='{newest}']")
    console.wait_for_function(
        "() => (document.querySelector('[data-testid=c-detail]') || {innerText: ''})"
        f".innerText.includes({PAYLOADS[-1]!r})", timeout=20_000)
    console.screenshot(path=str(artifacts / "console-xss-1280x800.png"))
    assert_nothing_ran(console, "/console")
    context.close()

    context, wall = open_as(browser, shared_live, None, "/wall", (1920, 1080))
    wall.wait_for_function(
        "() => (document.querySelector('[data-testid=incident-ticker]')"
        " || {innerText: ''}).innerText.includes('alert(1)')", timeout=20_000)
    box = wall.locator("[data-testid=wall-map]").bounding_box()
    for dx in range(1, 10):  # hover over the incident markers' area
        wall.mouse.move(box["x"] + box["width"] * dx / 10,
                        box["y"] + box["height"] / 2)
        wall.wait_for_timeout(80)  # deliberate: a hover layer gets time to open
    assert_nothing_ran(wall, "/wall")
    context.close()

    for who, path in (("adm", "/?site=tiny"), ("adm", "/admin"),
                      ("ana", "/analysis?site=tiny")):
        context, page = open_as(browser, shared_live, who, path)
        page.wait_for_load_state("networkidle")
        if path == "/admin":
            assert PAYLOADS[0] in page.inner_text("[data-testid=admin-audit]")
        assert_nothing_ran(page, path)
        context.close()


def test_a_live_wall_never_receives_personal_data(browser, shared_live):
    name, phone_number = "欧阳娜娜", "13766661234"
    seen: list[str] = []
    context = browser.new_context(viewport={"width": 1920, "height": 1080})
    page = context.new_page()

    def keep(response) -> None:
        if response.url.startswith(shared_live.url) and not any(
                part in response.url for part in
                ("/_dash-component-suites", "/assets/", "/events/")):
            seen.append(response.text())
    page.on("response", keep)
    page.goto(shared_live.wall_url("tiny"))
    page.wait_for_selector("[data-testid=incident-ticker]")
    pushed = listen(shared_live.url + "/events/tiny?wall=zh",  # what a kiosk opens
                    {"gov_kiosk": shared_live.kiosk["tiny"]}, seconds=5)
    shared_live.xadd("tiny", "incident", {
        "v": 1, "src": "hotline", "op": "report", "id": str(uuid.uuid4()),
        "ts": now_ms(), "category": "sanitation", "level": 1,
        "title": "电梯困人", "grid": "G1", "reporter": name,
        "phone": phone_number})
    page.wait_for_function(
        "() => document.querySelector('[data-testid=incident-ticker]')"
        ".innerText.includes('电梯困人')", timeout=20_000)
    page.wait_for_timeout(1000)  # deliberate: late responses land in ``seen`` too
    pushed.join()
    assert pushed.body, "the event stream sent nothing"
    everything = "\n".join([*seen, page.content(), pushed.body.decode()])
    assert "欧**" in page.inner_text("[data-testid=incident-ticker]")
    assert name not in everything and phone_number not in everything
    assert "137****1234" in everything
    context.close()
