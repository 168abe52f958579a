"""Screenshots of every screen for the README, from the real app.

Runs the app the way ``tests/live.py`` does (embedded redis-server,
aggregator, web server) on the sample site ``yaozhai`` with the demo feed
simulator writing to it and 30 days of history made from the simulator's model
(as ``bench/analysis.py`` makes it); signs in as the people who use each
screen and saves, in ``docs/``:

- ``wall.png``: the wall at 1920×1080, opened with a kiosk token;
- ``console.png``: the console on a 1280×800 tablet, as supervisor ``sup_comm``;
- ``phone.png``: the phone at 360×740, as grid worker ``w_g01``;
- ``analysis.png``: the analysis workspace at 1600×1000, as ``analyst``.

Usage: ``PYTHONPATH=. .venv/bin/python scripts/screenshots.py [--feed-seconds 40]``
(Debian's ``chromium`` must be installed: ``scripts/test`` installs it).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import uuid
from datetime import date, timedelta
from pathlib import Path

from playwright.sync_api import sync_playwright

from bench.analysis import generate
from data.clock import now_ms
from data.sim import run as simulator
from tests.live import CHROMIUM_ARGS, LiveApp, chromium_path

ROOT = Path(__file__).resolve().parent.parent
SITE = "yaozhai"
SHOWS_NUMBER = ("() => /\\d/.test((document.querySelector("
                "'[data-testid=kpi-people-present]') || {}).innerText || '')")

ANALYSIS_DRAWN = ("() => { const v = document.querySelector(\"[id*='people_in']\");"
                  " return v && v.innerText.trim() !== '—'; }")


def start_feed(live: LiveApp, rate: float) -> threading.Thread:
    thread = threading.Thread(target=simulator.run, daemon=True, args=(
        live.client, live.sites, live.config.prefix, live.stop_event),
        kwargs={"rate": rate})
    thread.start()
    return thread


REPORTS = [  # (category, level, title, grid): what a morning brings
    ("fire_hazard", 1, "楼道电动车充电", "G01"),
    ("street_vending", 2, "早市占道经营", "G05"),
    ("sanitation", 2, "楼道堆放杂物", "G01"),
    ("streetlight", 3, "路灯不亮", "G08"),
]


def report_incidents(live: LiveApp) -> None:
    """A few reports through the public contract, as phones and the hotline do."""
    for category, level, title, grid in REPORTS:
        live.xadd(SITE, "incident", {
            "v": 1, "src": "screenshots", "op": "report", "id": str(uuid.uuid4()),
            "ts": now_ms(), "category": category, "level": level, "title": title,
            "grid": grid, "channel": "patrol", "reporter": "沈新民",
            "phone": "18700007923"})


def shoot_wall(browser, live: LiveApp, out: Path) -> None:
    page = browser.new_page(viewport={"width": 1920, "height": 1080})
    page.goto(live.wall_url(SITE))
    page.wait_for_function(SHOWS_NUMBER, timeout=30_000)
    page.wait_for_selector("[data-testid=wall-map] .main-svg", timeout=30_000)
    page.wait_for_timeout(4000)  # the flip counter and the charts settle
    page.screenshot(path=str(out / "wall.png"))
    page.close()


def shoot_signed_in(browser, live: LiveApp, name: str, path: str,
                    viewport: dict, out: Path, wait_for: str, ready: str = "",
                    **options) -> None:
    context = browser.new_context(viewport=viewport, **options)
    page = context.new_page()
    live.sign_in(page, name, path)
    page.wait_for_selector(wait_for, timeout=30_000)
    if ready:
        page.wait_for_function(ready, timeout=60_000)
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(3000)  # the figures settle
    page.screenshot(path=str(out))
    context.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feed-seconds", type=float, default=40,
                        help="how long the demo feed runs before the first picture")
    parser.add_argument("--rate", type=float, default=2, help="demo feed volume")
    parser.add_argument("--out", type=Path, default=ROOT / "docs")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="screenshots-") as tmp:
        data_dir = Path(tmp)
        live = LiveApp(data_dir, ROOT / "data" / "sites", prefix="gov", sites=SITE)
        try:
            yesterday = date.today() - timedelta(days=1)
            print("history:", generate(live.sites[SITE], data_dir / "history", 30,
                                       yesterday))
            start_feed(live, args.rate)
            report_incidents(live)
            live.stop_event.wait(args.feed_seconds)
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=chromium_path(),
                                             args=CHROMIUM_ARGS)
                shoot_wall(browser, live, args.out)
                shoot_signed_in(browser, live, "sup_comm", f"/console?site={SITE}",
                                {"width": 1280, "height": 800},
                                args.out / "console.png", ".js-plotly-plot")
                shoot_signed_in(browser, live, "w_g01", f"/m?site={SITE}",
                                {"width": 360, "height": 740},
                                args.out / "phone.png", "body",
                                is_mobile=True, has_touch=True,
                                device_scale_factor=2)
                shoot_signed_in(browser, live, "analyst", f"/analysis?site={SITE}",
                                {"width": 1600, "height": 1000},
                                args.out / "analysis.png",
                                ".an-grid .js-plotly-plot .main-svg",
                                ready=ANALYSIS_DRAWN)
                browser.close()
        finally:
            live.close()
    for name in ("wall", "console", "phone", "analysis"):
        print("written", args.out / f"{name}.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
