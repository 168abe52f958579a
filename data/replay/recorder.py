"""The recorder: follows each site's channel and writes what the walls were
shown (:mod:`data.replay.records`), off the live push's path.

It runs where the archiver runs (``python app.py`` and ``python app.py
archiver``), not in the aggregator: the fold and its snapshot stay as they
are (no disk and no JSON parse on their path), and the recorder's cost is
one GET of the snapshot per version it hears, on its own connection and
thread, the same read a push hub makes. Like the archiver it holds a lease
per site, so that one of several archiver processes records a site.

A version announced while the previous one is still being read may be
overtaken by the next one (the snapshot key holds the newest); the wall
would have skipped it too. Each record names its version, so such a skip
is visible (``skipped`` counts them).

Events for the time bar are found here, comparing each version with the one
before: incidents that appear and leave the open list, alerts raised and
cleared, casts and clears (heard as ``cast:<n>``), and stale periods (no
version for longer than two heartbeats, or every feed silent).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import redis

from data.cast import read_cast
from data.keys import Keys
from data.redis_conn import (
    LEASE_SCRIPT,
    RELEASE_SCRIPT,
    RETRY_ERRORS,
    Backoff,
    as_text,
)
from data.replay import read
from data.replay.records import (
    CHANGE,
    EVENT,
    FULL,
    KEYFRAME_MS,
    diff,
    encode,
    events_file,
    hour_file,
    index_file,
    prune,
)
from data.site import Site

log = logging.getLogger(__name__)

HEARTBEAT_MS = 5_000  # data.feed.snapshot.HEARTBEAT_MS (not imported: no
# dependency of the recorder on the snapshot's builder, being rewritten)
STALE_GAP_MS = 2 * HEARTBEAT_MS
FEED_SILENT_MS = 30_000
SYNC_S = 1.0
PRUNE_S = 3600.0
LEASE_MS = 15_000
POLL_S = 0.5


def found_events(old: dict | None, new: dict) -> list[dict]:
    """What happened between two versions of a site's snapshot."""
    ms = new["generated_ms"]
    out: list[dict] = []
    if old is None:
        return out
    if ms - old["generated_ms"] > STALE_GAP_MS:
        out.append({"kind": "stale", "start_ms": old["generated_ms"], "end_ms": ms,
                    "why": "no_version"})
    before = {i["id"]: i for i in old.get("open_incidents", [])}
    after = {i["id"]: i for i in new.get("open_incidents", [])}
    for iid in after.keys() - before.keys():
        inc = after[iid]
        out.append({"kind": "incident_reported", "id": iid, "grid": inc["grid"],
                    "level": inc["level"], "title": inc["title"]})
    for iid in before.keys() - after.keys():
        inc = before[iid]
        out.append({"kind": "incident_closed", "id": iid, "grid": inc["grid"],
                    "level": inc["level"], "title": inc["title"]})
    raised = {_alert_key(a): a for a in new.get("alerts", [])}
    was = {_alert_key(a): a for a in old.get("alerts", [])}
    out += [_alert("alert_raised", raised[k]) for k in raised.keys() - was.keys()]
    out += [_alert("alert_cleared", was[k]) for k in was.keys() - raised.keys()]
    silent_before, silent_now = _all_silent(old), _all_silent(new)
    if silent_now and not silent_before:
        out.append({"kind": "feeds_silent"})
    elif silent_before and not silent_now:
        out.append({"kind": "feeds_back"})
    return out


def _alert(kind: str, alert: dict) -> dict:
    """An alert event: the alert's fields, its own kind as ``alert``."""
    return {**{k: v for k, v in alert.items() if k != "kind"}, "kind": kind,
            "alert": alert.get("kind")}


def _alert_key(alert: dict) -> str:
    return f"{alert.get('kind')}:{alert.get('grid')}:{alert.get('id', '')}"


def _all_silent(snap: dict) -> bool:
    lags = [f.get("lag_ms") for f in snap.get("feeds", {}).values()]
    return bool(lags) and all(lag is None or lag > FEED_SILENT_MS for lag in lags)


