"""The API over a real Redis (no worker): submission writes the record and the queue."""

from __future__ import annotations

import redis
from flask.testing import FlaskClient

from .conftest import login

SCENE = {"speaker": "Evan", "dialogue": "What is a lighthouse without the sea?", "entry_id": "0007"}


def test_process_answers_202_and_enqueues_by_priority(client: FlaskClient, redis_client: redis.Redis) -> None:
    headers = login(client)
    response = client.post("/v1/process", json={**SCENE, "priority": "high"}, headers=headers)
    assert response.status_code == 202
    body = response.get_json()
    assert body["status"] == "queued"
    links = body["links"]
    gallery = links.pop("gallery")
    assert links == {"self": f"/v1/jobs/{body['job_id']}", "image": f"/v1/jobs/{body['job_id']}/image",
                     "events": f"/v1/jobs/{body['job_id']}/events"}
    assert gallery.startswith(f"/v1/jobs/{body['job_id']}/gallery?exp=")
    assert redis_client.llen("high") == 1 and redis_client.llen("default") == 0

    client.post("/v1/process", json={**SCENE, "priority": "low"}, headers=headers)
    client.post("/v1/process", json=SCENE, headers=headers)
    assert (redis_client.llen("low"), redis_client.llen("default")) == (1, 1)

    job = client.get(f"/v1/jobs/{body['job_id']}", headers=headers).get_json()
    assert job["status"] == "queued" and job["priority"] == "high"
    assert job["scene"]["dialogue"] == [SCENE["dialogue"]] and job["scene"]["entry_id"] == "0007"
    assert job["result"] is None and job["error"] is None and job["attempts"] == 0


def test_validation_errors_name_the_field(client: FlaskClient) -> None:
    headers = login(client)
    cases = [
        ({"dialogue": "no speaker"}, "speaker"),
        ({**SCENE, "priority": "urgent"}, "priority"),
        ({**SCENE, "width": 10}, "width"),
        ({**SCENE, "dialogue": [1, 2]}, "dialogue.0"),
        ({"speaker": "Evan"}, "dialogue"),
        ({**SCENE, "dialogue": ["ok", ""]}, "dialogue.1"),
    ]
    for body, field in cases:
        response = client.post("/v1/process", json=body, headers=headers)
        assert response.status_code == 422, body
        assert response.get_json()["error"]["details"]["field"] == field, body


def test_malformed_bodies(client: FlaskClient) -> None:
    headers = login(client)
    bad_json = client.post("/v1/process", data="{nope", headers={**headers, "Content-Type": "application/json"})
    assert bad_json.status_code == 400 and bad_json.get_json()["error"]["code"] == "invalid_json"
    a_list = client.post("/v1/process", json=[SCENE], headers=headers)
    assert a_list.status_code == 400
    form = client.post("/v1/process", data={"speaker": "x"}, headers=headers)
    assert form.status_code == 415


def test_oversized_body_is_413(client: FlaskClient) -> None:
    headers = login(client)
    response = client.post("/v1/process", json={**SCENE, "narration": "x" * (1024 * 1024 + 10)},
                           headers=headers)
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "payload_too_large"


def test_other_users_jobs_are_404_admins_see_all(client: FlaskClient) -> None:
    owner = login(client)
    job_id = client.post("/v1/process", json=SCENE, headers=owner).get_json()["job_id"]
    mallory = login(client, "mallory", "mallory-password")
    assert client.get(f"/v1/jobs/{job_id}", headers=mallory).status_code == 404
    assert client.get("/v1/jobs/does-not-exist", headers=owner).status_code == 404
    admin = login(client, "root", "root-password")
    assert client.get(f"/v1/jobs/{job_id}", headers=admin).status_code == 200


def test_tokens(client: FlaskClient) -> None:
    assert client.get("/v1/jobs/x").get_json()["error"]["code"] == "missing_token"
    garbage = client.get("/v1/jobs/x", headers={"Authorization": "Bearer not.a.token"})
    assert garbage.status_code == 401 and garbage.get_json()["error"]["code"] == "invalid_token"
    tokens = client.post("/v1/auth/login", json={"username": "demo", "password": "demo-password"}).get_json()
    refresh = {"Authorization": f"Bearer {tokens['refresh_token']}"}
    assert client.get("/v1/jobs/x", headers=refresh).status_code == 401
    renewed = client.post("/v1/auth/refresh", headers=refresh)
    assert renewed.status_code == 200 and renewed.get_json()["access_token"]
    access = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert client.post("/v1/auth/logout", headers=access).status_code == 200
    revoked = client.get("/v1/jobs/x", headers=access)
    assert revoked.status_code == 401 and revoked.get_json()["error"]["code"] == "token_revoked"


def test_health_is_503_naming_workers_when_none_run(client: FlaskClient) -> None:
    response = client.get("/health", headers=login(client, "root", "root-password"))
    assert response.status_code == 503
    body = response.get_json()
    assert body["redis"] == "ok" and body["workers"] == 0 and "workers" in body["failing"]


def test_unknown_route_and_method_are_json(client: FlaskClient) -> None:
    assert client.get("/v1/nowhere").get_json()["error"]["code"] == "not_found"
    response = client.get("/v1/process")
    assert response.status_code == 405 and response.get_json()["error"]["code"] == "method_not_allowed"


def test_webhook_options_are_validated_and_stored(client: FlaskClient, app) -> None:  # type: ignore[no-untyped-def]
    headers = login(client)
    for url in ("ftp://example.com/x", "http://10.1.2.3/hook"):
        refused = client.post("/v1/process", json={**SCENE, "webhook_url": url}, headers=headers)
        assert refused.status_code == 422
        assert refused.get_json()["error"]["code"] == "webhook_url_refused"
        assert refused.get_json()["error"]["details"]["field"] == "webhook_url"
    bad_event = client.post("/v1/process", json={**SCENE, "webhook_url": "http://127.0.0.1:9/h",
                                                 "webhook_events": ["finished"]}, headers=headers)
    assert bad_event.status_code == 422 and bad_event.get_json()["error"]["details"]["field"] == "webhook_events.0"
    ok = client.post("/v1/process", json={**SCENE, "webhook_url": "http://127.0.0.1:9/h",
                                          "webhook_events": ["completed"]}, headers=headers)
    assert ok.status_code == 202
    job = app.extensions["scene_weaver"].jobs.get(ok.get_json()["job_id"])
    assert job.options == {"webhook_url": "http://127.0.0.1:9/h", "webhook_events": ["completed"]}
