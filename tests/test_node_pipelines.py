"""Reads of many slots in one round trip a node (data/redis_conn.py:
by_node), on one Redis and on a cluster: the replies in order, an error as
its own reply, and a slot map gone stale followed rather than failed."""

from __future__ import annotations

import pytest
import redis

from data.redis_conn import by_node
from tests.common import PREFIX

pytestmark = pytest.mark.cluster  # on one Redis and on a cluster

KEYS = [f"{PREFIX}:{{site{n}}}:value" for n in range(24)]


def reads(keys: list[str]) -> list[tuple]:
    return [(key, lambda pipe, key=key: pipe.get(key)) for key in keys]


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
    # the client believes a slot is served by another master than it is
    slot = r.keyslot(KEYS[0])
    right = r.nodes_manager.slots_cache[slot][0]
    wrong = next(n for n in r.get_primaries() if n.name != right.name)
    r.nodes_manager.slots_cache[slot] = [wrong]
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
        slot = r.keyslot(KEYS[3])
        right = r.nodes_manager.slots_cache[slot][0]
        wrong = next(n for n in r.get_primaries() if n.name != right.name)
        r.nodes_manager.slots_cache[slot] = [wrong]
    items = [(key, both(key)) for key in KEYS]
    assert by_node(r, items, several=True) == [
        [str(n), str(-n), 1] for n in range(24)]
    assert by_node(r, [(KEYS[0], lambda pipe: None)], several=True) == [[]]
