"""Run-time config (admins change it), stats, dry runs and the response cache."""

from __future__ import annotations

import redis
from flask.testing import FlaskClient

from scene_weaver import keys
from scene_weaver.runtime_config import effective_config
from scene_weaver.settings import Settings

from .conftest import SCENE, login, submit


def test_config_get_is_cached_and_put_is_admin_only(client: FlaskClient) -> None:
    user = login(client)
    first = client.get("/v1/config", headers=user)
    assert first.status_code == 200 and first.headers["X-Cache"] == "MISS"
    assert first.get_json()["default_style"] == "graphic novel"
    assert client.get("/v1/config", headers=user).headers["X-Cache"] == "HIT"
    refused = client.put("/v1/config", json={"prompt_max_length": 400}, headers=user)
    assert refused.status_code == 403 and refused.get_json()["error"]["code"] == "admin_required"

    admin = login(client, "root", "root-password")
    changed = client.put("/v1/config", json={"prompt_max_length": 400, "default_style": "Watercolor"},
                         headers=admin)
    assert changed.status_code == 200
    assert changed.get_json()["prompt_max_length"] == 400 and changed.get_json()["default_style"] == "watercolor"
    after = client.get("/v1/config", headers=user)
    assert after.get_json()["prompt_max_length"] == 400


def test_config_validation(client: FlaskClient) -> None:
    admin = login(client, "root", "root-password")
    for body, field in (({"image_width": 10}, "image_width"), ({"default_style": "nope"}, "default_style"),
                        ({"colour": "red"}, "colour"), ({"prompt_max_length": "long"}, "prompt_max_length")):
        response = client.put("/v1/config", json=body, headers=admin)
        assert response.status_code == 422, body
        assert response.get_json()["error"]["details"]["field"] == field


def test_a_config_put_changes_the_effective_config(
    client: FlaskClient, settings: Settings, redis_client: redis.Redis
) -> None:
    """What ``PUT /config`` stores is what ``effective_config`` (read by each job's run) returns."""
    admin = login(client, "root", "root-password")
    assert client.put("/v1/config", json={"image_width": 640, "image_steps": 12}, headers=admin).status_code == 200
    config = effective_config(redis_client, settings)
    assert (config.image_width, config.image_steps, config.image_height) == (640, 12, 512)


def test_dry_run_weaves_without_a_job_and_is_cached(client: FlaskClient, redis_client: redis.Redis) -> None:
    headers = login(client)
    first = client.post("/v1/process?dry_run=true", json=SCENE, headers=headers)
    assert first.status_code == 200 and first.headers["X-Cache"] == "MISS"
    body = first.get_json()
    assert "evan" in body["prompt"].lower() and body["style"] == "graphic novel" and body["negative"]
    assert isinstance(body["analysis"], dict) and body["content_hash"]
    again = client.post("/v1/process?dry_run=true", json=SCENE, headers=headers)
    assert again.headers["X-Cache"] == "HIT" and again.get_json() == body
    assert redis_client.zcard(keys.all_jobs()) == 0 and redis_client.llen("default") == 0
    bad_style = client.post("/v1/process?dry_run=true", json={**SCENE, "style": "nope"}, headers=headers)
    assert bad_style.status_code == 422 and bad_style.get_json()["error"]["code"] == "invalid_style"


def test_stats_and_cache_clear(client: FlaskClient, redis_client: redis.Redis) -> None:
    user = login(client)
    submit(client, user, priority="high")
    redis_client.hset(keys.counters(), mapping={"prompt_cache_hits": 3, "prompt_cache_misses": 1})
    stats = client.get("/v1/stats", headers=user)
    assert stats.status_code == 200 and stats.headers["X-Cache"] == "MISS"
    body = stats.get_json()
    assert body["queues"]["high"] == 1 and body["jobs"]["queued"] == 1
    assert body["prompt_cache"] == {"hits": 3, "misses": 1, "hit_rate": 0.75}
    assert body["workers"] == 0 and body["breaker"]["state"] == "closed"
    assert client.get("/v1/stats", headers=user).headers["X-Cache"] == "HIT"

    assert client.post("/v1/cache/clear", headers=user).status_code == 403
    admin = login(client, "root", "root-password")
    cleared = client.post("/v1/cache/clear", headers=admin)
    assert cleared.status_code == 200 and cleared.get_json()["cleared"] >= 1
    assert client.get("/v1/stats", headers=user).headers["X-Cache"] == "MISS"


def test_job_submission_is_never_cached(client: FlaskClient) -> None:
    headers = login(client)
    assert submit(client, headers) != submit(client, headers)
