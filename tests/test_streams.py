"""Event streams end with the credential behind them, and only roles that may
see what a stream carries may open it.

Each test holds a real stream open over HTTP against a live app whose site
moves every second (a trickle producer), ends the credential the way a person
would (sign-out, an admin's revocation, a kiosk token revoked) and watches the
stream: a ``bye`` event, then the end, within the heartbeat.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from data import accounts
from data.keys import AuthKeys, Keys
from data.pubsub import announce, listeners
from data.redis_conn import free_port
from tests.auth import PASSWORD, csrf_of, kiosk_token
from tests.common import DATA_SITES, PREFIX, ROOT, SITES
from tests.live import LiveApp
from tests.waiting import wait_until
from web import hub as push_hub
from web.hub import STREAMS_PER_CLIENT
from web.push import PING_S

pytestmark = pytest.mark.cluster  # on one Redis and on a cluster

# The bound promised since the credential was checked once a heartbeat (one
# more heartbeat to notice, a little for the last bytes to travel). The web
# process now asks about its streams' credentials every RECHECK_S and wakes
# the streams of one that ended (web/credentials.py): they end within a second
# or two, and must stay within this.
ENDED_WITHIN_S = 2 * PING_S + 1


def signed_in(live: LiveApp, name: str) -> requests.Session:
    session = requests.Session()
    page = session.get(f"{live.url}/login", timeout=5).text
    answer = session.post(f"{live.url}/login", timeout=5, data={
        "name": name, "password": PASSWORD, "csrf": csrf_of(page)})
    assert answer.ok and "/login" not in answer.url
    return session


class Listener:
    """One event stream read in a thread: (arrival time, event name) pairs."""

    def __init__(self, session: requests.Session, url: str) -> None:
        self.response = session.get(url, stream=True, timeout=(5, 30))
        assert self.response.status_code == 200, self.response.text
        self.events: list[tuple[float, str]] = []
        self.bodies: list[tuple[str, dict]] = []  # (event name, its data)
        self.ended_at: float | None = None
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        try:
            for line in self.response.iter_lines(decode_unicode=True):
                if line and line.startswith("event:"):
                    self.events.append((time.monotonic(),
                                        line.split(":", 1)[1].strip()))
                elif line and line.startswith("data:") and self.events:
                    self.bodies.append((self.events[-1][1],
                                        json.loads(line.split(":", 1)[1])))
        except (requests.RequestException, AttributeError):
            pass  # AttributeError: http.client, closed by :meth:`close` mid-read
        self.ended_at = time.monotonic()

    def saw(self, name: str, **fields) -> bool:
        """Whether an event ``name`` with these values in its data came."""
        return any(kind == name and all(body.get(k) == v for k, v in fields.items())
                   for kind, body in list(self.bodies))

    def close(self) -> None:
        self.response.close()

    def wait_for_traffic(self, count: int = 2, timeout: float = 15) -> None:
        """Until the stream has carried ``count`` events after its hello."""
        deadline = time.monotonic() + timeout
        while len(self.events) < count + 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(self.events) > count, f"the stream carried {self.events}"

    def ended_after(self, moment: float) -> tuple[float, float]:
        """Waits for the end; (last event, end) in seconds after ``moment``."""
        self.thread.join(timeout=ENDED_WITHIN_S + 10)
        assert self.ended_at is not None, "the stream is still open"
        last = max((t for t, name in self.events if name != "bye"), default=moment)
        return last - moment, self.ended_at - moment


def assert_ended(listener: Listener, moment: float, why: str) -> None:
    last, end = listener.ended_after(moment)
    print(f"{why}: last event {last:.2f} s after, stream ended {end:.2f} s after")
    assert listener.events[-1][1] == "bye", listener.events[-3:]
    assert end <= ENDED_WITHIN_S, f"{why}: the stream ran {end:.1f} s on"


@pytest.mark.parametrize("query", ["?wall=zh", ""])
def test_a_stream_ends_when_its_person_signs_out(live, query):
    session = signed_in(live, "sup")
    listener = Listener(session, f"{live.url}/events/tiny{query}")
    if query:
        listener.wait_for_traffic()
    page = session.get(f"{live.url}/logout", timeout=5).text
    moment = time.monotonic()
    session.post(f"{live.url}/logout", data={"csrf": csrf_of(page)}, timeout=5)
    assert_ended(listener, moment, f"sign-out ({query or 'plain'})")


def test_a_stream_ends_when_an_admin_revokes_its_person(live):
    listener = Listener(signed_in(live, "sup"), f"{live.url}/events/tiny?wall=zh")
    listener.wait_for_traffic()
    moment = time.monotonic()
    accounts.revoke_user(live.client, AuthKeys(live.config.prefix), "sup")
    assert_ended(listener, moment, "account revoked")


def test_a_wall_stream_ends_when_its_kiosk_token_is_revoked(live):
    keys = AuthKeys(live.config.prefix)
    session = requests.Session()
    assert session.get(live.wall_url("tiny"), timeout=10).ok  # token -> cookie
    listener = Listener(session, f"{live.url}/events/tiny?wall=zh")
    listener.wait_for_traffic()
    token = next(c for c in accounts.list_kiosk_tokens(live.client, keys)
                 if c.site == "tiny")
    moment = time.monotonic()
    accounts.revoke_kiosk_token(live.client, keys, token.id)
    assert_ended(listener, moment, "kiosk token revoked")
    again = session.get(f"{live.url}/events/tiny?wall=zh", timeout=5)
    assert again.status_code == 401


def test_only_roles_that_may_see_a_wall_may_follow_its_stream(live):
    for name in ("w1", "vol"):  # workers and volunteers may not open /wall
        session = signed_in(live, name)
        refused = session.get(f"{live.url}/events/tiny?wall=zh", timeout=5)
        assert refused.status_code == 403, name
        plain = session.get(f"{live.url}/events/tiny", stream=True, timeout=5)
        assert plain.status_code == 200, name  # their phone's own stream
        plain.close()
    analyst = signed_in(live, "ana")  # no console, no phone, no wall
    assert analyst.get(f"{live.url}/events/tiny", timeout=5).status_code == 403
    assert requests.get(f"{live.url}/events/tiny", timeout=5).status_code == 401


def test_streams_are_bounded_per_sign_in(live):
    session = signed_in(live, "sup")
    held = [session.get(f"{live.url}/events/tiny", stream=True, timeout=5)
            for _ in range(STREAMS_PER_CLIENT)]
    assert all(r.status_code == 200 for r in held)
    refused = session.get(f"{live.url}/events/tiny", timeout=5)
    assert refused.status_code == 429
    other = signed_in(live, "adm").get(f"{live.url}/events/tiny?wall=zh",
                                       stream=True, timeout=5)
    assert other.status_code == 200  # another person is not held back
    other.close()
    for response in held:
        response.close()


def test_the_walls_of_a_center_may_share_one_kiosk_token(live):
    """A wall of displays runs on one token: more streams than a person's."""
    session = requests.Session()
    assert session.get(live.wall_url("tiny"), timeout=10).ok  # token -> cookie
    held = [session.get(f"{live.url}/events/tiny?wall=zh", stream=True, timeout=5)
            for _ in range(STREAMS_PER_CLIENT + 4)]
    assert all(r.status_code == 200 for r in held)
    for response in held:
        response.close()


