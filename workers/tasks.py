"""Thin tasks: they take a job id, call the pipeline, and turn retryable
failures into Celery retries with exponential backoff and jitter."""

from __future__ import annotations

import logging

from celery import Task, shared_task
from celery.utils.time import get_exponential_backoff_interval

from scene_weaver.errors import CircuitOpen, SemantestError
from scene_weaver.pipeline import Outcome, give_up, run_job

from . import resources
from .queues import PROCESS_SCENE
from .webhooks import notifier

log = logging.getLogger(__name__)

BUSY_RECHECK_SECONDS = 10


@shared_task(bind=True, name=PROCESS_SCENE, max_retries=None, acks_late=True)
def process_scene(self: Task, job_id: str) -> Outcome:
    ctx = resources.context()
    try:
        outcome = run_job(ctx, job_id, notify=notifier(ctx))
    except SemantestError as exc:
        retries = self.request.retries
        if retries >= ctx.settings.job_max_retries:
            give_up(ctx, job_id, exc, retries + 1, notify=notifier(ctx))
            return Outcome.FAILED
        delay = get_exponential_backoff_interval(
            factor=1, retries=retries, maximum=int(ctx.settings.job_retry_backoff_max), full_jitter=True
        )
        if isinstance(exc, CircuitOpen):
            delay = max(delay, exc.retry_after)
        delay = max(delay, 0.2)
        log.info("job %s: %s (%s), retry %d in %.1fs", job_id, exc.code, exc.message, retries + 1, delay)
        ctx.store.note_retry(job_id, exc.code, exc.message, delay)
        raise self.retry(countdown=delay, exc=exc) from exc
    if outcome == Outcome.BUSY:
        # Another runner holds the job's lock (this message was redelivered while it runs).
        # Look again later rather than dropping the message: if that runner died, its lock
        # expires and this delivery finishes the job.
        raise self.retry(countdown=BUSY_RECHECK_SECONDS)
    return outcome
