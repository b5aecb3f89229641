"""One `weaver` dialect session: handshake, multiplexed requests, progress, cancel, status, batch."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from .drawing import clamp_side, render_png, resolve_seed
from .http_routes import image_path
from .options import is_retryable
from .state import RendererState
from .wire import GARBAGE_FRAMES, FrameError, parse_frame, send_json, send_text

__all__ = ["MODEL_NAME", "PROTOCOL_VERSION", "InvalidRequest", "RenderRequest", "WeaverDialectHandler",
           "parse_render_request"]

log = logging.getLogger("scene_weaver.renderer")

MODEL_NAME = "scene-weaver-renderer/drawing-v1"
PROTOCOL_VERSION = "1.0"
CAPABILITIES = ["progress", "cancel", "batch"]
PROGRESS_STEPS = (0, 25, 50, 75)
DROP_AFTER_PROGRESS = 50
DEFAULT_SIDE = 1024


class InvalidRequest(ValueError):
    """A request the renderer will never be able to serve: answered with INVALID_REQUEST."""


@dataclass(frozen=True)
class RenderRequest:
    """One picture a client asked for, validated."""

    request_id: str
    prompt: str
    width: int
    height: int
    seed: int
    caption: str | None = None


def _side(parameters: dict[str, Any], name: str) -> int:
    value = parameters.get(name, DEFAULT_SIDE)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidRequest(f"parameters.{name} must be a number")
    return clamp_side(int(value))


def caption_of(metadata: Any) -> str | None:
    """The spoken line a client put in the request's metadata, if any."""
    caption = metadata.get("caption") if isinstance(metadata, dict) else None
    if not isinstance(caption, str) or not caption.strip():
        return None
    return caption.strip()[:500]


def parse_render_request(request_id: str, data: Any) -> RenderRequest:
    if not isinstance(data, dict):
        raise InvalidRequest("'data' must be an object")
    prompt = data.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise InvalidRequest("'prompt' must be a non-empty string")
    parameters = data.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise InvalidRequest("'parameters' must be an object")
    seed = parameters.get("seed", -1)
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise InvalidRequest("parameters.seed must be an integer")
    return RenderRequest(request_id, prompt, _side(parameters, "width"), _side(parameters, "height"),
               resolve_seed(prompt, seed), caption_of(data.get("metadata")))


