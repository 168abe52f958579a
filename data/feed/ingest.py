"""Feed entries that arrive over HTTP: checked, de-duplicated, written.

Producers that cannot speak Redis (the 12345 hotline platform, a camera
vendor's cloud) post JSON; :func:`ingest` holds each entry to the same
contract as an entry written to the stream directly — :func:`validate`
against the site, now — and answers per entry at once, instead of leaving the
producer to read the dead-letter stream:

- ``rejected``: the entry breaks the contract; it goes to the site's
  dead-letter stream with its reason, exactly as the aggregator would put it
  (so the ops panel counts it and nothing sent is lost);
- ``duplicate``: its ``eid`` (per ``src``) came earlier in the batch, was
  folded by the aggregator, or was written over HTTP before and is still on
  its way; it is written nowhere;
- ``accepted``: XADDed to the feed stream, with the stream entry id, and
  on a replica when there are replicas (data/durable.py). The
  aggregator folds it as any other entry — an incident op the incident's
  state or the actor's rights refuse is dead-lettered then, as for anyone.

All writes of one batch go in one MULTI/EXEC, WATCHing the sets of eids
written over HTTP, so two concurrent retries of a batch cannot both write it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import redis

from data import durable
from data.feed.check import validate
from data.feed.contract import Event, Rejected
from data.feed.dead import write_dead
from data.keys import Keys, eid_member
from data.redis_conn import as_text
from data.site import Site

ACCEPTED, REJECTED, DUPLICATE = "accepted", "rejected", "duplicate"


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of the entry at ``index`` of a batch."""

    index: int
    status: str  # ACCEPTED, REJECTED or DUPLICATE
    entry_id: str | None = None  # the stream entry id, when accepted
    reason: str | None = None  # why, when rejected or a duplicate

    def public(self) -> dict[str, Any]:
        return {k: v for k, v in (("index", self.index), ("status", self.status),
                                  ("entry_id", self.entry_id),
                                  ("reason", self.reason)) if v is not None}


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    return "an object" if isinstance(value, dict) else "a list"


def entry_fields(entry: Any, producer: str) -> dict[str, str]:
    """A JSON entry as stream fields (text), ``src`` set to ``producer``.

    Numbers become text (the stream stores text); null, booleans, objects and
    lists have no text form in the contract and are refused, as is a ``src``
    naming another producer — a key writes for its own producer only.
    """
    if not isinstance(entry, dict):
        raise Rejected(f"an entry is a JSON object of field: value, not "
                       f"{type(entry).__name__}")
    fields: dict[str, str] = {}
    for name, value in entry.items():
        if isinstance(value, str):
            fields[name] = value
        elif isinstance(value, int | float) and not isinstance(value, bool):
            fields[name] = str(value)
        else:
            raise Rejected(f"field '{name[:40]}' is {_kind(value)}; a value is "
                           "text or a number")
    src = fields.setdefault("src", producer)
    if src != producer:
        raise Rejected(f"src {src[:40]!r} is not this key's producer "
                       f"{producer!r}: leave src out, or send {producer!r}")
    # A key acts as its producer's own account, never as a person it names:
    # a workflow op is made by the account named like the producer (which an
    # admin gives the role and scope it needs), or refused by the aggregator.
    actor = fields.get("actor")
    if actor is not None and actor != producer:
        raise Rejected(f"actor {actor[:40]!r} is not this key's producer "
                       f"{producer!r}: a key acts as its producer's account only")
    if fields.get("op") not in (None, "report"):
        fields["actor"] = producer
    return fields


def _raw(fields: dict[str, str]) -> dict[bytes, bytes]:
    """As Redis would hand it to the aggregator; text that cannot be UTF-8
    (lone surrogates) stays undecodable, so validation says which field."""
    return {k.encode(errors="surrogatepass"): v.encode(errors="surrogatepass")
            for k, v in fields.items()}


def _lossless(entry: Any) -> dict[bytes, bytes]:
    """An entry that has no stream form, kept for the dead letter as JSON."""
    def text(value: Any) -> str:
        return value if isinstance(value, str) else json.dumps(value)

    if isinstance(entry, dict):
        return _raw({str(k): text(v) for k, v in entry.items()})
    return _raw({"body": text(entry)})


@dataclass(slots=True)
class _Checked:
    index: int
    raw: dict[bytes, bytes]
    event: Event | None = None
    reason: str | None = None


