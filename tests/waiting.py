"""Waiting for something to happen, instead of sleeping for a fixed time."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def wait_until(check: Callable[[], T], timeout: float = 10.0, every: float = 0.02,
               what: str = "the condition",
               pause: Callable[[float], Any] = time.sleep) -> T:
    """Calls ``check`` until it returns something true, and returns that;
    fails the test with ``what`` after ``timeout`` seconds. ``pause`` waits
    ``every`` seconds between calls: :func:`on_page` for a Playwright page."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout:g} s for {what}")
        pause(every)


def on_page(page) -> Callable[[float], None]:
    """A ``pause`` for :func:`wait_until` that lets Playwright deliver the
    page's events (its sync API only runs handlers while it is called)."""
    return lambda seconds: page.wait_for_timeout(seconds * 1000)
