"""The Flask app factory: everything is built here, nothing at import time."""

from __future__ import annotations

import logging
from typing import Any

import redis
from flask import Flask

from scene_weaver.jobs import JobStore
from scene_weaver.settings import Settings
from scene_weaver.users import DEMO_USER, UserStore
from workers.dispatch import producer

from . import auth, health, jobs
from .errors import register_error_handlers
from .services import Services

__all__ = ["create_app"]

log = logging.getLogger(__name__)

API_BLUEPRINTS = (auth.bp, jobs.bp)


def create_app(
    settings: Settings | None = None,
    *,
    redis_client: redis.Redis | None = None,
    celery_app: Any = None,
) -> Flask:
    settings = (settings or Settings.from_env()).with_jwt_secret()
    client = redis_client or redis.Redis.from_url(
        settings.require_redis_url(), socket_connect_timeout=2, socket_timeout=5, health_check_interval=30
    )
    app = Flask(__name__)
    app.config.update(MAX_CONTENT_LENGTH=settings.max_body_bytes, JSON_SORT_KEYS=False)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["scene_weaver"] = Services(
        settings=settings,
        redis=client,
        jobs=JobStore(client),
        users=UserStore(client),
        celery=celery_app or producer(settings),
    )
    auth.init_jwt(app, settings)
    register_error_handlers(app)
    for blueprint in API_BLUEPRINTS:
        # The same routes answer under /v1 and, for the original API guide, bare.
        app.register_blueprint(blueprint, url_prefix="/v1")
        app.register_blueprint(blueprint, url_prefix="", name=f"{blueprint.name}_bare")
    app.register_blueprint(health.bp)
    if not settings.production:
        _ensure_demo_user(app.extensions["scene_weaver"], settings)
    return app


def _ensure_demo_user(svc: Services, settings: Settings) -> None:
    try:
        svc.users.ensure(DEMO_USER, settings.demo_password)
    except redis.RedisError as exc:
        log.warning("could not create the demo user yet: %s", exc)
