"""Rate limits: flask-limiter over Redis, one bucket per user (per address before login).

Views are tagged with :func:`rate_limited`; :func:`init_limits` decorates the tagged views
of an app with one :meth:`Limiter.shared_limit` per kind, read from its settings. Both
registrations of a view (``/v1`` and bare) share that kind's bucket, and so does the
WebSocket ``process`` message (:func:`hit`). Only flask-limiter's public API is used.

flask-limiter's own headers would put ``Retry-After`` on every limited answer, a 202 as much
as a 429, and it has no setting to keep it off the served ones. As its maintainer advises,
its headers are off and :func:`_rate_limit_headers` writes them from ``current_limit``:
``X-RateLimit-*`` on every limited answer, ``Retry-After`` on a 429 only. The window those
headers need comes back with the hit itself (:mod:`api.limit_storage`): one round trip.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, TypeVar

import redis
from flask import Flask, Response, g, request
from flask_jwt_extended import get_jwt_identity, verify_jwt_in_request
from flask_limiter import Limiter, RateLimitExceeded
from limits.errors import StorageError

from scene_weaver import keys, redis_urls
from scene_weaver.settings import Settings

from . import limit_storage

__all__ = ["rate_limited", "init_limits", "hit", "user_or_address", "client_address", "LIMIT_KINDS"]

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])

LIMIT_KINDS = ("login", "process", "batch", "parse")
_ATTR = "__scene_weaver_rate_limit__"
_SOCKET_LIMIT = "scene_weaver_socket_limit"
_SOCKET_MESSAGE = "scene_weaver_socket_message"


def client_address() -> str:
    return f"addr:{request.remote_addr or 'unknown'}"


def user_or_address() -> str:
    try:
        verify_jwt_in_request(optional=True)
        identity = get_jwt_identity()
    except Exception:
        # A bad token is refused by the view itself; until then it counts against the address.
        identity = None
    return f"user:{identity}" if identity else client_address()


def rate_limited(kind: str, *, per_address: bool = False) -> Callable[[F], F]:
    """Tag a view with the limit ``RATE_LIMIT_<KIND>``; applied when the app is built."""
    if kind not in LIMIT_KINDS:
        raise ValueError(f"unknown rate limit kind {kind!r}")

    def tag(view: F) -> F:
        setattr(view, _ATTR, (kind, per_address))
        return view

    return tag


def limit_for(settings: Settings, kind: str) -> str:
    return str(getattr(settings, f"rate_limit_{kind}"))


@dataclass(frozen=True)
class _SocketMessage:
    """What :func:`hit` is counting: the kind of message and its bucket (the socket's user)."""

    kind: str
    key: str


def _socket_message() -> _SocketMessage | None:
    message: _SocketMessage | None = g.get(_SOCKET_MESSAGE)
    return message


def _socket_limit(settings: Settings) -> Callable[[], str]:
    def value() -> str:
        # flask-limiter also reads this limit as each later request to the socket's route starts;
        # no message is being counted then, and "" means no limit.
        message = _socket_message()
        return limit_for(settings, message.kind) if message else ""

    return value


def _counted() -> _SocketMessage:
    message = _socket_message()
    assert message is not None, "read only while hit() counts a message"
    return message


def _count_socket_message() -> None:
    """Counted by the shared limit that decorates it in :func:`init_limits`; does nothing itself."""


def init_limits(app: Flask, settings: Settings) -> Limiter:
    limiter = Limiter(
        key_func=user_or_address,
        app=app,
        storage_uri=limit_storage.storage_uri(redis_urls.limits_storage_uri(settings.require_redis_url())),
        storage_options={"socket_connect_timeout": 2, "socket_timeout": 5},
        key_prefix=keys.rate_limit_prefix(),
        strategy="moving-window",
        headers_enabled=False,  # written by _rate_limit_headers
        default_limits=[],
    )
    app.after_request(_rate_limit_headers(limiter))
    # A shared limit's bucket is (key, scope): every view of a kind and the socket share one.
    wrapped: dict[int, Callable[..., Any]] = {}
    for endpoint, view in list(app.view_functions.items()):
        tag = getattr(view, _ATTR, None)
        if tag is None:
            continue
        kind, per_address = tag
        if id(view) not in wrapped:
            shared = limiter.shared_limit(limit_for(settings, kind), scope=kind,
                                          key_func=client_address if per_address else user_or_address)
            wrapped[id(view)] = shared(view)
        app.view_functions[endpoint] = wrapped[id(view)]
    # A socket authenticates once for its whole life, so its user, not the request's token, is the key.
    app.extensions[_SOCKET_LIMIT] = limiter.shared_limit(
        _socket_limit(settings), scope=lambda _endpoint: _counted().kind,
        key_func=lambda: _counted().key)(_count_socket_message)
    return limiter


def _rate_limit_headers(limiter: Limiter) -> Callable[[Response], Response]:
    def add(response: Response) -> Response:
        current = limiter.current_limit
        if current is None:
            return response
        try:
            reset_at = current.reset_at
            remaining = current.remaining
        except (StorageError, redis.RedisError) as exc:
            log.warning("rate limit headers left out: %s", exc)
            return response
        response.headers["X-RateLimit-Limit"] = str(current.limit.amount)
        response.headers["X-RateLimit-Remaining"] = str(remaining)
        response.headers["X-RateLimit-Reset"] = str(reset_at)
        # Retry-After tells a refused client when to come back; a served one has nothing to retry.
        if response.status_code == HTTPStatus.TOO_MANY_REQUESTS:
            response.headers["Retry-After"] = str(max(1, int(reset_at - time.time())))
        return response

    return add


def hit(app: Flask, kind: str, key: str) -> bool:
    """Count one WebSocket message against ``kind`` in ``key``'s bucket; False when it is full.

    Runs inside the socket's request (flask-limiter counts calls of a limited function there).
    """
    if kind not in LIMIT_KINDS:
        raise ValueError(f"unknown rate limit kind {kind!r}")
    setattr(g, _SOCKET_MESSAGE, _SocketMessage(kind, key))
    try:
        app.extensions[_SOCKET_LIMIT]()
    except RateLimitExceeded:
        return False
    finally:
        g.pop(_SOCKET_MESSAGE)
    return True
