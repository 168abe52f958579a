"""The OpenAPI 3.1 description of the JSON API, served at ``/api/v1/openapi.json``.

The feed entries' schemas come from the contract's pydantic models
(``model_json_schema``), so the description cannot drift from what
:func:`data.feed.check.validate` accepts; they are only widened for HTTP where
the transport differs: counts and times may be JSON numbers as well as text,
and ``src`` may be left out (the API key's producer is used). Site-dependent
rules (is entrance E99 in the site?) are not expressible here and are answered
per entry with a reason.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from data.feed.contract import (
    COORDINATE_SCHEMA,
    COUNT_SCHEMA,
    MAX_COUNT,
    MIN_TS_MS,
    TIMESTAMP_SCHEMA,
    CrowdEntry,
    GateEntry,
    IncidentOp,
    IncidentReport,
    ParkingEntry,
)
from data.incidents.lifecycle import DONE, OPEN
from data.site import Site
from data.terms import UNIT_LEVELS
from data.units.tree import UnitTree

JSON = "application/json"
STATUSES = list(dict.fromkeys(("open", "closed", *OPEN, *DONE)))


class IngestResult(BaseModel):
    """What became of one entry of the posted batch."""

    model_config = ConfigDict(extra="forbid")
    index: int
    status: Literal["accepted", "rejected", "duplicate"]
    entry_id: str | None = None
    reason: str | None = None


class IngestAnswer(BaseModel):
    accepted: int
    rejected: int
    duplicates: int
    results: list[IngestResult]


class Error(BaseModel):
    error: str
    status: int


def _widen(prop: dict[str, Any]) -> dict[str, Any]:
    """One property of a contract model, as it may arrive over HTTP: what the
    stream holds as text may be a JSON number too; null is not a value."""
    prop = {k: v for k, v in prop.items() if k not in ("title", "default")}
    options = [o for o in prop.pop("anyOf", [prop]) if o.get("type") != "null"]
    widened = []
    for option in options:
        widened.append(option)
        if option == COUNT_SCHEMA:
            widened.insert(-1, {"type": "integer", "minimum": 0,
                                "maximum": MAX_COUNT})
        elif option == TIMESTAMP_SCHEMA:
            widened.insert(-1, {"type": "integer", "minimum": MIN_TS_MS,
                                "maximum": 10**16 - 1})
        elif option == COORDINATE_SCHEMA:
            widened.insert(-1, {"type": "number"})
    if len(widened) == 1:
        return {**{k: v for k, v in prop.items() if k not in widened[0]},
                **widened[0]}
    return {"anyOf": widened}


def _site_ids(model: type[BaseModel], sites: dict[str, Site]) -> dict[str, list]:
    """The ids a field must name in one of the served sites."""
    def ids(pick) -> list[str]:
        return sorted({i for site in sites.values() for i in pick(site)})

    vehicle = model is GateEntry
    return {"entrance": ids(lambda s: [e.id for e in s.entrances.values()
                                       if e.kind == "vehicle" or not vehicle]),
            "lot": ids(lambda s: s.parking), "grid": ids(lambda s: s.grids),
            "category": ids(lambda s: s.categories)}


def entry_schema(model: type[BaseModel], sites: dict[str, Site]) -> dict[str, Any]:
    """A contract model's JSON schema, for an entry posted over HTTP."""
    schema = model.model_json_schema(by_alias=True)
    props = {name: _widen(p) for name, p in schema["properties"].items()}
    for name, ids in _site_ids(model, sites).items():
        if name in props and ids:
            props[name] = {"type": "string", "enum": ids,
                           "description": "an id of the site (GET /api/v1/sites/"
                                          "{site} lists them)"}
    props["src"] = {**props["src"], "description":
                    "optional: the API key's producer; another value is refused"}
    return {"type": "object", "title": schema["title"],
            "additionalProperties": False, "properties": props,
            "required": [n for n in schema["required"] if n != "src"]}


