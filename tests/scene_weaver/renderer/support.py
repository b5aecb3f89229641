"""Talk to a renderer subprocess with the synchronous websocket-client, as a worker would."""

from __future__ import annotations

import json
import struct
from collections.abc import Callable
from typing import Any

import websocket

from tests.support.renderer import RendererProcess

Message = dict[str, Any]


def connect(renderer: RendererProcess, headers: list[str] | None = None,
            timeout: float = 5.0) -> websocket.WebSocket:
    return websocket.create_connection(renderer.url, timeout=timeout, header=headers or [])


def send(ws: websocket.WebSocket, payload: Message) -> None:
    ws.send(json.dumps(payload))


def recv(ws: websocket.WebSocket) -> Message:
    return json.loads(ws.recv())  # type: ignore[no-any-return]


def recv_until(ws: websocket.WebSocket, done: Callable[[Message], bool], limit: int = 200) -> list[Message]:
    """Collect frames up to and including the first one ``done`` accepts."""
    seen: list[Message] = []
    for _ in range(limit):
        message = recv(ws)
        seen.append(message)
        if done(message):
            return seen
    raise AssertionError(f"no matching frame in {seen}")


def handshake(ws: websocket.WebSocket) -> Message:
    send(ws, {"type": "handshake", "client": "scene-weaver", "version": "1.0",
              "capabilities": ["progress", "cancel", "batch"]})
    return recv(ws)


def generate(request_id: str, prompt: str, width: int = 128, height: int = 96, seed: int = 7) -> Message:
    return {"type": "generate_image", "request_id": request_id,
            "data": {"prompt": prompt, "negative_prompt": "",
                     "parameters": {"width": width, "height": height, "steps": 30, "guidance_scale": 7.5,
                                    "seed": seed, "style": "graphic novel"},
                     "metadata": {"job_id": "job-1", "entry_id": "0001"}}}


def outcome_of(request_id: str) -> Callable[[Message], bool]:
    return lambda m: m.get("request_id") == request_id and m["type"] in ("image_ready", "generation_error")


def close_code(ws: websocket.WebSocket) -> int | None:
    """Read until the server's close frame and return its code (None if the socket just died)."""
    try:
        for _ in range(100):
            opcode, frame = ws.recv_data_frame(True)
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                return struct.unpack("!H", frame.data[:2])[0] if len(frame.data) >= 2 else None
    except (websocket.WebSocketConnectionClosedException, ConnectionError):
        return None
    finally:
        # websocket-client answers the close frame but keeps the socket open; the server
        # would then wait its close timeout for the TCP close.
        ws.shutdown()
    raise AssertionError("server never closed the connection")
