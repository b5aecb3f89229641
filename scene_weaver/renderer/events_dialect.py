"""The `semantest-events` dialect: a broadcasting hub that "downloads" images into a folder.

It behaves like the Semantest project's own server: every event a client sends reaches
every other client, and the generator's replies reach everyone, sometimes without a
request id (clients must then match by filename). Files are written in chunks with
pauses, so a reader has to wait until the file is complete.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from pathlib import Path
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from .drawing import clamp_side, render_png, resolve_seed
from .state import RendererState
from .weaver_dialect import caption_of
from .wire import GARBAGE_FRAMES, FrameError, now_ms, parse_frame, send_json, send_text

__all__ = ["DOWNLOAD_REQUESTED", "IMAGE_RESPONSE", "IMAGE_STATUS", "IMAGE_DOWNLOADED", "EventsHub", "envelope"]

log = logging.getLogger("scene_weaver.renderer")

DOWNLOAD_REQUESTED = "semantest/custom/image/download/requested"
IMAGE_RESPONSE = "semantest/custom/image/response"
IMAGE_STATUS = "semantest/custom/image/status"
IMAGE_DOWNLOADED = "semantest/custom/image/downloaded"
FILE_CHUNKS = 4
CHUNK_PAUSE = 0.02
DEFAULT_SIDE = 1024


def envelope(event_type: str, payload: dict[str, Any]) -> dict[str, Any]:
    stamp = now_ms()
    event = {"id": f"evt-{uuid.uuid4().hex[:12]}", "type": event_type, "timestamp": stamp, "payload": payload}
    return {"id": f"msg-{uuid.uuid4().hex[:12]}", "type": "event", "timestamp": stamp, "payload": event}


def _event_of(message: dict[str, Any]) -> dict[str, Any] | None:
    """The inner event, whether wrapped in an envelope or sent with its type at the top level."""
    inner = message.get("payload")
    if message["type"] == "event" and isinstance(inner, dict) and isinstance(inner.get("type"), str):
        return inner
    if "/" in message["type"] or "." in message["type"]:
        return message
    return None


def _side(payload: dict[str, Any], name: str) -> int:
    for source in (payload.get("parameters"), payload.get("metadata"), payload):
        if isinstance(source, dict) and isinstance(source.get(name), int) and not isinstance(source[name], bool):
            return clamp_side(source[name])
    return DEFAULT_SIDE


class EventsHub:
    """Every connected client, and the download requests being worked on."""

    def __init__(self, state: RendererState, download_dir: Path) -> None:
        self._state = state
        self._download_dir = download_dir
        self._clients: set[ServerConnection] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._requests_seen = 0

    async def serve(self, connection: ServerConnection) -> None:
        self._clients.add(connection)
        try:
            await send_json(connection, envelope("system.connected", {
                "clientId": f"client-{uuid.uuid4().hex[:8]}", "server": "scene-weaver-renderer"}))
            async for raw in connection:
                await self._dispatch(connection, raw)
        except ConnectionClosed:
            pass
        finally:
            self._clients.discard(connection)

    def close(self) -> None:
        for task in self._tasks:
            task.cancel()

    async def _broadcast(self, message: dict[str, Any]) -> None:
        await asyncio.gather(*(send_json(client, message) for client in list(self._clients)))

    async def _broadcast_text(self, text: str, exclude: ServerConnection | None = None) -> None:
        targets = [client for client in self._clients if client is not exclude]
        await asyncio.gather(*(send_text(client, text) for client in targets))

    async def _dispatch(self, connection: ServerConnection, raw: str | bytes) -> None:
        try:
            message = parse_frame(raw)
        except FrameError as exc:
            await send_json(connection, {"type": "error", "payload": {"message": str(exc), "code": "INVALID_MESSAGE"}})
            return
        if message["type"] == "ping":
            await send_json(connection, {"type": "pong", "timestamp": now_ms()})
            return
        event = _event_of(message)
        if event is None:
            await send_json(connection, {"type": "error", "payload": {
                "message": f"unknown message type {message['type']!r}", "code": "UNKNOWN_TYPE"}})
            return
        assert isinstance(raw, str)  # parse_frame refuses binary frames
        await self._broadcast_text(raw, exclude=connection)
        if event["type"] == DOWNLOAD_REQUESTED:
            payload = event.get("payload")
            task = asyncio.create_task(self._download(connection, payload if isinstance(payload, dict) else {}))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _download(self, requester: ServerConnection, payload: dict[str, Any]) -> None:
        state, faults = self._state, self._state.faults
        self._requests_seen += 1
        number = self._requests_seen
        raw_metadata = payload.get("metadata")
        metadata: dict[str, Any] = raw_metadata if isinstance(raw_metadata, dict) else {}
        request_id = metadata.get("requestId")
        filename = Path(str(metadata.get("filename") or f"{request_id or f'image-{number}'}.png")).name
        if filename in ("", ".", ".."):
            filename = f"image-{number}.png"
        prompt = payload.get("prompt")
        state.stats.requests += 1
        if not isinstance(prompt, str) or not prompt.strip():
            state.stats.failed += 1
            await self._broadcast(envelope(IMAGE_RESPONSE, {"success": False, "error": "prompt is required",
                                                            "requestId": request_id}))
            return
        fail, drop, garble = faults.should_fail(), faults.should_drop(), faults.should_garble()
        state.stats.in_flight += 1
        try:
            if number % 3 != 0:  # the acknowledgement is optional: leave it out now and then
                await self._broadcast(envelope(IMAGE_RESPONSE, {"success": True}))
            await self._broadcast(envelope(IMAGE_STATUS, {"status": "generating", "requestId": request_id}))
            await asyncio.sleep(faults.latency())
            if drop:
                state.stats.dropped += 1
                requester.transport.abort()
                return
            if garble:
                await self._broadcast_text(GARBAGE_FRAMES[faults.choice(len(GARBAGE_FRAMES))])
            if fail:
                state.stats.failed += 1
                await self._broadcast(envelope(IMAGE_RESPONSE, {
                    "success": False, "error": f"injected failure ({state.options.fail_code})",
                    "requestId": request_id}))
                return
            seed = payload.get("seed") if isinstance(payload.get("seed"), int) else None
            png = await asyncio.to_thread(render_png, prompt, _side(payload, "width"), _side(payload, "height"),
                                          resolve_seed(prompt, seed), caption_of(metadata))
            await self._write_in_chunks(self._download_dir / filename, png)
            state.stats.generated += 1
            result: dict[str, Any] = {"success": True, "path": f"~/Downloads/{filename}", "filename": filename,
                                      "size": len(png)}
            if number % 2 == 1:  # the real extension often omits it: clients must match by filename
                result["requestId"] = request_id
            await self._broadcast(envelope(IMAGE_DOWNLOADED, result))
        finally:
            state.stats.in_flight -= 1

    async def _write_in_chunks(self, path: Path, data: bytes) -> None:
        chunk = max(1, -(-len(data) // FILE_CHUNKS))
        with path.open("wb") as handle:
            for start in range(0, len(data), chunk):
                handle.write(data[start:start + chunk])
                handle.flush()
                await asyncio.sleep(CHUNK_PAUSE)
