"""Hostile input gets a client error with a stable code, never a 500 or a 503.

Each test sends what the probe sent: 100,000 nested brackets, a non-UTF-8 binary frame, a
cursor that decodes to "nan", a job id with ``:events`` appended, the largest stream id.
"""

from __future__ import annotations

import json
import secrets
import struct
from pathlib import Path
from typing import Any

import pytest
import redis
import websocket
from flask.testing import FlaskClient

from api.app import create_app
from scene_weaver import keys
from scene_weaver.settings import Settings
from scene_weaver.users import UserStore

from .conftest import SCENE, login, submit

DEEP = b"[" * 100_000
DEEP_OBJECT = b'{"a":' * 50_000
LARGEST_STREAM_ID = "18446744073709551615-18446744073709551615"


def _error(response: Any) -> tuple[int, str]:
    return response.status_code, response.get_json()["error"]["code"]


@pytest.mark.parametrize("body", [DEEP, DEEP_OBJECT, b'{"speaker": ' + b"[" * 40 + b"]" * 40 + b"}"],
                         ids=["brackets", "objects", "nested-field"])
@pytest.mark.parametrize("method, path", [("POST", "/v1/process"), ("POST", "/v1/parse"),
                                          ("POST", "/v1/auth/login"), ("PUT", "/v1/config"),
                                          ("POST", "/process")])
def test_deeply_nested_json_is_400_invalid_json(client: FlaskClient, method: str, path: str, body: bytes) -> None:
    headers = login(client, "root", "root-password")
    response = client.open(path, method=method, data=body, headers={**headers, "Content-Type": "application/json"})
    assert _error(response) == (400, "invalid_json")
    assert response.get_json()["error"]["details"] == {"max_depth": 32}


def test_non_utf8_body_is_400_invalid_json(client: FlaskClient) -> None:
    response = client.post("/v1/auth/login", data=b'{"username": "\xff\xfe"}',
                           headers={"Content-Type": "application/json"})
    assert _error(response) == (400, "invalid_json")


def test_shallow_json_with_many_brackets_is_still_read(client: FlaskClient) -> None:
    headers = login(client)
    scene = {"speaker": "Evan", "dialogue": [f"[{i}] {{braces}} in a line" for i in range(40)]}
    assert client.post("/v1/process", json=scene, headers=headers).status_code == 202


def _socket(served: str, token: str | None = None) -> websocket.WebSocket:
    ws = websocket.create_connection(f"{served}/v1/ws", timeout=20)
    if token is not None:
        ws.send(json.dumps({"type": "auth", "token": token}))
        assert json.loads(ws.recv())["type"] == "welcome"
    return ws


def _until_closed(ws: websocket.WebSocket) -> tuple[list[dict[str, Any]], int]:
    """The text messages received, then the close code."""
    messages: list[dict[str, Any]] = []
    while True:
        opcode, data = ws.recv_data(control_frame=True)
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            return messages, struct.unpack("!H", data[:2])[0]
        if opcode == websocket.ABNF.OPCODE_TEXT:
            text = data.decode()
            assert not text.startswith("HTTP/"), f"an HTTP response inside the socket: {text[:80]}"
            messages.append(json.loads(text))


def _token(client: FlaskClient) -> str:
    return login(client)["Authorization"].removeprefix("Bearer ")


@pytest.mark.parametrize("authenticated", [False, True], ids=["first-message", "after-welcome"])
def test_websocket_deeply_nested_message_closes_1003(client: FlaskClient, served: str, authenticated: bool) -> None:
    ws = _socket(served, _token(client) if authenticated else None)
    try:
        ws.send(DEEP.decode())
        messages, code = _until_closed(ws)
    finally:
        ws.close()
    assert code == 1003
    assert messages[-1]["code"] == "invalid_json"


