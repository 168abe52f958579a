"""Bookmarks of the replay: a moment of a site and a reviewer's note, kept in
a Redis stream of the site (``Keys.replay_marks``), newest last, at most
:data:`KEPT` (the audit log keeps who made each, for as long as it keeps
lines)."""

from __future__ import annotations

import time

import redis

from data.keys import Keys
from data.redis_conn import as_text

NOTE_MAX = 200
KEPT = 10_000
LISTED = 200


class BadBookmark(ValueError):
    """A bookmark that cannot be kept; ``field`` names what to fix."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def add_bookmark(r: redis.Redis, keys: Keys, at_ms: int, note: str,
                 who: str) -> dict[str, str | int]:
    """Keep a bookmark of ``at_ms`` with ``note`` (text, 1-200 characters)."""
    note = (note or "").strip()
    if not note:
        raise BadBookmark("note", "note: write what this moment shows")
    if len(note) > NOTE_MAX:
        raise BadBookmark("note", f"note: at most {NOTE_MAX} characters")
    made = time.time_ns() // 1_000_000
    entry = {"at_ms": str(at_ms), "note": note, "who": who, "made_ms": str(made)}
    entry_id = r.xadd(keys.replay_marks, entry, maxlen=KEPT, approximate=True)
    return {"id": as_text(entry_id), "at_ms": at_ms, "note": note, "who": who,
            "made_ms": made}


def list_bookmarks(r: redis.Redis, keys: Keys, count: int = LISTED
                   ) -> list[dict[str, str | int]]:
    """The newest ``count`` bookmarks, in the order of their moments."""
    out = []
    for entry_id, fields in r.xrevrange(keys.replay_marks, count=count):
        f = {as_text(k): as_text(v) for k, v in fields.items()}
        try:
            out.append({"id": as_text(entry_id), "at_ms": int(f["at_ms"]),
                        "note": f.get("note", ""), "who": f.get("who", ""),
                        "made_ms": int(f.get("made_ms", 0))})
        except (KeyError, ValueError):
            continue  # not one of ours: never a crash
    return sorted(out, key=lambda b: b["at_ms"])
