"""``submit_scene`` called directly, as the next callers (batches) will: no HTTP request needed."""

from __future__ import annotations

import pytest
import redis
from flask import Flask
from pydantic import ValidationError

from api.services import Services
from api.submission import submit_scene
from scene_weaver import keys
from scene_weaver.errors import Conflict, InvalidInput
from scene_weaver.models import JobStatus, Priority
from scene_weaver.users import User

from .conftest import SCENE

DEMO = User("demo", "user")


def test_submit_scene_creates_enqueues_and_replays_by_key(app: Flask, redis_client: redis.Redis) -> None:
    svc: Services = app.extensions["scene_weaver"]
    first = submit_scene(svc, DEMO, {**SCENE, "priority": "low"}, idempotency_key="batch-1-entry-7")
    assert first.created and first.job.status is JobStatus.QUEUED and first.job.priority is Priority.LOW
    assert first.job.owner == "demo" and redis_client.llen("low") == 1
    again = submit_scene(svc, DEMO, {**SCENE, "priority": "low"}, idempotency_key="batch-1-entry-7")
    assert not again.created and again.job.job_id == first.job.job_id and redis_client.llen("low") == 1
    with pytest.raises(Conflict):
        submit_scene(svc, DEMO, SCENE, idempotency_key="batch-1-entry-7")
    assert submit_scene(svc, DEMO, SCENE).job.job_id != first.job.job_id


def test_a_refused_scene_writes_nothing(app: Flask, redis_client: redis.Redis) -> None:
    svc: Services = app.extensions["scene_weaver"]
    with pytest.raises(ValidationError):
        submit_scene(svc, DEMO, {"dialogue": "no speaker"}, idempotency_key="k1")
    with pytest.raises(InvalidInput):
        submit_scene(svc, DEMO, {"speaker": "Evan"}, idempotency_key="k2")
    with pytest.raises(InvalidInput):
        submit_scene(svc, DEMO, {**SCENE, "webhook_url": "ftp://example.com/x"}, idempotency_key="k3")
    assert redis_client.zcard(keys.all_jobs()) == 0 and redis_client.llen("default") == 0
    assert not any(redis_client.exists(keys.idempotency("demo", key)) for key in ("k1", "k2", "k3"))
