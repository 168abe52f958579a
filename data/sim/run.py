"""The demo feed simulator: writes realistic feed entries through contract v1.

It plays the producers of DESIGN.md ("Feed contract, version 1") — people
counters, vehicle gates, parking sensors, phones and the hotline — and writes
only what they may write: XADD to ``<p>:{<site>}:crowd|traffic|incident``.
What is written comes from :mod:`data.sim.model` (the pure model); this module
adds the clock and Redis:

- :func:`run` — real time, every few seconds (or at a chosen total rate over
  all the sites, the sites taking turns), until a stop event is set;
- :func:`replay` — one past day with that day's timestamps, ``speed`` times
  faster than real time (0: as fast as possible);
- :func:`load` — a load generator: crowd and gate entries at a fixed rate.

Command line (REDIS_URL, GOV_PREFIX and GOV_SITES from the environment)::

    python -m data.sim [--site S] [--rate R]
    python -m data.sim --total-rate 20000 [--rate R]   # over all of GOV_SITES
    python -m data.sim --replay 2024-05-01 [--speed 60]
    python -m data.sim --load 20000 --seconds 30 [--processes 2]

Commands are packed into RESP once and sent as one pipeline per batch: at
these volumes redis-py's per-command packing is what would limit the rate.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import math
import multiprocessing as mp
import os
import queue
import signal
import sys
import threading
import time
from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import redis

from data.clock import now_ms
from data.config import ConfigError, load_config
from data.keys import Keys
from data.redis_conn import RETRY_ERRORS, Backoff, connect, is_cluster
from data.sim.model import TICK_S, SiteSim
from data.sim.pace import PASS_S, RoundRobin, tick_for_total
from data.site import Site, SiteError
from data.site_files import load_sites

log = logging.getLogger(__name__)

BATCH = 2000  # entries per pipeline round trip
MAX_BACKLOG = 200_000  # entries kept while Redis is away; counts beyond are dropped
REPLAY_TAIL_MS = 3 * 3_600_000  # workflows of the day's last incidents


class StopFlag(Protocol):
    """A threading or multiprocessing Event."""

    def is_set(self) -> bool: ...




def _bulk(value: bytes) -> bytes:
    return b"$%d\r\n%s\r\n" % (len(value), value)


def pack_xadd(key: str, fields: Mapping[str, str], more: int = 0) -> bytes:
    """``XADD key * field value …`` in RESP, ready to send.

    With ``more`` > 0 the command is left open for that many more fields.
    """
    parts = [b"*%d\r\n$4\r\nXADD\r\n%s$1\r\n*\r\n" % (
        3 + 2 * (len(fields) + more), _bulk(key.encode()))]
    for k, v in fields.items():  # one format a field: half the cost at 20k/s
        kb, vb = k.encode(), v.encode()
        parts.append(b"$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(kb), kb, len(vb), vb))
    return b"".join(parts)


def send(client: redis.Redis, commands: list[bytes]) -> int:
    """Send packed XADDs as one pipeline and read every reply; raises on error.

    On a cluster, one pipeline per master, each command to the master of
    its key's slot; after a failover or a reshard the slot map is asked
    again and the error goes up (the caller keeps what was not written)."""
    if not commands:
        return 0
    if not is_cluster(client):
        return _send_to(client.connection_pool, commands)
    by_node: dict[str, tuple[Any, list[bytes]]] = {}
    for command in commands:
        node = client.get_node_from_key(_packed_key(command))
        by_node.setdefault(node.name, (node, []))[1].append(command)
    try:
        for node, part in by_node.values():
            _send_to(client.get_redis_connection(node).connection_pool, part)
    except (redis.ResponseError, redis.ConnectionError):
        client.nodes_manager.initialize()
        raise
    return len(commands)


def _packed_key(command: bytes) -> bytes:
    """The key of a command made by :func:`pack_xadd`."""
    start = command.index(b"XADD\r\n$") + 7
    length_end = command.index(b"\r\n", start)
    length = int(command[start:length_end])
    return command[length_end + 2:length_end + 2 + length]


def _send_to(pool: Any, commands: list[bytes]) -> int:
    conn = pool.get_connection()
    try:
        conn.send_packed_command([b"".join(commands)])
        for _ in commands:
            conn.read_response()
    except BaseException:
        conn.disconnect()  # replies may be left unread: never reuse it
        raise
    finally:
        pool.release(conn)
    return len(commands)


# --- real time -------------------------------------------------------------


def run(client: redis.Redis, sites: Mapping[str, Site], prefix: str,
        stop: threading.Event, rate: float = 1.0, *, tick_s: float = TICK_S,
        seed: object = None, total_rate: float | None = None,
        limit: float = math.inf) -> int:
    """Write every site's feed in real time until ``stop``; returns entries written.

    Each site's sensors report once every ``tick_s``, the sites taking turns
    through the tick (:class:`data.sim.pace.RoundRobin`). ``total_rate``
    (entries a second over all the sites, incidents included) sets the tick
    instead; ``rate`` stays the volume of people, vehicles and incidents.
    ``limit`` stops after about that many entries.

    Survives Redis going away or refusing writes: what could not be written is
    kept (incident entries always, counts up to ``MAX_BACKLOG``) and sent again
    later; entries that did get through are dropped by their ``eid``.
    """
    sims = {name: SiteSim(site, rate=rate, seed=seed) for name, site in sites.items()}
    if total_rate is not None:
        tick_s = tick_for_total(sims.values(), total_rate)
    names = list(sims)
    keys = {name: Keys(prefix, name) for name in sites}
    gc.freeze()  # the models live as long as the run (web/runtime.py: settle)
    backoff, backlog, written = Backoff(), [], 0
    last: dict[str, int] = {}  # each site's latest step (epoch ms)
    turns = RoundRobin(len(names), tick_s, time.monotonic())
    while not stop.is_set() and written < limit:
        begun, stamp = time.monotonic(), now_ms()
        for k in turns.take(begun):
            name = names[k]
            prev = last.get(name)
            ts = stamp if prev is None else max(stamp, prev + 1)
            dt = tick_s if prev is None else min(max((ts - prev) / 1000, 0.001), 60.0)
            last[name] = ts
            backlog += [(stream, pack_xadd(keys[name].stream(stream), fields))
                        for stream, fields in sims[name].step(ts, dt)]
        try:
            while backlog:
                written += send(client, [c for _, c in backlog[:BATCH]])
                del backlog[:BATCH]
            backoff.reset()
        except (*RETRY_ERRORS, redis.ResponseError) as exc:  # e.g. OOM: retry later
            if len(backlog) > MAX_BACKLOG:
                backlog = [b for b in backlog if b[0] == "incident"]
            pause = backoff.failed()
            log.warning("simulator: redis unavailable (%s); %d entries kept, "
                        "retry in %.1f s", exc, len(backlog), pause)
            stop.wait(pause)
            continue
        stop.wait(max(0.0, max(turns.next_at(), begun + PASS_S) - time.monotonic()))
    return written


# --- replay ----------------------------------------------------------------


def replay(client: redis.Redis, site: Site, prefix: str, day: date,
           speed: float = 0.0, *, rate: float = 1.0, seed: object = None,
           hours: tuple[float, float] = (0.0, 24.0),
           stop: threading.Event | None = None) -> int:
    """Write the feed of past ``day`` with its own timestamps; returns entries.

    ``speed`` 60 plays an hour a minute; 0 writes as fast as Redis takes it.
    ``hours`` limits the replay to part of the day. The same day and seed give
    the same feed. Only past days: the contract rejects timestamps more than
    5 minutes ahead. Fold a full-speed replay after writing it: an aggregator
    folding meanwhile lets its SLA watchdog escalate, by the wall clock, past
    incidents whose later ops are still in the stream, and those ops are refused.
    """
    tz = ZoneInfo(site.timezone)
    midnight = datetime(day.year, day.month, day.day, tzinfo=tz)
    start = int((midnight + timedelta(hours=hours[0])).timestamp() * 1000)
    end = int((midnight + timedelta(hours=hours[1])).timestamp() * 1000)
    if end > now_ms() or start >= end:
        raise ValueError(f"cannot replay {day} {hours[0]:g}-{hours[1]:g} h: only "
                         f"past time can be replayed (in {site.timezone})")
    sim = SiteSim(site, rate=rate, seed=f"{site.id}/{day}" if seed is None else seed)
    keys = Keys(prefix, site.id)
    tick_ms = int(TICK_S * 1000)
    wall0, commands, written = time.monotonic(), [], 0
    ts = start
    while ts < end and not (stop is not None and stop.is_set()):
        ts = min(ts + tick_ms, end)
        commands += [pack_xadd(keys.stream(s), f) for s, f in sim.step(ts)]
        ahead = (ts - start) / 1000 / speed - (time.monotonic() - wall0) if speed else 0
        if len(commands) >= BATCH or ahead > 0:
            written += send(client, commands)
            commands = []
        if ahead > 0:
            (stop or threading.Event()).wait(ahead)
    if stop is None or not stop.is_set():
        tail = min(now_ms() - 1000, end + REPLAY_TAIL_MS)
        commands += [pack_xadd(keys.stream(s), f) for s, f in sim.due(tail)]
    for n in range(0, len(commands), BATCH):
        written += send(client, commands[n:n + BATCH])
    return written


# --- load generator --------------------------------------------------------


def load_commands(site: Site, prefix: str,
                  entrances: Iterable[str] | None = None) -> list[bytes]:
    """XADDs left open for ``ts`` and ``eid``: crowd at every entrance, gate
    counts at vehicle gates, with in/out pairs that balance."""
    keys = Keys(prefix, site.id)
    chosen = list(entrances) if entrances is not None else list(site.entrances)
    pairs = [(3, 2), (1, 4), (5, 5), (0, 1), (4, 3), (2, 0), (6, 5), (2, 3)]
    heads = []
    for n, gate in enumerate(chosen):
        streams = ["crowd"] + (["traffic"] if site.entrances[gate].kind == "vehicle"
                               else [])
        for stream in streams:
            n_in, n_out = pairs[n % len(pairs)]
            fields = {"v": "1", "src": f"load-{gate}", "entrance": gate,
                      "in": str(n_in), "out": str(n_out)}
            heads.append(pack_xadd(keys.stream(stream), fields, more=2))
    return heads


def _produce(client: redis.Redis, heads: list[bytes], entries_per_s: float,
             seconds: float, stop: StopFlag | None, tag: bytes,
             limit: float = math.inf) -> tuple[int, float]:
    """Send paced batches; returns (entries, seconds)."""
    sent, n = 0, 0
    start = time.monotonic()
    while sent < limit and not (stop is not None and stop.is_set()):
        elapsed = time.monotonic() - start
        if elapsed >= seconds:
            break
        due = int(min(BATCH, int(entries_per_s * elapsed) + 1 - sent, limit - sent))
        if due <= 0:
            time.sleep(min(0.005, (sent + 1) / entries_per_s - elapsed))
            continue
        ts = b"$2\r\nts\r\n" + _bulk(str(now_ms()).encode()) + b"$3\r\neid\r\n"
        batch = []
        for _ in range(due):
            batch.append(heads[n % len(heads)] + ts + _bulk(b"%s%x" % (tag, n)))
            n += 1
        sent += send(client, batch)
    return sent, time.monotonic() - start


def _produce_child(pool: tuple[type, dict], heads: list[bytes],
                   entries_per_s: float, seconds: float, stop: StopFlag,
                   out: mp.Queue, limit: int | None) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops us
    client = redis.Redis(connection_pool=redis.ConnectionPool(
        connection_class=pool[0], **pool[1]))
    out.put(_produce(client, heads, entries_per_s, seconds, stop,
                     f"L{os.getpid():x}-".encode(),
                     math.inf if limit is None else limit))


def load(client: redis.Redis, site: Site, prefix: str, entries_per_s: float,
         seconds: float, *, entrances: Iterable[str] | None = None,
         processes: int = 1, stop: threading.Event | None = None,
         limit: int | None = None) -> dict:
    """Write ``entries_per_s`` crowd/gate entries for ``seconds``; returns figures.

    Timestamps are the clock at each batch, event ids unique, in/out balanced.
    With ``processes`` > 1 the rate is split over that many processes;
    ``limit`` stops (each process) after that many entries.
    """
    heads = load_commands(site, prefix, entrances)
    if processes <= 1:
        tag = f"L{os.getpid():x}-{time.time_ns() % 10**9:x}-".encode()
        sent, elapsed = _produce(client, heads, entries_per_s, seconds, stop, tag,
                                 math.inf if limit is None else limit)
    else:
        ctx = mp.get_context("spawn")  # no forked copy of our threads or sockets
        halt, out = ctx.Event(), ctx.Queue()
        pool = (client.connection_pool.connection_class,  # retry objects hold locks
                {k: v for k, v in client.connection_pool.connection_kwargs.items()
                 if isinstance(v, str | int | float | bool | None)})
        children = [ctx.Process(target=_produce_child, daemon=True,
                                args=(pool, heads, entries_per_s / processes,
                                      seconds, halt, out, limit))
                    for _ in range(processes)]
        for child in children:
            child.start()
        results: list[tuple[int, float]] = []
        while len(results) < processes and any(c.is_alive() for c in children):
            if stop is not None and stop.is_set():
                halt.set()
            try:
                results.append(out.get(timeout=0.1))
            except queue.Empty:
                pass
        for child in children:
            child.join(5)
        if len(results) < processes:
            codes = [c.exitcode for c in children]
            raise RuntimeError(f"a load process failed (exit codes {codes})")
        sent = sum(n for n, _ in results)
        elapsed = max((t for _, t in results), default=1e-9)
    return {"entries": sent, "seconds": round(elapsed, 3),
            "entries_per_s": round(sent / elapsed, 1), "processes": processes}


# --- command line ----------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """``python -m data.sim``: see the module docstring."""
    parser = argparse.ArgumentParser(prog="python -m data.sim",
                                     description="Demo feed simulator.")
    parser.add_argument("--site", help="only this site (default: GOV_SITES)")
    parser.add_argument("--rate", type=float, help="volume multiplier")
    parser.add_argument("--total-rate", type=float, metavar="ENTRIES_PER_S",
                        help="real time at this many entries a second over all "
                             "the sites (a city: GOV_SITES_DIR), incidents "
                             "included; sensors report more often to reach it")
    parser.add_argument("--replay", type=date.fromisoformat, metavar="YYYY-MM-DD")
    parser.add_argument("--speed", type=float, default=0.0,
                        help="replay speed-up (0: as fast as possible)")
    parser.add_argument("--load", type=float, metavar="N", help="entries per second")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--processes", type=int, default=1)
    args = parser.parse_args(argv)
    if args.total_rate is not None and (args.replay or args.load):
        parser.error("--total-rate is for the real-time feed, not --replay or --load")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    try:
        cfg = load_config()
        if not cfg.redis_url:
            raise ConfigError("REDIS_URL is not set: the simulator writes to a "
                              "running Redis (python app.py runs its own demo feed)")
        sites = load_sites(cfg.sites_root, [args.site] if args.site else cfg.sites,
                           cfg.site_cache)
    except (ConfigError, SiteError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    rate = args.rate if args.rate is not None else cfg.demo_rate
    client = connect(cfg.redis_url, decode=False)
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set())
                for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        if args.replay:
            for name, site in sites.items():
                n = replay(client, site, cfg.prefix, args.replay, args.speed,
                           rate=rate, stop=stop)
                print(f"{name}: {n} entries of {args.replay}")
        elif args.load:
            site = next(iter(sites.values()))
            print(json.dumps(load(client, site, cfg.prefix, args.load, args.seconds,
                                  processes=args.processes, stop=stop)))
        elif args.total_rate is not None:
            log.info("simulating %d sites at %g entries/s in all, rate %g; Ctrl-C "
                     "stops", len(sites), args.total_rate, rate)
            started = time.monotonic()
            n = run(client, sites, cfg.prefix, stop, rate, total_rate=args.total_rate)
            seconds = time.monotonic() - started
            print(json.dumps({"entries": n, "seconds": round(seconds, 1),
                              "entries_per_s": round(n / max(seconds, 1e-9), 1),
                              "sites": len(sites)}))
        else:
            log.info("simulating %s at rate %g; Ctrl-C stops", ", ".join(sites), rate)
            n = run(client, sites, cfg.prefix, stop, rate)
            print(f"{n} entries written")
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        client.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


if __name__ == "__main__":
    sys.exit(main())
