"""What the API uses to enqueue: sends by task name, so the web process never
imports the tasks module or the Semantest session pool."""

from __future__ import annotations

import time
from typing import Any

from celery import Celery

from scene_weaver import logs
from scene_weaver.batches import Admission
from scene_weaver.models import Priority
from scene_weaver.settings import Settings

from .app import create_celery
from .queues import DELIVER_WEBHOOK, PROCESS_SCENE, QUEUES, WEBHOOK_QUEUE, queue_for

__all__ = ["enqueue_job", "enqueue_webhook", "queue_depths", "producer", "admit"]


def enqueue_job(app: Celery, job_id: str, priority: Priority) -> None:
    # enqueued_at: the worker observes the queue wait from it; request_id: its log events name the request.
    app.send_task(PROCESS_SCENE, args=[job_id], queue=queue_for(priority),
                  headers={"enqueued_at": time.time(), "request_id": logs.request_id.get()})


def enqueue_webhook(app: Celery, url: str, body: str) -> None:
    app.send_task(DELIVER_WEBHOOK, args=[url, body], queue=WEBHOOK_QUEUE)


def admit(app: Celery, admission: Admission) -> int:
    """Fill the admission window: each admitted batch item is enqueued at the priority admission gave it.

    Called by the API after a batch is accepted, by a worker after each batch item ends, and
    by the periodic sweep. Returns how many items were enqueued.
    """
    taken = admission.take()
    for job_id, priority in taken:
        enqueue_job(app, job_id, priority)
    return len(taken)


def queue_depths(redis_client: Any) -> dict[str, int]:
    """Messages waiting per queue (the Redis transport keeps each queue in a list)."""
    return {queue.name: int(redis_client.llen(queue.name)) for queue in QUEUES}


def producer(settings: Settings) -> Celery:
    """A Celery app for sending only: the web process never imports the tasks."""
    return create_celery(settings)
