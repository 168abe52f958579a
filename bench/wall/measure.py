"""What the wall benchmark measures, and how its samples are summed up.

XADD → visible on the measured wall (:func:`latency_block`, each sample cut
into stages by :func:`stages`), the CPU of every part over a window with the
feed on (:func:`cpu_window`), bytes per update (:func:`bytes_summary`) and,
with ``--profile``, the callback handler's timings and py-spy's samples of
the web workers; :func:`run_config` runs them all for one number of walls.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import psutil

from bench.wall.feed import Feed, Versions
from bench.wall.page import ARM, Trace, Walls
from bench.wall.server import Stack, cpu_delta, wait_quiet
from bench.wall.spot import spot_block, spot_summary
from bench.wall.stats import dist, med, ms, pct

PYSPY = (shutil.which("py-spy", path=str(Path(sys.executable).parent))
         or shutil.which("py-spy"))  # None: --profile goes without py-spy
WARMUP = 5
TIMEOUT_MS = 15_000


def stages(sample: dict, updates: list[dict], trace: Trace,
           versions: Versions) -> dict[str, float]:
    """Cut one sample's latency into consecutive stages (ms)."""
    t0, dom = sample["t0"], sample["dom"]
    out = {"total": dom - t0, "frame": sample["frame"] - dom}
    live = next((e for e in trace.sse if e["kind"] == "live" and e["t"] >= t0
                 and e["data"].get("people", -1) >= sample["base"] + 1
                 and e["t"] <= dom + 2), None)
    sent = versions.first_live(sample["base"] + 1, t0)
    if live is not None and sent is not None:  # the count came ahead of a snapshot
        out.update(aggregator=sent - t0, push=live["t"] - sent,
                   render=dom - live["t"], carrier_live=1)
        return out
    pub = versions.first_counting(sample["base"] + 1, t0)
    if pub is None:
        return out
    pushed = next((e for e in trace.sse if e["kind"] == "version" and e["t"] >= t0
                   and (e["data"].get("wall") or {}).get("v", -1) >= pub[1]
                   and e["t"] <= dom + 2), None)
    if pushed is not None:  # the change came in the event itself
        out.update(aggregator=pub[0] - t0, push=pushed["t"] - pub[0],
                   render=dom - pushed["t"], carrier_live=0)
        return out
    carrier = next((u for u in updates if "wall-people" in u["outputs"]
                    and t0 <= u["finished"] <= dom + 2), None)
    if carrier is None:
        return out
    out.update(aggregator=pub[0] - t0, to_request=carrier["sent"] - pub[0],
               server=carrier["headers"] - carrier["sent"],
               download=carrier["finished"] - carrier["headers"],
               render=dom - carrier["finished"])
    event = next((e for e in trace.sse if e["kind"] == "version" and e["t"] >= t0
                  and e["data"]["v"] >= pub[1]), None)
    if event is not None and event["t"] <= carrier["sent"]:
        out["push"] = event["t"] - pub[0]
    return out


def latency_block(walls: Walls, stack: Stack, quiet: str, n: int,
                  rng: random.Random) -> list[dict]:
    """``n`` samples (after a warm-up) of XADD → digits changed on the wall."""
    samples = []
    stream = stack.keys.stream("crowd")
    for i in range(WARMUP + n):
        walls.page.evaluate(ARM, TIMEOUT_MS)
        t0 = ms()
        stack.client.xadd(stream, {"v": "1", "src": "bench-marker", "entrance": quiet,
                                   "ts": str(int(t0)), "in": "1", "out": "0",
                                   "eid": f"m{t0:.0f}-{i}"})
        result = walls.page.evaluate("() => window.__mark")
        if i >= WARMUP:
            samples.append({"t0": t0, **result})
        time.sleep(rng.uniform(0.5, 1.0))
    return samples


