"""Reads of many slots in one round trip a node (data/redis_conn.py:
by_node), on one Redis and on a cluster: the replies in order, an error as
its own reply, and a slot map gone stale followed rather than failed."""

from __future__ import annotations

import pytest
import redis

from data.redis_conn import by_node, node_for, send_all
from tests.common import PREFIX

pytestmark = pytest.mark.cluster  # on one Redis and on a cluster

KEYS = [f"{PREFIX}:{{site{n}}}:value" for n in range(24)]


def reads(keys: list[str]) -> list[tuple]:
    return [(key, lambda pipe, key=key: pipe.get(key)) for key in keys]


def mislead(r, key: str):
    """Make the cluster client believe ``key``'s slot is served by another
    master than it is; the slot and the master that serves it."""
    slot = r.keyslot(key)
    right = r.nodes_manager.slots_cache[slot][0]
    wrong = next(n for n in r.get_primaries() if n.name != right.name)
    r.nodes_manager.slots_cache[slot] = [wrong]
    return slot, right


def test_replies_come_in_order_with_an_error_as_its_own_reply(r):
    for n, key in enumerate(KEYS):
        r.set(key, n)
    r.delete(KEYS[5])
    r.rpush(KEYS[5], "not a string")
    replies = by_node(r, reads(KEYS))
    assert isinstance(replies[5], redis.ResponseError)  # WRONGTYPE
    assert replies[:5] + replies[6:] == [str(n) for n in range(24) if n != 5]
    assert by_node(r, []) == []


def test_a_stale_slot_map_is_followed(r, backend):
    if backend != "cluster":
        pytest.skip("one Redis has no slots")
    for n, key in enumerate(KEYS):
        r.set(key, n)
    slot, right = mislead(r, KEYS[0])
    assert by_node(r, reads(KEYS)) == [str(n) for n in range(24)]
    assert r.nodes_manager.slots_cache[slot][0].name == right.name  # asked anew


def test_several_commands_an_item_come_back_as_its_list(r, backend):
    """``several``: an item queues a site's reads together (a fold reads
    five to ten things of its site); its replies are its list, a stale slot
    map followed for all of them."""
    for n, key in enumerate(KEYS):
        r.set(key, n)
        r.set(key + ":more", -n)

    def both(key):
        return lambda pipe: (pipe.get(key), pipe.get(key + ":more"),
                             pipe.incr(key + ":count"))

    if backend == "cluster":
        mislead(r, KEYS[3])
    items = [(key, both(key)) for key in KEYS]
    assert by_node(r, items, several=True) == [
        [str(n), str(-n), 1] for n in range(24)]
    assert by_node(r, [(KEYS[0], lambda pipe: None)], several=True) == [[]]


def test_a_bundle_answers_as_its_commands_would_one_by_one(r, backend):
    """``bundle``: an item's commands go as one script call and come back as
    the pipeline gives them one by one (a hash as a dict, a missing key as
    None, an error as its own reply), a stale slot map followed; an item of
    one command, or of one too long for a script, goes as it is."""
    for n, key in enumerate(KEYS):
        r.delete(key, key + ":h", key + ":z", key + ":s", key + ":wrong")
        r.set(key, n)
        r.hset(key + ":h", mapping={"a": n, "b": "二"})
        r.zadd(key + ":z", {"x": 1, "y": 2, "z": 3})
        r.sadd(key + ":s", "m1")
        r.rpush(key + ":wrong", "a list")

    def reads_of(key):
        return lambda pipe: (
            pipe.get(key), pipe.get(key + ":none"), pipe.hgetall(key + ":h"),
            pipe.hgetall(key + ":none"), pipe.hmget(key + ":h", "a", "c"),
            pipe.zcard(key + ":z"), pipe.zcount(key + ":z", "-inf", 2),
            pipe.zrevrange(key + ":z", 0, 1), pipe.zrange(key + ":z", 0, -1),
            pipe.smismember(key + ":s", "m1", "m2"), pipe.hgetall(key + ":wrong"),
            pipe.incr(key + ":count"))

    if backend == "cluster":
        mislead(r, KEYS[3])
    items = [(key, reads_of(key)) for key in KEYS]
    one_by_one = by_node(r, items, several=True)
    bundled = by_node(r, items, several=True, bundle=True)
    for plain, together in zip(one_by_one, bundled, strict=True):
        assert isinstance(plain[10], redis.ResponseError)
        assert isinstance(together[10], redis.ResponseError)
        assert "WRONGTYPE" in str(together[10])
        assert plain[-1] + 1 == together[-1]  # each INCR ran once
        flags = [bool(x) for x in together[9]]
        assert plain[:9] + [plain[9]] == together[:9] + [flags]
    assert bundled[0][:3] == ["0", None, {"a": "0", "b": "二"}]
    assert by_node(r, [(KEYS[0], lambda pipe: pipe.get(KEYS[0]))],
                   several=True, bundle=True) == [["0"]]
    assert by_node(r, [(KEYS[0], lambda pipe: (  # bytes: word by word
        pipe.hmget(KEYS[0] + ":h", b"\xff", "a"), pipe.get(KEYS[0])))],
        several=True, bundle=True) == [[[None, "0"], "0"]]
    long = [f"f{n}" for n in range(5000)]  # past what a script unpacks
    assert by_node(r, [(KEYS[0], lambda pipe: (
        pipe.hmget(KEYS[0] + ":h", "a", *long), pipe.get(KEYS[0])))],
        several=True, bundle=True) == [[["0", *([None] * 5000)], "0"]]


