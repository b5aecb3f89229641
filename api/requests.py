"""Reading request bodies: JSON objects only, nested at most ``MAX_JSON_DEPTH`` deep,
validated by pydantic models."""

from __future__ import annotations

import json
import re
from typing import Any, TypeVar

from flask import request
from pydantic import BaseModel

from scene_weaver.errors import SceneWeaverError

__all__ = ["json_body", "loads_json", "parse_body", "parse_query", "UnsupportedMediaType", "InvalidJson",
           "JsonTooDeep", "MAX_JSON_DEPTH"]

M = TypeVar("M", bound=BaseModel)

# No request of this API nests deeper than a few levels. The limit is checked before the
# decoder runs, so a body of 100,000 "[" never reaches its recursion.
MAX_JSON_DEPTH = 32
_JSON_TOKEN = re.compile(rb'"(?:[^"\\]+|\\.)*"|[\[\]{}]')


class UnsupportedMediaType(SceneWeaverError):
    code = "unsupported_media_type"
    http_status = 415


class InvalidJson(SceneWeaverError):
    code = "invalid_json"
    http_status = 400


class JsonTooDeep(InvalidJson):
    """Nested deeper than ``MAX_JSON_DEPTH``: refused before the decoder runs."""


def _too_deep(data: bytes) -> bool:
    if data.count(b"[") + data.count(b"{") <= MAX_JSON_DEPTH:
        return False  # the common case: too few brackets to nest that deep
    depth = 0
    for token in _JSON_TOKEN.finditer(data):
        bracket = token.group()
        if bracket in (b"[", b"{"):
            depth += 1
            if depth > MAX_JSON_DEPTH:
                return True
        elif bracket in (b"]", b"}"):
            depth -= 1
    return False


def loads_json(data: str | bytes, what: str = "the body") -> Any:
    """``data`` decoded; ``InvalidJson`` when it is not JSON, not UTF-8, or nested too deep."""
    raw = data.encode() if isinstance(data, str) else data
    if _too_deep(raw):
        raise JsonTooDeep(f"{what} is nested deeper than {MAX_JSON_DEPTH} levels",
                          details={"max_depth": MAX_JSON_DEPTH})
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise InvalidJson(f"{what} is not valid JSON") from None


def json_body() -> dict[str, Any]:
    if not request.is_json:
        raise UnsupportedMediaType("send the body as application/json",
                                   details={"content_type": request.content_type})
    body = loads_json(request.get_data(cache=True))
    if not isinstance(body, dict):
        raise InvalidJson("the body must be a JSON object", details={"field": "body"})
    return body


def parse_body(model: type[M]) -> M:
    return model.model_validate(json_body())


def parse_query(model: type[M]) -> M:
    """Query-string parameters validated like bodies (a bad one is a 422 naming it)."""
    return model.model_validate(request.args.to_dict())
