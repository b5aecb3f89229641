"""What both dialects share: one WebSocket, a reader thread, requests by id, liveness.

A session is used by many threads at once. Each request waits in its caller's thread
on its own inbox; the reader thread only sorts frames into inboxes, so a slow
``on_progress`` or an image download never stalls the other requests on the socket.
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import select
import ssl
import struct
import threading
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import websocket

from ..errors import JobCanceled, SemantestError, SessionLost
from ..settings import Settings
from .models import GeneratedImage, GenerationRequest

__all__ = ["BaseSession", "ProgressCallback", "close_error"]

log = logging.getLogger(__name__)

ProgressCallback = Callable[[int, str], None]
CANCEL_POLL = 0.2
_IDLE_TICK = 0.25
_CLOSE_CODE = struct.Struct("!H")  # a close frame's payload starts with its status code


def close_error(code: int | None, reason: str = "") -> SemantestError:
    """The error a server's close code means for the requests on that session."""
    if code == websocket.STATUS_TRY_AGAIN_LATER:
        return SemantestError(f"Semantest is overloaded: {reason}", code="overloaded", retryable=True)
    if code == websocket.STATUS_POLICY_VIOLATION:
        return SemantestError(f"Semantest refused us: {reason}", code="unauthorized", retryable=False)
    return SessionLost(f"Semantest closed the session (code {code}) {reason}".strip())


@dataclass
class _Pending:
    request: GenerationRequest
    inbox: queue.SimpleQueue[tuple[str, Any]] = field(default_factory=queue.SimpleQueue)