def subscribers(r, channel: str) -> int:
    """How many connections listen to ``channel`` (PUBSUB NUMSUB, or
    SHARDNUMSUB on a Redis 7 cluster)."""
    return listeners(r, channel)


def test_a_web_process_listens_to_a_site_only_while_a_stream_of_it_is_open(
        live_app, monkeypatch):
    monkeypatch.setattr(push_hub, "UNSUBSCRIBE_GRACE_S", 0.5)
    live = live_app(DATA_SITES, producer=None)  # two sites: yaozhai and erqi
    yaozhai, erqi = live.keys("yaozhai").channel, live.keys("erqi").channel
    walls = {}
    for site in ("yaozhai", "erqi"):
        walls[site] = requests.Session()
        assert walls[site].get(live.wall_url(site), timeout=30).ok
    first = Listener(walls["yaozhai"], f"{live.url}/events/yaozhai?wall=zh")
    wait_until(lambda: subscribers(live.client, yaozhai) == 1,
               what="the hub to subscribe to yaozhai")
    assert subscribers(live.client, erqi) == 0  # no stream of erqi here

    # erqi moved on while nobody here watched it: its first stream starts
    # from there, and then hears what comes next
    live.client.set(live.keys("erqi").version, 41)
    second = Listener(walls["erqi"], f"{live.url}/events/erqi?wall=zh")
    wait_until(lambda: second.saw("hello", v=41), what="hello at version 41")
    wait_until(lambda: subscribers(live.client, erqi) == 1,
               what="the hub to subscribe to erqi")
    announce(live.client, erqi, 42)
    wait_until(lambda: second.saw("version", v=42), what="version 42 pushed")
    assert not first.saw("version", v=42)  # another site's news

    first.close()  # the server notices at its next write (a heartbeat)
    wait_until(lambda: subscribers(live.client, yaozhai) == 0,
               timeout=2 * PING_S + 5, what="the hub to let go of yaozhai")
    assert subscribers(live.client, erqi) == 1  # its stream is still open
    second.close()
    wait_until(lambda: subscribers(live.client, erqi) == 0,
               timeout=2 * PING_S + 5, what="the hub to let go of erqi")


