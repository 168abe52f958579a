"""The walls of the wall benchmark, and what the measured one shows and sends.

The measured wall is a real 1920×1080 ``/wall`` page in its own Chromium,
reached by a kiosk address as a wall is; its requests and event-stream
messages come from the Chrome DevTools Protocol (:class:`Trace`), and the
page counts its version events and update callbacks itself (``COUNTERS``).
The other walls are event-stream clients in a process of their own
(:class:`bench.wall.streams.StreamWalls`).
"""

from __future__ import annotations

import json
import urllib.parse

from bench.wall.server import Stack
from bench.wall.streams import StreamWalls
from data.redis_conn import connect
from tests.live import CHROMIUM_ARGS, chromium_path

BIG = {"width": 1920, "height": 1080}
COUNTERS = """
(() => {
  const B = window.__bench = {versions: 0, updates: 0, es: null};
  const ES = window.EventSource;
  function Counted(url, opts) {
    const es = new ES(url, opts);
    B.es = es;
    es.addEventListener("version", () => { B.versions += 1; });
    return es;
  }
  Counted.prototype = ES.prototype;
  window.EventSource = Counted;
  const fetch0 = window.fetch;
  window.fetch = function (input, init) {
    if (init && typeof init.body === "string" && init.body.includes("wall-applied")) {
      B.updates += 1;
    }
    return fetch0.apply(this, arguments);
  };
})();
"""
READ = """() => { const b = window.__bench; return [b.versions, b.updates,
  b.es ? b.es.readyState : -1]; }"""
SHOWS_NUMBER = ("() => /\\d/.test((document.querySelector("
                "'[data-testid=kpi-people-present]') || {}).textContent || '')")
ARM = """
(timeoutMs) => {
  const el = document.querySelector('[data-testid=kpi-people-present]');
  const read = () => {
    const d = el.textContent.replace(/\\D/g, ''); return d ? parseInt(d, 10) : null;
  };
  const base = read();
  window.__mark = new Promise((resolve) => {
    let done = false;
    const obs = new MutationObserver(() => {
      const v = read();
      if (done || v === null || v === base) { return; }
      const dom = Date.now();
      done = true; obs.disconnect(); clearTimeout(timer);
      requestAnimationFrame(() => resolve({base, value: v, dom, frame: Date.now()}));
    });
    obs.observe(el, {subtree: true, childList: true, characterData: true});
    const timer = setTimeout(() => {
      if (!done) { done = true; obs.disconnect(); resolve({base, timeout: true}); }
    }, timeoutMs);
  });
  return base;
}
"""


