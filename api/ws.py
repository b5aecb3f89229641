"""``/ws``: live job events over a WebSocket (flask-sock, one thread per socket).

Protocol (JSON text messages):

- authenticate with ``?token=`` or a first message ``{"type": "auth", "token": ...}`` within
  ``WS_AUTH_TIMEOUT``; otherwise the socket is closed with 1008 (policy violation);
- the token stays checked: a socket whose token expires is closed with 1008 ``token_expired``,
  and every client message first checks revocation (after ``POST /auth/logout`` the next
  message closes the socket with 1008 ``token_revoked``);
- ``{"type": "subscribe", "job_id": ..., "after": <event id>?}`` (or ``"job_ids": [...]``, at
  most ``WS_MAX_JOB_IDS``, duplicates counted once) replays the job's events after ``after``
  and then sends each new one as ``{"type": "event", "job_id", "event"}``; a socket follows
  at most ``WS_MAX_SUBSCRIPTIONS`` jobs and batches;
- ``{"type": "subscribe", "batch_id": ..., "after": <event id>?}`` does the same for a batch's
  events (``item``, ``counts``, then ``completed`` carrying the batch record), sent as
  ``{"type": "batch_event", "batch_id", "event": {"id", "type", "data"}}``;
- ``{"type": "unsubscribe", "job_id" | "batch_id": ...}``, ``{"type": "ping"}`` → ``pong``;
- ``{"type": "process", "scene": {...}, "idempotency_key"?: ...}`` submits a scene exactly
  as ``POST /process`` does (same validation, limit and idempotency) and subscribes to it.

Client messages are rate-limited per socket by a moving window (``WS_MESSAGE_RATE`` a second,
bursts of ``WS_MESSAGE_BURST``): messages over it are dropped unanswered, with one
``rate_limited`` error a second at most.

A socket is a live connection: from the handshake it counts against ``LIVE_MAX_PER_ADDRESS``
and, once authenticated, against ``LIVE_MAX_PER_USER``; beyond either it is closed with 1013
(try again later) after a ``too_many_streams`` error.

The server sends ``{"type": "ping"}`` every ``STREAM_KEEPALIVE`` seconds (and protocol pings).
New events are read with XREAD BLOCK over every subscribed stream in this socket's thread.

A message that is not JSON gets an ``invalid_json`` error; one that cannot be a message at
all closes the socket: a binary frame that is not UTF-8 with 1007, JSON nested deeper than
``MAX_JSON_DEPTH`` with 1003 (each after an ``invalid_json`` error). An unexpected failure
closes it with 1011; nothing is ever answered with an HTTP response inside the socket.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import redis
from flask import Blueprint, current_app, request
from flask_jwt_extended import decode_token
from flask_sock import ConnectionClosed, Sock
from pydantic import ValidationError

from scene_weaver import keys
from scene_weaver.batches import BatchEvent
from scene_weaver.errors import AuthError, InvalidInput, SceneWeaverError
from scene_weaver.jobs import JobEvent
from scene_weaver.users import User

from . import limits
from .auth import user_from_token
from .batches import batch_visible_to, event_payload
from .errors import validation_details
from .jobs import accepted_view, job_visible_to
from .limits import client_address
from .live_limits import LiveSlots, MessageBudget, TooManyStreams
from .requests import InvalidJson, JsonTooDeep, loads_json
from .services import Services, services
from .streams import BLOCK_CEILING_MS, check_event_id
from .submission import submit_scene

__all__ = ["bp", "POLICY_VIOLATION", "UNSUPPORTED_DATA", "INVALID_PAYLOAD"]

bp = Blueprint("ws", __name__)
sock = Sock()
log = logging.getLogger(__name__)

UNSUPPORTED_DATA = 1003
INVALID_PAYLOAD = 1007
POLICY_VIOLATION = 1008
INTERNAL_ERROR = 1011
TRY_AGAIN_LATER = 1013
_POLL_MS = 250


class _Unreadable(Exception):
    """A frame that cannot carry a message: the socket is closed with ``close_code``."""

    def __init__(self, error: InvalidJson, close_code: int) -> None:
        super().__init__(error.message)
        self.error, self.close_code = error, close_code


def _decode(raw: str | bytes) -> Any:
    """The frame as JSON; ``InvalidJson`` for bad JSON, ``_Unreadable`` for a frame no message can be."""
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise _Unreadable(InvalidJson("binary frames must be UTF-8 JSON", code="invalid_json"),
                              INVALID_PAYLOAD) from None
    try:
        return loads_json(raw, "the message")
    except JsonTooDeep as exc:
        raise _Unreadable(exc, UNSUPPORTED_DATA) from None


class _Credentials:
    """Who the socket's token names, and what keeps that token valid: its expiry and its jti."""

    def __init__(self, user: User, claims: dict[str, Any]) -> None:
        self.user = user
        self.expires = float(claims["exp"])
        self.jti = str(claims["jti"])

    def check(self, svc: Services, *, revocation: bool) -> None:
        """``AuthError`` once the token has expired, or (``revocation``) was revoked."""
        if time.time() >= self.expires:
            raise AuthError("the token has expired; refresh, log in and reconnect", code="token_expired")
        if revocation and svc.redis.exists(keys.token_blocklist(self.jti)):
            raise AuthError("the token was revoked; log in again", code="token_revoked")


