"""Plain HTTP on the WebSocket port: generated images, stats and a health check.

With an API key, an image is served only to a request that carries it
(``Authorization: Bearer KEY``, what the client sends on the handshake too); the health
check and the counters stay open, they say nothing about anyone's pictures.
"""

from __future__ import annotations

import email.utils
import hmac
import json
from collections.abc import Callable
from http import HTTPStatus
from urllib.parse import quote, unquote, urlsplit

from websockets.asyncio.server import ServerConnection
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from .state import RendererState

__all__ = ["WEBSOCKET_PATHS", "bearer_matches", "image_path", "make_process_request"]

WEBSOCKET_PATHS = frozenset({"/ws", "/"})
_IMAGE_PREFIX = "/images/"


def image_path(request_id: str) -> str:
    return f"{_IMAGE_PREFIX}{quote(request_id, safe='')}.png"


def _response(status: HTTPStatus, body: bytes, content_type: str) -> Response:
    headers = Headers([
        ("Date", email.utils.formatdate(usegmt=True)),
        ("Connection", "close"),
        ("Content-Length", str(len(body))),
        ("Content-Type", content_type),
        ("Cache-Control", "no-store"),
    ])
    return Response(status.value, status.phrase, headers, body)


def _json(status: HTTPStatus, payload: object) -> Response:
    return _response(status, json.dumps(payload).encode(), "application/json")


HttpRouteHook = Callable[[ServerConnection, Request], Response | None]


def bearer_matches(headers: Headers, api_key: str) -> bool:
    """True when ``Authorization: Bearer <api_key>`` is among the headers (compared in constant time)."""
    scheme, _, token = headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), api_key.encode())


def _unauthorized() -> Response:
    response = _json(HTTPStatus.UNAUTHORIZED, {"error": {"code": "unauthorized",
                                                         "message": "send the API key as a bearer token"}})
    response.headers["WWW-Authenticate"] = "Bearer"
    return response


def make_process_request(state: RendererState, api_key: str | None = None) -> HttpRouteHook:
    """Build the ``process_request`` hook: answer HTTP routes, let WebSocket paths through."""

    def process_request(connection: ServerConnection, request: Request) -> Response | None:
        path = urlsplit(request.path).path
        if path in WEBSOCKET_PATHS:
            return None
        if path == "/health":
            return _json(HTTPStatus.OK, {"status": "ok"})
        if path == "/stats":
            return _json(HTTPStatus.OK, state.stats.as_dict())
        if path.startswith(_IMAGE_PREFIX) and path.endswith(".png"):
            if api_key and not bearer_matches(request.headers, api_key):
                return _unauthorized()
            request_id = unquote(path[len(_IMAGE_PREFIX):-len(".png")])
            data = state.images.get(request_id)
            if data is not None:
                return _response(HTTPStatus.OK, data, "image/png")
        return _json(HTTPStatus.NOT_FOUND, {"error": {"code": "not_found", "path": path}})

    return process_request
