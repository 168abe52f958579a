"""Incident photos: the one name pattern the app gives a stored photo.

A report's photo is stored as ``<incident id>.<jpg|png|webp>`` by
:mod:`web.reports`; a feed producer may write any id-like text in the
``photo`` field, so a screen shows a photo only when the value is a name of
this pattern (never ``../x``, ``a/b`` or a URL, which the browser would
fetch from this origin with the viewer's cookies).
"""

from __future__ import annotations

import re

PHOTO_EXTENSIONS = ("jpg", "png", "webp")
# the incident's UUID (the feed contract's id) and one of the extensions
PHOTO_NAME = re.compile(r"^[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}"
                        r"\.(?:jpg|png|webp)$")


def is_photo_name(value: object) -> bool:
    """Whether ``value`` is the name of a photo this app stored."""
    return isinstance(value, str) and PHOTO_NAME.fullmatch(value) is not None


def photo_url(site_id: str, value: object) -> str | None:
    """The app's URL of a stored photo, or None for any other value."""
    return f"/photos/{site_id}/{value}" if is_photo_name(value) else None
