"""The gallery page over a real Redis (no worker; jobs are moved along through the JobStore): signed
links, escaping, failed and canceled scenes, signed pictures and the live stream."""

from __future__ import annotations

import io
import json
import re
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image

from api.gallery_links import GalleryLinks
from scene_weaver.images import ImageStore
from scene_weaver.jobs import JobStore

from .conftest import SECRET, login

pytestmark = pytest.mark.redis_server


def _png(width: int = 48, height: int = 32) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 120, 40)).save(out, "PNG")
    return out.getvalue()


def _submit(client: FlaskClient, headers: dict[str, str], speaker: str, entry_id: str) -> dict[str, Any]:
    response = client.post("/v1/process", headers=headers,
                           json={"speaker": speaker, "dialogue": [f"{speaker} speaks & <b>loud</b>"],
                                 "narration": "At the lighthouse.", "entry_id": entry_id})
    assert response.status_code == 202, response.get_data(as_text=True)
    return response.get_json()  # type: ignore[no-any-return]


def _succeed(app: Flask, store: JobStore, job_id: str) -> None:
    data = _png()
    sha = ImageStore(app.extensions["scene_weaver"].settings.image_store_dir).put(data, "image/png")
    store.mark_started(job_id)
    store.mark_generating(job_id, {"text": "a woven prompt about <lanterns>", "negative": "", "style": "manga"})
    store.succeed(job_id, {"sha256": sha, "mime_type": "image/png", "width": 48, "height": 32})


@pytest.fixture
def store(redis_client: redis.Redis) -> JobStore:
    return JobStore(redis_client)


def test_link_opens_the_page_without_a_token(client: FlaskClient, app: Flask, store: JobStore) -> None:
    job = _submit(client, login(client), "<script>alert(1)</script>", "0001")
    _succeed(app, store, job["job_id"])
    record = client.get(f"/v1/jobs/{job['job_id']}", headers=login(client)).get_json()
    page = client.get(record["links"]["gallery"])  # no Authorization header
    assert page.status_code == 200
    assert page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    # Escaped everywhere: the speaker is text, never a script.
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>alert" not in html
    assert "&lt;b&gt;loud&lt;/b&gt;" in html and "At the lighthouse." in html
    assert "a woven prompt about &lt;lanterns&gt;" in html and "<details class=\"prompt\">" in html
    # Only same-origin scripts and styles: the page carries no inline script at all.
    policy = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "'unsafe-inline'" not in policy
    assert re.findall(r"<script[^>]*>", html) == ['<script src="/v1/gallery/static/gallery.js" defer>']
    # The picture's link is signed too, and needs no token.
    image_url = re.search(r'<img src="([^"]+)"', html).group(1).replace("&amp;", "&")  # type: ignore[union-attr]
    image = client.get(image_url)
    assert image.status_code == 200 and image.mimetype == "image/png"
    assert Image.open(io.BytesIO(image.data)).size == (48, 32)
    # A finished page opens no event stream.
    assert 'data-events=""' in html
    for asset in ("gallery.js", "gallery.css"):
        assert client.get(f"/v1/gallery/static/{asset}").status_code == 200


def test_altered_expired_or_borrowed_links_are_403(client: FlaskClient, app: Flask) -> None:
    headers = login(client)
    first, second = _submit(client, headers, "Iris", "0001"), _submit(client, headers, "Tomas", "0002")
    link = first["links"]["gallery"]
    query = parse_qs(urlsplit(link).query)
    exp, sig = query["exp"][0], query["sig"][0]
    path = f"/v1/jobs/{first['job_id']}/gallery"
    cases = {
        "altered signature": f"{path}?exp={exp}&sig={sig[:-2]}AA",
        "extended expiry": f"{path}?exp={int(exp) + 86400}&sig={sig}",
        "another job's page": f"/v1/jobs/{second['job_id']}/gallery?exp={exp}&sig={sig}",
        "no signature": path,
        "garbage": f"{path}?exp=soon&sig=x",
        "a picture with a page's signature of another job": f"/v1/jobs/{second['job_id']}/gallery/image?exp={exp}&sig={sig}",
        "events of another job": f"/v1/jobs/{second['job_id']}/gallery/events?exp={exp}&sig={sig}",
    }
    for what, url in cases.items():
        response = client.get(url)
        assert response.status_code == 403, what
        assert response.get_json()["error"]["code"] == "gallery_link_invalid", what
    # A link signed with the right key whose time is up.
    past = GalleryLinks(SECRET, 60, clock=lambda: time.time() - 3600)
    grant = past.grant("job", first["job_id"])
    expired = client.get(path, query_string=grant.query(past))
    assert expired.status_code == 403
    assert expired.get_json()["error"]["code"] == "gallery_link_expired"
    # A bearer token is no gallery link.
    assert client.get(path, headers=headers).status_code == 403
    assert client.get(link).status_code == 200