@pytest.fixture
def gevent_web(r, redis_url: str, tmp_path: Path):
    """The web tier as documented, under gunicorn's gevent worker (one
    worker), on the test Redis; (base URL, kiosk token of ``tiny``)."""
    port = free_port()
    env = {**os.environ, "REDIS_URL": redis_url, "GOV_PREFIX": PREFIX,
           "GOV_SITES_DIR": str(SITES), "GOV_DEMO": "0",
           "GOV_DATA_DIR": str(tmp_path), "GOV_SECRET_KEY": secrets.token_hex(16)}
    log = open(tmp_path / "gunicorn.log", "wb")
    web = subprocess.Popen(
        [str(Path(sys.executable).parent / "gunicorn"), "-k", "gevent",
         "--worker-connections", "100", "-w", "1", "-b", f"127.0.0.1:{port}",
         "--graceful-timeout", "3", "app:server"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        assert web.poll() is None, (tmp_path / "gunicorn.log").read_text()
        try:
            return requests.get(f"{url}/api/v1/health", timeout=5).status_code > 0
        except requests.RequestException:  # not listening, or still loading
            return False
    try:
        wait_until(up, timeout=90, every=0.2, what="gunicorn -k gevent to serve")
        yield url, kiosk_token(r, PREFIX, "tiny")
    finally:
        web.terminate()
        web.wait(15)
        log.close()


def test_the_gevent_worker_serves_event_streams_and_pages_beside_them(
        gevent_web, r):
    url, token = gevent_web
    wall = requests.Session()
    assert wall.get(f"{url}/wall?site=tiny&kiosk={token}", timeout=30).ok
    streams = [Listener(wall, f"{url}/events/tiny?wall=zh") for _ in range(3)]
    for stream in streams:
        wait_until(lambda s=stream: s.saw("hello"), what="hello")
    # one worker holds the streams and still answers the rest
    assert wall.get(f"{url}/wall?site=tiny", timeout=10).ok
    keys = Keys(PREFIX, "tiny")
    wait_until(lambda: subscribers(r, keys.channel) == 1, what="a subscription")
    r.set(keys.version, 7)  # as the aggregator does
    announce(r, keys.channel, 7)  # sharded on a Redis 7 cluster
    for stream in streams:
        wait_until(lambda s=stream: s.saw("version", v=7), what="version 7")
        stream.close()


def test_one_check_a_second_answers_for_every_stream_of_a_credential(
        r, monkeypatch):
    from web.credentials import CredentialWatch

    keys = AuthKeys(PREFIX)
    token = kiosk_token(r, PREFIX, "tiny")
    accounts.add_user(r, keys, "watched", "admin", PASSWORD)
    sid = accounts.open_session(r, keys, accounts.get_user(r, keys, "watched"), 60)
    woken, asked = [], []
    watch = CredentialWatch(r, keys, lambda sites: woken.append(set(sites)))
    real = accounts.live_kiosk_tokens
    monkeypatch.setattr(accounts, "live_kiosk_tokens",
                        lambda *a: asked.append(a[2]) or real(*a))

    def idle():
        while True:
            yield b""
    walls = [watch.holding(("kiosk", token), "tiny", idle()) for _ in range(300)]
    phone = watch.holding(("user", sid), "erqi", idle())
    for stream in (*walls, phone):
        next(stream)
    assert watch.check() == set() and woken == []
    assert [len(a) for a in asked] == [1]  # one token asked, for 300 streams

    accounts.revoke_kiosk_token(r, keys, token.split("_")[1])
    assert watch.check() == {("kiosk", token)}
    assert woken == [{"tiny"}]  # its streams' site, to say bye at once
    assert not watch.alive(("kiosk", token)) and watch.alive(("user", sid))
    for stream in walls:
        stream.close()
    assert ("kiosk", token) not in {*watch.held, *watch.ended}  # forgotten
    accounts.close_session(r, keys, sid)  # signed out
    assert watch.check() == {("user", sid)} and woken[-1] == {"erqi"}


class Asleep(Exception):
    """A stream of :class:`StillHub` went to sleep with nothing to wait for."""


class StillHub:
    """A hub whose site moves only when told; records how long each wait was
    for, and ends a stream that would wait for nothing."""

    connected = True

    def __init__(self):
        self.now, self.waits = (4, 0, 0, 0), []

    def current(self, site):
        return self.now

    def wait(self, site, seen, connected, timeout, people=True):
        self.waits.append(timeout)
        if seen == self.now:
            raise Asleep
        return self.now, True


def test_the_streams_of_a_site_share_each_event_and_spread_their_heartbeats():
    from web.push import SharedEvents, event_stream

    asked = []

    def changes(base, version):
        asked.append((base, version))
        return version, json.dumps({"v": version, "base": base, "props": []})

    hub, shared = StillHub(), SharedEvents()
    streams = [event_stream(hub, "tiny", "b", changes=changes, shared=shared,
                            lang="zh") for _ in range(50)]
    for stream in streams:
        assert next(stream).startswith(b"retry")
        assert next(stream).startswith(b"event: hello")  # the whole wall
    hub.now = (5, 0, 0, 0)  # a new version wakes every stream
    sent = [next(stream) for stream in streams]
    assert all(event is sent[0] for event in sent)  # the same bytes, built once
    assert sent[0].startswith(b"event: version")
    assert json.loads(sent[0].split(b"data: ")[1])["wall"]["v"] == 5
    assert asked.count((4, 5)) == 1
    del hub.waits[:]
    for stream in streams:
        with pytest.raises(Asleep):
            next(stream)
    # the heartbeat is due 3/4 to all of PING_S after the last event, drawn
    # per stream: the walls one version woke together do not ping together
    assert len(hub.waits) == 50
    assert all(0.75 * PING_S - 0.1 <= w <= PING_S for w in hub.waits)
    assert max(hub.waits) - min(hub.waits) > 0.2 * PING_S


class Sock:
    """A connection's socket as gunicorn's gevent worker hands it over: the
    real (non-blocking) socket under ``_sock``, and a ``sendall`` that waits."""

    def __init__(self, real):
        self._sock = real

    def sendall(self, data: bytes) -> None:
        self._sock.setblocking(True)
        try:
            self._sock.sendall(data)
        finally:
            self._sock.setblocking(False)


def read_all(sock, until: bytes) -> bytes:
    got = b""
    sock.settimeout(5)
    while not got.endswith(until):
        got += sock.recv(1 << 16)
    return got


def test_the_fan_out_writes_each_stream_and_leaves_a_slow_one_its_rest():
    """The hub's fan-out writes a version straight onto every direct
    stream's socket, framed as HTTP/1.1 chunks; a client that stopped
    reading gets what did not fit as its stream's own to send, is skipped
    (and woken) until then, and what it finally reads is whole and in order;
    a client gone is noticed, not written to again."""
    import socket

    from web.push import Direct, SharedEvents, StreamState, fan_out

    big = "x" * 60_000  # a version whose wall change fills a small buffer

    def changes(base, version):
        return version, json.dumps({"v": version, "base": base, "pad": big})

    hub, shared = StillHub(), SharedEvents()
    pairs, streams = [], set()
    for _ in range(3):
        server, client = socket.socketpair()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8192)
        client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)
        server.setblocking(False)
        state = StreamState(hub, "tiny", PING_S, changes, None, None, 0, shared,
                            "zh")
        state.hello("b")
        streams.add(Direct(state, Sock(server), True, alive=lambda: True))
        pairs.append((server, client))
    slow = next(iter(streams))
    fast = [s for s in streams if s is not slow]
    hub.now = (5, 0, 0, 0)
    fan_out(hub, "tiny", streams)
    # everyone got version 5 as far as its buffer took it; the rest is theirs
    assert all(s.rest and s.woken.is_set() for s in streams)
    got: dict[int, bytes] = {}
    for stream in fast:  # a client that reads: its stream sends the rest
        client = pairs[[p[0] for p in pairs].index(stream.sock._sock)][1]
        key = id(stream)
        reader = threading.Thread(target=lambda c=client, k=key: got.__setitem__(
            k, read_all(c, b"\r\n")))
        reader.start()
        stream.busy = True
        stream.send_rest()
        stream.busy = False
        reader.join(5)
        size, _, body = got[id(stream)].partition(b"\r\n")
        assert int(size, 16) == len(body) - 2  # one whole chunk, framed
        assert body.startswith(b"event: version\ndata: ")
        assert json.loads(body[len(b"event: version\ndata: "):-4])["wall"]["v"] == 5
        stream.woken.clear()
    # the slow one still owes its rest: the next version skips it and wakes it
    slow.woken.clear()
    hub.now = (6, 0, 0, 0)
    fan_out(hub, "tiny", streams)
    assert slow.woken.is_set() and slow.state.seen[0] == 5
    for stream in fast:
        assert stream.state.seen[0] == 6
    # a client gone: noticed at the next write, woken to end
    gone = fast[0]
    gone.rest = b""
    client = pairs[[p[0] for p in pairs].index(gone.sock._sock)][1]
    client.close()
    hub.now = (7, 0, 0, 0)
    for _ in range(3):  # the first write may still be taken by the kernel
        fan_out(hub, "tiny", {gone})
        if gone.gone:
            break
        gone.rest = b""
        hub.now = (hub.now[0] + 1, 0, 0, 0)
    assert gone.gone and gone.woken.is_set()
    for server, client in pairs:
        server.close()
        client.close()


