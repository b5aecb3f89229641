"""Reading request bodies: JSON objects only, validated by pydantic models."""

from __future__ import annotations

from typing import Any, TypeVar

from flask import request
from pydantic import BaseModel

from scene_weaver.errors import SceneWeaverError

__all__ = ["json_body", "parse_body", "parse_query", "UnsupportedMediaType", "InvalidJson"]

M = TypeVar("M", bound=BaseModel)


class UnsupportedMediaType(SceneWeaverError):
    code = "unsupported_media_type"
    http_status = 415


class InvalidJson(SceneWeaverError):
    code = "invalid_json"
    http_status = 400


def json_body() -> dict[str, Any]:
    if not request.is_json:
        raise UnsupportedMediaType("send the body as application/json",
                                   details={"content_type": request.content_type})
    body = request.get_json(silent=True)
    if body is None:
        raise InvalidJson("the body is not valid JSON")
    if not isinstance(body, dict):
        raise InvalidJson("the body must be a JSON object", details={"field": "body"})
    return body


def parse_body(model: type[M]) -> M:
    return model.model_validate(json_body())


def parse_query(model: type[M]) -> M:
    """Query-string parameters validated like bodies (a bad one is a 422 naming it)."""
    return model.model_validate(request.args.to_dict())
