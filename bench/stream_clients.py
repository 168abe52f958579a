"""Idle event-stream clients for ``bench/streams.py``: thousands of walls'
streams as asyncio tasks in one process of their own, so that the client side
is never what limits the web process measured.

Each client opens ``/events/<site>?wall=zh`` with a kiosk cookie over a raw
asyncio socket (HTTP/1.0: the body is the stream itself, no chunk framing),
notes when its ``hello`` came and, for every ``hello`` and ``version`` event,
the version it carries and when it arrived (epoch ms). The parent asks over a
pipe: ``open`` (more streams), ``arrivals``, ``stop``.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import re
import time

VERSION = re.compile(rb'"v":(\d+)')  # the first "v" of a body is the event's
BATCH = 200  # streams opened at once


class Clients:
    """The client process (see the module)."""

    def __init__(self, host: str, port: int, site: str) -> None:
        ctx = multiprocessing.get_context("spawn")  # the parent has threads
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_main, args=(child, host, port, site),
                                   daemon=True, name="stream-clients")
        self.process.start()

    @property
    def pid(self) -> int:
        return self.process.pid

    def ask(self, *command, timeout: float = 600):
        self.conn.send(command)
        if not self.conn.poll(timeout):
            raise RuntimeError(f"stream clients did not answer {command[0]!r}")
        answer = self.conn.recv()
        if isinstance(answer, Exception):
            raise answer
        return answer

    def close(self) -> None:
        if self.process.is_alive():
            try:
                self.ask("stop", timeout=20)
            except (OSError, EOFError, RuntimeError):
                pass
        self.process.join(5)
        if self.process.is_alive():
            self.process.kill()


def _main(conn, host: str, port: int, site: str) -> None:
    from web.fdlimit import raise_open_files_limit

    raise_open_files_limit()  # a socket per stream here too
    asyncio.run(_serve(conn, host, port, site))


async def _serve(conn, host: str, port: int, site: str) -> None:
    loop = asyncio.get_running_loop()
    streams: list[Stream] = []
    while True:
        command = await loop.run_in_executor(None, conn.recv)
        try:
            if command[0] == "open":  # ("open", tokens per stream, patience s)
                conn.send(await _open(streams, host, port, site, *command[1:]))
            elif command[0] == "arrivals":
                conn.send([s.arrivals for s in streams if s.held])
            elif command[0] == "stop":
                for stream in streams:
                    stream.task.cancel()
                conn.send("stopped")
                return
        except Exception as exc:  # noqa: BLE001  (handed to the parent)
            conn.send(exc)


async def _open(streams: list, host: str, port: int, site: str,
                tokens: list[str], patience: float) -> dict:
    """Opens a stream per token, ``BATCH`` at a time; stops early when a
    batch gets no ``hello`` within ``patience`` s (the server holds no more)."""
    started = time.monotonic()
    for first in range(0, len(tokens), BATCH):
        batch = [Stream(host, port, site, t) for t in tokens[first:first + BATCH]]
        streams += batch
        for stream in batch:
            stream.task = asyncio.create_task(stream.run())
        deadline = time.monotonic() + patience
        while (any(s.hello_at is None and s.error is None for s in batch)
               and time.monotonic() < deadline):
            await asyncio.sleep(0.05)
        if not any(s.hello_at for s in batch):
            break
    errors: dict[str, int] = {}
    for stream in streams:
        if stream.error:
            errors[stream.error] = errors.get(stream.error, 0) + 1
    return {"asked": len(tokens), "opened": len(streams),
            "held": sum(1 for s in streams if s.held), "errors": errors,
            "seconds": round(time.monotonic() - started, 1)}


class Stream:
    """One wall's event stream."""

    def __init__(self, host: str, port: int, site: str, token: str) -> None:
        self.host, self.port = host, port
        self.request = (f"GET /events/{site}?wall=zh HTTP/1.0\r\n"
                        f"Host: {host}:{port}\r\nAccept: text/event-stream\r\n"
                        f"Cookie: gov_kiosk={token}\r\n\r\n").encode()
        self.hello_at: float | None = None
        self.error: str | None = None
        self.arrivals: list[tuple[int, float]] = []  # (version, epoch ms)
        self.task: asyncio.Task | None = None

    @property
    def held(self) -> bool:
        """Said hello and still open."""
        return self.hello_at is not None and self.error is None

    async def run(self) -> None:
        try:
            reader, writer = await asyncio.open_connection(
                self.host, self.port, limit=2**22)
            writer.write(self.request)
            status = await reader.readline()
            if b" 200 " not in status:
                self.error = status.decode(errors="replace").strip() or "closed"
                return
            while (await reader.readline()).strip():  # the headers
                pass
            event = b""
            while line := await reader.readline():
                if line.startswith(b"event:"):
                    event = line[6:].strip()
                elif line.startswith(b"data:") and event in (b"hello", b"version"):
                    now = time.time() * 1000
                    found = VERSION.search(line)
                    if event == b"hello":
                        self.hello_at = now
                    if found:
                        self.arrivals.append((int(found.group(1)), now))
            self.error = self.error or "ended"
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
            self.error = type(exc).__name__
