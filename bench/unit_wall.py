"""The walls of the chain (issue 12 item 5), measured on a generated city.

One process runs what ``python app.py`` runs — the embedded redis-server,
one aggregator folding every site, the web app (werkzeug, threads) — and
holds two walls' event streams open, as a browser would after the kiosk
token: a district's (``/events/unit/<district>?wall=zh``) and the city's.
Then, ``--reports`` times, one report in a community of that district drawn
at random, and the time from its XADD until each wall's stream carried the
new ``incidents_open`` (the pushed change a wall applies), p50/p95; and
the size in bytes of each ``version`` event the city's wall got meanwhile
(what one update costs a wall on the wire).

``--feed N``: meanwhile a simulator process (``python app.py simulator
--total-rate N``) writes every site's feed at N entries a second, so the
report goes through a busy aggregator and every roll-up moves the city's
people present. ``--extra-walls K``: then the web tier's CPU per unit wall —
the CPU of the threads that serve (the push hub and the request threads,
read from /proc per thread) over ``--window`` seconds with the two walls
held, and again with K more of the city's walls held; the difference over K.

Prints the figures and writes ``bench/results/unit_wall.json`` (or
``--output``)::

    .venv/bin/python bench/unit_wall.py [--sites 1000] [--reports 40]
        [--feed 5000] [--extra-walls 50]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from werkzeug.serving import make_server  # noqa: E402

from data import accounts  # noqa: E402
from data.city.write import generate_city  # noqa: E402
from data.clock import now_ms  # noqa: E402
from data.config import load_config  # noqa: E402
from data.feed.aggregator import Aggregator  # noqa: E402
from data.keys import AuthKeys, Keys, UnitKeys  # noqa: E402
from data.redis_conn import EmbeddedRedis, connect, free_port  # noqa: E402
from data.site_files import load_sites  # noqa: E402
from web.factory import create_app  # noqa: E402

PREFIX = "bench"
OPEN = '{"type":"uw-kpi","name":"incidents_open"}'


class Wall(threading.Thread):
    """One wall's event stream: the newest ``incidents_open`` it carried,
    when, and the size of every version event."""

    def __init__(self, port: int, cookie: str, unit: str) -> None:
        super().__init__(daemon=True)
        self.port, self.cookie, self.unit = port, cookie, unit
        self.open: int | None = None
        self.sizes: list[int] = []
        self.moved = threading.Condition()

    def run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        conn.request("GET", f"/events/unit/{self.unit}?wall=zh",
                     headers={"Cookie": self.cookie})
        response = conn.getresponse()
        assert response.status == 200, response.status
        buffer = b""
        while True:
            chunk = response.read1(65536)
            if not chunk:
                return
            buffer += chunk
            while b"\n\n" in buffer:
                event, buffer = buffer.split(b"\n\n", 1)
                self._event(event)

    def _event(self, raw: bytes) -> None:
        lines = raw.decode().split("\n")
        kind = next((x[7:] for x in lines if x.startswith("event: ")), None)
        data = next((x[6:] for x in lines if x.startswith("data: ")), None)
        if kind not in ("hello", "version") or data is None:
            return
        if kind == "version":
            self.sizes.append(len(raw) + 2)
        wall = json.loads(data).get("wall") or {}
        for cid, props in wall.get("props", []):
            if json.dumps(cid, separators=(",", ":")) == OPEN:
                with self.moved:
                    self.open = int(props["children"].replace(",", ""))
                    self.moved.notify_all()

    def wait_for(self, value: int, timeout: float = 10.0) -> float:
        """perf_counter when ``incidents_open`` reached ``value``."""
        with self.moved:
            if not self.moved.wait_for(lambda: (self.open or 0) >= value, timeout):
                raise SystemExit(f"the wall of {self.unit} did not move in "
                                 f"{timeout} s")
            return time.perf_counter()


def _folded(r, sites: dict) -> int:
    """Entries folded so far over every site (the aggregator's counters)."""
    pipe = r.pipeline(transaction=False)
    for name in sites:
        pipe.hmget(Keys(PREFIX, name).stats, "folded:crowd", "folded:traffic",
                   "folded:incident")
    return sum(int(v or 0) for row in pipe.execute() for v in row)


def kiosk_cookie(port: int, r, unit: str) -> str:
    token = accounts.add_kiosk_token(r, AuthKeys(PREFIX), "", "bench", unit=unit)[1]
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", f"/wall?kiosk={token}")
    answer = conn.getresponse()
    answer.read()
    assert answer.status == 302, answer.status
    return answer.getheader("Set-Cookie").split(";")[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sites", type=int, default=200)
    parser.add_argument("--reports", type=int, default=40)
    parser.add_argument("--settle", type=float, default=15.0,
                        help="seconds of quiet before the first report")
    parser.add_argument("--feed", type=float, default=0.0, metavar="ENTRIES_PER_S",
                        help="a simulator writing the city's feed meanwhile")
    parser.add_argument("--extra-walls", type=int, default=0,
                        help="measure the web CPU per wall with this many more")
    parser.add_argument("--window", type=float, default=60.0,
                        help="seconds of each CPU measurement")
    parser.add_argument("--output", type=Path,
                        default=ROOT / "bench" / "results" / "unit_wall.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "city"
        generate_city(folder, args.sites, seed=1)
        names = sorted(p.name for p in folder.iterdir() if p.is_dir())
        sites = load_sites(folder, names, Path(tmp) / "cache")
        server = EmbeddedRedis(Path(tmp) / "redis", persist=False).start()
        try:
            out = run(server.url, folder, sites, Path(tmp), args)
        finally:
            server.stop()
    out.update(sites=args.sites, feed_entries_per_s=args.feed,
               machine=platform.platform(), cpus=os.cpu_count())
    print(json.dumps(out, indent=2))
    args.output.write_text(json.dumps(out, indent=2) + "\n")


def simulator(url: str, folder: Path, tmp: Path, rate: float) -> subprocess.Popen:
    env = {**os.environ, "REDIS_URL": url, "GOV_PREFIX": PREFIX, "GOV_DEMO": "0",
           "GOV_SITES_DIR": str(folder), "GOV_DATA_DIR": str(tmp / "sim"),
           "PYTHONPATH": str(ROOT)}
    env.pop("GOV_SITES", None)
    return subprocess.Popen([sys.executable, "app.py", "simulator",
                             "--total-rate", f"{rate:g}"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            stdin=subprocess.DEVNULL)


def serving_cpu() -> float:
    """CPU seconds so far of this process's threads that serve the web (the
    push hubs and werkzeug's request threads), from /proc per thread."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for thread in threading.enumerate():
        if not (thread.name.startswith("push-hub")
                or "process_request_thread" in thread.name):
            continue
        try:
            stat = Path(f"/proc/self/task/{thread.native_id}/stat").read_text()
        except OSError:
            continue  # ended meanwhile
        fields = stat.rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / tick


def cpu_per_wall(port: int, cookie: str, unit: str, extra: int,
                 window: float) -> dict:
    """The serving threads' CPU over ``window`` s with the walls held now,
    then with ``extra`` more walls of ``unit``; per extra wall and minute."""
    before = serving_cpu()
    time.sleep(window)
    base = serving_cpu() - before
    more = [Wall(port, cookie, unit) for _ in range(extra)]
    for wall in more:
        wall.start()
    time.sleep(5)  # connected, hello sent
    before = serving_cpu()
    time.sleep(window)
    loaded = serving_cpu() - before
    return {"window_s": window, "walls_before": 2, "walls_added": extra,
            "serving_cpu_s_before": round(base, 2),
            "serving_cpu_s_after": round(loaded, 2),
            "cpu_s_per_wall_minute": round((loaded - base) / extra * 60 / window, 4),
            "walls_heard": sum(1 for w in more if w.sizes)}


class RollupClock:
    """The aggregator thread's CPU inside the roll-up (its two entry points,
    :meth:`Rollup.after_publish` and :meth:`Rollup.flush`), by
    ``time.thread_time``: what the chain above the sites costs the fold."""

    def __init__(self, rollup) -> None:
        self.cpu_s, self.steps = 0.0, 0
        for name in ("after_publish", "flush"):
            setattr(rollup, name, self._timed(getattr(rollup, name)))

    def _timed(self, method):
        def timed(*args, **kwargs):
            started = time.thread_time()
            try:
                return method(*args, **kwargs)
            finally:
                self.cpu_s += time.thread_time() - started
                self.steps += method.__name__ == "after_publish"
        return timed


def run(url: str, folder: Path, sites: dict, tmp: Path, args) -> dict:
    reports, settle = args.reports, args.settle
    r = connect(url)
    agg = Aggregator(connect(url, decode=False), sites, PREFIX, consumer="bench")
    rollup_clock = RollupClock(agg.rollup)
    agg.setup()
    folding = threading.Thread(target=agg.run, daemon=True)
    folding.start()
    config = load_config({"REDIS_URL": url, "GOV_PREFIX": PREFIX, "GOV_DEMO": "0",
                          "GOV_SITES_DIR": str(folder), "GOV_DATA_DIR": str(tmp)})
    app = create_app(config, sites=sites)
    port = free_port()
    http_server = make_server("127.0.0.1", port, app.server, threaded=True)
    threading.Thread(target=http_server.serve_forever, daemon=True).start()
    tree = agg.rollup.tree
    city = tree.root
    district = tree[city].children[0]
    under = sorted(n.site for _, n in tree.walk(district) if n.site)
    deadline = time.monotonic() + 180
    while len(agg.rollup.counted) < len(sites) and time.monotonic() < deadline:
        time.sleep(0.2)
    cookie = kiosk_cookie(port, r, city)
    walls = {u: Wall(port, cookie, u) for u in (district, city)}
    for wall in walls.values():
        wall.start()
    feed = simulator(url, folder, tmp, args.feed) if args.feed else None
    time.sleep(settle)  # every site's first snapshots built (and the feed going)
    clocked = (rollup_clock.cpu_s, rollup_clock.steps, time.monotonic())
    folded_before = _folded(r, sites)
    rng = random.Random(1)
    took: dict[str, list[float]] = {u: [] for u in walls}
    rolled: list[float] = []
    try:
        for _ in range(reports):
            site = sites[rng.choice(under)]
            want = {u: (w.open or 0) + 1 for u, w in walls.items()}
            started = time.perf_counter()
            r.xadd(Keys(PREFIX, site.id).stream("incident"), {
                "v": "1", "src": "bench", "op": "report", "id": str(uuid.uuid4()),
                "ts": str(now_ms()), "category": "sanitation", "level": "2",
                "title": "测试", "grid": next(iter(site.grids))})
            figure_at = None
            while figure_at is None:  # the city's figures in Redis (the roll-up)
                if int(r.hget(UnitKeys(PREFIX, city).figures, "incidents_open")
                       or 0) >= want[city]:
                    figure_at = time.perf_counter()
                elif time.perf_counter() - started > 30:
                    raise SystemExit("the city's figures did not move in 30 s")
                else:
                    time.sleep(0.002)
            for unit, wall in walls.items():
                took[unit].append((wall.wait_for(want[unit], 30) - started) * 1000)
            rolled.append((figure_at - started) * 1000)
            time.sleep(0.3)
        per_wall = (cpu_per_wall(port, cookie, city, args.extra_walls, args.window)
                    if args.extra_walls else None)
        rounds = agg.vitals
        spent = rollup_clock.cpu_s - clocked[0]
        steps = rollup_clock.steps - clocked[1]
        seconds = time.monotonic() - clocked[2]
        folded = _folded(r, sites) - folded_before
    finally:
        if feed is not None:
            feed.terminate()
            feed.wait(30)
        agg.stop()
        http_server.shutdown()

    def pct(values: list[float], q: int) -> float:
        return round(statistics.quantiles(values, n=100)[q - 1], 1)

    sizes = walls[city].sizes
    return {
        "district": district, "district_sites": len(under),
        "city_children": len(tree[city].children),
        "report_to_district_wall_ms": {"p50": pct(took[district], 50),
                                       "p95": pct(took[district], 95),
                                       "n": len(took[district])},
        "report_to_city_wall_ms": {"p50": pct(took[city], 50),
                                   "p95": pct(took[city], 95),
                                   "n": len(took[city])},
        "report_to_city_figures_ms": {"p50": pct(rolled, 50),
                                      "p95": pct(rolled, 95)},
        "city_figures_to_wall_ms": {
            "p50": pct([w - f for w, f in zip(took[city], rolled, strict=True)], 50),
            "p95": pct([w - f for w, f in zip(took[city], rolled, strict=True)], 95)},
        "load_average_1m": round(os.getloadavg()[0], 1),
        "web_cpu_per_city_wall": per_wall,
        "rollup": {"seconds": round(seconds, 1), "cpu_s": round(spent, 2),
                   "steps": steps, "entries_folded": folded,
                   "entries_per_s": round(folded / seconds),
                   "cpu_ms_per_step": round(1000 * spent / max(1, steps), 3),
                   "cpu_s_per_s_per_1000_entries_per_s": round(
                       spent / seconds / max(1e-9, folded / seconds / 1000), 4)
                   if folded else None},
        "aggregator_last_round_ms": round(rounds.last_round_s * 1000, 1),
        "city_wall_update_bytes": {"median": statistics.median(sizes),
                                   "p95": pct(sizes, 95), "max": max(sizes),
                                   "n": len(sizes)},
    }


if __name__ == "__main__":
    main()
