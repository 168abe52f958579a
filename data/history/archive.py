"""The archive writer: the live window's minute buckets and incident records as
the history's day files.

Minutes are written per local day to ``flow.parquet``, with an hourly roll-up
beside it (``flow_hourly.parquet``) for the views; incident records (history
included) per report day to ``incidents.parquet``. Counters only grow, so a
minute already archived is merged with what Redis holds now by taking the
larger count: late entries still land, and a Redis that lost its data never
erases history. Personal data (reporter names, phone numbers) is masked before
it is written: history is for analysis, not for calling people back. The loop
that calls these is :mod:`data.history.archiver`; the files themselves,
:mod:`data.history.files`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import date
from pathlib import PurePath
from typing import Any

import pandas as pd

from data.history.files import (
    FLOW,
    HOURLY,
    INCIDENTS,
    SCHEMA_VERSION,
    day_file,
    flow_schema,
    incident_schema,
    write_if_changed,
)
from data.history.store import Root, as_store
from data.incidents.lifecycle import mask_name, mask_phone
from data.site import Site
from data.terms import CHAIN

# counter-field prefix -> scope: e:<entrance> people at an entrance, g:<grid>
# people into a grid, s people into the site, v:<gate> vehicles at a gate,
# vs vehicles into the site (see data/fold.py)
SCOPES = {"e": "entrance", "g": "grid", "s": "site", "v": "gate", "vs": "vehicles"}


# --- files -----------------------------------------------------------------


# --- flow ------------------------------------------------------------------


def minute_rows(minute: int, counters: dict[str, Any]) -> list[tuple]:
    """Rows ``(minute ms, scope, id, in, out)`` of one minute-bucket hash."""
    pairs: dict[tuple[str, str], list[int]] = {}
    for name, value in counters.items():
        name = name.decode() if isinstance(name, bytes) else name
        head, _, direction = name.rpartition(":")
        prefix, _, ident = head.partition(":")
        scope = SCOPES.get(prefix)
        if scope is None or direction not in ("i", "o"):
            continue
        pair = pairs.setdefault((scope, ident or scope), [0, 0])
        pair[direction == "o"] += int(value)
    return [(minute * 60_000, scope, ident, n_in, n_out)
            for (scope, ident), (n_in, n_out) in pairs.items()]


def flow_frame(rows: Iterable[tuple], tz: str) -> pd.DataFrame:
    frame = pd.DataFrame(list(rows), columns=["minute", "scope", "id", "in", "out"])
    frame["minute"] = pd.to_datetime(frame["minute"].astype("int64"), unit="ms",
                                     utc=True).dt.tz_convert(tz)
    return frame.astype({"in": "int32", "out": "int32", "scope": str, "id": str})


def hourly(frame: pd.DataFrame) -> pd.DataFrame:
    """The minute rows summed per hour (the views read this roll-up)."""
    out = frame.assign(hour=frame["minute"].dt.floor("h"))
    out = out.groupby(["hour", "scope", "id"], as_index=False, observed=True)[
        ["in", "out"]].sum()
    return out.rename(columns={"hour": "minute"}).astype({"in": "int32",
                                                          "out": "int32"})


def merge_flow(old: pd.DataFrame, new: pd.DataFrame) -> pd.DataFrame:
    """Union of two minute frames; where both count a minute, the larger wins."""
    both = pd.concat([old, new], ignore_index=True) if len(old) else new
    merged = both.groupby(["minute", "scope", "id"], as_index=False,
                          observed=True)[["in", "out"]].max()
    return merged.sort_values(["scope", "id", "minute"], ignore_index=True)


def write_flow_day(root: Root, site: Site, day: date, minutes: pd.DataFrame,
                   as_of_ms: int) -> bool:
    """Merge ``minutes`` into the day's flow files; True if anything changed."""
    path = day_file(root, site.id, day, FLOW)
    merged = merge_flow(read_flow_file(path, site.timezone, root), minutes)
    meta = {"site": site.id, "day": day.isoformat(), "kind": FLOW,
            "schema": SCHEMA_VERSION, "as_of": as_of_ms}
    schema = flow_schema(site.timezone)
    rollup = path.with_name(f"{HOURLY}.parquet")
    changed = write_if_changed(root, merged, schema, path, meta)
    if changed or not as_store(root).exists(rollup):  # also after a crash between
        write_if_changed(root, hourly(merged), schema, rollup,
                         {**meta, "kind": HOURLY})
    return changed


