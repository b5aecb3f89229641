"""Webhook delivery: a thin task with Celery's own retries and exponential backoff."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from celery import current_app, shared_task

from scene_weaver import webhooks
from scene_weaver.errors import InvalidInput
from scene_weaver.jobs import Job
from scene_weaver.pipeline import JobContext

from . import resources
from .dispatch import enqueue_webhook
from .queues import DELIVER_WEBHOOK

__all__ = ["deliver_webhook", "notifier"]

log = logging.getLogger(__name__)


@shared_task(name=DELIVER_WEBHOOK, autoretry_for=(webhooks.DeliveryFailed,), retry_backoff=2,
             retry_backoff_max=300, retry_jitter=True, max_retries=8, acks_late=True)
def deliver_webhook(url: str, body: str) -> str:
    try:
        status = webhooks.send(webhooks.Delivery(url=url, body=body), resources.settings())
    except InvalidInput as exc:
        # The URL became refused (deny list, DNS now private): retrying cannot help.
        log.warning("webhook to %s refused: %s", url, exc.message)
        return "refused"
    return f"delivered {status}"


def notifier(ctx: JobContext) -> Callable[[Job, str, dict[str, Any]], None]:
    """The pipeline's ``notify`` hook: enqueue a delivery when the job asked for this event."""

    def notify(job: Job, event: str, data: dict[str, Any]) -> None:
        delivery = webhooks.delivery_for(ctx.store.client, ctx.settings, job.job_id, job.options,
                                          event=event, data=data)
        if delivery is not None:
            enqueue_webhook(current_app, delivery.url, delivery.body)

    return notify
