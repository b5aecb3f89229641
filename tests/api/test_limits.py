"""Rate limits per user (per address for login), shared by /v1 and bare paths and the WebSocket,
as 429s in our model."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import websocket
from flask import Flask
from flask.testing import FlaskClient

from api.app import create_app
from scene_weaver.settings import Settings
from scene_weaver.users import UserStore
from tests.support.serving import serve_app

from .conftest import SECRET, login


@pytest.fixture
def limited_app(redis_url: str, tmp_path: Path, redis_client: redis.Redis) -> Flask:
    settings = Settings.from_env({"REDIS_URL": redis_url, "SCENE_WEAVER_HOME": str(tmp_path),
                                  "JWT_SECRET_KEY": SECRET, "RATE_LIMIT_PARSE": "3/minute",
                                  "RATE_LIMIT_LOGIN": "4/minute", "RATE_LIMIT_PROCESS": "2/minute"})
    UserStore(redis_client, rounds=4).add("mallory", "mallory-password")
    return create_app(settings)


@pytest.fixture
def limited(limited_app: Flask) -> FlaskClient:
    return limited_app.test_client()


@pytest.fixture
def served(limited_app: Flask) -> Iterator[str]:
    """The same app behind a real HTTP server, for WebSockets: its ws:// base URL."""
    with serve_app(limited_app) as base:
        yield base


def test_parse_limit_per_user_with_headers(limited: FlaskClient) -> None:
    demo = login(limited)
    answers = [limited.post(path, json={"script": "[1] Evan: Hello."}, headers=demo)
               for path in ("/v1/parse", "/parse", "/v1/parse", "/parse")]
    assert [r.status_code for r in answers] == [200, 200, 200, 429]
    assert answers[0].headers["X-RateLimit-Limit"] == "3"
    assert answers[0].headers["X-RateLimit-Remaining"] == "2"
    refused = answers[-1]
    assert refused.get_json()["error"]["code"] == "rate_limited"
    assert 0 < int(refused.headers["Retry-After"]) <= 60
    assert refused.headers["X-RateLimit-Remaining"] == "0" and "X-RateLimit-Reset" in refused.headers
    # Another user has their own bucket.
    mallory = login(limited, "mallory", "mallory-password")
    assert limited.post("/v1/parse", json={"script": "x"}, headers=mallory).status_code == 200


def test_login_is_limited_per_address(limited: FlaskClient) -> None:
    codes = [limited.post("/v1/auth/login", json={"username": "demo", "password": "wrong"}).status_code
             for _ in range(5)]
    assert codes == [401, 401, 401, 401, 429]


def test_process_limit_counts_dry_runs_too(limited: FlaskClient) -> None:
    demo = login(limited)
    scene = {"speaker": "Evan", "dialogue": "Hello"}
    codes = [limited.post("/v1/process?dry_run=true", json=scene, headers=demo).status_code,
             limited.post("/v1/process", json=scene, headers=demo).status_code,
             limited.post("/v1/process", json=scene, headers=demo).status_code]
    assert codes == [200, 202, 429]


def test_retry_after_only_on_the_refusal(limited: FlaskClient) -> None:
    demo = login(limited)
    scene = {"speaker": "Evan", "dialogue": "Hello"}
    served = [limited.post("/v1/process", json=scene, headers=demo) for _ in range(2)]
    refused = limited.post("/v1/process", json=scene, headers=demo)
    assert [r.status_code for r in served] == [202, 202] and refused.status_code == 429
    for response in served:
        # A 202 tells the client how much is left, and nothing about retrying.
        assert "Retry-After" not in response.headers
        assert response.headers["X-RateLimit-Limit"] == "2" and "X-RateLimit-Reset" in response.headers
    assert served[1].headers["X-RateLimit-Remaining"] == "0"
    assert 0 < int(refused.headers["Retry-After"]) <= 60


def _socket(base: str, token: str) -> websocket.WebSocket:
    """A socket that authenticates by message (no token in the URL for the limiter to find)."""
    ws = websocket.create_connection(f"{base}/v1/ws", timeout=10)
    ws.send(json.dumps({"type": "auth", "token": token}))
    assert _answer(ws)["type"] == "welcome"
    return ws


def _answer(ws: websocket.WebSocket) -> dict[str, Any]:
    """The next answer to a request, past the events and notices of subscribed jobs."""
    while True:
        message: dict[str, Any] = json.loads(ws.recv())
        if message["type"] not in ("subscribed", "event", "ping"):
            return message


def test_websocket_process_shares_the_users_process_bucket(limited: FlaskClient, served: str) -> None:
    demo = login(limited)
    scene = {"speaker": "Evan", "dialogue": "Hello"}
    assert limited.post("/v1/process", json=scene, headers=demo).status_code == 202
    ws = _socket(served, demo["Authorization"].removeprefix("Bearer "))
    try:
        ws.send(json.dumps({"type": "process", "scene": scene}))
        assert _answer(ws)["type"] == "accepted"
        ws.send(json.dumps({"type": "process", "scene": scene}))
        refused = _answer(ws)
        assert (refused["type"], refused["code"], refused["request"]) == ("error", "rate_limited", "process")
    finally:
        ws.close()
    assert limited.post("/process", json=scene, headers=demo).status_code == 429
    # Another user's socket has its own bucket.
    mallory = login(limited, "mallory", "mallory-password")
    other = _socket(served, mallory["Authorization"].removeprefix("Bearer "))
    try:
        other.send(json.dumps({"type": "process", "scene": scene}))
        assert _answer(other)["type"] == "accepted"
    finally:
        other.close()
