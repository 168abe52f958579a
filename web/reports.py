"""Reports from the phone: ``POST /api/v1/sites/<site>/reports``.

The phone makes the incident UUID and keeps the report in its own storage
until this route answers, so a flaky connection loses nothing and a retry
changes nothing (a second report of the same id is ignored by the
aggregator). A photo comes as a data URL, is checked for size and type by its
first bytes (not by what the browser claims) and is stored under the data
directory with a name the server makes. A photo belongs to the first accepted
report of its id and is never replaced (:class:`PhotoSlot`); a refused
report leaves nothing on disk; photos are served ``Cache-Control: private``.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import secrets
from pathlib import Path

from flask import Blueprint, jsonify, request, send_from_directory

from data.feed.contract import Rejected, is_incident_id
from data.incidents.lifecycle import Refused
from data.incidents.ops import submit_report
from data.incidents.store import read_incident
from data.photos import is_photo_name
from web.auth import audit_log
from web.identity import current_user
from web.state import app_state

MAX_PHOTO_BYTES = 5 * 1024 * 1024
PHOTO_TYPES = {b"\xff\xd8\xff": "jpg", b"\x89PNG\r\n\x1a\n": "png"}
_DATA_URL = re.compile(r"^data:image/[a-z+.-]+;base64,", re.IGNORECASE)
FIELDS = ("category", "level", "title", "detail", "grid", "lat", "lon")

reports = Blueprint("reports", __name__)


def photo_dir(site_id: str) -> Path:
    return app_state().config.data_dir / "photos" / site_id


def photo_type(data: bytes) -> str | None:
    for magic, ext in PHOTO_TYPES.items():
        if data.startswith(magic):
            return ext
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


def check_photo(data_url: str) -> tuple[bytes, str]:
    """The bytes and file type of a photo data URL. Raises ValueError."""
    if not _DATA_URL.match(data_url):
        raise ValueError("photo: expected a JPEG, PNG or WebP image")
    try:
        data = base64.b64decode(data_url.split(",", 1)[1], validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("photo: the image data is damaged") from None
    if len(data) > MAX_PHOTO_BYTES:
        raise ValueError(f"photo: {len(data) // 1024} KiB is over the "
                         f"{MAX_PHOTO_BYTES // 1024 // 1024} MiB limit")
    ext = photo_type(data)
    if ext is None:
        raise ValueError("photo: expected a JPEG, PNG or WebP image")
    return data, ext


class PhotoSlot:
    """The one photo of an incident id, written once and never replaced.

    :meth:`claim` creates ``.<id>.claim`` with ``O_EXCL``: of two reports of
    one id (a retry, a second phone, a forged re-post), only the first gets
    the slot; the others store nothing. :meth:`put` links the photo into
    place (``link`` fails rather than overwrite); :meth:`release` removes
    what this report wrote, when the report is refused.
    """

    def __init__(self, site_id: str, incident_id: str, ext: str) -> None:
        self.folder = photo_dir(site_id)
        self.name = f"{incident_id}.{ext}"
        self.marker = self.folder / f".{incident_id}.claim"
        self.placed = False

    def claim(self) -> bool:
        self.folder.mkdir(parents=True, exist_ok=True)
        try:
            os.close(os.open(self.marker, os.O_WRONLY | os.O_CREAT | os.O_EXCL,
                             0o600))
        except FileExistsError:
            return False
        return True

    def put(self, data: bytes) -> None:
        tmp = self.folder / f".{self.name}.{secrets.token_hex(8)}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.link(tmp, self.folder / self.name)  # never over an existing one
            self.placed = True
        finally:
            tmp.unlink(missing_ok=True)

    def release(self) -> None:
        if self.placed:
            (self.folder / self.name).unlink(missing_ok=True)
        self.marker.unlink(missing_ok=True)


def _error(status: int, message: str, field: str | None = None):
    return jsonify({"error": message, "field": field, "status": status}), status


@reports.post("/api/v1/sites/<site_id>/reports")
def report(site_id: str):
    state = app_state()
    site = state.sites.get(site_id)
    if site is None:
        return _error(404, f"site {site_id!r} is not served here")
    user = current_user(site)
    if user is None:
        return _error(401, "sign in first")
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return _error(400, "expected a JSON object")
    incident_id = str(body.get("id", ""))
    if not is_incident_id(incident_id):
        return _error(400, "id: expected the report's UUID", "id")
    values = {k: str(body[k]).strip() for k in FIELDS
              if body.get(k) not in (None, "")}
    values.update(id=incident_id, reporter=user.name, phone=user.phone,
                  channel="patrol" if user.role in ("worker", "supervisor")
                  else "resident")
    slot = None
    if body.get("photo"):
        try:
            data, ext = check_photo(str(body["photo"]))
        except ValueError as exc:
            return _error(400, str(exc), "photo")
        keys = state.keys(site_id)
        slot = PhotoSlot(site_id, incident_id, ext)
        if read_incident(state.redis, keys, incident_id) is None and slot.claim():
            try:
                slot.put(data)
            except OSError:
                slot.release()
                raise
            values["photo"] = slot.name
        else:  # a later report of a known id: its photo stays the first one
            slot = None
    try:
        submit_report(state.redis, state.keys(site_id), site, user, values)
    except (Rejected, Refused) as exc:
        if slot is not None:
            slot.release()  # nothing of a refused report stays on disk
        audit_log("report", f"{site_id}/{incident_id}", "refused", str(exc))
        match = re.search(r"field '(\w+)'", str(exc))
        return _error(400, str(exc), match.group(1) if match else None)
    audit_log("report", f"{site_id}/{incident_id}", detail=values.get("title", ""))
    return jsonify({"id": incident_id, "accepted": True}), 202


@reports.get("/photos/<site_id>/<name>")
def photo(site_id: str, name: str):
    if site_id not in app_state().sites or not is_photo_name(name):
        return _error(404, "no such photo")
    response = send_from_directory(photo_dir(site_id), name, max_age=3600)
    # a photo of a scene may show people: the browser may keep it, no proxy may
    response.cache_control.public = False
    response.cache_control.private = True
    return response
