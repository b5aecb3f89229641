"""Token attacks each get a 401 with a clear code; production refuses weak secrets."""

from __future__ import annotations

import base64
import json
import secrets
import time
from pathlib import Path

import jwt
import pytest
import redis
from flask.testing import FlaskClient

from api.app import create_app
from scene_weaver import keys
from scene_weaver.errors import ConfigurationError
from scene_weaver.settings import Settings

from .conftest import SECRET, login


def _claims(**overrides: object) -> dict[str, object]:
    now = int(time.time())
    return {"sub": "demo", "jti": "j-1", "type": "access", "fresh": False, "iat": now, "nbf": now,
            "exp": now + 600, "role": "user", **overrides}


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def _code(client: FlaskClient, token: str) -> tuple[int, str]:
    response = client.get("/v1/jobs", headers={"Authorization": f"Bearer {token}"})
    return response.status_code, response.get_json()["error"]["code"]


def test_a_well_formed_token_works(client: FlaskClient) -> None:
    token = jwt.encode(_claims(), SECRET, algorithm="HS256")
    assert client.get("/v1/jobs", headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_expired_token(client: FlaskClient) -> None:
    token = jwt.encode(_claims(exp=int(time.time()) - 60, iat=int(time.time()) - 120,
                               nbf=int(time.time()) - 120), SECRET, algorithm="HS256")
    assert _code(client, token) == (401, "token_expired")


def test_wrongly_signed_token(client: FlaskClient) -> None:
    token = jwt.encode(_claims(), "another-secret-another-secret-0123456789", algorithm="HS256")
    assert _code(client, token) == (401, "invalid_signature")


def test_tampered_payload(client: FlaskClient) -> None:
    header, _payload, signature = jwt.encode(_claims(), SECRET, algorithm="HS256").split(".")
    forged = ".".join([header, _b64(_claims(sub="root", role="admin")), signature])
    assert _code(client, forged) == (401, "invalid_signature")


def test_alg_none(client: FlaskClient) -> None:
    token = jwt.encode(_claims(sub="root", role="admin"), None, algorithm="none")
    assert _code(client, token) == (401, "invalid_algorithm")
    handmade = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(_claims())}."
    assert _code(client, handmade)[0] == 401


def test_other_algorithm_is_refused(client: FlaskClient) -> None:
    token = jwt.encode(_claims(), SECRET * 2, algorithm="HS512")
    assert _code(client, token) == (401, "invalid_algorithm")


def test_garbage_missing_and_refresh_as_access(client: FlaskClient) -> None:
    assert _code(client, "not.a.token") == (401, "invalid_token")
    assert client.get("/v1/jobs").get_json()["error"]["code"] == "missing_token"
    refresh = client.post("/v1/auth/login", json={"username": "demo", "password": "demo-password"}) \
        .get_json()["refresh_token"]
    assert _code(client, refresh)[0] == 401


def test_token_of_a_removed_user(client: FlaskClient, redis_client: redis.Redis) -> None:
    headers = login(client, "mallory", "mallory-password")
    redis_client.delete(keys.user("mallory"))
    response = client.get("/v1/jobs", headers=headers)
    assert response.status_code == 401 and response.get_json()["error"]["code"] == "unknown_user"


def test_access_tokens_expire_in_15_minutes_by_default(client: FlaskClient) -> None:
    tokens = client.post("/v1/auth/login", json={"username": "demo", "password": "demo-password"}).get_json()
    access = jwt.decode(tokens["access_token"], SECRET, algorithms=["HS256"])
    refresh = jwt.decode(tokens["refresh_token"], SECRET, algorithms=["HS256"])
    assert access["exp"] - access["iat"] == 900 == tokens["expires_in"]
    assert refresh["exp"] - refresh["iat"] > 900


def _production(redis_url: str, tmp_path: Path, **env: str) -> Settings:
    return Settings.from_env({"REDIS_URL": redis_url, "SCENE_WEAVER_HOME": str(tmp_path),
                              "SCENE_WEAVER_ENV": "production", **env})


def test_production_refuses_a_missing_or_weak_secret(redis_url: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="JWT_SECRET_KEY"):
        create_app(_production(redis_url, tmp_path))
    with pytest.raises(ConfigurationError, match="JWT_SECRET_KEY"):
        create_app(_production(redis_url, tmp_path, JWT_SECRET_KEY="short"))


def test_production_creates_no_demo_user(redis_url: str, tmp_path: Path, redis_client: redis.Redis) -> None:
    app = create_app(_production(redis_url, tmp_path, JWT_SECRET_KEY=secrets.token_urlsafe(48)))
    assert not redis_client.exists(keys.user("demo"))
    response = app.test_client().post("/v1/auth/login", json={"username": "demo", "password": "demo-password"})
    assert response.status_code == 401 and response.get_json()["error"]["code"] == "invalid_credentials"
    # No CORS origin is allowed by default in production.
    preflight = app.test_client().options("/v1/jobs", headers={
        "Origin": "https://evil.example", "Access-Control-Request-Method": "GET"})
    assert "Access-Control-Allow-Origin" not in preflight.headers


def test_cors_allows_configured_origins(redis_url: str, tmp_path: Path, redis_client: redis.Redis) -> None:
    settings = Settings.from_env({"REDIS_URL": redis_url, "SCENE_WEAVER_HOME": str(tmp_path),
                                  "JWT_SECRET_KEY": SECRET, "CORS_ORIGINS": "https://app.example"})
    client = create_app(settings).test_client()
    ok = client.get("/health", headers={"Origin": "https://app.example"})
    assert ok.headers.get("Access-Control-Allow-Origin") == "https://app.example"
    other = client.get("/health", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers
