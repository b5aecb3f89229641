"""Prometheus series, defined once; the code that does the work calls one function here.

Every name is in the Prometheus style, its unit in the name. The API's processes
(gunicorn workers) share them through ``PROMETHEUS_MULTIPROC_DIR`` (``api/metrics.py``);
each Celery worker process serves its own on ``WORKER_METRICS_PORT`` (``workers/metrics.py``).
Series read from Redis at scrape time (queue depth, live workers, Redis memory) and the
session pool's gauges are collectors, not values kept here (:class:`RedisCollector`).

The domain imports only prometheus-client: no Flask, no Celery.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import redis
from prometheus_client import Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from .constants import SCENE_QUEUES

__all__ = [
    "HTTP_REQUESTS", "HTTP_LATENCY", "JOBS_FINISHED", "JOB_RUN", "QUEUE_WAIT", "SEMANTEST_LATENCY",
    "RETRIES", "REDELIVERIES", "PROMPT_CACHE", "RESULT_CACHE", "BATCHES", "EXPORTED_NAMES",
    "RedisCollector", "PoolCollector", "job_finished", "job_given_up", "retried", "prompt_cache", "semantest_request",
    "PRIORITY_OF_QUEUE",
]

log = logging.getLogger(__name__)

# Seconds: from a few milliseconds (an API answer) to the job time limit.
_FAST = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_SLOW = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)

# The label a scene queue carries in the series: the priority a client asked for.
PRIORITY_OF_QUEUE = {"high": "high", "default": "normal", "low": "low"}

HTTP_REQUESTS = Counter("scene_weaver_http_requests", "API requests answered, by route template and status",
                        ["method", "route", "status"])
HTTP_LATENCY = Histogram("scene_weaver_http_request_duration_seconds", "API request latency, by route template",
                         ["method", "route"], buckets=_FAST)
JOBS_FINISHED = Counter("scene_weaver_jobs_finished", "Jobs that reached a final status", ["status"])
JOB_RUN = Histogram("scene_weaver_job_run_seconds", "One run of a job, from its start to its outcome",
                    ["outcome"], buckets=_SLOW)
QUEUE_WAIT = Histogram("scene_weaver_queue_wait_seconds",
                       "Time a job waited in its queue, from enqueue to a worker starting it", ["priority"],
                       buckets=_SLOW)
SEMANTEST_LATENCY = Histogram("scene_weaver_semantest_request_duration_seconds",
                              "One Semantest generation request, from sending it to its answer", ["outcome"],
                              buckets=_SLOW)
RETRIES = Counter("scene_weaver_job_retries", "Job runs scheduled again, by reason (error code)", ["reason"])
REDELIVERIES = Counter("scene_weaver_redeliveries", "Job messages delivered again (a worker died or lost them)")
PROMPT_CACHE = Counter("scene_weaver_prompt_cache_requests", "Prompt cache look-ups", ["result"])
# The result cache (identical scene and options → the stored picture) increments this with
# result="hit" or "miss": wired where the pipeline looks the result up (batches' branch).
RESULT_CACHE = Counter("scene_weaver_result_cache_requests", "Result cache look-ups", ["result"])
# Batches increment this once per batch reaching a status (wired by the batches package:
# BATCHES.labels(status=...).inc()); the series exists, at zero, before they do.
BATCHES = Counter("scene_weaver_batches", "Batches by status they reached", ["status"])

# Collected at scrape time (see the collectors below).
QUEUE_DEPTH = "scene_weaver_queue_messages"
WORKERS_LIVE = "scene_weaver_workers_live"
REDIS_MEMORY = "scene_weaver_redis_memory_used_bytes"
REDIS_MAXMEMORY = "scene_weaver_redis_maxmemory_bytes"
SESSIONS = "scene_weaver_semantest_sessions"
BREAKER = "scene_weaver_semantest_breaker_state"
BREAKER_STATES = ("closed", "half_open", "open")


def _exposed(metric: Counter | Histogram) -> list[str]:
    name = metric._name  # noqa: SLF001 - the family name prometheus-client exposes
    if isinstance(metric, Counter):
        return [f"{name}_total"]
    return [f"{name}_bucket", f"{name}_sum", f"{name}_count"]


# Every sample name the stack exposes (a test checks the alert rules and the dashboard use no other).
EXPORTED_NAMES = frozenset(
    name
    for metric in (HTTP_REQUESTS, HTTP_LATENCY, JOBS_FINISHED, JOB_RUN, QUEUE_WAIT, SEMANTEST_LATENCY, RETRIES,
                   REDELIVERIES, PROMPT_CACHE, RESULT_CACHE, BATCHES)
    for name in _exposed(metric)
) | {QUEUE_DEPTH, WORKERS_LIVE, REDIS_MEMORY, REDIS_MAXMEMORY, SESSIONS, BREAKER}


def job_finished(status: str, run_seconds: float) -> None:
    """A run ended with ``status`` (an outcome, or ``retry``); a final status counts the job as finished."""
    JOB_RUN.labels(outcome=status).observe(run_seconds)
    if status in ("succeeded", "failed", "canceled"):
        JOBS_FINISHED.labels(status=status).inc()


def job_given_up() -> None:
    """A job failed after its last run (its retry budget spent): counted, its run already timed."""
    JOBS_FINISHED.labels(status="failed").inc()


def retried(reason: str) -> None:
    RETRIES.labels(reason=reason).inc()


def prompt_cache(hit: bool) -> None:
    PROMPT_CACHE.labels(result="hit" if hit else "miss").inc()


def result_cache(*, hit: bool, amount: int = 1) -> None:
    RESULT_CACHE.labels(result="hit" if hit else "miss").inc(amount)


def batch_reached(status: str) -> None:
    BATCHES.labels(status=status).inc()


@contextlib.contextmanager
def semantest_request() -> Iterator[None]:
    started = time.monotonic()
    outcome = "error"
    try:
        yield
        outcome = "ok"
    finally:
        SEMANTEST_LATENCY.labels(outcome=outcome).observe(time.monotonic() - started)


def queue_waited(queue: str, seconds: float) -> None:
    priority = PRIORITY_OF_QUEUE.get(queue)
    if priority is not None and seconds >= 0:
        QUEUE_WAIT.labels(priority=priority).observe(seconds)


class RedisCollector(Collector):
    """What only Redis knows, read at scrape time: queue depth by priority, live workers, memory.

    A Redis that does not answer leaves these series out of one scrape (Prometheus then
    sees them absent) rather than failing the whole page.
    """

    def __init__(self, client: redis.Redis, live_workers: Callable[[], int]) -> None:
        self.client = client
        self.live_workers = live_workers

    def collect(self) -> Iterable[GaugeMetricFamily]:
        try:
            with self.client.pipeline(transaction=False) as pipe:
                for queue in SCENE_QUEUES:
                    pipe.llen(queue)
                pipe.info("memory")
                *depths, memory = pipe.execute()
            live = self.live_workers()
        except redis.RedisError as exc:
            log.warning("metrics: Redis did not answer: %s", exc)
            return
        depth = GaugeMetricFamily(QUEUE_DEPTH, "Job messages waiting, by priority", labels=["priority"])
        for queue, count in zip(SCENE_QUEUES, depths, strict=True):
            depth.add_metric([PRIORITY_OF_QUEUE[queue]], int(count))
        yield depth
        yield GaugeMetricFamily(WORKERS_LIVE, "Worker processes taking jobs (live heartbeats)", value=live)
        yield GaugeMetricFamily(REDIS_MEMORY, "Memory Redis uses", value=int(memory.get("used_memory", 0)))
        yield GaugeMetricFamily(REDIS_MAXMEMORY, "Redis maxmemory (0: no limit)",
                                value=int(memory.get("maxmemory", 0)))


class PoolCollector(Collector):
    """A worker process's Semantest sessions (busy, idle) and the fleet-wide breaker's state."""

    def __init__(self, pool: Callable[[], Any]) -> None:
        self.pool = pool

    def collect(self) -> Iterable[GaugeMetricFamily]:
        pool = self.pool()
        sessions = GaugeMetricFamily(SESSIONS, "Semantest sessions of this process", labels=["state"])
        breaker = GaugeMetricFamily(BREAKER, "Semantest circuit breaker: 1 for its current state",
                                    labels=["state"])
        busy = idle = 0
        current = None
        if pool is not None:
            stats = pool.stats()
            busy = int(stats.get("busy", 0))
            idle = max(0, int(stats["connected"]) - busy)
            try:
                current = pool.circuit_state()
            except redis.RedisError as exc:
                log.warning("metrics: breaker state unknown: %s", exc)
        sessions.add_metric(["busy"], busy)
        sessions.add_metric(["idle"], idle)
        yield sessions
        if current is None:
            return  # no pool yet (before this process's first job) or Redis silent: not known
        for state in BREAKER_STATES:
            breaker.add_metric([state], 1.0 if state == current else 0.0)
        yield breaker

