"""``GET /health``: Redis, workers and Semantest, each named when it fails."""

from __future__ import annotations

from typing import Any

import redis
from flask import Blueprint, Response, jsonify

from scene_weaver.semantest.status import semantest_status
from workers.dispatch import live_workers

from .openapi_meta import documented
from .responses import HealthResponse
from .services import services

__all__ = ["bp"]

bp = Blueprint("health", __name__)


@bp.get("/health")
@documented(summary="Redis, workers and Semantest; 503 naming what fails", tag="operations", auth=False,
            responses={200: HealthResponse, 503: HealthResponse})
def health() -> tuple[Response, int]:
    svc = services()
    report: dict[str, Any] = {"status": "ok"}
    failing: list[str] = []
    try:
        svc.redis.ping()
        report["redis"] = "ok"
    except redis.RedisError as exc:
        report["redis"] = f"unavailable: {exc}"
        failing.append("redis")
    if "redis" in failing:
        report["workers"] = 0
        report["semantest"] = "unknown"
        failing.append("workers")
    else:
        report["workers"] = live_workers(svc.celery, timeout=0.5)
        if report["workers"] == 0:
            failing.append("workers")
        report["semantest"] = semantest_status(svc.redis, svc.settings)
        # Half-open is still unproven: only a successful probe closes the breaker.
        if report["semantest"]["breaker"]["state"] != "closed":
            failing.append("semantest")
    if failing:
        report["status"] = "unavailable"
        report["failing"] = failing
        return jsonify(report), 503
    return jsonify(report), 200
