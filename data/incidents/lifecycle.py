"""Incident records and their lifecycle, as pure functions.

An incident is event-sourced: :func:`new_incident` makes the record from a
``report`` entry and :func:`apply_op` folds each workflow op into it, appending
to its history. Both refuse what the lifecycle or the actor's role and grid
scope do not allow by raising :class:`Refused`; nothing here touches Redis, so
the aggregator and the app check the same rules.

Lifecycle (DESIGN.md, "Incident lifecycle")::

    reported -accept-> accepted -dispatch-> dispatched -start-> in_progress
    in_progress/dispatched -resolve-> resolved -verify-> closed | dispatched
    resolved/closed -reopen-> dispatched ; reported -reject-> rejected
    open -escalate-> escalated (owner one level up) -dispatch/accept-> …
    open -merge-> merged ; any -comment-> same
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from data.feed.contract import IncidentOp, IncidentReport
from data.site import Site, User
from data.terms import CHAIN

SYSTEM_ACTOR = "system"  # the SLA watchdog's automatic escalations

OPEN = ("reported", "accepted", "dispatched", "in_progress", "resolved", "escalated")
DONE = ("closed", "rejected", "merged")

# op -> states it may start from
SOURCES: dict[str, tuple[str, ...]] = {
    "accept": ("reported", "escalated"),
    "reject": ("reported", "escalated"),
    "dispatch": ("accepted", "escalated", "dispatched"),
    "start": ("dispatched",),
    "resolve": ("dispatched", "in_progress"),
    "verify": ("resolved",),
    "reopen": ("resolved", "closed"),
    "escalate": ("reported", "accepted", "dispatched", "in_progress", "escalated"),
    "merge": ("reported", "accepted", "dispatched", "in_progress", "escalated"),
    "comment": OPEN + DONE,
}

# what each role may do at all; scope is checked separately
ROLE_OPS: dict[str, frozenset[str]] = {
    "admin": frozenset(SOURCES) | {"report"},
    "supervisor": frozenset(SOURCES) | {"report"},
    "worker": frozenset({"report", "accept", "start", "resolve", "escalate",
                         "comment"}),
    "volunteer": frozenset({"report", "comment"}),
    "analyst": frozenset(),
    "wall": frozenset(),
}


class Refused(ValueError):
    """An op the lifecycle or the actor's rights do not allow; the text says why."""


def sla_light(record: dict[str, Any], now_ms: int) -> str:
    """``green`` below 80 % of the deadline, ``yellow`` to 100 %, ``red`` past it."""
    start, deadline = record["reported_at"], record["deadline"]
    end = record.get("closed_at") or now_ms
    share = (end - start) / max(1, deadline - start)
    if share < 0.8:
        return "green"
    return "yellow" if share <= 1.0 else "red"


def is_overdue(record: dict[str, Any], now_ms: int) -> bool:
    return record["status"] in OPEN and now_ms > record["deadline"]


def _scope_ok(user: User, record: dict[str, Any]) -> bool:
    return not user.grids or record["grid"] in user.grids


def grid_scope(user: User | None) -> tuple[str, ...]:
    """The grids a site user may look into; () for every grid (an admin
    sees every grid, as :func:`authorize` lets them act on every grid)."""
    if user is None or user.role == "admin":
        return ()
    return tuple(user.grids)


def in_scope(user: User | None, grid: str | None) -> bool:
    scope = grid_scope(user)
    return not scope or grid in scope


