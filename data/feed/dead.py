"""The dead-letter stream: every refused feed entry, kept with why.

The aggregator writes what it refuses from the streams, HTTP ingest what it
refuses at the door; both through :func:`write_dead`, so an entry looks the
same whichever way it came.
"""

from __future__ import annotations

from typing import Any

from data.keys import Keys

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
