"""Idempotency-Key on POST /process: replays give the original job, conflicts are 409, races make one job."""

from __future__ import annotations

import threading

import redis
from flask import Flask
from flask.testing import FlaskClient

from scene_weaver import keys

from .conftest import SCENE, login


def test_same_key_same_body_returns_the_original_job(client: FlaskClient, redis_client: redis.Redis) -> None:
    headers = {**login(client), "Idempotency-Key": "order-42"}
    first = client.post("/v1/process", json=SCENE, headers=headers)
    again = client.post("/v1/process", json=dict(reversed(list(SCENE.items()))), headers=headers)
    assert first.status_code == 202 and again.status_code == 200
    assert again.get_json()["job_id"] == first.get_json()["job_id"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert redis_client.llen("default") == 1


def test_same_key_other_body_is_409(client: FlaskClient) -> None:
    headers = {**login(client), "Idempotency-Key": "order-43"}
    first = client.post("/v1/process", json=SCENE, headers=headers)
    other = client.post("/v1/process", json={**SCENE, "dialogue": "Something else"}, headers=headers)
    assert other.status_code == 409
    error = other.get_json()["error"]
    assert error["code"] == "idempotency_conflict" and error["details"]["job_id"] == first.get_json()["job_id"]


def test_keys_are_per_user_and_invalid_bodies_do_not_claim(client: FlaskClient) -> None:
    demo = {**login(client), "Idempotency-Key": "k"}
    bad = client.post("/v1/process", json={"speaker": "x"}, headers=demo)
    assert bad.status_code == 422
    assert client.post("/v1/process", json=SCENE, headers=demo).status_code == 202
    mallory = {**login(client, "mallory", "mallory-password"), "Idempotency-Key": "k"}
    assert client.post("/v1/process", json=SCENE, headers=mallory).status_code == 202
    too_long = client.post("/v1/process", json=SCENE, headers={**demo, "Idempotency-Key": "x" * 300})
    assert too_long.status_code == 422 and too_long.get_json()["error"]["code"] == "invalid_idempotency_key"


def test_concurrent_requests_with_one_key_make_one_job(app: Flask, redis_client: redis.Redis) -> None:
    headers = {**login(app.test_client()), "Idempotency-Key": "race"}
    results: list[tuple[int, str]] = []
    lock = threading.Lock()
    barrier = threading.Barrier(8)

    def post() -> None:
        client = app.test_client()
        barrier.wait()
        response = client.post("/v1/process", json=SCENE, headers=headers)
        with lock:
            results.append((response.status_code, response.get_json()["job_id"]))

    threads = [threading.Thread(target=post) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(code for code, _ in results) == [200] * 7 + [202]
    assert len({job_id for _, job_id in results}) == 1
    assert redis_client.zcard(keys.all_jobs()) == 1 and redis_client.llen("default") == 1
