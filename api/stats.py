"""``GET /stats``: queue depths, jobs by status, prompt and result cache hit rates, workers, breaker."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response
from flask_jwt_extended import jwt_required

from scene_weaver import keys
from scene_weaver.clock import utc_now_iso
from scene_weaver.heartbeats import HeartbeatStore, fleet_summary
from scene_weaver.jobs import SEMANTEST_DUPLICATES_COUNTER, JobStore
from scene_weaver.prompt_cache import PromptCache
from scene_weaver.result_cache import hit_rate as result_hit_rate
from scene_weaver.semantest.status import semantest_status
from workers.dispatch import RECONCILER_COUNTERS, queue_depths

from .caching import STATS_TTL, cached_json
from .openapi_meta import documented
from .responses import StatsResponse, WorkerProcess
from .services import services

__all__ = ["bp", "STATS_CACHE", "STATUS_SAMPLE"]

bp = Blueprint("stats", __name__)

STATS_CACHE = "stats"
STATUS_SAMPLE = 10_000  # the newest jobs counted by status; the answer is cached anyway


def _stats() -> dict[str, Any]:
    svc = services()
    jobs, counted = svc.jobs.count_by_status(STATUS_SAMPLE)
    live = HeartbeatStore(svc.redis).live()
    # Job ids stay out: any user may read /stats, and the jobs are other users'.
    processes = [WorkerProcess.model_validate(h.model_dump()).model_dump(mode="json") for h in live]
    return {
        "queues": queue_depths(svc.redis),
        "jobs": jobs,
        "jobs_counted": counted,
        "prompt_cache": PromptCache(svc.redis).hit_rate(),
        "result_cache": result_hit_rate(svc.redis),
        **fleet_summary(live),
        "worker_processes": processes,
        "breaker": semantest_status(svc.redis, svc.settings)["breaker"],
        "reliability": _reliability(svc.redis),
        "generated_at": utc_now_iso(),
    }


def _reliability(client: Any) -> dict[str, int]:
    """What the reconciler did and how many Semantest requests may have been sent twice."""
    names = [SEMANTEST_DUPLICATES_COUNTER, *RECONCILER_COUNTERS]
    values = client.hmget(keys.counters(), names)
    return {name: int(value or 0) for name, value in zip(names, values, strict=True)} | {
        "jobs_dispatched_unfinished": JobStore(client).dispatched_count()}


@bp.get("/stats")
@documented(summary="Queues, jobs by status, prompt and result cache hit rates, workers and breaker (cached 30 s)",
            tag="operations", responses={200: StatsResponse})
@jwt_required()
def stats() -> Response:
    return cached_json(STATS_CACHE, STATS_TTL, _stats)
