"""Thin tasks: they take a job id, call the pipeline, and turn its verdicts into Celery
retries: a job parked by the open breaker (no attempt spent) or a retryable failure
(backoff, within the job's budget of attempts and time)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import redis
from celery import Task, shared_task
from celery.worker.request import Request

from scene_weaver.errors import JobParked, SemantestError
from scene_weaver.jobs import Job
from scene_weaver.pipeline import Outcome, retry_later, run_job

from . import admission, resources
from .queues import PROCESS_SCENE
from .webhooks import notifier

log = logging.getLogger(__name__)

BUSY_RECHECK_SECONDS = 10
REDIS_RETRY_SECONDS = 5


class BrokerLossTolerantRequest(Request):
    """A request whose late ack or reject survives the broker connection it came on being gone.

    After Redis restarts, kombu acks or rejects a message on its old channel, whose connection
    it has already dropped, and fails with ``AttributeError: 'NoneType' object has no attribute
    'hostname'``; the error escapes the consumer and ends the worker ("Unrecoverable error").
    Counted among the connection errors, it is logged instead (``Couldn't ack``): the delivery
    stays in kombu's ``unacked`` hash, and the reconciler hands it back once no live worker
    holds it (a finished job's redelivery is then skipped).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._connection_errors: tuple[type[BaseException], ...] = (*self._connection_errors, AttributeError)


@shared_task(bind=True, name=PROCESS_SCENE, max_retries=None, acks_late=True, Request=BrokerLossTolerantRequest)
def process_scene(self: Task, job_id: str) -> Outcome:
    found: list[Job] = []  # the job's record as the run read it: is it a batch item?
    try:
        return _process(self, job_id, found.append)
    finally:
        admission.after_job(self.app, job_id, found[0] if found else None)  # its slot in the window may be free


def _process(self: Task, job_id: str, seen: Callable[[Job], None]) -> Outcome:
    ctx = resources.context()
    try:
        outcome = run_job(ctx, job_id, notify=notifier(ctx), seen=seen)
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        # Redis went away mid-run: the job is not done. Run it again (if this retry cannot be
        # published either, the job is still recorded as dispatched and the reconciler sends it).
        log.warning("job %s: interrupted by Redis (%s); retry in %ds", job_id, exc, REDIS_RETRY_SECONDS)
        raise self.retry(countdown=REDIS_RETRY_SECONDS, exc=exc) from exc
    except JobParked as parked:
        log.info("job %s: waiting for Semantest (breaker open), next run in %.1fs", job_id, parked.delay)
        raise self.retry(countdown=parked.delay) from None
    except SemantestError as exc:
        delay = retry_later(ctx, job_id, exc, notify=notifier(ctx))
        if delay is None:
            return Outcome.FAILED
        log.info("job %s: %s (%s), retry in %.1fs", job_id, exc.code, exc.message, delay)
        raise self.retry(countdown=delay, exc=exc) from exc
    if outcome == Outcome.BUSY:
        # Another runner holds the job's lock (this message was redelivered while it runs).
        # Look again later rather than dropping the message: if that runner died, its lock
        # expires and this delivery finishes the job.
        raise self.retry(countdown=BUSY_RECHECK_SECONDS)
    return outcome
