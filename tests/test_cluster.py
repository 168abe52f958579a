"""Redis Cluster: found by itself, acknowledged writes on a replica, and a
master killed under load loses no acknowledged report.

Each test here starts its own local cluster (3 masters, 1 replica each,
data/local_cluster.py): they stop and kill nodes.
"""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from pathlib import Path

import pytest
import redis
from redis.cluster import RedisCluster

from data.clock import now_ms
from data.feed.aggregator import Aggregator
from data.keys import Keys
from data.local_cluster import LocalCluster
from data.redis_conn import connect, is_cluster_url
from tests.auth import api_key
from tests.common import PREFIX, config_for
from tests.waiting import wait_until

INCIDENTS = "/api/v1/sites/tiny/feeds/incident"


@pytest.fixture
def cluster(tmp_path: Path):
    with LocalCluster(tmp_path / "cluster") as made:
        yield made


def report(n: int, incident_id: str) -> dict:
    return {"v": "1", "op": "report", "id": incident_id, "ts": now_ms(),
            "category": "sanitation", "level": "3", "title": f"上报{n}",
            "grid": "G1", "eid": f"r-{incident_id}"}


def ingest_app(url: str, tmp_path: Path, **env: str):
    from web.factory import create_app

    r = connect(url)
    key = api_key(r, PREFIX, "tiny", "ingest")
    app = create_app(config_for(url, GOV_DATA_DIR=str(tmp_path / "data"), **env))
    return app.server.test_client(), key, r


def test_a_cluster_node_gives_the_cluster_client_and_one_redis_the_plain_one(
        cluster, redis_url, backend):
    assert is_cluster_url(cluster.url)
    assert isinstance(connect(cluster.url), RedisCluster)
    if backend == "redis":
        assert not isinstance(connect(redis_url), RedisCluster)


def test_an_acknowledged_report_is_on_a_replica_and_a_stalled_replica_asks_to_retry(
        cluster, tmp_path, tiny):
    client, key, r = ingest_app(cluster.url, tmp_path, GOV_ACK_TIMEOUT_MS="300")
    headers = {"Authorization": f"Bearer {key}"}
    stream = Keys(PREFIX, "tiny").stream("incident")
    master = cluster.master_of(stream)
    replica = next(n for n in cluster.nodes if n is not master and
                   n.client().info("replication").get("master_port") == master.port)

    ok = client.post(INCIDENTS, json=report(1, str(uuid.uuid4())), headers=headers)
    assert ok.status_code == 202 and ok.get_json()["accepted"] == 1
    on_replica = redis.Redis(port=replica.port, password=cluster.password,
                             single_connection_client=True)
    on_replica.execute_command("READONLY")  # a replica may answer reads
    assert on_replica.xlen(stream) == 1  # WAIT made sure of it
    on_replica.close()

    entry = report(2, str(uuid.uuid4()))
    os.kill(replica.process.pid, signal.SIGSTOP)  # the replica stops acking
    try:
        stalled = client.post(INCIDENTS, json=entry, headers=headers)
    finally:
        os.kill(replica.process.pid, signal.SIGCONT)
    assert stalled.status_code == 503
    assert stalled.get_json()["detail"] == "NotReplicated"
    assert "retry" in stalled.get_json()["error"]
    # written on the master all the same; the retry is recognised
    again = client.post(INCIDENTS, json=entry, headers=headers)
    assert again.status_code == 202 and again.get_json()["duplicates"] == 1
    assert r.xlen(stream) == 2


def test_killing_a_sites_master_under_load_loses_no_acknowledged_report(
        cluster, tmp_path, tiny):
    """Reports stream in over HTTP (each retried until answered, as the
    phone's queue does); the master of the site is killed -9 midway. Once its
    replica has taken over, every acknowledged report is there exactly once
    and the site answers again."""
    client, key, r = ingest_app(cluster.url, tmp_path)
    headers = {"Authorization": f"Bearer {key}"}
    keys = Keys(PREFIX, "tiny")
    aggregator = Aggregator(connect(cluster.url, decode=False), {"tiny": tiny},
                            PREFIX, snapshot_interval_ms=50, lease_ms=3000)
    folding = threading.Thread(target=aggregator.run, daemon=True)
    folding.start()
    acknowledged: list[str] = []
    refused = 0
    stop = threading.Event()

    def send() -> None:
        nonlocal refused
        n = 0
        while not stop.is_set():
            n += 1
            entry = report(n, str(uuid.uuid4()))
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    answer = client.post(INCIDENTS, json=entry, headers=headers)
                except redis.RedisError:
                    answer = None
                if answer is not None and answer.status_code == 202:
                    body = answer.get_json()
                    assert body["accepted"] + body["duplicates"] == 1, body
                    acknowledged.append(entry["id"])
                    break
                refused += 1
                time.sleep(0.1)

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    try:
        wait_until(lambda: len(acknowledged) >= 30, timeout=60,
                   what="reports before the kill")
        master = cluster.master_of(keys.stream("incident"))
        killed_at = len(acknowledged)
        master.kill()
        wait_until(lambda: len(acknowledged) >= killed_at + 30, timeout=90,
                   what="reports acknowledged after the failover")
    finally:
        stop.set()
        sender.join(90)
    assert cluster.master_of(keys.stream("incident")) is not master

    def all_folded() -> bool:
        return r.zcard(keys.incidents_all) >= len(set(acknowledged))
    wait_until(all_folded, timeout=60, what="every acknowledged report folded")
    aggregator.stop()
    folding.join(15)
    stored = set(r.zrange(keys.incidents_all, 0, -1))
    # every report was retried until acknowledged, so nothing else is there
    assert stored == set(acknowledged)
    assert len(acknowledged) == len(set(acknowledged))
    # exactly once: one report entry folded per incident, none twice
    assert int(r.hget(keys.stats, "folded:incident") or 0) == len(stored)
    assert refused > 0, "the kill must have been felt"
    reader = {"Authorization": f"Bearer {api_key(r, PREFIX, 'tiny', 'read')}"}
    answer = client.get("/api/v1/sites/tiny/snapshot", headers=reader)
    assert answer.status_code == 200
    assert answer.get_json()["incidents"]["open"] == len(stored)
