"""Idle live connections cannot starve the API (issue 10: eight idle sockets froze it).

Through gunicorn on loopback: 200 unauthenticated WebSockets that never send a frame, 200
logged-in idle WebSockets and 200 SSE streams on a queued job, all open at once, while
``GET /health/live`` and ``POST /v1/process`` are timed; each keeps a p99 under 250 ms.
The short run is in ``make test``; the 30 s one, the issue's, is under ``chaos``.
"""

from __future__ import annotations

import contextlib
import json
import socket
import statistics
import time
from collections.abc import Iterator

import pytest
import redis
import requests
import websocket

from .stack import Stack

pytestmark = pytest.mark.e2e

EACH = 200
P99_LIMIT = 0.25


@pytest.fixture(scope="module")
def api(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    redis.Redis.from_url(redis_url).flushdb()
    # No worker: the SSE streams follow a job that stays queued. The unauthenticated window is
    # long here so that the idle sockets stay open for the whole run (the harder case).
    stack = Stack(redis_url, tmp_path_factory.mktemp("long-lived"), WS_AUTH_TIMEOUT="120",
                  LIVE_MAX_PER_USER=str(3 * EACH), LIVE_MAX_PER_ADDRESS=str(4 * EACH),
                  RATE_LIMIT_PROCESS="100000/minute")
    try:
        stack.start_api(workers=2)
        yield stack
    finally:
        stack.stop()


def _sse(api: Stack, token: str, job_id: str) -> socket.socket:
    conn = socket.create_connection(("127.0.0.1", api.api_port), timeout=30)
    conn.sendall(f"GET /v1/jobs/{job_id}/events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                 f"Authorization: Bearer {token}\r\nAccept: text/event-stream\r\n\r\n".encode())
    head = b""
    while b"retry:" not in head:
        chunk = conn.recv(4096)
        assert chunk, f"the stream closed: {head!r}\n{api.api.tail(40) if api.api else ''}"
        head += chunk
    assert head.startswith(b"HTTP/1.1 200"), head[:200]
    return conn


def _timed(api: Stack, token: str, seconds: float) -> dict[str, list[float]]:
    timings: dict[str, list[float]] = {"GET /health/live": [], "POST /v1/process": []}
    headers = {"Authorization": f"Bearer {token}"}
    scene = {"speaker": "Iris", "dialogue": ["Does the lighthouse dream?"]}
    end = time.monotonic() + seconds
    with requests.Session() as http:
        while time.monotonic() < end:
            started = time.monotonic()
            assert http.get(api.base + "/health/live", timeout=10).status_code == 200
            timings["GET /health/live"].append(time.monotonic() - started)
            started = time.monotonic()
            assert http.post(api.base + "/v1/process", json=scene, headers=headers, timeout=10).status_code == 202
            timings["POST /v1/process"].append(time.monotonic() - started)
    return timings


def _p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98]


def _hold_and_measure(api: Stack, seconds: float) -> None:
    token = api.login()
    job = requests.post(api.base + "/v1/process", json={"speaker": "Iris", "dialogue": ["Wait."]},
                        headers={"Authorization": f"Bearer {token}"}, timeout=10).json()["job_id"]
    ws_url = f"ws://127.0.0.1:{api.api_port}/v1/ws"
    held: list[websocket.WebSocket | socket.socket] = []
    try:
        for _ in range(EACH):
            held.append(websocket.create_connection(ws_url, timeout=30))
        for _ in range(EACH):
            ws = websocket.create_connection(ws_url, timeout=30)
            held.append(ws)
            ws.send(json.dumps({"type": "auth", "token": token}))
            assert json.loads(ws.recv())["type"] == "welcome"
        for _ in range(EACH):
            held.append(_sse(api, token, job))
        timings = _timed(api, token, seconds)
        p99s = {name: _p99(values) for name, values in timings.items()}
        print(f"\n{3 * EACH} live connections held; over {seconds:g} s: "
              + ", ".join(f"{name} n={len(timings[name])} p99={p99 * 1000:.0f} ms" for name, p99 in p99s.items()))
        for name, p99 in p99s.items():
            assert p99 < P99_LIMIT, f"{name}: p99 {p99 * 1000:.0f} ms with {3 * EACH} live connections open"
    finally:
        for conn in held:
            with contextlib.suppress(OSError, websocket.WebSocketException):
                conn.close()


def test_six_hundred_idle_live_connections_do_not_slow_the_api(api: Stack) -> None:
    _hold_and_measure(api, 15)


@pytest.mark.chaos
def test_six_hundred_idle_live_connections_for_thirty_seconds(api: Stack) -> None:
    _hold_and_measure(api, 30)
