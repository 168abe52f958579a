"""Static chart export: one long-lived headless Chromium per web process.

kaleido (v1) drives the system Chromium over the DevTools protocol. Starting a
browser costs seconds, so a process keeps one: :func:`renderer` starts it on
first use and every export after that reuses its tabs.

Two things kaleido's own ``start_sync_server`` does not give us, and why this
module exists: it hands one queue to every caller with no lock (two Flask
threads exporting at once could swap their results), and after every image it
reloads the tab's page, plotly.js included, before returning (about 0.35 s per
export). Here the browser runs on an event loop of its own thread, callers
submit with ``run_coroutine_threadsafe`` (thread-safe, several tabs in
parallel), and a used tab goes back to work at once; it is reloaded now and
then in the background to keep its memory in check. MathJax is off (it would
be fetched from a CDN) and plotly.js comes from the installed plotly package,
so nothing is downloaded.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import os
import shutil
import threading
from typing import Any

import plotly.graph_objects as go
from kaleido import Kaleido

log = logging.getLogger(__name__)

RELOAD_EVERY = 200  # images per tab between two reloads of its page
START_TIMEOUT_S = 60.0
RENDER_TIMEOUT_S = 30.0


class RenderError(RuntimeError):
    """The browser could not render a figure (missing, crashed or too slow)."""


def browser_path() -> str | None:
    """``GOV_CHROMIUM`` when it is set (None if nothing is there: the one
    asked for, or none), else the Chromium or Chrome found on the PATH."""
    chosen = os.environ.get("GOV_CHROMIUM")
    if chosen:
        return chosen if os.path.exists(chosen) else None
    for candidate in (shutil.which("chromium"), shutil.which("chromium-browser"),
                      shutil.which("google-chrome")):
        if candidate:
            return candidate
    return None


class _ReusingKaleido(Kaleido):
    """Kaleido whose tabs go back to work without reloading plotly.js each time.

    kaleido renders with ``Plotly.toImage`` on a detached div that it purges, so
    nothing of one figure is left for the next; the periodic reload only bounds
    the page's memory.
    """

    async def _return_kaleido_tab(self, tab: Any) -> None:
        tab.uses = getattr(tab, "uses", 0) + 1
        if tab.uses % RELOAD_EVERY:
            await self.tabs_ready.put(tab)
            return

        async def reload_then_return() -> None:
            try:
                await tab.reload()
            finally:
                await self.tabs_ready.put(tab)

        asyncio.get_running_loop().create_task(reload_then_return())


class Renderer:
    """Renders plotly figures to PNG, SVG or PDF bytes; safe to share by threads."""

    def __init__(self, path: str | None = None, tabs: int = 2) -> None:
        self.path, self.tabs = path or browser_path(), tabs
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._kaleido: _ReusingKaleido | None = None

    @property
    def running(self) -> bool:
        return self._kaleido is not None

    def start(self) -> Renderer:
        """Start the browser now (it otherwise starts on the first render)."""
        with self._lock:
            if self._kaleido is not None:
                return self
            if self.path is None:
                raise RenderError("no Chromium found: install Debian's chromium "
                                  "or set GOV_CHROMIUM")
            loop = asyncio.new_event_loop()
            thread = threading.Thread(target=loop.run_forever, name="renderer",
                                      daemon=True)
            thread.start()
            kaleido = _ReusingKaleido(n=self.tabs, mathjax=False, path=self.path,
                                      timeout=RENDER_TIMEOUT_S)
            try:
                asyncio.run_coroutine_threadsafe(kaleido.open(), loop).result(
                    START_TIMEOUT_S)
            except Exception as exc:
                loop.call_soon_threadsafe(loop.stop)
                raise RenderError(f"could not start Chromium: {exc}") from exc
            self._loop, self._thread, self._kaleido = loop, thread, kaleido
            log.info("renderer: Chromium started (%s, %d tabs)", self.path, self.tabs)
        return self

    def render(self, fig: go.Figure | dict, fmt: str, width: int, height: int,
               scale: float = 1.0) -> bytes:
        """The figure as ``fmt`` (png, svg or pdf) bytes; raises RenderError."""
        if fmt not in ("png", "svg", "pdf"):
            raise ValueError(f"cannot render {fmt!r}")
        self.start()
        kaleido, loop = self._kaleido, self._loop
        assert kaleido is not None and loop is not None
        opts = {"format": fmt, "width": width, "height": height, "scale": scale}
        future = asyncio.run_coroutine_threadsafe(kaleido.calc_fig(fig, opts=opts),
                                                  loop)
        try:
            return future.result(RENDER_TIMEOUT_S + 5)
        except Exception as exc:
            future.cancel()
            log.warning("renderer: %s failed (%s); restarting the browser", fmt, exc)
            self.close()
            raise RenderError(f"rendering {fmt} failed: {exc}") from exc

    def close(self) -> None:
        """Stop the browser; the next render starts a new one."""
        with self._lock:
            kaleido, loop, thread = self._kaleido, self._loop, self._thread
            self._kaleido = self._loop = self._thread = None
        if kaleido is None or loop is None:
            return
        try:
            asyncio.run_coroutine_threadsafe(kaleido.close(), loop).result(10)
        except Exception as exc:  # a dead browser still has to let go
            log.warning("renderer: closing Chromium: %s", exc)
        loop.call_soon_threadsafe(loop.stop)
        if thread is not None:
            thread.join(timeout=5)


_shared: Renderer | None = None
_shared_lock = threading.Lock()


def renderer() -> Renderer:
    """This process's renderer (one browser for every export)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = Renderer()
            atexit.register(_shared.close)
        return _shared
