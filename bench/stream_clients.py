"""Idle event-stream clients for ``bench/streams.py``: thousands of walls'
streams in one process of their own, so that the client side is never what
limits the web process measured.

Each client opens ``/events/<site>?wall=zh`` with a kiosk cookie over a raw
non-blocking socket (HTTP/1.0: the body is the stream itself, no chunk
framing). One ``epoll`` loop reads every socket that has data; the time of an
arrival is the moment ``epoll`` returned with it, taken once for all the
sockets it returned (at or after the bytes came, never before), so what the
loop does with one socket's bytes is not charged to the next one's. Per
stream it keeps the time its ``hello`` came and, for every ``hello`` and
``version`` event, the version it carries and when it arrived (epoch ms);
and it counts the events of each kind. This loop costs a few microseconds a
socket and event, a tenth of asyncio's streams (which this module used
before, and which made the clients, sharing the machine's two cores with the
web process, part of what was measured). The parent asks over a pipe:
``open`` (more streams), ``arrivals``, ``counts``, ``per_stream`` (each
stream's version events and whether it is held), ``bytes`` (event bytes by
kind, wire bytes), ``stop``.
"""

from __future__ import annotations

import multiprocessing
import re
import select
import socket
import time

VERSION = re.compile(rb'"v":(\d+)')  # the first "v" of a body is the event's
BATCH = 200  # streams opened at once
READ = 1 << 18


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
    Loop(conn, host, port, site).run()


class Stream:
    """One wall's event stream: its socket and what came over it."""

    __slots__ = ("sock", "request", "buffer", "headers_done", "hello_at", "error",
                 "arrivals", "counts", "event_start", "wire_bytes", "event_bytes")

    def __init__(self, host: str, port: int, site: str, token: str) -> None:
        self.request = (f"GET /events/{site}?wall=zh HTTP/1.0\r\n"
                        f"Host: {host}:{port}\r\nAccept: text/event-stream\r\n"
                        f"Cookie: gov_kiosk={token}\r\n\r\n").encode()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.buffer = bytearray()
        self.headers_done = False
        self.hello_at: float | None = None
        self.error: str | None = None
        self.arrivals: list[tuple[int, float]] = []  # (version, epoch ms)
        self.counts: dict[bytes, int] = {}
        self.event_bytes: dict[bytes, int] = {}
        self.wire_bytes = 0

    @property
    def held(self) -> bool:
        """Said hello and still open."""
        return self.hello_at is not None and self.error is None

    def connect(self, host: str, port: int) -> None:
        self.sock.connect((host, port))  # on loopback: at once
        self.sock.sendall(self.request)
        self.sock.setblocking(False)

    def took(self, data: bytes, now: float) -> None:
        """``data`` arrived at ``now``: note each event it completes."""
        self.wire_bytes += len(data)
        self.buffer += data
        if not self.headers_done:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            status = bytes(self.buffer[:self.buffer.find(b"\r\n")])
            if b" 200 " not in status:
                self.error = status.decode(errors="replace").strip() or "closed"
                return
            del self.buffer[:end + 4]
            self.headers_done = True
        start = 0
        while (end := self.buffer.find(b"\n\n", start)) >= 0:
            self._event(bytes(self.buffer[start:end]), now)
            start = end + 2
        if start:
            del self.buffer[:start]

    def _event(self, text: bytes, now: float) -> None:
        kind = b""
        if text.startswith(b"event:"):
            kind = text[6:text.find(b"\n")].strip() if b"\n" in text else b""
        self.counts[kind] = self.counts.get(kind, 0) + 1
        self.event_bytes[kind] = self.event_bytes.get(kind, 0) + len(text) + 2
        if kind in (b"hello", b"version"):
            if kind == b"hello":
                self.hello_at = now
            found = VERSION.search(text, 0, 400 + text.find(b"data:"))
            if found:
                self.arrivals.append((int(found.group(1)), now))