def latency_summary(blocks: list[list[dict]], walls: Walls,
                    versions: Versions) -> dict:
    updates = walls.trace.bodies()
    per_repeat, pooled, frames, cut = [], [], [], defaultdict(list)
    for samples in blocks:
        ok = [s for s in samples if not s.get("timeout")]
        wrong = sum(1 for s in ok if s["value"] != s["base"] + 1)
        lat = [s["dom"] - s["t0"] for s in ok]
        pooled += lat
        frames += [s["frame"] - s["t0"] for s in ok]
        per_repeat.append({**dist(lat), "timeouts": len(samples) - len(ok),
                           "unexpected_value": wrong,
                           "ms": [round(x) for x in lat]})
        for s in ok:
            for name, value in stages(s, updates, walls.trace, versions).items():
                cut[name].append(value)
    carriers = cut.pop("carrier_live", [])
    return {"p50_ms": med([r["p50"] for r in per_repeat]),
            "p95_ms": med([r["p95"] for r in per_repeat]),
            "pooled": dist(pooled), "to_next_frame": dist(frames),
            "stages_ms": {k: dist(v) for k, v in cut.items()},
            "shown_by": {"live_event": sum(carriers),
                         "version_event": len(carriers) - sum(carriers),
                         "callback_or_unknown": len(pooled) - len(carriers)},
            "repeats": per_repeat}


