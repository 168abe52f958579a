"""The parts of the wall benchmark, each in its own process as in production.

An embedded redis-server (``data.redis_conn.EmbeddedRedis``), ``python app.py
aggregator`` and the web tier under ``gunicorn -k gthread ... app:server``
(GOV_DEMO=0), served through :func:`web_server`; their CPU, per part, read
with psutil.
"""

from __future__ import annotations

import argparse
import io
import os
import secrets
import subprocess
import sys
import threading
import time
import urllib.request
from collections import defaultdict
from pathlib import Path

import psutil

from bench.wall.stats import ms
from data.keys import Keys
from data.redis_conn import EmbeddedRedis, connect, free_port

ROOT = Path(__file__).resolve().parents[2]
PREFIX = "bench"


def site_dir(name: str) -> Path:
    if name == "tiny":
        return ROOT / "tests" / "fixtures" / "sites" / "tiny"
    return ROOT / "data" / "sites" / name


def web_server(timed: bool = False):
    """gunicorn entry: ``app:server`` (``web.factory`` has done Dash's
    first-request set-up already: plotly/dash#3971). ``timed``
    (``--profile``) appends ``kind start_ms ms thread_cpu_ms bytes`` to
    ``$BENCH_TIMINGS.<pid>`` for each ``_dash-update-component`` request and
    each call of the wall callback's parts (``fn:shape``, ``fn:latest``, …:
    functions of ``callbacks/wall.py`` are looked up at call time, so wrapping
    them here times every call).
    """
    import app

    server = app.server
    if not timed:
        return server
    inner = server.wsgi_app
    log = open(f"{os.environ['BENCH_TIMINGS']}.{os.getpid()}", "a", buffering=1)
    lock = threading.Lock()

    def timed_call(name, fn):
        def call(*args, **kwargs):
            start, wall0, cpu0 = ms(), time.perf_counter(), time.thread_time()
            try:
                return fn(*args, **kwargs)
            finally:
                line = (f"fn:{name} {start:.1f} "
                        f"{(time.perf_counter() - wall0) * 1000:.2f} "
                        f"{(time.thread_time() - cpu0) * 1000:.2f} 0\n")
                with lock:
                    log.write(line)
        return call

    from callbacks import wall
    from web import wall_push as wall_live

    wall_live.shape = timed_call("shape", wall_live.shape)
    for name in ("update_wall", "update_spotlight"):
        setattr(wall, name, timed_call(name, getattr(wall, name)))
    for name in ("latest", "parts", "event"):
        setattr(wall_live.WallData, name,
                timed_call(name, getattr(wall_live.WallData, name)))

    def wsgi(environ, start_response):
        if not environ.get("PATH_INFO", "").endswith("_dash-update-component"):
            return inner(environ, start_response)
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        environ["wsgi.input"] = io.BytesIO(body)
        kind = ("wall" if b"wall-applied" in body else
                "spotlight" if b"wall-spotlight" in body else "other")
        start, wall0, cpu0 = ms(), time.perf_counter(), time.thread_time()
        result = inner(environ, start_response)
        try:
            out = b"".join(result)
        finally:
            getattr(result, "close", lambda: None)()
        line = (f"{kind} {start:.1f} {(time.perf_counter() - wall0) * 1000:.2f} "
                f"{(time.thread_time() - cpu0) * 1000:.2f} {len(out)}\n")
        with lock:
            log.write(line)
        return [out]

    server.wsgi_app = wsgi
    return server


