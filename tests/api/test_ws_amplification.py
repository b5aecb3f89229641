"""One WebSocket message cannot make the server do or send a thousand things.

The probe's attacks: ``{"type":"subscribe","job_ids":[J]*2000}`` (20,000 messages back),
duplicates that slipped past the subscription cap, and 2,000 pings in one burst.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
import websocket
from flask.testing import FlaskClient

from scene_weaver.settings import Settings

from .conftest import SECRET, login, submit

MAX_SUBSCRIPTIONS = 2


@pytest.fixture
def settings(redis_url: str, tmp_path: Path) -> Settings:
    return Settings.from_env({"REDIS_URL": redis_url, "SCENE_WEAVER_HOME": str(tmp_path),
                              "JWT_SECRET_KEY": SECRET, "RATE_LIMIT_LOGIN": "1000/minute",
                              "RATE_LIMIT_PROCESS": "1000/minute",
                              "WS_MAX_SUBSCRIPTIONS": str(MAX_SUBSCRIPTIONS)})


@pytest.fixture
def token(client: FlaskClient) -> str:
    return login(client)["Authorization"].removeprefix("Bearer ")


def _open(served: str, token: str) -> websocket.WebSocket:
    ws = websocket.create_connection(f"{served}/v1/ws", timeout=20)
    ws.send(json.dumps({"type": "auth", "token": token}))
    assert json.loads(ws.recv())["type"] == "welcome"
    return ws


def _answers(ws: websocket.WebSocket, message: dict[str, Any]) -> tuple[list[dict[str, Any]], int]:
    """Everything the server sends for ``message``, and its bytes: read up to the pong of a ping sent after it."""
    ws.send(json.dumps(message))
    ws.send(json.dumps({"type": "ping"}))
    received: list[dict[str, Any]] = []
    size = 0
    while True:
        text = ws.recv()
        size += len(text)
        answer = json.loads(text)
        if answer["type"] == "pong":
            return received, size
        received.append(answer)


def test_two_thousand_copies_of_one_job_id_get_one_bounded_answer(client: FlaskClient, served: str,
                                                                  token: str) -> None:
    job_id = submit(client, {"Authorization": f"Bearer {token}"})
    ws = _open(served, token)
    try:
        received, size = _answers(ws, {"type": "subscribe", "job_ids": [job_id] * 2000})
        assert [m.get("code") for m in received] == ["too_many_job_ids"]
        assert size < 1000
        # Within the cap, duplicates count once: one subscription, one replay.
        received, _ = _answers(ws, {"type": "subscribe", "job_ids": [job_id] * 50})
        assert [m["type"] for m in received if m["type"] == "subscribed"] == ["subscribed"]
        assert len([m for m in received if m["type"] == "event"]) == 1  # "queued"
    finally:
        ws.close()


def test_duplicates_do_not_bypass_the_subscription_cap(client: FlaskClient, served: str, token: str) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    first, second, third = (submit(client, headers, entry_id=f"00{n}") for n in range(3))
    ws = _open(served, token)
    try:
        received, _ = _answers(ws, {"type": "subscribe", "job_ids": [first, first, first, second]})
        assert sorted(m["job_id"] for m in received if m["type"] == "subscribed") == sorted([first, second])
        received, _ = _answers(ws, {"type": "subscribe", "job_ids": [second, third, third]})
        assert [m.get("code") for m in received] == ["too_many_subscriptions"]
        received, _ = _answers(ws, {"type": "subscribe", "job_ids": [second, second]})
        assert [m["type"] for m in received if m["type"] == "subscribed"] == ["subscribed"]
    finally:
        ws.close()


def test_a_burst_of_two_thousand_pings_is_rate_limited(served: str, token: str) -> None:
    ws = _open(served, token)
    try:
        for _ in range(2000):
            ws.send('{"type":"ping"}')
        # The bucket refills: a marker (an unknown job) is answered once it has a token again.
        pongs = limited = 0
        deadline = time.monotonic() + 60
        ws.send(json.dumps({"type": "subscribe", "job_id": "marker"}))
        ws.settimeout(1)
        while time.monotonic() < deadline:
            try:
                answer = json.loads(ws.recv())
            except websocket.WebSocketTimeoutException:
                ws.send(json.dumps({"type": "subscribe", "job_id": "marker"}))
                continue
            if answer.get("code") == "job_not_found":
                break
            pongs += answer["type"] == "pong"
            limited += answer.get("code") == "rate_limited"
        else:
            pytest.fail("the socket stopped answering")
    finally:
        ws.close()
    assert limited >= 1
    assert pongs < 400, f"{pongs} pongs for 2,000 pings"
