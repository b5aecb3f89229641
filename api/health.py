"""``GET /health`` (readiness: Redis, live workers, Semantest; 503 naming what fails) and
``GET /health/live`` (liveness: this process answers; it touches nothing else).

The public body of ``/health`` is only ``status`` and ``failing``: a load balancer needs
nothing more, and the details (counts, Semantest's URL, Redis's error text) are for admins,
who get them with their token.

Workers are counted from the heartbeats they keep in Redis (``scene_weaver.heartbeats``),
never by broadcasting to them: a poll costs two Redis reads however loaded the fleet is.
"""

from __future__ import annotations

from typing import Any

import jwt as pyjwt
import redis
from flask import Blueprint, Response, jsonify, request
from flask_jwt_extended import get_current_user, verify_jwt_in_request
from flask_jwt_extended.exceptions import JWTExtendedException

from scene_weaver.errors import SceneWeaverError
from scene_weaver.heartbeats import HeartbeatStore, fleet_summary
from scene_weaver.semantest.status import semantest_status

from .openapi_meta import documented
from .responses import HealthResponse, LivenessResponse
from .services import services

__all__ = ["bp"]

bp = Blueprint("health", __name__)


@bp.get("/health/live")
@documented(summary="Liveness: 200 whenever the API process answers (Redis is not consulted)",
            tag="operations", auth=False, responses={200: LivenessResponse}, uses_redis=False,
            description="For restarts: an orchestrator restarts the API process only when this fails. "
                        "Route traffic by `GET /health` instead.")
def live() -> tuple[Response, int]:
    return jsonify({"status": "ok"}), 200


@bp.get("/health")
@documented(summary="Readiness: Redis, live workers and Semantest; 503 naming what fails", tag="operations",
            auth=False, responses={200: HealthResponse, 503: HealthResponse},
            description="200 only when Redis answers, at least one worker process's heartbeat is live "
                        "(and it is not shutting down) and Semantest's circuit breaker is closed. "
                        "Without a token (a load balancer) the body is `status` and `failing` only; "
                        "with an admin's access token it also has the details.")
def health() -> tuple[Response, int]:
    report, failing = _report()
    if failing:
        report["status"] = "unavailable"
        report["failing"] = failing
    body = report if _asked_by_admin() else {k: v for k, v in report.items() if k in _PUBLIC}
    return jsonify(body), 503 if failing else 200


_PUBLIC = ("status", "failing")


def _report() -> tuple[dict[str, Any], list[str]]:
    svc = services()
    report: dict[str, Any] = {"status": "ok"}
    failing: list[str] = []
    try:
        svc.redis.ping()
        report["redis"] = "ok"
        report.update(fleet_summary(HeartbeatStore(svc.redis).live()))
        report["semantest"] = semantest_status(svc.redis, svc.settings)
    except redis.RedisError as exc:
        report.update({"redis": f"unavailable: {exc}", "workers": 0, "workers_stopping": 0,
                       "jobs_in_flight": 0, "semantest": "unknown"})
        failing.append("redis")
    if report["workers"] == 0:
        failing.append("workers")
    # Half-open is still unproven: only a successful probe closes the breaker.
    if isinstance(report["semantest"], dict) and report["semantest"]["breaker"]["state"] != "closed":
        failing.append("semantest")
    return report, failing


def _asked_by_admin() -> bool:
    """True for an admin's valid access token; no token or any other gets the public body, never a 401."""
    if "Authorization" not in request.headers:
        return False  # the load balancer's poll does no token work
    try:
        verify_jwt_in_request()
        user = get_current_user()
    except (JWTExtendedException, pyjwt.PyJWTError, redis.RedisError, SceneWeaverError):
        return False
    return bool(user is not None and user.is_admin)