class _Session:
    def __init__(self, ws: Any, svc: Services, credentials: _Credentials, slots: LiveSlots) -> None:
        self.ws, self.svc, self.credentials, self.slots = ws, svc, credentials, slots
        self.user = credentials.user
        self.positions: dict[str, str] = {}
        self.batch_positions: dict[str, str] = {}
        settings = svc.settings
        self.bucket = MessageBudget(settings.ws_message_rate, settings.ws_message_burst)
        self.last_notice = float("-inf")

    def send(self, message: dict[str, Any]) -> None:
        self.ws.send(json.dumps(message, separators=(",", ":")))

    def error(self, code: str, message: str, details: Any = None, request_type: str | None = None) -> None:
        self.send({"type": "error", "code": code, "message": message, "details": details,
                   "request": request_type})

    def run(self) -> None:
        self.send({"type": "welcome", "user": self.user.username, "role": self.user.role})
        keepalive = self.svc.settings.stream_keepalive
        last_ping = time.monotonic()
        while self.ws.connected:
            self.credentials.check(self.svc, revocation=False)
            self.slots.renew_if_due()
            following = bool(self.positions or self.batch_positions)
            message = self.ws.receive(timeout=0 if following else _POLL_MS / 1000)
            while message is not None:
                self.admit(message)
                message = self.ws.receive(timeout=0)
            block_ms = min(_POLL_MS, BLOCK_CEILING_MS)
            if self.batch_positions:  # blocks only when no job is followed (the job read blocks then)
                for batch_id, batch_event in self.svc.batches.wait_events_of(
                        dict(self.batch_positions), None if self.positions else block_ms):
                    self.deliver_batch(batch_id, batch_event)
            for job_id, event in self.svc.jobs.wait_events_of(dict(self.positions), block_ms):
                self.deliver(job_id, event)
            if time.monotonic() - last_ping >= keepalive:
                last_ping = time.monotonic()
                self.send({"type": "ping", "ts": time.time()})

    def deliver(self, job_id: str, event: JobEvent) -> None:
        if job_id not in self.positions:
            return
        self.send({"type": "event", "job_id": job_id, "event": event.to_dict()})
        self.positions[job_id] = event.id
        if event.terminal:
            del self.positions[job_id]

    def deliver_batch(self, batch_id: str, event: BatchEvent) -> None:
        if batch_id not in self.batch_positions:
            return
        self.send({"type": "batch_event", "batch_id": batch_id,
                   "event": {"id": event.id, "type": event.type,
                             "data": event_payload(self.svc.batches, batch_id, event)}})
        self.batch_positions[batch_id] = event.id
        if event.terminal:
            del self.batch_positions[batch_id]

    def subscribe_batch(self, message: dict[str, Any]) -> None:
        settings = self.svc.settings
        after = check_event_id(message.get("after") if isinstance(message.get("after"), str) else None, "after")
        batch_id = batch_visible_to(self.user, message.get("batch_id")).batch_id
        if (batch_id not in self.batch_positions
                and len(self.positions) + len(self.batch_positions) + 1 > settings.ws_max_subscriptions):
            raise InvalidInput(f"at most {settings.ws_max_subscriptions} subscriptions per socket",
                               code="too_many_subscriptions", details={"max": settings.ws_max_subscriptions})
        self.batch_positions[batch_id] = after
        self.send({"type": "subscribed", "batch_id": batch_id, "after": after})
        for event in self.svc.batches.events(batch_id, after=after):
            self.deliver_batch(batch_id, event)

    def admit(self, raw: str | bytes) -> None:
        """Handle a client message if the bucket has a token and the token is still valid."""
        if not self.bucket.take():
            now = time.monotonic()
            if now - self.last_notice >= 1:  # at most one notice a second: dropping stays cheap
                self.last_notice = now
                self.error("rate_limited", "too many messages; slow down",
                           {"rate": self.bucket.rate, "burst": self.bucket.burst})
            return
        self.credentials.check(self.svc, revocation=True)
        self.handle(raw)

    def handle(self, raw: str | bytes) -> None:
        kind = None
        try:
            message = _decode(raw)
            if not isinstance(message, dict):
                raise InvalidInput("messages are JSON objects with a type", code="invalid_message")
            kind = message.get("type")
            handler = _HANDLERS.get(str(kind))
            if handler is None:
                raise InvalidInput(f"unknown message type {kind!r}", code="unknown_message",
                                   details={"allowed": sorted(_HANDLERS)})
            handler(self, message)
        except ValidationError as exc:
            details = validation_details(exc)
            self.error("validation_error", f"invalid value for {details['field']}", details, kind)
        except SceneWeaverError as exc:
            self.error(exc.code, exc.message, exc.details, kind)

    def subscribe(self, message: dict[str, Any]) -> None:
        if "batch_id" in message:
            self.subscribe_batch(message)
            return
        settings = self.svc.settings
        ids = message.get("job_ids") or [message.get("job_id")]
        if not isinstance(ids, list):
            raise InvalidInput("job_ids must be a list", details={"field": "job_ids"})
        if len(ids) > settings.ws_max_job_ids:
            raise InvalidInput(f"at most {settings.ws_max_job_ids} job ids per message", code="too_many_job_ids",
                               details={"field": "job_ids", "max": settings.ws_max_job_ids})
        after = check_event_id(message.get("after") if isinstance(message.get("after"), str) else None, "after")
        # Each job once, however often it is named; all checked before any is followed.
        named = dict.fromkeys(requested if isinstance(requested, str) else str(requested) for requested in ids)
        unique = list(dict.fromkeys(job_visible_to(self.user, requested).job_id for requested in named))
        added = [job_id for job_id in unique if job_id not in self.positions]
        if len(self.positions) + len(self.batch_positions) + len(added) > settings.ws_max_subscriptions:
            raise InvalidInput(f"at most {settings.ws_max_subscriptions} subscriptions per socket",
                               code="too_many_subscriptions", details={"max": settings.ws_max_subscriptions})
        for job_id in unique:
            self.positions[job_id] = after
            self.send({"type": "subscribed", "job_id": job_id, "after": after})
            for event in self.svc.jobs.events(job_id, after=after):
                self.deliver(job_id, event)

    def unsubscribe(self, message: dict[str, Any]) -> None:
        if "batch_id" in message:
            self.batch_positions.pop(str(message.get("batch_id")), None)
            self.send({"type": "unsubscribed", "batch_id": message.get("batch_id")})
            return
        self.positions.pop(str(message.get("job_id")), None)
        self.send({"type": "unsubscribed", "job_id": message.get("job_id")})

    def process(self, message: dict[str, Any]) -> None:
        scene = message.get("scene")
        if not isinstance(scene, dict):
            raise InvalidInput("process needs a scene object", details={"field": "scene"})
        key = message.get("idempotency_key")
        if not limits.hit(current_app, "process", f"user:{self.user.username}"):
            raise SceneWeaverError("rate limit exceeded for process", code="rate_limited")
        submission = submit_scene(self.svc, self.user, scene,
                                  idempotency_key=str(key) if key is not None else None)
        self.send({"type": "accepted", "created": submission.created, "job": accepted_view(submission.job)})
        self.subscribe({"job_id": submission.job.job_id, "after": "0"})

    def ping(self, _message: dict[str, Any]) -> None:
        self.send({"type": "pong", "ts": time.time()})


