"""Reports from the phone: the photo is evidence, written once, kept private."""

from __future__ import annotations

import base64

from tests.auth import sign_in_client

JPEG_A = b"\xff\xd8\xff\xe0" + b"first photo" * 10
JPEG_B = b"\xff\xd8\xff\xe0" + b"second photo" * 10
ID = "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0"


def data_url(data: bytes) -> str:
    return "data:image/jpeg;base64," + base64.b64encode(data).decode()


def as_user(app, name: str):
    client = app.server.test_client()
    sign_in_client(client, name)
    return client


def post(client, photo: bytes, **over):
    body = {"id": ID, "category": "sanitation", "level": "2", "title": "垃圾",
            "grid": "G1", "photo": data_url(photo), **over}
    return client.post("/api/v1/sites/tiny/reports", json=body)


def photo_files(tmp_path) -> list[str]:
    folder = tmp_path / "photos" / "tiny"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_a_second_report_of_an_id_never_replaces_its_photo(app, tmp_path):
    w1, w2 = as_user(app, "w1"), as_user(app, "w2")
    assert post(w1, JPEG_A).status_code == 202
    assert post(w2, JPEG_B, title="另一个").status_code in (202, 400)
    assert post(w1, JPEG_B).status_code == 202  # a retry with another photo
    got = as_user(app, "sup").get(f"/photos/tiny/{ID}.jpg")
    assert got.status_code == 200 and got.data == JPEG_A
    assert [n for n in photo_files(tmp_path) if not n.startswith(".")] \
        == [f"{ID}.jpg"]


def test_a_refused_report_leaves_no_photo_on_disk(app, tmp_path):
    w1 = as_user(app, "w1")
    refused = post(w1, JPEG_A, category="no-such-category")
    assert refused.status_code == 400
    assert photo_files(tmp_path) == []
    assert post(w1, JPEG_B).status_code == 202  # the id is still free
    got = as_user(app, "sup").get(f"/photos/tiny/{ID}.jpg")
    assert got.data == JPEG_B


def test_a_photo_is_served_private_never_public(app):
    w1 = as_user(app, "w1")
    assert post(w1, JPEG_A).status_code == 202
    got = w1.get(f"/photos/tiny/{ID}.jpg")
    cache = got.headers["Cache-Control"]
    assert "private" in cache and "public" not in cache
