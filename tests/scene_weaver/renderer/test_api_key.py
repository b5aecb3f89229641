"""The renderer's API key (issue 10): with ``SEMANTEST_API_KEY`` set, no handshake and no image
download without it; without it, the renderer stays open.

The probe: a stack given a key still ran an open renderer (the key reached the workers, not
the renderer), and any job's picture was one unauthenticated ``GET /images/<id>.png`` away.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.scene_weaver.semantest.helpers import expected_png, request
from tests.support.renderer import RendererProcess, start_renderer
from tests.support.semantest import PoolFactory

from .support import close_code, connect, generate, handshake, outcome_of, recv_until, send

KEY = "s3cret"
ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def keyed() -> Iterator[RendererProcess]:
    """A renderer given the key the way `scene-weaver up` and compose give it: the environment."""
    process = start_renderer(latency=0.05, env={**os.environ, "SEMANTEST_API_KEY": KEY})
    yield process
    process.stop()


def _image_url(renderer: RendererProcess, request_id: str) -> str:
    ws = connect(renderer, headers=[f"Authorization: Bearer {KEY}"])
    try:
        handshake(ws)
        send(ws, generate(request_id, "a private picture"))
        ready = recv_until(ws, outcome_of(request_id))[-1]
    finally:
        ws.close()
    assert ready["type"] == "image_ready", ready
    return str(ready["image_url"])


@pytest.mark.parametrize("headers", [[], ["Authorization: Bearer wrong"], [f"Authorization: Basic {KEY}"]])
def test_a_handshake_without_the_key_from_the_environment_is_refused(
        keyed: RendererProcess, headers: list[str]) -> None:
    ws = connect(keyed, headers=headers)
    try:
        assert close_code(ws) == 1008
    finally:
        ws.close()


def test_the_key_from_the_environment_is_let_in(keyed: RendererProcess) -> None:
    ws = connect(keyed, headers=[f"Authorization: Bearer {KEY}"])
    try:
        assert handshake(ws)["type"] == "handshake_ack"
    finally:
        ws.close()


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {KEY}"}])
def test_an_image_download_without_the_key_is_401(keyed: RendererProcess, headers: dict[str, str]) -> None:
    url = _image_url(keyed, f"private-{len(headers)}-{headers.get('Authorization', '').split(' ')[0]}")
    response = requests.get(url, headers=headers, timeout=10)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized" and response.headers["WWW-Authenticate"] == "Bearer"
    assert not response.content.startswith(b"\x89PNG")


def test_an_image_download_with_the_key_is_the_picture(keyed: RendererProcess) -> None:
    response = requests.get(_image_url(keyed, "mine"), headers={"Authorization": f"Bearer {KEY}"}, timeout=10)
    assert response.status_code == 200 and response.content.startswith(b"\x89PNG")


def test_health_stays_open_with_a_key(keyed: RendererProcess) -> None:
    assert requests.get(f"{keyed.http_url}/health", timeout=10).status_code == 200


def test_without_a_key_the_renderer_stays_open(renderer: RendererProcess) -> None:
    url = _image_url(renderer, "open")
    assert requests.get(url, timeout=10).status_code == 200


def test_the_client_generates_end_to_end_with_the_key(keyed: RendererProcess, pool_factory: PoolFactory) -> None:
    # The weaver dialect answers with an image_url: the client downloads it with the key.
    wanted = request()
    image = pool_factory(keyed.url, semantest_api_key=KEY).generate(wanted)
    assert image.data == expected_png(wanted)


def test_compose_publishes_only_the_api_port() -> None:
    compose = (ROOT / "docker-compose.yml").read_text()
    published = re.findall(r'^\s+- "(\d+):\d+"', compose, flags=re.MULTILINE)
    assert published == ["8000"], published
    assert "SEMANTEST_API_KEY: ${SEMANTEST_API_KEY:-}" in compose
