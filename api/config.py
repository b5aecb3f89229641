"""``GET /config`` and ``PUT /config`` (admins): weaving and processing settings at run time."""

from __future__ import annotations

from flask import Blueprint, Response
from flask_jwt_extended import jwt_required

from scene_weaver.runtime_config import RuntimeConfig, RuntimeConfigUpdate, effective_config, update_config

from .auth import require_admin
from .caching import CONFIG_TTL, cached_json, invalidate
from .openapi_meta import documented
from .requests import parse_body
from .services import services

__all__ = ["bp", "CONFIG_CACHE"]

bp = Blueprint("config", __name__)

CONFIG_CACHE = "config"


def _effective() -> dict[str, object]:
    svc = services()
    return effective_config(svc.redis, svc.settings).model_dump()


@bp.get("/config")
@documented(summary="The weaving and processing settings in force", tag="config",
            responses={200: RuntimeConfig})
@jwt_required()
def get_config() -> Response:
    return cached_json(CONFIG_CACHE, CONFIG_TTL, _effective)


@bp.put("/config")
@documented(summary="Change some settings (admins); workers apply them from their next job", tag="config",
            admin=True, body=RuntimeConfigUpdate, responses={200: RuntimeConfig})
@jwt_required()
def put_config() -> Response:
    require_admin()
    update = parse_body(RuntimeConfigUpdate)
    svc = services()
    update_config(svc.redis, svc.settings, update)
    invalidate(CONFIG_CACHE)
    return cached_json(CONFIG_CACHE, CONFIG_TTL, _effective)