def authorize(user: User | None, op: str, record: dict[str, Any] | None,
              site: Site) -> None:
    """Raise :class:`Refused` unless ``user`` may make ``op`` on ``record``.

    The one place where rights are decided; the app calls it before writing
    an op on a user's behalf and the aggregator again when applying it.
    """
    if user is None:
        raise Refused("unknown user")
    if op not in ROLE_OPS.get(user.role, ()):
        raise Refused(f"role {user.role} may not {op}")
    if record is None or user.role == "admin":
        return
    if user.role == "volunteer":
        if record.get("reporter_id") != user.id:
            raise Refused(f"{user.id} may only follow their own reports")
        return
    if not _scope_ok(user, record):
        raise Refused(f"grid {record['grid']} is outside {user.id}'s scope")
    owner = CHAIN.index(record["owner_level"])
    if user.role == "worker":
        if op in ("start", "resolve"):
            if record.get("assignee") not in (None, user.id):
                raise Refused(f"incident is assigned to {record['assignee']}")
        elif op != "comment" and owner > 0:
            raise Refused(f"incident is owned at {record['owner_level']} level")
        return
    if op != "comment" and owner > CHAIN.index(user.max_level):
        raise Refused(
            f"incident is owned at {record['owner_level']} level, above "
            f"{user.id}'s {user.max_level} level"
        )


def _check_assignee(user: User | None, name: str | None,
                    record: dict[str, Any], site: Site) -> None:
    """A task goes to someone who works it (starts and resolves) and whose
    grids take in the incident's grid."""
    if user is None:
        raise Refused(f"assignee {name} is not a user of site {site.id}")
    if "start" not in ROLE_OPS.get(user.role, ()):
        raise Refused(f"assignee {name} is a {user.role}, who does not take tasks")
    if not _scope_ok(user, record):
        raise Refused(f"grid {record['grid']} is outside assignee {name}'s grids")


def new_incident(event: IncidentReport, grid: str, site: Site,
                 reporter_id: str | None = None) -> dict[str, Any]:
    """The record of a freshly reported incident."""
    level = int(event.level)
    hours = site.deadline_hours(event.category, level)
    entry = {"op": "report", "actor": reporter_id or event.src, "ts": event.ts,
             "src": event.src, "to": "reported", "note": event.title,
             "eid": event.eid}
    return {
        "id": event.id, "site": site.id, "category": event.category,
        "level": level, "title": event.title, "detail": event.detail,
        "channel": event.channel, "reporter": event.reporter,
        "phone": event.phone, "reporter_id": reporter_id,
        "grid": grid, "lat": event.lat, "lon": event.lon, "photo": event.photo,
        "status": "reported", "owner_level": "grid", "assignee": None,
        "task_deadline": None, "reported_at": event.ts,
        "deadline": event.ts + int(hours * 3_600_000),
        "updated_at": event.ts, "closed_at": None, "rework": 0,
        "escalations": 0, "auto_escalated_at": None, "merged_into": None,
        "duplicates": [], "solved_level": None, "history": [entry],
    }


def _next_level(record: dict[str, Any], wanted: str | None) -> str:
    current = CHAIN.index(record["owner_level"])
    if wanted is None:
        if current + 1 >= len(CHAIN):
            raise Refused("incident is already owned at district level")
        return CHAIN[current + 1]
    if wanted not in CHAIN:
        raise Refused(f"level {wanted!r} is not one of {', '.join(CHAIN)}")
    if CHAIN.index(wanted) <= current:
        raise Refused(f"incident is already owned at {record['owner_level']} level")
    return wanted