class BaseSession(ABC):
    dialect: ClassVar[str]

    def __init__(
        self, url: str, settings: Settings, *, on_state_change: Callable[[], None] = lambda: None
    ) -> None:
        self.url = url
        self.settings = settings
        self.name = f"{self.dialect}-{uuid.uuid4().hex[:8]}"
        self.capacity = 1  # learned from the handshake
        self.reserved = 0  # slots handed out by the pool; guarded by the pool's lock
        self.connect_lock = threading.Lock()
        self._on_state_change = on_state_change
        self._lock = threading.Lock()
        self._pending: dict[str, _Pending] = {}
        self._ws: websocket.WebSocket | None = None
        self._reader: threading.Thread | None = None
        self._state = "new"  # new -> connected -> dead | closed
        self._last_rx = time.monotonic()
        self._ping: tuple[str, float] | None = None
        self._loss_reported = False

    # --- state ---------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._state == "connected"

    @property
    def dead(self) -> bool:
        return self._state in ("dead", "closed")

    @property
    def in_flight(self) -> int:
        return len(self._pending)

    def first_to_report_loss(self) -> bool:
        """True for one caller only: a session's death is one fault, however many requests it took."""
        with self._lock:
            first, self._loss_reported = not self._loss_reported, True
            return first

    @property
    @abstractmethod
    def request_timeout(self) -> float: ...

    # --- connecting ------------------------------------------------------------------------

    def connect(self) -> None:
        """Open the socket and handshake; raises a SemantestError saying whether to retry."""
        timeout = self.settings.semantest_handshake_timeout
        deadline = time.monotonic() + timeout
        headers = []
        if self.settings.semantest_api_key:
            headers.append(f"Authorization: Bearer {self.settings.semantest_api_key}")
        # websocket-client checks text frames' UTF-8 byte by byte in Python (a tenth of a worker's
        # CPU at full load); a frame that is not UTF-8 fails JSON decoding and is ignored anyway.
        ws = websocket.WebSocket(enable_multithread=True, skip_utf8_validation=True)
        try:
            ws.connect(self.url, header=headers, timeout=timeout)
        except websocket.WebSocketBadStatusException as exc:
            ws.shutdown()
            raise _status_error(exc.status_code, str(exc)) from exc
        except (OSError, websocket.WebSocketException) as exc:
            ws.shutdown()
            raise SemantestError(
                f"cannot connect to {self.url}: {exc}", code="connect_failed", retryable=True
            ) from exc
        try:
            self._handshake(ws, deadline)
        except BaseException:
            ws.shutdown()
            raise
        ws.settimeout(max(self.settings.semantest_heartbeat_timeout, 1.0))
        with self._lock:
            if self._state != "new":
                ws.shutdown()
                raise SessionLost("session was closed while connecting")
            self._ws = ws
            self._state = "connected"
            self._last_rx = time.monotonic()
        self._reader = threading.Thread(target=self._read_loop, args=(ws,), name=self.name, daemon=True)
        self._reader.start()
        log.info("semantest session %s connected to %s (capacity %d)", self.name, self.url, self.capacity)
        self._on_state_change()

    @abstractmethod
    def _handshake(self, ws: websocket.WebSocket, deadline: float) -> None: ...

    def _recv_json(self, ws: websocket.WebSocket, deadline: float) -> dict[str, Any] | None:
        """One JSON object during the handshake (None for a frame that is not one)."""
        left = deadline - time.monotonic()
        if left <= 0:
            raise SemantestError("handshake timed out", code="handshake_timeout", retryable=True)
        ws.settimeout(left)
        try:
            opcode, frame = ws.recv_data_frame(control_frame=False)
        except websocket.WebSocketTimeoutException as exc:
            raise SemantestError("handshake timed out", code="handshake_timeout") from exc
        except (OSError, websocket.WebSocketException) as exc:
            raise SemantestError(f"handshake failed: {exc}", code="connect_failed") from exc
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            raise close_error(*_close_status(frame.data))
        return _parse(frame.data)

    # --- requests --------------------------------------------------------------------------

    def submit(
        self,
        request: GenerationRequest,
        *,
        on_progress: ProgressCallback,
        should_cancel: Callable[[], bool],
    ) -> GeneratedImage:
        """Send one request and wait for its outcome in the calling thread."""
        rid = request.request_id
        pending = _Pending(request)
        with self._lock:
            if self._state != "connected":
                raise SessionLost(f"session {self.name} is not connected")
            self._pending[rid] = pending
        deadline = time.monotonic() + self.request_timeout
        try:
            self._send(self._request_frame(request))
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    self._cancel_quietly(rid)
                    raise SemantestError(
                        f"request {rid} timed out after {self.request_timeout:.0f}s",
                        code="timeout",
                        retryable=True,
                    )
                try:
                    kind, value = pending.inbox.get(timeout=min(left, CANCEL_POLL))
                except queue.Empty:
                    kind, value = "idle", None
                if should_cancel():
                    self._cancel_quietly(rid)
                    raise JobCanceled(f"request {rid} canceled")
                if kind == "progress":
                    on_progress(*value)
                elif kind == "ready":
                    return self._materialize(request, value, deadline)
                elif kind == "error":
                    raise value
        finally:
            with self._lock:
                self._pending.pop(rid, None)

    def _deliver(self, request_id: str | None, kind: str, value: Any) -> bool:
        pending = self._pending.get(request_id) if request_id else None
        if pending is None:
            return False
        pending.inbox.put((kind, value))
        return True

    def _send(self, message: dict[str, Any]) -> None:
        ws = self._ws
        if ws is None or self._state != "connected":
            raise SessionLost(f"session {self.name} is not connected")
        try:
            ws.send(json.dumps(message))
        except (OSError, websocket.WebSocketException) as exc:
            err = SessionLost(f"sending on session {self.name} failed: {exc}")
            self._die(err)
            raise err from exc

    def _cancel_quietly(self, request_id: str) -> None:
        frame = self._cancel_frame(request_id)
        if frame is None or self._state != "connected":
            return
        with contextlib.suppress(SessionLost):
            self._send(frame)

    @abstractmethod
    def _request_frame(self, request: GenerationRequest) -> dict[str, Any]: ...

    @abstractmethod
    def _cancel_frame(self, request_id: str) -> dict[str, Any] | None: ...

    @abstractmethod
    def _materialize(self, request: GenerationRequest, outcome: Any, deadline: float) -> GeneratedImage: ...

    @abstractmethod
    def _on_message(self, message: dict[str, Any]) -> None: ...

    # --- the reader thread -----------------------------------------------------------------

    def _read_loop(self, ws: websocket.WebSocket) -> None:
        error: SemantestError = SessionLost(f"session {self.name} ended")
        try:
            while self._state == "connected":
                if not _readable(ws, _IDLE_TICK):
                    self._heartbeat()
                    continue
                try:
                    opcode, frame = ws.recv_data_frame(control_frame=True)
                except websocket.WebSocketTimeoutException:
                    continue  # a frame arrives slowly; the heartbeat decides if the peer is gone
                except websocket.WebSocketPayloadException as exc:
                    log.warning("session %s: ignoring undecodable frame: %s", self.name, exc)
                    continue
                self._last_rx = time.monotonic()
                self._ping = None
                if opcode == websocket.ABNF.OPCODE_CLOSE:
                    error = close_error(*_close_status(frame.data))
                    break
                if opcode in (websocket.ABNF.OPCODE_TEXT, websocket.ABNF.OPCODE_BINARY):
                    self._dispatch(frame.data)
        except (OSError, websocket.WebSocketException, ValueError) as exc:
            error = SessionLost(f"session {self.name} dropped: {exc}")
        self._die(error)

    def _dispatch(self, data: bytes | str) -> None:
        message = _parse(data)
        if message is None:
            log.warning("session %s: ignoring a frame that is not a JSON object: %.80r", self.name, data)
            return
        try:
            self._on_message(message)
        except Exception:  # a malformed frame must never kill the session
            log.exception("session %s: ignoring a frame it could not handle: %.200r", self.name, data)

    def _heartbeat(self) -> None:
        now = time.monotonic()
        if self._ping is not None:
            if now - self._ping[1] > self.settings.semantest_heartbeat_timeout:
                self._die(SessionLost(f"session {self.name} missed its heartbeat"))
            return
        if now - self._last_rx >= self.settings.semantest_heartbeat_interval:
            nonce = uuid.uuid4().hex[:12]
            self._ping = (nonce, now)
            with contextlib.suppress(SessionLost):
                self._send({"type": "ping", "nonce": nonce})

    def _die(self, error: SemantestError) -> None:
        with self._lock:
            if self._state in ("dead", "closed"):
                return
            self._state = "dead"
            pending = list(self._pending.values())
            ws = self._ws
        log.warning("semantest session %s lost: %s", self.name, error.message)
        for item in pending:
            item.inbox.put(("error", error))
        if ws is not None:
            ws.abort()
            ws.shutdown()
        self._on_state_change()

    def close(self) -> None:
        with self._lock:
            was = self._state
            self._state = "closed"
            pending = list(self._pending.values())
            ws = self._ws
        for item in pending:
            item.inbox.put(("error", SessionLost(f"session {self.name} closed")))
        if ws is not None and was == "connected":
            with contextlib.suppress(OSError, websocket.WebSocketException):
                ws.send(_CLOSE_CODE.pack(websocket.STATUS_NORMAL), websocket.ABNF.OPCODE_CLOSE)
            ws.abort()
        if self._reader is not None and self._reader is not threading.current_thread():
            self._reader.join(timeout=2.0)
        if ws is not None:
            ws.shutdown()


def _status_error(status: int, text: str) -> SemantestError:
    if status in (401, 403):
        return SemantestError(f"Semantest refused the key: {text}", code="unauthorized", retryable=False)
    if status in (429, 503):
        return SemantestError(f"Semantest is overloaded: {text}", code="overloaded", retryable=True)
    return SemantestError(f"upgrade refused: {text}", code="connect_failed", retryable=True)


def _close_status(data: bytes) -> tuple[int | None, str]:
    if len(data) < _CLOSE_CODE.size:
        return None, ""
    return _CLOSE_CODE.unpack_from(data)[0], data[_CLOSE_CODE.size:].decode("utf-8", "replace")


def _parse(data: bytes | str) -> dict[str, Any] | None:
    try:
        message = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return None
    return message if isinstance(message, dict) else None


def _readable(ws: websocket.WebSocket, timeout: float) -> bool:
    sock = ws.sock
    if sock is None:
        raise websocket.WebSocketConnectionClosedException("socket closed")
    if isinstance(sock, ssl.SSLSocket) and sock.pending():
        return True
    readable, _, _ = select.select([sock], [], [], timeout)
    return bool(readable)
