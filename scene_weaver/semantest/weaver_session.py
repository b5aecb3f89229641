"""The ``weaver`` dialect: a handshake, then requests multiplexed by ``request_id``."""

from __future__ import annotations

import json
import logging
import time
import urllib.parse
from typing import Any

import websocket

from ..errors import GenerationFailed, SemantestError
from .images import checked_image, decode_b64, fetch_bytes
from .models import GeneratedImage, GenerationRequest
from .session import BaseSession

__all__ = ["WeaverSession", "NON_RETRYABLE_CODES"]

log = logging.getLogger(__name__)

CLIENT_VERSION = "1.0"
CAPABILITIES = ["progress", "cancel", "batch"]
NON_RETRYABLE_CODES = frozenset({"CONTENT_REJECTED", "INVALID_REQUEST"})
MAX_RETRY_AFTER = 3600.0  # a server naming a longer delay is trusted only this far
_QUIET_TYPES = frozenset(
    {"cancel_response", "status_response", "batch_accepted", "batch_completed", "handshake_ack"}
)


class WeaverSession(BaseSession):
    dialect = "weaver"

    @property
    def request_timeout(self) -> float:
        return self.settings.semantest_request_timeout

    def _handshake(self, ws: websocket.WebSocket, deadline: float) -> None:
        ws.send_text(
            json.dumps({"type": "handshake", "client": "scene-weaver", "version": CLIENT_VERSION,
                   "capabilities": CAPABILITIES})
        )
        while True:
            message = self._recv_json(ws, deadline)
            if message is None or message.get("type") != "handshake_ack":
                if message is not None and message.get("type") == "error":
                    raise _server_error(message)
                continue
            try:
                self.capacity = max(1, int(message.get("max_in_flight") or 1))
            except (TypeError, ValueError):
                self.capacity = 1
            return

    def _request_frame(self, request: GenerationRequest) -> dict[str, Any]:
        return {
            "type": "generate_image",
            "request_id": request.request_id,
            "data": {
                "prompt": request.prompt,
                "negative_prompt": request.negative_prompt,
                "parameters": request.parameters(),
                "metadata": dict(request.metadata),
            },
        }

    def _cancel_frame(self, request_id: str) -> dict[str, Any] | None:
        return {"type": "cancel_request", "request_id": request_id}

    def _on_message(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        rid = message.get("request_id")
        if kind == "pong":
            return
        if kind == "ping":
            self._send({"type": "pong", "nonce": message.get("nonce")})
        elif kind == "progress_update":
            progress = int(message.get("progress") or 0)
            self._deliver(rid, "progress", (progress, str(message.get("stage") or "")))
        elif kind == "image_ready":
            self._deliver(rid, "ready", message)
        elif kind == "generation_error":
            self._deliver(rid, "error", _generation_failed(message.get("error")))
        elif kind == "error":
            log.warning("session %s: server error %s", self.name, message.get("error"))
        elif kind not in _QUIET_TYPES:
            log.warning("session %s: ignoring unknown message type %r", self.name, kind)

    def _materialize(self, request: GenerationRequest, outcome: Any, deadline: float) -> GeneratedImage:
        metadata = dict(outcome.get("metadata") or {})
        metadata.setdefault("request_id", request.request_id)
        if outcome.get("image_b64"):
            data = decode_b64(str(outcome["image_b64"]))
        elif outcome.get("image_url"):
            url = str(outcome["image_url"])
            data = fetch_bytes(url, timeout=deadline - time.monotonic(), headers=self._fetch_headers(url))
        else:
            raise SemantestError("image_ready carries neither image_url nor image_b64", code="invalid_image")
        return checked_image(data, outcome.get("mime_type"), metadata)

    def _fetch_headers(self, url: str) -> dict[str, str]:
        """The API key goes only to the Semantest host itself, never to a third party."""
        key = self.settings.semantest_api_key
        if key and urllib.parse.urlsplit(url).hostname == urllib.parse.urlsplit(self.url).hostname:
            return {"Authorization": f"Bearer {key}"}
        return {}


def _generation_failed(error: Any) -> GenerationFailed:
    error = error if isinstance(error, dict) else {}
    code = str(error.get("code") or "INTERNAL")
    retryable = error.get("retryable")
    if not isinstance(retryable, bool):
        retryable = code not in NON_RETRYABLE_CODES
    return GenerationFailed(str(error.get("message") or code), code=code, retryable=retryable,
                            retry_after=_retry_after(error.get("retry_after")))


def _retry_after(value: Any) -> float:
    """The delay a reply names (``error.retry_after``, seconds), bounded; 0 when absent or not a number."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        return 0.0
    return min(float(value), MAX_RETRY_AFTER)


def _server_error(message: dict[str, Any]) -> SemantestError:
    raw = message.get("error")
    error: dict[str, Any] = raw if isinstance(raw, dict) else {}
    code = str(error.get("code") or "INTERNAL")
    if code == "UNAUTHORIZED":
        return SemantestError(str(error.get("message") or code), code="unauthorized", retryable=False)
    return SemantestError(str(error.get("message") or code), code=code.lower(), retryable=True)
