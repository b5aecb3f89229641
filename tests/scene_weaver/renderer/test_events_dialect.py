"""The broadcasting `semantest-events` dialect with a shared download folder."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import websocket
from PIL import Image

from tests.support.renderer import RendererProcess

from .support import Message, connect, recv, recv_until, send

DOWNLOADED = "semantest/custom/image/downloaded"
REQUESTED = "semantest/custom/image/download/requested"
RESPONSE = "semantest/custom/image/response"


def request_event(request_id: str, prompt: str, folder: Path) -> Message:
    return {"id": f"msg-{request_id}", "type": "event", "timestamp": 1722262000000,
            "payload": {"id": f"evt-{request_id}", "type": REQUESTED, "timestamp": 1722262000000,
                        "payload": {"prompt": prompt, "parameters": {"width": 256, "height": 128},
                                    "metadata": {"requestId": request_id, "filename": f"{request_id}.png",
                                                 "downloadFolder": str(folder), "timestamp": 1722262000000}}}}


def event(message: Message) -> dict[str, Any]:
    return message["payload"] if message.get("type") == "event" else message


def event_type(message: Message) -> str:
    return str(event(message).get("type"))


def wait_for(ws: websocket.WebSocket, kind: str, filename: str | None = None) -> list[Message]:
    def done(message: Message) -> bool:
        if event_type(message) != kind:
            return False
        return filename is None or event(message)["payload"].get("filename") == filename
    return recv_until(ws, done)


@pytest.fixture
def events_renderer(start_renderer: Callable[..., RendererProcess], tmp_path: Path) -> tuple[RendererProcess, Path]:
    folder = tmp_path / "downloads"
    return start_renderer("--dialect", "semantest-events", "--download-dir", str(folder)), folder


def test_both_clients_see_the_broadcast_and_the_file_is_complete(events_renderer: tuple[RendererProcess, Path]) -> None:
    renderer, folder = events_renderer
    worker, watcher = connect(renderer), connect(renderer)
    try:
        for ws in (worker, watcher):
            assert event_type(recv(ws)) == "system.connected"
        results = []
        for request_id in ("req-a", "req-b"):
            send(worker, request_event(request_id, "A calm lighthouse by the sea", folder))
            seen_by_worker = wait_for(worker, DOWNLOADED, f"{request_id}.png")
            seen_by_watcher = wait_for(watcher, DOWNLOADED, f"{request_id}.png")
            assert REQUESTED in [event_type(m) for m in seen_by_watcher]  # the other client sees the request
            assert REQUESTED not in [event_type(m) for m in seen_by_worker]  # not echoed to its sender
            statuses = [event(m)["payload"] for m in seen_by_worker if event_type(m).endswith("/image/status")]
            assert statuses and statuses[0]["requestId"] == request_id
            results.append(event(seen_by_worker[-1])["payload"])
            assert event(seen_by_watcher[-1])["payload"] == results[-1]
    finally:
        worker.close()
        watcher.close()
    assert sum(1 for r in results if "requestId" in r) == 1  # sometimes absent: match by filename
    for result in results:
        assert result["success"] is True and result["path"] == f"~/Downloads/{result['filename']}"
        data = (folder / result["filename"]).read_bytes()
        assert len(data) == result["size"]
        assert Image.open(io.BytesIO(data)).size == (256, 128)


def test_top_level_event_types_and_pings_are_understood(events_renderer: tuple[RendererProcess, Path]) -> None:
    renderer, folder = events_renderer
    ws = connect(renderer)
    try:
        recv(ws)
        send(ws, {"type": "ping"})
        assert recv(ws)["type"] == "pong"
        ws.send("{broken")
        assert recv(ws)["type"] == "error"
        inner = request_event("flat", "a tense alley", folder)["payload"]
        send(ws, {"type": REQUESTED, "payload": inner["payload"]})
        wait_for(ws, DOWNLOADED, "flat.png")
    finally:
        ws.close()
    assert (folder / "flat.png").exists()


def test_failures_are_reported_with_the_request_id(start_renderer: Callable[..., RendererProcess], tmp_path: Path) -> None:
    renderer = start_renderer("--dialect", "semantest-events", "--download-dir", str(tmp_path), "--fail-rate", "1")
    ws = connect(renderer)
    try:
        recv(ws)
        send(ws, request_event("bad", "nope", tmp_path))
        failure = recv_until(ws, lambda m: event_type(m) == RESPONSE and not event(m)["payload"]["success"])[-1]
    finally:
        ws.close()
    assert event(failure)["payload"]["requestId"] == "bad" and event(failure)["payload"]["error"]
    assert not (tmp_path / "bad.png").exists()
