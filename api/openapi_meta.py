"""What each view says about itself for the OpenAPI document (read by ``api/openapi.py``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel

__all__ = ["Operation", "documented", "operation_of", "RawContent"]

F = TypeVar("F", bound=Callable[..., Any])
_ATTR = "__scene_weaver_openapi__"


@dataclass(frozen=True)
class RawContent:
    """A non-JSON response body (an image, an event stream, a page)."""

    media_type: str
    schema: dict[str, Any]
    description: str = ""


@dataclass(frozen=True)
class Operation:
    summary: str
    tag: str
    auth: bool = True
    admin: bool = False
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    headers: tuple[tuple[str, str], ...] = ()
    responses: dict[int, type[BaseModel] | tuple[type[BaseModel], ...] | RawContent | None] = field(
        default_factory=dict)
    errors: tuple[int, ...] = ()
    rate_limit: str | None = None
    description: str = ""
    uses_redis: bool = True  # False: never answers 503 redis_unavailable


def documented(summary: str, tag: str, **kw: Any) -> Callable[[F], F]:
    op = Operation(summary=summary, tag=tag, **kw)

    def mark(view: F) -> F:
        setattr(view, _ATTR, op)
        return view

    return mark


def operation_of(view: Callable[..., Any]) -> Operation | None:
    found = getattr(view, _ATTR, None)
    return found if isinstance(found, Operation) else None