def test_failed_and_canceled_scenes_show_as_such(client: FlaskClient, store: JobStore) -> None:
    headers = login(client)
    failed, canceled = _submit(client, headers, "Iris", "0001"), _submit(client, headers, "Tomas", "0002")
    store.mark_started(failed["job_id"])
    store.fail(failed["job_id"], "content_rejected", "Semantest refused the prompt")
    client.post(f"/v1/jobs/{canceled['job_id']}/cancel", headers=headers)
    failed_page = client.get(failed["links"]["gallery"]).get_data(as_text=True)
    assert 'data-status="failed"' in failed_page
    assert "content_rejected: Semantest refused the prompt" in failed_page and "<img" not in failed_page
    canceled_page = client.get(canceled["links"]["gallery"]).get_data(as_text=True)
    assert 'data-status="canceled"' in canceled_page and ">canceled<" in canceled_page


def _frames(body: str) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for block in body.split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line and not line.startswith(":"))
        if "event" in lines:
            found.append((lines["event"], json.loads(lines["data"])))
    return found


def test_event_stream_follows_the_job_to_its_end(client: FlaskClient, app: Flask, store: JobStore) -> None:
    job = _submit(client, login(client), "Iris", "0001")
    page = client.get(job["links"]["gallery"]).get_data(as_text=True)
    events_url = re.search(r'data-events="([^"]+)"', page).group(1).replace("&amp;", "&")  # type: ignore[union-attr]
    response = client.get(events_url)
    assert response.status_code == 200 and response.mimetype == "text/event-stream"
    chunks = iter(response.response)  # type: ignore[arg-type]
    assert next(chunks).startswith(b"retry:")
    _succeed(app, store, job["job_id"])  # while the stream waits
    body = b"".join(chunks).decode()
    frames = _frames(body)
    assert frames[-1] == ("done", {"counts": {"succeeded": 1}})
    final = [data for event, data in frames if event == "item"][-1]
    assert final["status"] == "succeeded" and final["prompt"] == "a woven prompt about <lanterns>"
    assert client.get(final["image_url"]).status_code == 200


class _Batches:
    """A stand-in BatchStore (the batch engineer's ``svc.batches``): its record and item ids."""

    def __init__(self, owner: str, job_ids: list[str]) -> None:
        self.owner, self.job_ids = owner, job_ids

    def get(self, batch_id: str) -> dict[str, Any] | None:
        return {"batch_id": batch_id, "owner": self.owner, "status": "in_progress"} if batch_id == "b1" else None

    def item_ids(self, batch_id: str, start: int = 0, stop: int = -1) -> list[str]:
        return self.job_ids[start:None if stop == -1 else stop + 1]


def test_batch_gallery_in_script_order(client: FlaskClient, app: Flask, store: JobStore) -> None:
    headers = login(client)
    jobs = [_submit(client, headers, speaker, f"{n:04d}") for n, speaker in
            enumerate(["Iris", "Tomas", "Architect", "<script>"], start=1)]
    ids = [job["job_id"] for job in jobs]
    _succeed(app, store, ids[0])
    _succeed(app, store, ids[2])
    store.mark_started(ids[1])
    store.fail(ids[1], "content_rejected", "no")
    app.extensions["scene_weaver"].batches = _Batches("demo", ids)
    links = GalleryLinks(SECRET, 600)
    refused = client.get("/v1/batches/b1/gallery", query_string={"exp": "1", "sig": "x"})
    assert refused.status_code == 403
    missing = client.get("/v1/batches/b2/gallery", query_string=links.grant("batch", "b2").query(links))
    assert missing.status_code == 404 and missing.get_json()["error"]["code"] == "batch_not_found"

    page = client.get("/v1/batches/b1/gallery", query_string=links.grant("batch", "b1").query(links))
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert re.findall(r'data-job="([0-9a-f]+)"', html) == ids
    assert re.findall(r'data-status="([a-z_]+)"', html) == ["succeeded", "failed", "succeeded", "queued"]
    assert "&lt;script&gt;" in html
    assert "3 of 4 finished" in html
    for url in re.findall(r'<img src="([^"]+)"', html):
        assert client.get(url.replace("&amp;", "&")).status_code == 200
    events = re.search(r'data-events="([^"]+)"', html).group(1).replace("&amp;", "&")  # type: ignore[union-attr]
    response = client.get(events)
    chunks = iter(response.response)  # type: ignore[arg-type]
    first = b""
    while b"event: item" not in first or first.count(b"event: item") < 3:
        first += next(chunks)
    client.post(f"/v1/jobs/{ids[3]}/cancel", headers=headers)
    frames = _frames(first.decode() + b"".join(chunks).decode())
    items = [data for event, data in frames if event == "item"]
    # The snapshot (every scene past queued, in order), then the change, then done.
    assert [(item["index"], item["status"]) for item in items] == [
        (0, "succeeded"), (1, "failed"), (2, "succeeded"), (3, "canceled")]
    assert items[1]["error"] == {"code": "content_rejected", "message": "no"}
    assert frames[-1][0] == "done"
    assert frames[-1][1]["counts"] == {"succeeded": 2, "failed": 1, "canceled": 1}
