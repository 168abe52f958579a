"""The one store of incident records, under :class:`data.keys.Keys`.

A record is one JSON string per incident; three indexes find them: every
incident by report time, the open ones by deadline, the closed ones by the
time they closed. The aggregator writes records (inside its transaction,
through a pipeline); everything else reads them through here.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import redis

from data.incidents.lifecycle import DONE, OPEN
from data.keys import Keys

CHUNK = 500  # records per MGET


def encode(record: dict[str, Any]) -> str:
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"))


def read_incident(r: redis.Redis, keys: Keys, incident_id: str) -> dict | None:
    raw = r.get(keys.incident(incident_id))
    return json.loads(raw) if raw else None


def read_incidents(r: redis.Redis, keys: Keys, ids: Iterable[str]) -> list[dict]:
    """The records of ``ids`` that exist, in the order given."""
    ids = list(ids)
    out: list[dict] = []
    for start in range(0, len(ids), CHUNK):
        part = ids[start:start + CHUNK]
        out += [json.loads(v) for v in r.mget([keys.incident(i) for i in part]) if v]
    return out


def load_incidents(pipe: Any, keys: Keys, ids: Iterable[str]) -> dict[str, dict]:
    """id -> record for those that exist, read through ``pipe`` (a client,
    or a pipeline in immediate mode under WATCH)."""
    ids = sorted(ids)
    if not ids:
        return {}
    # MGET by name: a cluster pipeline refuses its mget() even in one slot
    return incident_records(
        ids, pipe.execute_command("MGET", *(keys.incident(i) for i in ids)))


def incident_records(ids: list[str], values: list) -> dict[str, dict]:
    """id -> record from the reply of an MGET of ``ids``' keys, in order."""
    return {i: json.loads(v) for i, v in zip(ids, values, strict=True) if v}


def store_incident(pipe: Any, keys: Keys, record: dict[str, Any]) -> None:
    """Queue the writes of ``record`` and its indexes on ``pipe``."""
    incident_id = record["id"]
    pipe.set(keys.incident(incident_id), encode(record))
    pipe.zadd(keys.incidents_all, {incident_id: record["reported_at"]})
    if record["status"] in OPEN:
        pipe.zadd(keys.incidents_open, {incident_id: record["deadline"]})
        pipe.zrem(keys.incidents_closed, incident_id)
    elif record["status"] in DONE:
        pipe.zrem(keys.incidents_open, incident_id)
        pipe.zadd(keys.incidents_closed, {incident_id: record["closed_at"]})


def open_incidents(r: redis.Redis, keys: Keys, limit: int = 1000) -> list[dict]:
    """Open incidents, soonest deadline first."""
    return read_incidents(r, keys, r.zrange(keys.incidents_open, 0, limit - 1))


def recent_incidents(r: redis.Redis, keys: Keys, limit: int = 1000) -> list[dict]:
    """Incidents of any status, newest report first."""
    return read_incidents(r, keys, r.zrevrange(keys.incidents_all, 0, limit - 1))
