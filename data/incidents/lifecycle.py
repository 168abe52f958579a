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

The chain above the community (DESIGN.md, "The chain and the city")::

    escalated/accepted -hand_down-> reported (owner a level below, a deadline)
    escalated/accepted -return-> reported (owner the level that escalated it)
    escalated/accepted/resolved -close-> closed (owned at street or district)
    open -supervise-> same, marked 督办 ; -unsupervise-> same, unmarked
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
    # the chain above the community (issue 12): what a street or district
    # does with an incident escalated to it, and supervision (督办)
    "hand_down": ("escalated", "accepted"),
    "return": ("escalated", "accepted"),
    "close": ("escalated", "accepted", "resolved"),
    "supervise": OPEN,
    "unsupervise": OPEN,
}
CHAIN_OPS = ("hand_down", "return", "close", "supervise", "unsupervise")
# owner levels at which an incident is closed by its owner (办结) rather than
# by verifying a worker's resolution
CLOSED_BY_OWNER = CHAIN[2:]

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
    if record is None:
        return
    refusal = _chain_refusal(user, op, record)
    if refusal:
        raise Refused(refusal)
    if user.role == "admin":
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


def _chain_refusal(user: User, op: str, record: dict[str, Any]) -> str | None:
    """Why the chain does not let ``user`` make ``op`` on ``record`` now."""
    owner = record["owner_level"]
    mine = len(CHAIN) - 1 if user.role == "admin" else CHAIN.index(user.max_level)
    mark = record.get("supervised")
    if op == "reject" and record.get("handed_down"):
        return (f"the {record['handed_down']['from']} handed this incident "
                "down: escalate it back rather than reject it")
    if op == "close" and owner not in CLOSED_BY_OWNER:
        return (f"an incident owned at {owner} level is closed by verifying "
                "its resolution")
    if op == "supervise":  # (the owner's level or above: authorize)
        if mark and CHAIN.index(mark["level"]) >= mine:
            return f"already under supervision by the {mark['level']}"
    if op == "unsupervise":
        if not mark:
            return "incident is not under supervision"
        if CHAIN.index(mark["level"]) > mine:
            return (f"supervision by the {mark['level']} is lifted at "
                    f"{mark['level']} level or above")
    return None


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
        "duplicates": [], "solved_level": None, "handed_down": None,
        "supervised": None, "history": [entry],
    }


def _lower_level(record: dict[str, Any], wanted: str | None) -> str:
    """The level an incident is handed down to: below its owner."""
    if wanted not in CHAIN:
        raise Refused(f"level {wanted!r} is not one of {', '.join(CHAIN)}")
    if CHAIN.index(wanted) >= CHAIN.index(record["owner_level"]):
        raise Refused(f"level {wanted} is not below the owner, the "
                      f"{record['owner_level']}")
    return wanted


def _returned_level(record: dict[str, Any]) -> str:
    """The level that escalated the incident to its owner (one below when
    the history does not say)."""
    for entry in reversed(record["history"]):
        if entry["op"] == "escalate" and entry.get("level") == record[
                "owner_level"] and entry.get("from_level"):
            return entry["from_level"]
    current = CHAIN.index(record["owner_level"])
    if current == 0:
        raise Refused("incident is owned at grid level: nothing is below it")
    return CHAIN[current - 1]


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
    actor = None
    if op.actor != SYSTEM_ACTOR:
        actor = actors(op.actor)
        authorize(actor, op.op, record, site)
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
        entry.update(level=level, note=op.note, from_level=record["owner_level"])
    elif op.op in CHAIN_OPS:
        _chain_op(record, op, new, entry, actor)
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


def _chain_op(record: dict[str, Any], op: IncidentOp, new: dict[str, Any],
              entry: dict[str, Any], actor: User | None) -> None:
    """Apply an op of the chain (:data:`CHAIN_OPS`) onto ``new``/``entry``."""
    owner = record["owner_level"]
    if op.op in ("hand_down", "return"):
        if op.op == "hand_down":
            level = _lower_level(record, op.level)
            if op.deadline is None or op.deadline <= op.ts:
                raise Refused("a hand-down needs a deadline after now")
            handed = {"from": owner, "deadline": op.deadline, "at": op.ts}
            entry.update(level=level, deadline=op.deadline, note=op.note)
        else:
            level, handed = _returned_level(record), None
            entry.update(level=level, reason=op.reason)
        # the level below takes it up again (签收): reported, nobody on it
        new.update(status="reported", owner_level=level, assignee=None,
                   task_deadline=op.deadline if handed else None,
                   handed_down=handed)
    elif op.op == "close":
        new.update(status="closed", closed_at=op.ts, solved_level=owner)
        entry["note"] = op.note
    elif op.op == "supervise":
        level = (actor.max_level if actor is not None and actor.role != "admin"
                 else CHAIN[-1])
        new["supervised"] = {"level": level, "by": op.actor, "at": op.ts,
                             "note": op.note}
        entry.update(level=level, note=op.note)
    else:  # unsupervise
        new["supervised"] = None
        entry["note"] = op.note


def escalation_due(record: dict[str, Any], now_ms: int, grace_ms: int) -> bool:
    """Overdue past the grace since the deadline or the last automatic step."""
    if (not is_overdue(record, now_ms) or record["owner_level"] == CHAIN[-1]
            or record["status"] not in SOURCES["escalate"]):
        return False  # e.g. resolved and waiting for verification
    handed = record.get("handed_down") or {}
    since = max(record["deadline"], record.get("auto_escalated_at") or 0,
                handed.get("deadline") or 0)
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
    mark = record.get("supervised")
    view.update(supervised={"level": mark["level"], "at": mark["at"]}  # not who
                if mark else None,
                reporter=mask_name(record.get("reporter", "")),
                phone=mask_phone(record.get("phone", "")),
                sla=sla_light(record, now_ms),
                overdue=is_overdue(record, now_ms))
    return view
