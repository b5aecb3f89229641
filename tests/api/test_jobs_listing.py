"""Listing, paging and canceling jobs: each user sees only their own; admins see all."""

from __future__ import annotations

import redis
from flask.testing import FlaskClient

from scene_weaver import keys

from .conftest import login, submit


def test_list_is_newest_first_and_only_the_callers(client: FlaskClient) -> None:
    demo = login(client)
    mallory = login(client, "mallory", "mallory-password")
    mine = [submit(client, demo) for _ in range(3)]
    theirs = submit(client, mallory)
    page = client.get("/v1/jobs", headers=demo).get_json()
    assert [job["job_id"] for job in page["jobs"]] == mine[::-1]
    assert page["total"] == 3 and page["next_cursor"] is None
    assert [j["job_id"] for j in client.get("/v1/jobs", headers=mallory).get_json()["jobs"]] == [theirs]
    admin = login(client, "root", "root-password")
    assert client.get("/v1/jobs", headers=admin).get_json()["total"] == 4


def test_paging_by_cursor_and_offset(client: FlaskClient) -> None:
    demo = login(client)
    ids = [submit(client, demo) for _ in range(5)][::-1]
    first = client.get("/v1/jobs?limit=2", headers=demo).get_json()
    second = client.get(f"/v1/jobs?limit=2&cursor={first['next_cursor']}", headers=demo).get_json()
    third = client.get(f"/v1/jobs?limit=2&cursor={second['next_cursor']}", headers=demo).get_json()
    seen = [j["job_id"] for page in (first, second, third) for j in page["jobs"]]
    assert seen == ids
    by_offset = client.get("/v1/jobs?limit=2&offset=3", headers=demo).get_json()
    assert [j["job_id"] for j in by_offset["jobs"]] == ids[3:5]
    bad = client.get("/v1/jobs?cursor=!!!", headers=demo)
    assert bad.status_code == 422 and bad.get_json()["error"]["code"] == "invalid_cursor"
    too_many = client.get("/v1/jobs?limit=1000", headers=demo)
    assert too_many.status_code == 422 and too_many.get_json()["error"]["details"]["field"] == "limit"


def test_status_filter_and_cancel_of_a_queued_job(client: FlaskClient, redis_client: redis.Redis) -> None:
    demo = login(client)
    keep, cancel = submit(client, demo), submit(client, demo)
    response = client.post(f"/v1/jobs/{cancel}/cancel", headers=demo)
    assert response.status_code == 200 and response.get_json()["status"] == "canceled"
    assert redis_client.exists(keys.job_cancel(cancel))
    events = client.get(f"/v1/jobs/{cancel}/events", headers=demo).get_data(as_text=True)
    assert "event: canceled" in events
    queued = client.get("/v1/jobs?status=queued", headers=demo).get_json()["jobs"]
    assert [j["job_id"] for j in queued] == [keep]
    canceled = client.get("/v1/jobs?status=canceled", headers=demo).get_json()["jobs"]
    assert [j["job_id"] for j in canceled] == [cancel]
    assert client.post(f"/v1/jobs/{cancel}/cancel", headers=demo).status_code == 200  # idempotent
    assert client.get("/v1/jobs?status=nope", headers=demo).status_code == 422


def test_another_users_job_is_404_for_every_route(client: FlaskClient) -> None:
    demo = login(client)
    job_id = submit(client, demo)
    mallory = login(client, "mallory", "mallory-password")
    for method, path in (("get", ""), ("get", "/image"), ("get", "/events"), ("post", "/cancel")):
        response = getattr(client, method)(f"/v1/jobs/{job_id}{path}", headers=mallory)
        assert response.status_code == 404, path
        assert response.get_json()["error"]["code"] == "job_not_found"
    assert client.get(f"/v1/jobs/{job_id}", headers=demo).get_json()["status"] == "queued"
    admin = login(client, "root", "root-password")
    assert client.post(f"/v1/jobs/{job_id}/cancel", headers=admin).get_json()["status"] == "canceled"


def test_finished_jobs_cannot_be_canceled(client: FlaskClient, app) -> None:  # type: ignore[no-untyped-def]
    demo = login(client)
    job_id = submit(client, demo)
    store = app.extensions["scene_weaver"].jobs
    store.mark_started(job_id)
    store.fail(job_id, "boom", "it broke")
    response = client.post(f"/v1/jobs/{job_id}/cancel", headers=demo)
    assert response.status_code == 409 and response.get_json()["error"]["code"] == "job_finished"
