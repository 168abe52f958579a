"""The dead-letter stream: every refused feed entry, kept with why.

The aggregator writes what it refuses from the streams, HTTP ingest what it
refuses at the door; both through :func:`write_dead`, so an entry looks the
same whichever way it came.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from data.incidents.lifecycle import mask_name, mask_phone
from data.keys import Keys
from data.redis_conn import as_text

DEAD_MAXLEN = 10_000  # the stream keeps about this many entries
DEAD_VALUE_BYTES = 1024
DEAD_FIELDS = 24


def dead_fields(stream: str, entry_id: str, raw: dict, reason: str) -> dict:
    """The refused entry, shortened, plus why it was refused, on which
    stream and as which entry (empty for one refused over HTTP)."""
    out: dict[bytes | str, bytes | str] = {}
    for i, (key, value) in enumerate(raw.items()):
        if i >= DEAD_FIELDS:
            out["truncated"] = "more fields dropped"
            break
        if len(value) > DEAD_VALUE_BYTES:
            value = value[:DEAD_VALUE_BYTES]
            out["truncated"] = f"values cut to {DEAD_VALUE_BYTES} bytes"
        out[key[:64]] = value
    out.update(reason=reason, stream=stream, entry_id=entry_id)
    return out


def write_dead(pipe: Any, keys: Keys, stream: str, entry_id: str, raw: dict,
               reason: str) -> None:
    """Queue one refused entry on ``pipe`` (a pipeline or a client)."""
    pipe.xadd(keys.dead, dead_fields(stream, entry_id, raw, reason),
              maxlen=DEAD_MAXLEN, approximate=True)


PERSONAL_FIELDS = ("phone", "reporter")  # masked before any screen shows them
READ_AT_MOST = 2_000  # entries looked through per question


def recent_dead(r: Any, keys: Keys, since_ms: int, keep: Callable[[dict], bool],
                limit: int = 50) -> list[dict]:
    """The refused entries since ``since_ms`` that ``keep`` (given an entry's
    fields as text) wants, newest first, at most ``limit``: each as
    ``{"at": ms, "stream", "reason", "fields"}`` with personal data masked.
    Looks through at most :data:`READ_AT_MOST` entries (XREVRANGE,
    https://redis.io/commands/xrevrange/): the stream is bounded anyway."""
    found = []
    for entry_id, raw in r.xrevrange(keys.dead, "+", f"{since_ms}-0",
                                     count=READ_AT_MOST):
        fields = {as_text(k): as_text(v) for k, v in raw.items()}
        if not keep(fields):
            continue
        shown = {k: v for k, v in fields.items()
                 if k not in ("reason", "stream", "entry_id")}
        shown.update({k: mask_phone(v) if k == "phone" else mask_name(v)
                      for k, v in shown.items() if k in PERSONAL_FIELDS})
        found.append({"at": int(as_text(entry_id).split("-")[0]),
                      "stream": fields.get("stream", ""),
                      "reason": fields.get("reason", ""), "fields": shown})
        if len(found) >= limit:
            break
    return found
