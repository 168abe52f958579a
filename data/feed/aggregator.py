"""The aggregator: folds each site's feed streams into live state.

One consumer of the ``agg`` group per process. For each site it holds a lease
(so one process folds a site at a time and incident ops apply in stream order),
reclaims the pending entries of a consumer that died (XAUTOCLAIM), reads a
batch, validates it, and writes the effect together with the XACK in one
script call fenced by the lease and the site's count of commits
(data/feed/batch.py) — at-least-once delivery, exactly-once effect.
Rejected entries go to the site's dead-letter stream with their reason. After
a change it publishes a new snapshot, at most every ``snapshot_interval_ms``.
Busy, it reads every site each round, and a round's reads wait for entries
enough, at most ``fold_period_ms`` (:meth:`Aggregator._paced`); reports do
not wait for a round.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import redis

from data import pubsub
from data.clock import now_ms
from data.feed import health as site_health
from data.feed import producers, share
from data.feed import snapshot as snapshots
from data.feed.batch import Batch, LostLease
from data.feed.check import check
from data.feed.contract import Rejected
from data.feed.migration import migrate_incident_keys
from data.feed.upkeep import upkeep_many
from data.feed.wake import SWEEP_S, Waker
from data.keys import FEED_STREAMS, GROUP, Keys
from data.redis_conn import (
    LEASE_SCRIPT,
    RELEASE_SCRIPT,
    RETRY_ERRORS,
    Backoff,
    as_text,
    by_node,
    refresh_slots,
)
from data.site import Site
from data.units.rollup import Rollup
from data.units.tree import tree_of_sites

log = logging.getLogger(__name__)

BATCH = 2000
ROUND_ENTRIES = 60_000  # at most this many read in one round over all sites
MIN_BATCH = 100  # ... but at least this many a site and stream
BLOCK_MS = 250  # far below the client's 3 s socket timeout
LEASE_MS = 10_000
RECLAIM_IDLE_MS = 15_000  # a consumer silent this long is taken for dead
MAINTAIN_EVERY_S = 30.0  # per site, staggered: trim, escalate, reclaim
QUIET_REBUILD_MS = 30_000  # a quiet site's snapshot rebuilt this often
SNAPSHOT_SHARE = 0.5  # at most this share of the time on rebuilding snapshots
URGENT_SHARE = 0.25  # ... and this share on those of sites whose incidents changed
QUIET_SHARE = 0.1  # ... and this share on rebuilding those of quiet sites
BUSY_ENTRIES = 500  # entries in a round from which every site is read each round
QUIET_S = 1.0  # ... until this long without an entry
VITALS_S = 60.0  # how the rounds go, logged this often while busy
CHUNK_SITES = 25  # sites read and folded together (three round trips a node), then
#                    the incident streams that grew are looked at
FOLD_TRIES = 4  # a site whose reads went stale is folded again this often
FOLD_PERIOD_MS = 3_000  # busy: a round's reads begin at most this long after
#                         the last round's did (0: at once) ...
SITE_ROUND_ENTRIES = 60  # ... once its sites have about this many entries each
URGENT_WAIT_S = 0.05  # meanwhile the urgent lane is looked at this often, with
#                       reports on their throttle (else on each report heard)





def ensure_groups(r: redis.Redis, keys: Keys) -> None:
    """Create the consumer group on every feed stream (and the stream)."""
    for name in FEED_STREAMS:
        try:
            r.xgroup_create(keys.stream(name), GROUP, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise


@dataclass
class SiteState:
    site: Site
    keys: Keys
    dirty: bool = True
    changed_at: float = 0.0  # monotonic time of the last fold that did something
    urgent: bool = False  # an incident changed: publish sooner than the throttle
    alarm: bool = False  # ... an urgent (level 1) one: publish at once
    version: int = 0  # the last snapshot version this process published
    people: int | None = None  # people present after the last fold
    people_sent: int | None = None  # ... as last published (snapshot or live)
    last_snapshot_ms: int = 0
    last_build_ms: int = 0  # the last full rebuild (not a restamp)
    last_maintain: float = 0.0
    owned: bool = False
    taking_over: bool = False  # leased; a dead holder's entries not claimed yet
    pending: bool = True  # entries read and not acknowledged may wait
    more: bool = False  # the last read was a full batch: read again at once
    stats: dict[str, int] = field(default_factory=dict)
    kept: dict = field(default_factory=dict)  # the last snapshot, minute buckets
    ready: bool = False  # consumer groups made, keys in the current layout
    backoff: Backoff = field(default_factory=Backoff)
    retry_at: float = 0.0  # monotonic time before which the site is left alone

    @property
    def resting(self) -> bool:
        """The site failed and waits out its back-off."""
        return time.monotonic() < self.retry_at






@dataclass
class Vitals:
    """How the rounds go, logged once a minute while busy: how long a round
    takes is how long a new entry may wait before it is read."""

    rounds: int = 0
    last_round_s: float = 0.0
    entries: int = 0
    seconds: float = 0.0
    longest: float = 0.0
    next_log: float = field(default_factory=lambda: time.monotonic() + VITALS_S)

    def round(self, entries: int, seconds: float) -> None:
        self.rounds += 1
        self.last_round_s = seconds
        self.entries += entries
        self.seconds += seconds
        self.longest = max(self.longest, seconds)

    def maybe_log(self, consumer: str, interval_ms: int, urgent_ms: int) -> None:
        now = time.monotonic()
        if now < self.next_log:
            return
        if self.rounds:
            log.info("aggregator %s: %d rounds, %d entries (%.0f/s); a round "
                     "%.0f ms on average, %.0f ms at most; snapshots every "
                     "%d ms, %d ms after an incident change", consumer,
                     self.rounds, self.entries,
                     self.entries / (now - self.next_log + VITALS_S),
                     1000 * self.seconds / self.rounds, 1000 * self.longest,
                     interval_ms, urgent_ms)
        self.rounds = self.entries = 0
        self.seconds = self.longest = 0.0
        self.next_log = now + VITALS_S


class Aggregator:
    """Folds its share of ``sites`` until :meth:`stop` is called.

    Several processes may run over the same sites: they divide them
    (data/feed/share.py) and each site is folded under its lease by one at a
    time. A process reads only the sites that Redis said had new entries
    (data/feed/wake.py), so a quiet city costs it nothing but the beats."""

    def __init__(self, client: redis.Redis, sites: dict[str, Site], prefix: str,
                 *, dedup_seconds: int = 3600, snapshot_interval_ms: int = 200,
                 consumer: str | None = None, lease_ms: int = LEASE_MS,
                 reclaim_idle_ms: int = RECLAIM_IDLE_MS,
                 fold_period_ms: int = FOLD_PERIOD_MS) -> None:
        # Raw bytes: a producer may write anything, validation decides.
        self.r = client
        self.prefix = prefix
        self.states = {s: SiteState(site, Keys(prefix, s)) for s, site in sites.items()}
        self.dedup_seconds = dedup_seconds
        self.snapshot_interval_ms = snapshot_interval_ms
        self.fold_period_ms = fold_period_ms
        self.consumer = consumer or f"agg-{uuid.uuid4().hex[:12]}"
        self.lease_ms, self.reclaim_idle_ms = lease_ms, reclaim_idle_ms
        # beat well within the lease, so a live process never loses one
        self.beat_s = min(share.BEAT_S, lease_ms / 4000)
        self.members: list[str] = [self.consumer]
        self._mine: set[str] | None = None  # this process's share among them
        self._stop = threading.Event()
        self._ready = False
        self._next_beat = 0.0
        self._next_sweep = 0.0
        self._build_ms = 5.0  # a running mean of what one snapshot costs
        self._step_interval = snapshot_interval_ms
        self._urgent_gap = snapshot_interval_ms // 4
        self._quiet_rebuild_ms = QUIET_REBUILD_MS
        self._busy_until = 0.0
        self._round_at = 0.0  # when the last round's reads began
        self._rate = 0.0  # entries a second those rounds read (a running mean)
        self.vitals = Vitals()
        self.chunk_sites = CHUNK_SITES
        self._people_out: dict[str, tuple[str, list]] = {}  # site -> channel, msg
        self._held: dict[str, SiteState] = {}  # incident changes on their throttle
        self.waker: Waker | None = None
        # producer health: the runtime sets it from the configuration
        self.producer_limits = producers.Limits()
        # the units above the sites (data/units/rollup.py)
        self.rollup = Rollup(prefix, tree_of_sites(sites))

    # --- loop -----------------------------------------------------------

    def stop(self) -> None:
        self._stop.set()

    def run(self) -> None:
        """Fold until stopped; survive Redis going away and coming back."""
        backoff = Backoff()
        while not self._stop.is_set():
            try:
                self.step()
                backoff.reset()
            except RETRY_ERRORS + (redis.BusyLoadingError,) as exc:
                self._ready = False
                refresh_slots(self.r)  # a failover, if it is a cluster
                pause = backoff.failed()
                log.warning("aggregator: redis unavailable (%s); retry in %.1f s",
                            exc, pause)
                self._stop.wait(pause)
            except Exception:  # a bug must not stop the folding of other sites
                log.exception("aggregator: unexpected error")
                self._stop.wait(backoff.failed())
        self.release()

    def release(self) -> None:
        """Give up this consumer's leases and membership, so the others take
        its sites over at once."""
        if self.waker is not None:
            self.waker.stop()
        try:
            pipe = self.r.pipeline(transaction=False)
            for state in self.states.values():
                pipe.execute_command("EVAL", RELEASE_SCRIPT, 1, state.keys.lease,
                                 self.consumer)
            pipe.execute()
            share.leave(self.r, self.prefix, self.consumer)
        except RETRY_ERRORS:
            return

    def setup(self) -> None:
        for state in self.states.values():
            state.ready = False
            self._guarded(state, self._setup_site, state)
        if self.waker is None:
            self.waker = Waker(self.r, self.prefix).start()
        self.waker.wake_all()
        self._ready = True

    def _setup_site(self, state: SiteState) -> None:
        migrate_incident_keys(self.r, state.keys)
        ensure_groups(self.r, state.keys)
        state.ready = True

    def step(self, block_ms: int = BLOCK_MS) -> int:
        """One round: the sites with new entries (or all, on a sweep); returns
        the number of entries handled.

        Each site is folded on its own: one that fails (its data cannot be
        read) is noted, backs off, and does not hold up the others."""
        started = time.perf_counter()
        handled = self._step(block_ms)
        if handled:
            self.vitals.round(handled, time.perf_counter() - started)
        self.vitals.maybe_log(self.consumer, self._step_interval,
                              self._urgent_gap)
        return handled

    def _step(self, block_ms: int) -> int:
        if not self._ready:
            self.setup()
        if time.monotonic() >= self._next_beat:
            self._divide()
        self._take_overs()
        owned = self._owned()
        self._step_interval = self._interval()
        handled = 0
        for state in owned:
            if state.pending:
                self._keep_leases()
                handled += self._guarded(state, self._fold_pending, state) or 0
                self._busy(handled)
                self._urgent_out(state)
                handled += self._urgent_lane()
        every, woken = self.waker.take(0)
        if not (handled or every or woken or any(s.more for s in owned)):
            wait = self._block_ms(owned, block_ms) if owned else block_ms
            every, woken = self.waker.take(wait / 1000)
        if time.monotonic() >= self._next_sweep:
            every, self._next_sweep = True, time.monotonic() + SWEEP_S
        if self.waker.paused.is_set():
            handled += self._paced(owned)
        owned = self._owned()
        due = [s for s in owned if every or s.more or s.site.id in woken]
        began = time.monotonic()
        since = began - self._round_at
        read = self._fold_new(due)
        if read and self._round_at:
            self._rate += 0.3 * (read / max(since, 0.001) - self._rate)
        self._round_at = began
        handled += read
        self._pace(handled)
        for start in range(0, len(owned), self.chunk_sites):
            chunk = owned[start:start + self.chunk_sites]
            self._keep_leases()
            self._publish_many([s for s in chunk if s.owned and not s.resting])
            handled += self._urgent_lane()
        self._keep_leases()
        self._maintain_many([s for s in owned if s.owned and not s.resting
                             and time.monotonic() - s.last_maintain
                             > MAINTAIN_EVERY_S])
        handled += self._urgent_lane()
        for state in owned:
            if not state.resting and state.backoff.failures:
                self._recovered(state)
        self._announce_people()
        self.rollup.flush(self.r, now_ms())  # the chain above, all at once
        return handled

    def _announce_people(self) -> None:
        """People present of every site whose count moved this round, one
        round trip per node (a busy city: a thousand a round)."""
        if self._people_out:
            out, self._people_out = list(self._people_out.values()), {}
            pubsub.announce_all(self.r, out)

    def _busy(self, handled: int) -> None:
        """Stop listening as soon as a round is busy, not at its end: a round
        that catches up on a backlog lasts minutes, and meanwhile every XADD
        of the city would be an event to read."""
        if handled >= BUSY_ENTRIES and not self.waker.paused.is_set():
            self._pace(handled)

    def _pace(self, handled: int) -> None:
        """Listen for events while quiet; read every site each round while
        busy (data/feed/wake.py says why), back to events after a quiet
        second."""
        now = time.monotonic()
        if handled >= BUSY_ENTRIES:
            self._busy_until = now + QUIET_S
            if not self.waker.paused.is_set():
                log.info("aggregator %s: busy, reading every site each round",
                         self.consumer)
                self.waker.pause()
        elif handled:
            self._busy_until = max(self._busy_until, now + QUIET_S)
        elif self.waker.paused.is_set() and now >= self._busy_until:
            log.info("aggregator %s: quiet, waiting for events", self.consumer)
            self.waker.resume()

    def _paced(self, owned: list[SiteState]) -> int:
        """Busy, wait before the next round's reads until the ``owned`` sites
        have about :data:`SITE_ROUND_ENTRIES` entries each at the rate of the
        last rounds, at most :attr:`fold_period_ms` after the last round's
        reads began; the entries handled meanwhile.

        A site's round costs its read, its fenced write and its snapshot
        however few entries it brings: a thousand sites read as fast as the
        rounds go spent most of their CPU on those (bench/README.md). A busy
        site alone waits a tenth of a second or so, a busy city's sites a
        few seconds (their walls' counts as old). Reports do not wait: the
        urgent lane is served all the while, as between two chunks; nor do
        the sites behind (their last read was a full batch: a big site, a
        backlog), which are read again meanwhile, as often as they fill one."""
        if not (self.fold_period_ms and self._rate and self._round_at):
            return 0
        period = min(self.fold_period_ms / 1000,
                     len(owned) * SITE_ROUND_ENTRIES / self._rate)
        handled, end = 0, self._round_at + period
        while not self._stop.is_set() and (left := end - time.monotonic()) > 0:
            behind = [s for s in owned if s.more and s.owned and not s.resting]
            if behind:
                handled += self._fold_new(behind)
                continue
            self.waker.wait_urgent(min(left, URGENT_WAIT_S if self._held else 0.25))
            self._keep_leases()
            handled += self._urgent_lane()
        return handled

    def _keep_leases(self) -> None:
        """Renew the leases when due, also in the middle of a long round (a
        thousand sites taken over at once): a round never outlives them."""
        if time.monotonic() >= self._next_beat:
            self._divide()

    def _owned(self) -> list[SiteState]:
        return [s for s in self.states.values()
                if s.owned and s.ready and not s.resting and not s.taking_over]

    def _take_overs(self) -> None:
        """Claim the entries of the sites leased since the last round."""
        for state in self.states.values():
            if state.taking_over and state.ready and not state.resting:
                self._keep_leases()
                if state.owned:  # still ours
                    self._guarded(state, self._take_over, state)

    def _divide(self) -> None:
        """Beat, work out this process's share, and take, keep or give up
        leases accordingly (one round trip per node for all sites)."""
        self._next_beat = time.monotonic() + self.beat_s
        members = share.beat(self.r, self.prefix, self.consumer, now_ms(),
                             self.lease_ms)
        if members != self.members or self._mine is None:
            # the same members, the same division: a thousand sites' hashes
            # for each member every beat were a thirtieth of a busy process
            self._mine = share.share(self.states, members, self.consumer)
        self.members, mine = members, self._mine
        for state in self.states.values():
            if not state.resting and not state.ready:
                self._guarded(state, self._setup_site, state)
        wanted = [s for s in self.states.values()
                  if s.site.id in mine and s.ready and not s.resting]
        leaving = [s for s in self.states.values()
                   if s.owned and s.site.id not in mine]
        replies = by_node(self.r, [
            *((s.keys.lease, self._eval(LEASE_SCRIPT, s, self.lease_ms))
              for s in wanted),
            *((s.keys.lease, self._eval(RELEASE_SCRIPT, s)) for s in leaving)])
        for state, reply in zip(wanted, replies, strict=False):
            if isinstance(reply, RETRY_ERRORS):
                raise reply
            if isinstance(reply, Exception):
                self._site_failed(state, reply)
            elif reply and not state.owned:
                # claimed in the round (:meth:`_take_overs`), with the leases
                # kept between sites: a thousand at once outlive a lease
                state.owned = state.taking_over = True
            else:
                state.owned = bool(reply)
        for state in leaving:
            log.info("aggregator %s hands site %s over", self.consumer,
                     state.site.id)
            state.owned = state.taking_over = False

    def _eval(self, script: str, state: SiteState, *args: Any):
        """What queues ``script`` on ``state``'s lease on a pipeline."""
        return lambda pipe: pipe.execute_command(
            "EVAL", script, 1, state.keys.lease, self.consumer, *args)

    def _take_over(self, state: SiteState) -> None:
        log.info("aggregator %s folds site %s", self.consumer, state.site.id)
        # Whoever held the lease before can no longer commit (every fold's
        # write checks the lease), so its unacknowledged entries are ours now,
        # and they come before anything new: stream order is kept.
        self._claim(state, min_idle_ms=0)
        state.taking_over = False
        state.kept.clear()  # another process may have published since
        state.owned = state.pending = state.more = True
        state.dirty = True
        # upkeep spread over the interval, not every site at once
        state.last_maintain = time.monotonic() - random.uniform(0, MAINTAIN_EVERY_S)

    def _publish_and_maintain(self, state: SiteState) -> None:
        self._publish_many([state])
        if time.monotonic() - state.last_maintain > MAINTAIN_EVERY_S:
            self._maintain(state)

    def _publish_many(self, states: list[SiteState]) -> None:
        """The snapshots due of ``states`` built (or restamped) and published
        together (:func:`data.feed.snapshot.publish_many`: two round trips a
        node), each with its site's figures for the chain above read in the
        same round trip and noted for the roll-up; a site that fails rests
        alone."""
        now = now_ms()
        due = []
        for state in states:
            job, kind = self._due(state, now)
            if job is None:
                continue
            try:  # the chain above, on every version (added up at the round's end)
                job.also = self.rollup.figure_reads(self.r, state.keys,
                                                    state.site, now)
            except RETRY_ERRORS:
                raise
            except Exception as exc:  # this site's data alone
                self._site_failed(state, exc)
                continue
            due.append((state, job, kind))
        if not due:
            return
        started = time.perf_counter()
        versions = snapshots.publish_many(self.r, [job for _, job, _ in due])
        builds = sum(kind == "change" for _, _, kind in due)
        if builds:  # what one costs, for the throttle (:meth:`_interval`)
            spent = (time.perf_counter() - started) * 1000 / len(due)
            self._build_ms += 0.1 * (spent - self._build_ms)
        for (state, job, kind), version in zip(due, versions, strict=True):
            if isinstance(version, RETRY_ERRORS):
                raise version
            if isinstance(version, Exception):
                self._site_failed(state, version)
                continue
            self._published(state, kind, version, now)
            try:
                self.rollup.note_figures(state.site, job.also_got, now)
            except RETRY_ERRORS:
                raise
            except Exception as exc:  # this site's data alone
                self._site_failed(state, exc)

    def _due(self, state: SiteState, now: int
             ) -> tuple[snapshots.Job | None, str]:
        """The snapshot ``state`` is due now, if any, and why: ``change``,
        ``rebuild`` (quiet, the clock moved the hour's curve and the SLA
        lights) or ``restamp`` (quiet, a heartbeat)."""
        since = now - state.last_snapshot_ms
        # Leading edge: a change after a quiet spell goes out at once; within
        # the interval it waits for the trailing edge (see _block_ms). An
        # incident change (a report, a dispatch: what people wait for on the
        # other screens) has a throttle of its own (see _interval).
        if state.dirty and since >= self._gap(state):
            self._people_out.pop(state.site.id, None)  # in the snapshot now
            return snapshots.Job(state.keys, state.site, now, state.kept,
                                 incidents=state.urgent), "change"
        if since >= snapshots.HEARTBEAT_MS:
            # Nothing happened: the walls still learn that the site is folded
            # and how old its feeds are. A full rebuild now and then moves the
            # hour's curve and the SLA lights; in between a restamp will do.
            rebuild = now - state.last_build_ms >= self._quiet_rebuild_ms
            return (snapshots.Job(state.keys, state.site, now, state.kept,
                                  restamp=not rebuild),
                    "rebuild" if rebuild else "restamp")
        if state.people != state.people_sent and state.version:
            # The one number that moves with every fold goes out at the end
            # of the round (all sites' at once, :meth:`_announce_people`),
            # on top of the last snapshot; the snapshot follows on the
            # throttle.
            self._people_out[state.site.id] = (
                state.keys.channel,
                [snapshots.people_message(state.version, state.people)])
            state.people_sent = state.people
        return None, ""

    def _published(self, state: SiteState, kind: str, version: int,
                   now: int) -> None:
        state.version = version
        state.last_snapshot_ms = now
        if kind == "change":
            state.dirty = state.urgent = state.alarm = False
            state.last_build_ms = now
            state.people_sent = state.people
        elif kind == "rebuild":
            # drawn early by up to a quarter: the sites taken over together
            # do not rebuild together for ever after
            state.last_build_ms = now - int(random.uniform(0, 0.25)
                                            * self._quiet_rebuild_ms)

    def _guarded(self, state: SiteState, action, *args) -> Any:
        """``action(*args)``, or None when it fails for this site alone.

        Redis being away concerns every site and goes up to :meth:`run`;
        anything else (WRONGTYPE on a key, a record that does not parse, a
        bug that only this site's data reaches) rests this site alone."""
        try:
            return action(*args)
        except RETRY_ERRORS + (redis.BusyLoadingError,):
            raise
        except Exception as exc:
            self._site_failed(state, exc)
            return None

    def _site_failed(self, state: SiteState, exc: Exception) -> None:
        pause = state.backoff.failed()
        state.retry_at = time.monotonic() + pause
        state.ready = False  # redo set-up: a stream may have been deleted
        state.pending = True  # a batch may be read and not acknowledged
        reason = site_health.describe(exc)
        if state.backoff.failures == 1:
            log.error("aggregator: site %s cannot be folded (%s); the other "
                      "sites go on", state.site.id, reason, exc_info=exc)
        else:
            log.warning("aggregator: site %s still failing (%s); retry in %.1f s",
                        state.site.id, reason, pause)
        try:
            site_health.report_failure(self.r, state.keys, reason, now_ms(),
                                       int(pause * 1000), state.backoff.failures)
        except redis.ResponseError:
            log.warning("aggregator: cannot note the failure of site %s",
                        state.site.id)

    def _recovered(self, state: SiteState) -> None:
        log.info("aggregator: site %s is folded again", state.site.id)
        state.backoff.reset()
        site_health.clear_failure(self.r, state.keys)

    def _block_ms(self, owned: list[SiteState], block_ms: int) -> int:
        """How long to wait for new entries: no longer than until a site with
        unpublished changes may publish again (the trailing edge of the
        throttle), so a change never waits for the next entry or the block."""
        now = now_ms()
        for state in owned:
            if state.dirty:
                gap = self._gap(state)
                due = state.last_snapshot_ms + gap - now
                block_ms = min(block_ms, max(1, due))
        return block_ms

    def _claim(self, state: SiteState, min_idle_ms: int) -> int:
        """:meth:`_claim_many` of one site; its error raised."""
        claimed = self._claim_many([state], min_idle_ms)[0]
        if isinstance(claimed, Exception):
            raise claimed
        return claimed

    def _claim_many(self, states: list[SiteState], min_idle_ms: int
                    ) -> list[int | Exception]:
        """Entries of other consumers idle ``min_idle_ms`` made ours; how many
        of each site, or its error. Every site's three streams in one round
        trip a node (more, a site at a time, only past a full batch)."""

        def claim(pipe: Any, starts: dict[str, str]) -> None:
            for key, start in starts.items():
                # ids only: the entries are read once, as pending, when
                # folded (redis-py gives no cursor then: go on past the last)
                pipe.xautoclaim(key, GROUP, self.consumer,
                                min_idle_time=min_idle_ms, start_id=start,
                                count=BATCH, justid=True)

        out: list[int | Exception] = [0] * len(states)
        starts = [{s.keys.stream(n): "0-0" for n in FEED_STREAMS} for s in states]
        todo = list(range(len(states)))
        while todo:
            replies = by_node(self.r, [
                (states[n].keys.lease, lambda pipe, st=starts[n]: claim(pipe, st))
                for n in todo], several=True)
            more = []
            for n, reply in zip(todo, replies, strict=True):
                error = next((x for x in reply if isinstance(x, Exception)), None)
                if error is not None:
                    out[n] = error
                    continue
                full = {}
                for key, ids in zip(starts[n], reply, strict=True):
                    out[n] += len(ids)
                    if len(ids) >= BATCH:
                        ms, _, seq = as_text(ids[-1]).partition("-")
                        full[key] = f"{ms}-{int(seq or 0) + 1}"
                if full:
                    starts[n] = full
                    more.append(n)
            todo = more
        return out

    def _fold_pending(self, state: SiteState) -> int:
        """Entries delivered to this consumer but not acknowledged (taken
        over, or a batch that failed)."""
        streams = {state.keys.stream(n): "0" for n in FEED_STREAMS}
        reply = self.r.xreadgroup(GROUP, self.consumer, streams, count=BATCH)
        batch = {k: v for k, v in _by_stream(reply).items() if v}
        if not batch:
            state.pending = False
            return 0
        return self._fold(state, batch)

    def _fold_new(self, due: list[SiteState]) -> int:
        """Read the due sites' new entries without blocking and fold them,
        :attr:`chunk_sites` at a time — each chunk read in one round trip a
        node, folded, and then the incident streams that grew looked at
        (:meth:`_urgent_lane`, also before the first chunk): a report waits
        for a chunk, not for a round of a thousand sites.

        A round reads at most about :data:`ROUND_ENTRIES`: behind by a
        backlog, a thousand sites' full batches would be millions of entries
        read, and the rest comes in the next rounds.

        Most of that goes to the sites behind (their last read was a full
        batch): one site catching up on a day among a thousand that are
        not would otherwise read 100 entries a round, a few hundred a second."""
        if not due:
            return 0
        count = max(MIN_BATCH, min(BATCH, ROUND_ENTRIES // len(due)))
        behind = sum(s.more for s in due)
        count_behind = max(count, min(BATCH, ROUND_ENTRIES // max(1, behind)))
        counts = [count_behind if s.more else count for s in due]
        handled = self._urgent_lane()  # reports heard before the round: first
        for start in range(0, len(due), self.chunk_sites):
            part = list(zip(due[start:start + self.chunk_sites],
                            counts[start:start + self.chunk_sites], strict=True))
            self._keep_leases()
            replies = by_node(self.r, [(state.keys.lease, self._read_new(state, n))
                                       for state, n in part])
            handled += self._fold_replies([
                (state, reply, n, False)
                for (state, n), reply in zip(part, replies, strict=True)])
            handled += self._urgent_lane()
        return handled

    def _fold_replies(self, reads: list[tuple[SiteState, Any, int, bool]]
                      ) -> int:
        """Fold what each site's read of ``count`` a stream brought, for
        ``reads`` of (site, reply, count, more); ``more``: the site is behind
        whatever its read says."""
        self._keep_leases()
        work = []
        for state, reply, count, more in reads:
            if isinstance(reply, RETRY_ERRORS):
                raise reply
            if not state.owned:
                # handed over since the round read it (another process came):
                # its new holder claims what was read (a fold here would be
                # refused by the fence anyway)
                continue
            if isinstance(reply, Exception):
                # this site's stream cannot be read (deleted, not a stream)
                self._site_failed(state, reply)
                continue
            batch = {k: v for k, v in _by_stream(reply).items() if v}
            state.more = more or any(len(v) >= count for v in batch.values())
            if batch:
                work.append((state, batch))
        handled = self._fold_many(work)
        self._busy(handled)
        for state, _ in work:
            self._urgent_out(state)
        return handled

    def _urgent_lane(self) -> int:
        """Fold now the incident entries of the sites whose incident streams
        grew (data/feed/wake.py hears it), between two chunks of a round: a
        busy round of a thousand sites lasts seconds, a report must be on the
        walls within one. Stream order holds: a chunk's reads are folded
        before the lane is looked at, and a site with entries read and not
        acknowledged waits for its round."""
        urgent = self.waker.take_urgent() if self.waker is not None else ()
        if not (urgent or self._held):
            return 0
        now = now_ms()
        for state in list(self._held.values()):  # the throttle's trailing edge
            if not (state.urgent and state.dirty):
                del self._held[state.site.id]
            elif now - state.last_snapshot_ms >= self._gap(state):
                del self._held[state.site.id]
                self._urgent_out(state)
        states = [self.states[s] for s in urgent if s in self.states]
        states = [s for s in states if s.owned and s.ready and not s.resting
                  and not s.taking_over and not s.pending]
        if not states:
            return 0
        replies = by_node(self.r, [
            (s.keys.lease, self._read_new(s, BATCH, ("incident",))) for s in states])
        return self._fold_replies([
            (state, reply, BATCH, state.more)
            for state, reply in zip(states, replies, strict=True)])

    def _read_new(self, state: SiteState, count: int,
                  streams: tuple[str, ...] = FEED_STREAMS):
        """What queues the read of ``state``'s new entries on a pipeline."""
        wanted = {state.keys.stream(name): ">" for name in streams}
        return lambda pipe: pipe.xreadgroup(GROUP, self.consumer, wanted,
                                            count=count)

    def _urgent_out(self, state: SiteState) -> None:
        """A site whose incidents changed publishes now, not at the end of
        the round: at a city's full rate a round lasts seconds. One that
        published just before waits for its throttle's trailing edge, looked
        at between the next sites (:meth:`_urgent_lane`)."""
        if state.urgent and state.owned and not state.resting:
            self._guarded(state, self._publish_and_maintain, state)
            self.rollup.flush(self.r, now_ms())  # a report: up the chain now
            if state.urgent and state.dirty:
                self._held[state.site.id] = state

    # --- one batch ------------------------------------------------------

    def _fold(self, state: SiteState, batch: dict[str, list]) -> int:
        """Validate, de-duplicate, apply and ack ``batch`` atomically."""
        return self._fold_many([(state, batch)])

    def _fold_many(self, work: list[tuple[SiteState, dict[str, list]]]) -> int:
        """Validate, de-duplicate, apply and ack each site's batch, each
        site's atomically; how many entries were handled.

        Two round trips a node for all of them: every site's state is read
        in one, folded here, and each site's writes go in the other as one
        script call fenced by the site's lease and its count of commits
        (data/feed/batch.py), so a batch whose reads went stale, or whose
        lease went meanwhile, writes nothing. (A WATCH is one connection's,
        one site at a time: a round trip or two a site, most of a busy
        round's time.) A site whose reads went stale is read and folded
        again; one that fails rests alone."""
        batches = [(state, self._batch(state, entries)) for state, entries in work]
        handled = 0
        for _ in range(FOLD_TRIES):
            if not batches:
                break
            batches, done = self._fold_once(batches)
            handled += done
        for state, _ in batches:  # read again in a later round
            state.pending = True
        return handled

    def _batch(self, state: SiteState, entries: dict[str, list]) -> Batch:
        """The checked entries of one site's read, as a :class:`Batch`."""
        site = state.site
        now = now_ms()
        checked: list[tuple[str, str, str, Any]] = []  # (key, name, id, event|reason)
        raws: dict[tuple[str, str], dict] = {}  # what a dead letter may need to copy
        for key, found in entries.items():
            name = key.rsplit(":", 1)[1]
            for entry_id, raw in found:
                if type(entry_id) is bytes:  # (as_text, inline: each entry)
                    entry_id = entry_id.decode()
                try:
                    checked.append((key, name, entry_id,
                                    check(name, raw or {}, site, now)))
                except Rejected as exc:
                    checked.append((key, name, entry_id, exc))
                    raws[entry_id, key] = raw or {}
                else:
                    if name == "incident":  # an op may still be refused
                        raws[entry_id, key] = raw or {}
        return Batch(self.r, self.prefix, self.consumer, self.dedup_seconds,
                     site, state.keys, checked, raws, now, self.rollup.tree.root)

    def _fold_once(self, batches: list[tuple[SiteState, Batch]]
                   ) -> tuple[list[tuple[SiteState, Batch]], int]:
        """One try of :meth:`_fold_many`: the batches to try again (another
        commit came between), and the entries handled."""
        replies = by_node(self.r, [
            (state.keys.lease, lambda pipe, b=batch: [
                pipe.execute_command(*c) for c in b.reads()])
            for state, batch in batches], several=True, bundle=True)
        folded = []
        for (state, batch), reply in zip(batches, replies, strict=True):
            try:
                folded.append((state, batch, batch.fold(reply)))
            except RETRY_ERRORS:
                raise
            except LostLease:
                self._lost(state)
            except Exception as exc:  # this site's data alone
                self._site_failed(state, exc)
        replies = by_node(self.r, [
            (state.keys.lease, lambda pipe, b=batch: pipe.execute_command(*b.command))
            for state, batch, _ in folded])
        again, handled = [], 0
        for (state, batch, out), reply in zip(folded, replies, strict=True):
            try:
                batch.committed(reply)
            except redis.WatchError:
                again.append((state, batch))
                continue
            except RETRY_ERRORS:
                raise
            except LostLease:
                self._lost(state)
                continue
            except Exception as exc:
                self._site_failed(state, exc)
                continue
            batch.log_dead(out)
            handled += self._folded(state, out, len(batch.checked))
        return again, handled

    def _lost(self, state: SiteState) -> None:
        log.warning("aggregator %s lost site %s mid-batch; another process "
                    "folds it now", self.consumer, state.site.id)
        state.owned = False

    def _folded(self, state: SiteState, done: Any, entries: int) -> int:
        """Note what a committed batch did; returns ``entries``."""
        state.dirty = True
        state.changed_at = time.monotonic()
        state.kept.setdefault("touched", set()).update(done.fold.minutes)
        state.kept.setdefault("touched_incidents", set()).update(done.changed)
        if done.changed:
            state.urgent = True
            state.alarm = state.alarm or any(
                str(record.get("level")) == "1" for record in done.changed.values())
        if done.people is not None:
            state.people = done.people
        return entries

    # --- snapshot and housekeeping ---------------------------------------

    def _gap(self, state: SiteState) -> int:
        """How long after its last snapshot a changed site may publish again:
        at once for an urgent (level 1) incident (it takes every wall's
        spotlight), soon for another incident change, else on the throttle."""
        if state.alarm:
            return 0
        return self._urgent_gap if state.urgent else self._step_interval

    def _interval(self) -> int:
        """The throttle of a site's snapshots: the configured interval, or
        longer when this process has more busy sites than it can rebuild in
        that time within :data:`SNAPSHOT_SHARE` of its time (a city at full
        rate: people present still go out live).

        Sites whose incidents changed have a throttle of their own, a quarter
        of the configured interval, stretched only when they alone would
        take more than :data:`URGENT_SHARE` of the time: at a city's full
        rate every site has new counts each round but only a few a new
        report, and that report is what the other screens wait for."""
        owned = busy = urgent = 0
        # busy: changed within the last two rounds (at the start of a round
        # the last one's changes are all published, and none is dirty)
        since = time.monotonic() - max(2 * QUIET_S, 2 * self.vitals.last_round_s)
        for state in self.states.values():
            owned += state.owned
            busy += state.owned and (state.dirty or state.changed_at > since)
            urgent += state.owned and state.urgent
        # and the full rebuild of quiet sites: at most a tenth of the time
        self._quiet_rebuild_ms = max(QUIET_REBUILD_MS,
                                     int(owned * self._build_ms / QUIET_SHARE))
        self._urgent_gap = max(self.snapshot_interval_ms // 4,
                               int(urgent * self._build_ms / URGENT_SHARE))
        needed = busy * self._build_ms / SNAPSHOT_SHARE
        return max(self.snapshot_interval_ms, int(needed))

    def _maintain(self, state: SiteState) -> None:
        """:meth:`_maintain_many` of one site."""
        self._maintain_many([state])

    def _maintain_many(self, states: list[SiteState]) -> None:
        """Reclaim a dead consumer's entries, trim streams, escalate overdue
        incidents and judge the devices, of all the sites due their upkeep
        in a round at once (a few round trips a node, not eight a site); a
        site that fails rests alone."""
        if not states:
            return
        started = time.monotonic()
        for state in states:
            state.last_maintain = started
        going = []
        for state, claimed in zip(states, self._claim_many(
                states, self.reclaim_idle_ms), strict=True):
            if isinstance(claimed, Exception):
                self._site_failed(state, claimed)
                continue
            if claimed:
                state.pending = True  # fold them before anything newer
            going.append(state)
        now = now_ms()
        kept = upkeep_many(self.r, [(s.site, s.keys) for s in going],
                           self.consumer, now)
        # a silent device's maintenance incident, even with no screen open
        judged = producers.judge_many(self.r, [
            (s.keys, s.site, s.kept.setdefault("producer_minutes", {}))
            for s in going], now, self.producer_limits)
        for state, *errors in zip(going, kept, judged, strict=True):
            error = next((e for e in errors if e is not None), None)
            if error is not None:
                self._site_failed(state, error)


def _by_stream(reply: Any) -> dict[str, list]:
    if not reply:
        return {}
    if isinstance(reply, dict):  # RESP3
        return {as_text(k): v[0] if v and isinstance(v[0], list) else v
                for k, v in reply.items()}
    return {as_text(k): v for k, v in reply}
