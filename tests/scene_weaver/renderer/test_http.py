"""Plain HTTP on the renderer's port: images, stats, health."""

from __future__ import annotations

from collections.abc import Callable

import requests

from tests.support.renderer import RendererProcess

from .support import connect, generate, handshake, outcome_of, recv_until, send


def test_health_and_unknown_paths(renderer: RendererProcess) -> None:
    assert requests.get(f"{renderer.http_url}/health", timeout=5).status_code == 200
    assert requests.get(f"{renderer.http_url}/images/nope.png", timeout=5).status_code == 404
    assert requests.get(f"{renderer.http_url}/elsewhere", timeout=5).status_code == 404


def test_stats_count_requests_outcomes_and_connections(start_renderer: Callable[..., RendererProcess]) -> None:
    renderer = start_renderer("--max-in-flight", "1")
    assert renderer.stats() == {"requests": 0, "generated": 0, "failed": 0, "dropped": 0, "in_flight": 0,
                                "connections": 0, "handshakes": 0, "canceled": 0}
    ws = connect(renderer)
    try:
        handshake(ws)
        send(ws, generate("a", "first"))
        send(ws, generate("b", "second"))  # refused: only one in flight
        recv_until(ws, outcome_of("a"))
    finally:
        ws.close()
    stats = renderer.stats()
    assert stats["requests"] == 2 and stats["generated"] == 1 and stats["failed"] == 1
    assert stats["connections"] == 1 and stats["handshakes"] == 1 and stats["in_flight"] == 0


def test_image_url_uses_the_host_the_client_connected_to(renderer: RendererProcess) -> None:
    ws = connect(renderer)
    try:
        handshake(ws)
        send(ws, generate("h", "address"))
        ready = recv_until(ws, outcome_of("h"))[-1]
    finally:
        ws.close()
    assert ready["image_url"] == f"{renderer.http_url}/images/h.png"
