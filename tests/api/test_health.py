"""Readiness (``/health``) and liveness (``/health/live``) read the workers' heartbeats in Redis;
``/stats`` lists the live worker processes. The public ``/health`` body is ``status`` and
``failing``; an admin's token gets the details."""

from __future__ import annotations

import redis
from flask import Flask
from flask.testing import FlaskClient

from api.app import create_app
from scene_weaver.heartbeats import STOPPING, HeartbeatStore
from scene_weaver.settings import Settings
from tests.support.heartbeats import beat_of

from .conftest import login


def _admin(client: FlaskClient) -> dict[str, str]:
    return login(client, "root", "root-password")


def test_health_is_200_with_one_live_worker_and_sums_its_jobs(client: FlaskClient, redis_client: redis.Redis) -> None:
    HeartbeatStore(redis_client).beat(beat_of("w1", in_flight=8, job_ids=tuple(f"j{i}" for i in range(8))), ttl=30)
    response = client.get("/health", headers=_admin(client))
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert (body["status"], body["redis"], body["workers"], body["jobs_in_flight"]) == ("ok", "ok", 1, 8)
    assert "failing" not in body and "Retry-After" not in response.headers


def test_a_worker_that_is_stopping_or_expired_does_not_make_the_api_ready(
        client: FlaskClient, redis_client: redis.Redis) -> None:
    store = HeartbeatStore(redis_client)
    store.beat(beat_of("leaving", in_flight=2, state=STOPPING), ttl=30)
    store.beat(beat_of("gone"), ttl=30)
    store.withdraw("gone")
    response = client.get("/health", headers=_admin(client))
    assert response.status_code == 503
    body = response.get_json()
    assert body["failing"] == ["workers"]
    assert (body["workers"], body["workers_stopping"], body["jobs_in_flight"]) == (0, 1, 2)


def test_liveness_answers_without_workers(client: FlaskClient) -> None:
    assert client.get("/health").status_code == 503
    live = client.get("/health/live")
    assert live.status_code == 200 and live.get_json() == {"status": "ok"}


def test_stats_lists_worker_processes_without_their_job_ids(client: FlaskClient, redis_client: redis.Redis) -> None:
    HeartbeatStore(redis_client).beat(beat_of("w1", in_flight=1, job_ids=("secret-job",)), ttl=30)
    body = client.get("/v1/stats", headers=login(client)).get_json()
    assert (body["workers"], body["workers_stopping"], body["jobs_in_flight"]) == (1, 0, 1)
    [process] = body["worker_processes"]
    assert process["runner_id"] == "w1" and process["queues"] == ["high", "default", "low"]
    assert process["concurrency"] == 8 and process["in_flight"] == 1 and process["state"] == "running"
    assert "secret-job" not in str(body)


INTERNAL = "ws://semantest.internal:8765/ws"


def test_public_health_says_what_fails_and_shows_no_internal_urls(settings: Settings, app: Flask) -> None:
    """The probe: an anonymous ``GET /health`` showed Semantest's URL and the fleet's details."""
    client = create_app(settings.model_copy(update={"semantest_url": INTERNAL})).test_client()
    response = client.get("/health")
    assert response.status_code == 503
    assert response.get_json() == {"status": "unavailable", "failing": ["workers"]}
    assert "semantest.internal" not in response.get_data(as_text=True)
    details = client.get("/health", headers=_admin(client)).get_json()
    assert details["semantest"]["url"] == INTERNAL


def test_public_health_when_ready_is_only_ok(client: FlaskClient, redis_client: redis.Redis) -> None:
    HeartbeatStore(redis_client).beat(beat_of("w1"), ttl=30)
    response = client.get("/health")
    assert (response.status_code, response.get_json()) == (200, {"status": "ok"})


def test_only_an_admins_token_gets_the_details(client: FlaskClient) -> None:
    admin = client.get("/health", headers=_admin(client)).get_json()
    assert admin["workers"] == 0 and admin["redis"] == "ok" and admin["semantest"]["breaker"]["state"] == "closed"
    for headers in (login(client), login(client, "mallory", "mallory-password"),
                    {"Authorization": "Bearer not-a-token"}, {"Authorization": "Basic cm9vdDpyb290"}):
        response = client.get("/health", headers=headers)
        # Never a 401: a load balancer that sends a stale header still reads readiness.
        assert (response.status_code, response.get_json()) == (503, {"status": "unavailable",
                                                                     "failing": ["workers"]})
