"""The replay's files and their lines.

One folder per site and UTC day, one file per hour of snapshots and one of
events: ``replay/site=<site>/day=<YYYY-MM-DD>/<HH>.log`` and ``events.log``.
A file is only ever appended to, one line per record::

    <crc32 of the rest, 8 hex> <version> <generated_ms> <kind> <json>\\n

``kind`` is ``F`` (the whole snapshot), ``D<base>`` (what changed since
version ``base``, as :func:`diff` operations) or ``E`` (an event). Every
hour file starts with an ``F``, and one follows every :data:`KEYFRAME_MS`,
so a moment is rebuilt from at most a minute of changes, and a file stands
on its own (an hour can be pruned, lost or corrupted alone). ``HH.idx``
(:func:`index_file`) says where each whole record starts.

Crash safety without a rename: a line is written whole with one ``write``,
and fsynced within a second. A crash mid-line leaves a torn last line whose
checksum fails: readers skip it, and the writer starts on a fresh line after
it. A corrupt line is skipped too; the changes that follow it cannot be
applied (their base is missing) and are skipped up to the next ``F``.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

KEYFRAME_MS = 60_000
FULL, CHANGE, EVENT = "F", "D", "E"
EVENTS_FILE = "events.log"


@dataclass(frozen=True)
class Record:
    """One line's header, checked; ``body`` is its JSON, not yet parsed."""

    version: int
    ms: int
    kind: str  # F, D or E
    base: int | None  # the version a D applies on
    body: bytes

    def data(self) -> Any:
        return json.loads(self.body)


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def encode(version: int, ms: int, kind: str, body: Any) -> bytes:
    """One line: ``body`` as JSON after a checked header."""
    rest = f"{version} {ms} {kind} {_dumps(body)}".encode()
    return b"%08x %s\n" % (zlib.crc32(rest), rest)


def decode(line: bytes) -> Record | None:
    """The record of ``line`` (with or without its newline); None when it is
    torn, corrupt or not a record at all."""
    line = line.rstrip(b"\n")
    if len(line) < 10 or line[8:9] != b" ":
        return None
    rest = line[9:]
    try:
        if int(line[:8], 16) != zlib.crc32(rest):
            return None
        version, ms, kind, body = rest.split(b" ", 3)
        tag = kind.decode()
        base = int(tag[1:]) if tag[:1] == CHANGE else None
        if tag[:1] not in (FULL, CHANGE, EVENT) or (tag[:1] != CHANGE and tag[1:]):
            return None
        return Record(int(version), int(ms), tag[:1], base, body)
    except (ValueError, UnicodeDecodeError):
        return None


def records(data: bytes) -> list[Record]:
    """The good records of a file's bytes, in order (bad lines skipped)."""
    return [r for r in map(decode, data.split(b"\n")) if r is not None]


# --- changes ----------------------------------------------------------------

def diff(old: Any, new: Any, path: tuple = ()) -> list[list]:
    """Operations turning ``old`` into ``new``: ``[path, value]`` sets the
    value at ``path`` (object keys and list indexes), ``[path]`` deletes an
    object's key. Objects are compared key by key; a list of the same length
    item by item while few items differ (the current minute of a flow
    series), else replaced whole (the window moved on); numbers replaced."""
    if old == new:
        return []
    if isinstance(old, dict) and isinstance(new, dict):
        ops: list[list] = []
        for key, value in new.items():
            if key not in old:
                ops.append([[*path, key], value])
            elif old[key] != value:
                ops += diff(old[key], value, (*path, key))
        ops += [[[*path, key]] for key in old if key not in new]
        return ops
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        moved = [i for i, (a, b) in enumerate(zip(old, new, strict=True)) if a != b]
        if len(moved) * 4 <= len(new):
            return [op for i in moved for op in diff(old[i], new[i], (*path, i))]
    return [[list(path), new]]


def apply(doc: Any, ops: list[list]) -> Any:
    """``doc`` changed by ``ops`` (in place where it can; use the result)."""
    for op in ops:
        path = op[0]
        if not path:
            doc = op[1]
            continue
        target = doc
        for key in path[:-1]:
            target = target[key]
        if len(op) == 1:
            target.pop(path[-1], None)
        else:
            target[path[-1]] = op[1]
    return doc


# --- where ------------------------------------------------------------------

def site_dir(root: Path, site: str) -> Path:
    return root / f"site={site}"


def day_of(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d")


def hour_file(root: Path, site: str, ms: int) -> Path:
    stamp = datetime.fromtimestamp(ms / 1000, UTC)
    return site_dir(root, site) / f"day={stamp:%Y-%m-%d}" / f"{stamp:%H}.log"


def index_file(hour: Path) -> Path:
    """``HH.idx`` beside ``HH.log``: a line per whole record, its version,
    time and byte offset in the hour file (a seek reads from there, not the
    whole hour). Written after the record, so it may lag the file by one
    entry after a crash, never lead it; readers fall back to scanning."""
    return hour.with_suffix(".idx")


def events_file(root: Path, site: str, ms: int) -> Path:
    return site_dir(root, site) / f"day={day_of(ms)}" / EVENTS_FILE


def days(root: Path, site: str) -> list[str]:
    """The days kept for ``site``, oldest first (``YYYY-MM-DD``)."""
    folder = site_dir(root, site)
    if not folder.is_dir():
        return []
    return sorted(p.name[4:] for p in folder.glob("day=*") if p.is_dir())


def hour_files(root: Path, site: str) -> list[Path]:
    """Every hour file of ``site``, oldest first."""
    folder = site_dir(root, site)
    return [f for day in days(root, site)
            for f in sorted((folder / f"day={day}").glob("[0-9][0-9].log"))]


def day_start_ms(day: str) -> int:
    return int(datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=UTC)
               .timestamp() * 1000)


def prune(root: Path, site: str, keep_days: int, now_ms: int) -> list[str]:
    """Delete the days of ``site`` that ended more than ``keep_days`` ago;
    returns them."""
    import shutil

    cutoff = now_ms - keep_days * 86_400_000
    gone = []
    for day in days(root, site):
        if day_start_ms(day) + 86_400_000 <= cutoff:
            shutil.rmtree(site_dir(root, site) / f"day={day}", ignore_errors=True)
            gone.append(day)
    return gone

