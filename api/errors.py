"""The one place exceptions become HTTP responses: ``{"error": {code, message, details}}``."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

import redis
from flask import Flask, Response, jsonify
from flask_limiter.errors import RateLimitExceeded
from limits.errors import StorageError
from pydantic import ValidationError
from werkzeug.exceptions import HTTPException

from scene_weaver.errors import SceneWeaverError

__all__ = ["register_error_handlers", "error_response", "validation_details"]

log = logging.getLogger(__name__)

REDIS_RETRY_AFTER = 5  # seconds: how long a 503 for a store or queue that is down asks the caller to wait

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    500: "internal_error",
    503: "service_unavailable",
}


def error_response(status: int, code: str, message: str, details: Any = None,
                   headers: dict[str, str] | None = None) -> Response:
    response = jsonify({"error": {"code": code, "message": message, "details": details}})
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def validation_details(exc: ValidationError) -> dict[str, Any]:
    errors = [
        {"field": ".".join(str(p) for p in err["loc"]) or "body", "message": err["msg"], "type": err["type"]}
        for err in exc.errors(include_url=False, include_input=False)
    ]
    return {"field": errors[0]["field"] if errors else "body", "errors": errors}


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(SceneWeaverError)
    def _domain(exc: SceneWeaverError) -> Response:
        if exc.http_status >= HTTPStatus.INTERNAL_SERVER_ERROR:
            log.warning("%s: %s", exc.code, exc.message)
        headers = {}
        retry_after = getattr(exc, "retry_after", None)
        if exc.http_status == HTTPStatus.SERVICE_UNAVAILABLE:
            # Every 503 says when to come back (a queue or store that is down is back in seconds).
            headers["Retry-After"] = str(max(1, round(retry_after or REDIS_RETRY_AFTER)))
        return error_response(exc.http_status, exc.code, exc.message, exc.details, headers)

    @app.errorhandler(ValidationError)
    def _validation(exc: ValidationError) -> Response:
        details = validation_details(exc)
        return error_response(422, "validation_error", f"invalid value for {details['field']}", details)

    @app.errorhandler(RateLimitExceeded)
    def _rate_limited(exc: RateLimitExceeded) -> Response:
        # api.limits adds Retry-After and X-RateLimit-* to this response after the handler.
        return error_response(429, "rate_limited", f"rate limit exceeded: {exc.description}",
                              {"limit": exc.description})

    @app.errorhandler(StorageError)
    @app.errorhandler(redis.RedisError)
    def _redis_down(exc: Exception) -> Response:
        log.error("redis unavailable: %s", exc)
        return error_response(503, "redis_unavailable", "the job store is unavailable; try again shortly",
                              None, {"Retry-After": str(REDIS_RETRY_AFTER)})

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Response:
        status = exc.code or 500
        code = _HTTP_CODES.get(status, "http_error")
        headers = {}
        if status == HTTPStatus.METHOD_NOT_ALLOWED and exc.valid_methods:  # type: ignore[attr-defined]
            headers["Allow"] = ", ".join(exc.valid_methods)  # type: ignore[attr-defined]
        return error_response(status, code, exc.description or code, None, headers)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        log.exception("unhandled error")
        return error_response(500, "internal_error", "an unexpected error occurred")
