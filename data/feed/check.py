"""Checking one raw stream entry against the contract and the site.
:func:`validate` turns one raw entry (bytes from Redis) into a typed event of
:mod:`data.feed.contract`, or raises :class:`~data.feed.contract.Rejected` with
a reason a person can act on ("entrance E99 is not in site yaozhai"). Structure
is checked by the contract's pydantic models; what depends on the site
(entrance, grid, category ids) and on the clock (no timestamps from the future)
is checked after. :func:`check` is the aggregator's fast path: a plain people
or vehicle count becomes a :class:`Tally` without building a model.
"""

from __future__ import annotations

from typing import NamedTuple

from pydantic import (
    ValidationError,
)

from data.feed.contract import (
    FUTURE_LIMIT_MS,
    MAX_COUNT,
    MAX_FIELDS,
    MAX_VALUE_BYTES,
    MIN_TS_MS,
    CrowdEntry,
    Entry,
    Event,
    GateEntry,
    IncidentOp,
    IncidentReport,
    ParkingEntry,
    Rejected,
    show_value,
)
from data.site import Site
from data.terms import URGENCIES


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
            parts.append(f"field '{loc}' is {show_value(err['input'])}, expected "
                         f"{err['ctx']['expected']}")
        elif kind == "value_error":
            message = str(err["ctx"]["error"])
            parts.append(f"field '{loc}' {message}" if loc else message)
        else:
            parts.append(f"field '{loc}': {err['msg']}" if loc else err["msg"])
    return "; ".join(parts)


def _model_for(stream: str, fields: dict[str, str]) -> type[Entry]:
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




class Tally(NamedTuple):
    """A crowd (people) or gate (vehicles) count, as the aggregator folds it.

    Tens of thousands arrive each second, so the aggregator handles them as
    this small record (a tuple: made at C speed, where a frozen dataclass
    sets each field through ``object.__setattr__``); the pydantic models
    stay the authority on what is valid.
    """

    kind: str  # "crowd" or "gate"
    src: str
    ts: int
    eid: str | None
    entrance: str
    n_in: int
    n_out: int


# IDENT_RE said of bytes without a regex: a letter or digit, then up to 127
# of these (what is left once they are deleted must be nothing)
_IDENT_MAX = 128
_IDENT_CHARS = (b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                b"0123456789_.:@/-")
_TEXTS: dict[bytes, str] = {}  # ids already found good, as text (bounded)
_TEXTS_MAX = 65_536
_PAIRS: dict[tuple[bytes, bytes], tuple[str, str]] = {}  # (src, entrance) found good


def _ident(value: bytes) -> bool:
    """What IDENT_RE says of the text, said of the bytes."""
    return (0 < len(value) <= _IDENT_MAX and value[:1].isalnum()
            and not value.translate(None, _IDENT_CHARS))


def _ident_text(value: bytes) -> str | None:
    """``value`` as text if it is an id (IDENT_RE), else None. A site's
    sources and entrances are a few dozen values sent over and over: each is
    checked and decoded once."""
    text = _TEXTS.get(value)
    if text is None and _ident(value):
        if len(_TEXTS) >= _TEXTS_MAX:  # producers may send any bytes
            _TEXTS.clear()
        text = _TEXTS[value] = value.decode()
    return text


def _digits(value: bytes) -> bool:
    """What DIGITS_RE says of the text, said of the bytes (``isdigit`` of
    bytes knows ASCII digits alone)."""
    return 0 < len(value) <= 16 and value.isdigit()


def _count_fast(stream: str, raw: dict) -> Tally | None:
    """A count that passes every structural rule, checked directly on the
    bytes Redis gives (tens of thousands a second: no field is decoded but
    the three a count keeps); None means "check it the thorough way" (which
    also explains what is wrong). :func:`_digits` and :func:`_ident` are
    written out here: a call each was a tenth of the check."""
    if stream not in ("crowd", "traffic"):
        return None
    try:
        src, entrance, ts = raw[b"src"], raw[b"entrance"], raw[b"ts"]
        n_in, n_out, ok = raw[b"in"], raw[b"out"], raw[b"v"] == b"1"
    except KeyError:
        return None
    # no field but those six and an eid (counted, not a set compared: the
    # fields' hashes were a sixth of the check)
    eid = raw.get(b"eid")
    if len(raw) != (6 if eid is None else 7):
        return None
    if not (ok and len(ts) <= 16 and ts.isdigit() and len(n_in) <= 16
            and n_in.isdigit() and len(n_out) <= 16 and n_out.isdigit()
            and (eid is None or (len(eid) <= _IDENT_MAX and eid[:1].isalnum()
                                 and not eid.translate(None, _IDENT_CHARS)))):
        return None
    texts = _PAIRS.get((src, entrance))
    if texts is None:
        src_text, entrance_text = _ident_text(src), _ident_text(entrance)
        if src_text is None or entrance_text is None:
            return None
        if len(_PAIRS) >= _TEXTS_MAX:
            _PAIRS.clear()
        texts = _PAIRS[src, entrance] = (src_text, entrance_text)
    ts_ms, people_in, people_out = int(ts), int(n_in), int(n_out)
    if ts_ms < MIN_TS_MS or people_in > MAX_COUNT or people_out > MAX_COUNT:
        return None
    return Tally("crowd" if stream == "crowd" else "gate", texts[0], ts_ms,
                 None if eid is None else eid.decode(), texts[1],
                 people_in, people_out)


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
    count = _count_fast(stream, raw)
    if count is None or count.ts > now_ms + FUTURE_LIMIT_MS:
        return _as_count(validate(stream, raw, site, now_ms))  # says why
    entrance = site.entrances.get(count.entrance)
    if entrance is None or (count.kind == "gate" and entrance.kind != "vehicle"):
        return _as_count(validate(stream, raw, site, now_ms))  # says why
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
