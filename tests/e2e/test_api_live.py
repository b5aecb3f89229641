"""The API over real processes: limits across gunicorn workers, SSE and WebSocket replay after a
disconnect, signed webhooks to a loopback receiver, and unauthenticated sockets closed with 1008."""

from __future__ import annotations

import json
import struct
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import redis
import requests
import websocket

from scene_weaver.webhooks import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify

from .stack import Stack

pytestmark = pytest.mark.e2e

WEBHOOK_SECRET = "e2e-webhook-secret-0123456789"
SCENE = {"speaker": "Iris", "dialogue": ["Does the lighthouse dream?"], "width": 256, "height": 192}
TERMINAL = {"succeeded", "failed", "canceled"}


@pytest.fixture(scope="module")
def live(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    redis.Redis.from_url(redis_url).flushdb()
    home: Path = tmp_path_factory.mktemp("api-live")
    stack = Stack(redis_url, home, RATE_LIMIT_PARSE="5/minute", WEBHOOK_SECRET=WEBHOOK_SECRET,
                  STREAM_KEEPALIVE="1", WEBHOOK_PROGRESS_INTERVAL="0.1")
    try:
        stack.start_renderer("--latency", "1.5")
        stack.start_worker()
        stack.start_webhook_worker()
        stack.start_api(workers=2)
        yield stack
    finally:
        stack.stop()


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _submit(stack: Stack, token: str, **extra: Any) -> str:
    response = requests.post(f"{stack.base}/v1/process", json={**SCENE, **extra}, headers=_auth(token), timeout=10)
    assert response.status_code == 202, response.text
    return str(response.json()["job_id"])


def test_rate_limit_holds_across_two_gunicorn_workers(live: Stack) -> None:
    token = live.login()
    answers = []
    for _ in range(8):
        # A new connection each time, so the requests spread over both workers.
        with requests.Session() as session:
            answers.append(session.post(f"{live.base}/v1/parse", json={"script": "[0001] A: <<b>>"},
                                        headers={**_auth(token), "Connection": "close"}, timeout=10))
    assert [a.status_code for a in answers] == [200] * 5 + [429] * 3
    # Retry-After on the refusals only; the remaining count on every answer.
    assert [a.headers.get("Retry-After") is not None for a in answers] == [False] * 5 + [True] * 3
    assert [a.headers["X-RateLimit-Remaining"] for a in answers[:5]] == ["4", "3", "2", "1", "0"]


def _sse(stack: Stack, token: str, job_id: str, last_id: str | None, stop_after: int | None) -> list[dict[str, Any]]:
    headers = _auth(token)
    if last_id:
        headers["Last-Event-ID"] = last_id
    events: list[dict[str, Any]] = []
    with requests.get(f"{stack.base}/v1/jobs/{job_id}/events", headers=headers, stream=True, timeout=30) as response:
        assert response.status_code == 200
        for line in response.iter_lines(decode_unicode=True):
            if line.startswith("data: "):
                events.append(json.loads(line[6:]))
                if stop_after is not None and len(events) >= stop_after:
                    break  # the client disconnects mid-stream
    return events


def test_sse_replays_after_a_disconnect(live: Stack) -> None:
    token = live.login()
    job_id = _submit(live, token)
    first = _sse(live, token, job_id, None, stop_after=2)
    rest = _sse(live, token, job_id, first[-1]["id"], stop_after=None)
    assert rest and rest[-1]["status"] == "succeeded"
    everything = _sse(live, token, job_id, None, stop_after=None)
    assert [e["id"] for e in first + rest] == [e["id"] for e in everything]
    assert [e["type"] for e in everything][:2] == ["queued", "started"]


def _ws(stack: Stack, query: str = "") -> websocket.WebSocket:
    return websocket.create_connection(f"ws://127.0.0.1:{stack.api_port}/v1/ws{query}", timeout=20)


def _recv(ws: websocket.WebSocket) -> dict[str, Any]:
    return json.loads(ws.recv())


def test_websocket_process_subscribe_and_replay_after_a_disconnect(live: Stack) -> None:
    token = live.login()
    ws = _ws(live, f"?token={token}")
    assert _recv(ws)["type"] == "welcome"
    ws.send(json.dumps({"type": "process", "scene": SCENE, "idempotency_key": "ws-1"}))
    accepted = _recv(ws)
    assert accepted["type"] == "accepted" and accepted["created"] is True
    job_id = accepted["job"]["job_id"]
    seen: list[dict[str, Any]] = []
    while len(seen) < 2:
        message = _recv(ws)
        if message["type"] == "event":
            seen.append(message["event"])
    ws.close()

    again = _ws(live)
    again.send(json.dumps({"type": "auth", "token": token}))
    assert _recv(again)["type"] == "welcome"
    again.send(json.dumps({"type": "subscribe", "job_id": job_id, "after": seen[-1]["id"]}))
    pinged = False
    while not seen or seen[-1]["status"] not in TERMINAL:
        message = _recv(again)
        if message["type"] == "event":
            assert message["job_id"] == job_id
            seen.append(message["event"])
        pinged = pinged or message["type"] == "ping"
    ids = [e["id"] for e in seen]
    assert len(ids) == len(set(ids)) and seen[-1]["status"] == "succeeded"
    full = requests.get(f"{live.base}/v1/jobs/{job_id}/events", headers=_auth(token), timeout=30).text
    assert ids == [line[4:] for line in full.splitlines() if line.startswith("id: ")]
    # Idle now: the server's keep-alive ping (STREAM_KEEPALIVE=1) arrives.
    again.send(json.dumps({"type": "ping"}))
    deadline = time.monotonic() + 5
    while not pinged and time.monotonic() < deadline:
        pinged = _recv(again)["type"] == "ping"
    assert pinged
    again.close()


def _close_code(ws: websocket.WebSocket) -> int:
    while True:
        opcode, data = ws.recv_data(control_frame=True)
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            return int(struct.unpack("!H", data[:2])[0])


def test_unauthenticated_sockets_are_closed_with_1008(live: Stack) -> None:
    for query, first in (("", {"type": "subscribe", "job_id": "x"}), ("?token=not-a-token", None)):
        ws = _ws(live, query)
        if first is not None:
            ws.send(json.dumps(first))
        assert _close_code(ws) == 1008
        ws.close()


class _Receiver(BaseHTTPRequestHandler):
    deliveries: list[tuple[dict[str, str], bytes]] = []

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).deliveries.append(({k.lower(): v for k, v in self.headers.items()}, body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_signed_webhooks_reach_a_loopback_receiver(live: Stack) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        token = live.login()
        url = f"http://127.0.0.1:{server.server_address[1]}/hook"
        # force: an earlier test drew this scene, and only a drawing sends progress events.
        job_id = _submit(live, token, webhook_url=url, force=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if any(b'"event":"completed"' in body for _, body in _Receiver.deliveries):
                break
            time.sleep(0.1)
        events = []
        for headers, body in _Receiver.deliveries:
            stamp, signature = headers[TIMESTAMP_HEADER.lower()], headers[SIGNATURE_HEADER.lower()]
            assert verify(WEBHOOK_SECRET.encode(), stamp, body, signature)
            assert not verify(b"wrong", stamp, body, signature)
            payload = json.loads(body)
            assert payload["job_id"] == job_id
            events.append(payload["event"])
        # Deliveries run concurrently (and retries reorder them): every event arrives, order is not promised.
        assert "started" in events and "completed" in events, events
        assert "progress" in events
        completed = next(json.loads(b) for _, b in _Receiver.deliveries if b'"completed"' in b)
        assert completed["status"] == "succeeded" and completed["result"]["width"] == 256
    finally:
        server.shutdown()
        server.server_close()
