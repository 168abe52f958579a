"""The wall's alert banner in headless Chromium: how many, and each alert whole."""

from __future__ import annotations

import uuid

import pytest

from data.clock import now_ms
from tests.waiting import wait_until

TITLES = ["消防通道被占", "燃气泄漏，三号楼二单元楼道有明显气味，请立即处置",
          "电梯困人", "高空坠物险情，十二号楼外墙瓷砖松动，下方为儿童游乐区",
          "水管爆裂", "老人走失，身穿蓝色外套，最后出现在东门附近",
          "围墙倒塌", "火情", "井盖缺失，主干道人行道上", "群体聚集"]
BANNER = "[data-testid=alert-banner]"

# Each alert as it is shown in its turn: the item alone made visible, then
# every part of it measured (nothing wider or taller than its box, nothing
# outside the banner).
MEASURE = """() => {
  const banner = document.querySelector('[data-testid=alert-banner]');
  const items = [...banner.querySelectorAll('.alert-item')];
  const box = banner.getBoundingClientRect();
  const shown = items.findIndex(i => i.classList.contains('shown'));
  const out = items.map((item, k) => {
    items.forEach((other, j) => other.classList.toggle('shown', j === k));
    const parts = [item, ...item.children];
    const cut = parts.filter(p => p.scrollWidth > p.clientWidth + 1
                                  || p.scrollHeight > p.clientHeight + 1);
    const r = item.getBoundingClientRect();
    const inside = r.width > 0 && r.left >= box.left - 1 && r.right <= box.right + 1
                   && r.top >= box.top - 1 && r.bottom <= box.bottom + 1;
    return {text: item.innerText, cut: cut.length, inside: inside};
  });
  items.forEach((other, j) => other.classList.toggle('shown', j === shown));
  return out;
}"""


def report(live, title: str, grid: str) -> None:
    live.xadd("tiny", "incident", {
        "v": 1, "src": "hotline", "op": "report", "id": str(uuid.uuid4()),
        "ts": now_ms(), "category": "parking", "level": 1, "title": title,
        "grid": grid, "reporter": "李四", "phone": "13900001111"})


def shown_items(page) -> list[str]:
    return page.eval_on_selector_all(
        f"{BANNER} .alert-item", "els => els.filter(e => e.offsetParent)"
        ".map(e => e.innerText)")


@pytest.mark.parametrize("n", [1, 2, 10])
def test_the_banner_shows_how_many_and_each_alert_whole(browser, live, artifacts,
                                                        n):
    for k in range(n):
        report(live, TITLES[k], "G1" if k % 2 == 0 else "G2")
    page = browser.new_page(viewport={"width": 1920, "height": 1080})
    page.goto(live.wall_url("tiny"))
    page.wait_for_selector(BANNER, state="visible")
    wait_until(lambda: f"告警 {n} 条" in page.inner_text(BANNER))
    # one alert at a time, never a row of them
    wait_until(lambda: len(shown_items(page)) == 1)
    items = page.evaluate(MEASURE)
    assert len(items) == n
    assert {next(t for t in TITLES[:n] if t in i["text"]) for i in items} == set(
        TITLES[:n])
    for item in items:
        assert item["cut"] == 0 and item["inside"], item
        assert ("一网格" in item["text"] or "二网格" in item["text"])
        assert any(ch.isdigit() for ch in item["text"].split()[-1])  # the time
    if n > 1:  # the turn: the next alert comes by itself, and the pager says so
        first = shown_items(page)[0]
        wait_until(lambda: shown_items(page)[0] != first, timeout=15)
        assert f"/{n}" in page.inner_text(f"{BANNER} .alert-pager")
    page.screenshot(path=str(artifacts / f"wall-alerts-{n}.png"))
    page.close()