class WeaverDialectHandler:
    """Serves one connection until it closes; requests run as tasks so the session multiplexes."""

    def __init__(self, connection: ServerConnection, state: RendererState, base_url: str) -> None:
        self._connection = connection
        self._state = state
        self._base_url = base_url
        self._handshaken = False
        self._slots = asyncio.Semaphore(state.options.max_in_flight)
        self._tasks: dict[str, asyncio.Task[bool]] = {}
        self._batches: set[asyncio.Task[None]] = set()

    async def run(self) -> None:
        try:
            async for raw in self._connection:
                await self._dispatch(raw)
        except ConnectionClosed:
            pass
        finally:
            for task in [*self._tasks.values(), *self._batches]:
                task.cancel()

    async def _send(self, payload: dict[str, Any]) -> bool:
        return await send_json(self._connection, payload)

    async def _error(self, code: str, message: str, request_id: Any = None) -> None:
        frame: dict[str, Any] = {"type": "error", "error": {"code": code, "message": message}}
        if request_id is not None:
            frame["request_id"] = request_id
        await self._send(frame)

    async def _dispatch(self, raw: str | bytes) -> None:
        try:
            message = parse_frame(raw)
        except FrameError as exc:
            await self._error("INVALID_MESSAGE", str(exc))
            return
        kind = message["type"]
        if kind == "ping":
            await self._send({"type": "pong", "nonce": message.get("nonce")})
            return
        if kind == "handshake":
            await self._handshake()
            return
        handler = self._HANDLERS.get(kind)
        if handler is None:
            await self._error("UNKNOWN_TYPE", f"unknown message type {kind!r}", message.get("request_id"))
            return
        if not self._handshaken:
            await self._error("INVALID_MESSAGE", "handshake required before requests", message.get("request_id"))
            return
        await handler(self, message)

    async def _handshake(self) -> None:
        if self._state.options.handshake_delay:
            await asyncio.sleep(self._state.options.handshake_delay)
        self._handshaken = True
        self._state.stats.handshakes += 1
        await self._send({
            "type": "handshake_ack", "server": "scene-weaver-renderer", "version": PROTOCOL_VERSION,
            "capabilities": CAPABILITIES, "max_in_flight": self._state.options.max_in_flight,
        })

    async def _generation_error(self, request_id: str, code: str, message: str) -> None:
        self._state.stats.failed += 1
        error: dict[str, Any] = {"code": code, "message": message, "retryable": is_retryable(code)}
        if code == "OVERLOADED" and self._state.options.retry_after is not None:
            error["retry_after"] = self._state.options.retry_after
        await self._send({"type": "generation_error", "request_id": request_id, "error": error})

    def _request_id(self, message: dict[str, Any]) -> str | None:
        request_id = message.get("request_id")
        return request_id if isinstance(request_id, str) and request_id else None

    async def _on_generate(self, message: dict[str, Any]) -> None:
        request_id = self._request_id(message)
        if request_id is None:
            await self._error("INVALID_MESSAGE", "generate_image needs a string 'request_id'")
            return
        if request_id in self._tasks:
            return  # a duplicate of a request still running: its one outcome is on the way
        self._state.stats.requests += 1
        try:
            request = parse_render_request(request_id, message.get("data"))
        except InvalidRequest as exc:
            await self._generation_error(request_id, "INVALID_REQUEST", str(exc))
            return
        if self._slots.locked():
            limit = self._state.options.max_in_flight
            await self._generation_error(request_id, "OVERLOADED", f"more than {limit} requests in flight")
            return
        await self._slots.acquire()  # free, so this does not wait
        self._start(request, holds_slot=True)

    def _start(self, request: RenderRequest, *, holds_slot: bool) -> asyncio.Task[bool]:
        self._state.statuses.set(request.request_id, "processing" if holds_slot else "queued", 0)
        task = asyncio.create_task(self._run_request(request, holds_slot=holds_slot))
        self._tasks[request.request_id] = task
        return task

    async def _run_request(self, request: RenderRequest, *, holds_slot: bool) -> bool:
        stats = self._state.stats
        if not holds_slot:
            try:
                await self._slots.acquire()
            except asyncio.CancelledError:
                self._forget(request.request_id)
                raise
            self._state.statuses.set(request.request_id, "processing", 0)
        stats.in_flight += 1
        try:
            return await self._generate(request)
        finally:
            stats.in_flight -= 1
            self._slots.release()
            self._forget(request.request_id)

    def _forget(self, request_id: str) -> None:
        if self._tasks.get(request_id) is asyncio.current_task():
            del self._tasks[request_id]

    async def _generate(self, request: RenderRequest) -> bool:
        state, faults, rid = self._state, self._state.faults, request.request_id
        fail, drop, garble = faults.should_fail(), faults.should_drop(), faults.should_garble()
        latency = faults.latency()
        started = time.perf_counter()
        # Draw while "generating", and keep every step on a deadline from the start, so the
        # time to image_ready is the configured latency, not latency plus our own overhead.
        drawing = None if fail else asyncio.ensure_future(asyncio.to_thread(
            render_png, request.prompt, request.width, request.height, request.seed, request.caption))
        try:
            for step, progress in enumerate(PROGRESS_STEPS):
                state.statuses.set(rid, "processing", progress)
                await self._send({"type": "progress_update", "request_id": rid, "progress": progress,
                                  "stage": "generating"})
                if drop and progress == DROP_AFTER_PROGRESS:
                    state.stats.dropped += 1
                    log.info("dropping connection mid-request %s", rid)
                    self._connection.transport.abort()
                    return False
                step_deadline = started + latency * (step + 1) / len(PROGRESS_STEPS)
                await asyncio.sleep(max(0.0, step_deadline - time.perf_counter()))
            if garble:
                await send_text(self._connection, GARBAGE_FRAMES[faults.choice(len(GARBAGE_FRAMES))])
            if drawing is None:
                self._finish(rid)
                code = state.options.fail_code
                await self._generation_error(rid, code, f"injected failure ({code})")
                return False
            png = await drawing
        finally:
            if drawing is not None and not drawing.done():
                drawing.cancel()
        state.images.put(rid, png)
        state.stats.generated += 1
        self._finish(rid)
        await self._send({"type": "progress_update", "request_id": rid, "progress": 100, "stage": "finalizing"})
        await self._send({
            "type": "image_ready", "request_id": rid, "image_url": self._base_url + image_path(rid),
            "mime_type": "image/png",
            "metadata": {"generation_time": round(time.perf_counter() - started, 3), "model": MODEL_NAME,
                         "size": [request.width, request.height], "seed": request.seed},
        })
        return True

    def _finish(self, request_id: str) -> None:
        """Mark the outcome decided before sending it, so a late cancel finds nothing to cancel."""
        self._tasks.pop(request_id, None)
        self._state.statuses.set(request_id, "completed", 100)

    async def _on_cancel(self, message: dict[str, Any]) -> None:
        request_id = self._request_id(message)
        task = self._tasks.pop(request_id, None) if request_id else None
        if task is not None and request_id is not None:
            task.cancel()
            self._state.stats.canceled += 1
            self._state.statuses.set(request_id, "cancelled", self._state.statuses.get(request_id)[1])
            status = "cancelled"
        elif request_id and self._state.statuses.get(request_id)[0] == "cancelled":
            status = "cancelled"
        else:
            status = "not_found"
        await self._send({"type": "cancel_response", "request_id": request_id, "status": status})

    async def _on_status(self, message: dict[str, Any]) -> None:
        request_id = self._request_id(message)
        status, progress = self._state.statuses.get(request_id) if request_id else ("not_found", 0)
        await self._send({"type": "status_response", "request_id": request_id, "status": status,
                          "progress": progress})

    async def _on_batch(self, message: dict[str, Any]) -> None:
        batch_id = message.get("batch_id")
        data = message.get("data")
        requests = data.get("requests") if isinstance(data, dict) else None
        if not isinstance(batch_id, str) or not isinstance(requests, list) or not requests:
            await self._error("INVALID_MESSAGE", "batch_generate needs 'batch_id' and a non-empty data.requests")
            return
        await self._send({"type": "batch_accepted", "batch_id": batch_id, "count": len(requests)})
        tasks: list[asyncio.Task[bool]] = []
        rejected = 0
        for item in requests:
            request_id = item.get("request_id") if isinstance(item, dict) else None
            if not isinstance(request_id, str) or not request_id or request_id in self._tasks:
                rejected += 1
                await self._error("INVALID_MESSAGE", "batch item needs a unique string 'request_id'", request_id)
                continue
            self._state.stats.requests += 1
            try:
                request = parse_render_request(request_id, item)
            except InvalidRequest as exc:
                rejected += 1
                await self._generation_error(request_id, "INVALID_REQUEST", str(exc))
                continue
            tasks.append(self._start(request, holds_slot=False))
        batch = asyncio.create_task(self._complete_batch(batch_id, tasks, rejected))
        self._batches.add(batch)
        batch.add_done_callback(self._batches.discard)

    async def _complete_batch(self, batch_id: str, tasks: list[asyncio.Task[bool]], rejected: int) -> None:
        results = await asyncio.gather(*tasks, return_exceptions=True)
        succeeded = sum(1 for result in results if result is True)
        await self._send({"type": "batch_completed", "batch_id": batch_id, "succeeded": succeeded,
                          "failed": len(results) - succeeded + rejected})

    _HANDLERS = {
        "generate_image": _on_generate,
        "cancel_request": _on_cancel,
        "get_status": _on_status,
        "batch_generate": _on_batch,
    }
