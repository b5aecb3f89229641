"""Live connections are capped per user and per client address, across API processes.

The probe held idle sockets and SSE streams open until nothing else was answered; here one
user (or one address) past its cap is refused: 429 ``too_many_streams`` for SSE, close 1013
for a WebSocket, and a slot comes back when a connection ends.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import pytest
import redis
import websocket
from flask.testing import FlaskClient

from scene_weaver import keys
from scene_weaver.settings import Settings
from tests.support.waiting import wait_until

from .conftest import SECRET, login, submit


@pytest.fixture
def settings(redis_url: str, tmp_path: Path) -> Settings:
    return Settings.from_env({"REDIS_URL": redis_url, "SCENE_WEAVER_HOME": str(tmp_path),
                              "JWT_SECRET_KEY": SECRET, "RATE_LIMIT_LOGIN": "1000/minute",
                              "LIVE_MAX_PER_USER": "2", "LIVE_MAX_PER_ADDRESS": "3",
                              # Held unauthenticated sockets must outlive the test.
                              "WS_AUTH_TIMEOUT": "120"})


def _close_code(ws: websocket.WebSocket) -> tuple[list[dict[str, Any]], int]:
    messages: list[dict[str, Any]] = []
    while True:
        opcode, data = ws.recv_data(control_frame=True)
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            return messages, struct.unpack("!H", data[:2])[0]
        if opcode == websocket.ABNF.OPCODE_TEXT:
            messages.append(json.loads(data.decode()))


def test_sse_streams_past_the_users_cap_are_429(client: FlaskClient) -> None:
    headers = login(client)
    job_id = submit(client, headers)
    url = f"/v1/jobs/{job_id}/events"
    open_streams = [client.get(url, headers=headers, buffered=False) for _ in range(2)]
    assert [r.status_code for r in open_streams] == [200, 200]
    refused = client.get(url, headers=headers)
    assert refused.status_code == 429
    assert refused.get_json()["error"]["code"] == "too_many_streams"
    assert refused.get_json()["error"]["details"] == {"per": "user", "max": 2}
    open_streams[0].close()
    again = client.get(url, headers=headers, buffered=False)
    assert again.status_code == 200
    again.close()
    open_streams[1].close()


def test_websockets_past_the_addresss_cap_are_closed_1013(served: str, redis_client: redis.Redis) -> None:
    held = [websocket.create_connection(f"{served}/v1/ws", timeout=20) for _ in range(3)]
    try:
        # The handshake ends before the server counts the socket: wait until all three are counted.
        wait_until(lambda: redis_client.zcard(keys.live_streams("addr:127.0.0.1")) == 3, 20,
                   what="three sockets counted")
        extra = websocket.create_connection(f"{served}/v1/ws", timeout=20)
        messages, code = _close_code(extra)
        assert code == 1013
        assert [m["code"] for m in messages] == ["too_many_streams"]
        held.pop().close()

        def admitted() -> bool:
            ws = websocket.create_connection(f"{served}/v1/ws", timeout=20)
            ws.settimeout(0.5)
            try:
                ws.recv()  # an admitted socket waits for auth in silence
            except websocket.WebSocketTimeoutException:
                held.append(ws)
                return True
            except websocket.WebSocketException:
                pass
            ws.close()
            return False

        wait_until(admitted, 20, what="a slot freed by a closed socket")
    finally:
        for ws in held:
            ws.close()


def test_websockets_past_the_users_cap_are_closed_1013(client: FlaskClient, served: str) -> None:
    token = login(client)["Authorization"].removeprefix("Bearer ")
    held = []
    try:
        for _ in range(2):
            ws = websocket.create_connection(f"{served}/v1/ws?token={token}", timeout=20)
            assert json.loads(ws.recv())["type"] == "welcome"
            held.append(ws)
        extra = websocket.create_connection(f"{served}/v1/ws?token={token}", timeout=20)
        messages, code = _close_code(extra)
        assert code == 1013
        assert [(m["code"], m.get("details")) for m in messages] == [("too_many_streams", None)]
    finally:
        for ws in held:
            ws.close()
