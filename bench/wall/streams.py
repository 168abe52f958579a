"""The other walls of the wall benchmark as event-stream clients.

A real wall has a computer of its own; on the benchmark's machine, N − 1
more Chromiums would take the cores from the server they are meant to load.
What the server sees of a loaded wall is its event stream and nothing else:
one real ``/wall`` page in Chromium, with the feed on, made 29 requests while
loading and none at all in the 75 s after (its clock, stale check and reload
check run in the page; the poll asks the server only while the stream is
down; the spotlight and every change come in the stream). So each wall here:

1. loads through the auth gate as a wall does: ``/wall?site=…&kiosk=TOKEN``
   (which answers with the kiosk cookie), the page, ``/_dash-layout`` and
   ``/_dash-dependencies`` (the static assets are left out);
2. opens ``/events/<site>?wall=<lang>`` with the cookie, as ``assets/wall.js``
   does, reads every event and counts its bytes;
3. follows the events as ``wall.js`` does (``change``, ``request``): if a
   pushed change does not follow on what it shows, or it is behind, it asks
   the update callback (``_dash-update-component``, the page's own body), one
   at a time, so a wall that would fall back costs what a real one costs;
4. reconnects after the stream's ``retry`` when the stream ends, as
   ``EventSource`` does. (The poll of a wall whose stream stays down is not
   played: reconnects are counted instead.)

All the walls are asyncio tasks in one process of their own, at nice 0,
started by :class:`StreamWalls` and asked for their counts over a pipe.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import time
from collections import Counter
from urllib.parse import quote, urlsplit

INFLIGHT_TIMEOUT_S = 10.0  # as assets/wall.js
LOAD_PATHS = ("/_dash-layout", "/_dash-dependencies")


class StreamWalls:
    """``n`` event-stream walls in a separate process (see the module)."""

    def __init__(self, base_url: str, site: str, lang: str, token: str) -> None:
        ctx = multiprocessing.get_context("spawn")  # the parent has threads
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_main, daemon=True, name="stream-walls",
                                   args=(child, base_url, site, lang, token))
        self.process.start()
        self.n = 0

    @property
    def pid(self) -> int:
        return self.process.pid

    def _ask(self, *command, timeout: float = 300):
        self.conn.send(command)
        if not self.conn.poll(timeout):
            raise RuntimeError(f"stream walls did not answer {command[0]!r}")
        answer = self.conn.recv()
        if isinstance(answer, Exception):
            raise answer
        return answer

    def grow(self, n: int) -> None:
        """``n`` walls in all, each loaded and its stream open."""
        self._ask("grow", n)
        self.n = max(self.n, n)

    def counters(self) -> list[list[int]]:
        """Per wall: [version events, update callbacks, 1 if connected]."""
        return self._ask("counters")

    def stats(self) -> dict:
        """Totals: bytes and events by kind, requests by kind, reconnects."""
        return self._ask("stats")

    def close(self) -> None:
        if not self.process.is_alive():
            return
        try:
            self._ask("stop", timeout=10)
        except (OSError, EOFError, RuntimeError):
            pass
        self.process.join(5)
        if self.process.is_alive():
            self.process.kill()


def _main(conn, *args) -> None:
    os.setpriority(os.PRIO_PROCESS, 0, 0)  # nice 0, whatever the parent's
    asyncio.run(_serve(conn, *args))


async def _serve(conn, base_url: str, site: str, lang: str, token: str) -> None:
    loop = asyncio.get_running_loop()
    walls: list[StreamWall] = []
    while True:
        command = await loop.run_in_executor(None, conn.recv)
        try:
            if command[0] == "grow":
                fresh = [StreamWall(base_url, site, lang, token)
                         for _ in range(command[1] - len(walls))]
                walls += fresh
                for wall in fresh:
                    wall.task = asyncio.create_task(wall.run())
                deadline = time.monotonic() + 240
                while not all(w.shown is not None and w.connected for w in fresh):
                    if time.monotonic() > deadline:
                        raise RuntimeError("stream walls did not all connect")
                    await asyncio.sleep(0.2)
                conn.send(len(walls))
            elif command[0] == "counters":
                conn.send([[w.versions, w.updates, 1 if w.connected else -1]
                           for w in walls])
            elif command[0] == "stats":
                conn.send(_totals(walls))
            elif command[0] == "stop":
                for wall in walls:
                    wall.task.cancel()
                conn.send("stopped")
                return
        except Exception as exc:  # noqa: BLE001  (handed to the parent)
            conn.send(exc)


def _totals(walls: list[StreamWall]) -> dict:
    total: dict[str, Counter] = {"event_bytes": Counter(), "events": Counter(),
                                 "requests": Counter()}
    for wall in walls:
        for name in total:
            total[name].update(getattr(wall, name))
    return {"walls": len(walls), **{k: dict(v) for k, v in total.items()},
            "stream_wire_bytes": sum(w.wire_bytes for w in walls),
            "reconnects": sum(w.reconnects for w in walls),
            "update_errors": sum(w.update_errors for w in walls)}


class StreamWall:
    """One wall: its load, its event stream, and wall.js's fallback rules."""

    def __init__(self, base_url: str, site: str, lang: str, token: str) -> None:
        url = urlsplit(base_url)
        self.host, self.port = url.hostname, url.port
        self.site, self.lang, self.token = site, lang, token
        self.cookie = ""
        self.retry_s = 2.0
        self.task: asyncio.Task | None = None
        self.dependencies: list[dict] = []
        self.dependency: dict | None = None  # the update callback's
        # wall.js's state
        self.latest = self.applied = self.shown = None
        self.cast, self.n = 0, 0
        self.inflight, self.inflight_at = False, 0.0
        self.force = self.full = False
        self.queue: list[dict] = []
        # counts
        self.connected = False
        self.versions = self.updates = self.reconnects = self.update_errors = 0
        self.wire_bytes = 0
        self.event_bytes: Counter = Counter()
        self.events: Counter = Counter()
        self.requests: Counter = Counter()

    async def run(self) -> None:
        await self.load()
        while True:
            try:
                await self.stream()
            except (OSError, asyncio.IncompleteReadError, ValueError):
                pass
            self.connected = False
            self.reconnects += 1
            await asyncio.sleep(self.retry_s)

    async def load(self) -> None:
        status, head, _ = await self.fetch(
            "GET", f"/wall?site={quote(self.site)}&kiosk={quote(self.token)}")
        cookie = next((c.split(";", 1)[0] for c in head.get("set-cookie", "")
                       .split("\n") if c.startswith("gov_kiosk=")), None)
        if status != 302 or cookie is None:
            raise RuntimeError(f"kiosk arrival answered {status}, no cookie")
        self.cookie = cookie
        status, _, _ = await self.fetch("GET", f"/wall?site={quote(self.site)}")
        if status != 200:
            raise RuntimeError(f"/wall answered {status}")
        for path in LOAD_PATHS:
            status, _, body = await self.fetch("GET", path)
            if path == "/_dash-dependencies":
                self.dependencies = json.loads(body)
                self.dependency = self.callback_of("wall-request")

    def callback_of(self, input_id: str) -> dict | None:
        return next((d for d in self.dependencies if not d.get("clientside_function")
                     and any(i["id"] == input_id for i in d["inputs"])), None)

    async def fetch(self, method: str, path: str, body: bytes = b"",
                    extra: dict | None = None) -> tuple[int, dict, bytes]:
        """One request on its own connection; (status, headers, body)."""
        self.requests[f"{method} {path.split('?')[0]}"] += 1
        reader, writer = await asyncio.open_connection(self.host, self.port)
        try:
            writer.write(self._head(method, path, {
                "Connection": "close", **(extra or {}),
                **({"Content-Length": str(len(body))} if body else {})}) + body)
            status, head = await _read_head(reader)
            data = await reader.read()
            if head.get("transfer-encoding") == "chunked":
                data = _dechunk(data)
            return status, head, data
        finally:
            writer.close()

    def _head(self, method: str, path: str, headers: dict) -> bytes:
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}",
                 *(f"{k}: {v}" for k, v in headers.items())]
        if self.cookie:
            lines.append(f"Cookie: {self.cookie}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode()

    async def stream(self) -> None:
        path = f"/events/{quote(self.site)}?wall={quote(self.lang)}"
        self.requests[f"GET /events/{self.site}"] += 1
        reader, writer = await asyncio.open_connection(self.host, self.port)
        try:
            writer.write(self._head("GET", path, {
                "Accept": "text/event-stream", "Cache-Control": "no-cache"}))
            status, head = await _read_head(reader)
            if status != 200:
                raise ValueError(f"event stream answered {status}")
            self.connected = True
            chunked = head.get("transfer-encoding") == "chunked"
            text = ""
            while True:
                if chunked:
                    line = await reader.readline()
                    size = int(line.split(b";")[0], 16)
                    data = await reader.readexactly(size + 2)
                    self.wire_bytes += len(line) + size + 2
                    if size == 0:
                        return
                    data = data[:-2]
                else:
                    data = await reader.read(65536)
                    if not data:
                        return
                    self.wire_bytes += len(data)
                text += data.decode()
                while "\n\n" in text:
                    block, text = text.split("\n\n", 1)
                    self.on_block(block)
        finally:
            writer.close()

    def on_block(self, block: str) -> None:
        kind, data = "message", None
        for line in block.split("\n"):
            field, _, value = line.partition(": ")
            if field == "event":
                kind = value
            elif field == "data":
                data = value
            elif field == "retry":
                self.retry_s = int(value) / 1000
        if data is None:
            return
        self.events[kind] += 1
        self.event_bytes[kind] += len(block.encode()) + 2
        self.on_event(kind, json.loads(data))

    # --- what assets/wall.js does with each event -------------------------

    def on_event(self, kind: str, d: dict) -> None:
        if kind == "version":
            self.versions += 1
        if kind == "hello" and not d.get("wall"):
            self.force = True
        if kind != "live" and d.get("wall"):
            self.change(d["wall"])
        if isinstance(d.get("v"), int) and (self.latest is None
                                            or d["v"] > self.latest):
            self.latest = d["v"]
        if isinstance(d.get("cast"), int):
            self.cast = d["cast"]
        self.request()

    def change(self, w: dict) -> None:
        if self.inflight:
            self.queue.append(w)
            return
        if w["base"] is not None and self.shown is not None and w["v"] <= self.shown:
            return
        if w["base"] is not None and (self.shown is None or w["base"] > self.shown):
            self.full = self.force = True
            return
        self.shown = self.applied = w["v"]

    def request(self) -> None:
        now = time.monotonic()
        if self.inflight and now - self.inflight_at < INFLIGHT_TIMEOUT_S:
            return
        behind = self.latest is not None and (self.applied is None
                                              or self.applied < self.latest)
        if not behind and not self.force:
            return
        self.inflight, self.inflight_at, self.force = True, now, False
        self.n += 1
        value = {"v": self.latest, "cast": self.cast, "n": self.n,
                 "shown": None if self.full else self.shown}
        self.full = False
        asyncio.get_running_loop().create_task(self.update(value))

    async def update(self, value: dict) -> None:
        dep = self.dependency
        states = {"wall-applied": None if self.applied is None else {
            "v": self.applied, "cast": self.cast, "n": self.n},
            "wall-site": self.site, "wall-lang": self.lang}
        body = json.dumps({
            "output": dep["output"], "outputs": _outputs(dep["output"]),
            "inputs": [{"id": "wall-request", "property": "data", "value": value}],
            "changedPropIds": ["wall-request.data"],
            "state": [{**s, "value": states.get(s["id"])} for s in dep["state"]],
        }).encode()
        self.updates += 1
        applied = None
        try:
            status, _, data = await self.fetch(
                "POST", "/_dash-update-component", body,
                {"Content-Type": "application/json"})
            if status == 200:
                applied = json.loads(data)["response"]["wall-applied"]["data"]["v"]
            else:
                self.update_errors += 1
        except (OSError, ValueError, KeyError):
            self.update_errors += 1
        self.inflight = False
        if applied:
            self.applied = self.shown = applied
        queue, self.queue = self.queue, []
        for w in queue:
            self.change(w)
        self.request()


def _outputs(output: str) -> list[dict]:
    """Dash's ``..id.prop...id.prop..`` as the renderer sends it."""
    found = []
    for part in output.strip(".").split("..."):
        cid, prop = part.rsplit(".", 1)
        found.append({"id": json.loads(cid) if cid.startswith("{") else cid,
                      "property": prop})
    return found


async def _read_head(reader: asyncio.StreamReader) -> tuple[int, dict]:
    raw = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
    lines = raw.split("\r\n")
    head = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = (x.strip() for x in line.split(":", 1))
            name = name.lower()
            head[name] = f"{head[name]}\n{value}" if name in head else value
    return int(lines[0].split()[1]), head


def _dechunk(data: bytes) -> bytes:
    out, at = [], 0
    while at < len(data):
        end = data.index(b"\r\n", at)
        size = int(data[at:end].split(b";")[0], 16)
        if size == 0:
            break
        out.append(data[end + 2:end + 2 + size])
        at = end + 2 + size + 2
    return b"".join(out)
