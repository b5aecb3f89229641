"""The `weaver` dialect end to end against a real renderer process."""

from __future__ import annotations

import io
import uuid
from collections.abc import Callable, Iterator

import pytest
import requests
import websocket
from PIL import Image

from tests.support.renderer import RendererProcess

from .support import connect, generate, handshake, outcome_of, recv, recv_until, send


@pytest.fixture
def session(renderer: RendererProcess) -> Iterator[websocket.WebSocket]:
    ws = connect(renderer)
    try:
        assert handshake(ws)["type"] == "handshake_ack"
        yield ws
    finally:
        ws.close()


def fetch_image(ws: websocket.WebSocket, prompt: str, width: int = 128, height: int = 96, seed: int = 7) -> bytes:
    request_id = uuid.uuid4().hex
    send(ws, generate(request_id, prompt, width, height, seed))
    ready = recv_until(ws, outcome_of(request_id))[-1]
    assert ready["type"] == "image_ready", ready
    response = requests.get(ready["image_url"], timeout=5)
    assert response.status_code == 200
    return response.content


def test_handshake_ack_announces_capabilities_and_max_in_flight(renderer: RendererProcess) -> None:
    ws = connect(renderer)
    try:
        ack = handshake(ws)
    finally:
        ws.close()
    assert ack["type"] == "handshake_ack"
    assert ack["max_in_flight"] == 8
    assert set(ack["capabilities"]) >= {"progress", "cancel", "batch"}


def test_generate_streams_rising_progress_then_a_fetchable_png(session: websocket.WebSocket) -> None:
    send(session, generate("req-1", "A lonely lighthouse by the sea, saying: \"Who keeps the light?\"", 320, 200))
    frames = recv_until(session, outcome_of("req-1"))
    progress = [f["progress"] for f in frames if f["type"] == "progress_update"]
    assert len(progress) >= 4 and progress == sorted(progress)
    assert progress[0] == 0 and progress[-1] == 100
    ready = frames[-1]
    assert ready["type"] == "image_ready" and ready["mime_type"] == "image/png"
    assert ready["metadata"]["size"] == [320, 200] and ready["metadata"]["seed"] == 7
    assert ready["metadata"]["model"] and ready["metadata"]["generation_time"] >= 0
    response = requests.get(ready["image_url"], timeout=5)
    assert response.headers["Content-Type"] == "image/png"
    image = Image.open(io.BytesIO(response.content))
    assert image.format == "PNG" and image.size == (320, 200)


def test_same_prompt_and_seed_give_identical_bytes(session: websocket.WebSocket) -> None:
    prompt = "Two friends in a calm garden"
    assert fetch_image(session, prompt) == fetch_image(session, prompt)


def test_different_scenes_or_seeds_give_different_images(session: websocket.WebSocket) -> None:
    sea = fetch_image(session, "A stormy sea at night")
    room = fetch_image(session, "A joyful kitchen with three people")
    assert sea != room
    assert fetch_image(session, "A stormy sea at night", seed=8) != sea


def test_sizes_are_clamped(session: websocket.WebSocket) -> None:
    image = Image.open(io.BytesIO(fetch_image(session, "tiny", width=10, height=5000)))
    assert image.size == (64, 2048)


def test_cancel_stops_the_request_and_status_says_cancelled(start_renderer: Callable[..., RendererProcess]) -> None:
    # Latency long enough that the cancel lands mid-request even if this client is slow to send it;
    # then wait past that latency to see that no picture comes.
    latency = 2.0
    renderer = start_renderer("--latency", str(latency))
    ws = connect(renderer)
    try:
        handshake(ws)
        send(ws, generate("slow", "A mysterious forest"))
        assert recv(ws)["type"] == "progress_update"
        send(ws, {"type": "cancel_request", "request_id": "slow"})
        frames = recv_until(ws, lambda m: m["type"] == "cancel_response")
        assert frames[-1] == {"type": "cancel_response", "request_id": "slow", "status": "cancelled"}
        ws.settimeout(latency + 0.5)
        with pytest.raises(websocket.WebSocketTimeoutException):
            while True:
                assert recv(ws)["type"] != "image_ready"
        ws.settimeout(5)
        send(ws, {"type": "get_status", "request_id": "slow"})
        assert recv(ws)["status"] == "cancelled"
        send(ws, {"type": "cancel_request", "request_id": "never-sent"})
        assert recv(ws)["status"] == "not_found"
    finally:
        ws.close()
    assert renderer.stats()["canceled"] == 1


