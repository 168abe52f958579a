"""One batch of a site's feed entries, applied in one transaction.

The aggregator reads a batch and checks each entry against the contract; a
:class:`Batch` then reads the state the batch touches (people present,
parking, the de-duplication sets, the incident records) with the site's
lease and its count of commits, folds the entries in stream order and makes
the whole effect — counters, people present, parking, incident records, dead
letters, the de-duplication marks — with the XACK one script call
(``FENCED_APPLY``, data/redis_conn.py). It writes only if the lease is still
this process's and the count of commits is what was read: only the lease's
holder writes that state, so nothing it read can have moved unless another
commit came between (a process that held the lease for a while, even one
that lost it and won it back). Else nothing is written: the caller reads and
folds the batch again, or, the lease gone, :class:`LostLease` is raised. So
every entry counts exactly once. The aggregator sends the reads of many
sites in one round trip a node, and their writes in another; a WATCH is one
connection's, so a site at a time.
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
from data.redis_conn import Recorder, as_text, hincrby_many, on_node
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

    def reads(self) -> list[tuple]:
        """The commands that read what the batch folds into (all of the
        site's slot): the lease and the count of commits (the fence), people
        present, parking, the feeds' times, the de-duplication marks of its
        entries and the incident records they name. The caller sends them,
        for many sites at once, and gives the replies to :meth:`fold`."""
        self._eid_of, incident_ids = self._marks()
        keys = self.keys
        self._mark_sets: dict[str, list[str]] = {}  # de-dup set -> members
        for set_key, member in self._eid_of.values():
            self._mark_sets.setdefault(set_key, []).append(member)
        self._ids = sorted(incident_ids)
        return [("GET", keys.lease), ("GET", keys.folds),
                ("HGETALL", keys.present), ("HGETALL", keys.parking),
                ("HGETALL", keys.feeds),
                *(("SMISMEMBER", k, *members)
                  for k, members in self._mark_sets.items()),
                *([("MGET", *(keys.incident(i) for i in self._ids))]
                  if self._ids else [])]

    def fold(self, replies: list) -> Outcome:
        """Fold the batch onto the state :meth:`reads` read (``replies``, in
        order; an error among them is raised); the writes wait in
        :attr:`command`, one fenced script call (``FENCED_APPLY``): it
        writes only if this process still holds the lease and no commit
        came between the reads and it. Raises LostLease if the lease was
        already gone."""
        for reply in replies:
            if isinstance(reply, Exception):
                raise reply
        lease, commits, present, parking, feeds = replies[:5]
        if as_text(lease or b"") != self.consumer:
            raise LostLease(self.site.id)
        marks = self._mark_sets
        seen = {m for members, flags in zip(marks.values(), replies[5:],
                                            strict=False)
                for m, hit in zip(members, flags, strict=True) if hit}
        records = (incident_records(self._ids, replies[5 + len(marks)])
                   if self._ids else {})
        out = Outcome(fold=Fold(self.site, self.keys, _decode_map(present),
                                _decode_map(parking), self.now),
                      feeds=_decode_map(feeds))
        out.fold.rebaseline()
        for key, name, entry_id, ev in self.checked:
            self._fold_one(out, key, name, entry_id, ev, self._eid_of, seen,
                           records)
        out.fold.finish()
        writes = Recorder()
        self._write(writes, out)
        self.command = writes.fenced(self.keys.lease, self.keys.folds,
                                     self.consumer, as_text(commits or b""))
        return out

    def committed(self, reply: Any) -> None:
        """What the fenced call of :meth:`fold`'s writes answered: raises
        LostLease (nothing written, another process folds the site),
        redis.WatchError (nothing written, another commit came between the
        reads and this one: read and fold again) or the first command's
        error."""
        if isinstance(reply, Exception):
            raise reply
        if reply == 0:
            raise LostLease(self.site.id)
        if reply == -1:
            raise redis.WatchError(f"site {self.site.id}: a commit came between")

    def apply(self, pipe: Any) -> Outcome:
        """Read, fold and write the batch through ``pipe`` (a pipeline on the
        site's node), two round trips; raises redis.WatchError to be run
        again, or LostLease."""
        for command in self.reads():
            pipe.execute_command(*command)
        out = self.fold(pipe.execute(raise_on_error=False))
        pipe.execute_command(*self.command)
        self.committed(pipe.execute(raise_on_error=False)[0])
        self.log_dead(out)
        return out

    def log_dead(self, out: Outcome) -> None:
        if out.dead:
            log.info("site %s: %d entries to the dead-letter stream, e.g. %s",
                     self.site.id, len(out.dead), out.dead[0][2])

    def _marks(self) -> tuple[dict, set[str]]:
        """The de-duplication mark of every event with an ``eid``, by
        (stream key, entry id); the incident ids the batch names."""
        eid_of: dict[tuple[str, str], tuple[str, str]] = {}
        incident_ids: set[str] = set()
        dedup = self.dedup_seconds * 1000
        sets: dict[tuple[str, int], str] = {}  # (stream, bucket) -> its set
        for key, name, entry_id, ev in self.checked:
            if isinstance(ev, Exception):
                continue
            if ev.eid is not None:
                bucket = ev.ts // dedup
                set_key = sets.get((name, bucket))
                if set_key is None:
                    set_key = sets[name, bucket] = self.keys.eids(name, bucket)
                eid_of[key, entry_id] = (set_key, eid_member(ev.src, ev.eid))
            if name == "incident":
                incident_ids.add(ev.id)
        return eid_of, incident_ids

    def _fold_one(self, out: Outcome, key: str, name: str,
                  entry_id: str, ev: Any, eid_of: dict, seen: set[str],
                  records: dict) -> None:
        kind = type(ev)
        if kind is Rejected:
            out.dead.append((name, entry_id, str(ev)))
            return
        found = eid_of.get((key, entry_id))
        if found is not None:
            set_key, member = found
            fresh = out.fresh_eids.get(set_key)
            if fresh is None:
                fresh = out.fresh_eids[set_key] = set()
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
            reason = self._incident(ev, records, out)
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

    def _incident(self, ev: Any, records: dict, out: Outcome) -> str | None:
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
                if other not in records:  # the commit's fence covers it
                    records.update(on_node(self.r, keys.lease, lambda node:
                                           load_incidents(node, keys, {other})))
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
