"""What the API uses to enqueue: sends by task name, so the web process never
imports the tasks module or the Semantest session pool.

:func:`enqueue_job` is the one way a scene job reaches the broker (single submissions,
batch admission and the reconciler all call it). It first records the job in the
dispatched-jobs index (``sw:jobs:dispatched``), then publishes the message: a job whose
message is lost anywhere after that (a failed publish, a worker killed between taking the
message and recording it, a Redis restart) is found by the reconciler and sent again.
A publish that fails raises :class:`ServiceUnavailable` (503 with ``Retry-After``).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import redis
from celery import Celery
from kombu.exceptions import OperationalError

from scene_weaver import keys, logs, metrics, redis_urls
from scene_weaver.batches import Admission, BatchStore
from scene_weaver.errors import ServiceUnavailable
from scene_weaver.job_follow import read_jobs
from scene_weaver.jobs import JobStore
from scene_weaver.models import Priority
from scene_weaver.redis_text import decode
from scene_weaver.result_cache import ResultCache, serve_cached
from scene_weaver.runtime_config import effective_config
from scene_weaver.settings import Settings

from .app import create_celery
from .queues import DELIVER_WEBHOOK, PROCESS_SCENE, QUEUES, WEBHOOK_QUEUE, queue_for

__all__ = ["enqueue_job", "enqueue_webhook", "queue_depths", "producer", "admit", "batch_ended", "BrokerUnavailable",
           "RETRY_AFTER", "RECONCILER_COUNTERS"]

log = logging.getLogger(__name__)

# Fleet-wide counters the reconciler keeps (hash ``sw:counters``); ``/stats`` shows them.
RECONCILER_COUNTERS = ("reconciler_jobs_reenqueued", "reconciler_deliveries_restored",
                       "reconciler_run_locks_broken", "reconciler_slots_freed")
RETRY_AFTER = 5  # seconds a caller is told to wait when the broker cannot take the job
_stores: dict[int, JobStore] = {}
_stores_lock = threading.Lock()


class BrokerUnavailable(ServiceUnavailable):
    code = "broker_unavailable"

    def __init__(self, message: str) -> None:
        super().__init__(message, details={"retry_after": RETRY_AFTER})
        self.retry_after = RETRY_AFTER


def _store(app: Celery) -> JobStore:
    """A job store on the app's Redis (one client per app, short timeouts: a dead Redis fails fast)."""
    with _stores_lock:
        store = _stores.get(id(app))
        if store is None:
            settings: Settings = app.conf.scene_weaver_settings
            client = redis_urls.client(settings.require_redis_url(), socket_connect_timeout=2, socket_timeout=5,
                                       health_check_interval=30)
            store = _stores[id(app)] = JobStore(client)
        return store


def enqueue_job(app: Celery, job_id: str, priority: Priority, *, recorded: bool = False) -> None:
    """Record ``job_id`` as dispatched, then publish its task; ``BrokerUnavailable`` if either fails.

    ``recorded``: the caller already recorded it as dispatched (``JobStore.create(...,
    dispatched=True)`` does it in the step that writes the job): only the publish is left.
    """
    try:
        if not recorded:
            _store(app).record_dispatched(job_id)
        # enqueued_at: the worker observes the queue wait from it; request_id: its log events name the request.
        app.send_task(PROCESS_SCENE, args=[job_id], queue=queue_for(priority),
                      headers={"enqueued_at": time.time(), "request_id": logs.request_id.get()})
    except (OperationalError, redis.RedisError, OSError) as exc:
        log.warning("job %s: could not enqueue: %s", job_id, exc)
        raise BrokerUnavailable(f"the job queue is unavailable ({type(exc).__name__}); try again shortly") from exc


def enqueue_webhook(app: Celery, url: str, body: str) -> None:
    app.send_task(DELIVER_WEBHOOK, args=[url, body], queue=WEBHOOK_QUEUE)


def admit(app: Celery, admission: Admission, *, rounds: int = 1) -> int:
    """Fill the admission window: each admitted batch item whose picture is already cached is
    finished at once (no worker, no Semantest call: ``deduplicated``), the others are enqueued at
    the priority admission gave them.

    Served items leave the window at once, so the window is filled again, up to ``rounds``
    times: the API fills it once after a batch is accepted (it never holds a batch), a worker
    after each batch item ends, the periodic sweep more. Returns how many items were admitted.
    """
    admitted = 0
    for _ in range(rounds):
        taken = admission.take()
        if not taken:
            break
        served = _serve_cached(admission, [job_id for job_id, _ in taken])
        for job_id, priority in taken:
            if job_id not in served:
                enqueue_job(app, job_id, priority)
        admitted += len(taken)
        for batch_id in _batches_of(admission, served):
            batch_ended(app, BatchStore(admission.client), batch_id)
        if not served:
            break
    return admitted


def _serve_cached(admission: Admission, job_ids: list[str]) -> set[str]:
    """The admitted items finished from the result cache; on any failure none (the workers draw them)."""
    try:
        store = JobStore(admission.client)
        jobs = [job for job in read_jobs(store, job_ids) if job is not None]  # one round trip, not one a job
        config = effective_config(admission.client, admission.settings)
        return serve_cached(store, ResultCache.from_settings(admission.client, admission.settings), jobs, config)
    except Exception:
        log.exception("serving admitted items from the result cache failed; the workers take them")
        return set()


def _batches_of(admission: Admission, job_ids: set[str]) -> set[str]:
    if not job_ids:
        return set()
    pipe = admission.client.pipeline(transaction=False)
    for job_id in job_ids:
        pipe.hget(keys.job(job_id), "batch_id")
    return {decode(raw) for raw in pipe.execute() if raw}


def batch_ended(app: Celery, batches: BatchStore, batch_id: str) -> None:
    """If the batch has ended: count it once (metrics) and send its ``completed`` webhook once, if asked."""
    batch = batches.get(batch_id)
    if batch is None or not batch.terminal:  # the common case after an item ends: one read, nothing to do
        return
    if batches.claim_end(batch_id):
        metrics.batch_reached(batch.status.value)
    delivery = batches.completed_webhook(batch_id)
    if delivery is not None:
        enqueue_webhook(app, *delivery)


def queue_depths(redis_client: Any) -> dict[str, int]:
    """Messages waiting per queue (the Redis transport keeps each queue in a list)."""
    return {queue.name: int(redis_client.llen(queue.name)) for queue in QUEUES}


def producer(settings: Settings) -> Celery:
    """A Celery app for sending only: the web process never imports the tasks."""
    return create_celery(settings)
