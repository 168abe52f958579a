"""Producer and device health: is every counter, gate, sensor and channel
still sending, and is what it sends accepted?

A device is what a producer (``src``) reports for: an entrance's people
counter, a vehicle gate, a parking sensor, the 12345 hotline, and the phones
as one group. :func:`record` is the aggregator's part, inside the batch's
fenced write: per device and batch one HINCRBY of its minute's entries (one
more if some were refused), and per batch one HSET of when each was heard.
:func:`judge` is the readers' part: from the minute counts (the last hour,
and the same hour a week ago for the usual rate) it finds each device's
state now and moves its judged state on with hysteresis:

- ``ok``; ``late``: nothing for longer than three of its usual intervals
  (its rate in the same hour a week ago, else over the last hour), at least
  ``GOV_PRODUCER_LATE_S``; ``silent``: nothing for
  ``GOV_PRODUCER_SILENT_S`` (a device the site file declares and that never
  sent anything is silent); ``erroring``: most of its entries of the last
  five minutes refused (at least three);
- a worse state is taken at once, a better one only once it has held for
  the late time (so a device on the edge does not blink);
- ``flapping`` (as Nagios judges it, with a high and a low threshold): four
  changes of state within twenty late times; it ends when at most one is
  left in the window.

One reader judges at a time (SET NX), at most every :data:`JUDGE_EVERY_MS`;
the others read the summary it wrote. A device silent for
``GOV_DEVICE_INCIDENT_MINUTES`` opens one 设备故障 incident in its grid (a
``report`` on the incident stream, its id derived from the device and the
start of the silence, so a retry changes nothing); when it comes back, a
``comment`` says so on that incident.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Any

import orjson
import redis

from data.feed.check import Tally
from data.incidents.lifecycle import SYSTEM_ACTOR
from data.keys import Keys
from data.redis_conn import RETRY_ERRORS, as_text, by_node, hincrby_many, on_node
from data.site import Site

STATES = ("ok", "late", "erroring", "silent", "flapping")
RANK = {"ok": 0, "late": 1, "erroring": 2, "silent": 3}
KINDS = ("counter", "gate", "parking", "hotline", "phones")
SEP = "\x1f"
MINUTE_KEEP_S = 8 * 86_400 + 3600  # the same hour a week ago, and slack
RATE_MINUTES = 5  # entries a minute now: over the last five
ERROR_MINUTES = 5  # "most of its recent entries refused": over these
ERROR_LEAST = 3
REFUSED_MINUTES = 15
FLAP_WINDOW = 20  # late times
FLAP_HIGH, FLAP_LOW = 4, 1
JUDGE_EVERY_MS = 1000
SUMMARY_KEEP_MS = 24 * 3_600_000
WEEK_MIN = 7 * 24 * 60
SRC_CHARS = 64
INCIDENT_SRC = "producer-health"
NAMESPACE = uuid.UUID("6f1d4c1e-2b7a-4c1e-9a57-6b3c2d1e0f42")


@dataclass(frozen=True)
class Limits:
    late_ms: int = 60_000
    silent_ms: int = 600_000
    incident_ms: int = 15 * 60_000


def limits_of(config: Any) -> Limits:
    """The limits of a :class:`data.config.Config`."""
    return Limits(late_ms=config.producer_late_s * 1000,
                  silent_ms=config.producer_silent_s * 1000,
                  incident_ms=config.device_incident_minutes * 60_000)


def device_key(src: str, device: str, kind: str) -> str:
    return SEP.join((src.replace(SEP, "")[:SRC_CHARS], device, kind))


def _incident_kind(src: str, channel: str | None) -> str:
    return "hotline" if channel == "hotline" or "hotline" in src else "phones"


_COUNTERS: dict[tuple[str, str, str], str] = {}  # (kind, src, entrance) -> device
_COUNTERS_MAX = 65_536


def _counter_key(tally: Tally) -> str:
    """:func:`device_of` a count (a people counter or a gate), kept: a site's
    devices report over and over, tens of thousands of times a second."""
    dev = device_of("crowd" if tally.kind == "crowd" else "traffic", tally)
    if len(_COUNTERS) >= _COUNTERS_MAX:  # producers may send any src
        _COUNTERS.clear()
    _COUNTERS[tally.kind, tally.src, tally.entrance] = dev
    return dev


def device_of(stream: str, ev: Any) -> str:
    """The device an accepted event reports for."""
    if stream == "crowd":
        return device_key(ev.src, ev.entrance, "counter")
    if stream == "traffic":
        lot = getattr(ev, "lot", None)
        if lot is not None:
            return device_key(ev.src, lot, "parking")
        return device_key(ev.src, ev.entrance, "gate")
    kind = _incident_kind(ev.src, getattr(ev, "channel", None))
    return device_key(ev.src, kind, kind)


def device_of_raw(stream: str, raw: dict, site: Site) -> str:
    """The device a refused entry was for, as far as its fields tell (a
    device the site does not know counts for the producer as a whole)."""
    fields = {as_text(k): as_text(v) for k, v in raw.items()}
    src = fields.get("src", "") or "?"
    if stream == "crowd":
        entrance = fields.get("entrance", "")
        return device_key(src, entrance if entrance in site.entrances else "",
                          "counter")
    if stream == "traffic":
        if "lot" in fields:
            lot = fields["lot"]
            return device_key(src, lot if lot in site.parking else "", "parking")
        entrance = fields.get("entrance", "")
        return device_key(src, entrance if entrance in site.entrances else "", "gate")
    kind = _incident_kind(src, fields.get("channel"))
    return device_key(src, kind, kind)


def record(pipe: Any, keys: Keys, site: Site, checked: list, raws: dict,
           dead: list[tuple[str, str, str]], now: int) -> None:
    """Queue on ``pipe`` (the batch's fenced write) what this batch says of each
    device: entries and refusals in this minute, when heard, last ts and
    reason. ``checked`` and ``dead`` as :class:`data.feed.batch.Batch` has
    them; our own maintenance incidents are not a producer's health."""
    refused_why = {(name, entry_id): why for name, entry_id, why in dead}
    counts: Counter[str] = Counter()
    refused: Counter[str] = Counter()
    last_ts: dict[str, int] = {}
    reasons: dict[str, str] = {}
    for key, name, entry_id, ev in checked:
        why = refused_why.get((name, entry_id)) if refused_why else None
        if why is None and not isinstance(ev, Exception):
            if type(ev) is Tally:  # a count: its device's key made once
                dev = _COUNTERS.get((ev.kind, ev.src, ev.entrance))
                if dev is None:
                    if ev.src == INCIDENT_SRC:
                        continue
                    dev = _counter_key(ev)
            elif ev.src == INCIDENT_SRC:
                continue
            else:
                dev = device_of(name, ev)
            counts[dev] += 1
            if ev.ts > last_ts.get(dev, 0):
                last_ts[dev] = ev.ts
        else:
            dev = device_of_raw(name, raws.get((entry_id, key), {}), site)
            refused[dev] += 1
            reasons[f"{dev}:why"] = (why or str(ev))[:300]
    if not counts and not refused:
        return
    minute_key = keys.producer_minute(now // 60_000)
    amounts = {**counts, **{f"{dev}{SEP}x": n for dev, n in refused.items()}}
    hincrby_many(pipe, {minute_key: (amounts, now // 1000 + MINUTE_KEEP_S)})
    heard = {f"{dev}:seen": now for dev in (*counts, *refused)}
    heard.update({f"{dev}:ts": ts for dev, ts in last_ts.items()})
    pipe.hset(keys.producers, mapping={**heard, **reasons})


# --- judging ----------------------------------------------------------------


def declared(site: Site) -> dict[str, tuple[str, str]]:
    """(kind, grid) of every device the site file declares, by device id."""
    out = {e.id: ("counter" if e.kind == "pedestrian" else "gate", e.grid)
           for e in site.entrances.values()}
    out.update({p.id: ("parking", p.grid) for p in site.parking.values()})
    return out


def raw_state(quiet_ms: int | None, late_ms: int, silent_ms: int,
              refused: int, total: int) -> str:
    """The state now, before hysteresis (``quiet_ms`` None: never heard)."""
    if quiet_ms is None or quiet_ms > silent_ms:
        return "silent"
    if refused >= ERROR_LEAST and refused * 2 > total:
        return "erroring"
    if quiet_ms > late_ms:
        return "late"
    return "ok"


def step(prev: dict | None, raw: str, now: int, late_ms: int) -> dict:
    """The judged state after ``prev`` given the state ``raw`` now:
    worse at once, better once it has held ``late_ms``; flapping between
    the thresholds of changes within the window."""
    if prev is None:
        return {"base": raw, "since": now, "better": None, "changes": [],
                "flapping": False, "flap_since": None}
    state = dict(prev)
    changes = list(state["changes"])
    if raw == state["base"]:
        state["better"] = None
    elif RANK[raw] > RANK[state["base"]]:
        state.update(base=raw, since=now, better=None)
        changes.append(now)
    elif state["better"] is None or state["better"][0] != raw:
        # a better state starts its probation (from the probation of a
        # better one still, if that one was on its way)
        started = state["better"][1] if state["better"] else now
        state["better"] = [raw, started]
    elif now - state["better"][1] >= late_ms:
        state.update(base=raw, since=now, better=None)
        changes.append(now)
    changes = [t for t in changes if now - t <= FLAP_WINDOW * late_ms]
    state["changes"] = changes
    if not state["flapping"] and len(changes) >= FLAP_HIGH:
        state.update(flapping=True, flap_since=now)
    elif state["flapping"] and len(changes) <= FLAP_LOW:
        state.update(flapping=False, flap_since=None)
    return state


def shown_state(state: dict) -> tuple[str, int]:
    """(state, since) as the screens show it."""
    if state["flapping"]:
        return "flapping", state["flap_since"]
    return state["base"], state["since"]


def _minutes(now: int) -> tuple[list[int], list[int]]:
    """The minutes judged: the last hour's, and the same hour a week ago."""
    minute = now // 60_000
    recent = list(range(minute - 59, minute + 1))
    hour_start = minute - minute % 60
    week_ago = list(range(hour_start - WEEK_MIN, hour_start - WEEK_MIN + 60))
    return recent, week_ago


class _MinuteReads:
    """The devices' hash and the minute buckets of :func:`_minutes`, read in
    one pipelined round trip (:meth:`queue`, for many sites at once on a
    node's pipeline) and decoded (:meth:`take`).

    A minute's bucket is written by the folds of that minute of the clock
    (:func:`record`, by the folding process's clock), so one two minutes
    past is settled: with ``cache`` (a dict of the caller's, one per site)
    those are read once and kept, and a judge every 30 s reads the devices'
    hash and two or three buckets, not 121 (a fold by a process whose clock
    is a minute behind would go unseen until the minute leaves the hour)."""

    def __init__(self, keys: Keys, now: int, cache: dict[int, dict] | None) -> None:
        self.keys, self.cache = keys, cache
        self.recent, self.week_ago = _minutes(now)
        self.settled = now // 60_000 - 1  # before it, no fold writes any more
        # a copy: another thread of a web process may judge the site meanwhile
        self.buckets = dict(cache) if cache is not None else {}
        self.fresh = [m for m in self.recent + self.week_ago
                      if m not in self.buckets or m >= self.settled]

    def queue(self, pipe: Any) -> None:
        pipe.hgetall(self.keys.producers)
        for m in self.fresh:
            pipe.hgetall(self.keys.producer_minute(m))

    def take(self, replies: list) -> tuple[dict, list, list]:
        """(the devices' fields, the last hour's buckets, the week-ago hour's)."""
        for reply in replies:
            if isinstance(reply, Exception):
                raise reply
        buckets = self.buckets
        for m, raw in zip(self.fresh, replies[1:], strict=True):
            # counts (HINCRBY alone writes them), made numbers once: a settled
            # bucket is summed at every judge of the next hour and of next week
            buckets[m] = {as_text(k): int(v) for k, v in raw.items()}
        if self.cache is not None:
            self.cache.clear()
            self.cache.update((m, buckets[m]) for m in self.recent + self.week_ago
                              if m < self.settled)
        fields = {as_text(k): as_text(v) for k, v in replies[0].items()}
        return (fields, [buckets[m] for m in self.recent],
                [buckets[m] for m in self.week_ago])


def _read_minutes(r: redis.Redis, keys: Keys, now: int,
                  cache: dict[int, dict] | None) -> tuple[dict, list, list]:
    """What :class:`_MinuteReads` reads, read on ``r``."""
    reads = _MinuteReads(keys, now, cache)
    pipe = r.pipeline(transaction=False)
    reads.queue(pipe)
    return reads.take(pipe.execute(raise_on_error=False))


def _sum(buckets: list[dict], field: str) -> int:
    return sum(b.get(field, 0) for b in buckets)


def judge(r: redis.Redis, keys: Keys, site: Site, now: int,
          limits: Limits, *, store: bool = True,
          cache: dict[int, dict] | None = None) -> list[dict]:
    """Every device of the site judged now, its judged state stored (unless
    ``store`` is false: another caller judges at this moment, and a change
    must not be counted twice). ``cache``: see :class:`_MinuteReads`."""
    # up to 121 reads of one slot: on its node (data/redis_conn.py: node_for)
    read = on_node(r, keys.producers,
                   lambda node: _read_minutes(node, keys, now, cache))
    rows, stored = _judged(site, now, limits, *read)
    if stored and store:
        on_node(r, keys.producers, lambda node: node.hset(keys.producers,
                                                          mapping=stored))
    return rows


def _judged(site: Site, now: int, limits: Limits, fields: dict,
            last_hour: list[dict], week: list[dict]
            ) -> tuple[list[dict], dict[str, str]]:
    """The rows of every device judged from what :class:`_MinuteReads`
    read, and the judged states to store (fields of the devices' hash)."""
    devices = {f.rpartition(":")[0] for f in fields if f.endswith(":seen")}
    known = declared(site)
    heard_for = {d.split(SEP)[1] for d in devices}
    for device, (kind, _) in known.items():
        if device not in heard_for:
            devices.add(device_key("", device, kind))
    rows, stored = [], {}
    for dev in sorted(devices):
        src, device, kind = dev.split(SEP)
        seen = fields.get(f"{dev}:seen")
        quiet = now - int(seen) if seen else None
        usual_total = _sum(week, dev) or _sum(last_hour[:-1], dev)
        usual = usual_total / 60
        # three usual intervals, at least the late time, at most the silent one
        late = min(max(limits.late_ms, int(3 * 60_000 / usual) if usual else 0),
                   limits.silent_ms)
        silent = limits.silent_ms
        refused_recent = _sum(last_hour[-ERROR_MINUTES:], f"{dev}{SEP}x")
        total_recent = refused_recent + _sum(last_hour[-ERROR_MINUTES:], dev)
        raw = raw_state(quiet, late, silent, refused_recent, total_recent)
        prev_text = fields.get(f"{dev}:state")
        prev = orjson.loads(prev_text) if prev_text else None
        state = step(prev, raw, now, limits.late_ms)
        stored[f"{dev}:state"] = orjson.dumps(state).decode()
        shown, since = shown_state(state)
        ts = fields.get(f"{dev}:ts")
        rows.append({
            "src": src, "device": device, "kind": kind, "state": shown,
            "since": since, "last_ts": int(ts) if ts else None,
            "seen_ms": int(seen) if seen else None,
            "rate_per_min": round(_sum(last_hour[-RATE_MINUTES:], dev)
                                  / RATE_MINUTES, 2),
            "usual_per_min": round(usual, 2),
            "refused_15m": _sum(last_hour[-REFUSED_MINUTES:], f"{dev}{SEP}x"),
            "last_reason": fields.get(f"{dev}:why"),
            "grid": known.get(device, ("", None))[1],
            "silent_since": state["since"] if state["base"] == "silent" else None,
            "incident": fields.get(f"{dev}:inc"),
        })
    return rows, stored


def summary(rows: list[dict], now: int) -> dict:
    """What the walls show: counts per state, the silent and erroring
    devices by name, and the silent counters of each grid."""
    counts = dict.fromkeys(STATES, 0)
    for row in rows:
        counts[row["state"]] += 1
    silent_counters: dict[str, list[str]] = {}
    for row in rows:
        if row["kind"] == "counter" and row["state"] == "silent" and row["grid"]:
            silent_counters.setdefault(row["grid"], []).append(row["device"])
    return {
        "at": now, "counts": counts,
        "named": [{"device": r["device"], "src": r["src"], "kind": r["kind"],
                   "state": r["state"]} for r in rows
                  if r["state"] in ("silent", "erroring")],
        "silent_counters": {g: sorted(set(d)) for g, d in silent_counters.items()},
    }


def read_health(r: redis.Redis, keys: Keys, site: Site, now: int,
                limits: Limits, *, rows: bool = False,
                cache: dict[int, dict] | None = None) -> dict | list[dict]:
    """The summary (or, with ``rows``, every device): judged now by this
    caller if no one did within :data:`JUDGE_EVERY_MS`, else as last judged.
    ``cache``: a dict the caller keeps for the site (:func:`_read_minutes`).

    Every command on the site's node: a city's aggregator judges a thousand
    sites every 30 s, and the cluster client's routing of each command cost
    more than the judging."""
    summary_key = keys.producer_summary
    if not rows:
        raw = on_node(r, summary_key, lambda node: node.get(summary_key))
        found = json.loads(raw) if raw else None
        if found is not None and now - found["at"] < JUDGE_EVERY_MS:
            return found
    if not on_node(r, summary_key, lambda node: node.set(
            f"{summary_key}:lock", "1", nx=True, px=JUDGE_EVERY_MS)):
        if rows:
            return judge(r, keys, site, now, limits, store=False, cache=cache)
        raw = on_node(r, summary_key, lambda node: node.get(summary_key))
        if raw:
            return json.loads(raw)
    judged = judge(r, keys, site, now, limits, cache=cache)
    open_or_comment(r, keys, site, judged, now, limits)
    found = summary(judged, now)
    text = json.dumps(found, ensure_ascii=False)
    on_node(r, summary_key, lambda node: node.set(summary_key, text,
                                                  px=SUMMARY_KEEP_MS))
    return judged if rows else found



def judge_many(r: redis.Redis, jobs: list[tuple[Keys, Site, dict[int, dict]]],
               now: int, limits: Limits) -> list[Exception | None]:
    """What :func:`read_health` does for the walls' summary, for many sites
    at once (the aggregator's upkeep of a round, ``jobs`` of (keys, site,
    cache)): one round trip a node takes each site's judging lock and reads
    its devices, one more stores the states judged and the summary. A site
    another caller judged within :data:`JUDGE_EVERY_MS` (its lock is taken)
    is left as that one judged it. A thousand sites judged one at a time
    were five round trips each, a tenth of a city aggregator's time.

    Each site's error, or None, in the order of ``jobs`` (one that cannot be
    judged does not stop the others); Redis away raises."""
    reads = [_MinuteReads(keys, now, cache) for keys, _, cache in jobs]

    def locked_reads(pipe: Any, keys: Keys, minute_reads: _MinuteReads) -> None:
        pipe.set(f"{keys.producer_summary}:lock", "1", nx=True,
                 px=JUDGE_EVERY_MS)
        minute_reads.queue(pipe)

    replies = by_node(r, [
        (keys.producers, lambda pipe, k=keys, m=m: locked_reads(pipe, k, m))
        for (keys, _, _), m in zip(jobs, reads, strict=True)], several=True,
        bundle=True)
    failed: list[Exception | None] = [None] * len(jobs)
    writes = []
    for n, ((keys, site, _), minute_reads, reply) in enumerate(
            zip(jobs, reads, replies, strict=True)):
        try:
            if isinstance(reply[0], Exception):
                raise reply[0]
            if not reply[0]:
                continue  # another judges it now
            rows, stored = _judged(site, now, limits, *minute_reads.take(reply[1:]))
            open_or_comment(r, keys, site, rows, now, limits)
            text = orjson.dumps(summary(rows, now)).decode()
        except RETRY_ERRORS:
            raise
        except Exception as exc:  # this site's data alone
            failed[n] = exc
            continue
        writes.append((n, keys, stored, text))

    def store(pipe: Any, keys: Keys, stored: dict, text: str) -> None:
        if stored:
            pipe.hset(keys.producers, mapping=stored)
        pipe.set(keys.producer_summary, text, px=SUMMARY_KEEP_MS)

    replies = by_node(r, [
        (keys.producers, lambda pipe, k=keys, st=stored, t=text: store(pipe, k, st, t))
        for _, keys, stored, text in writes], several=True)
    for (n, *_), reply in zip(writes, replies, strict=True):
        failed[n] = next((x for x in reply if isinstance(x, Exception)), None)
    return failed


# --- maintenance incidents ---------------------------------------------------

KIND_NAMES = {"counter": "人流计数器", "gate": "车辆道闸", "parking": "车位传感器"}


def open_or_comment(r: redis.Redis, keys: Keys, site: Site, rows: list[dict],
                    now: int, limits: Limits) -> None:
    """A device of a grid silent for ``limits.incident_ms`` (heard from at
    least once: a fresh install is not a hundred faults) opens one 设备故障
    incident; its return comments on it. Both as entries on the incident
    stream, applied like any other."""
    stream = keys.stream("incident")
    for row in rows:
        dev = device_key(row["src"], row["device"], row["kind"])
        if row["kind"] not in KIND_NAMES or not row["grid"]:
            continue
        if row["incident"] is None and row["silent_since"] is not None and (
                row["seen_ms"] is not None
                and now - row["silent_since"] >= limits.incident_ms):
            incident = str(uuid.uuid5(NAMESPACE, f"{site.id}|{dev}|"
                                                 f"{row['silent_since']}"))
            r.xadd(stream, {
                "v": "1", "src": INCIDENT_SRC, "op": "report", "id": incident,
                "ts": str(now), "category": "device_fault", "level": "2",
                "grid": row["grid"], "channel": "property",
                "title": f"设备故障：{_device_name(site, row)}"
                         f"{KIND_NAMES[row['kind']]}无数据",
                "detail": f"{row['src'] or '—'} / {row['device']}: "
                          f"silent since {row['silent_since']} (epoch ms)",
                "eid": f"fault-{incident}"})
            r.hset(keys.producers, f"{dev}:inc", incident)
            row["incident"] = incident
        elif row["incident"] is not None and row["state"] not in ("silent",):
            r.xadd(stream, {
                "v": "1", "src": INCIDENT_SRC, "op": "comment",
                "id": row["incident"], "ts": str(now), "actor": SYSTEM_ACTOR,
                "note": "设备已恢复数据上报 (the device is sending again)",
                "eid": f"back-{row['incident']}"})
            r.hdel(keys.producers, f"{dev}:inc")
            row["incident"] = None


def _device_name(site: Site, row: dict) -> str:
    found = site.entrances.get(row["device"]) or site.parking.get(row["device"])
    return found.name if found else row["device"]
