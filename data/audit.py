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
    the line belongs to ("" for none: only an admin of every site sees it).
    A site's line goes to the whole log and to the site's own, so that its
    admins read theirs without scanning every site's."""
    line = {"ts": str(int(time.time() * 1000)), "who": who or "-",
            "site": site[:60], "action": action, "target": target[:200],
            "outcome": outcome, "where": where[:100], "detail": detail[:500]}
    with r.pipeline(transaction=False) as pipe:
        pipe.xadd(keys.audit, line, maxlen=maxlen, approximate=True)
        if site:
            pipe.xadd(keys.site_audit(site[:60]), line, maxlen=maxlen,
                      approximate=True)
        pipe.execute()


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
    stream = keys.audit if site is None else keys.site_audit(site)
    chunk = r.xrevrange(stream, max=before, count=count)
    return [_line(entry_id, f) for entry_id, f in chunk]


def all_lines(r: redis.Redis, keys: AuthKeys, site: str | None = None,
              batch: int = 1000) -> Iterable[dict[str, str]]:
    """Every line (with ``site``, that site's), oldest first, in batches."""
    stream = keys.audit if site is None else keys.site_audit(site)
    start = "-"
    while True:
        chunk = r.xrange(stream, min=start, count=batch)
        for entry_id, f in chunk:
            yield _line(entry_id, f)
        if len(chunk) < batch:
            return
        start = "(" + as_text(chunk[-1][0])


def _line(entry_id: bytes | str, fields: dict) -> dict[str, str]:
    return {"id": as_text(entry_id),
            **{as_text(k): as_text(v) for k, v in fields.items()}}


def to_csv(lines: Iterable[dict[str, str]]) -> str:
    """CSV with a BOM so that Excel reads the Chinese text right."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.DictWriter(out, fieldnames=("id", *FIELDS), extrasaction="ignore")
    writer.writeheader()
    for line in lines:
        writer.writerow({k: text_cell(v) for k, v in line.items()})
    return out.getvalue()
