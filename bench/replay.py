"""Replay (issue 14): what recording costs and how fast a moment comes back.

1. **Capture**: the sample site ``yaozhai`` live for ``--capture`` seconds
   (embedded Redis, the aggregator at the default 200 ms snapshot interval,
   the demo simulator at ``--rate`` or ``--total-rate`` entries/s, the
   recorder following the channel as in production): versions per second
   and bytes per whole (F) and changed (D) record, hence storage per
   site-day at that rate.
2. **A day of records**: the captured versions, cycled with new versions and
   times at the captured cadence, written by the recorder's own writer for
   ``--hours`` (24 for the full run): bytes on disk per site-day, measured.
3. **Seek**: ``--seeks`` random moments of those hours, by the reader alone
   and through ``GET /api/v1/sites/yaozhai/replay?at=`` (an API key): p50/p95.
4. **Playback at 600×**: ``GET /replay/frame`` every 150 s of replay time
   (a 250 ms step at 600×), each the change from the frame before: p50/p95;
   600× holds while a frame costs less than the 250 ms step.
5. **Clips**: ``--clips`` clips of 5 minutes (30 frames) through
   ``GET /replay/clip.png``, one after the other: seconds each, bytes.

Prints the figures and writes ``bench/results/replay.json`` (``--output``)::

    .venv/bin/python bench/replay.py                       # the full run
    .venv/bin/python bench/replay.py --capture 20 --hours 1 --seeks 50 \\
        --output /tmp/replay.json                          # a smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from data import accounts  # noqa: E402
from data.config import load_config  # noqa: E402
from data.feed.aggregator import Aggregator  # noqa: E402
from data.keys import AuthKeys  # noqa: E402
from data.redis_conn import EmbeddedRedis, connect  # noqa: E402
from data.replay import read  # noqa: E402
from data.replay.moments import iso  # noqa: E402
from data.replay.recorder import Recorder  # noqa: E402
from data.replay.records import hour_files, records  # noqa: E402
from data.site_files import load_sites  # noqa: E402

SITE = "yaozhai"
PREFIX = "bench"
DAY_S = 86_400


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def capture(url: str, sites, root: Path, seconds: float, rate: float,
            total_rate: float | None = None) -> dict:
    """The site live: the recorder's records of ``seconds`` of it."""
    from data.sim import run as simulator

    stop = threading.Event()
    agg = Aggregator(connect(url, decode=False), sites, PREFIX,
                     snapshot_interval_ms=200)
    rec = Recorder(connect(url, decode=False), sites, PREFIX, root)
    threads = [threading.Thread(target=agg.run, daemon=True),
               threading.Thread(target=rec.run, daemon=True),
               threading.Thread(target=simulator.run, daemon=True, args=(
                   connect(url), sites, PREFIX, stop),
                   kwargs={"rate": rate, "total_rate": total_rate})]
    for thread in threads:
        thread.start()
    time.sleep(seconds)
    stop.set()
    rec.stop()
    agg.stop()
    for thread in threads:
        thread.join(10)
    found = [r for f in hour_files(root, SITE) for r in records(f.read_bytes())]
    span_s = (found[-1].ms - found[0].ms) / 1000 if len(found) > 1 else seconds
    full = [len(r.body) + 40 for r in found if r.kind == "F"]
    change = [len(r.body) + 40 for r in found if r.kind == "D"]
    per_s = len(found) / span_s
    f_mean = statistics.mean(full)
    d_mean = statistics.mean(change) if change else 0.0
    keyframes = DAY_S / 60 + 24  # one a minute and one per hour file
    day = keyframes * f_mean + max(0.0, per_s * DAY_S - keyframes) * d_mean
    return {"seconds": round(span_s, 1), "versions": len(found),
            "versions_per_s": round(per_s, 2), "skipped": rec.tracks[SITE].skipped,
            "full_bytes_mean": round(f_mean), "change_bytes_mean": round(d_mean),
            "change_bytes_p95": round(pct(change, 0.95)) if change else 0,
            "site_day_mb_estimate": round(day / 1e6, 1),
            "snapshots": [read.snapshot_at(root, SITE, r.ms) for r in found]}


def write_hours(root: Path, sites, snaps: list[dict], per_s: float, hours: float,
                start_ms: int) -> dict:
    """``hours`` of records at ``per_s`` versions a second, cycling ``snaps``."""
    rec = Recorder(None, sites, PREFIX, root)  # writes only: no Redis
    step_ms = 1000 / per_s
    n = int(hours * 3600 * per_s)
    tz = sites[SITE].timezone
    began = time.process_time()
    for k in range(n):
        snap = json.loads(json.dumps(snaps[k % len(snaps)]))
        snap["version"] = k + 1
        snap["generated_ms"] = start_ms + int(k * step_ms)
        snap["generated_at"] = iso(snap["generated_ms"], tz)
        rec.write(SITE, snap)
    rec.close()
    cpu = time.process_time() - began
    size = sum(f.stat().st_size for f in hour_files(root, SITE))
    return {"hours": hours, "versions": n, "bytes": size,
            "site_day_mb": round(size / hours * 24 / 1e6, 1),
            "write_cpu_ms_per_version": round(cpu / n * 1000, 3),
            "end_ms": start_ms + int(n * step_ms)}


