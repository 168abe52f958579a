"""Replay (issue 14): the live wall's latency with recording on and off, in
one run.

The wall benchmark's stack (:mod:`bench.wall`: an embedded redis-server,
``python app.py aggregator``, gunicorn's ``gthread`` web tier, the feed of
``--feed-rate`` crowd entries a second, one measured wall in Chromium and
``--walls`` − 1 event-stream walls) runs throughout; only the recorder
changes. Blocks of ``--samples`` XADD → digits on the measured wall
(:func:`bench.wall.measure.latency_block`) alternate off, on, on, off, …
(``--blocks`` in all), so that a drift of the shared machine falls on both
sides alike. For an "on" block a recorder process is started (this script
with ``--recorder-only``: :meth:`web.runtime.Runtime.start_recorder`, what
``python app.py archiver`` runs beside the archiver) and the block begins
once it has recorded the newest version; it is stopped before an "off"
block. The figure is the ratio of the on blocks' p50 / p95 to the off
blocks' (the median of the blocks of each side), with the recorder's CPU.

Prints the figures and writes ``bench/results/replay-wall-latency.json``::

    nice -n 19 .venv/bin/python bench/replay_wall.py                # 8 blocks
    nice -n 19 .venv/bin/python bench/replay_wall.py --blocks 2 --samples 10 \\
        --output /tmp/replay-wall.json                              # a smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.wall.feed import Feed, Versions  # noqa: E402
from bench.wall.measure import latency_block, latency_summary  # noqa: E402
from bench.wall.page import Walls, kiosk_url, launch  # noqa: E402
from bench.wall.report import code_version, machine  # noqa: E402
from bench.wall.server import (  # noqa: E402
    PREFIX,
    Stack,
    cpu_delta,
    site_dir,
    wait_quiet,
)
from bench.wall.stats import med, pct  # noqa: E402
from bench.wall.streams import StreamWalls  # noqa: E402
from data.feed.snapshot import read_snapshot  # noqa: E402
from data.replay import read  # noqa: E402
from data.site_files import load_site  # noqa: E402


def recorder_only() -> int:
    """This process: the recorder alone, configured by the environment."""
    from data.config import load_config
    from web.runtime import Runtime

    config = load_config()
    runtime = Runtime(config)
    runtime.start_recorder()
    runtime.wait()
    runtime.stop()
    return 0


class RecorderProcess:
    def __init__(self, stack: Stack, site: str, workdir: Path) -> None:
        self.stack, self.site = stack, site
        self.root = workdir / "replay"
        self.env = {**os.environ, "REDIS_URL": stack.redis.url,
                    "GOV_PREFIX": PREFIX, "GOV_SITES": site,
                    "GOV_SITES_DIR": str(site_dir(site).parent), "GOV_DEMO": "0",
                    "GOV_DATA_DIR": str(workdir), "GOV_REPLAY_DAYS": "30"}
        self.log = open(workdir / "recorder.log", "ab")
        self.proc: subprocess.Popen | None = None
        self.cpu_s = 0.0

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--recorder-only"], cwd=ROOT, env=self.env,
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 120
        while True:  # recording: the newest version is on disk
            newest = read_snapshot(self.stack.client, self.stack.keys)["version"]
            last = read.last_record(self.root, self.site)
            if last is not None and last.version >= newest:
                return
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError(f"the recorder does not record; see {self.log.name}")
            time.sleep(0.2)

    def cpu(self) -> float:
        try:
            times = psutil.Process(self.proc.pid).cpu_times()
            return times.user + times.system
        except (psutil.Error, AttributeError):
            return 0.0

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None


def order(blocks: int) -> list[str]:
    """off, on, on, off, off, on, …: each side as often early as late."""
    return [("off", "on", "on", "off")[k % 4] for k in range(blocks)]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recorder-only", action="store_true",
                        help=argparse.SUPPRESS)
    parser.add_argument("--walls", type=int, default=10)
    parser.add_argument("--samples", type=int, default=40, help="per block")
    parser.add_argument("--blocks", type=int, default=8)
    parser.add_argument("--feed-rate", type=float, default=20, help="entries/s")
    parser.add_argument("--site", default="yaozhai")
    parser.add_argument("--snapshot-ms", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=64)
    parser.add_argument("--quiet-cores", type=float, default=0.2)
    parser.add_argument("--patience", type=float, default=60,
                        help="longest wait for quiet before a block, s")
    parser.add_argument("--output", type=Path,
                        default=ROOT / "bench/results/replay-wall-latency.json")
    args = parser.parse_args(argv)
    args.profile = False  # what bench.wall's Stack reads
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.recorder_only:
        return recorder_only()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    site = load_site(site_dir(args.site))
    pedestrian = sorted(e.id for e in site.entrances.values()
                        if e.kind == "pedestrian")
    workdir = Path(tempfile.mkdtemp(prefix="replay-wall-"))
    stack = Stack(args, workdir)
    recorder = RecorderProcess(stack, args.site, workdir)
    feed = Feed(stack.redis.url, stack.keys, pedestrian[1:], args.feed_rate)
    versions = Versions(stack.redis.url, stack.keys)
    feed.start()
    versions.start()
    feed.on.set()
    out = {"benchmark": "replay: live wall latency, recorder on / off (issue 14)",
           "date": time.strftime("%Y-%m-%d %H:%M"), "code": code_version(),
           "config": {k: str(v) for k, v in vars(args).items()
                      if k not in ("recorder_only", "profile")},
           "command": " ".join(["nice -n 19 .venv/bin/python", *sys.argv])}
    blocks: dict[str, list] = {"off": [], "on": []}
    notes = []
    rng = random.Random(14)
    from playwright.sync_api import sync_playwright

    try:
        with sync_playwright() as pw:
            browser = launch(pw)
            url = kiosk_url(stack, args.site)
            others = StreamWalls(stack.url, args.site, "zh",
                                 url.rsplit("kiosk=", 1)[1])
            stack.stream_walls = others.pid
            out["machine"] = machine(browser, stack)
            walls = Walls(browser, others, url)
            walls.grow(args.walls)
            time.sleep(10)  # every wall catches up and settles
            for n, mode in enumerate(order(args.blocks)):
                if mode == "on" and recorder.proc is None:
                    recorder.start()
                elif mode == "off":
                    recorder.stop()
                waited = wait_quiet(stack, args.quiet_cores, args.patience)
                before, rec0, start = stack.cpu(), recorder.cpu(), time.monotonic()
                blocks[mode].append(latency_block(walls, stack, pedestrian[0],
                                                  args.samples, rng))
                elapsed = time.monotonic() - start
                used = cpu_delta(before, stack.cpu())
                ok = [s["dom"] - s["t0"] for s in blocks[mode][-1]
                      if not s.get("timeout")]
                note = {"block": n + 1, "recorder": mode,
                        "waited_for_quiet_s": waited,
                        "load_average": os.getloadavg(),
                        "p50_ms": round(pct(ok, 0.5) or 0, 1),
                        "recorder_cpu_s_per_min": round(
                            (recorder.cpu() - rec0) * 60 / elapsed, 2),
                        "others_cores": round(used["others"] / elapsed, 2)}
                notes.append(note)
                print(f"  block {n + 1} recorder {mode}: p50 {note['p50_ms']} ms "
                      f"(load {note['load_average'][0]:.1f})", flush=True)
            recorder.stop()
            summary = {mode: latency_summary(b, walls, versions)
                       for mode, b in blocks.items()}
            walls.close()
            browser.close()
    finally:
        recorder.stop()
        feed.stopped.set()
        versions.stopped.set()
        stack.stop()
    on, off = summary["on"], summary["off"]
    out["results"] = {
        "ratio_p50_on_off": round(on["p50_ms"] / off["p50_ms"], 2),
        "ratio_p95_on_off": round(on["p95_ms"] / off["p95_ms"], 2),
        "on": {k: on[k] for k in ("p50_ms", "p95_ms", "pooled", "repeats")},
        "off": {k: off[k] for k in ("p50_ms", "p95_ms", "pooled", "repeats")},
        "recorder_cpu_s_per_min": med([b["recorder_cpu_s_per_min"] for b in notes
                                       if b["recorder"] == "on"]),
        "blocks": notes}
    print(json.dumps({k: v for k, v in out["results"].items()
                      if k not in ("on", "off", "blocks")}, indent=1))
    print(f"on: p50 {on['p50_ms']} ms, p95 {on['p95_ms']} ms; "
          f"off: p50 {off['p50_ms']} ms, p95 {off['p95_ms']} ms")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(out, indent=1, ensure_ascii=False))
    print(f"written to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
