"""The archiver: the live window in Redis, kept as Parquet history on disk.

Redis holds a day of minute buckets; the analyst's workspace needs months. Each
pass (every :data:`EVERY_S`) the archiver reads, for every site:

- the minute buckets of the last 24 hours (the aggregator's counters: people
  per entrance, grid and site, vehicles per gate and site) and writes them per
  local day to ``history/site=<site>/day=<YYYY-MM-DD>/flow.parquet``, with an
  hourly roll-up beside it (``flow_hourly.parquet``) for the views;
- the incident records (history included) that changed since the last pass,
  and all of them now and then, and writes them per report day to
  ``incidents.parquet``;
- then brings the monthly copies of the days that are over up to date
  (:mod:`data.history.compaction`), so that the views read a few files, not 180.

Counters only grow, so a minute already archived is merged with what Redis
holds now by taking the larger count: late entries still land, and a Redis
that lost its data never erases history. A file is written to a hidden temp
file, fsynced, then renamed over the old one (and the folder fsynced), so a
reader sees the old file or the new one, never half of one; a crash leaves
only a hidden temp file, which readers ignore and the next pass removes.

Personal data (reporter names, phone numbers) is masked before it is written:
history is for analysis, not for calling people back.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import redis

from data.incidents.lifecycle import mask_name, mask_phone
from data.keys import GROUP, Keys
from data.redis_conn import LEASE_SCRIPT, RETRY_ERRORS, Backoff, as_text
from data.site import CHAIN, Site

log = logging.getLogger(__name__)

SCHEMA_VERSION = "1"
EVERY_S = 60.0
WINDOW_MIN = 24 * 60  # minute buckets read each pass (Redis keeps 25 h)
FULL_RESCAN_S = 6 * 3600  # re-read every incident record this often
STALE_TMP_S = 600
LEASE_MS = 3 * 60_000
FLOW, HOURLY, INCIDENTS = "flow", "flow_hourly", "incidents"
# counter-field prefix -> scope: e:<entrance> people at an entrance, g:<grid>
# people into a grid, s people into the site, v:<gate> vehicles at a gate,
# vs vehicles into the site (see data/fold.py)
SCOPES = {"e": "entrance", "g": "grid", "s": "site", "v": "gate", "vs": "vehicles"}



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


# --- files -----------------------------------------------------------------


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


def _write_if_changed(frame: pd.DataFrame, schema: pa.Schema, path: Path,
                      meta: dict[str, str]) -> bool:
    digest = _digest(frame)
    if read_meta(path).get("gov.digest") == digest:
        return False
    write_atomic(_table(frame, schema, {**meta, "digest": digest}), path)
    return True


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


def read_flow_file(path: Path, tz: str) -> pd.DataFrame:
    if not path.is_file():
        return flow_frame([], tz)
    frame = pq.read_table(path).to_pandas()
    return frame.astype({"scope": str, "id": str})


def write_flow_day(root: Path, site: Site, day: date, minutes: pd.DataFrame,
                   as_of_ms: int) -> bool:
    """Merge ``minutes`` into the day's flow files; True if anything changed."""
    path = day_file(root, site.id, day, FLOW)
    merged = merge_flow(read_flow_file(path, site.timezone), minutes)
    meta = {"site": site.id, "day": day.isoformat(), "kind": FLOW,
            "schema": SCHEMA_VERSION, "as_of": as_of_ms}
    schema = flow_schema(site.timezone)
    rollup = path.with_name(f"{HOURLY}.parquet")
    changed = _write_if_changed(merged, schema, path, meta)
    if changed or not rollup.is_file():  # also after a crash between the two
        _write_if_changed(hourly(merged), schema, rollup, {**meta, "kind": HOURLY})
    return changed