@dataclass
class SiteTrack:
    """What the recorder last wrote for one site."""

    last: dict | None = None  # the last snapshot recorded
    keyframe_ms: int = -KEYFRAME_MS  # generated_ms of the last F
    path: Path | None = None
    handle: BinaryIO | None = None
    index: BinaryIO | None = None  # the hour's index of whole records
    dirty: bool = False
    skipped: int = 0


@dataclass
class Recorder:
    """Records ``sites`` under ``root`` until :meth:`stop`; keeps ``keep_days``."""

    client: redis.Redis
    sites: dict[str, Site]
    prefix: str
    root: Path
    keep_days: int = 30
    keyframe_ms: int = KEYFRAME_MS
    name: str = field(default_factory=lambda: f"rec-{uuid.uuid4().hex[:12]}")
    tracks: dict[str, SiteTrack] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _held: dict[str, float] = field(default_factory=dict)

    def stop(self) -> None:
        self._stop.set()

    # --- the loop -------------------------------------------------------------

    def run(self) -> None:
        """Record until stopped; survive Redis going away and coming back."""
        from web.channels import Subscription  # the one place that subscribes

        backoff = Backoff()
        keys = {s: Keys(self.prefix, s) for s in self.sites}
        channels = {k.channel: s for s, k in keys.items()}
        last_sync = last_prune = 0.0
        try:
            while not self._stop.is_set():
                subscription = Subscription(self.client)
                try:
                    subscription.add(channels)
                    for site_id in self.sites:  # what was published meanwhile
                        self.record(site_id)
                    backoff.reset()
                    while not self._stop.is_set():
                        message = subscription.next(POLL_S)
                        if message is not None:
                            self.heard(channels[message[0]], as_text(message[1]))
                        now = time.monotonic()
                        if now - last_sync >= SYNC_S:
                            self.sync()
                            last_sync = now
                        if now - last_prune >= PRUNE_S:
                            self.prune()
                            last_prune = now
                except RETRY_ERRORS + (redis.BusyLoadingError,) as exc:
                    pause = backoff.failed()
                    log.warning("recorder: redis unavailable (%s); retry in %.1f s",
                                exc, pause)
                    self._stop.wait(pause)
                except Exception:  # a full disk must not stop the rest for good
                    log.exception("recorder: unexpected error")
                    self._stop.wait(min(30.0, backoff.failed() * 10))
                finally:
                    subscription.close()
        finally:
            self.close()

    def heard(self, site_id: str, message: str) -> None:
        """One message of the site's channel."""
        if message.startswith("cast:"):
            self.record_cast(site_id)
        elif message.isdigit() or message.startswith("inc:"):
            self.record(site_id)

    def _holds(self, site_id: str) -> bool:
        """The site's recording lease, renewed every third of its length."""
        now = time.monotonic()
        if now - self._held.get(site_id, -1e9) < LEASE_MS / 3000:
            return True
        lease = self.client.register_script(LEASE_SCRIPT)
        if lease(keys=[lease_key(self.prefix, site_id)], args=[self.name, LEASE_MS]):
            self._held[site_id] = now
            return True
        self._held.pop(site_id, None)
        return False

    # --- writing --------------------------------------------------------------

    def track(self, site_id: str) -> SiteTrack:
        """The site's track; after a start, the last recorded snapshot is
        read back so that events across the restart are found."""
        found = self.tracks.get(site_id)
        if found is None:
            found = self.tracks[site_id] = SiteTrack()
            last = read.last_record(self.root, site_id)
            if last is not None:
                found.last = read.snapshot_at(self.root, site_id, last.ms)
        return found

    def record(self, site_id: str) -> int | None:
        """Record the site's snapshot now, if it is new; its version."""
        if not self._holds(site_id):
            return None
        raw = self.client.get(Keys(self.prefix, site_id).snapshot)
        if not raw:
            return None
        return self.write(site_id, json.loads(raw))

    def write(self, site_id: str, snap: dict) -> int | None:
        """Append ``snap`` to the site's records (whole or as a change) with
        the events since the last one; None if it is not newer."""
        track = self.track(site_id)
        last = track.last
        version, ms = int(snap["version"]), int(snap["generated_ms"])
        if last is not None and version <= last["version"]:
            return None
        if last is not None and version > last["version"] + 1:
            track.skipped += version - last["version"] - 1
        path = hour_file(self.root, site_id, ms)
        whole = (last is None or path != track.path
                 or ms - track.keyframe_ms >= self.keyframe_ms)
        if whole:
            line = encode(version, ms, FULL, snap)
            track.keyframe_ms = ms
        else:
            line = encode(version, ms, f"{CHANGE}{last['version']}", diff(last, snap))
        offset = self._append(track, path, line)
        if whole:
            track.index.write(encode(version, ms, FULL, offset))
            track.index.flush()
        events = found_events(last, snap)
        if events:
            self._events(site_id, version, ms, events)
        track.last = snap
        return version

    def record_cast(self, site_id: str) -> None:
        if not self._holds(site_id):
            return
        cast = read_cast(self.client, Keys(self.prefix, site_id))
        track = self.track(site_id)
        version = track.last["version"] if track.last else 0
        ms = time.time_ns() // 1_000_000
        event = ({"kind": "cast", "target_kind": cast.get("kind"),
                  "target": cast.get("id"), "by": cast.get("by")}
                 if cast else {"kind": "cast_cleared"})
        self._events(site_id, version, ms, [event])

    def _events(self, site_id: str, version: int, ms: int, events: list[dict]) -> None:
        path = events_file(self.root, site_id, ms)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "ab") as handle:
            _fresh_line(handle)
            handle.write(b"".join(encode(version, ms, EVENT, e) for e in events))

    def _append(self, track: SiteTrack, path: Path, line: bytes) -> int:
        """Append ``line`` to the hour file ``path``; where it starts."""
        if path != track.path:
            self._close(track)
            path.parent.mkdir(parents=True, exist_ok=True)
            track.handle = open(path, "ab")  # noqa: SIM115 (kept open)
            track.index = open(index_file(path), "ab")  # noqa: SIM115
            track.path = path
            _fresh_line(track.handle)
            _fresh_line(track.index)
        offset = track.handle.tell()
        track.handle.write(line)
        track.handle.flush()  # whole lines reach the file at once
        track.dirty = True
        return offset

    def sync(self) -> None:
        """fsync what was written since the last call."""
        for track in self.tracks.values():
            if track.dirty and track.handle is not None:
                os.fsync(track.handle.fileno())
                os.fsync(track.index.fileno())
                track.dirty = False

    def prune(self, now_ms: int | None = None) -> dict[str, list[str]]:
        now = now_ms if now_ms is not None else time.time_ns() // 1_000_000
        return {s: prune(self.root, s, self.keep_days, now) for s in self.sites}

    def _close(self, track: SiteTrack) -> None:
        for handle in (track.handle, track.index):
            if handle is not None:
                handle.flush()
                os.fsync(handle.fileno())
                handle.close()
        track.handle, track.index, track.path, track.dirty = None, None, None, False

    def close(self) -> None:
        """Files closed and fsynced; the leases given back (a recorder that
        starts next takes the sites at once)."""
        for track in self.tracks.values():
            self._close(track)
        if not self._held:
            return
        release = self.client.register_script(RELEASE_SCRIPT)
        for site_id in list(self._held):
            try:
                release(keys=[lease_key(self.prefix, site_id)], args=[self.name])
            except redis.RedisError:
                pass  # it expires
            del self._held[site_id]


def lease_key(prefix: str, site_id: str) -> str:
    """Which recorder records this site now (SET NX PX)."""
    return f"{Keys(prefix, site_id).base}:recorder"


def _fresh_line(handle: Any) -> None:
    """Start on a new line if the file ends in a torn one (a crash mid-write)."""
    handle.seek(0, os.SEEK_END)
    if handle.tell() == 0:
        return
    with open(handle.name, "rb") as check:
        check.seek(-1, os.SEEK_END)
        if check.read(1) != b"\n":
            handle.write(b"\n")
