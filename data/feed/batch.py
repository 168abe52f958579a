"""One batch of a site's feed entries, applied in one transaction.

The aggregator reads a batch and checks each entry against the contract; a
:class:`Batch` then WATCHes the state the batch touches (the site's lease,
people present, parking, the de-duplication sets, the incident records),
reads it, folds the entries in stream order and queues the whole effect —
counters, people present, parking, incident records, dead letters, the
de-duplication marks — with the XACK in one MULTI/EXEC. If the watched state
moves meanwhile, EXEC fails and the caller runs the batch again; if the lease
is no longer this process's, :class:`LostLease` is raised and nothing is
written. So every entry counts exactly once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import redis

from data import accounts
from data.feed import snapshot as snapshots
from data.feed.check import Tally, report_grid
from data.feed.contract import IncidentReport, ParkingEntry, Rejected
from data.feed.dead import write_dead
from data.feed.fold import Fold
from data.feed.producers import record as record_producers
from data.incidents.lifecycle import Refused, apply_op, authorize, new_incident
from data.incidents.store import incident_records, load_incidents, store_incident
from data.keys import FEED_STREAMS, GROUP, AuthKeys, Keys, eid_member
from data.redis_conn import as_text, hincrby_many, watch_and_read
from data.site import Site, User
from data.units.counts import count_changes

log = logging.getLogger(__name__)

Checked = tuple[str, str, str, Any]  # (stream key, stream name, entry id, event)


class LostLease(RuntimeError):
    """Another aggregator took the site over; this batch must not be applied."""


@dataclass
class Outcome:
    """What the fold did, for the writes and for the aggregator after them."""

    fold: Fold
    feeds: dict[str, str]
    dead: list[tuple[str, str, str]] = field(default_factory=list)  # name, id, why
    newest: dict[str, int] = field(default_factory=dict)
    folded: dict[str, int] = field(default_factory=lambda: dict.fromkeys(
        FEED_STREAMS, 0))
    fresh_eids: dict[str, set[str]] = field(default_factory=dict)
    changed: dict[str, dict] = field(default_factory=dict)  # incident records
    month_deltas: list[tuple[dict, int]] = field(default_factory=list)
    before: dict[str, dict | None] = field(default_factory=dict)  # as loaded
    people: int | None = None  # people present, when they changed


@dataclass
class Batch:
    r: redis.Redis  # for the accounts an op names
    prefix: str
    consumer: str  # the lease holder this batch runs for
    dedup_seconds: int
    site: Site
    keys: Keys
    checked: list[Checked]
    raws: dict[tuple[str, str], dict]  # (entry id, stream key) -> raw fields
    now: int
    city: str | None = None  # the units' root: a city's people act too

    def apply(self, pipe: Any) -> Outcome:
        """Read, fold and write the batch through ``pipe`` (a transaction
        pipeline); raises redis.WatchError to be run again, or LostLease."""
        eid_of, incident_ids = self._marks()
        keys = self.keys
        marks: dict[str, list[str]] = {}  # de-duplication set -> members
        for set_key, member in eid_of.values():
            marks.setdefault(set_key, []).append(member)
        ids = sorted(incident_ids)
        # everything read before the writes, in one round trip
        replies = watch_and_read(
            pipe, [keys.lease, keys.present, keys.parking, *marks,
                   *(keys.incident(i) for i in ids)],
            [("GET", keys.lease), ("HGETALL", keys.present),
             ("HGETALL", keys.parking), ("HGETALL", keys.feeds),
             *(("SMISMEMBER", k, *members) for k, members in marks.items()),
             *([("MGET", *(keys.incident(i) for i in ids))] if ids else [])])
        if as_text(replies[0] or b"") != self.consumer:
            raise LostLease(self.site.id)
        seen = {m for members, flags in zip(marks.values(), replies[4:],
                                            strict=False)
                for m, hit in zip(members, flags, strict=True) if hit}
        records = (incident_records(ids, replies[4 + len(marks)]) if ids
                   else {})
        present, parking, feeds = (_decode_map(x) for x in replies[1:4])
        out = Outcome(fold=Fold(self.site, self.keys, present, parking, self.now),
                      feeds=feeds)
        out.fold.rebaseline()
        for key, name, entry_id, ev in self.checked:
            self._fold_one(pipe, out, key, name, entry_id, ev, eid_of, seen,
                           records)
        out.fold.finish()
        pipe.multi()
        self._write(pipe, out)
        pipe.execute()
        if out.dead:
            log.info("site %s: %d entries to the dead-letter stream, e.g. %s",
                     self.site.id, len(out.dead), out.dead[0][2])
        return out

    def _marks(self) -> tuple[dict, set[str]]:
        """The de-duplication mark of every event with an ``eid``, by
        (stream key, entry id); the incident ids the batch names."""
        eid_of: dict[tuple[str, str], tuple[str, str]] = {}
        incident_ids: set[str] = set()
        dedup = self.dedup_seconds * 1000
        for key, name, entry_id, ev in self.checked:
            if isinstance(ev, Exception):
                continue
            if ev.eid is not None:
                eid_of[key, entry_id] = (self.keys.eids(name, ev.ts // dedup),
                                         eid_member(ev.src, ev.eid))
            if name == "incident":
                incident_ids.add(ev.id)
        return eid_of, incident_ids

    def _fold_one(self, pipe: Any, out: Outcome, key: str, name: str,
                  entry_id: str, ev: Any, eid_of: dict, seen: set[str],
                  records: dict) -> None:
        kind = type(ev)
        if kind is Rejected:
            out.dead.append((name, entry_id, str(ev)))
            return
        found = eid_of.get((key, entry_id))
        if found is not None:
            set_key, member = found
            fresh = out.fresh_eids.setdefault(set_key, set())
            if member in seen or member in fresh:
                return  # a producer's retry: counted once already
            fresh.add(member)
        if ev.ts > out.newest.get(name, 0):
            out.newest[name] = ev.ts
        out.folded[name] += 1
        if kind is Tally:
            if ev.kind == "crowd":
                out.fold.crowd(ev)
            else:
                out.fold.gate(ev)
        elif kind is ParkingEntry:
            out.fold.parking_reading(ev)
        else:
            reason = self._incident(pipe, ev, records, out)
            if reason:
                out.dead.append((name, entry_id, reason))

    def _write(self, pipe: Any, out: Outcome) -> None:
        keys, fold = self.keys, out.fold
        for set_key, members in out.fresh_eids.items():
            if not members:
                continue
            pipe.sadd(set_key, *members)
            # kept one window past the end of its own window of event time
            bucket = int(set_key.rsplit(":", 1)[1])
            pipe.expireat(set_key, max((bucket + 2) * self.dedup_seconds,
                                       self.now // 1000 + 60))
        by_key: dict[str, dict[str, int]] = {}
        for (key, fld), amount in fold.incr.items():
            by_key.setdefault(key, {})[fld] = amount
        hincrby_many(pipe, {key: (amounts, fold.expire_at.get(key))
                            for key, amounts in by_key.items()})
        for key, at in fold.expire_at.items():
            if key not in by_key:
                pipe.expireat(key, at)
        out.people = fold.present_total() if fold.present_changed else None
        if out.people is not None:
            pipe.delete(keys.present)
            pipe.hset(keys.present, mapping={**fold.present, "site": out.people})
        if fold.parking_changed:
            pipe.hset(keys.parking, mapping=fold.parking)
        for record in out.changed.values():
            store_incident(pipe, keys, record)
        for record, sign in out.month_deltas:
            snapshots.count_closure(pipe, keys, self.site, record, sign)
        # the chain above the site (data/units), in the same transaction
        count_changes(pipe, keys, self.site, out.before, out.changed)
        for name, ts in out.newest.items():
            if ts > int(out.feeds.get(f"{name}:ts", 0)):
                pipe.hset(keys.feeds, f"{name}:ts", ts)
        for name, count in out.folded.items():
            if count:
                pipe.hincrby(keys.stats, f"folded:{name}", count)
        for name, entry_id, reason in out.dead:
            raw = self.raws.get((entry_id, keys.stream(name)), {})
            write_dead(pipe, keys, name, entry_id, raw, reason)
        if out.dead:
            pipe.hincrby(keys.stats, "dead", len(out.dead))
        record_producers(pipe, keys, self.site, self.checked, self.raws, out.dead,
                         self.now)
        by_stream: dict[str, list[str]] = {}
        for key, _, entry_id, _ in self.checked:
            by_stream.setdefault(key, []).append(entry_id)
        for key, ids in by_stream.items():
            pipe.xack(key, GROUP, *ids)

    def _actor(self, actor_id: str) -> User | None:
        """Accounts decide who an actor is (revoked ones act for nobody)."""
        return accounts.actor(self.r, AuthKeys(self.prefix), self.site, actor_id,
                              self.city)

    def _incident(self, pipe: Any, ev: Any, records: dict,
                  out: Outcome) -> str | None:
        """Apply one report or op in stream order; the reason if refused."""
        site, keys = self.site, self.keys
        record = records.get(ev.id)
        if isinstance(ev, IncidentReport):
            if record is not None:
                return None  # the same report again: nothing changes
            if ev.actor is not None:
                try:
                    authorize(self._actor(ev.actor), "report", None, site)
                except Refused as exc:
                    return f"report by {ev.actor} refused: {exc}"
            record = new_incident(ev, report_grid(ev, site), site, ev.actor)
        else:
            if record is None:
                return f"incident {ev.id} does not exist in site {site.id}"

            def lookup(other: str) -> dict | None:
                if other not in records:
                    pipe.watch(keys.incident(other))
                    records.update(load_incidents(pipe, keys, {other}))
                return records.get(other)

            try:
                before = record
                record = apply_op(record, ev, site, lookup, self._actor)
            except Refused as exc:
                return f"{ev.op} of incident {ev.id} by {ev.actor} refused: {exc}"
            if before["status"] == "closed" and record["status"] != "closed":
                out.month_deltas.append((before, -1))
        if record["status"] == "closed" and (
                record["id"] not in records or records[record["id"]]["status"]
                != "closed"):
            out.month_deltas.append((record, 1))
        out.before.setdefault(record["id"], records.get(record["id"]))
        records[record["id"]] = out.changed[record["id"]] = record
        return None


def _decode_map(raw: dict) -> dict[str, Any]:
    return {as_text(k): as_text(v) for k, v in raw.items()}