def test_a_browser_reads_the_fan_outs_chunks_on_the_gevent_worker(
        gevent_web, r, browser):
    """Chromium's own EventSource, over HTTP/1.1 (chunked) from the gevent
    worker, where versions are written by the hub's fan-out, not the
    stream: each version arrives whole, in order, none twice."""
    url, token = gevent_web
    page = browser.new_page()
    try:
        page.goto(f"{url}/wall?site=tiny&kiosk={token}", timeout=60_000)
        page.evaluate("""() => {
            window.got = [];
            const es = new EventSource('/events/tiny?wall=zh');
            es.addEventListener('hello', () => window.got.push('hello'));
            es.addEventListener('version',
                (e) => window.got.push(JSON.parse(e.data).v));
        }""")
        # (polled from here: the page's CSP refuses a predicate made from a string)
        wait_until(lambda: page.evaluate("() => window.got.includes('hello')"),
                   timeout=30, what="the hello")
        keys = Keys(PREFIX, "tiny")
        wait_until(lambda: subscribers(r, keys.channel) >= 1, what="a subscription")
        for version in range(11, 31):
            r.set(keys.version, version)  # as the aggregator does
            announce(r, keys.channel, version)
            time.sleep(0.02)
        wait_until(lambda: page.evaluate("() => window.got.includes(30)"),
                   timeout=30, what="version 30")
        versions = [v for v in page.evaluate("window.got") if v != "hello"]
        assert versions == sorted(set(versions)) and versions[-1] == 30
    finally:
        page.close()
