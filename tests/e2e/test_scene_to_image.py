"""A scene goes in over HTTP; a Celery worker has the renderer draw it; the PNG comes out."""

from __future__ import annotations

import io
import subprocess

import pytest
import requests
from PIL import Image

from .processes import PYTHON, ROOT, wait_until
from .stack import Stack

pytestmark = pytest.mark.e2e


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _wait_terminal(stack: Stack, token: str, job_id: str, timeout: float = 60) -> dict:
    def finished() -> dict | None:
        job = requests.get(f"{stack.base}/v1/jobs/{job_id}", headers=_auth(token), timeout=10).json()
        return job if job["status"] in ("succeeded", "failed", "canceled") else None

    return wait_until(finished, timeout, what=f"job {job_id} to finish")


def test_scene_becomes_png_of_requested_size(stack: Stack) -> None:
    token = stack.login()
    response = requests.post(f"{stack.base}/v1/process", headers=_auth(token), timeout=10, json={
        "speaker": "Iris", "dialogue": ["Do you think the lighthouse knows it is a lighthouse?"],
        "narration": "Iris sits on the lighthouse stairs at night, holding a lantern.",
        "entry_id": "0001", "width": 320, "height": 240, "priority": "high",
    })
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["status"] == "queued"
    assert body["links"]["self"].endswith(body["job_id"])

    job = _wait_terminal(stack, token, body["job_id"])
    assert job["status"] == "succeeded", job
    assert job["progress"] == 100
    assert job["attempts"] == 1
    assert job["prompt"]["text"] and "lighthouse" in job["prompt"]["text"].lower()
    assert job["result"]["width"] == 320 and job["result"]["height"] == 240

    image = requests.get(stack.base + job["result"]["image_url"], headers=_auth(token), timeout=10)
    assert image.status_code == 200
    assert image.headers["Content-Type"] == "image/png"
    picture = Image.open(io.BytesIO(image.content))
    picture.load()
    assert picture.size == (320, 240)
    colors = picture.convert("RGB").getcolors(maxcolors=1 << 20) or []
    assert len(colors) > 16, "a drawn picture, not a flat fill"


def test_bare_paths_answer_like_v1(stack: Stack) -> None:
    token = requests.post(f"{stack.base}/auth/login",
                          json={"username": "demo", "password": "demo-password"}, timeout=10).json()["access_token"]
    response = requests.post(f"{stack.base}/process", headers=_auth(token), timeout=10,
                             json={"speaker": "Tomas", "dialogue": "It knows the sea."})
    assert response.status_code == 202
    job_id = response.json()["job_id"]
    assert requests.get(f"{stack.base}/jobs/{job_id}", headers=_auth(token), timeout=10).status_code == 200


def test_bad_body_is_422_naming_the_field(stack: Stack) -> None:
    token = stack.login()
    response = requests.post(f"{stack.base}/v1/process", headers=_auth(token), timeout=10,
                             json={"speaker": "Iris", "dialogue": ["hi"], "panel_count": 99})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert error["details"]["field"] == "panel_count"

    unknown = requests.post(f"{stack.base}/v1/process", headers=_auth(token), timeout=10,
                            json={"speaker": "Iris", "dialog": ["typo"]})
    assert unknown.status_code == 422
    assert unknown.json()["error"]["details"]["field"] == "dialog"

    not_json = requests.post(f"{stack.base}/v1/process", headers=_auth(token), timeout=10, data="speaker=x")
    assert not_json.status_code == 415
    assert not_json.json()["error"]["code"] == "unsupported_media_type"


def test_missing_token_is_401(stack: Stack) -> None:
    response = requests.post(f"{stack.base}/v1/process", json={"speaker": "A", "dialogue": "b"}, timeout=10)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "missing_token"


def test_wrong_password_is_401(stack: Stack) -> None:
    response = requests.post(f"{stack.base}/v1/auth/login",
                             json={"username": "demo", "password": "nope"}, timeout=10)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_credentials"


def test_another_users_job_is_404(stack: Stack) -> None:
    subprocess.run([PYTHON, "-m", "scene_weaver.cli", "users", "add", "mallory", "--password-stdin"],
                   input=b"mallory-password\n", env=stack.env, cwd=ROOT, check=True, timeout=30)
    owner = stack.login()
    job_id = requests.post(f"{stack.base}/v1/process", headers=_auth(owner), timeout=10,
                           json={"speaker": "Iris", "dialogue": "mine"}).json()["job_id"]
    other = stack.login("mallory", "mallory-password")
    for path in (f"/v1/jobs/{job_id}", f"/v1/jobs/{job_id}/image"):
        response = requests.get(stack.base + path, headers=_auth(other), timeout=10)
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "job_not_found"


def test_image_is_404_until_ready(stack: Stack) -> None:
    token = stack.login()
    job_id = requests.post(f"{stack.base}/v1/process", headers=_auth(token), timeout=10,
                           json={"speaker": "Iris", "dialogue": "wait for me", "priority": "low"}).json()["job_id"]
    early = requests.get(f"{stack.base}/v1/jobs/{job_id}/image", headers=_auth(token), timeout=10)
    assert early.status_code == 404
    assert early.json()["error"]["code"] == "image_not_ready"
    assert _wait_terminal(stack, token, job_id)["status"] == "succeeded"
    assert requests.get(f"{stack.base}/v1/jobs/{job_id}/image", headers=_auth(token), timeout=10).status_code == 200


def test_health_names_workers_and_redis(stack: Stack) -> None:
    response = requests.get(f"{stack.base}/health", headers=stack.admin_headers(), timeout=10)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ok"
    assert body["redis"] == "ok"
    assert body["workers"] == 1
    semantest = body["semantest"]
    assert semantest["breaker"]["state"] == "closed"
    # Earlier tests in this module ran jobs, so the worker's pool has connected and published.
    assert semantest["worker_processes"] == 1 and semantest["sessions_connected"] >= 1
