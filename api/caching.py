"""Response caching in Redis with TTLs, and ``POST /cache/clear`` (admins)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, jsonify
from flask_jwt_extended import jwt_required

from scene_weaver import keys

from .auth import require_admin
from .openapi_meta import documented
from .responses import CacheCleared
from .services import services

__all__ = ["bp", "cached_json", "content_key", "invalidate", "CONFIG_TTL", "STATS_TTL", "DRY_RUN_TTL"]

bp = Blueprint("cache", __name__)

CONFIG_TTL = 60
STATS_TTL = 30
_CLEAR_BATCH = 500  # keys per SCAN step and per DEL
DRY_RUN_TTL = 300


def content_key(prefix: str, content: Any) -> str:
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), default=str)
    return f"{prefix}:{hashlib.sha256(canonical.encode()).hexdigest()}"


def cached_json(name: str, ttl: int, produce: Callable[[], Any], status: int = 200) -> Response:
    """The cached JSON body under ``name``, else ``produce()`` stored for ``ttl`` seconds."""
    client = services().redis
    key = keys.response_cache(name)
    raw = client.get(key)
    hit = raw is not None
    if raw is None:
        raw = json.dumps(produce(), separators=(",", ":"))
        client.set(key, raw, ex=ttl)
    response = Response(raw, status=status, mimetype="application/json")
    response.headers["X-Cache"] = "HIT" if hit else "MISS"
    response.headers["Cache-Control"] = f"private, max-age={ttl}"
    return response


def invalidate(*names: str) -> None:
    services().redis.delete(*(keys.response_cache(name) for name in names))


def clear_all() -> int:
    client = services().redis
    removed = 0
    batch: list[Any] = []
    for key in client.scan_iter(match=keys.cache_pattern(), count=_CLEAR_BATCH):
        batch.append(key)
        if len(batch) >= _CLEAR_BATCH:
            removed += int(client.delete(*batch))
            batch = []
    if batch:
        removed += int(client.delete(*batch))
    return removed


@bp.post("/cache/clear")
@documented(summary="Clear every cache (responses and woven prompts)", tag="admin", admin=True,
            responses={200: CacheCleared})
@jwt_required()
def clear_cache() -> Response:
    require_admin()
    return jsonify({"cleared": clear_all()})
