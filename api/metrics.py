"""``GET /metrics`` (Prometheus text) and the request series every answer records.

Under gunicorn each worker process keeps its counters in ``PROMETHEUS_MULTIPROC_DIR``
(``api/gunicorn_conf.py`` makes and empties one when none is given) and any of them sums
all of them for a scrape; without the variable (one process) the default registry is read.
Series that live in Redis (queue depth by priority, live workers, Redis memory) are read at
scrape time. With ``METRICS_TOKEN`` set, a scrape needs ``Authorization: Bearer <token>``.
"""

from __future__ import annotations

import hmac
import os
import time

from flask import Blueprint, Flask, Response, g, jsonify, request
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest, multiprocess
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from scene_weaver import metrics
from scene_weaver.heartbeats import HeartbeatStore, fleet_summary

from .errors import error_response
from .openapi_meta import RawContent, documented
from .services import services

__all__ = ["bp", "init_request_metrics"]

bp = Blueprint("metrics", __name__)


@bp.get("/metrics")
@documented(summary="Prometheus metrics of the API and of what Redis holds (queues, live workers, memory)",
            tag="operations", auth=False, errors=(401,),
            responses={200: RawContent(CONTENT_TYPE_LATEST.split(";")[0], {"type": "string"},
                                       "Prometheus text exposition format")},
            description="Open by default; when the server sets `METRICS_TOKEN`, send it as "
                        "`Authorization: Bearer <METRICS_TOKEN>`. Each worker process serves its own "
                        "series on `WORKER_METRICS_PORT` (its heartbeat names the port).")
def scrape() -> Response:
    svc = services()
    refused = _refused(svc.settings.metrics_token)
    if refused is not None:
        return refused
    heartbeats = HeartbeatStore(svc.redis)
    live = CollectorRegistry(auto_describe=False)
    live.register(metrics.RedisCollector(svc.redis, lambda: fleet_summary(heartbeats.live())["workers"]))
    body = generate_latest(_process_registry()) + generate_latest(live)
    return Response(body, mimetype=CONTENT_TYPE_LATEST.split(";")[0],
                    headers={"Content-Type": CONTENT_TYPE_LATEST, "Cache-Control": "no-store"})


@bp.get("/metrics/targets")
@documented(summary="Worker processes' metrics endpoints, for Prometheus's HTTP service discovery",
            tag="operations", auth=False, errors=(401,),
            responses={200: RawContent("application/json", {"type": "array", "items": {"type": "object"}},
                                       "Prometheus http_sd_configs targets")},
            description="One target group per live worker process that serves metrics (its heartbeat's "
                        "host name and `metrics_port`), labelled with its runner id and Celery node. Same "
                        "token rule as `/metrics`.")
def targets() -> Response:
    svc = services()
    refused = _refused(svc.settings.metrics_token)
    if refused is not None:
        return refused
    groups = [{"targets": [f"{beat.hostname}:{beat.metrics_port}"],
               "labels": {"runner_id": beat.runner_id, "node": beat.node}}
              for beat in HeartbeatStore(svc.redis).live() if beat.metrics_port]
    return jsonify(groups)


def _refused(token: str | None) -> Response | None:
    if not token:
        return None
    given = request.headers.get("Authorization", "")
    if hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
        return None
    return error_response(401, "unauthorized", "this endpoint needs the metrics token (METRICS_TOKEN)",
                          headers={"WWW-Authenticate": 'Bearer realm="metrics"'})


def _process_registry() -> CollectorRegistry:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return registry
    return REGISTRY


def _started() -> None:
    g.metrics_started = time.perf_counter()


def _answered(response: Response) -> Response:
    started = g.pop("metrics_started", None)
    if started is None:
        return response
    rule = request.url_rule
    route = rule.rule if rule is not None else "unmatched"  # never the raw path: ids would explode the labels
    metrics.HTTP_REQUESTS.labels(method=request.method, route=route, status=str(response.status_code)).inc()
    metrics.HTTP_LATENCY.labels(method=request.method, route=route).observe(time.perf_counter() - started)
    return response


def init_request_metrics(app: Flask) -> None:
    app.before_request(_started)
    app.after_request(_answered)
