"""What one user can learn or take from another: the dry-run cache, the high-priority queue."""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import websocket
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.serving import make_server

from api.app import create_app
from scene_weaver import keys
from scene_weaver.settings import Settings
from scene_weaver.users import UserStore

from .conftest import SCENE, login


def test_the_dry_run_cache_is_per_user(client: FlaskClient) -> None:
    scene = {"speaker": "Iris", "dialogue": "A secret only Iris should have woven."}
    demo, mallory = login(client), login(client, "mallory", "mallory-password")
    assert client.post("/v1/process?dry_run=true", json=scene, headers=demo).headers["X-Cache"] == "MISS"
    assert client.post("/v1/process?dry_run=true", json=scene, headers=demo).headers["X-Cache"] == "HIT"
    other = client.post("/v1/process?dry_run=true", json=scene, headers=mallory)
    assert other.status_code == 200 and other.headers["X-Cache"] == "MISS"


@pytest.fixture
def production(redis_url: str, tmp_path: Path, redis_client: redis.Redis) -> Iterator[FlaskClient]:
    settings = Settings.from_env({"SCENE_WEAVER_ENV": "production", "REDIS_URL": redis_url,
                                  "SCENE_WEAVER_HOME": str(tmp_path), "JWT_SECRET_KEY": secrets.token_urlsafe(48),
                                  "HIGH_PRIORITY_ALLOWED": "role:admin,vip"})
    users = UserStore(redis_client, rounds=4)
    for name, role in (("alice", "user"), ("vip", "user"), ("boss", "admin")):
        users.add(name, f"{name}-password", role)
    yield create_app(settings).test_client()


def test_high_priority_is_403_for_users_not_granted_it(production: FlaskClient, redis_client: redis.Redis) -> None:
    alice = login(production, "alice", "alice-password")
    refused = production.post("/v1/process", json={**SCENE, "priority": "high"}, headers=alice)
    assert refused.status_code == 403
    assert refused.get_json()["error"]["code"] == "priority_not_allowed"
    assert redis_client.llen("high") == 0 and redis_client.zcard(keys.user_jobs("alice")) == 0
    assert production.post("/v1/process", json={**SCENE, "priority": "normal"}, headers=alice).status_code == 202


@pytest.mark.parametrize("username", ["vip", "boss"])
def test_high_priority_for_admins_and_granted_users(production: FlaskClient, redis_client: redis.Redis,
                                                     username: str) -> None:
    headers = login(production, username, f"{username}-password")
    accepted = production.post("/v1/process", json={**SCENE, "priority": "high"}, headers=headers)
    assert accepted.status_code == 202 and accepted.get_json()["priority"] == "high"
    assert redis_client.llen("high") == 1


def test_production_default_is_admins_only(redis_url: str, tmp_path: Path, redis_client: redis.Redis) -> None:
    settings = Settings.from_env({"SCENE_WEAVER_ENV": "production", "REDIS_URL": redis_url,
                                  "SCENE_WEAVER_HOME": str(tmp_path), "JWT_SECRET_KEY": secrets.token_urlsafe(48)})
    assert settings.may_submit_high_priority("root", "admin")
    assert not settings.may_submit_high_priority("alice", "user")
    development = Settings.from_env({"SCENE_WEAVER_HOME": str(tmp_path)})
    assert development.may_submit_high_priority("alice", "user")


@pytest.fixture
def served(redis_url: str, tmp_path: Path, redis_client: redis.Redis) -> Iterator[tuple[Flask, str]]:
    settings = Settings.from_env({"SCENE_WEAVER_ENV": "production", "REDIS_URL": redis_url,
                                  "SCENE_WEAVER_HOME": str(tmp_path), "JWT_SECRET_KEY": secrets.token_urlsafe(48)})
    UserStore(redis_client, rounds=4).add("alice", "alice-password")
    app = create_app(settings)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield app, f"ws://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


def test_high_priority_over_the_websocket_is_refused_the_same_way(served: tuple[Flask, str],
                                                                  redis_client: redis.Redis) -> None:
    app, base = served
    token = login(app.test_client(), "alice", "alice-password")["Authorization"].removeprefix("Bearer ")
    ws = websocket.create_connection(f"{base}/v1/ws", timeout=20)
    try:
        ws.send(json.dumps({"type": "auth", "token": token}))
        assert json.loads(ws.recv())["type"] == "welcome"
        ws.send(json.dumps({"type": "process", "scene": {**SCENE, "priority": "high"}}))
        refused = json.loads(ws.recv())
        assert (refused["type"], refused["code"], refused["request"]) == ("error", "priority_not_allowed", "process")
    finally:
        ws.close()
    assert redis_client.llen("high") == 0
