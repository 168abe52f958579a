"""What one aggregator round costs per site of a busy city, in CPU and in
Redis commands — figures that hold on a shared machine, where wall-clock
ones do not.

One aggregator process over ``--sites`` sites of ``/tmp``-generated city
folder (or ``--city``), on one Redis (the embedded redis-server, or
``REDIS_URL``). Each round, every site's simulator model writes what its
sensors report in ``--round-s`` seconds at a city rate of ``--per-site``
entries a second per site (the XADDs are not counted), then the aggregator
takes one step: what it folds, publishes, announces and rolls up. Measured
over ``--rounds`` rounds after ``--warmup``: the aggregator's CPU
(``time.process_time`` around the step) per site-round and per entry, and
the commands Redis ran for it (``INFO commandstats``, the XADDs taken out)
per site-round, by command; and the commands the aggregator handed redis-py
and the round trips they took, per site-round (the client's share of the work,
which does not move with a shared machine's speed as CPU times do).

Prints the figures and writes ``bench/results/fold-round.json``::

    .venv/bin/python bench/fold_round.py [--sites 200] [--rounds 20]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import redis
import redis.client

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from data import redis_conn  # noqa: E402
from data.city.write import generate_city  # noqa: E402
from data.feed.aggregator import Aggregator  # noqa: E402
from data.keys import Keys  # noqa: E402
from data.redis_conn import EmbeddedRedis, connect  # noqa: E402
from data.sim.model import SiteSim  # noqa: E402
from data.site_files import load_sites  # noqa: E402
from web.runtime import settle  # noqa: E402

PREFIX = "bench"


class ClientCount:
    """The commands the aggregator hands redis-py (each packed, sent and its
    reply parsed in Python: on a slow machine some 10 µs of the client's
    CPU) and the round trips they take, while :attr:`on`. Figures that do
    not move with the machine's speed, as CPU times here do."""

    def __init__(self) -> None:
        self.on = False
        self.commands = self.trips = 0
        pipeline = redis.client.Pipeline._execute_pipeline
        single = redis.client.Redis._send_command_parse_response

        def execute_pipeline(pipe, connection, commands, raise_on_error):
            if self.on:
                self.commands += len(commands)
                self.trips += 1
            return pipeline(pipe, connection, commands, raise_on_error)

        def send_command(client, conn, command_name, *args, **options):
            if self.on:
                self.commands += 1
                self.trips += 1
            return single(client, conn, command_name, *args, **options)

        lean = redis_conn.send_all

        def send_all(client, commands):
            if self.on and commands:
                self.commands += len(commands)
                self.trips += 1
            return lean(client, commands)

        redis.client.Pipeline._execute_pipeline = execute_pipeline
        redis.client.Redis._send_command_parse_response = send_command
        redis_conn.send_all = send_all  # by_node's pipelines (data/redis_conn.py)


def commands(r) -> Counter:
    stats = r.info("commandstats")
    return Counter({name.removeprefix("cmdstat_"): int(v["calls"])
                    for name, v in stats.items()})


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sites", type=int, default=200)
    ap.add_argument("--city", type=Path, default=None,
                    help="a generated city's folder (default: generate one)")
    ap.add_argument("--per-site", type=float, default=20.0,
                    help="entries a second per site (20: 20,000/s over 1,000)")
    ap.add_argument("--round-s", type=float, default=1.0)
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--output", type=Path,
                    default=ROOT / "bench/results/fold-round.json")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        city = args.city
        if city is None:
            city = Path(tmp) / "city"
            generate_city(city, args.sites, seed=1)
        names = sorted(p.name for p in city.iterdir() if (p / "site.yaml").exists())
        sites = load_sites(city, names[:args.sites])
        server = EmbeddedRedis(Path(tmp) / "redis", persist=False).start()
        try:
            result = run(connect(server.url), connect(server.url, decode=False),
                         sites, args)
        finally:
            server.stop()
    result.update(when=time.strftime("%Y-%m-%dT%H:%M:%S"),
                  machine={"cpus": __import__("os").cpu_count(),
                           "python": platform.python_version(),
                           "load_average": __import__("os").getloadavg()},
                  args={k: str(v) for k, v in vars(args).items()})
    print(json.dumps({k: v for k, v in result.items() if k != "args"}, indent=1))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=1, ensure_ascii=False))
    print(f"written {args.output}")
    return 0


def run(r, raw, sites: dict, args) -> dict:
    agg = Aggregator(raw, sites, PREFIX, consumer="bench-fold")
    agg.setup()
    settle()  # as the runtime does once a part has started
    sims = {name: SiteSim(site, seed=1) for name, site in sites.items()}
    per_tick = statistics.mean(s.readings_per_tick() for s in sims.values())
    dt = per_tick / args.per_site  # the tick that makes ``per_site``/s
    clock = int(time.time() * 1000)
    cpu: list[float] = []
    entries_total = 0
    counted: Counter = Counter()
    client = ClientCount()
    sent = [0, 0]  # commands, round trips: of the rounds measured
    for n in range(args.warmup + args.rounds):
        written = 0
        for _ in range(max(1, round(args.round_s / dt))):
            clock += int(dt * 1000)
            pipe = raw.pipeline(transaction=False)
            for name, sim in sims.items():
                for stream, fields in sim.step(clock, dt):
                    pipe.xadd(Keys(PREFIX, name).stream(stream), fields)
                    written += 1
            pipe.execute()
        # every site publishes each round (the throttle is wall-clock, and
        # a faster round would otherwise skip snapshots a slower one makes)
        for state in agg.states.values():
            state.last_snapshot_ms = 0
        before = commands(r)
        client.commands = client.trips = 0
        client.on = True
        started = time.process_time()
        handled = 0
        while True:  # the round: until what was written is folded
            got = agg.step(block_ms=1)
            handled += got
            if handled >= written or not got:
                break
        spent = time.process_time() - started
        client.on = False
        after = commands(r)
        if n >= args.warmup:
            sent[0] += client.commands
            sent[1] += client.trips
            cpu.append(spent)
            entries_total += handled
            counted.update(after - before)
    site_rounds = len(sites) * args.rounds
    counted.pop("info", None)
    return {
        "sites": len(sites), "rounds": args.rounds,
        "entries_per_site_round": round(entries_total / site_rounds, 1),
        "cpu_ms_per_site_round_median": round(
            1000 * statistics.median(cpu) / len(sites), 3),
        "cpu_us_per_entry": round(1e6 * sum(cpu) / max(1, entries_total), 1),
        "entries_per_cpu_s": round(entries_total / sum(cpu)),
        "redis_commands_per_site_round": round(sum(counted.values()) / site_rounds, 1),
        "client_commands_per_site_round": round(sent[0] / site_rounds, 1),
        "round_trips_per_site_round": round(sent[1] / site_rounds, 2),
        "by_command_per_site_round": {
            k: round(v / site_rounds, 2) for k, v in counted.most_common(15)},
    }


if __name__ == "__main__":
    sys.exit(main())