def test_send_all_answers_what_the_pipeline_answers(r, raw):
    """by_node sends a node's commands itself (send_all), not through
    redis-py's pipeline: the same replies, shaped by the same response
    callbacks (a hash as a dict, a stream's entries as pairs, a flag as a
    bool, ids only when asked), an error reply as its own reply, on a
    decoding client and a bytes one."""
    for client in (r, raw):
        key = KEYS[0]
        r.delete(key, key + ":h", key + ":x", key + ":wrong")
        r.hset(key + ":h", mapping={"a": 1, "b": "二"})
        r.rpush(key + ":wrong", "a list")
        r.xgroup_create(key + ":x", "g", id="0", mkstream=True)
        for n in range(3):
            r.xadd(key + ":x", {"n": n, "t": "文"})
        node = node_for(client, key)

        def queue(pipe, key=key):
            pipe.set(key, "v")
            pipe.get(key)
            pipe.hgetall(key + ":h")
            pipe.hgetall(key + ":wrong")
            pipe.zrange(key + ":none", 0, -1, withscores=True)
            pipe.xreadgroup("g", "c1", {key + ":x": ">"}, count=2)
            pipe.xautoclaim(key + ":x", "g", "c2", 0, justid=True)
            pipe.execute_command("EVAL", "return {1, 'x', false}", 0)

        piped = node.pipeline(transaction=False)
        queue(piped)
        expected = piped.execute(raise_on_error=False)
        r.delete(key + ":x")
        r.xgroup_create(key + ":x", "g", id="0", mkstream=True)
        for n in range(3):
            r.xadd(key + ":x", {"n": n, "t": "文"}, id=f"{n + 1}-0")
        sent = node.pipeline(transaction=False)
        queue(sent)
        got = send_all(node, sent.command_stack)
        assert isinstance(expected[3], redis.ResponseError)
        assert isinstance(got[3], redis.ResponseError) and "WRONGTYPE" in str(got[3])
        assert got[:3] + got[4:5] == expected[:3] + expected[4:5]
        assert got[2] in ({"a": "1", "b": "二"},
                          {b"a": b"1", b"b": "二".encode()})
        read, claimed = got[5], got[6]
        assert type(read) is type(expected[5]) and len(claimed) == 2
        entries = (next(iter(read.values()))[0] if isinstance(read, dict)
                   else read[0][1])
        assert [dict(fields) for _, fields in entries] == [
            {"n": str(n), "t": "文"} if client is r else
            {b"n": str(n).encode(), b"t": "文".encode()} for n in range(2)]
        assert got[7] == expected[7] == [1, "x" if client is r else b"x", None]
    assert send_all(r, []) == []


def test_send_all_sends_again_over_a_new_connection_when_one_is_lost(r, backend):
    """A connection the server dropped (a restart, a failover, an idle
    timeout) is disconnected and the commands sent again over a new one, as
    redis-py's pipeline does; the pool gets no connection with replies
    left unread."""
    node = node_for(r, KEYS[0])
    node.set(KEYS[0], "before")

    def ask(*queue) -> list:
        pipe = node.pipeline(transaction=False)
        for command in queue:
            pipe.execute_command(*command)
        return send_all(node, pipe.command_stack)

    (mine,) = ask(("CLIENT", "ID"))
    other = redis.Redis(connection_pool=redis.ConnectionPool(
        **node.connection_pool.connection_kwargs))
    assert other.client_kill_filter(_id=mine) == 1
    other.close()
    assert ask(("SET", KEYS[0], "after"), ("GET", KEYS[0]),
               ("CLIENT", "ID"))[:2] == [True, "after"]
    (now,) = ask(("CLIENT", "ID"))
    assert now != mine  # a new connection
    assert node.get(KEYS[0]) == "after"
