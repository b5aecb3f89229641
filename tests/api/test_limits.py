"""Rate limits per user (per address for login), shared by /v1 and bare paths, as 429s in our model."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis
from flask.testing import FlaskClient

from api import create_app
from scene_weaver.settings import Settings
from scene_weaver.users import UserStore

from .conftest import SECRET, login


@pytest.fixture
def limited(redis_url: str, tmp_path: Path, redis_client: redis.Redis) -> FlaskClient:
    settings = Settings.from_env({"REDIS_URL": redis_url, "SCENE_WEAVER_HOME": str(tmp_path),
                                  "JWT_SECRET_KEY": SECRET, "RATE_LIMIT_PARSE": "3/minute",
                                  "RATE_LIMIT_LOGIN": "4/minute", "RATE_LIMIT_PROCESS": "2/minute"})
    UserStore(redis_client, rounds=4).add("mallory", "mallory-password")
    return create_app(settings).test_client()


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
