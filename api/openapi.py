"""``GET /openapi.json`` (OpenAPI 3.1 built from the routes and their pydantic models) and ``GET /docs``.

Request bodies and query parameters use the very models that validate requests
(``model_json_schema``); every operation lists the error responses it can give, all in
the one error model. ``/docs`` serves Swagger UI from the assets bundled in the
``swagger-ui-py`` package, so it works without any CDN.
"""

from __future__ import annotations

import re
from importlib.resources import files
from typing import Any

from flask import Blueprint, Flask, Response, abort, current_app, jsonify, send_file
from pydantic import BaseModel

from .openapi_meta import Operation, RawContent, documented, operation_of
from .responses import ErrorResponse, JobEventView

__all__ = ["bp", "build_spec"]

bp = Blueprint("openapi", __name__)

_ERROR_TEXT = {
    400: "malformed request (bad JSON, bad upgrade)",
    401: "missing, invalid, expired or revoked token (codes: missing_token, invalid_token, invalid_signature, "
         "invalid_algorithm, token_expired, token_revoked, unknown_user, invalid_credentials)",
    403: "not allowed (admin_required; priority_not_allowed for priority high)",
    404: "not found; another user's job is also a 404 (job_not_found)",
    409: "conflict (idempotency_conflict, idempotency_in_progress, job_finished)",
    413: "body larger than MAX_BODY_BYTES (payload_too_large)",
    415: "body is not application/json (unsupported_media_type)",
    422: "validation failed; details.field names the field, details.errors lists every problem",
    429: "rate limited (rate_limited); see Retry-After and X-RateLimit-* headers",
    503: "Redis or the job queue is unavailable (redis_unavailable, broker_unavailable); see Retry-After",
}
_URI_TOO_LONG_TEXT = "request line too long (answered by gunicorn before the app, same error model: uri_too_long)"
_RATE_HEADERS = {
    "X-RateLimit-Limit": {"schema": {"type": "integer"}},
    "X-RateLimit-Remaining": {"schema": {"type": "integer"}},
    "X-RateLimit-Reset": {"schema": {"type": "integer"}},
}
# Only on refusals (429, and the 503 of an unavailable Redis): an answer served has nothing to retry.
_RETRY_AFTER = {"Retry-After": {"schema": {"type": "integer"}, "description": "seconds to wait before retrying"}}
_STATIC_DIR = files("swagger_ui") / "static"
_DOCS_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Scene Weaver API</title>
<link rel="stylesheet" href="{base}/docs/static/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="{base}/docs/static/swagger-ui-bundle.js"></script>
<script>window.ui = SwaggerUIBundle({{url: "{base}/openapi.json", dom_id: "#swagger-ui"}});</script>
</body></html>
"""


class _Components:
    def __init__(self) -> None:
        self.schemas: dict[str, Any] = {}

    def schema(self, model: type[BaseModel], mode: str = "validation") -> dict[str, Any]:
        """The model's JSON schema, its nested models moved to the components."""
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}", mode=mode)  # type: ignore[arg-type]
        for name, sub in schema.pop("$defs", {}).items():
            self.schemas.setdefault(name, sub)
        return schema

    def ref(self, model: type[BaseModel], mode: str) -> dict[str, Any]:
        self.schemas.setdefault(model.__name__, self.schema(model, mode))
        return {"$ref": f"#/components/schemas/{model.__name__}"}


def _path(rule: str) -> tuple[str, list[str]]:
    names = re.findall(r"<(?:[^:<>]+:)?([^<>]+)>", rule)
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule), names


def _query_parameters(model: type[BaseModel], components: _Components) -> list[dict[str, Any]]:
    schema = components.schema(model)
    required = set(schema.get("required", []))
    params = []
    for name, declared in schema.get("properties", {}).items():
        prop = dict(declared)
        description = prop.pop("description", "")
        prop.pop("title", None)
        params.append({"name": name, "in": "query", "required": name in required,
                       "description": description, "schema": prop})
    return params


def _content(value: Any, components: _Components) -> dict[str, Any]:
    if isinstance(value, RawContent):
        return {"description": value.description or "ok", "content": {value.media_type: {"schema": value.schema}}}
    if isinstance(value, tuple):
        schema = {"anyOf": [components.ref(m, "serialization") for m in value]}
        return {"description": "ok", "content": {"application/json": {"schema": schema}}}
    return {"description": "ok", "content": {"application/json": {"schema": components.ref(value, "serialization")}}}


def _error_statuses(op: Operation, has_path_params: bool) -> set[int]:
    statuses = {503, *op.errors} if op.uses_redis else set(op.errors)
    if op.auth:
        statuses.add(401)
    if op.admin:
        statuses.add(403)
    if op.body is not None:
        statuses |= {400, 413, 415, 422}
    if op.query is not None:
        statuses.add(422)
    if has_path_params:
        statuses.add(404)
    if op.rate_limit:
        statuses.add(429)
    return statuses


def _operation(op: Operation, method: str, path_params: list[str], components: _Components) -> dict[str, Any]:
    params: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string", "maxLength": 64}}
        for name in path_params
    ]
    if op.query is not None:
        params += _query_parameters(op.query, components)
    params += [{"name": name, "in": "header", "required": False, "description": text,
                "schema": {"type": "string", "maxLength": 200}} for name, text in op.headers]
    description = op.description
    if op.rate_limit:
        description = (description + f"\n\nRate limited: {op.rate_limit}.").strip()
    out: dict[str, Any] = {
        "summary": op.summary, "tags": [op.tag], "description": description,
        "operationId": f"{method}_{op.summary.split(' (')[0].lower().replace(' ', '_')}"[:80],
        "parameters": params, "responses": {},
    }
    if op.body is not None:
        out["requestBody"] = {"required": True, "content": {
            "application/json": {"schema": components.ref(op.body, "validation")}}}
    if op.auth:
        out["security"] = [{"bearerAuth": []}]
    else:
        out["security"] = []
    for status, value in sorted(op.responses.items()):
        out["responses"][str(status)] = _content(value, components)
        if op.rate_limit:
            out["responses"][str(status)]["headers"] = _RATE_HEADERS
    error_ref = components.ref(ErrorResponse, "serialization")
    if op.query is not None:
        out["responses"]["414"] = {"description": _URI_TOO_LONG_TEXT,
                                    "content": {"application/json": {"schema": error_ref}}}
    for status in sorted(_error_statuses(op, bool(path_params))):
        out["responses"].setdefault(str(status), {
            "description": _ERROR_TEXT.get(status, "error"),
            "content": {"application/json": {"schema": error_ref}},
        })
    if "429" in out["responses"]:
        out["responses"]["429"]["headers"] = {**_RATE_HEADERS, **_RETRY_AFTER}
    if "503" in out["responses"] and "503" not in {str(s) for s in op.responses}:
        out["responses"]["503"]["headers"] = _RETRY_AFTER
    return out


def build_spec(app: Flask) -> dict[str, Any]:
    components = _Components()
    components.ref(JobEventView, "serialization")  # the SSE frames' data
    paths: dict[str, dict[str, Any]] = {}
    used_ids: set[str] = set()
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if rule.endpoint.split(".")[0].endswith("_bare") or rule.endpoint == "static":
            continue
        op = operation_of(app.view_functions[rule.endpoint])
        if op is None:
            continue
        path, names = _path(rule.rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            operation = _operation(op, method.lower(), names, components)
            base, n = operation["operationId"], 2
            while operation["operationId"] in used_ids:
                operation["operationId"], n = f"{base}_{n}", n + 1
            used_ids.add(operation["operationId"])
            paths.setdefault(path, {})[method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Scene Weaver API",
            "version": "1.0.0",
            "description": (
                "Every route answers under /v1 and, for the original API guide, without the prefix. "
                "Errors always have the shape {\"error\": {\"code\", \"message\", \"details\"}}. "
                "Live progress: GET /v1/jobs/{job_id}/events (Server-Sent Events) or the WebSocket /ws "
                "(authenticate with ?token= or a first {\"type\":\"auth\",\"token\":...} message; then "
                "subscribe, unsubscribe, process, ping)."
            ),
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": dict(sorted(components.schemas.items())),
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        },
    }


_SPEC_RESPONSE = RawContent("application/json", {"type": "object"}, "this OpenAPI 3.1 document")
_HTML = RawContent("text/html", {"type": "string"}, "Swagger UI")


@bp.get("/openapi.json")
@documented(summary="This OpenAPI document", tag="meta", auth=False, responses={200: _SPEC_RESPONSE})
def openapi_json() -> Response:
    spec = current_app.extensions.get("scene_weaver_openapi")
    if spec is None:
        spec = current_app.extensions["scene_weaver_openapi"] = build_spec(current_app)
    return jsonify(spec)


@bp.get("/docs")
@documented(summary="Interactive API documentation", tag="meta", auth=False, responses={200: _HTML})
def docs() -> Response:
    return Response(_DOCS_PAGE.format(base=""), mimetype="text/html")


@bp.get("/docs/static/<path:name>")
def docs_static(name: str) -> Response:
    if name not in {"swagger-ui.css", "swagger-ui-bundle.js"}:
        abort(404)
    return send_file(str(_STATIC_DIR / name), max_age=86400)
