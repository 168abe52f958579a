"""Reports from the phone: ``POST /api/v1/sites/<site>/reports``.

The phone makes the incident UUID and keeps the report in its own storage
until this route answers, so a flaky connection loses nothing and a retry
changes nothing (a second report of the same id is ignored by the
aggregator). A photo comes as a data URL, is checked for size and type by its
first bytes (not by what the browser claims) and is stored under the data
directory with a name the server makes.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from pathlib import Path

from flask import Blueprint, jsonify, request, send_from_directory

from data.contract import Rejected, is_incident_id
from data.incidents import Refused
from data.ops import submit_report
from web.auth import log
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


def store_photo(site_id: str, incident_id: str, data_url: str) -> str:
    """Check and store one photo; returns its file name. Raises ValueError."""
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
    folder = photo_dir(site_id)
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{incident_id}.{ext}"
    tmp = folder / f".{name}.tmp"
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, folder / name)
    return name


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
    if body.get("photo"):
        try:
            values["photo"] = store_photo(site_id, incident_id, str(body["photo"]))
        except ValueError as exc:
            return _error(400, str(exc), "photo")
    try:
        submit_report(state.redis, state.keys(site_id), site, user, values)
    except (Rejected, Refused) as exc:
        log("report", f"{site_id}/{incident_id}", "refused", str(exc))
        match = re.search(r"field '(\w+)'", str(exc))
        return _error(400, str(exc), match.group(1) if match else None)
    log("report", f"{site_id}/{incident_id}", detail=values.get("title", ""))
    return jsonify({"id": incident_id, "accepted": True}), 202


@reports.get("/photos/<site_id>/<name>")
def photo(site_id: str, name: str):
    if site_id not in app_state().sites or not re.match(r"^[A-Za-z0-9-]+\.\w+$",
                                                         name):
        return _error(404, "no such photo")
    return send_from_directory(photo_dir(site_id), name, max_age=3600)
