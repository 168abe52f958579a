"""Urgent events take the walls' spotlight: a new urgent (level 1) incident,
or a grid going red, holds every wall of the site for a while, uncast.

The state lives in Redis, so every web process and every wall agrees:

- ``alerting`` (SET): what alerts now; only an event not in it yet
  interrupts, so a grid that stays red does not interrupt again, and one that
  goes back to green and then red again does;
- ``queue`` (ZSET): the events waiting, the most severe first (an urgent
  incident before a red grid), then the oldest;
- ``interrupt``: the one holding the spotlight, ``member|until_ms``.

One Lua script moves it on (atomic, one round trip, every key in the site's
hash slot); each change bumps the cast number and is announced as
``cast:<n>`` (:mod:`data.cast`), which wakes every wall's stream of the site,
as a supervisor's cast does. A supervisor's cast still comes first on the
walls (``web/wall_spot.py``), and :func:`dismiss` ends an interruption.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis

from data.keys import Keys
from data.pubsub import announce

URGENT_INCIDENT, RED_GRID = 0, 1  # severity: the lower, the sooner
SEVERITY_SPAN = 10**13  # epoch ms stay below it for a few centuries
RED = 3  # the density level of a grid that interrupts
KINDS = ("incident", "grid")  # what may interrupt

# KEYS: alerting, queue, interrupt, cast seq.
# ARGV: now ms, hold ms, dismiss (1/0), then member, score pairs alerting now
# (or nothing at all, "-", to leave what alerts as it is).
# Returns {cast seq or 0 if nothing changed, the interrupt or "", queued}.
_ADVANCE = """
local now, hold = tonumber(ARGV[1]), tonumber(ARGV[2])
local changed = false
if ARGV[4] ~= '-' then
  local given = {}
  for i = 4, #ARGV, 2 do given[ARGV[i]] = ARGV[i + 1] end
  for member, score in pairs(given) do
    if redis.call('SISMEMBER', KEYS[1], member) == 0 then
      if redis.call('ZADD', KEYS[2], 'NX', score, member) == 1 then
        changed = true
      end
    end
  end
  redis.call('DEL', KEYS[1])
  for member, _ in pairs(given) do redis.call('SADD', KEYS[1], member) end
  for _, member in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
    if not given[member] then
      redis.call('ZREM', KEYS[2], member)
      changed = true
    end
  end
end
local current = redis.call('GET', KEYS[3])
if current then
  local untl = tonumber(string.match(current, '|(%d+)$'))
  if ARGV[3] == '1' or untl == nil or untl <= now then
    redis.call('DEL', KEYS[3])
    current = false
    changed = true
  end
end
if not current then
  local first = redis.call('ZRANGE', KEYS[2], 0, 0)
  if #first > 0 then
    redis.call('ZREM', KEYS[2], first[1])
    current = first[1] .. '|' .. tostring(now + hold)
    redis.call('SET', KEYS[3], current, 'PX', hold + 60000)
    changed = true
  end
end
local queued = redis.call('ZCARD', KEYS[2])
local seq = 0
if changed then seq = redis.call('INCR', KEYS[4]) end
return {seq, current or '', queued}
"""


@dataclass(frozen=True)
class Interrupt:
    """An urgent event holding the spotlight until ``until_ms``."""

    kind: str  # "incident" or "grid"
    id: str
    until_ms: int
    queued: int  # events waiting after it


def member(kind: str, target: str) -> str:
    return f"{kind}:{target}"


def alerting(snap: dict) -> list[tuple[str, int]]:
    """(member, severity) of what would interrupt in a snapshot: its urgent
    incidents still waiting for hands, and its red grids."""
    out = [(member("incident", a["id"]), URGENT_INCIDENT)
           for a in snap.get("alerts", []) if a.get("kind") == "urgent"]
    out += [(member("grid", a["grid"]), RED_GRID)
            for a in snap.get("alerts", [])
            if a.get("kind") == "density" and a.get("level", 0) >= RED]
    return out


def _run(r: redis.Redis, keys: Keys, now_ms: int, hold_ms: int, *,
         found: list[tuple[str, int]] | None = None,
         dismissing: bool = False) -> tuple[Interrupt | None, int]:
    args: list[str | int] = [now_ms, hold_ms, "1" if dismissing else "0"]
    if found is None:
        args.append("-")
    for name, severity in found or ():
        args += [name, severity * SEVERITY_SPAN + now_ms]
    seq, current, queued = r.eval(
        _ADVANCE, 4, keys.interrupt_alerting, keys.interrupt_queue,
        keys.interrupt, keys.cast_seq, *args)
    if int(seq):
        announce(r, keys.channel, f"cast:{int(seq)}")
    return _parse(current, int(queued)), int(seq)


def _parse(raw: bytes | str, queued: int) -> Interrupt | None:
    text = raw.decode() if isinstance(raw, bytes) else raw
    if not text:
        return None
    name, _, until = text.rpartition("|")
    kind, _, target = name.partition(":")
    return Interrupt(kind, target, int(until), queued)


def observe(r: redis.Redis, keys: Keys, found: list[tuple[str, int]], now_ms: int,
            hold_ms: int) -> Interrupt | None:
    """Queue what newly alerts (``found``, :func:`alerting` of a snapshot),
    drop what stopped alerting before its turn, and give the spotlight to
    the next if it is free."""
    return _run(r, keys, now_ms, hold_ms, found=found)[0]


def observe_cast(r: redis.Redis, keys: Keys, found: list[tuple[str, int]],
                 now_ms: int, hold_ms: int) -> int:
    """:func:`observe`, answering the new cast number if the spotlight
    changed (0 if not): the web process that made the change sends the new
    spotlight with the version that caused it, without waiting to hear its
    own ``cast:<n>`` back from Redis."""
    return _run(r, keys, now_ms, hold_ms, found=found)[1]


def current(r: redis.Redis, keys: Keys, now_ms: int,
            hold_ms: int) -> Interrupt | None:
    """The interruption now (the next one starts if the last has run out)."""
    return _run(r, keys, now_ms, hold_ms)[0]


def dismiss(r: redis.Redis, keys: Keys, now_ms: int,
            hold_ms: int) -> Interrupt | None:
    """A supervisor ends the interruption: the next one, or the rotation."""
    return _run(r, keys, now_ms, hold_ms, dismissing=True)[0]
