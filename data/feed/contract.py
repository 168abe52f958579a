"""Feed contract, version 1: what producers may write, checked field by field.

:func:`validate` turns one raw stream entry (bytes from Redis) into a typed
event, or raises :class:`Rejected` with a reason a person can act on
("entrance E99 is not in site yaozhai"). Structure is checked by pydantic
models; what depends on the site (entrance, grid, category ids) and on the
clock (no timestamps from the future) is checked after.

The contract is public: see README, "Feed contract".
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    WithJsonSchema,
    model_validator,
)

from data.site import Site
from data.terms import URGENCIES

MAX_VALUE_BYTES = 4096
MAX_FIELDS = 24
MAX_COUNT = 100_000  # people or vehicles in one entry: more is a broken counter
FUTURE_LIMIT_MS = 5 * 60 * 1000
MIN_TS_MS = 946_684_800_000  # 2000-01-01: anything earlier is not epoch ms
CHANNELS = ("patrol", "camera", "hotline", "resident", "property", "upper", "app")
WORKFLOW_OPS = (
    "accept", "reject", "dispatch", "start", "resolve", "verify", "reopen",
    "escalate", "merge", "comment",
)
OPS = ("report", *WORKFLOW_OPS)

_IDENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:@/-]{0,127}$")
_DIGITS = re.compile(r"^[0-9]{1,16}$")
# An incident id is a UUID made by the reporter (contract v1), in its usual
# text form; anything else ("open", "all", "a:b", "{x}") is refused, so no
# producer's id can name another key than its own record's.
_UUID = re.compile(
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


class Rejected(ValueError):
    """An entry breaks the contract; ``str(exc)`` is the reason for people."""


def _ident(value: Any) -> str:
    if not isinstance(value, str) or not _IDENT.fullmatch(value):
        raise ValueError(
            f"{_show(value)} is not an id (letters, digits, '_.:@/-', at most 128)"
        )
    return value


def _incident_id(value: Any) -> str:
    if not is_incident_id(value):
        raise ValueError(f"{_show(value)} is not an incident UUID "
                         "(xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx, hex digits)")
    return value


def is_incident_id(value: Any) -> bool:
    """True for an incident id the contract accepts (a UUID in text form)."""
    return isinstance(value, str) and bool(_UUID.fullmatch(value))


def _count(value: Any) -> int:
    if not isinstance(value, str) or not _DIGITS.fullmatch(value):
        raise ValueError(f"{_show(value)} is not a whole number >= 0")
    number = int(value)
    if number > MAX_COUNT:
        raise ValueError(f"{number} is implausible for one entry (at most {MAX_COUNT})")
    return number


def _timestamp(value: Any) -> int:
    if not isinstance(value, str) or not _DIGITS.fullmatch(value):
        raise ValueError(f"{_show(value)} is not epoch milliseconds")
    number = int(value)
    if number < MIN_TS_MS:
        raise ValueError(f"{number} is not epoch milliseconds (before 2000)")
    return number


def _coordinate(value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{_show(value)} is not a number") from None
    if not math.isfinite(number):
        raise ValueError(f"{_show(value)} is not a finite number")
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


def _show(value: Any, limit: int = 24) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "…'"


# What each type looks like on the stream (text), for the JSON schema of the
# models (the OpenAPI description of HTTP ingest is built from it).
IDENT_SCHEMA = {"type": "string", "pattern": _IDENT.pattern}
INCIDENT_ID_SCHEMA = {"type": "string", "pattern": _UUID.pattern,
                      "description": "incident UUID made by the reporter"}
COUNT_SCHEMA = {"type": "string", "pattern": _DIGITS.pattern,
                "description": f"a whole number, 0 to {MAX_COUNT}"}
TIMESTAMP_SCHEMA = {"type": "string", "pattern": _DIGITS.pattern,
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


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    v: Literal["1"]
    src: Ident
    ts: Timestamp
    eid: Ident | None = None


class CrowdEntry(_Entry):
    entrance: Ident
    people_in: Count = Field(alias="in")
    people_out: Count = Field(alias="out")


class GateEntry(_Entry):
    entrance: Ident
    vehicles_in: Count = Field(alias="in")
    vehicles_out: Count = Field(alias="out")


class ParkingEntry(_Entry):
    lot: Ident
    occupied: Count


class IncidentReport(_Entry):
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


class IncidentOp(_Entry):
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
        }.get(self.op, ())
        for name in need:
            if not getattr(self, name):
                raise ValueError(f"op {self.op} needs '{name}'")
        return self


Event = CrowdEntry | GateEntry | ParkingEntry | IncidentReport | IncidentOp


def decode_fields(raw: dict) -> dict[str, str]:
    """Bytes from Redis to text, refusing what no producer should send."""
    if len(raw) <= MAX_FIELDS:  # the common case, checked in one pass
        try:
            fields = {k.decode(): v.decode() for k, v in raw.items()}
        except (UnicodeDecodeError, AttributeError):
            pass
        else:
            if (max(map(len, raw.values()), default=0) <= MAX_VALUE_BYTES
                    and "\x00" not in "".join(fields.values())):
                return fields
    return _decode_slowly(raw)


def _decode_slowly(raw: dict) -> dict[str, str]:
    """Field by field, to say which one is wrong."""
    if len(raw) > MAX_FIELDS:
        raise Rejected(f"entry has {len(raw)} fields (at most {MAX_FIELDS})")
    fields: dict[str, str] = {}
    for key, value in raw.items():
        try:
            name = key.decode() if isinstance(key, bytes) else str(key)
        except UnicodeDecodeError:
            raise Rejected("a field name is not valid UTF-8 text") from None
        if len(value) > MAX_VALUE_BYTES:
            raise Rejected(
                f"field '{name[:40]}' is {len(value)} bytes long "
                f"(at most {MAX_VALUE_BYTES})"
            )
        try:
            fields[name] = value.decode() if isinstance(value, bytes) else str(value)
        except UnicodeDecodeError:
            raise Rejected(f"field '{name[:40]}' is not valid UTF-8 text") from None
        if "\x00" in fields[name]:
            raise Rejected(f"field '{name[:40]}' contains a NUL byte")
    return fields


def _reason(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors(include_url=False)[:3]:
        loc = ".".join(str(p) for p in err["loc"])
        kind = err["type"]
        if kind == "missing":
            parts.append(f"missing field '{loc}'")
        elif kind == "extra_forbidden":
            parts.append(f"unknown field '{loc[:40]}'")
        elif kind == "literal_error":
            parts.append(f"field '{loc}' is {_show(err['input'])}, expected "
                         f"{err['ctx']['expected']}")
        elif kind == "value_error":
            message = str(err["ctx"]["error"])
            parts.append(f"field '{loc}' {message}" if loc else message)
        else:
            parts.append(f"field '{loc}': {err['msg']}" if loc else err["msg"])
    return "; ".join(parts)


def _model_for(stream: str, fields: dict[str, str]) -> type[_Entry]:
    if stream == "crowd":
        return CrowdEntry
    if stream == "traffic":
        return ParkingEntry if "lot" in fields else GateEntry
    if stream == "incident":
        return IncidentReport if fields.get("op") == "report" else IncidentOp
    raise Rejected(f"unknown stream {stream!r}")


def _check_site(event: Event, site: Site) -> None:
    if isinstance(event, CrowdEntry | GateEntry):
        entrance = site.entrances.get(event.entrance)
        if entrance is None:
            raise Rejected(f"entrance {event.entrance} is not in site {site.id}")
        if isinstance(event, GateEntry) and entrance.kind != "vehicle":
            raise Rejected(
                f"entrance {event.entrance} of site {site.id} is a pedestrian "
                "entrance, not a vehicle gate"
            )
    elif isinstance(event, ParkingEntry):
        lot = site.parking.get(event.lot)
        if lot is None:
            raise Rejected(f"parking lot {event.lot} is not in site {site.id}")
        if event.occupied > lot.capacity:
            raise Rejected(
                f"parking lot {event.lot} has {lot.capacity} spaces, "
                f"occupied={event.occupied}"
            )
    elif isinstance(event, IncidentReport):
        if event.category not in site.categories:
            raise Rejected(f"category {event.category} is not in site {site.id}")
        if event.grid is not None and event.grid not in site.grids:
            raise Rejected(f"grid {event.grid} is not in site {site.id}")
        if event.grid is None and site.grid_at(event.lon, event.lat) is None:
            raise Rejected(
                f"point lat={event.lat} lon={event.lon} is outside every grid "
                f"of site {site.id}"
            )


_COUNT_FIELDS = {"v", "src", "ts", "entrance", "in", "out", "eid"}


@dataclass(frozen=True, slots=True)
class Tally:
    """A crowd (people) or gate (vehicles) count, as the aggregator folds it.

    Tens of thousands arrive each second, so the aggregator handles them as
    this small record; the pydantic models stay the authority on what is valid.
    """

    kind: str  # "crowd" or "gate"
    src: str
    ts: int
    eid: str | None
    entrance: str
    n_in: int
    n_out: int


def _count_fast(stream: str, fields: dict[str, str]) -> Tally | None:
    """A count that passes every structural rule, checked directly; None means
    "check it the thorough way" (which also explains what is wrong)."""
    if stream not in ("crowd", "traffic") or not fields.keys() <= _COUNT_FIELDS:
        return None
    eid = fields.get("eid")
    try:
        if not (fields["v"] == "1" and _IDENT.fullmatch(fields["src"])
                and _IDENT.fullmatch(fields["entrance"])
                and (eid is None or _IDENT.fullmatch(eid))
                and _DIGITS.fullmatch(fields["ts"]) and _DIGITS.fullmatch(fields["in"])
                and _DIGITS.fullmatch(fields["out"])):
            return None
    except KeyError:
        return None
    ts, n_in, n_out = int(fields["ts"]), int(fields["in"]), int(fields["out"])
    if ts < MIN_TS_MS or n_in > MAX_COUNT or n_out > MAX_COUNT:
        return None
    return Tally("crowd" if stream == "crowd" else "gate", fields["src"], ts, eid,
                 fields["entrance"], n_in, n_out)


def _as_count(event: Event) -> Tally | Event:
    if isinstance(event, CrowdEntry):
        return Tally("crowd", event.src, event.ts, event.eid, event.entrance,
                     event.people_in, event.people_out)
    if isinstance(event, GateEntry):
        return Tally("gate", event.src, event.ts, event.eid, event.entrance,
                     event.vehicles_in, event.vehicles_out)
    return event


def check(stream: str, raw: dict, site: Site, now_ms: int) -> Tally | Event:
    """:func:`validate` for the aggregator: counts come back as :class:`Tally`."""
    fields = decode_fields(raw)
    count = _count_fast(stream, fields)
    if count is None:
        return _as_count(_validated(stream, fields, site, now_ms))
    if count.ts > now_ms + FUTURE_LIMIT_MS:
        return _as_count(_validated(stream, fields, site, now_ms))  # says why
    entrance = site.entrances.get(count.entrance)
    if entrance is None or (count.kind == "gate" and entrance.kind != "vehicle"):
        return _as_count(_validated(stream, fields, site, now_ms))  # says why
    return count


def validate(stream: str, raw: dict, site: Site, now_ms: int) -> Event:
    """Check one entry of ``stream`` against contract v1 and ``site``."""
    return _validated(stream, decode_fields(raw), site, now_ms)


def _validated(stream: str, fields: dict[str, str], site: Site,
               now_ms: int) -> Event:
    model = _model_for(stream, fields)
    try:
        event = model.model_validate(fields)
    except ValidationError as exc:
        raise Rejected(_reason(exc)) from None
    if event.ts > now_ms + FUTURE_LIMIT_MS:
        ahead = (event.ts - now_ms) / 1000
        raise Rejected(f"ts is {ahead:.0f} s in the future (at most 300 s)")
    _check_site(event, site)
    return event


def report_grid(event: IncidentReport, site: Site) -> str:
    """The grid a report belongs to: given, or found from its coordinates."""
    if event.grid is not None:
        return event.grid
    grid = site.grid_at(event.lon, event.lat)
    assert grid is not None  # validate() rejected points outside the site
    return grid


def level_of(event: IncidentReport) -> int:
    level = int(event.level)
    assert level in URGENCIES
    return level
