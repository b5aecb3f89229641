"""Rate-limited views (process, parse, batch) refuse tokens exactly as ``jwt_required`` does,
although they reuse the verification the limit's key made (``auth.jwt_required_once``)."""

from __future__ import annotations

import time

import jwt
import pytest
import redis
from flask.testing import FlaskClient

from scene_weaver import keys
from scene_weaver.users import UserStore

from .conftest import SCENE, SECRET

LIMITED = (("/v1/process", SCENE), ("/process", SCENE), ("/v1/parse", {"text": "IRIS\nHello."}),
           ("/v1/batch", {"entries": [SCENE]}))


def _token(**overrides: object) -> str:
    now = int(time.time())
    claims = {"sub": "demo", "jti": "limited-1", "type": "access", "fresh": False, "iat": now, "nbf": now,
              "exp": now + 600, "role": "user", **overrides}
    return jwt.encode(claims, SECRET, algorithm="HS256")


def _answer(client: FlaskClient, method: str, path: str, token: str | None, body: object = None) -> tuple[int, str]:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    response = client.open(path, method=method, json=body, headers=headers)
    error = (response.get_json() or {}).get("error") or {}
    return response.status_code, error.get("code", "")


CASES = {
    "missing": lambda: None,
    "garbage": lambda: "not-a-token",
    "expired": lambda: _token(exp=int(time.time()) - 10),
    "wrong signature": lambda: jwt.encode({"sub": "demo", "jti": "x", "exp": int(time.time()) + 60, "type": "access"},
                                          "another-secret-another-secret-0123456789", algorithm="HS256"),
    "refresh as access": lambda: _token(type="refresh"),
    "no jti": lambda: jwt.encode({"sub": "demo", "exp": int(time.time()) + 60, "type": "access"}, SECRET,
                                 algorithm="HS256"),
    "unknown user": lambda: _token(sub="nobody-here"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_refused_token_is_refused_alike_and_writes_nothing(client: FlaskClient, redis_client: redis.Redis,
                                                             case: str) -> None:
    token = CASES[case]()
    expected = _answer(client, "GET", "/v1/jobs", token)
    assert expected[0] in (401, 422), expected
    for path, body in LIMITED:
        assert _answer(client, "POST", path, token, body) == expected, path
    assert redis_client.zcard(keys.all_jobs()) == 0


def test_a_revoked_token_is_refused_on_limited_views(client: FlaskClient, redis_client: redis.Redis) -> None:
    token = _token(jti="limited-revoked")
    assert _answer(client, "POST", "/v1/process", token, SCENE)[0] == 202
    redis_client.set(keys.token_blocklist("limited-revoked"), "1", ex=60)
    assert _answer(client, "POST", "/v1/process", token, SCENE) == (401, "token_revoked")
    assert _answer(client, "POST", "/v1/parse", token, {"text": "IRIS\nHello."}) == (401, "token_revoked")


def test_a_removed_user_is_refused_on_the_next_request(client: FlaskClient, redis_client: redis.Redis) -> None:
    UserStore(redis_client, rounds=4).add("brief", "brief-password")
    token = _token(sub="brief", jti="limited-brief")
    assert _answer(client, "POST", "/v1/process", token, SCENE)[0] == 202
    UserStore(redis_client).remove("brief")
    assert _answer(client, "POST", "/v1/process", token, SCENE) == (401, "unknown_user")
