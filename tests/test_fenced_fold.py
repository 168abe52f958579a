"""A batch's writes fenced by the site's lease and its count of commits
(data/feed/batch.py, ``FENCED_APPLY`` in data/redis_conn.py), on one Redis
and on a cluster: a batch whose reads went stale, or whose lease went,
writes nothing; the next try counts every entry once."""

from __future__ import annotations

import pytest
import redis

from data.clock import now_ms
from data.feed.aggregator import ensure_groups
from data.feed.batch import Batch, LostLease
from data.feed.check import check
from data.keys import FEED_STREAMS, GROUP, Keys
from data.redis_conn import (
    FENCED_APPLY,
    FENCED_APPLY_PACKED,
    Recorder,
    _packed,
    _words,
    node_for,
)
from tests.common import PREFIX
from tests.feed import crowd

pytestmark = pytest.mark.cluster  # on one Redis and on a cluster

KEYS = Keys(PREFIX, "tiny")


def read_batch(raw, site, holder: str) -> Batch:
    """What the aggregator would make of the entries waiting now."""
    reply = raw.xreadgroup(GROUP, holder, {KEYS.stream(n): ">" for n in FEED_STREAMS},
                           count=100)
    now = now_ms()
    checked = [(key.decode(), key.decode().rsplit(":", 1)[1], entry_id.decode(),
                check(key.decode().rsplit(":", 1)[1], fields, site, now))
               for key, entries in reply for entry_id, fields in entries]
    return Batch(raw, PREFIX, holder, 3600, site, KEYS, checked, {}, now)


def send(raw, *commands: tuple) -> list:
    pipe = node_for(raw, KEYS.lease).pipeline(transaction=False)
    for command in commands:
        pipe.execute_command(*command)
    return pipe.execute(raise_on_error=False)


def people(r) -> int:
    return int(r.hget(KEYS.present, "site") or 0)


@pytest.fixture
def site(r, raw, tiny):
    ensure_groups(raw, KEYS)
    r.set(KEYS.lease, "agg-a")
    return tiny


def test_a_batch_whose_reads_went_stale_writes_nothing_and_folds_again(r, raw, site):
    crowd(r, "E1", 3, 0)
    first = read_batch(raw, site, "agg-a")
    first.fold(send(raw, *first.reads()))
    # another batch of the site commits between the first one's reads and
    # its commit (a process that held the lease for a moment, say)
    crowd(r, "E1", 5, 0)
    second = read_batch(raw, site, "agg-a")
    second.apply(node_for(raw, KEYS.lease).pipeline(transaction=False))
    assert people(r) == 5
    with pytest.raises(redis.WatchError):
        first.committed(send(raw, first.command)[0])
    assert people(r) == 5  # nothing of the stale fold, not even its ack
    assert r.xpending(KEYS.stream("crowd"), GROUP)["pending"] == 1
    first.fold(send(raw, *first.reads()))  # read and folded again
    first.committed(send(raw, first.command)[0])
    assert people(r) == 8
    assert r.xpending(KEYS.stream("crowd"), GROUP)["pending"] == 0


def test_a_lease_lost_and_won_back_in_between_is_a_stale_read(r, raw, site):
    """The holder's name alone would not fence: the lease went to another
    process, which committed, and came back."""
    crowd(r, "E1", 3, 0)
    first = read_batch(raw, site, "agg-a")
    first.fold(send(raw, *first.reads()))
    r.set(KEYS.lease, "agg-b")
    crowd(r, "E1", 4, 0)
    other = read_batch(raw, site, "agg-b")
    other.apply(node_for(raw, KEYS.lease).pipeline(transaction=False))
    r.set(KEYS.lease, "agg-a")
    with pytest.raises(redis.WatchError):
        first.committed(send(raw, first.command)[0])
    assert people(r) == 4


def test_a_lost_lease_writes_nothing(r, raw, site):
    crowd(r, "E1", 3, 0)
    batch = read_batch(raw, site, "agg-a")
    batch.fold(send(raw, *batch.reads()))
    r.set(KEYS.lease, "agg-b")
    with pytest.raises(LostLease):
        batch.committed(send(raw, batch.command)[0])
    assert people(r) == 0 and r.get(KEYS.folds) is None
    r.delete(KEYS.lease)  # and read after the lease went: refused at once
    with pytest.raises(LostLease):
        batch.fold(send(raw, *batch.reads()))


def test_a_failing_command_stops_neither_the_others_nor_the_answer(r, raw, site):
    """As in a MULTI/EXEC: every command runs, the first error is raised."""
    r.set(KEYS.base + ":x", "a string")
    writes = Recorder()
    writes.set(KEYS.base + ":a", "1")
    writes.hset(KEYS.base + ":x", "f", "v")  # WRONGTYPE
    writes.execute_command("HINCRBYS", KEYS.base + ":h", "", "f", 2, "g", 3)
    command = writes.fenced(KEYS.lease, KEYS.folds, "agg-a", "")
    with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
        Batch.committed(None, send(raw, command)[0])
    assert r.get(KEYS.base + ":a") == "1"
    assert r.hgetall(KEYS.base + ":h") == {"f": "2", "g": "3"}
    assert r.get(KEYS.folds) == "1"