_HANDLERS = {
    "subscribe": _Session.subscribe,
    "unsubscribe": _Session.unsubscribe,
    "process": _Session.process,
    "ping": _Session.ping,
}


def _authenticate(ws: Any, svc: Services) -> _Credentials | None:
    token = request.args.get("token")
    try:
        if token is None:
            first = ws.receive(timeout=svc.settings.ws_auth_timeout)
            if first is None:
                raise AuthError("send {\"type\": \"auth\", \"token\": ...} first", code="auth_timeout")
            try:
                message = _decode(first)
            except InvalidJson:
                message = None
            if not isinstance(message, dict) or message.get("type") != "auth" or not message.get("token"):
                raise AuthError("the first message must be {\"type\": \"auth\", \"token\": ...}",
                                code="missing_token")
            token = str(message["token"])
        user = user_from_token(token)
        # Valid: user_from_token decoded it (allow_expired: exp may pass in between; the session closes then).
        return _Credentials(user, decode_token(token, allow_expired=True))
    except AuthError as exc:
        _close(ws, POLICY_VIOLATION, exc.code, exc.message)
        return None


@sock.route("/ws", bp=bp)
def websocket(ws: Any) -> None:
    svc = services()
    settings = svc.settings
    slots = LiveSlots(svc.redis)
    try:
        # Counted from the handshake on: unauthenticated sockets count against their address.
        slots.acquire({client_address(): ("address", settings.live_max_per_address)})
        credentials = _authenticate(ws, svc)
        if credentials is not None:
            slots.acquire({f"user:{credentials.user.username}": ("user", settings.live_max_per_user)})
            _Session(ws, svc, credentials, slots).run()
    except TooManyStreams as exc:
        _close(ws, TRY_AGAIN_LATER, exc.code, exc.message)
    except AuthError as exc:  # the token expired or was revoked while the socket was open
        _close(ws, POLICY_VIOLATION, exc.code, exc.message)
    except _Unreadable as exc:
        _close(ws, exc.close_code, exc.error.code, exc.error.message)
    except redis.RedisError:
        _close(ws, INTERNAL_ERROR, "redis_unavailable", "the job store is unavailable; reconnect shortly")
    except ConnectionClosed:
        raise  # flask-sock's own end of a socket the client closed
    except Exception:
        log.exception("websocket failed")
        _close(ws, INTERNAL_ERROR, "internal_error", "an unexpected error occurred")
    finally:
        slots.release()


def _close(ws: Any, code: int, error_code: str, message: str) -> None:
    try:
        ws.send(json.dumps({"type": "error", "code": error_code, "message": message}))
        ws.close(reason=code, message=error_code)
    except ConnectionClosed:
        pass
