"""A submit that fails midway is a 503 with Retry-After, and its retry with the same key enqueues the job."""

from __future__ import annotations

import pytest
import redis
from flask import Flask
from kombu.exceptions import OperationalError

from api.services import Services
from scene_weaver import keys

from .conftest import SCENE, login


def _broken_broker(monkeypatch: pytest.MonkeyPatch, svc: Services, failures: int) -> list[str]:
    sent: list[str] = []
    real = svc.celery.send_task
    left = [failures]

    def send_task(name: str, *args: object, **kwargs: object) -> object:
        if left[0] > 0:
            left[0] -= 1
            raise OperationalError("Error 111 connecting to 127.0.0.1. Connection refused.")
        sent.append(name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(svc.celery, "send_task", send_task)
    return sent


def test_a_failed_enqueue_is_503_and_the_retry_with_its_key_enqueues(app: Flask, redis_client: redis.Redis,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    svc: Services = app.extensions["scene_weaver"]
    _broken_broker(monkeypatch, svc, failures=1)
    client = app.test_client()
    headers = {**login(client), "Idempotency-Key": "outage-1"}
    refused = client.post("/v1/process", json=SCENE, headers=headers)
    assert refused.status_code == 503, refused.get_data(as_text=True)
    assert refused.get_json()["error"]["code"] == "broker_unavailable"
    assert int(refused.headers["Retry-After"]) > 0
    assert redis_client.llen("default") == 0
    # The job was created and recorded for the reconciler before the publish failed.
    [job_id] = redis_client.zrange(keys.all_jobs(), 0, -1)
    assert redis_client.zscore(keys.dispatched_jobs(), job_id) is not None

    retried = client.post("/v1/process", json=SCENE, headers=headers)
    assert retried.status_code == 202 and retried.get_json()["job_id"] == job_id
    assert redis_client.llen("default") == 1
    replayed = client.post("/v1/process", json=SCENE, headers=headers)
    assert replayed.status_code == 200 and replayed.get_json()["job_id"] == job_id
    assert redis_client.llen("default") == 1  # a replay of an enqueued job sends nothing


def test_a_submit_without_a_key_that_fails_is_503_never_500(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    svc: Services = app.extensions["scene_weaver"]
    _broken_broker(monkeypatch, svc, failures=1)
    client = app.test_client()
    response = client.post("/v1/process", json=SCENE, headers=login(client))
    assert response.status_code == 503 and "Retry-After" in response.headers
