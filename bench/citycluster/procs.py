"""The processes of the city benchmark on a cluster, started as in production
(``python app.py aggregator``, ``python app.py simulator``), and what the
kernel says of their CPU.

Everything runs on this machine's cores: the six redis-servers, the
simulator, the aggregators and the benchmark itself, so each figure comes
with the share of the machine that was busy (:func:`machine_busy`).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import redis

from data.feed import share
from data.keys import Keys
from data.local_cluster import LocalCluster

ROOT = Path(__file__).resolve().parent.parent.parent
PREFIX = "bench"


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_ticks() -> tuple[int, int]:
    """(busy, total) clock ticks of all CPUs so far (/proc/stat)."""
    parts = [int(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    idle = parts[3] + parts[4]
    return sum(parts) - idle, sum(parts)


def machine_busy(before: tuple[int, int], after: tuple[int, int]) -> float:
    """Fraction of the machine (all cores) busy between two readings."""
    return round((after[0] - before[0]) / max(1, after[1] - before[1]), 3)


class Processes:
    """Aggregators and one simulator on ``url``, over the city in ``city``."""

    def __init__(self, url: str, city: Path, logs: Path,
                 snapshot_ms: int = 200, fold_period_ms: int = 3000) -> None:
        self.env = {**os.environ, "REDIS_URL": url, "GOV_PREFIX": PREFIX,
                    "GOV_SITES_DIR": str(city), "GOV_DEMO": "0",
                    "GOV_DATA_DIR": str(logs / "data"), "PYTHONPATH": str(ROOT),
                    "GOV_SNAPSHOT_MS": str(snapshot_ms),
                    "GOV_FOLD_PERIOD_MS": str(fold_period_ms)}
        self.env.pop("GOV_SITES", None)
        self.logs = logs
        self.aggregators: list[subprocess.Popen] = []
        self.simulator: subprocess.Popen | None = None
        self._count = 0
        self.log_of: dict[int, Path] = {}

    def _spawn(self, name: str, *args: str) -> subprocess.Popen:
        self._count += 1
        path = self.logs / f"{name}-{self._count}.log"
        with path.open("wb") as log:
            proc = subprocess.Popen([sys.executable, "app.py", *args], cwd=ROOT,
                                    env=self.env, stdout=log,
                                    stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL)
        self.log_of[proc.pid] = path
        return proc

    def start_aggregator(self) -> subprocess.Popen:
        proc = self._spawn("aggregator", "aggregator")
        self.aggregators.append(proc)
        return proc

    def stop_aggregator(self, proc: subprocess.Popen) -> None:
        """SIGTERM: it gives its leases up, the others take its sites at once."""
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        self.aggregators.remove(proc)

    def start_simulator(self, total_rate: float) -> subprocess.Popen:
        self.simulator = self._spawn("simulator", "simulator",
                                     "--total-rate", f"{total_rate:g}")
        return self.simulator

    def stop_simulator(self) -> dict:
        """Stop it; what it says it wrote (entries, seconds, entries_per_s)."""
        proc, self.simulator = self.simulator, None
        if proc is None:
            return {}
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        for line in reversed(self.log_of[proc.pid].read_text().splitlines()):
            if line.startswith("{"):
                return json.loads(line)
        return {}

    def stop(self) -> None:
        for proc in list(self.aggregators):
            self.stop_aggregator(proc)
        if self.simulator is not None:
            self.stop_simulator()


def masters(cluster: LocalCluster) -> list:
    """The live nodes that are masters now."""
    found = []
    for node in cluster.nodes:
        if not node.alive:
            continue
        try:
            with node.client() as c:
                if c.info("replication").get("role") == "master":
                    found.append(node)
        except redis.RedisError:
            continue
    return found


def server_cpu(cluster: LocalCluster) -> float:
    return sum(cpu_seconds(n.process.pid) for n in cluster.nodes if n.alive)


def used_memory(cluster: LocalCluster) -> int:
    """INFO memory ``used_memory`` summed over the masters."""
    total = 0
    for node in masters(cluster):
        with node.client() as c:
            total += int(c.info("memory")["used_memory"])
    return total


def xadds(cluster: LocalCluster) -> int:
    """XADD calls the masters have answered so far (INFO commandstats): the
    entries written, since every XADD writes one."""
    total = 0
    for node in masters(cluster):
        with node.client() as c:
            total += int(c.info("commandstats").get("cmdstat_xadd", {})
                         .get("calls", 0))
    return total


def leases(r: redis.Redis, sites: list[str]) -> dict[str | None, int]:
    """How many site leases each aggregator holds now."""
    held: dict[str | None, int] = {}
    pipe = r.pipeline(transaction=False)
    for site in sites:
        pipe.get(Keys(PREFIX, site).lease)
    for lease in pipe.execute():
        held[lease] = held.get(lease, 0) + 1
    return held


def members(r: redis.Redis) -> list[str]:
    return list(r.zrange(share.members_key(PREFIX), 0, -1))


def wait_for(check, timeout: float, what: str, every: float = 0.5) -> float:
    """Seconds until ``check()`` is true; raises after ``timeout``."""
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"{what}: not within {timeout:g} s")
        time.sleep(every)
    return time.monotonic() - started
