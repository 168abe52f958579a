"""Event streams end with the credential behind them, and only roles that may
see what a stream carries may open it.

Each test holds a real stream open over HTTP against a live app whose site
moves every second (a trickle producer), ends the credential the way a person
would (sign-out, an admin's revocation, a kiosk token revoked) and watches the
stream: a ``bye`` event, then the end, within the heartbeat.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import requests

from data import accounts
from data.keys import AuthKeys
from tests.auth import PASSWORD, csrf_of
from tests.live import LiveApp
from web.hub import STREAMS_PER_CLIENT
from web.push import PING_S

pytestmark = pytest.mark.cluster  # on one Redis and on a cluster

SITES = Path(__file__).parent / "fixtures" / "sites"
# The credential is checked once a heartbeat; a stream may take one more
# heartbeat to notice (the check falls just before the end) and a little
# for the last bytes to travel.
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
        self.ended_at: float | None = None
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        try:
            for line in self.response.iter_lines(decode_unicode=True):
                if line and line.startswith("event:"):
                    self.events.append((time.monotonic(),
                                        line.split(":", 1)[1].strip()))
        except requests.RequestException:
            pass
        self.ended_at = time.monotonic()

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
