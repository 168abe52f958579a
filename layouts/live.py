"""What the server tells the pages' live scripts (assets/live.js, push.js,
wall.js) about itself: its build, and how often it speaks.

Made by the factory from the web tier's and the aggregator's own constants
and handed to the layouts, which put it on the page's root element as data
attributes: the scripts read the numbers there instead of copying them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LiveLink:
    build: str  # a page from another build reloads (the "hello" event)
    ping_ms: int  # the event stream's ping: silent twice as long is down
    heartbeat_ms: int  # the aggregator publishes at least this often

    def attrs(self) -> dict[str, str]:
        """The root element's data attributes for the scripts."""
        return {"data-build": self.build, "data-ping-ms": str(self.ping_ms),
                "data-heartbeat-ms": str(self.heartbeat_ms)}
