"""The gallery in headless Chromium against a real stack: every picture loads, in script order, a
speaker named <script> is text, the page fills in live as a job finishes, an altered link is 403."""

from __future__ import annotations

import io
import time
from pathlib import Path
from typing import Any

import pytest
import redis
import requests
from PIL import Image

from api.gallery_links import GalleryLinks
from scene_weaver.images import ImageStore
from scene_weaver.jobs import JobStore
from scene_weaver.models import Scene
from tests.support.browser import ARTIFACTS, open_page

from .processes import wait_until
from .stack import JWT_SECRET, Stack

pytestmark = pytest.mark.e2e

_IMAGES = "() => Array.from(document.images).map(img => [img.complete, img.naturalWidth])"


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _finished(stack: Stack, token: str, job_id: str) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        job = requests.get(f"{stack.base}/v1/jobs/{job_id}", headers=_auth(token), timeout=10).json()
        return job if job["status"] in ("succeeded", "failed", "canceled") else None

    return wait_until(done, 90, what=f"job {job_id} to finish")


def _screenshot(page: Any, name: str, tmp_path: Path) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=True)
    (tmp_path / name).write_bytes(path.read_bytes())
    shot = Image.open(path)
    assert shot.size[0] >= 600 and len(shot.convert("RGB").getcolors(1 << 20) or []) > 16
    return path


def test_finished_job_gallery_shows_its_picture(stack: Stack, tmp_path: Path) -> None:
    token = stack.login()
    job_id = requests.post(f"{stack.base}/v1/process", headers=_auth(token), timeout=10, json={
        "speaker": "<script>", "dialogue": ["Is this <b>bold</b>?"], "entry_id": "0042", "priority": "high",
        "narration": "Iris sits on the lighthouse stairs at night, holding a lantern."}).json()["job_id"]
    job = _finished(stack, token, job_id)
    assert job["status"] == "succeeded", job
    link = stack.base + job["links"]["gallery"]
    with open_page() as page:
        dialogs: list[str] = []
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        response = page.goto(link)
        assert response is not None and response.status == 200
        page.wait_for_function("() => Array.from(document.images).every(img => img.complete)")
        images = page.evaluate(_IMAGES)
        assert images and all(complete and width > 0 for complete, width in images), images
        assert page.text_content(".speaker") == "<script>"
        assert page.text_content(".entry-id") == "0042"
        assert page.text_content(".lines p") == "Is this <b>bold</b>?"
        assert page.locator("details.prompt").get_attribute("open") is None  # folded
        assert "lighthouse" in (page.text_content("details.prompt p") or "").lower()
        assert page.text_content("#summary") == "1 of 1 finished · 1 succeeded"
        assert dialogs == []
        _screenshot(page, "gallery-job.png", tmp_path)

    altered = requests.get(link.replace("sig=", "sig=x"), timeout=10)
    assert altered.status_code == 403
    assert altered.json()["error"]["code"] == "gallery_link_invalid"


def test_gallery_fills_in_live(stack: Stack, tmp_path: Path) -> None:
    """A job the test moves along itself (no worker takes it): the open page follows each step."""
    client = redis.Redis.from_url(stack.redis_url)
    store = JobStore(client)
    job = store.create("demo", Scene(speaker="Tomas", dialogue=["It knows the sea."], entry_id="0007"))
    links = GalleryLinks(JWT_SECRET, 600)
    query = links.grant("job", job.job_id).query(links)
    link = f"{stack.base}/v1/jobs/{job.job_id}/gallery?exp={query['exp']}&sig={query['sig']}"
    with open_page() as page:
        page.goto(link)
        assert page.get_attribute("#gallery", "data-live") == "yes"
        assert page.text_content(".placeholder .state") == "queued"
        store.mark_started(job.job_id)
        store.mark_generating(job.job_id, {"text": "a lighthouse keeper in the rain", "negative": "", "style": "manga"})
        store.set_progress(job.job_id, 60)
        page.wait_for_function("() => document.querySelector('.placeholder progress')?.value === 60")
        assert page.text_content(".placeholder .state") == "drawing"
        assert page.text_content("details.prompt p") == "a lighthouse keeper in the rain"
        out = io.BytesIO()
        Image.new("RGB", (320, 240), (30, 60, 120)).save(out, "PNG")
        sha = ImageStore(stack.home / "images").put(out.getvalue(), "image/png")
        started = time.monotonic()
        store.succeed(job.job_id, {"sha256": sha, "mime_type": "image/png", "width": 320, "height": 240})
        page.wait_for_function("() => document.images.length === 1 && document.images[0].complete "
                               "&& document.images[0].naturalWidth > 0")
        page.wait_for_function("() => document.getElementById('gallery').dataset.live === 'done'")
        print(f"picture shown {time.monotonic() - started:.2f} s after the job succeeded")
        assert page.evaluate(_IMAGES) == [[True, 320]]
        assert page.text_content(".scene .status") == "succeeded"
        _screenshot(page, "gallery-live.png", tmp_path)
    client.close()
