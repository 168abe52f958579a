"""XADD → snapshot published, on a sample of the city's sites, under load.

For each sampled site a thread subscribes to the site's channel (sharded
pub/sub on a Redis 7 cluster, plain on 6.2: data/pubsub.py), then in turn
XADDs an incident report with a known id (as a hotline producer would) and
waits for the first announced version whose stored snapshot holds that id.
The time is from just before the XADD to the arrival of that announcement
(the snapshot is read after it, not counted). An incident change is
published on a quarter of the snapshot interval (data/feed/aggregator.py),
so this is the path a new report takes, not a crowd count's.
"""

from __future__ import annotations

import random
import threading
import time
import uuid

import redis

from bench.citycluster.procs import PREFIX
from data import pubsub
from data.clock import now_ms
from data.keys import Keys

TIMEOUT_S = 15.0


def _marker(n: int) -> tuple[str, dict]:
    incident = str(uuid.uuid4())
    return incident, {"v": "1", "src": "hotline", "op": "report", "id": incident,
                      "ts": str(now_ms()), "category": "sanitation", "level": "3",
                      "title": f"基准{n}", "grid": "G01"}


def _site_markers(url_client: redis.Redis, site: str, count: int,
                  out: list[float], missed: list[str]) -> None:
    keys = Keys(PREFIX, site)
    listener = url_client.pubsub()
    pubsub.subscribe(url_client, listener, keys.channel)
    try:
        time.sleep(0.5)  # subscribed before the first marker
        for n in range(count):
            incident, fields = _marker(n)
            started = time.perf_counter()
            url_client.xadd(keys.stream("incident"), fields)
            deadline = started + TIMEOUT_S
            while time.perf_counter() < deadline:
                message = pubsub.next_message(url_client, listener, 1.0)
                if not pubsub.is_message(message):
                    continue
                heard = time.perf_counter()
                data = message["data"]
                text = data.decode() if isinstance(data, bytes) else str(data)
                if text.startswith("live:"):
                    continue
                if incident in (url_client.get(keys.snapshot) or ""):
                    out.append((heard - started) * 1000)
                    break
            else:
                missed.append(site)
            time.sleep(random.uniform(0.2, 0.6))
    finally:
        try:
            pubsub.unsubscribe(url_client, listener, keys.channel)
            listener.close()
        except redis.RedisError:
            pass


def measure(r: redis.Redis, sites: list[str], sample: int, per_site: int,
            seed: int = 1) -> dict:
    """p50/p95 over ``sample`` sites × ``per_site`` markers, all at once."""
    chosen = random.Random(seed).sample(sites, min(sample, len(sites)))
    times: list[float] = []
    missed: list[str] = []
    threads = [threading.Thread(target=_site_markers,
                                args=(r, site, per_site, times, missed), daemon=True)
               for site in chosen]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(per_site * (TIMEOUT_S + 1) + 10)
    times.sort()
    return {"pubsub": pubsub.mode(r), "sites": len(chosen), "samples": len(times),
            "missed": len(missed),
            "p50_ms": round(_pct(times, 50), 1), "p95_ms": round(_pct(times, 95), 1),
            "max_ms": round(times[-1], 1) if times else None}


def _pct(values: list[float], pct: float) -> float:
    if not values:
        return float("nan")
    return values[min(len(values) - 1, int(round(pct / 100 * (len(values) - 1))))]