# --- incidents -------------------------------------------------------------


def level_path(record: dict[str, Any]) -> str:
    """The owner levels an incident went through: ``grid>community>street``."""
    levels = [CHAIN[0]]
    for entry in record.get("history", ()):
        if entry.get("op") == "escalate" and entry.get("level") in CHAIN:
            levels.append(entry["level"])
    return ">".join(levels)


def incident_row(record: dict[str, Any]) -> dict[str, Any]:
    """One archive row of an incident record, personal data masked."""
    history = [{k: v for k, v in entry.items() if k not in ("phone", "reporter")}
               for entry in record.get("history", ())]
    return {
        "id": record["id"], "category": record["category"],
        "level": int(record["level"]), "title": record.get("title", ""),
        "grid": record["grid"], "channel": record.get("channel") or "",
        "lat": record.get("lat"), "lon": record.get("lon"),
        "status": record["status"], "owner_level": record["owner_level"],
        "solved_level": record.get("solved_level"), "path": level_path(record),
        "reported_at": record["reported_at"], "deadline": record["deadline"],
        "closed_at": record.get("closed_at"), "updated_at": record["updated_at"],
        "rework": int(record.get("rework") or 0),
        "escalations": int(record.get("escalations") or 0),
        "merged_into": record.get("merged_into"),
        "assignee": record.get("assignee"),
        "reporter": mask_name(record.get("reporter") or ""),
        "phone": mask_phone(record.get("phone") or ""),
        "history": json.dumps(history, ensure_ascii=False, separators=(",", ":")),
    }


def incident_frame(rows: list[dict[str, Any]], tz: str) -> pd.DataFrame:
    schema = incident_schema(tz)
    if not rows:
        return schema.empty_table().to_pandas()
    frame = pd.DataFrame(rows, columns=schema.names)
    for name in ("reported_at", "deadline", "closed_at", "updated_at"):
        frame[name] = pd.to_datetime(frame[name], unit="ms", utc=True).dt.tz_convert(tz)
    return frame


def write_incident_day(root: Root, site: Site, day: date, fresh: pd.DataFrame,
                       as_of_ms: int) -> bool:
    """Replace the day's records by ``fresh`` ones (same id); True if changed."""
    path = day_file(root, site.id, day, INCIDENTS)
    old = read_incident_file(path, site.timezone, root)
    keep = old[~old["id"].isin(fresh["id"])] if len(old) else old
    merged = (pd.concat([keep, fresh], ignore_index=True) if len(keep) else fresh)
    merged = merged.sort_values(["reported_at", "id"], ignore_index=True)
    meta = {"site": site.id, "day": day.isoformat(), "kind": INCIDENTS,
            "schema": SCHEMA_VERSION, "as_of": as_of_ms}
    return write_if_changed(root, merged, incident_schema(site.timezone), path, meta)


def write_incidents(root: Root, site: Site, records: Iterable[dict[str, Any]],
                    as_of_ms: int) -> list[date]:
    """Write ``records`` into the files of their report days."""
    frame = incident_frame([incident_row(r) for r in records], site.timezone)
    changed = []
    for day, part in frame.groupby(frame["reported_at"].dt.date, sort=True):
        if write_incident_day(root, site, day, part, as_of_ms):
            changed.append(day)
    return changed


# --- the loop --------------------------------------------------------------


def read_flow_file(path: PurePath, tz: str, root: Root) -> pd.DataFrame:
    table = as_store(root).read_table(path)
    if table is None:
        return flow_frame([], tz)
    return table.to_pandas().astype({"scope": str, "id": str})


def read_incident_file(path: PurePath, tz: str, root: Root) -> pd.DataFrame:
    table = as_store(root).read_table(path)
    return incident_frame([], tz) if table is None else table.to_pandas()
