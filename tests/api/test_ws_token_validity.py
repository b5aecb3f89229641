"""An open WebSocket keeps checking its token: logout or expiry closes it with 1008.

The probe's attack: log in, open a socket, log out (or wait past ``exp``), then send
``process`` on the socket that is still open. It must not be accepted.
"""

from __future__ import annotations

import json
import struct
import time
from pathlib import Path
from typing import Any

import jwt
import pytest
import websocket
from flask.testing import FlaskClient

from scene_weaver.settings import Settings

from .conftest import SCENE, SECRET, login

EXPIRES = 4


@pytest.fixture
def settings(redis_url: str, tmp_path: Path) -> Settings:
    return Settings.from_env({"REDIS_URL": redis_url, "SCENE_WEAVER_HOME": str(tmp_path),
                              "JWT_SECRET_KEY": SECRET, "RATE_LIMIT_LOGIN": "1000/minute",
                              "JWT_ACCESS_EXPIRES": str(EXPIRES)})


def _open(served: str, token: str) -> websocket.WebSocket:
    ws = websocket.create_connection(f"{served}/v1/ws", timeout=20)
    ws.send(json.dumps({"type": "auth", "token": token}))
    assert json.loads(ws.recv())["type"] == "welcome"
    return ws


def _until_closed(ws: websocket.WebSocket) -> tuple[list[dict[str, Any]], int]:
    messages: list[dict[str, Any]] = []
    while True:
        opcode, data = ws.recv_data(control_frame=True)
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            return messages, struct.unpack("!H", data[:2])[0]
        if opcode == websocket.ABNF.OPCODE_TEXT:
            messages.append(json.loads(data.decode()))


def _jobs(client: FlaskClient, headers: dict[str, str]) -> int:
    return len(client.get("/v1/jobs", headers=headers).get_json()["jobs"])


def test_process_after_logout_closes_the_socket_1008(client: FlaskClient, served: str) -> None:
    headers = login(client)
    ws = _open(served, headers["Authorization"].removeprefix("Bearer "))
    try:
        ws.send(json.dumps({"type": "process", "scene": SCENE}))
        assert json.loads(ws.recv())["type"] == "accepted"
        assert client.post("/v1/auth/logout", headers=headers).status_code == 200
        ws.send(json.dumps({"type": "process", "scene": {**SCENE, "entry_id": "0008"}}))
        messages, code = _until_closed(ws)
    finally:
        ws.close()
    assert code == 1008
    assert [m.get("code") for m in messages if m["type"] == "error"] == ["token_revoked"]
    assert not [m for m in messages if m["type"] == "accepted"]
    assert _jobs(client, login(client)) == 1


def test_an_expired_token_closes_the_socket_1008(client: FlaskClient, served: str) -> None:
    headers = login(client)
    token = headers["Authorization"].removeprefix("Bearer ")
    expires = jwt.decode(token, options={"verify_signature": False})["exp"]
    ws = _open(served, token)
    try:
        ws.send(json.dumps({"type": "ping"}))
        assert json.loads(ws.recv())["type"] == "pong"
        # The server closes the socket at exp by itself; a process sent before it
        # arrives is refused the same way (checked before each message).
        messages, code = _until_closed(ws)
        closed_at = time.time()
    finally:
        ws.close()
    assert code == 1008
    assert closed_at >= expires
    assert [m.get("code") for m in messages if m["type"] == "error"] == ["token_expired"]
    assert _jobs(client, login(client)) == 0