class Trace:
    """Update callbacks and SSE events of one page, times in epoch ms."""

    def __init__(self, page) -> None:
        self.cdp = page.context.new_cdp_session(page)
        self.cdp.send("Network.enable", {"maxTotalBufferSize": 200_000_000,
                                         "maxResourceBufferSize": 20_000_000})
        self.offset = 0.0  # epoch ms - monotonic ms
        self.updates: dict[str, dict] = {}
        self.sse: list[dict] = []
        self.sse_id: str | None = None
        self.sse_chunks: list[int] = []
        self.requests: list[tuple[float, str]] = []  # every request of the page
        on = self.cdp.on
        on("Network.requestWillBeSent", self._sent)
        on("Network.responseReceived", self._headers)
        on("Network.loadingFinished", self._finished)
        on("Network.eventSourceMessageReceived", self._event)
        on("Network.dataReceived", self._data)

    def _t(self, monotonic_s: float) -> float:
        return monotonic_s * 1000 + self.offset

    def _sent(self, e: dict) -> None:
        self.offset = e["wallTime"] * 1000 - e["timestamp"] * 1000
        url, body = e["request"]["url"], e["request"].get("postData")
        path = urllib.parse.urlsplit(url).path
        self.requests.append((self._t(e["timestamp"]),
                              f"{e['request']['method']} {path}"))
        if "/events/" in url:
            self.sse_id = e["requestId"]
        elif "/_dash-update-component" in url and (
                body is None or "wall-applied" in body):
            self.updates[e["requestId"]] = {
                "sent": self._t(e["timestamp"]),
                "request_bytes": None if body is None else len(body.encode())}

    def _headers(self, e: dict) -> None:
        if e["requestId"] in self.updates:
            timing = e["response"].get("timing") or {}
            start = timing.get("requestTime")
            self.updates[e["requestId"]]["headers"] = (
                self._t(start) + timing["receiveHeadersEnd"] if start
                else self._t(e["timestamp"]))

    def _finished(self, e: dict) -> None:
        if e["requestId"] in self.updates:
            self.updates[e["requestId"]].update(
                finished=self._t(e["timestamp"]), wire_bytes=e["encodedDataLength"])

    def _event(self, e: dict) -> None:
        data = json.loads(e["data"])
        text = f"event: {e['eventName']}\ndata: {e['data']}\n\n"
        live = data.pop("live", None)
        if live is not None:  # people present pushed between snapshots
            tiles = live["props"][0][1]["children"]
            data["people"] = int("".join(t["props"]["children"] for t in tiles))
        wall = data.pop("wall", None)  # keep only its version and part sizes
        if wall is not None:
            data["wall"] = {"v": wall["v"], "base": wall["base"], "props": {
                _prop_name(cid, props): len(json.dumps(
                    props, separators=(",", ":"), ensure_ascii=False).encode())
                for cid, props in wall["props"]}}
        self.sse.append({"t": self._t(e["timestamp"]), "kind": e["eventName"],
                         "data": data, "bytes": len(text.encode())})

    def _data(self, e: dict) -> None:
        if e["requestId"] == self.sse_id and e.get("encodedDataLength"):
            self.sse_chunks.append(e["encodedDataLength"])

    def bodies(self) -> list[dict]:
        """Finished update callbacks in order, with their parsed responses."""
        for rid, u in list(self.updates.items()):
            if "finished" in u and "body_bytes" not in u:
                try:
                    body = self.cdp.send("Network.getResponseBody",
                                         {"requestId": rid})["body"]
                    if u["request_bytes"] is None:
                        u["request_bytes"] = len(self.cdp.send(
                            "Network.getRequestPostData",
                            {"requestId": rid})["postData"].encode())
                except Exception:  # evicted from the buffer
                    u["body_bytes"] = None
                    continue
                response = json.loads(body).get("response", {})
                if "wall-applied" not in response:  # another callback
                    u["body_bytes"] = None
                    continue
                u["body_bytes"] = len(body.encode())
                u["outputs"] = {k: len(json.dumps(v, separators=(",", ":"),
                                                  ensure_ascii=False).encode())
                                for k, v in response.items()}
                u["applied"] = response.get("wall-applied", {}).get("data", {}).get("v")
                flow = response.get("wall-flow", {}).get("figure")
                u["full"] = isinstance(flow, dict) and "__dash_patch_update" not in flow
        return sorted((u for u in list(self.updates.values()) if u.get("body_bytes")),
                      key=lambda u: u["sent"])


def _prop_name(cid, props: dict) -> str:
    name = cid if isinstance(cid, str) else f"kpi:{cid.get('name')}"
    return f"{name}.{','.join(sorted(props))}"


def launch(pw):
    """The measured wall's Chromium."""
    return pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)


def kiosk_url(stack: Stack, site: str) -> str:
    """A wall's first address: a kiosk token of the site (then a cookie)."""
    from data.accounts import add_kiosk_token
    from data.keys import AuthKeys

    client = connect(stack.redis.url)
    _, token = add_kiosk_token(client, AuthKeys(stack.keys.prefix), site, "bench")
    client.close()
    return f"{stack.url}/wall?site={site}&kiosk={token}"


class Walls:
    """The measured wall (1920×1080, traced, its own Chromium) and the others,
    event-stream clients (:class:`StreamWalls`)."""

    def __init__(self, browser, streams: StreamWalls, url: str) -> None:
        self.browser, self.streams, self.url = browser, streams, url
        context = browser.new_context(viewport=BIG)
        context.add_init_script(COUNTERS)
        self.page = context.new_page()
        self.trace = Trace(self.page)
        self.page.goto(self.url)
        self.page.wait_for_function(SHOWS_NUMBER, timeout=120_000)

    @property
    def count(self) -> int:
        return 1 + self.streams.n

    def grow(self, n: int) -> None:
        """``n`` walls in all: the measured one and ``n`` − 1 streams."""
        self.streams.grow(n - 1)

    def counters(self) -> list[list[int]]:
        """Per wall: [version events, update callbacks, 1 if connected]."""
        return [self.page.evaluate(READ), *self.streams.counters()]

    def stream_stats(self) -> dict:
        return self.streams.stats()

    def close(self) -> None:
        self.page.context.close()
        self.streams.close()
