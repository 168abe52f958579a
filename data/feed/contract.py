"""Feed contract, version 1: what producers may write, field by field, as
pydantic models of each kind of entry. :mod:`data.feed.check` checks a raw
entry against them and against the site.

The contract is public: see README, "Feed contract".
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
    model_validator,
)

MAX_VALUE_BYTES = 4096
MAX_FIELDS = 24
MAX_COUNT = 100_000  # people or vehicles in one entry: more is a broken counter
FUTURE_LIMIT_MS = 5 * 60 * 1000
MIN_TS_MS = 946_684_800_000  # 2000-01-01: anything earlier is not epoch ms
CHANNELS = ("patrol", "camera", "hotline", "resident", "property", "upper", "app")
WORKFLOW_OPS = (
    "accept", "reject", "dispatch", "start", "resolve", "verify", "reopen",
    "escalate", "merge", "comment",
    # the chain above the community (issue 12)
    "hand_down", "return", "close", "supervise", "unsupervise",
)
OPS = ("report", *WORKFLOW_OPS)

IDENT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:@/-]{0,127}$")
DIGITS_RE = re.compile(r"^[0-9]{1,16}$")
# An incident id is a UUID made by the reporter (contract v1), in its usual
# text form; anything else ("open", "all", "a:b", "{x}") is refused, so no
# producer's id can name another key than its own record's.
_UUID = re.compile(
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


class Rejected(ValueError):
    """An entry breaks the contract; ``str(exc)`` is the reason for people."""


def _ident(value: Any) -> str:
    if not isinstance(value, str) or not IDENT_RE.fullmatch(value):
        raise ValueError(
            f"{show_value(value)} is not an id (letters, digits, '_.:@/-', at most 128)"
        )
    return value


def _incident_id(value: Any) -> str:
    if not is_incident_id(value):
        raise ValueError(f"{show_value(value)} is not an incident UUID "
                         "(xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx, hex digits)")
    return value


def is_incident_id(value: Any) -> bool:
    """True for an incident id the contract accepts (a UUID in text form)."""
    return isinstance(value, str) and bool(_UUID.fullmatch(value))


def _count(value: Any) -> int:
    if not isinstance(value, str) or not DIGITS_RE.fullmatch(value):
        raise ValueError(f"{show_value(value)} is not a whole number >= 0")
    number = int(value)
    if number > MAX_COUNT:
        raise ValueError(f"{number} is implausible for one entry (at most {MAX_COUNT})")
    return number


def _timestamp(value: Any) -> int:
    if not isinstance(value, str) or not DIGITS_RE.fullmatch(value):
        raise ValueError(f"{show_value(value)} is not epoch milliseconds")
    number = int(value)
    if number < MIN_TS_MS:
        raise ValueError(f"{number} is not epoch milliseconds (before 2000)")
    return number


def _coordinate(value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{show_value(value)} is not a number") from None
    if not math.isfinite(number):
        raise ValueError(f"{show_value(value)} is not a finite number")
    return number


def _text(limit: int):
    def check(value: Any) -> str:
        if not isinstance(value, str):
            raise ValueError("must be text")
        text = value.strip()
        if len(text) > limit:
            raise ValueError(f"is {len(text)} characters long (at most {limit})")
        if any(ord(c) < 32 and c not in "\n\t" for c in text):
            raise ValueError("contains control characters")
        return text
    return check


def show_value(value: Any, limit: int = 24) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "…'"


# What each type looks like on the stream (text), for the JSON schema of the
# models (the OpenAPI description of HTTP ingest is built from it).
IDENT_SCHEMA = {"type": "string", "pattern": IDENT_RE.pattern}
INCIDENT_ID_SCHEMA = {"type": "string", "pattern": _UUID.pattern,
                      "description": "incident UUID made by the reporter"}
COUNT_SCHEMA = {"type": "string", "pattern": DIGITS_RE.pattern,
                "description": f"a whole number, 0 to {MAX_COUNT}"}
TIMESTAMP_SCHEMA = {"type": "string", "pattern": DIGITS_RE.pattern,
                    "description": "epoch milliseconds, 2000 or later (an "
                                   "entry's ts at most 5 minutes ahead)"}
COORDINATE_SCHEMA = {"type": "string", "description": "decimal degrees"}

Ident = Annotated[str, BeforeValidator(_ident), WithJsonSchema(IDENT_SCHEMA)]
IncidentId = Annotated[str, BeforeValidator(_incident_id),
                      WithJsonSchema(INCIDENT_ID_SCHEMA)]
Count = Annotated[int, BeforeValidator(_count), WithJsonSchema(COUNT_SCHEMA)]
Timestamp = Annotated[int, BeforeValidator(_timestamp),
                      WithJsonSchema(TIMESTAMP_SCHEMA)]
Coordinate = Annotated[float, BeforeValidator(_coordinate),
                       WithJsonSchema(COORDINATE_SCHEMA)]
Title = Annotated[str, BeforeValidator(_text(120))]
Detail = Annotated[str, BeforeValidator(_text(2000))]
Short = Annotated[str, BeforeValidator(_text(64))]


class Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    v: Literal["1"]
    src: Ident
    ts: Timestamp
    eid: Ident | None = None


class CrowdEntry(Entry):
    entrance: Ident
    people_in: Count = Field(alias="in")
    people_out: Count = Field(alias="out")


class GateEntry(Entry):
    entrance: Ident
    vehicles_in: Count = Field(alias="in")
    vehicles_out: Count = Field(alias="out")


class ParkingEntry(Entry):
    lot: Ident
    occupied: Count


class IncidentReport(Entry):
    op: Literal["report"]
    id: IncidentId
    category: Ident
    level: Literal["1", "2", "3"]
    title: Title
    grid: Ident | None = None
    lat: Coordinate | None = None
    lon: Coordinate | None = None
    detail: Detail = ""
    channel: Literal[CHANNELS] = "resident"  # type: ignore[valid-type]
    reporter: Short = ""
    phone: Short = ""
    actor: Ident | None = None
    photo: Ident | None = None

    @model_validator(mode="after")
    def _where(self) -> IncidentReport:
        if self.grid is None and (self.lat is None or self.lon is None):
            raise ValueError("needs 'grid', or both 'lat' and 'lon'")
        if not self.title:
            raise ValueError("'title' is empty")
        return self


class IncidentOp(Entry):
    op: Literal[WORKFLOW_OPS]  # type: ignore[valid-type]
    id: IncidentId
    actor: Ident
    reason: Detail = ""
    note: Detail = ""
    assignee: Ident | None = None
    deadline: Timestamp | None = None
    passed: Literal["0", "1"] | None = None
    level: Ident | None = None
    into: IncidentId | None = None
    photo: Ident | None = None

    @model_validator(mode="after")
    def _per_op(self) -> IncidentOp:
        need = {
            "reject": ("reason",), "dispatch": ("assignee",),
            "verify": ("passed",), "merge": ("into",), "comment": ("note",),
            "hand_down": ("level", "deadline"), "return": ("reason",),
            "close": ("note",),
        }.get(self.op, ())
        for name in need:
            if not getattr(self, name):
                raise ValueError(f"op {self.op} needs '{name}'")
        return self


Event = CrowdEntry | GateEntry | ParkingEntry | IncidentReport | IncidentOp
