"""The history's files: one folder per site and local day
(``history/site=<site>/day=<YYYY-MM-DD>/<kind>.parquet``), their schemas, and
how they are written: to a hidden temp file, fsynced, then renamed over the old
one (and the folder fsynced), so a reader sees the old file or the new one,
never half of one; a crash leaves only a hidden temp file, which readers ignore
and the next pass removes.
"""

from __future__ import annotations

import hashlib
import os
import time
import uuid
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

SCHEMA_VERSION = "1"


STALE_TMP_S = 600


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


def day_dir(root: Path, site: str, day: date) -> Path:
    """``<root>/site=<site>/day=<YYYY-MM-DD>``: one folder per site and day."""
    return Path(root) / f"site={site}" / f"day={day.isoformat()}"


def day_file(root: Path, site: str, day: date, kind: str) -> Path:
    return day_dir(root, site, day) / f"{kind}.parquet"


def write_atomic(table: pa.Table, path: Path) -> None:
    """Write ``table`` to ``path`` so that no reader ever sees half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "wb") as handle:
            pq.write_table(table, handle, compression="zstd")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


def remove_stale_temps(root: Path, older_than_s: float = STALE_TMP_S) -> int:
    """Delete temp files a crashed writer left behind; returns how many."""
    cutoff = time.time() - older_than_s
    removed = 0
    temps = [*Path(root).glob("site=*/day=*/.*.tmp"),
             *Path(root).glob("site=*/month=*/.*.tmp")]
    for tmp in temps:
        try:
            if tmp.stat().st_mtime < cutoff:
                tmp.unlink()
                removed += 1
        except FileNotFoundError:
            continue
    return removed


def read_meta(path: Path) -> dict[str, str]:
    """The ``gov.*`` key-value metadata of an archive file ({} if unreadable)."""
    try:
        raw = pq.read_schema(path).metadata or {}
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


def write_if_changed(frame: pd.DataFrame, schema: pa.Schema, path: Path,
                      meta: dict[str, str]) -> bool:
    digest = _digest(frame)
    if read_meta(path).get("gov.digest") == digest:
        return False
    write_atomic(_table(frame, schema, {**meta, "digest": digest}), path)
    return True


def local_day(ts_ms: int, tz: str) -> date:
    return datetime.fromtimestamp(ts_ms / 1000, ZoneInfo(tz)).date()


def days_between(start: date, end: date) -> list[date]:
    return [start + timedelta(days=n) for n in range((end - start).days + 1)]