def test_get_status_follows_the_request(start_renderer: Callable[..., RendererProcess]) -> None:
    renderer = start_renderer("--latency", "3")  # still processing when asked, even on a busy machine
    ws = connect(renderer)
    try:
        handshake(ws)
        send(ws, {"type": "get_status", "request_id": "r1"})
        assert recv(ws) == {"type": "status_response", "request_id": "r1", "status": "not_found", "progress": 0}
        send(ws, generate("r1", "A pensive philosopher"))
        recv(ws)
        send(ws, {"type": "get_status", "request_id": "r1"})
        status = recv_until(ws, lambda m: m["type"] == "status_response")[-1]
        assert status["status"] == "processing" and 0 <= status["progress"] < 100
        recv_until(ws, outcome_of("r1"))
        send(ws, {"type": "get_status", "request_id": "r1"})
        assert recv(ws) == {"type": "status_response", "request_id": "r1", "status": "completed", "progress": 100}
    finally:
        ws.close()


def test_batch_is_accepted_answered_and_completed(session: websocket.WebSocket) -> None:
    items = [{"request_id": f"b-{n}", "prompt": f"scene {n} by the sea", "parameters": {"width": 96, "height": 64}}
             for n in range(3)]
    send(session, {"type": "batch_generate", "batch_id": "batch-1", "data": {"requests": items}})
    frames = recv_until(session, lambda m: m["type"] == "batch_completed")
    assert frames[0] == {"type": "batch_accepted", "batch_id": "batch-1", "count": 3}
    assert sorted(f["request_id"] for f in frames if f["type"] == "image_ready") == ["b-0", "b-1", "b-2"]
    assert frames[-1] == {"type": "batch_completed", "batch_id": "batch-1", "succeeded": 3, "failed": 0}


def test_batch_larger_than_max_in_flight_queues_instead_of_failing(start_renderer: Callable[..., RendererProcess]) -> None:
    renderer = start_renderer("--max-in-flight", "2")
    ws = connect(renderer)
    try:
        handshake(ws)
        items = [{"request_id": f"q-{n}", "prompt": "queue", "parameters": {"width": 64, "height": 64}}
                 for n in range(5)]
        send(ws, {"type": "batch_generate", "batch_id": "b", "data": {"requests": items}})
        frames = recv_until(ws, lambda m: m["type"] == "batch_completed")
    finally:
        ws.close()
    assert frames[-1]["succeeded"] == 5 and frames[-1]["failed"] == 0


def test_ping_gets_pong_with_the_nonce(session: websocket.WebSocket) -> None:
    send(session, {"type": "ping", "nonce": "n-42"})
    assert recv(session) == {"type": "pong", "nonce": "n-42"}
    session.ping("proto")  # a protocol ping must not disturb the session
    send(session, {"type": "ping", "nonce": "n-43"})
    assert recv(session)["nonce"] == "n-43"


def test_bad_frames_get_errors_and_the_session_survives(session: websocket.WebSocket) -> None:
    session.send("{this is not json")
    assert recv(session)["error"]["code"] == "INVALID_MESSAGE"
    send(session, {"type": "teleport", "request_id": "x"})
    assert recv(session)["error"]["code"] == "UNKNOWN_TYPE"
    send(session, {"no_type": True})
    assert recv(session)["error"]["code"] == "INVALID_MESSAGE"
    send(session, {"type": "generate_image", "request_id": "bad", "data": {"prompt": ""}})
    error = recv(session)
    assert error["type"] == "generation_error" and error["error"]["code"] == "INVALID_REQUEST"
    assert error["error"]["retryable"] is False
    send(session, generate("after", "still works"))
    assert recv_until(session, outcome_of("after"))[-1]["type"] == "image_ready"


def test_requests_before_the_handshake_are_refused(renderer: RendererProcess) -> None:
    ws = connect(renderer)
    try:
        send(ws, generate("early", "too soon"))
        error = recv(ws)
        assert error["type"] == "error" and error["error"]["code"] == "INVALID_MESSAGE"
        handshake(ws)
        send(ws, generate("late", "now"))
        assert recv_until(ws, outcome_of("late"))[-1]["type"] == "image_ready"
    finally:
        ws.close()


def test_requests_multiplex_on_one_session(start_renderer: Callable[..., RendererProcess]) -> None:
    # Concurrent, not 4 x latency one after another: every request reports progress before any
    # picture is ready. Read from the order of the frames, not a stopwatch.
    renderer = start_renderer("--latency", "1.5")
    ws = connect(renderer)
    try:
        handshake(ws)
        for n in range(4):
            send(ws, generate(f"m-{n}", f"crowd {n}"))
        frames = recv_until(ws, lambda m: m["type"] == "image_ready")
        started = {m["request_id"] for m in frames if m["type"] == "progress_update"}
        ready = {frames[-1]["request_id"]}
        while len(ready) < 4:
            message = recv(ws)
            if message["type"] == "image_ready":
                ready.add(message["request_id"])
    finally:
        ws.close()
    assert started == {"m-0", "m-1", "m-2", "m-3"}, frames
    assert ready == {"m-0", "m-1", "m-2", "m-3"}
