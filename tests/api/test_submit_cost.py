"""What one ``POST /v1/process`` asks of Redis (issue 15: submit latency).

Counted on the test session's own redis-server with ``INFO commandstats``: the token is
checked once although it is verified twice (the rate limit's key, then the view), the job is
not read back after it is written, and no ``task-sent`` event is published. Redis counts the
commands a Lua script runs too (the rate limiter's), so only commands no script here sends
are counted.
"""

from __future__ import annotations

import json
from typing import Any

import redis
from flask import Flask
from flask.testing import FlaskClient

from api import idempotency
from scene_weaver import keys

from .conftest import SCENE, login


def _calls(client: redis.Redis) -> dict[str, int]:
    stats: Any = client.info("commandstats")
    return {name.removeprefix("cmdstat_"): int(values["calls"]) for name, values in stats.items()}


def _spent(client: redis.Redis, before: dict[str, int]) -> dict[str, int]:
    after = _calls(client)
    spent = {name: calls - before.get(name, 0) for name, calls in after.items() if calls != before.get(name, 0)}
    spent["info"] -= 1  # this reading itself
    return {name: calls for name, calls in spent.items() if calls}


def _warm(client: FlaskClient, headers: dict[str, str]) -> None:
    """A first submit: kombu declares the queue on its first publish (once per connection)."""
    assert client.post("/v1/process", json={**SCENE, "dialogue": "warm-up"}, headers=headers).status_code == 202


def test_a_submit_checks_the_token_once_and_never_reads_the_job_back(app: Flask, redis_client: redis.Redis) -> None:
    client = app.test_client()
    headers = login(client)
    _warm(client, headers)
    before = _calls(redis_client)
    response = client.post("/v1/process", json=SCENE, headers=headers)
    assert response.status_code == 202, response.get_data(as_text=True)
    spent = _spent(redis_client, before)
    assert spent.get("exists") == 1, spent  # the token's revocation check
    assert spent.get("hget") == 1, spent  # the user's role (and no dispatch script: it reads the status)
    assert spent.get("exec") == 1, spent  # the record, its indexes, its event and the dispatched index
    assert "hgetall" not in spent and "publish" not in spent, spent
    job_id = response.get_json()["job_id"]
    assert redis_client.zscore(keys.dispatched_jobs(), job_id) is not None
    assert redis_client.llen("default") == 2  # _warm's and this one's


def test_a_keyed_submit_marks_its_claim_enqueued_in_one_write(app: Flask, redis_client: redis.Redis) -> None:
    client = app.test_client()
    headers = {**login(client), idempotency.HEADER: "cost-1"}
    _warm(client, login(client))
    before = _calls(redis_client)
    response = client.post("/v1/process", json=SCENE, headers=headers)
    assert response.status_code == 202, response.get_data(as_text=True)
    spent = _spent(redis_client, before)
    assert spent.get("set") == 2 and "get" not in spent, spent  # the claim (NX), then enqueued (XX)
    key = keys.idempotency("demo", "cost-1")
    record = json.loads(redis_client.get(key))
    assert record["job_id"] == response.get_json()["job_id"] and record["enqueued"] is True
    assert record["body"] == idempotency.fingerprint(SCENE) and record["at"] > 0
    assert 0 < redis_client.ttl(key) <= idempotency.TTL_SECONDS
    replay = client.post("/v1/process", json=SCENE, headers=headers)
    assert replay.status_code == 200 and replay.get_json()["job_id"] == record["job_id"]
