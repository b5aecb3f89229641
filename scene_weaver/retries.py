"""How long a job waits before its next run, and when it has waited long enough.

Two kinds of wait, told apart because only one of them spends the job's budget:

- A real attempt failed with a retryable error: exponential backoff with full jitter,
  or exactly the delay Semantest named in its reply (as gRPC's retry pushback replaces
  the client's own backoff). The budget is ``JOB_MAX_RETRIES`` retries and
  ``JOB_RETRY_DEADLINE`` seconds from the job's first start, whichever ends first.
- The open breaker turned the job away: no attempt was made. It waits until the breaker
  is due to half-open, plus jitter so the fleet does not wake at once; only the deadline
  ends that wait.
"""

from __future__ import annotations

import random
import time
from datetime import datetime

from .errors import CircuitOpen, SemantestError
from .jobs import Job
from .settings import Settings

__all__ = ["MIN_DELAY", "deadline_passed", "park_delay", "retry_delay", "seconds_since_start"]

MIN_DELAY = 0.2
# Jobs told the same delay by Semantest come back spread over this share of it, not in step.
NAMED_DELAY_SPREAD = 0.1


def retry_delay(settings: Settings, attempts: int, exc: SemantestError) -> float:
    """Seconds before the next real attempt, after ``attempts`` attempts of which the last failed with ``exc``."""
    if exc.retry_after > 0:
        return exc.retry_after * (1.0 + random.uniform(0.0, NAMED_DELAY_SPREAD))
    ceiling = min(settings.job_retry_backoff_max, 2.0 ** max(0, attempts - 1))
    return max(MIN_DELAY, random.uniform(0.0, ceiling))


def park_delay(settings: Settings, exc: CircuitOpen) -> float:
    """Seconds a job turned away by the breaker waits: until it is due to half-open, plus jitter."""
    return max(MIN_DELAY, exc.retry_after) + random.uniform(0.0, settings.breaker_wake_jitter)


def seconds_since_start(job: Job) -> float:
    """How long ago a worker first took the job up (0 if none has yet)."""
    if not job.started_at:
        return 0.0
    return max(0.0, time.time() - datetime.fromisoformat(job.started_at).timestamp())


def deadline_passed(settings: Settings, job: Job) -> bool:
    return seconds_since_start(job) >= settings.job_retry_deadline