STREAM_MODELS = {
    "crowd": (CrowdEntry,),
    "traffic": (GateEntry, ParkingEntry),
    "incident": (IncidentReport, IncidentOp),
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _errors(*statuses: int) -> dict[str, Any]:
    text = {400: "bad request", 401: "no API key or session, or a revoked key",
            403: "the caller lacks the right, or the site or unit is outside "
                 "its scope",
            404: "unknown site, stream, incident or unit, or a moment outside "
                 "what is kept for replay",
            413: "body or batch too large", 429: "too many requests",
            503: "the data service (Redis) is unavailable, or no snapshot yet"}
    out: dict[str, Any] = {}
    for status in statuses:
        out[str(status)] = {"description": text[status],
                            "content": {JSON: {"schema": _ref("Error")}}}
    if 401 in statuses:
        out["401"]["headers"] = {"WWW-Authenticate": {"schema": {"type": "string"}}}
    return out


def _site_param(sites: list[str]) -> dict[str, Any]:
    return {"name": "site", "in": "path", "required": True,
            "schema": {"type": "string", "enum": sites}}


def _ingest_operation(stream: str, sites: list[str], max_batch: int) -> dict:
    entry = {"anyOf": [_ref(m.__name__) for m in STREAM_MODELS[stream]]} \
        if len(STREAM_MODELS[stream]) > 1 else _ref(STREAM_MODELS[stream][0].__name__)
    return {
        "operationId": f"ingest_{stream}",
        "summary": f"Post one {stream} entry, or a batch of up to {max_batch}",
        "description": "Each entry is checked against feed contract v1 and the "
                       "site now, and answered on its own: an entry that breaks "
                       "the contract (this schema included) does not fail the "
                       "batch, it is `rejected` with its reason and goes to the "
                       "site's dead-letter stream; an eid already received is a "
                       "`duplicate`, written nowhere. Only a body that is not an "
                       "entry or a batch of them is a 400 (413 when too large).",
        "tags": ["ingest"],
        "security": [{"bearer": []}],
        "parameters": [_site_param(sites)],
        "requestBody": {"required": True, "content": {JSON: {"schema": {"oneOf": [
            entry,
            {"type": "array", "items": entry, "minItems": 1,
             "maxItems": max_batch}]}}}},
        "responses": {"202": {"description": "what became of each entry",
                              "content": {JSON: {"schema": _ref("IngestAnswer")}}},
                      **_errors(400, 401, 403, 404, 413, 429, 503)},
    }


def _read(summary: str, params: list[dict] | None = None,
          errors: tuple[int, ...] = (401, 403, 404, 503),
          security: bool = True) -> dict[str, Any]:
    return {"get": {
        "summary": summary, "tags": ["read"],
        "security": [{"bearer": []}] if security else [],
        "parameters": params or [],
        "responses": {"200": {"description": "OK", "content": {JSON: {
            "schema": {"type": "object"}}}}, **_errors(*errors)}}}


def _clip(site: dict[str, Any]) -> dict[str, Any]:
    """The replay's clip: an animated PNG, not JSON."""
    every = {"name": "every", "in": "query", "required": False, "description":
             "seconds between two frames (1 to 3600; by default 30 frames)",
             "schema": {"type": "number", "minimum": 1, "maximum": 3600}}
    lang = {"name": "lang", "in": "query", "required": False,
            "schema": {"type": "string", "enum": ["zh", "en"]}}
    op = _read("The minutes between two moments (at most 60, at most 120 "
               "frames) as an animated PNG, each frame the stamped moment; "
               "its `gov:frames` text chunk lists each frame's moment and "
               "version; 429 while this server makes another clip",
               [site, _moment("start", "the first frame's moment"),
                _moment("end", "the last moment of the range"), every, lang],
               errors=(400, 401, 403, 404, 429, 503))
    op["get"]["responses"]["200"] = {"description": "an animated PNG (APNG)",
                                     "content": {"image/png": {"schema": {
                                         "type": "string",
                                         "format": "binary"}}}}
    return op


def _moment(name: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": True, "description":
            description, "schema": {"type": "string", "format": "date-time"}}


RATE = {"type": ["number", "null"], "minimum": 0,
        "description": "a share from 0 to 1; null with nothing to divide by"}
COUNT = {"type": "integer"}
KPI_SCHEMA = {
    "type": "object", "additionalProperties": False,
    "required": ["people_present", "incidents_open", "overdue", "closed_today",
                 "closure_rate", "on_time_rate", "rework_rate",
                 "solved_in_grid_share", "owned_here"],
    "properties": {
        "people_present": {**COUNT, "description": "people in its grids now"},
        "incidents_open": COUNT,
        "overdue": {**COUNT, "description": "open and past the deadline"},
        "closed_today": COUNT,
        "closure_rate": {**RATE, "description": "结案率: closed this month ÷ "
                         "(closed this month + overdue now)"},
        "on_time_rate": {**RATE, "description": "按期结案率: closed by the "
                         "deadline ÷ (closed this month + overdue now)"},
        "rework_rate": {**RATE, "description": "返工率: closed incidents "
                        "reopened this month ÷ closed this month"},
        "solved_in_grid_share": {**RATE, "description": "小事不出网格: closed "
                                 "while owned by the grid ÷ closed this month"},
        "owned_here": {**COUNT, "description": "open incidents owned at this "
                       "unit's level now"},
    }}


def _unit_schemas() -> dict[str, Any]:
    head = {"id": {"type": "string"},
            "level": {"type": "string", "enum": list(UNIT_LEVELS)},
            "name": {"type": "string"}, "name_en": {"type": "string"},
            "site": {"type": ["string", "null"],
                     "description": "a community's site"}}
    return {
        "UnitNode": {"type": "object", "required": [*list(head)[:4], "children"],
                     "properties": {**head, "children": {
                         "type": "array", "items": _ref("UnitNode")}}},
        "UnitKpis": KPI_SCHEMA,
        "UnitFigures": {
            "type": "object",
            "required": [*list(head)[:4], "generated_at", "kpis", "children"],
            "properties": {
                **head,
                "generated_at": {"type": ["string", "null"], "description":
                                 "when its figures last moved (ISO 8601)"},
                "kpis": _ref("UnitKpis"),
                "children": {"type": "array", "items": {
                    "type": "object", "required": [*list(head)[:4], "kpis"],
                    "properties": {**head, "kpis": _ref("UnitKpis")}}}}},
    }


def _unit_paths(units: UnitTree | None) -> dict[str, Any]:
    def answer(schema: str, errors: tuple[int, ...], params: list) -> dict:
        return {"get": {
            "summary": ("The tree of units the caller may read: the city, "
                        "districts, streets, communities" if schema == "UnitTree"
                        else "A unit's key figures and its children's"),
            "tags": ["units"], "security": [{"bearer": []}], "parameters": params,
            "responses": {"200": {"description": "OK", "content": {JSON: {
                "schema": _ref(schema) if schema != "UnitTree" else {
                    "type": "object", "required": ["units"],
                    "properties": {"units": {"type": "array",
                                             "items": _ref("UnitNode")}}}}}},
                **_errors(*errors)}}}
    unit = {"name": "unit", "in": "path", "required": True,
            "schema": {"type": "string", **({"enum": sorted(units.units)}
                                            if units is not None else {})}}
    return {"/api/v1/units": answer("UnitTree", (401, 403, 503), []),
            "/api/v1/units/{unit}": answer("UnitFigures", (401, 403, 404, 503),
                                           [unit])}


def document(sites: dict[str, Site], *, max_batch: int,
             units: UnitTree | None = None) -> dict[str, Any]:
    """The OpenAPI document for an app serving ``sites`` (and ``units``)."""
    site = _site_param(list(sites))
    grids = sorted({g for s in sites.values() for g in s.grids})
    query = [{"name": name, "in": "query", "required": False, "schema": schema}
             for name, schema in (
                 ("status", {"type": "string", "enum": STATUSES}),
                 ("grid", {"type": "string", "enum": grids,
                           "description": "a grid of the site"}),
                 ("level", {"type": "string", "enum": ["1", "2", "3"]}),
                 ("limit", {"type": "integer", "description":
                            "at most this many, newest first (1–1000; "
                            "outside, the nearest bound; default 200)"}))]
    incident = {"name": "incident_id", "in": "path", "required": True,
                "schema": {"type": "string"}}
    paths: dict[str, Any] = {
        "/api/v1/sites": _read("The sites served", errors=(401, 403, 503)),
        "/api/v1/sites/{site}": _read("The ids a producer may use, and the "
                                      "stream names", [site]),
        "/api/v1/sites/{site}/snapshot": _read("The live snapshot", [site]),
        "/api/v1/sites/{site}/producers": _read(
            "Every producer and device, judged now: a list of {src, device, "
            "kind (counter, gate, parking, hotline, phones), state (ok, late, "
            "silent, erroring, flapping), since, last_ts, rate_per_min, "
            "usual_per_min, refused_15m, last_reason, grid}", [site]),
        "/api/v1/sites/{site}/incidents": _read(
            "Incidents, Open311-like, personal data masked", [site, *query],
            errors=(400, 401, 403, 404, 503)),
        "/api/v1/sites/{site}/incidents/{incident_id}": _read(
            "One incident with its history", [site, incident]),
        "/api/v1/sites/{site}/replay": _read(
            "The snapshot the walls were shown at a moment: the newest recorded "
            "version generated at or before `at`, in the shape of /snapshot; "
            "404 with the range kept (`kept.from`, `kept.to`) outside it",
            [site, _moment("at", "the moment, e.g. 2026-05-01T19:42:00+08:00 "
                                 "(no offset: the site's local time)")],
            errors=(400, 401, 403, 404)),
        "/api/v1/sites/{site}/replay/events": _read(
            "What happened between two moments (at most 7 days apart), for a "
            "time bar: incidents reported and closed, alerts raised and "
            "cleared, casts, stale periods; oldest first",
            [site, _moment("start", "from this moment"),
             _moment("end", "to this moment (included)")],
            errors=(400, 401, 403, 404)),
        "/api/v1/sites/{site}/replay/clip.png": _clip(site),
        "/api/v1/health": _read(
            "200 when every site (or the one asked for) has a snapshot fresher "
            "than 15 s and is folded without failing; each site's reason "
            "otherwise", [{"name": "site", "in": "query", "required": False,
                           "schema": {"type": "string", "enum": list(sites)}}],
            errors=(404, 503), security=False),
    }
    paths.update(_unit_paths(units))
    for stream in STREAM_MODELS:
        paths[f"/api/v1/sites/{{site}}/feeds/{stream}"] = {
            "post": _ingest_operation(stream, list(sites), max_batch)}
    schemas: dict[str, Any] = {
        model.__name__: entry_schema(model, sites)
        for models in STREAM_MODELS.values() for model in models}
    for model in (IngestAnswer, Error):
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    schemas.update(_unit_schemas())
    return {
        "openapi": "3.1.0",
        "info": {"title": "Grid governance command center API", "version": "1",
                 "description": "Feed contract v1 over HTTP, and the read API. "
                                "See the README, 'Feed contract' and 'JSON API'."},
        "paths": paths,
        "components": {"schemas": schemas, "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer",
                       "description": "an API key: scope ingest to post feeds, "
                                      "read for the rest"}}},
    }