def read_minute_window(client: redis.Redis, keys: Keys, now_ms: int,
                       minutes: int = WINDOW_MIN) -> list[tuple]:
    """Rows of every complete minute bucket of the last ``minutes`` minutes."""
    last = now_ms // 60_000 - 1
    span = list(range(last - minutes + 1, last + 1))
    pipe = client.pipeline(transaction=False)
    for minute in span:
        pipe.hgetall(keys.minute(minute))
    rows: list[tuple] = []
    for minute, counters in zip(span, pipe.execute(), strict=True):
        if counters:
            rows += minute_rows(minute, counters)
    return rows


def archive_flow(client: redis.Redis, site: Site, prefix: str, root: Path,
                 now_ms: int) -> list[date]:
    """Archive the minute buckets in Redis; returns the days whose file changed."""
    frame = flow_frame(read_minute_window(client, Keys(prefix, site.id), now_ms),
                       site.timezone)
    changed = []
    for day, part in frame.groupby(frame["minute"].dt.date, sort=True):
        if write_flow_day(root, site, day, part, now_ms):
            changed.append(day)
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


def read_incident_file(path: Path, tz: str) -> pd.DataFrame:
    if not path.is_file():
        return incident_frame([], tz)
    return pq.read_table(path).to_pandas()


def write_incident_day(root: Path, site: Site, day: date, fresh: pd.DataFrame,
                       as_of_ms: int) -> bool:
    """Replace the day's records by ``fresh`` ones (same id); True if changed."""
    path = day_file(root, site.id, day, INCIDENTS)
    old = read_incident_file(path, site.timezone)
    keep = old[~old["id"].isin(fresh["id"])] if len(old) else old
    merged = (pd.concat([keep, fresh], ignore_index=True) if len(keep) else fresh)
    merged = merged.sort_values(["reported_at", "id"], ignore_index=True)
    meta = {"site": site.id, "day": day.isoformat(), "kind": INCIDENTS,
            "schema": SCHEMA_VERSION, "as_of": as_of_ms}
    return _write_if_changed(merged, incident_schema(site.timezone), path, meta)


def write_incidents(root: Path, site: Site, records: Iterable[dict[str, Any]],
                    as_of_ms: int) -> list[date]:
    """Write ``records`` into the files of their report days."""
    frame = incident_frame([incident_row(r) for r in records], site.timezone)
    changed = []
    for day, part in frame.groupby(frame["reported_at"].dt.date, sort=True):
        if write_incident_day(root, site, day, part, as_of_ms):
            changed.append(day)
    return changed




def applied_until(client: redis.Redis, keys: Keys) -> str | None:
    """The XRANGE end (``id`` or ``(id``) below which the aggregator has applied
    every incident entry, or None before it has read any."""
    stream = keys.stream("incident")
    try:
        groups = client.xinfo_groups(stream)
        pending = client.xpending(stream, GROUP)
    except redis.ResponseError:
        return None
    last = next((as_text(g["last-delivered-id"]) for g in groups
                 if as_text(g["name"]) == GROUP), None)
    if last is None or last == "0-0":
        return None
    if pending and pending.get("pending"):
        return "(" + as_text(pending["min"])
    return last


def changed_incident_ids(client: redis.Redis, keys: Keys, start: str | None
                         ) -> tuple[set[str], str | None]:
    """Incidents touched by the entries the aggregator applied from ``start``
    (an XRANGE start; None: every incident), and the start for next time.

    The incident stream is the audit trail: every change of a record is an
    entry on it, so the entries since the last pass name what to re-read.
    """
    end = applied_until(client, keys)
    if end is None:  # nothing applied yet
        ids = set() if start else {as_text(i) for i in
                                   client.zrange(keys.incidents_all, 0, -1)}
        return ids, start or "-"
    following = end[1:] if end.startswith("(") else "(" + end
    if start is None:
        return {as_text(i) for i in client.zrange(keys.incidents_all, 0, -1)}, following
    ids: set[str] = set()
    while True:
        entries = client.xrange(keys.stream("incident"), start, end, count=5000)
        if not entries:
            return ids, start
        for _, fields in entries:
            value = fields.get("id", fields.get(b"id"))
            if value is not None:
                ids.add(as_text(value))
        start = "(" + as_text(entries[-1][0])


