"""A batch's gallery (issue 9's batches) in headless Chromium: every picture loads, in script order;
the speaker <script> is text; the record's links.gallery opens without a token; altered → 403.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests

from tests.support.browser import ARTIFACTS, open_page

from .processes import wait_until
from .stack import Stack

pytestmark = pytest.mark.e2e

SPEAKERS = ["Iris", "Tomas", "<script>", "Mara"]


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _entries(n: int) -> list[dict[str, Any]]:
    return [{"entry_id": f"{i:04d}", "speaker": SPEAKERS[i % len(SPEAKERS)],
             "dialogue": [f"Gallery line {i}: what does the lamp see?"], "narration": "By the lighthouse lamp."}
            for i in range(1, n + 1)]


def _wait_batch(stack: Stack, token: str, batch_id: str) -> dict[str, Any]:
    def finished() -> dict[str, Any] | None:
        batch = requests.get(f"{stack.base}/v1/batches/{batch_id}", headers=_auth(token), timeout=10).json()
        return batch if batch["status"] in ("completed", "failed", "canceled") else None

    return wait_until(finished, 180, what=f"batch {batch_id} to finish")


def test_finished_batch_gallery_in_script_order(stack: Stack, tmp_path: Path) -> None:
    token = stack.login()
    entries = _entries(12)
    accepted = requests.post(f"{stack.base}/v1/batch", headers=_auth(token), json={"entries": entries}, timeout=30)
    assert accepted.status_code == 202, accepted.text
    batch = _wait_batch(stack, token, accepted.json()["batch_id"])
    assert batch["status"] == "completed" and batch["request_counts"]["succeeded"] == 12
    link = stack.base + batch["links"]["gallery"]
    with open_page() as page:
        dialogs: list[str] = []
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        response = page.goto(link)
        assert response is not None and response.status == 200
        page.wait_for_function("() => document.images.length === 12 && "
                               "Array.from(document.images).every(img => img.complete)")
        widths = page.evaluate("() => Array.from(document.images).map(img => img.naturalWidth)")
        assert all(width > 0 for width in widths), widths
        assert page.eval_on_selector_all(".entry-id", "els => els.map(e => e.textContent)") == [
            entry["entry_id"] for entry in entries]
        assert page.eval_on_selector_all(".speaker", "els => els.map(e => e.textContent)") == [
            entry["speaker"] for entry in entries]
        assert page.text_content("#summary") == "12 of 12 finished · 12 succeeded"
        assert dialogs == []
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "gallery-batch.png"), full_page=True)
        (tmp_path / "gallery-batch.png").write_bytes((ARTIFACTS / "gallery-batch.png").read_bytes())

    altered = requests.get(link.replace("sig=", "sig=x"), timeout=10)
    assert altered.status_code == 403 and altered.json()["error"]["code"] == "gallery_link_invalid"
    assert requests.get(link, timeout=10).status_code == 200


def test_batch_gallery_fills_in_live(stack: Stack) -> None:
    token = stack.login()
    entries = _entries(6)
    for entry in entries:
        entry["dialogue"] = [f"live {entry['dialogue'][0]}"]
    accepted = requests.post(f"{stack.base}/v1/batch", headers=_auth(token), json={"entries": entries}, timeout=30)
    assert accepted.status_code == 202, accepted.text
    batch_id = accepted.json()["batch_id"]
    record = requests.get(f"{stack.base}/v1/batches/{batch_id}", headers=_auth(token), timeout=10).json()
    with open_page() as page:
        page.goto(stack.base + record["links"]["gallery"])
        page.wait_for_function("() => document.images.length === 6 && "
                               "Array.from(document.images).every(img => img.complete && img.naturalWidth > 0)",
                               timeout=120_000)
        assert page.get_attribute("#gallery", "data-live") == "done"
        assert page.text_content("#summary") == "6 of 6 finished · 6 succeeded"
