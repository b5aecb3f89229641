"""The Flask app factory: everything is built here, nothing at import time."""

from __future__ import annotations

import logging
from typing import Any

import redis
from flask import Flask
from flask_cors import CORS

from scene_weaver import redis_urls
from scene_weaver.batches import Admission, BatchStore
from scene_weaver.jobs import JobStore
from scene_weaver.settings import Settings
from scene_weaver.users import DEMO_USER, UserStore
from workers.dispatch import producer

from . import (
    auth,
    batches,
    caching,
    config,
    events,
    gallery,
    health,
    jobs,
    metrics,
    openapi,
    parse,
    stats,
    ws,
)
from .errors import register_error_handlers
from .headers import init_security_headers
from .limits import init_limits
from .metrics import init_request_metrics
from .request_ids import init_request_ids
from .services import Services

__all__ = ["create_app"]

log = logging.getLogger(__name__)

# Answer under /v1 and, for the original API guide, bare.
API_BLUEPRINTS = (auth.bp, jobs.bp, batches.bp, events.bp, parse.bp, config.bp, stats.bp, caching.bp, ws.bp,
                  gallery.bp)

def create_app(
    settings: Settings | None = None,
    *,
    redis_client: redis.Redis | None = None,
    celery_app: Any = None,
) -> Flask:
    settings = (settings or Settings.from_env()).with_jwt_secret()
    # Every live stream holds a connection while it waits (gevent workers): a pool sized for
    # them that waits for a free connection rather than failing at redis-py's default of 100.
    client = redis_client or _redis_client(settings)
    app = Flask(__name__)
    app.config.update(
        MAX_CONTENT_LENGTH=settings.max_body_bytes,
        JSON_SORT_KEYS=False,
        SOCK_SERVER_OPTIONS={"ping_interval": settings.stream_keepalive, "max_message_size": settings.max_body_bytes},
    )
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["scene_weaver"] = Services(
        settings=settings,
        redis=client,
        jobs=JobStore(client),
        users=UserStore(client),
        celery=celery_app or _producer(settings),
        batches=BatchStore(client),
        admission=Admission(client, settings),
    )
    init_request_ids(app)
    init_request_metrics(app)
    auth.init_jwt(app, settings)
    register_error_handlers(app)
    init_security_headers(app)
    for blueprint in API_BLUEPRINTS:
        app.register_blueprint(blueprint, url_prefix="/v1")
        app.register_blueprint(blueprint, url_prefix="", name=f"{blueprint.name}_bare")
    app.register_blueprint(health.bp)
    app.register_blueprint(metrics.bp)
    app.register_blueprint(openapi.bp)
    init_limits(app, settings)
    # No origin is allowed unless CORS_ORIGINS names it (production has none by default).
    CORS(app, origins=list(settings.cors_origins), expose_headers=[
        "Retry-After", "X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset", "Location",
        "Idempotent-Replayed", "X-Request-ID"], allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "Last-Event-ID", "X-Request-ID"])
    if not settings.production:
        _ensure_demo_user(app.extensions["scene_weaver"], settings)
    return app


def _producer(settings: Settings) -> Any:
    """The Celery app the API publishes with, without ``task-sent`` events.

    A task-sent event is one more Redis PUBLISH on every submit, and nothing reads it: Flower
    lists tasks from the workers' events (``task-received`` carries the name and arguments),
    and Celery's default is off.
    """
    app = producer(settings)
    app.conf.task_send_sent_event = False
    return app


def _redis_client(settings: Settings) -> redis.Redis:
    url = settings.require_redis_url()
    if redis_urls.parse_sentinel(url) is not None:  # the master, asked of the sentinels (failover)
        return redis_urls.client(url, max_connections=settings.api_redis_max_connections,
                                 socket_connect_timeout=2, socket_timeout=5, health_check_interval=30)
    return redis.Redis(connection_pool=redis.BlockingConnectionPool.from_url(
        url, max_connections=settings.api_redis_max_connections, timeout=2,
        socket_connect_timeout=2, socket_timeout=5, health_check_interval=30,
    ))


def _ensure_demo_user(svc: Services, settings: Settings) -> None:
    try:
        svc.users.ensure(DEMO_USER, settings.demo_password)
    except redis.RedisError as exc:
        log.warning("could not create the demo user yet: %s", exc)
