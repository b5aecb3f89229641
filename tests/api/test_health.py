"""Readiness (``/health``) and liveness (``/health/live``) read the workers' heartbeats in Redis;
``/stats`` lists the live worker processes."""

from __future__ import annotations

import redis
from flask.testing import FlaskClient

from scene_weaver.heartbeats import STOPPING, HeartbeatStore
from tests.support.heartbeats import beat_of

from .conftest import login


def test_health_is_200_with_one_live_worker_and_sums_its_jobs(client: FlaskClient, redis_client: redis.Redis) -> None:
    HeartbeatStore(redis_client).beat(beat_of("w1", in_flight=8, job_ids=tuple(f"j{i}" for i in range(8))), ttl=30)
    response = client.get("/health")
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
    response = client.get("/health")
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
