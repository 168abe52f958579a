"""Redis key names, in one place.

Every key of a site carries the hash tag ``{site}`` so that one site's keys live
on one Redis Cluster shard and one MULTI/EXEC can touch them all.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

FEED_STREAMS = ("crowd", "traffic", "incident")
GROUP = "agg"


@dataclass(frozen=True)
class Keys:
    """The keys of one site under one prefix."""

    prefix: str
    site: str

    @cached_property
    def base(self) -> str:
        """What every key of the site starts with (made once: the fold
        names a few keys for every entry)."""
        return f"{self.prefix}:{{{self.site}}}"

    def stream(self, name: str) -> str:
        """A feed stream (``crowd``, ``traffic``, ``incident``) or ``dead``."""
        return f"{self.base}:{name}"

    @property
    def dead(self) -> str:
        return self.stream("dead")

    def eids(self, stream: str, bucket: int) -> str:
        """Set of ``src\\x1feid`` seen in one time bucket, for de-duplication."""
        return f"{self.base}:eid:{stream}:{bucket}"

    def ingest_eids(self, stream: str, bucket: int) -> str:
        """Set of ``src\x1feid`` written over HTTP in one time bucket: the
        aggregator's set only knows what it has folded, this one also knows
        what is still on its way through the stream."""
        return f"{self.base}:ingest-eid:{stream}:{bucket}"

    def minute(self, minute: int) -> str:
        """Hash of counters for one minute (epoch minutes)."""
        return f"{self.base}:m:{minute}"

    def tens(self, slot: int) -> str:
        """Hash of counters for one 10-second slot (epoch seconds // 10)."""
        return f"{self.base}:s:{slot}"

    def day(self, day: str) -> str:
        """Hash of counters for one local day (YYYYMMDD)."""
        return f"{self.base}:d:{day}"

    def site_minutes(self, day: str) -> str:
        """Hash minute-of-day -> site in/out, kept 8 days for week-ago curves."""
        return f"{self.base}:sm:{day}"

    @property
    def present(self) -> str:
        """Hash: ``site`` and ``g:<grid>`` -> people present now."""
        return f"{self.base}:present"

    @property
    def parking(self) -> str:
        """Hash: lot id -> occupied spaces."""
        return f"{self.base}:parking"

    @property
    def feeds(self) -> str:
        """Hash: ``<stream>:ts`` newest measurement time, ``<stream>:n`` count."""
        return f"{self.base}:feeds"

    # Incident keys: records, indexes and counters each under their own word,
    # so no incident id (a producer's choice) can name an index or a counter,
    # whatever the contract lets through. Layout 2; data/key_migration.py
    # moves layout 1 (``inc:<id>``, ``inc:open``, ...) over.

    def incident(self, incident_id: str) -> str:
        """JSON record of one incident, history included."""
        return f"{self.base}:inc:rec:{incident_id}"

    @property
    def incidents_all(self) -> str:
        """Sorted set of incident ids by report time (ms)."""
        return f"{self.base}:inc:idx:all"

    @property
    def incidents_open(self) -> str:
        """Sorted set of open incident ids by SLA deadline (ms)."""
        return f"{self.base}:inc:idx:open"

    @property
    def incidents_closed(self) -> str:
        """Sorted set of closed incident ids by close time (ms)."""
        return f"{self.base}:inc:idx:closed"

    def incidents_month(self, month: str) -> str:
        """Hash of closure counters for one local month (YYYYMM)."""
        return f"{self.base}:inc:count:{month}"

    @property
    def incidents_layout(self) -> str:
        """Which layout of incident keys the site's data is in (``2``)."""
        return f"{self.base}:inc:layout"

    @property
    def stats(self) -> str:
        """Hash of running counters: dead letters, entries folded, …"""
        return f"{self.base}:stats"

    @property
    def snapshot(self) -> str:
        return f"{self.base}:snapshot"

    @property
    def version(self) -> str:
        return f"{self.base}:version"

    @property
    def incidents_version(self) -> str:
        """The last snapshot version with an incident change in it."""
        return f"{self.base}:incidents:version"

    @property
    def channel(self) -> str:
        """Pub/sub channel carrying each new snapshot version."""
        return f"{self.base}:updates"

    @property
    def health(self) -> str:
        """Why the aggregator cannot fold the site now (JSON, expires)."""
        return f"{self.base}:health"

    @property
    def lease(self) -> str:
        """Which aggregator folds this site now (SET NX PX)."""
        return f"{self.base}:lease"

    @property
    def folds(self) -> str:
        """How many batches have been committed (the fence of a fold: a
        commit checks that nobody committed since its reads)."""
        return f"{self.base}:folds"

    @property
    def cast(self) -> str:
        """What a supervisor has cast onto the site's walls."""
        return f"{self.base}:cast"

    @property
    def cast_seq(self) -> str:
        """Counts cast changes; each is published as ``cast:<n>``."""
        return f"{self.base}:cast:seq"

    @property
    def interrupt(self) -> str:
        """The urgent event holding the walls' spotlight: ``member|until_ms``."""
        return f"{self.base}:interrupt"

    @property
    def interrupt_queue(self) -> str:
        """Urgent events waiting for the spotlight (ZSET, by severity then age)."""
        return f"{self.base}:interrupt:queue"

    @property
    def interrupt_alerting(self) -> str:
        """What alerts now (SET): only what is not in it yet interrupts."""
        return f"{self.base}:interrupt:alerting"

    @property
    def producers(self) -> str:
        """Producer health (data/feed/producers.py), hash fields by device
        (``src\x1fdevice\x1fkind``) and a suffix: ``:seen`` when last heard
        (aggregator ms), ``:ts`` its last entry's ts, ``:why`` its last
        refusal, ``:state`` the judged state (JSON), ``:inc`` its open
        maintenance incident."""
        return f"{self.base}:prod"

    def producer_minute(self, minute: int) -> str:
        """Hash device -> entries folded in one minute (``device\x1fx``:
        refused), kept 8 days for the usual rate a week ago."""
        return f"{self.base}:prod:m:{minute}"

    @property
    def producer_summary(self) -> str:
        """The last judgement of every device (JSON), for the walls."""
        return f"{self.base}:prod:sum"

    @property
    def replay_marks(self) -> str:
        """Reviewers' bookmarks of moments to replay (a stream, newest last)."""
        return f"{self.base}:replay:marks"

    def spot(self, period: int) -> str:
        """The grid in the walls' spotlight during one rotation period (SET NX)."""
        return f"{self.base}:spot:{period}"

    @property
    def spot_estimated(self) -> str:
        """The grids whose people present the walls' spotlight last showed as
        estimates (comma-separated ids): a change redraws it."""
        return f"{self.base}:spot:estimated"

    # What the chain above the site needs, counted as the incidents change
    # (data/units/counts.py), per community of the site: a community id is a
    # unit id from the site's own files, never a producer's choice.

    def unit_open(self, community: str) -> str:
        """Sorted set of the community's open incident ids by deadline (ms)."""
        return f"{self.base}:u:open:{community}"

    def unit_owned_ids(self, community: str, level: str) -> str:
        """Sorted set of the community's open incident ids owned at ``level``
        (community, street, district; one of CHAIN) by deadline (ms): what a
        unit's console lists."""
        return f"{self.base}:u:own:{community}:{level}"

    def unit_supervised(self, community: str) -> str:
        """Sorted set of the community's open incident ids under supervision
        (督办) by deadline (ms)."""
        return f"{self.base}:u:sup:{community}"

    @property
    def unit_owned(self) -> str:
        """Hash ``<community>:<owner level>`` -> open incidents owned there."""
        return f"{self.base}:u:own"

    def unit_month(self, month: str) -> str:
        """Hash ``<community>:<figure>`` of closures in one local month."""
        return f"{self.base}:u:m:{month}"

    def unit_day(self, day: str) -> str:
        """Hash ``<community>:closed`` of closures in one local day."""
        return f"{self.base}:u:d:{day}"

    def unit_open_at(self, community: str, level: str) -> str:
        """Sorted set of the community's open incident ids owned at ``level``
        (an owner level of the chain), by report time (ms): what a street's
        or district's wall lists as escalated to it."""
        return f"{self.base}:u:at:{level}:{community}"

    @property
    def unit_layout(self) -> str:
        """Set once the counts above hold every incident of the site (its
        name changes with what they hold, so a new index is counted afresh)."""
        return f"{self.base}:u:layout:2"


@dataclass(frozen=True)
class UnitKeys:
    """The keys of one unit (community, street, district, city) under one
    prefix: the hash tag ``{u:<unit>}`` keeps a unit's keys on one slot, apart
    from its sites' (a community's id is also its site's id in a city)."""

    prefix: str
    unit: str

    @property
    def base(self) -> str:
        return f"{self.prefix}:{{u:{self.unit}}}"

    @property
    def figures(self) -> str:
        """Hash of the unit's rolled-up figures (data/units/rollup.py)."""
        return f"{self.base}:roll"

    @property
    def parts(self) -> str:
        """Hash community -> its figures as last added into :attr:`figures`."""
        return f"{self.base}:roll:parts"

    def day(self, day: str) -> str:
        """Hash of the unit's figures as they stood at the end of one local
        day (``YYYYMMDD``; today: as they stand now), for its walls'
        comparison with its own past (data/units/past.py)."""
        return f"{self.base}:day:{day}"

    @property
    def channel(self) -> str:
        """Pub/sub channel carrying each new version of the unit's figures."""
        return f"{self.base}:updates"


def eid_member(src: str, eid: str) -> str:
    """How a producer's event id is remembered in :meth:`Keys.eids` (its
    ``src`` and ``eid`` apart by a unit separator, which neither may hold)."""
    return f"{src}\x1f{eid}"


@dataclass(frozen=True)
class AuthKeys:
    """The Redis keys of the account store under one prefix."""

    prefix: str

    @property
    def users(self) -> str:
        return f"{self.prefix}:auth:users"

    @property
    def api_keys(self) -> str:
        return f"{self.prefix}:auth:apikeys"

    @property
    def kiosk(self) -> str:
        return f"{self.prefix}:auth:kiosk"

    def session(self, sid: str) -> str:
        return f"{self.prefix}:auth:session:{sid}"

    def user_sessions(self, name: str) -> str:
        """Set of a user's live session ids, so revoking ends them all."""
        return f"{self.prefix}:auth:sessions:{name}"

    @property
    def audit(self) -> str:
        return f"{self.prefix}:audit"

    def site_audit(self, site: str) -> str:
        """The lines of one site again, for its admins (with the site's hash
        tag, like the site's other keys)."""
        return f"{self.prefix}:{{{site}}}:audit"

    def signin_failures(self, name: str) -> str:
        """Recent failed sign-ins of one name, from anywhere (a backoff)."""
        return f"{self.prefix}:auth:failures:{name}"

    def audit_quiet(self, action: str, where: str, window: int) -> str:
        """Counter of anonymous refusals of ``action`` from ``where`` in one
        time window (see :func:`data.audit.record_anonymous`)."""
        return f"{self.prefix}:audit:quiet:{action}:{where}:{window}"
