"""What tracking every producer and device costs the aggregator (issue 13).

Each batch the aggregator folds also records, per device, the entries and
refusals of the minute, when it was heard, its last ``ts`` and reason
(``data/feed/producers.py: record``, queued in the batch's own MULTI), and
its upkeep judges the devices every 30 s (``read_health``). This benchmark
runs one aggregator process (as ``python app.py aggregator`` does, on the
sample community ``yaozhai``: 24 entrances and its parking lots, an embedded
redis-server) with that tracking on, and the same with it off (``record``
and ``read_health`` made no-ops in the aggregator's process: a switch of
this benchmark only), in turns, ``--rounds`` times each, in one run:

- **at 20,000 entries/s** (``--rate``): the simulator's load generator in
  its own process writes crowd and gate entries at that rate for
  ``--seconds``; the aggregator's CPU per entry, from its start until all
  of it is folded, its cores over that time, and how far behind it was
  when the writing ended;
- **a backlog** (``--backlog`` entries written first, then folded as fast
  as it goes): entries folded per aggregator CPU-second, the steadier
  figure when the machine is shared.

The ratio on ÷ off of the CPU per entry is the cost of the tracking.
Prints the figures and writes ``bench/results/producer_cost.json``::

    .venv/bin/python bench/producer_cost.py [--rounds 3] [--rate 20000]
        [--seconds 20] [--backlog 100000]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.ingest import cpu_seconds, folded, producer, site_dir  # noqa: E402
from data.redis_conn import EmbeddedRedis, connect  # noqa: E402
from data.sim import run as simulator  # noqa: E402
from data.site_files import load_site  # noqa: E402

PREFIX = "bench"  # as bench/ingest.py's helpers count
RESULTS = ROOT / "bench" / "results"
CTX = mp.get_context("spawn")


def _aggregate(url: str, folder: str, track: bool, ready, go, stop) -> None:
    """Child: one aggregator, producer tracking on or off, stepping until
    ``stop``."""
    from data.feed import aggregator, batch, producers
    from data.site_files import load_site

    if not track:
        batch.record_producers = lambda *args, **kwargs: None
        producers.read_health = lambda *args, **kwargs: None
    site = load_site(Path(folder))
    agg = aggregator.Aggregator(connect(url, decode=False), {site.id: site}, PREFIX,
                                snapshot_interval_ms=200, consumer="agg-bench")
    agg.setup()
    ready.set()
    go.wait()
    while not stop.is_set():
        agg.step()


class Aggregator:
    """An aggregator process, ready; ``start()`` lets it fold."""

    def __init__(self, url: str, folder: Path, track: bool) -> None:
        self.ready, self.go, self.stop = CTX.Event(), CTX.Event(), CTX.Event()
        self.proc = CTX.Process(target=_aggregate, daemon=True, args=(
            url, str(folder), track, self.ready, self.go, self.stop))
        self.proc.start()
        if not self.ready.wait(120):
            raise RuntimeError("aggregator process did not start")

    def start(self) -> None:
        self.go.set()

    def close(self) -> None:
        self.go.set()
        self.stop.set()
        self.proc.join(10)
        if self.proc.is_alive():
            self.proc.terminate()
            self.proc.join()


def at_rate(url: str, r, site, track: bool, rate: float, seconds: float) -> dict:
    """The aggregator's CPU for what the load generator writes at ``rate``/s
    over ``seconds``: from its start until it has folded all of it (so a
    process that the machine slows down is charged what it spent, not cut
    off mid-way), and whether it kept up (its lag when the writing ended)."""
    r.flushdb()
    agg = Aggregator(url, site.path, track)
    try:
        cpu0 = cpu_seconds(agg.proc.pid)
        agg.start()
        proc, out = producer(url, site, rate, seconds)
        made = out.get(timeout=seconds + 120)
        ended = time.perf_counter()
        behind = made["entries"] - folded(r, site)
        while folded(r, site) < made["entries"]:
            if time.perf_counter() - ended > 300:
                raise TimeoutError(f"only {folded(r, site)} of {made['entries']}")
            time.sleep(0.01)
        caught_up = time.perf_counter() - ended
        cpu = cpu_seconds(agg.proc.pid) - cpu0
        proc.join(10)
    finally:
        agg.close()
    return {"written_per_s": made["entries_per_s"], "entries": made["entries"],
            "aggregator_cpu_s": round(cpu, 2),
            "aggregator_cores": round(cpu / (made["seconds"] + caught_up), 3),
            "cpu_us_per_entry": round(cpu * 1e6 / made["entries"], 1),
            "behind_when_written": behind,
            "caught_up_s": round(caught_up, 2),
            "load_average_1m": round(os.getloadavg()[0], 2)}


def backlog(url: str, r, site, track: bool, entries: int) -> dict:
    """Entries folded per aggregator CPU-second, from a written backlog."""
    r.flushdb()
    filled = simulator.load(r, site, PREFIX, 10**9, 3600, limit=entries)["entries"]
    agg = Aggregator(url, site.path, track)
    try:
        cpu0, t0 = cpu_seconds(agg.proc.pid), time.perf_counter()
        agg.start()
        while folded(r, site) < filled:
            if time.perf_counter() - t0 > 600:
                raise TimeoutError(f"only {folded(r, site)} of {filled} folded")
            time.sleep(0.01)
        cpu, seconds = cpu_seconds(agg.proc.pid) - cpu0, time.perf_counter() - t0
    finally:
        agg.close()
    return {"entries": filled, "seconds": round(seconds, 2),
            "entries_per_cpu_s": round(filled / max(cpu, 0.01)),
            "cpu_us_per_entry": round(cpu * 1e6 / filled, 1),
            "load_average_1m": round(os.getloadavg()[0], 2)}


def med(rows: list[dict], name: str) -> float:
    return round(statistics.median(row[name] for row in rows), 3)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--site", default="yaozhai")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rate", type=float, default=20_000)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--backlog", type=int, default=100_000)
    parser.add_argument("--output", type=Path, default=RESULTS / "producer_cost.json")
    args = parser.parse_args(argv)
    site = load_site(site_dir(args.site))
    server = EmbeddedRedis(Path(tempfile.mkdtemp(prefix="producer-cost-")),
                           persist=False).start()
    r = connect(server.url, decode=False)
    runs: dict[str, dict[str, list]] = {"on": {"rate": [], "backlog": []},
                                        "off": {"rate": [], "backlog": []}}
    out = {"benchmark": "producer tracking in the aggregator (issue 13)",
           "date": time.strftime("%Y-%m-%d %H:%M"), "site": args.site,
           "config": vars(args) | {"output": str(args.output)},
           "load_average_start": [round(x, 2) for x in os.getloadavg()],
           "runs": runs}
    try:
        for n in range(args.rounds):
            for mode in (("on", "off") if n % 2 == 0 else ("off", "on")):
                track = mode == "on"
                rate = at_rate(server.url, r, site, track, args.rate, args.seconds)
                runs[mode]["rate"].append(rate)
                print(f"round {n + 1}, tracking {mode}: {args.rate:g}/s asked, "
                      f"{rate['written_per_s']}/s written, "
                      f"{rate['behind_when_written']} behind at the end, "
                      f"{rate['aggregator_cores']} cores, "
                      f"{rate['cpu_us_per_entry']} µs an entry", flush=True)
                if args.backlog:
                    fold = backlog(server.url, r, site, track, args.backlog)
                    runs[mode]["backlog"].append(fold)
                    print(f"round {n + 1}, tracking {mode}: backlog of "
                          f"{fold['entries']}, {fold['entries_per_cpu_s']} entries "
                          f"per CPU-s", flush=True)
    finally:
        r.close()
        server.stop()
    on, off = runs["on"], runs["off"]
    summary = {
        "at_rate": {mode: {k: med(runs[mode]["rate"], k) for k in (
            "written_per_s", "aggregator_cores", "cpu_us_per_entry",
            "caught_up_s")}
            for mode in runs},
        "cpu_per_entry_on_over_off_at_rate": round(
            med(on["rate"], "cpu_us_per_entry") / med(off["rate"], "cpu_us_per_entry"),
            3),
        "cores_on_over_off_at_rate": round(
            med(on["rate"], "aggregator_cores") / med(off["rate"], "aggregator_cores"),
            3)}
    if args.backlog:
        summary["backlog_entries_per_cpu_s"] = {
            mode: med(runs[mode]["backlog"], "entries_per_cpu_s") for mode in runs}
        summary["cpu_per_entry_on_over_off_backlog"] = round(
            med(on["backlog"], "cpu_us_per_entry")
            / med(off["backlog"], "cpu_us_per_entry"), 3)
    out["summary"] = summary
    out["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(out, indent=1, ensure_ascii=False))
    a = summary["at_rate"]
    print(f"at {args.rate:g}/s asked: aggregator {a['on']['aggregator_cores']} cores "
          f"with tracking, {a['off']['aggregator_cores']} without; CPU an entry "
          f"{a['on']['cpu_us_per_entry']} / {a['off']['cpu_us_per_entry']} µs: "
          f"on ÷ off {summary['cpu_per_entry_on_over_off_at_rate']}")
    if args.backlog:
        b = summary["backlog_entries_per_cpu_s"]
        print(f"backlog: {b['on']} / {b['off']} entries per CPU-s with / without: "
              f"CPU an entry on ÷ off {summary['cpu_per_entry_on_over_off_backlog']}")
    print(f"load average {out['load_average_start']} → {out['load_average_end']}; "
          f"written to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
