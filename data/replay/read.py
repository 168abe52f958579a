"""Reading the replay back: the snapshot at a moment, the range kept, the
events of a time span. Stateless: every call reads the files as they are
(the recorder may be appending meanwhile; a line it has half written is
skipped like a corrupt one)."""

from __future__ import annotations

import os
from pathlib import Path

from data.replay.records import (
    CHANGE,
    EVENTS_FILE,
    FULL,
    Record,
    apply,
    day_start_ms,
    days,
    decode,
    hour_file,
    hour_files,
    index_file,
    records,
    site_dir,
)

TAIL_BYTES = 256 * 1024
LOOK_BACK_FILES = 48  # hours searched back for the last version before a gap


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:  # pruned meanwhile
        return b""


def rebuild(found: list[Record], at_ms: int) -> dict | None:
    """The newest snapshot of one hour file's records generated at or before
    ``at_ms`` that its records can rebuild: from the last whole one before
    it, each change on the version it names (a change whose base is missing,
    after a corrupt line, ends the chain until the next whole record)."""
    start = None
    for n, rec in enumerate(found):
        if rec.ms > at_ms:
            break
        if rec.kind == FULL:
            start = n
    if start is None:
        return None
    snap = found[start].data()
    for rec in found[start + 1:]:
        if rec.ms > at_ms or rec.kind == FULL:
            break
        if rec.kind != CHANGE or rec.base != snap["version"]:
            break  # a gap in the chain: what follows cannot be trusted
        snap = apply(snap, rec.data())
    return snap


def _from_index(path: Path, at_ms: int) -> dict | None | bool:
    """The moment rebuilt from the whole record the hour's index names last
    at or before ``at_ms``, reading from its offset to the next one's; False
    when the index cannot tell (missing, or not matching the file: scan)."""
    marks = records(_read(index_file(path)))
    before = [n for n, m in enumerate(marks) if m.ms <= at_ms]
    if not before:
        return False if not marks else None
    n = before[-1]
    try:
        start = int(marks[n].data())
        with open(path, "rb") as handle:
            handle.seek(start)
            if n + 1 < len(marks):
                chunk = handle.read(max(0, int(marks[n + 1].data()) - start))
            else:
                chunk = handle.read()
    except (OSError, ValueError, TypeError):
        return False
    found = records(chunk)
    if not found or found[0].kind != FULL or found[0].version != marks[n].version:
        return False
    return rebuild(found, at_ms)


def snapshot_at(root: Path, site: str, at_ms: int) -> dict | None:
    """The snapshot the walls of ``site`` were shown at ``at_ms``: the newest
    recorded version generated at or before it, None if there is none."""
    path = hour_file(root, site, at_ms)
    files = [f for f in hour_files(root, site) if f <= path][-LOOK_BACK_FILES:]
    for f in reversed(files):
        snap = _from_index(f, at_ms)
        if snap is False:  # no index to trust: the whole hour
            snap = rebuild(records(_read(f)), at_ms)
        if snap is not None:
            return snap
    return None


def last_record(root: Path, site: str) -> Record | None:
    """The newest good record of ``site`` (read from the end of its files)."""
    for f in reversed(hour_files(root, site)):
        try:
            with open(f, "rb") as handle:
                size = handle.seek(0, os.SEEK_END)
                handle.seek(max(0, size - TAIL_BYTES))
                tail = handle.read()
        except FileNotFoundError:
            continue
        lines = tail.split(b"\n")
        for line in reversed(lines[1:] if size > TAIL_BYTES else lines):
            rec = decode(line)
            if rec is not None:
                return rec
        if size > TAIL_BYTES:  # lines longer than the tail: read it all
            found = records(_read(f))
            if found:
                return found[-1]
    return None


def first_record(root: Path, site: str) -> Record | None:
    """The oldest whole record of ``site`` (by its hour's index, else a scan)."""
    for f in hour_files(root, site):
        marks = records(_read(index_file(f)))
        if marks and _from_index(f, marks[0].ms) not in (None, False):
            return marks[0]
        found = records(_read(f))
        full = [r for r in found if r.kind == FULL]
        if full:
            return full[0]
    return None


def kept_range(root: Path, site: str) -> tuple[int, int] | None:
    """(first, last) generated_ms of what can be replayed, None if nothing."""
    first, last = first_record(root, site), last_record(root, site)
    if first is None or last is None:
        return None
    return first.ms, last.ms


def events(root: Path, site: str, start_ms: int, end_ms: int) -> list[dict]:
    """The events of ``site`` between two moments (both included), oldest
    first: ``{"ms", "version", "kind", …}``."""
    out = []
    for day in days(root, site):
        if day_start_ms(day) > end_ms or day_start_ms(day) + 86_400_000 < start_ms:
            continue
        path = site_dir(root, site) / f"day={day}" / EVENTS_FILE
        for rec in records(_read(path)):
            if start_ms <= rec.ms <= end_ms and rec.kind == "E":
                try:
                    body = rec.data()
                except ValueError:
                    continue
                if isinstance(body, dict):
                    out.append({"ms": rec.ms, "version": rec.version, **body})
    return sorted(out, key=lambda e: e["ms"])