def check_entries(stream: str, entries: list[Any], site: Site, producer: str,
                  now_ms: int) -> list[_Checked]:
    """Each entry converted and validated (no Redis)."""
    out = []
    for index, entry in enumerate(entries):
        try:
            raw = _raw(entry_fields(entry, producer))
        except Rejected as exc:
            out.append(_Checked(index, _lossless(entry), reason=str(exc)))
            continue
        try:
            out.append(_Checked(index, raw, validate(stream, raw, site, now_ms)))
        except Rejected as exc:
            out.append(_Checked(index, raw, reason=str(exc)))
    return out


def ingest(r: redis.Redis, keys: Keys, site: Site, stream: str, producer: str,
           entries: list[Any], *, now_ms: int, dedup_seconds: int
           ) -> list[Outcome]:
    """Check ``entries`` for ``stream`` and write them; one outcome per entry."""
    checked = check_entries(stream, entries, site, producer, now_ms)
    # a concurrent batch that wrote eids we read makes us decide again; the
    # answer waits until a replica has the writes (data/durable.py)
    return durable.write(r, keys.stream(stream), lambda pipe: _write(
        pipe, keys, stream, checked, now_ms, dedup_seconds))


def _write(pipe, keys: Keys, stream: str, checked: list[_Checked], now_ms: int,
           dedup_seconds: int) -> list[Outcome]:
    # (aggregator's set, HTTP set, member) for every valid entry with an eid
    dedup = dedup_seconds * 1000
    eid_of: dict[int, tuple[str, str, str]] = {}
    for item in checked:
        ev = item.event
        if ev is not None and ev.eid is not None:
            bucket = ev.ts // dedup
            eid_of[item.index] = (keys.eids(stream, bucket),
                                  keys.ingest_eids(stream, bucket),
                                  eid_member(ev.src, ev.eid))
    if eid_of:
        pipe.watch(*{http for _, http, _ in eid_of.values()})
    seen = _seen(pipe, eid_of)

    outcomes: list[Outcome | None] = []
    fresh: dict[str, dict[str, int]] = {}  # HTTP set -> member -> first index
    writes: list[tuple[int, dict]] = []  # (position in outcomes, raw)
    dead: list[_Checked] = []
    for item in checked:
        if item.event is None:
            outcomes.append(Outcome(item.index, REJECTED, reason=item.reason))
            dead.append(item)
            continue
        found = eid_of.get(item.index)
        if found is not None:
            _, http_key, member = found
            batch = fresh.setdefault(http_key, {})
            if (http_key, member) in seen or member in batch:
                where = (f"at index {batch[member]} of this batch" if member in batch
                         else "already")
                outcomes.append(Outcome(
                    item.index, DUPLICATE,
                    reason=f"eid {item.event.eid} of src {item.event.src} "
                           f"was received {where}"))
                continue
            batch[member] = item.index
        writes.append((len(outcomes), item.raw))
        outcomes.append(None)

    pipe.multi()
    for _, raw in writes:
        pipe.xadd(keys.stream(stream), raw)
    for item in dead:
        write_dead(pipe, keys, stream, "", item.raw, item.reason or "")
    if dead:
        pipe.hincrby(keys.stats, "dead", len(dead))
    for http_key, members in fresh.items():
        if members:
            pipe.sadd(http_key, *members)
            # as long as the aggregator keeps its own set of the same bucket
            bucket = int(http_key.rsplit(":", 1)[1])
            pipe.expireat(http_key, max((bucket + 2) * dedup_seconds,
                                        now_ms // 1000 + 60))
    replies = pipe.execute()
    for (position, _), entry_id in zip(writes, replies, strict=False):
        outcomes[position] = Outcome(checked[position].index, ACCEPTED,
                                     entry_id=as_text(entry_id))
    return [o for o in outcomes if o is not None]


def _seen(pipe, eid_of: dict[int, tuple[str, str, str]]) -> set[tuple[str, str]]:
    """(HTTP set, member) for each member already in the aggregator's or the
    HTTP set of its time bucket (an eid is unique per bucket, as there)."""
    by_key: dict[str, tuple[str, list[str]]] = {}
    for agg_key, http_key, member in eid_of.values():
        by_key.setdefault(agg_key, (http_key, []))[1].append(member)
        by_key.setdefault(http_key, (http_key, []))[1].append(member)
    seen: set[tuple[str, str]] = set()
    for key, (http_key, members) in by_key.items():
        flags = pipe.smismember(key, members)
        seen.update((http_key, m) for m, hit in zip(members, flags, strict=True)
                    if hit)
    return seen