@pytest.mark.parametrize("authenticated", [False, True], ids=["first-message", "after-welcome"])
def test_websocket_non_utf8_binary_frame_closes_1007(client: FlaskClient, served: str, authenticated: bool) -> None:
    ws = _socket(served, _token(client) if authenticated else None)
    try:
        ws.send_binary(b'{"type": "ping", "x": "\xff\xfe\xfd"}')
        messages, code = _until_closed(ws)
    finally:
        ws.close()
    assert code == 1007
    assert messages[-1]["code"] == "invalid_json"


def test_websocket_bad_json_keeps_the_socket_and_largest_id_is_refused(client: FlaskClient, served: str) -> None:
    job_id = submit(client, login(client))
    ws = _socket(served, _token(client))
    try:
        ws.send("{not json")
        assert json.loads(ws.recv())["code"] == "invalid_json"
        ws.send_binary(json.dumps({"type": "ping"}).encode())  # a UTF-8 binary frame is read like text
        assert json.loads(ws.recv())["type"] == "pong"
        ws.send(json.dumps({"type": "subscribe", "job_id": job_id, "after": LARGEST_STREAM_ID}))
        refused = json.loads(ws.recv())
        assert (refused["type"], refused["code"]) == ("error", "invalid_event_id")
        ws.send(json.dumps({"type": "subscribe", "job_id": f"{job_id}:events"}))
        assert json.loads(ws.recv())["code"] == "job_not_found"
    finally:
        ws.close()


def test_cursor_nan_is_a_client_error(client: FlaskClient) -> None:
    headers = login(client)
    submit(client, headers)
    for cursor in ("bmFu", "aW5m", "LWluZg"):  # "nan", "inf", "-inf"
        response = client.get(f"/v1/jobs?cursor={cursor}", headers=headers)
        assert _error(response) == (422, "invalid_cursor"), cursor


@pytest.mark.parametrize("suffix", [":events", ":lock", ":cancel", "%3Aevents", "*", ""])
def test_job_ids_outside_the_pattern_are_404_before_redis(client: FlaskClient, suffix: str) -> None:
    headers = login(client)
    job_id = submit(client, headers)
    for route in ("", "/cancel", "/image", "/events"):
        method = "POST" if route == "/cancel" else "GET"
        response = client.open(f"/v1/jobs/{job_id}{suffix}x{route}", method=method, headers=headers)
        assert _error(response) == (404, "job_not_found"), (suffix, route)
    response = client.get(f"/v1/jobs/{job_id}:events", headers=headers)
    assert _error(response) == (404, "job_not_found")


def test_largest_last_event_id_is_a_client_error(client: FlaskClient) -> None:
    headers = login(client)
    job_id = submit(client, headers)
    response = client.get(f"/v1/jobs/{job_id}/events", headers={**headers, "Last-Event-ID": LARGEST_STREAM_ID})
    assert _error(response) == (422, "invalid_event_id")
    response = client.get(f"/v1/jobs/{job_id}/events?last_event_id={LARGEST_STREAM_ID}", headers=headers)
    assert _error(response)[0] == 422


@pytest.mark.parametrize("url", ["http://2130706433/", "http://0x7f000001/", "http://127.1/", "http://0177.0.0.1/",
                                 "http://[64:ff9b::7f00:1]/", "http://[2002:7f00:1::]/", "http://[::127.0.0.1]/"])
def test_webhook_urls_in_numeric_spellings_are_refused_at_submit_in_production(
        redis_url: str, tmp_path: Path, redis_client: redis.Redis, url: str) -> None:
    settings = Settings.from_env({"SCENE_WEAVER_ENV": "production", "REDIS_URL": redis_url,
                                  "SCENE_WEAVER_HOME": str(tmp_path), "JWT_SECRET_KEY": secrets.token_urlsafe(48)})
    client = create_app(settings).test_client()
    UserStore(redis_client, rounds=4).add("alice", "alice-password")
    headers = login(client, "alice", "alice-password")
    response = client.post("/v1/process", json={**SCENE, "webhook_url": url}, headers=headers)
    assert _error(response) == (422, "webhook_url_refused")
    assert redis_client.zcard(keys.user_jobs("alice")) == 0