def read_records(client: redis.Redis, keys: Keys, ids: Iterable[str],
                 chunk: int = 500) -> list[dict[str, Any]]:
    ordered = sorted(ids)
    records = []
    for n in range(0, len(ordered), chunk):
        part = ordered[n:n + chunk]
        records += [json.loads(v) for v in client.mget(
            [keys.incident(i) for i in part]) if v]
    return records


def archive_incidents(client: redis.Redis, site: Site, prefix: str, root: Path,
                      now_ms: int, cursor: str | None = None
                      ) -> tuple[list[date], str | None]:
    """Archive the incidents changed since ``cursor`` (all when None); returns
    the days written and the cursor for the next pass."""
    keys = Keys(prefix, site.id)
    ids, cursor = changed_incident_ids(client, keys, cursor)
    return write_incidents(root, site, read_records(client, keys, ids), now_ms), cursor


# --- the loop --------------------------------------------------------------


def lease_key(keys: Keys) -> str:
    """Which archiver writes this site's history now (SET NX PX)."""
    return f"{keys.base}:archiver"


@dataclass
class Archiver:
    """Archives ``sites`` every ``every_s`` until :meth:`stop` is called."""

    client: redis.Redis
    sites: dict[str, Site]
    prefix: str
    root: Path
    every_s: float = EVERY_S
    name: str = field(default_factory=lambda: f"arch-{uuid.uuid4().hex[:12]}")
    cursors: dict[str, str | None] = field(default_factory=dict)
    last_full_s: dict[str, float] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)

    def stop(self) -> None:
        self._stop.set()

    def run(self) -> None:
        """Archive until stopped; survive Redis going away and coming back."""
        backoff = Backoff()
        remove_stale_temps(self.root)
        while not self._stop.is_set():
            try:
                self.run_once()
                backoff.reset()
                pause = self.every_s
            except RETRY_ERRORS + (redis.BusyLoadingError,) as exc:
                pause = backoff.failed()
                log.warning("archiver: redis unavailable (%s); retry in %.1f s",
                            exc, pause)
            except Exception:  # a bug or a full disk must not stop the others
                log.exception("archiver: unexpected error")
                pause = min(self.every_s, backoff.failed() * 10)
            self._stop.wait(pause)

    def run_once(self, now_ms: int | None = None) -> dict[str, list[date]]:
        """One pass over every site this archiver holds; the days written."""
        now = now_ms if now_ms is not None else time.time_ns() // 1_000_000
        lease = self.client.register_script(LEASE_SCRIPT)
        written: dict[str, list[date]] = {}
        for site in self.sites.values():
            keys = Keys(self.prefix, site.id)
            if not lease(keys=[lease_key(keys)], args=[self.name, LEASE_MS]):
                continue
            full = (time.monotonic() - self.last_full_s.get(site.id, -1e12)
                    > FULL_RESCAN_S)
            cursor = None if full else self.cursors.get(site.id)
            days = archive_flow(self.client, site, self.prefix, self.root, now)
            more, self.cursors[site.id] = archive_incidents(
                self.client, site, self.prefix, self.root, now, cursor)
            days += more
            # imported here: data.history.compaction builds on this module's writers
            from data.history.compaction import closed_before, compact_site

            compact_site(self.root, site.id, site.timezone,
                         closed_before(local_day(now, site.timezone)))
            if cursor is None:
                self.last_full_s[site.id] = time.monotonic()
            written[site.id] = sorted(set(days))
        return written


def local_day(ts_ms: int, tz: str) -> date:
    return datetime.fromtimestamp(ts_ms / 1000, ZoneInfo(tz)).date()


def days_between(start: date, end: date) -> list[date]:
    return [start + timedelta(days=n) for n in range((end - start).days + 1)]