class Loop:
    """The one loop of the client process: streams and the parent's pipe."""

    def __init__(self, conn, host: str, port: int, site: str) -> None:
        self.conn, self.host, self.port, self.site = conn, host, port, site
        self.poll = select.epoll()
        self.poll.register(conn.fileno(), select.EPOLLIN)
        self.streams: dict[int, Stream] = {}  # fd -> stream
        self.every: list[Stream] = []

    def run(self) -> None:
        while True:
            command = self.conn.recv() if self.conn.poll(0) else None
            if command is None:
                self.pump(1.0, until_command=True)
                continue
            try:
                if command[0] == "open":  # ("open", tokens per stream, patience s)
                    self.conn.send(self.open(*command[1:]))
                elif command[0] == "arrivals":
                    self.conn.send([s.arrivals for s in self.every if s.held])
                elif command[0] == "counts":
                    totals: dict[str, int] = {}
                    for stream in self.every:
                        for kind, n in stream.counts.items():
                            name = kind.decode() or "other"
                            totals[name] = totals.get(name, 0) + n
                    self.conn.send(totals)
                elif command[0] == "per_stream":
                    self.conn.send([[s.counts.get(b"version", 0), 0,
                                     1 if s.held else -1] for s in self.every])
                elif command[0] == "bytes":
                    by_kind: dict[str, int] = {}
                    for stream in self.every:
                        for kind, n in stream.event_bytes.items():
                            name = kind.decode() or "other"
                            by_kind[name] = by_kind.get(name, 0) + n
                    self.conn.send({"event_bytes": by_kind, "wire_bytes": sum(
                        s.wire_bytes for s in self.every)})
                elif command[0] == "stop":
                    for stream in self.every:
                        stream.sock.close()
                    self.conn.send("stopped")
                    return
            except Exception as exc:  # noqa: BLE001  (handed to the parent)
                self.conn.send(exc)

    def pump(self, timeout: float, until_command: bool = False) -> None:
        """Read what has come, for up to ``timeout`` s (or until the parent
        asks something)."""
        deadline = time.monotonic() + timeout
        pipe = self.conn.fileno()
        while (left := deadline - time.monotonic()) > 0:
            ready = self.poll.poll(left)
            now = time.time() * 1000
            for fd, _ in ready:
                if fd == pipe:
                    if until_command:
                        return
                    continue
                stream = self.streams.get(fd)
                if stream is None:
                    continue
                try:
                    data = stream.sock.recv(READ)
                except BlockingIOError:
                    continue
                except OSError as exc:
                    data, stream.error = b"", type(exc).__name__
                if data:
                    stream.took(data, now)
                if not data or stream.error:
                    stream.error = stream.error or "ended"
                    self.poll.unregister(fd)
                    del self.streams[fd]
                    stream.sock.close()
            if not ready and not until_command:
                return

    def open(self, tokens: list[str], patience: float) -> dict:
        """Opens a stream per token, ``BATCH`` at a time; stops early when a
        batch gets no ``hello`` within ``patience`` s (the server holds no
        more)."""
        started = time.monotonic()
        for first in range(0, len(tokens), BATCH):
            batch = [Stream(self.host, self.port, self.site, t)
                     for t in tokens[first:first + BATCH]]
            for stream in batch:
                self.every.append(stream)
                try:
                    stream.connect(self.host, self.port)
                except OSError as exc:
                    stream.error = type(exc).__name__
                    stream.sock.close()
                    continue
                self.streams[stream.sock.fileno()] = stream
                self.poll.register(stream.sock.fileno(), select.EPOLLIN)
            deadline = time.monotonic() + patience
            while (any(s.hello_at is None and s.error is None for s in batch)
                   and time.monotonic() < deadline):
                self.pump(0.05)
            if not any(s.hello_at for s in batch):
                break
        errors: dict[str, int] = {}
        for stream in self.every:
            if stream.error:
                errors[stream.error] = errors.get(stream.error, 0) + 1
        return {"asked": len(tokens), "opened": len(self.every),
                "held": sum(1 for s in self.every if s.held), "errors": errors,
                "seconds": round(time.monotonic() - started, 1)}
