"""Submitting one scene as a job: validate, honour the idempotency key, create, enqueue.

``POST /process`` and the WebSocket's ``process`` message both call ``submit_scene``, so a
scene is accepted or refused the same way whichever door it came through.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

import redis

from scene_weaver.jobs import Job
from scene_weaver.models import Priority
from scene_weaver.users import User
from scene_weaver.webhooks import check_url
from workers.dispatch import enqueue_job

from . import idempotency
from .auth import Forbidden
from .schemas import ProcessRequest
from .services import Services

__all__ = ["Submission", "submit_scene", "validate_scene_request"]


@dataclass(frozen=True)
class Submission:
    job: Job
    created: bool  # False when the idempotency key gave back the job an earlier request made


def validate_scene_request(raw: dict[str, Any]) -> ProcessRequest:
    """The request as a model, refused (``ValidationError``, ``InvalidInput``) when it cannot be drawn."""
    body = ProcessRequest.model_validate(raw)
    body.check_drawable()
    return body


def submit_scene(
    svc: Services,
    user: User,
    raw: dict[str, Any],
    *,
    idempotency_key: str | None = None,
) -> Submission:
    """Make one job of the scene request ``raw`` for ``user`` and enqueue it.

    ``raw`` is the request body as the caller sent it (a ``ProcessRequest``). With an
    ``idempotency_key``, the same key and body give back the first request's job
    (``created`` False) and a different body is a ``Conflict``. Nothing is written when
    validation fails (``ValidationError``, or ``InvalidInput`` for an undrawable scene, a
    refused webhook URL or a malformed key) or the user may not ask for its priority
    (``Forbidden``, code ``priority_not_allowed``). The job is enqueued at its priority.

    When Redis or the broker fails midway the caller gets a ``redis.RedisError`` or
    ``BrokerUnavailable`` (both 503 with ``Retry-After``); a retry with the same key and body
    creates the job if it is missing and enqueues it (``created`` True then).
    """
    body = validate_scene_request(raw)
    if body.priority == Priority.HIGH and not svc.settings.may_submit_high_priority(user.username, user.role):
        raise Forbidden("you may not submit high-priority jobs (HIGH_PRIORITY_ALLOWED)",
                        code="priority_not_allowed", details={"field": "priority"})
    username = user.username
    if body.webhook_url:
        check_url(body.webhook_url, svc.settings)
    job_id = svc.jobs.new_id()
    claim = None
    if idempotency_key is not None:
        claim = idempotency.claim(svc.redis, username, idempotency_key, idempotency.fingerprint(raw), job_id)
        if not claim.fresh:
            claim = idempotency.wait_for_enqueued(svc.redis, claim)
            if claim.enqueued:
                return Submission(idempotency.wait_for_job(svc.jobs, claim), created=False)
            # The first request with this key failed midway (a 503): finish its work now.
            job = svc.jobs.get(claim.job_id)
            if job is None:
                job = svc.jobs.create(username, body.scene(), priority=body.priority,
                                      options=body.job_options(), job_id=claim.job_id)
            if job.terminal:  # enqueued after all (the reconciler sent it): a replay
                idempotency.mark_enqueued(svc.redis, claim)
                return Submission(job, created=False)
            enqueue_job(svc.celery, job.job_id, job.priority)
            idempotency.mark_enqueued(svc.redis, claim)
            return Submission(job, created=True)
    try:
        # Recorded as dispatched in the step that writes the job: no round trip of its own.
        job = svc.jobs.create(username, body.scene(), priority=body.priority, options=body.job_options(),
                              job_id=job_id, dispatched=True)
    except Exception:
        if claim is not None:
            with contextlib.suppress(redis.RedisError):  # Redis down: the retry finds the claim and creates
                idempotency.release(svc.redis, claim)
        raise
    # Recorded as dispatched (above), then published: a failure is a 503 (BrokerUnavailable) and the
    # job is enqueued by the reconciler or by a retry with the same Idempotency-Key.
    enqueue_job(svc.celery, job.job_id, body.priority, recorded=True)
    if claim is not None:
        idempotency.mark_enqueued(svc.redis, claim)
    return Submission(job, created=True)