def test_a_command_of_many_words_is_written_whole(r, raw, site):
    """Lua unpacks 7,000 words at most: a batch's long command (a field for
    every device heard, as many as producers send) goes as several."""
    writes = Recorder()
    writes.hset(KEYS.base + ":many", mapping={f"f{n}": n for n in range(9_000)})
    writes.sadd(KEYS.base + ":set", *range(9_000))
    command = writes.fenced(KEYS.lease, KEYS.folds, "agg-a", "")
    Batch.committed(None, send(raw, command)[0])
    assert r.hlen(KEYS.base + ":many") == 9_000
    assert r.scard(KEYS.base + ":set") == 9_000


def test_a_malformed_call_writes_nothing(r, raw, site):
    """Every command's length is checked before the first write: a script
    stopped half-way would keep what it wrote."""
    command = ("EVAL", FENCED_APPLY, 2, KEYS.lease, KEYS.folds, "agg-a", "",
               3, "SET", KEYS.base + ":a", "1",
               8_000, "SET", KEYS.base + ":b", "2")
    with pytest.raises(redis.ResponseError, match="FENCED_APPLY"):
        Batch.committed(None, send(raw, command)[0])
    assert r.get(KEYS.base + ":a") is None and r.get(KEYS.folds) is None


def test_a_batch_from_thousands_of_devices_folds(r, raw, site):
    """2,000 counts from 2,000 sources in one batch: each source's device is
    noted (4,000 fields of one HSET), every count folded once."""
    from data.feed.aggregator import Aggregator
    from tests.feed import drain

    pipe = r.pipeline(transaction=False)
    for n in range(2_000):
        pipe.xadd(KEYS.stream("crowd"), {"v": "1", "src": f"cam-{n}", "entrance": "E1",
                                         "ts": str(now_ms()), "in": "1", "out": "0"})
    pipe.execute()
    r.delete(KEYS.lease)
    agg = Aggregator(raw, {"tiny": site}, PREFIX, consumer="agg-many")
    agg.setup()
    drain(agg)
    assert people(r) == 2_000
    assert int(r.hget(KEYS.stats, "folded:crowd")) == 2_000
    seen = [f for f in r.hkeys(KEYS.producers) if f.endswith(":seen")]
    assert len(seen) == 2_000


def test_the_writes_do_the_same_packed_in_one_word_as_word_by_word(r, raw, site):
    """The writes go as one JSON word when they are all text and whole
    numbers (redis-py packs word by word in Python): the script writes
    exactly what the words would, numbers as redis-py writes them, text of
    any kind as it is; anything else goes word by word."""
    texts = ["二", "", "a\x00b", "line\nbreak", "\u2028", "😀", "1e5", " ", '"q"']
    numbers = [0, -1, 7, 1_800_000_000, 1_796_609_640_001, 2**53 - 1]
    expire = 1_800_000_000  # 2027: a round number

    def writes(space: str) -> Recorder:
        rec = Recorder()
        rec.hset(f"{space}:h", mapping={f"t{n}": t for n, t in enumerate(texts)}
                 | {f"n{n}": x for n, x in enumerate(numbers)})
        rec.execute_command("HINCRBYS", f"{space}:c", expire,
                            *(w for n, x in enumerate(numbers) for w in (f"n{n}", x)))
        rec.sadd(f"{space}:s", *texts)
        rec.expireat(f"{space}:h", expire)
        return rec

    packed_space, plain_space = KEYS.base + ":packed", KEYS.base + ":plain"
    packed = writes(packed_space).fenced(KEYS.lease, KEYS.folds, "agg-a", "")
    assert packed[1] == FENCED_APPLY_PACKED and len(packed) == 8
    Batch.committed(None, send(raw, packed)[0])
    words = _words(writes(plain_space).commands)
    Batch.committed(None, send(raw, ("EVAL", FENCED_APPLY, 2, KEYS.lease, KEYS.folds,
                                     "agg-a", r.get(KEYS.folds), *words))[0])
    for space in (packed_space, plain_space):
        assert r.hgetall(f"{space}:h") == {
            **{f"t{n}": t for n, t in enumerate(texts)},
            **{f"n{n}": str(x) for n, x in enumerate(numbers)}}
        assert r.hgetall(f"{space}:c") == {
            f"n{n}": str(x) for n, x in enumerate(numbers)}
        assert r.smembers(f"{space}:s") == set(texts)
        assert abs(r.ttl(f"{space}:h") - r.ttl(f"{space}:c")) <= 1
        assert r.ttl(f"{space}:h") > 0
    # what JSON or Lua would not keep exactly goes word by word
    for odd in (b"\xff\xfe", 0.1, True, 2**60, "\ud800", None):
        assert _packed(["SET", "k", odd]) is None
    rec = Recorder()
    rec.hset(KEYS.base + ":raw", "field", b"\xff\xfe")  # a producer's bytes
    plain = rec.fenced(KEYS.lease, KEYS.folds, "agg-a", r.get(KEYS.folds))
    assert plain[1] == FENCED_APPLY
    Batch.committed(None, send(raw, plain)[0])
    assert raw.hget(KEYS.base + ":raw", "field") == b"\xff\xfe"


def test_a_malformed_packed_call_writes_nothing(r, raw, site):
    words = [3, "SET", KEYS.base + ":a", "1", 8_000, "SET", KEYS.base + ":b", "2"]
    command = ("EVAL", FENCED_APPLY_PACKED, 2, KEYS.lease, KEYS.folds, "agg-a", "",
               _packed(words))
    with pytest.raises(redis.ResponseError, match="FENCED_APPLY"):
        Batch.committed(None, send(raw, command)[0])
    assert r.get(KEYS.base + ":a") is None and r.get(KEYS.folds) is None