def apply_op(
    record: dict[str, Any], op: IncidentOp, site: Site,
    exists: Callable[[str], dict[str, Any] | None] = lambda _id: None,
    actors: Callable[[str], User | None] | None = None,
) -> dict[str, Any]:
    """The record after ``op``; raises :class:`Refused` and changes nothing.

    ``actors`` finds the user an id names (default: the site's own list;
    the aggregator passes :func:`data.accounts.actor`, which knows accounts).
    """
    actors = actors or site.users.get
    status = record["status"]
    if status not in SOURCES[op.op]:
        raise Refused(f"cannot {op.op} an incident that is {status}")
    if op.actor != SYSTEM_ACTOR:
        authorize(actors(op.actor), op.op, record, site)
    new = dict(record, updated_at=max(record["updated_at"], op.ts))
    entry: dict[str, Any] = {"op": op.op, "actor": op.actor, "ts": op.ts,
                             "src": op.src, "from": status, "eid": op.eid}
    if op.op == "accept":
        new["status"] = "accepted"
    elif op.op == "reject":
        new.update(status="rejected", closed_at=op.ts)
        entry["reason"] = op.reason
    elif op.op == "dispatch":
        assignee = op.assignee
        _check_assignee(actors(assignee), assignee, record, site)
        new.update(status="dispatched", assignee=assignee, task_deadline=op.deadline)
        entry.update(assignee=assignee, deadline=op.deadline)
    elif op.op == "start":
        new["status"] = "in_progress"
    elif op.op == "resolve":
        new["status"] = "resolved"
        entry.update(note=op.note, photo=op.photo)
    elif op.op == "verify":
        if op.passed == "1":
            new.update(status="closed", closed_at=op.ts,
                       solved_level=record["owner_level"])
        else:
            new.update(status="dispatched", rework=record["rework"] + 1)
        entry.update(passed=op.passed == "1", note=op.note)
    elif op.op == "reopen":
        new.update(status="dispatched", rework=record["rework"] + 1,
                   closed_at=None, solved_level=None)
        entry["note"] = op.note
    elif op.op == "escalate":
        level = _next_level(record, op.level)
        new.update(status="escalated", owner_level=level,
                   escalations=record["escalations"] + 1, assignee=None)
        if op.actor == SYSTEM_ACTOR:
            new["auto_escalated_at"] = op.ts
        entry.update(level=level, note=op.note)
    elif op.op == "merge":
        target = exists(op.into) if op.into != record["id"] else None
        if target is None:
            raise Refused(f"incident {op.into} is not another incident of this site")
        if target["status"] in DONE:
            raise Refused(f"incident {op.into} is {target['status']}")
        new.update(status="merged", merged_into=op.into, closed_at=op.ts)
        entry["into"] = op.into
    elif op.op == "comment":
        entry["note"] = op.note
    entry["to"] = new["status"]
    new["history"] = [*record["history"], entry]
    return new


def escalation_due(record: dict[str, Any], now_ms: int, grace_ms: int) -> bool:
    """Overdue past the grace since the deadline or the last automatic step."""
    if (not is_overdue(record, now_ms) or record["owner_level"] == CHAIN[-1]
            or record["status"] not in SOURCES["escalate"]):
        return False  # e.g. resolved and waiting for verification
    since = max(record["deadline"], record.get("auto_escalated_at") or 0)
    return now_ms >= since + grace_ms


def mask_name(name: str) -> str:
    """张三丰 -> 张**; keeps only the first character."""
    name = (name or "").strip()
    return name[:1] + "*" * min(2, max(1, len(name) - 1)) if name else ""


def mask_phone(phone: str) -> str:
    """13812345678 -> 138****5678; short numbers lose all but the last two."""
    digits = (phone or "").strip()
    if len(digits) >= 7:
        return digits[:3] + "****" + digits[-4:]
    return "*" * max(0, len(digits) - 2) + digits[-2:] if digits else ""


# Never in a public view: who reported (account id), the scene photo (it may
# show people; only a signed-in user of the site fetches it) and the history
# (actors' names). Name and phone are masked below.
PRIVATE_FIELDS = frozenset({"history", "reporter_id", "photo"})


def public_view(record: dict[str, Any], now_ms: int) -> dict[str, Any]:
    """The record without its private fields, personal data masked and the SLA
    light added."""
    view = {k: v for k, v in record.items() if k not in PRIVATE_FIELDS}
    view.update(reporter=mask_name(record.get("reporter", "")),
                phone=mask_phone(record.get("phone", "")),
                sla=sla_light(record, now_ms),
                overdue=is_overdue(record, now_ms))
    return view
