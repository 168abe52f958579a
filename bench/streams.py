"""Idle event streams one web process holds, what each costs, and how fast
a version reaches them all.

For each worker kind (``--kinds gevent,gthread``) and each of ``--runs``
runs, on a fresh stack as in production (embedded redis-server, ``python
app.py aggregator``, one gunicorn web process: ``-k gevent
--worker-connections C`` or ``-k gthread --threads T``; ``bench.wall.server``):

1. ``--streams`` N wall streams (``/events/<site>?wall=zh``, a kiosk cookie,
   ``STREAMS_PER_KIOSK`` streams per token) are opened by asyncio clients in
   one process of their own (``bench/stream_clients.py``), ``BATCH`` at a
   time, until N or until a batch gets no ``hello`` within ``--patience`` s
   (the process holds no more). **Held**: streams that said hello and stay
   open.
2. **Memory**: the web process's RSS before the first stream and with all
   held ones open (after ``SETTLE_S``); per stream = the growth / held.
3. **Idle CPU**: the web process's CPU (user + system) over ``--idle`` s with
   the streams open and no feed: what idle walls cost (heartbeats every
   ``PING_S`` of quiet, the credentials re-checked every second for all the
   streams at once (``web/credentials.py``), the aggregator's heartbeat
   snapshots, the spotlight's turns).
4. **Delivery**: ``--versions`` crowd entries, one every ``--every`` s, each
   folded into a new snapshot version by the aggregator; this process sees
   each PUBLISH on the site's channel (``bench.wall.feed.Versions``) and each
   client notes when the first event carrying that version or a later one
   arrived. Latency = arrival − publish, over every (stream, version): p50,
   p95, max, and versions a held stream never got.

Figures per run, and the median of the runs per kind, printed and written to
``bench/results/streams-<kind>-<streams>.json``::

    .venv/bin/python bench/streams.py [--kinds gevent,gthread] [--streams 5000]
        [--runs 3] [--idle 30] [--versions 10] [--every 2] [--threads 32]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.stream_clients import Clients  # noqa: E402
from bench.wall.feed import Versions  # noqa: E402
from bench.wall.report import code_version  # noqa: E402
from bench.wall.server import ROOT, Stack, site_dir  # noqa: E402
from bench.wall.stats import dist, med, ms  # noqa: E402
from data import accounts  # noqa: E402
from data.keys import AuthKeys  # noqa: E402
from data.site_files import load_site  # noqa: E402
from web.hub import STREAMS_PER_KIOSK  # noqa: E402

RESULTS = ROOT / "bench" / "results"
SETTLE_S = 5.0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kinds", default="gevent,gthread")
    parser.add_argument("--streams", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--idle", type=float, default=30, help="CPU window, s")
    parser.add_argument("--versions", type=int, default=10)
    parser.add_argument("--every", type=float, default=2.0, help="s between")
    parser.add_argument("--patience", type=float, default=20,
                        help="s a batch of streams may wait for its hellos")
    parser.add_argument("--threads", type=int, default=32, help="gthread")
    parser.add_argument("--connections", type=int, default=10000, help="gevent")
    parser.add_argument("--site", default="yaozhai")
    parser.add_argument("--snapshot-ms", type=int, default=200)
    parser.add_argument("--output-dir", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    args.workers, args.profile = 1, False  # one web process, as measured
    return args


def web_process(stack: Stack) -> psutil.Process:
    (worker,) = stack.workers()
    return worker


def cpu_s(proc: psutil.Process) -> float:
    times = proc.cpu_times()
    return times.user + times.system


def deliveries(arrivals: list[list[tuple[int, float]]],
               published: list[tuple[float, int]]) -> tuple[list[float], int]:
    """(latency ms of every (stream, version), versions a stream never got)."""
    latencies, missed = [], 0
    for events in arrivals:
        for at, version in published:
            got = next((t for v, t in events if v >= version and t >= at - 1), None)
            if got is None:
                missed += 1
            else:
                latencies.append(got - at)
    return latencies, missed


def one_run(args: argparse.Namespace, kind: str, workdir: Path) -> dict:
    args.worker = kind
    stack = Stack(args, workdir)
    clients = None
    try:
        entrance = next(iter(load_site(site_dir(args.site)).entrances))
        keys = AuthKeys("bench")
        tokens = [accounts.add_kiosk_token(stack.client, keys, args.site,
                                           f"bench {i}")[1]
                  for i in range(-(-args.streams // STREAMS_PER_KIOSK))]
        web = web_process(stack)
        time.sleep(SETTLE_S)
        rss_before = web.memory_info().rss
        url = urlsplit(stack.url)
        clients = Clients(url.hostname, url.port, args.site)
        opened = clients.ask("open", [tokens[i // STREAMS_PER_KIOSK]
                                      for i in range(args.streams)], args.patience)
        time.sleep(SETTLE_S)
        held, rss_held = opened["held"], web.memory_info().rss
        print(f"  {kind}: {held} of {args.streams} streams held "
              f"({opened['seconds']} s; {opened['errors']})", flush=True)

        cpu0, t0 = cpu_s(web), time.monotonic()
        time.sleep(args.idle)
        idle_cores = (cpu_s(web) - cpu0) / (time.monotonic() - t0)

        versions = Versions(stack.redis.url, stack.keys)
        versions.start()
        time.sleep(1)
        client_proc = psutil.Process(clients.pid)
        counts_before = clients.ask("counts")
        cpu_web, cpu_clients = cpu_s(web), cpu_s(client_proc)
        start = ms()
        for n in range(args.versions):
            stack.client.xadd(stack.keys.stream("crowd"), {
                "v": "1", "src": "bench-streams", "entrance": entrance,
                "ts": str(int(ms())), "in": "1", "out": "0", "eid": f"s{n}"})
            time.sleep(args.every)
        time.sleep(3)
        window_s = (ms() - start) / 1000
        cpu_web, cpu_clients = cpu_s(web) - cpu_web, cpu_s(client_proc) - cpu_clients
        counts = clients.ask("counts")
        published = [(at, v) for at, v in versions.seen if at >= start]
        versions.stopped.set()
        latencies, missed = deliveries(clients.ask("arrivals"), published)
        return {"streams_asked": args.streams, "streams_held": held,
                "open": opened, "rss_mb_before": round(rss_before / 2**20, 1),
                "rss_mb_held": round(rss_held / 2**20, 1),
                "rss_kb_per_stream": round((rss_held - rss_before) / 1024 / held, 1)
                if held else None,
                "idle_cpu_cores": round(idle_cores, 4),
                "idle_cpu_ms_per_stream_per_min": round(
                    idle_cores * 60_000 / held, 3) if held else None,
                "versions_published": len(published),
                # what the clients got while the entries went in, per held stream
                "events_per_stream": {k: round((n - counts_before.get(k, 0)) / held, 2)
                                      for k, n in counts.items()} if held else None,
                "delivery_cpu_s": {"web": round(cpu_web, 2),
                                   "clients": round(cpu_clients, 2),
                                   "window_s": round(window_s, 1)},
                "delivery_ms": dist(latencies), "deliveries_missed": missed}
    finally:
        if clients is not None:
            clients.close()
        stack.stop()


def summary(runs: list[dict]) -> dict:
    pick = lambda *path: [_get(r, path) for r in runs]  # noqa: E731
    return {"streams_held": med(pick("streams_held")),
            "rss_kb_per_stream": med(pick("rss_kb_per_stream")),
            "rss_mb_held": med(pick("rss_mb_held")),
            "idle_cpu_cores": med(pick("idle_cpu_cores")),
            "delivery_p50_ms": med(pick("delivery_ms", "p50")),
            "delivery_p95_ms": med(pick("delivery_ms", "p95")),
            "deliveries_missed": med(pick("deliveries_missed"))}


def _get(run: dict, path: tuple) -> float | None:
    for key in path:
        run = run.get(key) if isinstance(run, dict) else None
    return run


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    for kind in args.kinds.split(","):
        runs = []
        for n in range(args.runs):
            print(f"{kind}, run {n + 1} of {args.runs}", flush=True)
            with tempfile.TemporaryDirectory(prefix="bench-streams-") as tmp:
                runs.append(one_run(args, kind, Path(tmp)))
            print("  " + json.dumps({k: runs[-1][k] for k in (
                "streams_held", "rss_kb_per_stream", "idle_cpu_cores",
                "delivery_ms", "deliveries_missed", "events_per_stream",
                "delivery_cpu_s")}), flush=True)
        out = {"kind": kind, "config": {
                   k: v for k, v in vars(args).items() if k != "output_dir"}
               | {"web": ["-k gevent --worker-connections " + str(args.connections)
                          if kind == "gevent" else f"-k gthread --threads "
                          f"{args.threads}", "-w 1"]},
               "code": code_version(), "load_average": psutil.getloadavg(),
               "median": summary(runs), "runs": runs}
        args.output_dir.mkdir(parents=True, exist_ok=True)
        path = args.output_dir / f"streams-{kind}-{args.streams}.json"
        path.write_text(json.dumps(out, indent=1, default=str) + "\n")
        print(f"{kind}: median of {len(runs)} runs {json.dumps(out['median'])}"
              f"\n  -> {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
