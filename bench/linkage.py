"""Three-screen linkage latency in real Chromium (issue: incidents across screens).

Measures, with the whole app running (embedded Redis, aggregator, web server,
as in ``tests/live.py``) and one phone, one console and one wall open:

- report → visible on the wall (ticker) and on the console (incident table),
  timed from the phone's POST of the report;
- dispatch → visible on the phone (the task shows "已派遣"), timed from the
  console's op being written;
- cast → visible on the wall (spotlight), timed from the cast being written.

"Visible" is a MutationObserver in each page that records ``Date.now()`` when
the text appears; the start time is taken in Python just before the write, on
the same machine clock. Prints p50/p95 per path and writes
``bench/results/linkage.json``.

    .venv/bin/python bench/linkage.py [--rounds 30]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from playwright.sync_api import sync_playwright  # noqa: E402

from data.cast import cast  # noqa: E402
from data.incidents.ops import submit_op, submit_report, wait_applied
from tests.live import CHROMIUM_ARGS, LiveApp, chromium_path  # noqa: E402

SITE = "tiny"
OBSERVER = """
(args) => {
  const [key, selector, texts] = args;
  window.__watch = window.__watch || {};
  window.__watch[key] = new Promise((resolve) => {
    setTimeout(() => resolve(-1), 15000);
    const check = () => {
      const el = document.querySelector(selector);
      if (el && texts.every((t) => el.innerText.includes(t))) {
        resolve(Date.now()); return true;
      }
      return false;
    };
    if (check()) { return; }
    const obs = new MutationObserver(() => { if (check()) { obs.disconnect(); } });
    obs.observe(document.body, {subtree: true, childList: true, characterData: true});
  });
}
"""


class Watch:
    """A MutationObserver started in ``page``; :meth:`seen` waits for it."""

    def __init__(self, page, selector: str, *texts: str) -> None:
        self.page, self.key = page, uuid.uuid4().hex
        page.evaluate(OBSERVER, [self.key, selector, list(texts)])

    def seen(self) -> float:
        """When (ms since epoch) all texts showed, or -1 after 15 s."""
        return self.page.evaluate(f"window.__watch['{self.key}']")


def ms() -> float:
    return time.time() * 1000


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def watch(page, selector: str, *texts: str) -> Watch:
    return Watch(page, selector, *texts)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    live = LiveApp(Path(tempfile.mkdtemp()), ROOT / "tests" / "fixtures" / "sites",
                   producer=SITE)
    site = live.sites[SITE]
    keys = live.keys(SITE)
    worker, supervisor = site.users["w1"], site.users["sup"]
    results: dict[str, list[float]] = {"report_to_wall": [], "report_to_console": [],
                                       "dispatch_to_phone": [], "cast_to_wall": []}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path(),
                                     args=CHROMIUM_ARGS)
        phone_ctx = browser.new_context(viewport={"width": 360, "height": 740})
        phone = phone_ctx.new_page()
        live.sign_in(phone, "w1", f"/m?site={SITE}")
        console_ctx = browser.new_context(viewport={"width": 1280, "height": 800})
        console = console_ctx.new_page()
        live.sign_in(console, "sup", f"/console?site={SITE}")
        wall = browser.new_page(viewport={"width": 1920, "height": 1080})
        wall.goto(live.wall_url(SITE))
        wall.wait_for_selector("[data-testid=incident-ticker]")
        time.sleep(3)
        for n in range(args.rounds):
            title = f"测{n:03d}{uuid.uuid4().hex[:4]}"
            on_wall = watch(wall, "[data-testid=incident-ticker]", title)
            on_console = watch(console, ".ag-center-cols-container", title)
            incident = str(uuid.uuid4())
            start = ms()
            submit_report(live.client, keys, site, worker, {
                "id": incident, "category": "sanitation", "level": "3",
                "title": title, "grid": "G1"})
            seen = {"report_to_wall": on_wall.seen(),
                    "report_to_console": on_console.seen()}
            print(n, {k: v - start if v > 0 else "timeout" for k, v in seen.items()},
                  flush=True)
            for name, value in seen.items():
                if value > 0:
                    results[name].append(value - start)
            written = submit_op(live.client, keys, site, supervisor, "accept", incident)
            wait_applied(live.client, keys, incident, written)
            on_phone = watch(phone, f'[data-incident="{incident}"]', "已派遣")
            start = ms()
            submit_op(live.client, keys, site, supervisor, "dispatch", incident,
                      assignee="w1")
            value = on_phone.seen()
            print(n, "dispatch", value - start if value > 0 else "timeout", flush=True)
            if value > 0:
                results["dispatch_to_phone"].append(value - start)
            grid = "G1" if n % 2 else "G2"
            name = site.grids[grid].name
            on_spot = watch(wall, "[data-testid=spotlight]", name, "值班长推送")
            start = ms()
            cast(live.client, keys, "grid", grid, supervisor.id)
            value = on_spot.seen()
            print(n, "cast", value - start if value > 0 else "timeout", flush=True)
            if value > 0:
                results["cast_to_wall"].append(value - start)
            time.sleep(0.3)
        browser.close()
    live.close()
    summary = {name: {"p50_ms": round(percentile(v, 0.5), 1),
                      "p95_ms": round(percentile(v, 0.95), 1),
                      "mean_ms": round(statistics.fmean(v), 1), "n": len(v)}
               for name, v in results.items()}
    out = {"date": time.strftime("%Y-%m-%d %H:%M"), "machine": platform.platform(),
           "cpus": __import__("os").cpu_count(), "site": SITE, "rounds": args.rounds,
           "results": summary}
    for name, s in summary.items():
        print(f"{name:20s} p50 {s['p50_ms']:7.1f} ms   p95 {s['p95_ms']:7.1f} ms")
    target = ROOT / "bench" / "results" / "linkage.json"
    target.parent.mkdir(exist_ok=True)
    target.write_text(json.dumps(out, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
