"""Rate limits: flask-limiter over Redis, one bucket per user (per address before login).

Views are tagged with :func:`rate_limited`; :func:`init_limits` wraps the tagged views of
an app with a limit read from its settings. Both registrations of a view (``/v1`` and
bare) share one bucket, and so does the WebSocket ``process`` message.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import limits
from flask import Flask, request
from flask_jwt_extended import get_jwt_identity, verify_jwt_in_request
from flask_limiter import Limiter

from scene_weaver import keys
from scene_weaver.settings import Settings

__all__ = ["rate_limited", "init_limits", "hit", "user_or_address", "client_address", "LIMIT_KINDS"]

F = TypeVar("F", bound=Callable[..., Any])

LIMIT_KINDS = ("login", "process", "batch", "parse")
_ATTR = "__scene_weaver_rate_limit__"


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


def init_limits(app: Flask, settings: Settings) -> Limiter:
    limiter = Limiter(
        key_func=user_or_address,
        app=app,
        storage_uri=settings.require_redis_url(),
        storage_options={"socket_connect_timeout": 2, "socket_timeout": 5},
        key_prefix=keys.rate_limit_prefix(),
        strategy="moving-window",
        headers_enabled=True,
        default_limits=[],
    )
    wrapped: dict[int, Callable[..., Any]] = {}
    for endpoint, view in list(app.view_functions.items()):
        tag = getattr(view, _ATTR, None)
        if tag is None:
            continue
        kind, per_address = tag
        if id(view) not in wrapped:
            value = limit_for(settings, kind)
            wrapped[id(view)] = limiter.shared_limit(
                lambda value=value: value, scope=kind,
                key_func=client_address if per_address else user_or_address,
            )(view)
        app.view_functions[endpoint] = wrapped[id(view)]
    app.extensions["scene_weaver_limiter"] = limiter
    return limiter


def hit(app: Flask, kind: str, key: str) -> bool:
    """Count one request against ``kind`` outside a view (the WebSocket); False when over."""
    limiter: Limiter = app.extensions["scene_weaver_limiter"]
    settings: Settings = app.extensions["scene_weaver"].settings
    item = limits.parse(limit_for(settings, kind))
    return bool(limiter.limiter.hit(item, keys.rate_limit_prefix(), key, kind))
