"""The history's files: one folder per site and local day
(``history/site=<site>/day=<YYYY-MM-DD>/<kind>.parquet``), their schemas, and
how they are written: so that a reader sees the old file or the new one, never
half of one (in a folder: a hidden temp file, fsynced, renamed over the old
one; a crash leaves only the temp file, which readers ignore and the next pass
removes; on an object store: one PUT, see :mod:`data.history.store`).
"""

from __future__ import annotations

import hashlib
from datetime import date, datetime, timedelta
from pathlib import Path, PurePath
from zoneinfo import ZoneInfo

import pandas as pd
import pyarrow as pa

from data.history.store import STALE_TMP_S, Root, as_store

SCHEMA_VERSION = "1"


FLOW, HOURLY, INCIDENTS = "flow", "flow_hourly", "incidents"


def flow_schema(tz: str) -> pa.Schema:
    return pa.schema([
        ("minute", pa.timestamp("ms", tz=tz)),
        ("scope", pa.dictionary(pa.int8(), pa.string())),
        ("id", pa.dictionary(pa.int16(), pa.string())),
        ("in", pa.int32()),
        ("out", pa.int32()),
    ])


def incident_schema(tz: str) -> pa.Schema:
    stamp = pa.timestamp("ms", tz=tz)
    return pa.schema([
        ("id", pa.string()), ("category", pa.string()), ("level", pa.int8()),
        ("title", pa.string()), ("grid", pa.string()), ("channel", pa.string()),
        ("lat", pa.float64()), ("lon", pa.float64()), ("status", pa.string()),
        ("owner_level", pa.string()), ("solved_level", pa.string()),
        ("path", pa.string()), ("reported_at", stamp), ("deadline", stamp),
        ("closed_at", stamp), ("updated_at", stamp), ("rework", pa.int16()),
        ("escalations", pa.int16()), ("merged_into", pa.string()),
        ("assignee", pa.string()), ("reporter", pa.string()),
        ("phone", pa.string()), ("history", pa.string()),
    ])


def day_dir(root: Root, site: str, day: date) -> PurePath:
    """``<root>/site=<site>/day=<YYYY-MM-DD>``: one folder per site and day
    (a :class:`~pathlib.Path` when the history is a local folder)."""
    return as_store(root).base / f"site={site}" / f"day={day.isoformat()}"


def day_file(root: Root, site: str, day: date, kind: str) -> PurePath:
    return day_dir(root, site, day) / f"{kind}.parquet"


def write_atomic(table: pa.Table, path: PurePath, root: Root) -> None:
    """Write ``table`` to ``path`` (under ``root``) so that no reader ever sees
    half of it."""
    as_store(root).write_parquet(table, path)


def remove_stale_temps(root: Root, older_than_s: float = STALE_TMP_S) -> int:
    """Delete temp files a crashed writer left behind; returns how many."""
    return as_store(root).remove_stale_temps(older_than_s)


def read_meta(path: PurePath, root: Root | None = None) -> dict[str, str]:
    """The ``gov.*`` key-value metadata of an archive file ({} if unreadable);
    without ``root``, ``path`` is a local file."""
    store = as_store(Path(path).parent if root is None else root)
    try:
        raw = store.read_schema(path).metadata or {}
    except (OSError, pa.ArrowException):
        return {}
    return {k.decode(): v.decode() for k, v in raw.items()
            if k.startswith(b"gov.")}


def _table(frame: pd.DataFrame, schema: pa.Schema, meta: dict[str, str]) -> pa.Table:
    table = pa.Table.from_pandas(frame, schema=schema, preserve_index=False)
    return table.replace_schema_metadata({f"gov.{k}": str(v)
                                          for k, v in meta.items()})


def _digest(frame: pd.DataFrame) -> str:
    hashed = pd.util.hash_pandas_object(frame.astype(str), index=False)
    return hashlib.sha1(hashed.to_numpy().tobytes()).hexdigest()[:16]


def write_if_changed(root: Root, frame: pd.DataFrame, schema: pa.Schema,
                     path: PurePath, meta: dict[str, str]) -> bool:
    digest = _digest(frame)
    if read_meta(path, root).get("gov.digest") == digest:
        return False
    write_atomic(_table(frame, schema, {**meta, "digest": digest}), path, root)
    return True


def local_day(ts_ms: int, tz: str) -> date:
    return datetime.fromtimestamp(ts_ms / 1000, ZoneInfo(tz)).date()


def days_between(start: date, end: date) -> list[date]:
    return [start + timedelta(days=n) for n in range((end - start).days + 1)]
