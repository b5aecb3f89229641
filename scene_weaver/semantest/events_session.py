"""The ``semantest-events`` dialect: enveloped events on a broadcasting server.

Every client sees every other client's events, so a session acts only on events that
name a request it sent, by ``requestId`` or by the file name it chose
(``<request id>.png``). The picture lands in a shared downloads folder, which the
session reads once the file is complete.
"""

from __future__ import annotations

import logging
import mimetypes
import os
import time
import uuid
from pathlib import Path
from typing import Any

import websocket

from ..errors import GenerationFailed, SemantestError
from .images import checked_image
from .models import GeneratedImage, GenerationRequest
from .session import BaseSession

__all__ = ["EventsSession", "REQUESTED", "RESPONSE", "STATUS", "DOWNLOADED"]

log = logging.getLogger(__name__)

REQUESTED = "semantest/custom/image/download/requested"
RESPONSE = "semantest/custom/image/response"
STATUS = "semantest/custom/image/status"
DOWNLOADED = "semantest/custom/image/downloaded"
_STATUS_PROGRESS = {"queued": 0, "started": 5, "generating": 50}
_FILE_STABLE_FOR = 0.3
_FILE_POLL = 0.02


class EventsSession(BaseSession):
    dialect = "semantest-events"

    @property
    def request_timeout(self) -> float:
        return self.settings.semantest_events_request_timeout

    def _handshake(self, ws: websocket.WebSocket, deadline: float) -> None:
        """No handshake in this dialect: the upgrade itself is the whole connection."""
        self.capacity = 1

    def _request_frame(self, request: GenerationRequest) -> dict[str, Any]:
        now = _millis()
        return _envelope(
            REQUESTED,
            {
                "prompt": request.prompt,
                "negativePrompt": request.negative_prompt,
                "parameters": request.parameters(),
                "metadata": {
                    "requestId": request.request_id,
                    "filename": _filename(request.request_id),
                    "downloadFolder": str(self.settings.semantest_download_dir or ""),
                    "timestamp": now,
                    **({"caption": request.metadata["caption"]} if request.metadata.get("caption") else {}),
                },
            },
        )

    def _cancel_frame(self, request_id: str) -> dict[str, Any] | None:
        return None  # the dialect has no cancel: the outcome, if it comes, is ignored

    def _on_message(self, message: dict[str, Any]) -> None:
        if message.get("type") == "ping":
            self._send({"type": "pong"})
            return
        event_type, payload = _unwrap(message)
        if event_type in (DOWNLOADED, RESPONSE, STATUS):
            rid = self._owner(payload)
            if rid is None:
                return  # another worker's request, or one nobody can attribute
            if event_type == DOWNLOADED:
                if payload.get("success", True):
                    self._deliver(rid, "ready", payload)
                else:
                    self._deliver(rid, "error", _failed(payload, "DOWNLOAD_FAILED"))
            elif event_type == RESPONSE:
                if payload.get("success") is False:
                    self._deliver(rid, "error", _failed(payload, "REJECTED"))
            else:
                stage = str(payload.get("status") or "")
                progress = payload.get("progress", _STATUS_PROGRESS.get(stage, 50))
                self._deliver(rid, "progress", (int(progress), stage))
        elif event_type == "error":
            log.warning("session %s: server error %s", self.name, payload)
        elif event_type is None:
            log.warning("session %s: ignoring a frame with no event: %.200r", self.name, message)

    def _owner(self, payload: dict[str, Any]) -> str | None:
        """The id of this session's request the event belongs to, if any."""
        raw = payload.get("metadata")
        metadata: dict[str, Any] = raw if isinstance(raw, dict) else {}
        rid = payload.get("requestId") or metadata.get("requestId")
        if rid:
            return str(rid) if str(rid) in self._pending else None
        filename = payload.get("filename") or metadata.get("filename")
        if not filename and payload.get("path"):
            filename = os.path.basename(str(payload["path"]))  # noqa: PTH119 - see _materialize
        for pending_id in list(self._pending):
            if filename and filename == _filename(pending_id):
                return pending_id
        return None

    def _materialize(self, request: GenerationRequest, outcome: Any, deadline: float) -> GeneratedImage:
        folder = self.settings.semantest_download_dir
        if folder is None:
            raise SemantestError(
                "SEMANTEST_DOWNLOAD_DIR is not set", code="configuration_error", retryable=False
            )
        # os.path.basename gives "" for "dir/" (then the request's own name is used);
        # Path.name would give "dir".
        name = os.path.basename(str(outcome.get("filename") or outcome.get("path") or ""))  # noqa: PTH119
        if not name:
            name = _filename(request.request_id)
        size = outcome.get("size")
        data = _read_when_complete(Path(folder) / name, size if isinstance(size, int) else None, deadline)
        mime = mimetypes.guess_type(name)[0] or "image/png"
        metadata = {k: v for k, v in outcome.items() if k not in ("success",)}
        metadata["request_id"] = request.request_id
        return checked_image(data, mime, metadata)


def _read_when_complete(path: Path, size: int | None, deadline: float) -> bytes:
    """The file's bytes once its size matches ``size`` or, with no size, stops changing."""
    last_size, stable_since = -1, time.monotonic()
    while True:
        try:
            current = path.stat().st_size
        except FileNotFoundError:
            current = -1
        now = time.monotonic()
        if current != last_size:
            last_size, stable_since = current, now
        if current >= 0:
            if size is not None and current == size:
                return path.read_bytes()
            if (size is None or current > size) and current > 0 and now - stable_since >= _FILE_STABLE_FOR:
                return path.read_bytes()
        if now >= deadline:
            raise SemantestError(
                f"{path.name} was not complete in time ({current} of {size} bytes)",
                code="timeout",
                retryable=True,
            )
        time.sleep(_FILE_POLL)


def _unwrap(message: dict[str, Any]) -> tuple[str | None, dict[str, Any]]:
    """(event type, event payload) from an envelope, a bare event, or an error frame."""
    kind = message.get("type")
    inner = message.get("payload")
    if kind == "event" and isinstance(inner, dict):
        event_payload = inner.get("payload")
        return _str(inner.get("type")), event_payload if isinstance(event_payload, dict) else {}
    return _str(kind), inner if isinstance(inner, dict) else {}


def _envelope(event_type: str, payload: dict[str, Any]) -> dict[str, Any]:
    now = _millis()
    event = {"id": f"evt-{uuid.uuid4().hex}", "type": event_type, "timestamp": now, "payload": payload}
    return {"id": f"msg-{uuid.uuid4().hex}", "type": "event", "timestamp": now, "payload": event}


def _failed(payload: dict[str, Any], default_code: str) -> GenerationFailed:
    error = payload.get("error")
    message = error.get("message") if isinstance(error, dict) else error
    code = str(payload.get("code") or (error.get("code") if isinstance(error, dict) else None) or default_code)
    retryable = payload.get("retryable")
    return GenerationFailed(
        str(message or code), code=code, retryable=retryable if isinstance(retryable, bool) else True
    )


def _filename(request_id: str) -> str:
    return f"{request_id}.png"


def _millis() -> int:
    return int(time.time() * 1000)


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None
