"""Frame helpers both dialects share: parse, send without dying on a closed socket, garbage."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

__all__ = ["GARBAGE_FRAMES", "FrameError", "now_ms", "parse_frame", "send_json", "send_text"]

log = logging.getLogger("scene_weaver.renderer")

# What --malformed-rate sends before a real answer: each is something a robust client ignores.
GARBAGE_FRAMES = (
    "{not json",
    "[1, 2, 3]",
    '{"type": "progress_update"}',
    '{"type": "renderer.debug.noise", "detail": "ignore me"}',
    "\x00\x01 garbage \ufffd",
)


class FrameError(ValueError):
    """A frame that is not a JSON object with a string ``type``."""


def now_ms() -> int:
    return int(time.time() * 1000)


def parse_frame(raw: str | bytes) -> dict[str, Any]:
    if isinstance(raw, bytes):
        raise FrameError("binary frames are not part of the protocol")
    try:
        message = json.loads(raw)
    except ValueError as exc:
        raise FrameError(f"invalid JSON: {exc}") from None
    if not isinstance(message, dict):
        raise FrameError("a frame must be a JSON object")
    if not isinstance(message.get("type"), str):
        raise FrameError("a frame needs a string 'type'")
    return message


async def send_text(connection: ServerConnection, text: str) -> bool:
    """Send one frame; a peer that went away is normal here, so report it instead of raising."""
    try:
        await connection.send(text)
    except ConnectionClosed:
        return False
    return True


async def send_json(connection: ServerConnection, payload: dict[str, Any]) -> bool:
    return await send_text(connection, json.dumps(payload))
