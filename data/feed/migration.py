"""Moves a site's incident keys from layout 1 to layout 2.

Layout 1 kept records and indexes side by side: ``<base>:inc:<id>`` next to
``<base>:inc:open``, ``inc:all``, ``inc:closed`` and ``inc:month:<YYYYMM>``,
so a report whose id was ``open`` overwrote the open index and every snapshot
of the site failed with WRONGTYPE from then on. Layout 2 (see
:class:`data.keys.Keys`) puts records under ``inc:rec:``, indexes under
``inc:idx:`` and counters under ``inc:count:``.

The move is idempotent and safe to interrupt: each record moves together
with its index entries in one MULTI/EXEC, the indexes are rebuilt from the
records (an index a poisoned record overwrote comes back), and the site is
marked done only at the end. Only key names change; the feed streams of
contract v1 are not touched.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

import redis

from data.incidents.lifecycle import DONE, OPEN
from data.keys import Keys

log = logging.getLogger(__name__)

LAYOUT = "2"
_OLD_INDEXES = ("all", "open", "closed")
_NEW_WORDS = ("rec:", "idx:", "count:", "layout")


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _glob_escape(text: str) -> str:
    return re.sub(r"([*?\[\]\\])", r"\\\1", text)


def migrate_incident_keys(r: redis.Redis, keys: Keys) -> int:
    """Move one site's incident keys to layout 2; returns the keys moved."""
    if _text(r.get(keys.incidents_layout) or b"") == LAYOUT:
        return 0
    old = f"{keys.base}:inc:"
    moved = 0
    stale_indexes = []
    for raw_name in r.scan_iter(match=_glob_escape(old) + "*", count=500):
        name = _text(raw_name)
        rest = name[len(old):]
        if rest.startswith(_NEW_WORDS):
            continue
        kind = _text(r.type(name))
        if kind == "string":
            moved += _move_record(r, keys, name)
        elif rest in _OLD_INDEXES and kind == "zset":
            stale_indexes.append(name)
        elif rest.startswith("month:") and kind == "hash":
            r.rename(name, keys.incidents_month(rest[len("month:"):]))
            moved += 1
    if stale_indexes:  # rebuilt from the records above
        r.delete(*stale_indexes)
    r.set(keys.incidents_layout, LAYOUT)
    if moved:
        log.info("site %s: %d incident keys moved to layout %s", keys.site, moved,
                 LAYOUT)
    return moved


def _move_record(r: redis.Redis, keys: Keys, name: str) -> int:
    """One layout-1 record to its layout-2 key, with its index entries."""
    try:
        record = json.loads(r.get(name) or b"")
        incident_id = str(record["id"])
    except (ValueError, KeyError, TypeError):
        log.warning("%s is not an incident record; left where it is", name)
        return 0
    with r.pipeline(transaction=True) as pipe:
        # by name: a cluster pipeline refuses its rename() even in one slot
        pipe.execute_command("RENAME", name, keys.incident(incident_id))
        _index(pipe, keys, record)
        pipe.execute()
    return 1


def _index(pipe: Any, keys: Keys, record: dict) -> None:
    incident_id = record["id"]
    pipe.zadd(keys.incidents_all, {incident_id: record["reported_at"]})
    if record["status"] in OPEN:
        pipe.zadd(keys.incidents_open, {incident_id: record["deadline"]})
    elif record["status"] in DONE:
        pipe.zadd(keys.incidents_closed, {incident_id: record["closed_at"]})