def seek(root: Path, client, key: str, start_ms: int, end_ms: int, n: int,
         tz: str) -> dict:
    rng = random.Random(14)
    moments = [rng.randint(start_ms, end_ms) for _ in range(n)]
    reader, api = [], []
    for at in moments:
        began = time.perf_counter()
        snap = read.snapshot_at(root, SITE, at)
        reader.append((time.perf_counter() - began) * 1000)
        assert snap is not None and snap["generated_ms"] <= at
        began = time.perf_counter()
        answer = client.get(f"/api/v1/sites/{SITE}/replay?at={quote(iso(at, tz))}",
                            headers={"Authorization": f"Bearer {key}"})
        api.append((time.perf_counter() - began) * 1000)
        assert answer.status_code == 200, answer.get_data(as_text=True)[:200]
    return {"seeks": n,
            "reader_ms_p50": round(pct(reader, 0.5), 1),
            "reader_ms_p95": round(pct(reader, 0.95), 1),
            "api_ms_p50": round(pct(api, 0.5), 1),
            "api_ms_p95": round(pct(api, 0.95), 1)}


def playback(client, start_ms: int, end_ms: int, tz: str, frames: int) -> dict:
    """Frames 150 s of replay apart, as the page asks them at 600×."""
    times, sizes, shown = [], [], ""
    at = start_ms
    for _ in range(frames):
        began = time.perf_counter()
        answer = client.get(f"/replay/frame?site={SITE}&at={quote(iso(at, tz))}"
                            f"&shown={shown}")
        times.append((time.perf_counter() - began) * 1000)
        assert answer.status_code == 200, answer.get_data(as_text=True)[:200]
        sizes.append(len(answer.data))
        shown = answer.get_json()["name"]
        at = at + 150_000 if at + 150_000 < end_ms else start_ms
    return {"frames": frames, "frame_ms_p50": round(pct(times, 0.5), 1),
            "frame_ms_p95": round(pct(times, 0.95), 1),
            "frame_bytes_p50": round(pct(sizes, 0.5)),
            "holds_600x": pct(times, 0.95) < 250}


def clips(client, start_ms: int, end_ms: int, tz: str, n: int) -> dict:
    """``n`` clips of 5 minutes (30 frames, the default) at random places,
    made one after the other as the page asks them: seconds and bytes."""
    rng = random.Random(4)
    seconds, sizes = [], []
    for _ in range(n):
        at = rng.randint(start_ms, end_ms - 300_000)
        began = time.perf_counter()
        answer = client.get(f"/replay/clip.png?site={SITE}&start="
                            f"{quote(iso(at, tz))}&end={quote(iso(at + 300_000, tz))}")
        seconds.append(time.perf_counter() - began)
        assert answer.status_code == 200, answer.get_data(as_text=True)[:200]
        sizes.append(len(answer.data))
    return {"clips": n, "frames": int(answer.headers["X-Frames"]),
            "clip_s_p50": round(pct(seconds, 0.5), 2),
            "clip_s_max": round(max(seconds), 2),
            "frame_ms_p50": round(pct(seconds, 0.5) / 30 * 1000),
            "clip_mb_p50": round(pct(sizes, 0.5) / 1e6, 2)}


def signed_in(app, r) -> object:
    import re

    accounts.add_user(r, AuthKeys(PREFIX), "bench_ana", "analyst", "bench-pass-1",
                      site=SITE, replace=True)
    client = app.server.test_client()
    page = client.get("/login").get_data(as_text=True)
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    client.post("/login", data={"name": "bench_ana", "password": "bench-pass-1",
                                "csrf": csrf})
    return client


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--capture", type=float, default=120.0)
    parser.add_argument("--rate", type=float, default=1.0,
                        help="the simulator's rate (1: the demo's)")
    parser.add_argument("--total-rate", type=float, default=None,
                        help="entries/s over the site instead (e.g. 2000)")
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--seeks", type=int, default=300)
    parser.add_argument("--frames", type=int, default=200)
    parser.add_argument("--clips", type=int, default=3,
                        help="clips of 5 minutes timed (0: none)")
    parser.add_argument("--output", default=str(ROOT / "bench/results/replay.json"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        redis_server = EmbeddedRedis(Path(tmp) / "redis", persist=False).start()
        try:
            config = load_config({"REDIS_URL": redis_server.url, "GOV_PREFIX": PREFIX,
                                  "GOV_SITES": SITE, "GOV_DEMO": "0",
                                  "GOV_DATA_DIR": str(Path(tmp) / "data")})
            sites = load_sites(config.sites_root, config.sites)
            live = capture(redis_server.url, sites, Path(tmp) / "capture",
                           args.capture, args.rate, args.total_rate)
            snaps = live.pop("snapshots")
            start_ms = (int(time.time()) - int(args.hours * 3600) - 60) * 1000
            day = write_hours(config.replay, sites, snaps, live["versions_per_s"],
                              args.hours, start_ms)
            from web.factory import create_app

            app = create_app(config)
            r = connect(redis_server.url)
            _, key = accounts.add_api_key(r, AuthKeys(PREFIX), "bench", SITE, "read")
            tz = sites[SITE].timezone
            seeks = seek(config.replay, app.server.test_client(), key, start_ms,
                         day["end_ms"], args.seeks, tz)
            client = signed_in(app, r)
            play = playback(client, start_ms, day["end_ms"], tz, args.frames)
            made = (clips(client, start_ms, day["end_ms"], tz, args.clips)
                    if args.clips else None)
        finally:
            redis_server.stop()
    result = {"capture": live, "day": day, "seek": seeks, "playback": play,
              "clip": made,
              "config": {**vars(args), "site": SITE,
                         "python": platform.python_version(),
                         "load_average": os.getloadavg()}}
    print(json.dumps(result, indent=2))
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
