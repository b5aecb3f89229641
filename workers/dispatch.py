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
from typing import Any

import redis
from celery import Celery
from kombu.exceptions import OperationalError

from scene_weaver.errors import ServiceUnavailable
from scene_weaver.jobs import JobStore
from scene_weaver.models import Priority
from scene_weaver.settings import Settings

from .app import create_celery
from .queues import DELIVER_WEBHOOK, PROCESS_SCENE, QUEUES, WEBHOOK_QUEUE, queue_for

__all__ = ["enqueue_job", "enqueue_webhook", "queue_depths", "producer", "BrokerUnavailable", "RETRY_AFTER",
           "RECONCILER_COUNTERS"]

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
            client = redis.Redis.from_url(settings.require_redis_url(), socket_connect_timeout=2, socket_timeout=5,
                                          health_check_interval=30)
            store = _stores[id(app)] = JobStore(client)
        return store


def enqueue_job(app: Celery, job_id: str, priority: Priority) -> None:
    """Record ``job_id`` as dispatched, then publish its task; ``BrokerUnavailable`` if either fails."""
    try:
        _store(app).record_dispatched(job_id)
        app.send_task(PROCESS_SCENE, args=[job_id], queue=queue_for(priority))
    except (OperationalError, redis.RedisError, OSError) as exc:
        log.warning("job %s: could not enqueue: %s", job_id, exc)
        raise BrokerUnavailable(f"the job queue is unavailable ({type(exc).__name__}); try again shortly") from exc


def enqueue_webhook(app: Celery, url: str, body: str) -> None:
    app.send_task(DELIVER_WEBHOOK, args=[url, body], queue=WEBHOOK_QUEUE)


def queue_depths(redis_client: Any) -> dict[str, int]:
    """Messages waiting per queue (the Redis transport keeps each queue in a list)."""
    return {queue.name: int(redis_client.llen(queue.name)) for queue in QUEUES}


def producer(settings: Settings) -> Celery:
    """A Celery app for sending only: the web process never imports the tasks."""
    return create_celery(settings)
