"""Writing incident reports and workflow ops on a user's behalf.

The app never changes an incident record itself: it checks the op with
:func:`data.incidents.lifecycle.authorize` and the lifecycle (so the user hears "no" at
once, with the reason), writes it to the site's incident stream like any
producer, and can wait for the aggregator to apply it — which checks again,
since another supervisor may have acted in between.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

import redis

from data import accounts, durable
from data.clock import now_ms
from data.feed.check import validate
from data.feed.contract import Rejected
from data.incidents.lifecycle import SOURCES, Refused, apply_op, authorize
from data.incidents.store import read_incident
from data.keys import AuthKeys, Keys
from data.redis_conn import as_text
from data.site import Site, User

SRC = "app"




@dataclass(frozen=True)
class Written:
    """An op on the stream: its stream entry id and event id."""

    entry_id: str
    eid: str




def allowed_ops(user: User | None, record: dict, site: Site) -> list[str]:
    """The workflow ops ``user`` may make on ``record`` now (for the buttons)."""
    out = []
    for op, sources in SOURCES.items():
        if record["status"] not in sources:
            continue
        try:
            authorize(user, op, record, site)
        except Refused:
            continue
        if op == "escalate" and record["owner_level"] == "district":
            continue
        out.append(op)
    return out


def _fields(values: dict[str, Any]) -> dict[str, str]:
    return {k: str(v) for k, v in values.items() if v is not None and v != ""}


def _append(r: redis.Redis, keys: Keys, fields: dict[str, str]) -> str:
    """XADD to the incident stream, on a replica before the answer (raises
    data.durable.NotReplicated when none confirms in time)."""
    stream = keys.stream("incident")

    def add(pipe) -> str:
        pipe.multi()
        pipe.xadd(stream, fields)
        return as_text(pipe.execute()[0])

    return durable.write(r, stream, add)


def submit_op(r: redis.Redis, keys: Keys, site: Site, user: User | None, op: str,
              incident_id: str, **values: Any) -> Written:
    """Check and write one workflow op; raises Refused or Rejected with a reason."""
    if user is None:
        raise Refused("unknown user")
    record = read_incident(r, keys, incident_id)
    if record is None:
        raise Refused(f"incident {incident_id} does not exist")
    eid = uuid.uuid4().hex
    fields = _fields({"v": "1", "src": SRC, "op": op, "id": incident_id,
                      "ts": now_ms(), "actor": user.id, "eid": eid,
                      **values})
    event = validate("incident", fields, site, now_ms())

    def lookup(other: str) -> dict | None:
        return read_incident(r, keys, other)

    apply_op(record, event, site, lookup,  # raises Refused; the result is dropped
             actors=lambda who: user if user and who == user.id
             else accounts.actor(r, AuthKeys(keys.prefix), site, who))
    entry_id = _append(r, keys, fields)
    return Written(entry_id, eid)


def submit_report(r: redis.Redis, keys: Keys, site: Site, user: User | None,
                  values: dict[str, Any]) -> Written:
    """Check and write a report; ``values["id"]`` is the reporter's UUID."""
    if user is not None:
        authorize(user, "report", None, site)
    eid = f"report-{values.get('id', '')}"
    fields = _fields({"v": "1", "src": SRC, "op": "report", "ts": now_ms(),
                      "actor": user.id if user else None, "eid": eid, **values})
    validate("incident", fields, site, now_ms())  # raises Rejected with the field
    entry_id = _append(r, keys, fields)
    return Written(entry_id, eid)


def wait_applied(r: redis.Redis, keys: Keys, incident_id: str, written: Written,
                 timeout: float = 2.0) -> str | None:
    """None once the aggregator applied the op; its refusal reason if it refused.

    Raises TimeoutError if neither happened within ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        record = read_incident(r, keys, incident_id)
        if record and any(h.get("eid") == written.eid for h in record["history"]):
            return None
        for _, fields in r.xrevrange(keys.dead, count=50):
            if as_text(fields.get("entry_id", fields.get(b"entry_id", ""))) \
                    == written.entry_id:
                return as_text(fields.get("reason", fields.get(b"reason", "")))
        time.sleep(0.02)
    raise TimeoutError("the aggregator has not applied the op yet")




__all__ = ["Refused", "Rejected", "Written", "allowed_ops", "submit_op",
           "submit_report", "wait_applied", "read_incident"]
