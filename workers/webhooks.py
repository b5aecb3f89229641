"""Webhook delivery: a thin task on its own queue, limited and backed off per receiver host.

Only the webhook worker process (``-Q webhooks``) runs it, so a slow or dead receiver holds
delivery threads, never a scene-job slot. Per host, fleet-wide: at most
``WEBHOOK_HOST_LIMIT`` deliveries in flight (others are put back with a short delay, which
costs no try), and a host that keeps failing has all its deliveries delayed. One delivery
is tried ``WEBHOOK_MAX_ATTEMPTS`` times, with exponential backoff, then dropped.
"""

from __future__ import annotations

import functools
import logging
import random
from collections.abc import Callable
from typing import Any

from celery import Task, current_app, shared_task

from scene_weaver import redis_urls, webhooks
from scene_weaver.errors import InvalidInput
from scene_weaver.jobs import Job
from scene_weaver.pipeline import JobContext
from scene_weaver.webhook_hosts import ReceiverHosts

from . import resources
from .dispatch import enqueue_webhook
from .queues import DELIVER_WEBHOOK

__all__ = ["deliver_webhook", "notifier"]

log = logging.getLogger(__name__)

# A delivery put back because its host is busy or backed off, at most this many times
# (a bound on how long one delivery lives).
MAX_DEFERRALS = 200
# A busy host's delivery is tried again after about this long (s), spread out at random.
BUSY_DELAY = 1.0

@functools.cache
def _receiver_hosts() -> ReceiverHosts:
    """One per process, made on first use (a rare double creation in a race is harmless)."""
    settings = resources.settings()
    client = redis_urls.client(settings.require_redis_url(), socket_connect_timeout=2, socket_timeout=5)
    return ReceiverHosts(client, settings)


@shared_task(name=DELIVER_WEBHOOK, bind=True, max_retries=None, acks_late=True)
def deliver_webhook(self: Task, url: str, body: str, attempt: int = 1, deferrals: int = 0) -> str:
    settings = resources.settings()
    hosts = _receiver_hosts()
    host = webhooks.receiver_host(url)

    def later(countdown: float, **kwargs: int) -> Exception:
        return self.retry(args=[url, body], kwargs={"attempt": attempt, "deferrals": deferrals, **kwargs},
                          countdown=countdown)

    waiting = hosts.backoff(host)
    token = hosts.try_acquire(host) if waiting == 0 else None
    if token is None:
        if deferrals >= MAX_DEFERRALS:
            log.warning("webhook to %s dropped: its host stayed busy or failing", url)
            return "dropped"
        raise later(waiting or BUSY_DELAY * (0.5 + random.random()), deferrals=deferrals + 1)  # noqa: S311
    try:
        status = webhooks.send(webhooks.Delivery(url=url, body=body), settings)
    except InvalidInput as exc:
        # The URL became refused (deny list, DNS now private): retrying cannot help.
        log.warning("webhook to %s refused: %s", url, exc.message)
        return "refused"
    except webhooks.DeliveryFailed as exc:
        hosts.failed(host)
        if attempt >= settings.webhook_max_attempts:
            log.warning("webhook to %s dropped after %d tries: %s", url, attempt, exc.message)
            return "failed"
        raise later(hosts.delay(attempt) * (0.5 + random.random()), attempt=attempt + 1) from None  # noqa: S311
    finally:
        hosts.release(host, token)
    hosts.succeeded(host)
    return f"delivered {status}"


def notifier(ctx: JobContext) -> Callable[[Job, str, dict[str, Any]], None]:
    """The pipeline's ``notify`` hook: enqueue a delivery when the job asked for this event."""

    def notify(job: Job, event: str, data: dict[str, Any]) -> None:
        delivery = webhooks.delivery_for(ctx.store.client, ctx.settings, job.job_id, job.options,
                                          event=event, data=data)
        if delivery is not None:
            enqueue_webhook(current_app, delivery.url, delivery.body)

    return notify
