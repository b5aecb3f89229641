from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient

from api.app import create_app
from scene_weaver.settings import Settings
from scene_weaver.users import UserStore
from tests.support.serving import serve_app

SECRET = "api-test-secret-api-test-secret-0123456789"


@pytest.fixture
def settings(redis_url: str, tmp_path: Path) -> Settings:
    return Settings.from_env({
        "REDIS_URL": redis_url,
        "SCENE_WEAVER_HOME": str(tmp_path),
        "JWT_SECRET_KEY": SECRET,
        "RATE_LIMIT_LOGIN": "1000/minute",
    })


@pytest.fixture
def served(app: Flask) -> Iterator[str]:
    """The app (or a test module's own ``app``) on a real loopback server, for WebSocket clients."""
    with serve_app(app) as base:
        yield base


@pytest.fixture
def app(settings: Settings, redis_client: redis.Redis) -> Iterator[Flask]:
    app = create_app(settings)
    UserStore(redis_client, rounds=4).add("mallory", "mallory-password")
    UserStore(redis_client, rounds=4).add("root", "root-password", "admin")
    yield app


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def login(client: FlaskClient, username: str = "demo", password: str = "demo-password") -> dict[str, str]:
    response = client.post("/v1/auth/login", json={"username": username, "password": password})
    assert response.status_code == 200, response.get_data(as_text=True)
    return {"Authorization": f"Bearer {response.get_json()['access_token']}"}


SCENE = {"speaker": "Evan", "dialogue": "What is a lighthouse without the sea?", "entry_id": "0007"}


def submit(client: FlaskClient, headers: dict[str, str], **extra: object) -> str:
    response = client.post("/v1/process", json={**SCENE, **extra}, headers=headers)
    assert response.status_code == 202, response.get_data(as_text=True)
    return str(response.get_json()["job_id"])