def cpu_window(walls: Walls, stack: Stack, versions: Versions, seconds: float,
               pyspy: bool) -> dict:
    """CPU of every part over ``seconds`` with the feed on."""
    counted0 = time.monotonic()
    counts0 = walls.counters()
    counted0 = (counted0 + time.monotonic()) / 2
    cpu0, v0 = stack.cpu(), len(versions.seen)
    streams0, asked0 = walls.stream_stats(), ms()
    psutil.cpu_percent()
    spies = []
    if pyspy and PYSPY is None:
        print("    py-spy not found: no samples of the web workers", flush=True)
    if pyspy and PYSPY:
        for worker in stack.workers():
            out = stack.workdir / f"pyspy-{worker.pid}.txt"
            spies.append((out, subprocess.Popen(
                [PYSPY, "record", "--pid",
                 str(worker.pid), "--duration", str(int(seconds)), "--rate", "50",
                 "--format", "raw", "--nonblocking", "--output", str(out)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)))
    start = time.monotonic()
    time.sleep(seconds)
    cpu1, elapsed, v1 = stack.cpu(), time.monotonic() - start, len(versions.seen)
    system = psutil.cpu_percent()
    counted1 = time.monotonic()
    counts1 = walls.counters()
    counted = (counted1 + time.monotonic()) / 2 - counted0
    streams1, asked1 = walls.stream_stats(), ms()
    for _, spy in spies:
        spy.wait(30)
    connections = []  # open connections per worker: each event stream holds a thread
    for worker in stack.workers():
        try:
            connections.append(sum(
                1 for c in worker.net_connections(kind="tcp")
                if c.status == psutil.CONN_ESTABLISHED and c.laddr.port == stack.port))
        except psutil.Error:
            pass
    stack.check()
    used = cpu_delta(cpu0, cpu1)
    per_min = {g: round(s * 60 / elapsed, 2) for g, s in used.items()}
    updates = sum(b[1] - a[1] for a, b in zip(counts0, counts1, strict=False))
    events = [b[0] - a[0] for a, b in zip(counts0, counts1, strict=False)]
    return {"cpu_s_per_min": per_min, "elapsed_s": round(elapsed, 1),
            "versions_published_per_min": round((v1 - v0) * 60 / elapsed, 1),
            "update_callbacks_per_min": round(updates * 60 / counted, 1),
            "web_cpu_ms_per_callback": round(
                used.get("web", 0) * 1000 / (updates * elapsed / counted), 2)
            if updates else None,
            "sse_versions_per_wall_per_min": round(
                statistics.median(events) * 60 / counted, 1),
            "walls_connected": sum(1 for c in counts1 if c[2] == 1),
            "web_worker_connections": connections,
            "walls_without_versions": sum(1 for e in events if e == 0),
            "system_cpu_percent": system,
            "measured_wall_requests_per_min": {
                kind: round(n * 60 / elapsed, 2) for kind, n in Counter(
                    kind for t, kind in walls.trace.requests
                    if asked0 <= t <= asked1).items()},
            **streams_window(streams0, streams1, (asked1 - asked0) / 1000),
            "pyspy": [str(out) for out, _ in spies]}


def streams_window(before: dict | None, after: dict | None,
                   seconds: float) -> dict:
    """What the simulated walls did in a window, per wall and minute."""
    if not after or not after["walls"]:
        return {}
    per = lambda a, b: {k: round((v - a.get(k, 0)) * 60 / seconds  # noqa: E731
                                 / after["walls"], 2)
                        for k, v in b.items() if v != a.get(k, 0)}
    events = per(before["events"], after["events"])
    sizes = {k: round((v - before["event_bytes"].get(k, 0))
                      / max(1, after["events"][k] - before["events"].get(k, 0)))
             for k, v in after["event_bytes"].items()
             if after["events"][k] != before["events"].get(k, 0)}
    return {"other_walls_requests_per_wall_per_min": per(before["requests"],
                                                         after["requests"]),
            "other_walls_events_per_wall_per_min": events,
            "other_walls_event_bytes_mean": sizes,
            "other_walls_stream_bytes_per_wall_per_min": round(
                (after["stream_wire_bytes"] - before["stream_wire_bytes"]) * 60
                / seconds / after["walls"]),
            "other_walls_reconnects": after["reconnects"] - before["reconnects"],
            "other_walls_update_errors": after["update_errors"]
            - before["update_errors"]}


def bytes_summary(walls: Walls, since: float) -> dict:
    updates = [u for u in walls.trace.bodies() if u["sent"] >= since]
    first_sent = min((u["sent"] for u in walls.trace.bodies()), default=None)
    steady = [u for u in updates if u["sent"] != first_sent]
    events = [e for e in walls.trace.sse if e["kind"] == "version" and e["t"] >= since]
    carried: dict[str, list[int]] = defaultdict(list)
    changes = [e for e in events if "wall" in e["data"]]
    for e in changes:
        for name, size in e["data"]["wall"]["props"].items():
            carried[name].append(size)
    outputs: dict[str, list[int]] = defaultdict(list)
    for u in steady:
        for name, size in u["outputs"].items():
            outputs[name].append(size)
    return {
        "update_response_body": med([u["body_bytes"] for u in steady]),
        "update_response_wire": med([u["wire_bytes"] for u in steady]),
        "update_request_body": med([u["request_bytes"] for u in steady]),
        "update_response_body_p95": pct([u["body_bytes"] for u in steady], 0.95),
        "sse_version_event": med([e["bytes"] for e in events]),
        "sse_version_event_p95": pct([e["bytes"] for e in events], 0.95),
        "sse_live_event": med([e["bytes"] for e in walls.trace.sse
                               if e["kind"] == "live" and e["t"] >= since]),
        "sse_spot_event": med([e["bytes"] for e in walls.trace.sse
                               if e["kind"] == "spot" and e["t"] >= since]),
        "sse_spot_events": sum(1 for e in walls.trace.sse
                               if e["kind"] == "spot" and e["t"] >= since),
        "sse_events_with_wall_change": len(changes),
        "sse_wall_change_not_following": sum(
            1 for e in changes if e["data"]["wall"]["base"] is None),
        "sse_props_median_bytes_when_sent": {
            k: {"median": med(v), "share_of_events": round(len(v) / len(changes), 2)}
            for k, v in sorted(carried.items())} if changes else {},
        "sse_chunk_wire": med(walls.trace.sse_chunks),
        "updates": len(steady), "sse_versions": len(events),
        "full_figure_resends": sum(1 for u in steady if u.get("full")),
        "outputs_median_bytes_when_sent": {
            k: {"median": med(v), "share_of_updates": round(len(v) / len(steady), 2)}
            for k, v in sorted(outputs.items())} if steady else {},
    }


def timings_summary(stack: Stack, since: float, until: float) -> dict:
    rows = defaultdict(list)
    for path in stack.workdir.glob("timings.*"):
        for line in path.read_text().splitlines():
            kind, start, wall, cpu, size = line.split()
            if since <= float(start) <= until:
                rows[kind].append((float(wall), float(cpu), int(size)))
    return {k: {"ms": dist([r[0] for r in v]),
                "thread_cpu_ms": dist([r[1] for r in v]),
                "response_bytes_median": med([r[2] for r in v])}
            for k, v in rows.items()}


def pyspy_summary(paths: list[str], top: int = 25) -> dict:
    """Share of samples in which each function is on the stack (inclusive)."""
    inclusive, leaf, total = Counter(), Counter(), 0
    for path in paths:
        if not Path(path).exists():
            continue
        for line in Path(path).read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            frames = [f.split(" (")[0] + " (" + f.split(" (")[-1].split(":")[0] + ")"
                      for f in stack.split(";")]
            total += int(count)
            for frame in set(frames):
                inclusive[frame] += int(count)
            leaf[frames[-1]] += int(count)
    share = lambda c: {k: round(v / total, 3) for k, v in c.most_common(top)}  # noqa: E731
    return {"samples": total, "inclusive": share(inclusive), "leaf": share(leaf)}


def run_config(n: int, walls: Walls, stack: Stack, feed: Feed, versions: Versions,
               args: argparse.Namespace, quiet: str, spy: bool) -> dict:
    rng = random.Random(n)
    feed.on.clear()
    walls.grow(n)
    feed.on.set()
    time.sleep(10)  # every wall catches up and settles
    since = ms()
    windows, fed, idle, spots, load = [], [], [], [], defaultdict(list)
    for r in range(args.repeats):
        feed.on.set()
        waited = wait_quiet(stack, args.quiet_cores, args.patience)
        windows.append({**cpu_window(walls, stack, versions, args.window,
                                     spy and r == args.repeats - 1),
                        "waited_for_quiet_s": waited})
        print(f"  {n} walls, repeat {r + 1}: CPU s/min "
              f"{windows[-1]['cpu_s_per_min']}", flush=True)
        for name, block in (("feed", fed), ("idle", idle)):
            if name == "idle":
                feed.on.clear()
            waited = wait_quiet(stack, args.quiet_cores, args.patience)
            before, start = stack.cpu(), time.monotonic()
            block.append(latency_block(walls, stack, quiet, args.samples, rng))
            stack.check()
            used = cpu_delta(before, stack.cpu())
            elapsed = time.monotonic() - start
            load[name].append({"waited_for_quiet_s": waited, "cpu_s_per_min": {
                g: round(v * 60 / elapsed, 1) for g, v in used.items()}})
            ok = [s["dom"] - s["t0"] for s in block[-1] if not s.get("timeout")]
            print(f"  {n} walls, repeat {r + 1}, {name}: p50 {pct(ok, 0.5):.0f} ms, "
                  f"p95 {pct(ok, 0.95):.0f} ms", flush=True)
        feed.on.set()
        if args.spot_samples:
            wait_quiet(stack, args.quiet_cores, args.patience)
            grid, category = args.spot_target
            spots.append(spot_block(walls, stack, args.spot_samples, grid, category,
                                    args.interrupt_seconds, rng, f"{n}-{r}"))
            stack.check()
            ok = [s["dom"] - s["t0"] for s in spots[-1] if not s.get("timeout")]
            print(f"  {n} walls, repeat {r + 1}, urgent → spotlight: p50 "
                  f"{pct(ok, 0.5) or 0:.0f} ms, p95 {pct(ok, 0.95) or 0:.0f} ms, "
                  f"timeouts {len(spots[-1]) - len(ok)}", flush=True)
    feed.on.set()
    until = ms()
    latency = {name: {**latency_summary(blocks, walls, versions),
                      "cpu_during_blocks": load[name]}
               for name, blocks in (("feed", fed), ("idle", idle))}
    if spots:
        latency["urgent_to_spotlight"] = spot_summary(spots, walls, versions)
    web = [w["cpu_s_per_min"].get("web", 0.0) for w in windows]
    result = {"walls": walls.count, "measured": time.strftime("%Y-%m-%d %H:%M"),
              "load_average": [round(x, 2) for x in os.getloadavg()],
              "latency": latency,
              "cpu": {"web_s_per_min": med(web), "repeats": windows},
              "bytes": bytes_summary(walls, since)}
    if args.profile:
        result["callback_handler"] = timings_summary(stack, since, until)
        shapes = result["callback_handler"].get("fn:shape", {}).get("ms", {})
        published = sum(1 for t, _ in versions.seen if since <= t <= until)
        result["shape_calls_per_version"] = round(
            shapes.get("n", 0) / max(1, published), 2)
        paths = [p for w in windows for p in w["pyspy"]]
        if paths:
            result["pyspy_web_workers"] = pyspy_summary(paths)
    return result
