"""The Celery app factory: all broker and worker behaviour comes from Settings."""

from __future__ import annotations

from celery import Celery

from scene_weaver import redis_urls
from scene_weaver.settings import Settings

from . import kombu_fixes  # noqa: F401  (kombu's Redis-restart workaround, one client a channel)
from .queues import DELIVER_WEBHOOK, QUEUES, WEBHOOK_QUEUE

__all__ = ["create_celery"]


def create_celery(settings: Settings) -> Celery:
    url, sentinel_options = redis_urls.kombu_broker(settings.require_redis_url())
    app = Celery("scene_weaver", broker=url, include=["workers.tasks", "workers.webhooks"])
    app.conf.update(
        broker_connection_retry_on_startup=True,
        broker_transport_options={
            "queue_order_strategy": "priority",
            "visibility_timeout": settings.visibility_timeout,
            # Sweep for messages of dead workers every 5 s (kombu's default sweeps about
            # every 100 s), so a crashed worker's jobs come back soon after the timeout.
            "unacked_restore_interval": 5,
            "unacked_restore_throttle": 1,
            **sentinel_options,
        },
        task_queues=QUEUES,
        task_default_queue="default",
        task_routes={DELIVER_WEBHOOK: {"queue": WEBHOOK_QUEUE}},
        task_create_missing_queues=False,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_acks_on_failure_or_timeout=True,
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        task_time_limit=settings.job_time_limit + 30,
        task_soft_time_limit=settings.job_time_limit,
        worker_prefetch_multiplier=1,
        worker_disable_prefetch=True,
        worker_pool="threads",
        worker_concurrency=settings.worker_concurrency,
        worker_send_task_events=settings.task_events,
        task_send_sent_event=settings.task_events,
        worker_hijack_root_logger=False,
        enable_utc=True,
    )
    app.conf.scene_weaver_settings = settings
    return app
