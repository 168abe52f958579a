"""The audit log: who did what, when, from where — append-only.

One Redis stream, ``<prefix>:audit``: every sign-in (and failed sign-in),
sign-out, workflow op (made or refused), cast, report, ingest batch and admin
action. The incident stream already records every applied op; this log adds
the refused ones, the reads that need a trace and the account changes, with
the address they came from.

Bounded: each append trims the stream to about ``maxlen`` lines (``XADD
MAXLEN ~``, GOV_AUDIT_MAXLEN, a million by default; export it before it rolls
over if you need more), and requests nobody signed in to are not a line
each: :func:`record_anonymous` writes the first refusal of an action from an
address in a minute, with the count of the minute before.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterable

import redis

from data.cells import text_cell
from data.keys import AuthKeys
from data.redis_conn import as_text

FIELDS = ("ts", "who", "site", "action", "target", "outcome", "where", "detail")


DEFAULT_MAXLEN = 1_000_000
QUIET_WINDOW_S = 60


def record(r: redis.Redis, keys: AuthKeys, who: str, action: str,
           target: str = "", outcome: str = "ok", where: str = "",
           detail: str = "", site: str = "",
           maxlen: int = DEFAULT_MAXLEN) -> None:
    """Append one line, trimming the log to about ``maxlen`` lines.
    ``outcome`` is ``ok``, ``refused`` or ``failed``; ``site`` is the tenant
    the line belongs to ("" for none: only an admin of every site sees it)."""
    r.xadd(keys.audit, {"ts": str(int(time.time() * 1000)), "who": who or "-",
                        "site": site[:60],
                        "action": action, "target": target[:200],
                        "outcome": outcome, "where": where[:100],
                        "detail": detail[:500]},
           maxlen=maxlen, approximate=True)


def record_anonymous(r: redis.Redis, keys: AuthKeys, action: str,
                     target: str = "", outcome: str = "refused", where: str = "",
                     detail: str = "", site: str = "",
                     maxlen: int = DEFAULT_MAXLEN,
                     window_s: int = QUIET_WINDOW_S) -> bool:
    """A line for a request nobody signed in to, at most one per action,
    address and ``window_s``: anyone can send those, and a line each would
    let them fill the log. The line written carries how many came in the
    window before. Returns whether a line was written."""
    window = int(time.time()) // window_s
    key = keys.audit_quiet(action, where[:100], window)
    with r.pipeline() as pipe:
        pipe.incr(key)
        pipe.expire(key, 2 * window_s)
        pipe.get(keys.audit_quiet(action, where[:100], window - 1))
        seen, _, before = pipe.execute()
    if seen != 1:
        return False
    if before and int(before) > 1:
        detail = f"{detail} ({int(before)} such in the minute before)".strip()
    record(r, keys, "-", action, target, outcome, where, detail, site, maxlen)
    return True




def read(r: redis.Redis, keys: AuthKeys, count: int = 200,
         before: str = "+", site: str | None = None) -> list[dict[str, str]]:
    """The newest ``count`` lines before entry id ``before``, newest first;
    with ``site``, only that site's lines."""
    found: list[dict[str, str]] = []
    for line in _newest_first(r, keys, before):
        if site is None or line.get("site") == site:
            found.append(line)
            if len(found) >= count:
                break
    return found


def _newest_first(r: redis.Redis, keys: AuthKeys, before: str,
                  batch: int = 500) -> Iterable[dict[str, str]]:
    while True:
        chunk = r.xrevrange(keys.audit, max=before, count=batch)
        for entry_id, f in chunk:
            yield {"id": as_text(entry_id), **{as_text(k): as_text(v)
                                              for k, v in f.items()}}
        if len(chunk) < batch:
            return
        before = "(" + as_text(chunk[-1][0])


def all_lines(r: redis.Redis, keys: AuthKeys, batch: int = 1000
              ) -> Iterable[dict[str, str]]:
    """Every line, oldest first, read in batches."""
    start = "-"
    while True:
        chunk = r.xrange(keys.audit, min=start, count=batch)
        for entry_id, f in chunk:
            yield {"id": as_text(entry_id), **{as_text(k): as_text(v)
                                              for k, v in f.items()}}
        if len(chunk) < batch:
            return
        start = "(" + as_text(chunk[-1][0])


def to_csv(lines: Iterable[dict[str, str]]) -> str:
    """CSV with a BOM so that Excel reads the Chinese text right."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.DictWriter(out, fieldnames=("id", *FIELDS), extrasaction="ignore")
    writer.writeheader()
    for line in lines:
        writer.writerow({k: text_cell(v) for k, v in line.items()})
    return out.getvalue()