class Stack:
    """Embedded redis-server, aggregator process, gunicorn web tier
    (``gthread``, or ``gevent`` when ``args.worker`` says so)."""

    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.workdir = workdir
        self.redis = EmbeddedRedis(workdir / "redis", persist=False).start()
        self.port = free_port()
        self.timings = workdir / "timings"
        env = {**os.environ, "REDIS_URL": self.redis.url, "GOV_PREFIX": PREFIX,
               "GOV_SITES": args.site, "GOV_SITES_DIR": str(site_dir(args.site).parent),
               "GOV_DEMO": "0", "GOV_DATA_DIR": str(workdir),
               "GOV_SNAPSHOT_MS": str(args.snapshot_ms),
               "GOV_WALL_INTERRUPT_SECONDS": str(getattr(args, "interrupt_seconds",
                                                         60)),
               "GOV_SECRET_KEY": secrets.token_hex(16),  # one key for all workers
               "BENCH_TIMINGS": str(self.timings)}
        log = open(workdir / "processes.log", "ab")
        spawn = lambda cmd: subprocess.Popen(  # noqa: E731
            cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True)
        self.aggregator = spawn([sys.executable, "app.py", "aggregator"])
        target = f"bench.wall.server:web_server(timed={args.profile})"
        worker = (["-k", "gevent", "--worker-connections", str(args.connections)]
                  if getattr(args, "worker", "gthread") == "gevent"
                  else ["-k", "gthread", "--threads", str(args.threads)])
        self.web_command = ["gunicorn", *worker, "-w", str(args.workers), "-b",
                            f"127.0.0.1:{self.port}", "--graceful-timeout", "3",
                            target]
        self.web = spawn([str(Path(sys.executable).parent / "gunicorn"),
                          *self.web_command[1:]])
        self.client = connect(self.redis.url)
        self.keys = Keys(PREFIX, args.site)
        self.stream_walls: int | None = None  # the other walls' process
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/api/v1/health", timeout=5):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"web tier down; see {log.name}") from None
                time.sleep(0.5)

    def check(self) -> None:
        """Raises if the web tier or the aggregator has gone (on a shared
        machine, killed from outside: figures after it would be nonsense)."""
        for name, proc in (("web tier", self.web), ("aggregator", self.aggregator)):
            if proc.poll() is not None:
                raise RuntimeError(f"the {name} exited ({proc.returncode}); see "
                                   f"{self.workdir / 'processes.log'}")

    def workers(self) -> list[psutil.Process]:
        return psutil.Process(self.web.pid).children(recursive=True)

    def cpu(self) -> dict[str, dict[int, float]]:
        """CPU seconds (user + system) per process, grouped by part."""
        me = psutil.Process()
        web = {self.web.pid} | {p.pid for p in self.workers()}
        groups: dict[str, dict[int, float]] = defaultdict(dict)
        for proc in [me, *me.children(recursive=True)]:
            try:
                times, name = proc.cpu_times(), proc.name()
            except psutil.Error:
                continue
            group = ("bench" if proc.pid == me.pid else "web" if proc.pid in web
                     else "aggregator" if proc.pid == self.aggregator.pid
                     else "redis" if self.redis.process
                     and proc.pid == self.redis.process.pid
                     else "py-spy" if name == "py-spy"
                     else "other_walls_streams" if proc.pid == self.stream_walls
                     else "browser_measured_wall")
            groups[group][proc.pid] = times.user + times.system
        machine = psutil.cpu_times()
        groups["machine"][0] = sum(machine) - machine.idle - machine.iowait
        return groups

    def stop(self) -> None:
        for proc in (self.web, self.aggregator):
            proc.terminate()
        for proc in (self.web, self.aggregator):
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
        self.redis.stop()


def cpu_delta(before: dict, after: dict) -> dict[str, float]:
    """CPU seconds used per part in between; ``others``: processes not ours."""
    used = {g: round(sum(t - before.get(g, {}).get(pid, 0.0)
                         for pid, t in pids.items()), 3)
            for g, pids in after.items()}
    used["others"] = round(used.pop("machine") - sum(used.values()), 3)
    return used


def wait_quiet(stack: Stack, cores: float, patience: float = 900) -> float:
    """Wait until processes not ours use under ``cores`` for 5 s; seconds waited."""
    start = time.monotonic()
    while True:
        before = stack.cpu()
        time.sleep(5)
        others = cpu_delta(before, stack.cpu())["others"] / 5
        waited = time.monotonic() - start
        if others < cores or waited > patience:
            return round(waited, 1)
        print(f"    other processes use {others:.2f} cores; waiting", flush=True)
