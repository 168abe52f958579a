"""Flask's JSON provider, with a body too deeply nested counted as bad JSON.

``json.loads`` of ``[[[[…]]]]`` nested some thousands deep raises
RecursionError, which is not a ValueError, so Flask's ``request.get_json``
(even with ``silent=True``) lets it through as a 500 — on any route that reads
JSON, including Dash's ``/_dash-update-component`` before anyone has signed
in. As a ValueError it becomes the 400 (or the silent None) it should be.
"""

from __future__ import annotations

from typing import Any

from flask.json.provider import DefaultJSONProvider


class BoundedJSONProvider(DefaultJSONProvider):
    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        try:
            return super().loads(s, **kwargs)
        except RecursionError:
            raise ValueError("JSON nested too deeply") from None
