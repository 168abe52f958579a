"""Urgent report → the measured wall's spotlight showing it (issue 13).

An urgent incident (level 1) reported by the public contract (an
``incident`` entry, ``op=report``, as the hotline writes it) takes every
wall's spotlight uncast (``data/interrupt.py``): the aggregator folds it
into a snapshot, the web process that hears the version queues it and bumps
the cast number (``WallData.prepare``), and every wall's stream gets the new
spotlight in a ``spot`` event. A MutationObserver on the measured wall's
spotlight records ``Date.now()`` when the report's own title shows in it
(and the next animation frame); the start is ``time.time()`` just before
the XADD, on the same clock.

The interruption holds the spotlight for ``GOV_WALL_INTERRUPT_SECONDS``
(``--interrupt-seconds``, 5 by default, so that samples need not wait a
minute each); a sample starts only once the last one has let go (the
rotation is back), so no report waits in the queue behind another. A hold
shorter than the wall's delay can pass unseen: the stream sends the
spotlight as it is when it is sent, and by then the rotation may be back
(counted as a timeout).
"""

from __future__ import annotations

import random
import time
import uuid

from bench.wall.feed import Versions
from bench.wall.page import Walls
from bench.wall.server import Stack
from bench.wall.stats import dist, med, ms

ARM_SPOT = """
([title, timeoutMs]) => {
  const el = document.getElementById('wall-spotlight');
  window.__spot = new Promise((resolve) => {
    let done = false;
    const shown = () => el.textContent.includes(title);
    const obs = new MutationObserver(() => {
      if (done || !shown()) { return; }
      const dom = Date.now();
      done = true; obs.disconnect(); clearTimeout(timer);
      requestAnimationFrame(() => resolve({dom, frame: Date.now()}));
    });
    obs.observe(el, {subtree: true, childList: true, characterData: true});
    const timer = setTimeout(() => {
      if (!done) { done = true; obs.disconnect(); resolve({timeout: true}); }
    }, timeoutMs);
  });
}
"""
INTERRUPTED = "() => !!document.querySelector('[data-testid=spot-interrupt]')"
TIMEOUT_MS = 15_000
WARMUP = 2


def spot_block(walls: Walls, stack: Stack, n: int, grid: str, category: str,
               hold_s: float, rng: random.Random, tag: str) -> list[dict]:
    """``n`` samples (after a warm-up) of urgent report → spotlight shows it."""
    samples = []
    stream = stack.keys.stream("incident")
    for i in range(WARMUP + n):
        let_go(walls, hold_s)
        title = f"基准紧急{tag}-{i}"
        walls.page.evaluate(ARM_SPOT, [title, TIMEOUT_MS])
        t0 = ms()
        stack.client.xadd(stream, {
            "v": "1", "src": "bench-hotline", "op": "report",
            "id": str(uuid.uuid4()), "ts": str(int(t0)), "category": category,
            "level": "1", "title": title, "grid": grid, "channel": "hotline"})
        result = walls.page.evaluate("() => window.__spot")
        if i >= WARMUP:
            samples.append({"t0": t0, **result})
        time.sleep(rng.uniform(0.2, 0.5))
    let_go(walls, hold_s)
    return samples


def let_go(walls: Walls, hold_s: float) -> None:
    """Wait until no urgent event holds the measured wall's spotlight."""
    deadline = time.monotonic() + hold_s + 15
    while walls.page.evaluate(INTERRUPTED):
        if time.monotonic() > deadline:
            raise RuntimeError("the spotlight stayed interrupted")
        time.sleep(0.1)


def spot_stages(sample: dict, walls: Walls, versions: Versions) -> dict[str, float]:
    """XADD → the cast number bumped (fold, snapshot, the web's queueing of
    the interruption), → the ``spot`` event at the page, → DOM."""
    t0, dom = sample["t0"], sample["dom"]
    out = {"total": dom - t0, "frame": sample["frame"] - dom}
    cast = next((t for t, _ in versions.casts if t >= t0), None)
    if cast is None or cast > dom:
        return out
    event = next((e for e in walls.trace.sse if e["kind"] == "spot"
                  and cast - 5 <= e["t"] <= dom + 2), None)
    out["to_cast"] = cast - t0
    if event is not None:
        out.update(push=event["t"] - cast, render=dom - event["t"])
    return out


def spot_summary(blocks: list[list[dict]], walls: Walls, versions: Versions) -> dict:
    per_repeat, pooled, cut = [], [], {}
    for samples in blocks:
        ok = [s for s in samples if not s.get("timeout")]
        lat = [s["dom"] - s["t0"] for s in ok]
        pooled += lat
        per_repeat.append({**dist(lat), "timeouts": len(samples) - len(ok),
                           "ms": [round(x) for x in lat]})
        for s in ok:
            for name, value in spot_stages(s, walls, versions).items():
                cut.setdefault(name, []).append(value)
    return {"p50_ms": med([r["p50"] for r in per_repeat]),
            "p95_ms": med([r["p95"] for r in per_repeat]),
            "pooled": dist(pooled),
            "stages_ms": {k: dist(v) for k, v in cut.items()},
            "repeats": per_repeat}
