"""Where a token is accepted and which tokens are: a header on HTTP routes (``?token=`` only
on the WebSocket), and never a token that cannot expire or be revoked."""

from __future__ import annotations

import json
import time

import jwt
import pytest
import websocket
from flask.testing import FlaskClient

from .conftest import SECRET, login, submit


def _forged(**claims: object) -> str:
    """A token signed with the API's own secret, shaped by ``claims`` (None drops a claim)."""
    now = int(time.time())
    payload = {"sub": "demo", "jti": "j-forged", "type": "access", "fresh": False, "iat": now, "nbf": now,
               "exp": now + 600, "role": "user", **claims}
    return jwt.encode({k: v for k, v in payload.items() if v is not None}, SECRET, algorithm="HS256")


@pytest.mark.parametrize("missing", ["exp", "jti"])
@pytest.mark.parametrize("token_type", ["access", "refresh"])
def test_a_token_without_exp_or_jti_is_invalid_even_for_logout(client: FlaskClient, missing: str,
                                                               token_type: str) -> None:
    token = _forged(**{missing: None, "type": token_type})
    headers = {"Authorization": f"Bearer {token}"}
    logout = client.post("/v1/auth/logout", headers=headers)
    assert logout.status_code == 401 and logout.get_json()["error"]["code"] == "invalid_token"
    assert missing in logout.get_json()["error"]["message"]
    route = "/v1/jobs" if token_type == "access" else "/v1/auth/refresh"
    response = client.open(route, method="GET" if token_type == "access" else "POST", headers=headers)
    assert response.status_code == 401 and response.get_json()["error"]["code"] == "invalid_token"


def test_logout_still_revokes_a_complete_token(client: FlaskClient) -> None:
    headers = login(client)
    assert client.post("/v1/auth/logout", headers=headers).status_code == 200
    assert client.get("/v1/jobs", headers=headers).get_json()["error"]["code"] == "token_revoked"


def test_query_tokens_are_refused_on_http_routes(client: FlaskClient) -> None:
    user = login(client)["Authorization"].removeprefix("Bearer ")
    admin = login(client, "root", "root-password")["Authorization"].removeprefix("Bearer ")
    job_id = submit(client, {"Authorization": f"Bearer {user}"})
    for method, path in (("GET", "/v1/jobs"), ("GET", f"/v1/jobs/{job_id}"), ("GET", f"/v1/jobs/{job_id}/events"),
                         ("GET", f"/v1/jobs/{job_id}/image"), ("POST", f"/v1/jobs/{job_id}/cancel"),
                         ("POST", "/v1/auth/logout"), ("GET", "/jobs")):
        response = client.open(f"{path}?token={user}", method=method)
        assert response.status_code == 401, (method, path)
        assert response.get_json()["error"]["code"] == "missing_token", (method, path)
    for method, path in (("PUT", "/v1/config"), ("POST", "/v1/cache/clear")):
        response = client.open(f"{path}?token={admin}", method=method, json={"default_style": "manga"})
        assert response.status_code == 401, (method, path)


def test_the_websocket_still_takes_a_query_token_but_not_one_without_exp(client: FlaskClient, served: str) -> None:
    token = login(client)["Authorization"].removeprefix("Bearer ")
    ws = websocket.create_connection(f"{served}/v1/ws?token={token}", timeout=20)
    try:
        assert json.loads(ws.recv())["type"] == "welcome"
    finally:
        ws.close()
    ws = websocket.create_connection(f"{served}/v1/ws?token={_forged(exp=None)}", timeout=20)
    try:
        refused = json.loads(ws.recv())
        assert (refused["type"], refused["code"]) == ("error", "invalid_token")
    finally:
        ws.close()
