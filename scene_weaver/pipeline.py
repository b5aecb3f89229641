"""What a worker does with one job: weave, generate, store, record.

The Celery task is a thin shell around :func:`run_job`: a job the open breaker turns
away comes back to it as :class:`JobParked`, a retryable failure as the error itself,
and :func:`retry_later` says when (or whether) to run it again; Celery re-queues.
"""

from __future__ import annotations

import enum
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from . import metrics, retries
from .errors import CircuitOpen, JobCanceled, JobParked, SemantestError
from .images import ImageStore
from .jobs import Job, JobStore
from .models import JobStatus, Scene
from .prompt_cache import PromptCache
from .result_cache import Claim, ResultCache, generation_key, scene_key
from .runtime_config import effective_config
from .semantest import GeneratedImage, GenerationRequest
from .settings import Settings

__all__ = ["ImageService", "JobContext", "Notify", "Outcome", "run_job", "retry_later", "give_up"]

log = logging.getLogger(__name__)

PROGRESS_MIN_INTERVAL = 0.2
CANCEL_CHECK_INTERVAL = 0.25


class ImageService(Protocol):
    def generate(self, request: GenerationRequest, *, on_progress: Any = ...,
                 should_cancel: Any = ...) -> GeneratedImage: ...

    def circuit_state(self) -> str: ...

    def admission_wait(self) -> float: ...


@dataclass
class JobContext:
    settings: Settings
    store: JobStore
    images: ImageStore
    prompts: PromptCache
    service: ImageService
    runner_id: str
    results: ResultCache = field(default=None)  # type: ignore[assignment]  # built from the rest when None

    def __post_init__(self) -> None:
        if self.results is None:
            results = ResultCache.from_settings(self.store.client, self.settings)
            results.images = self.images  # this process's store (the settings' directory unless a test says else)
            self.results = results


# Told about "started", "progress" and "completed" (webhooks); its failures never fail a job.
Notify = Callable[[Job, str, dict[str, Any]], None]


def _notifier(notify: Notify | None, job: Job) -> Callable[[str, dict[str, Any]], None]:
    def emit(event: str, data: dict[str, Any]) -> None:
        if notify is None:
            return
        try:
            notify(job, event, data)
        except Exception:
            log.exception("job %s: could not emit %s", job.job_id, event)

    return emit


def _completed(ctx: JobContext, job: Job, notify: Notify | None) -> None:
    final = ctx.store.get(job.job_id)
    if final is not None and final.terminal:
        _notifier(notify, job)("completed", {"status": final.status.value, "result": final.result,
                                             "error": final.error})


class Outcome(enum.StrEnum):
    """How one run of a job ended, as the task reports it (job statuses are :class:`JobStatus`)."""

    SKIPPED = "skipped"
    BUSY = "busy"
    SUCCEEDED = "succeeded"
    CANCELED = "canceled"
    FAILED = "failed"


def run_job(ctx: JobContext, job_id: str, notify: Notify | None = None) -> Outcome:
    """Run one job to an outcome.

    Retryable Semantest errors propagate to the caller (see :func:`retry_later`); a job
    the open breaker turns away is parked and :class:`JobParked` says for how long.
    """
    job = ctx.store.get(job_id)
    if job is None:
        log.warning("job %s does not exist; dropping the task", job_id)
        return Outcome.SKIPPED
    if job.terminal:
        return Outcome.SKIPPED
    if not ctx.store.acquire_run_lock(job_id, ctx.runner_id, ctx.settings.job_time_limit):
        return Outcome.BUSY
    started, ended = time.monotonic(), "retry"  # a run that raises is parked or retried
    if job.status == JobStatus.GENERATING:
        ctx.store.count_resumed_generation()  # its request to Semantest may be sent a second time
    try:
        outcome = _run_locked(ctx, job, _notifier(notify, job))
        ended = outcome.value
    finally:
        ctx.store.release_run_lock(job_id, ctx.runner_id)
        metrics.job_finished(ended, time.monotonic() - started)
    if outcome in (Outcome.SUCCEEDED, Outcome.FAILED, Outcome.CANCELED):
        _completed(ctx, job, notify)
    return outcome


def _run_locked(  # noqa: PLR0911 - one return per way a run ends
        ctx: JobContext, job: Job, emit: Callable[[str, dict[str, Any]], None]) -> Outcome:
    store, job_id = ctx.store, job.job_id
    if store.cancel_requested(job_id):
        store.cancel(job_id)
        return Outcome.CANCELED
    wait = ctx.service.admission_wait()
    if wait > 0:  # a parked job wakes here: it neither starts nor connects while the breaker is open
        return _turned_away(ctx, job, CircuitOpen(
            f"Semantest circuit breaker is open; retry in {wait:.1f}s", retry_after=wait), started=False)
    if store.mark_started(job_id):
        emit("started", {"status": "started"})
    store.mark_weaving(job_id)
    scene = Scene.model_validate(job.scene)
    config = effective_config(store.client, ctx.settings)  # PUT /config applies from the next job on
    prompt = ctx.prompts.weave(scene, style=config.default_style, max_length=config.prompt_max_length)
    if store.cancel_requested(job_id):
        store.cancel(job_id)
        return Outcome.CANCELED
    store.mark_generating(job_id, {"text": prompt.text, "negative": prompt.negative, "style": prompt.style})
    attempt = job.attempts + 1  # mark_started counted it; the run lock keeps this exact
    request = GenerationRequest(
        request_id=f"{job_id}-{attempt}",
        prompt=prompt.text,
        negative_prompt=prompt.negative,
        width=int(job.options.get("width") or config.image_width),
        height=int(job.options.get("height") or config.image_height),
        steps=config.image_steps,
        guidance_scale=config.guidance_scale,
        seed=int(job.options.get("seed", -1)),
        style=prompt.style,
        metadata={"job_id": job_id, "entry_id": scene.entry_id or "", "caption": _spoken_line(scene)},
    )
    generation = generation_key(request)
    ctx.results.remember(scene_key(job.scene, job.options, config), generation)
    try:
        claim = ctx.results.claim(generation, force=bool(job.options.get("force")),
                                  canceled=lambda: store.cancel_requested(job_id))
    except JobCanceled:
        store.cancel(job_id)
        return Outcome.CANCELED
    if claim.shared is not None:  # an identical picture was drawn (or just finished): no Semantest call
        ctx.results.count(hit=True)
        store.succeed(job_id, claim.shared)
        return Outcome.SUCCEEDED
    try:
        return _draw(ctx, job, request, claim, generation=generation, emit=emit)
    finally:
        if claim.flight is not None:
            claim.flight.end()


def _draw(ctx: JobContext, job: Job, request: GenerationRequest, claim: Claim, *, generation: str,
          emit: Callable[[str, dict[str, Any]], None]) -> Outcome:
    """Ask Semantest for the picture, store it and share it with identical generations."""
    store, job_id = ctx.store, job.job_id
    last_report = [0.0]

    def on_progress(progress: int, stage: str = "") -> None:
        # 100 is written by succeed() with the result; in between, at most one write per interval.
        now = time.monotonic()
        if progress >= 100 or now - last_report[0] < PROGRESS_MIN_INTERVAL:  # noqa: PLR2004 - percent
            return
        last_report[0] = now
        if store.set_progress(job_id, progress, stage):
            emit("progress", {"progress": progress, "stage": stage})

    try:
        canceled = _throttled(lambda: store.cancel_requested(job_id))

        def should_cancel() -> bool:  # called while the request waits: the flight's lease stays alive
            if claim.flight is not None:
                claim.flight.renew()
            return canceled()

        image = ctx.service.generate(request, on_progress=on_progress, should_cancel=should_cancel)
    except JobCanceled:
        store.cancel(job_id)
        return Outcome.CANCELED
    except CircuitOpen as exc:  # the breaker opened while this run was weaving: nothing was sent
        return _turned_away(ctx, job, exc, started=True)
    except SemantestError as exc:
        if exc.retryable:
            raise
        store.fail(job_id, exc.code, exc.message)
        return Outcome.FAILED
    sha256 = ctx.images.put(image.data, image.mime_type)
    result = {
        "sha256": sha256,
        "mime_type": image.mime_type,
        "width": image.width,
        "height": image.height,
        "metadata": image.metadata,
    }
    ctx.results.count(hit=False)
    prompt = {"text": request.prompt, "negative": request.negative_prompt, "style": request.style}
    ctx.results.store(generation, job_id, result, prompt)  # before succeed: waiters find it at once
    store.succeed(job_id, {**result, "deduplicated": False})
    return Outcome.SUCCEEDED


def _throttled(check: Callable[[], bool], interval: float = CANCEL_CHECK_INTERVAL) -> Callable[[], bool]:
    """Ask Redis whether the job was canceled at most once per interval, not on every frame."""
    last = [float("-inf")]
    answer = [False]

    def throttled() -> bool:
        now = time.monotonic()
        if not answer[0] and now - last[0] >= interval:
            last[0] = now
            answer[0] = check()
        return answer[0]

    return throttled


def _spoken_line(scene: Scene) -> str:
    """What the picture's caption shows: the first line spoken, else the first caption."""
    return (scene.dialogue or scene.captions or [""])[0]


def _turned_away(ctx: JobContext, job: Job, exc: CircuitOpen, *, started: bool) -> Outcome:
    """Park the job until the breaker is due to half-open; past its deadline, fail it instead.

    ``started``: this run counted an attempt when it started, which is given back.
    """
    if retries.deadline_passed(ctx.settings, job):
        attempts = job.attempts  # as loaded, before this run counted one
        _fail(ctx, job.job_id, exc, attempts, note=_deadline_note(ctx, job), give_back_attempt=started)
        return Outcome.FAILED
    delay = retries.park_delay(ctx.settings, exc)
    metrics.retried(exc.code)
    ctx.store.park(job.job_id, delay, exc.message, give_back_attempt=started)
    raise JobParked(f"job {job.job_id} waits for Semantest", delay=delay)


def retry_later(ctx: JobContext, job_id: str, exc: SemantestError, notify: Notify | None = None) -> float | None:
    """A real attempt failed with ``exc`` (retryable): seconds until the next run, recorded in
    the job's ``retries``; or None when the budget (attempts or deadline) is spent and the job failed."""
    job = ctx.store.get(job_id)
    if job is None or job.terminal:
        return None
    if job.attempts > ctx.settings.job_max_retries:
        give_up(ctx, job_id, exc, job.attempts, notify=notify)
        return None
    if retries.deadline_passed(ctx.settings, job):
        give_up(ctx, job_id, exc, job.attempts, notify=notify, note=_deadline_note(ctx, job))
        return None
    delay = retries.retry_delay(ctx.settings, job.attempts, exc)
    metrics.retried(exc.code)
    ctx.store.note_retry(job_id, exc.code, exc.message, delay)
    return delay


def _deadline_note(ctx: JobContext, job: Job) -> str:
    return (f" in {retries.seconds_since_start(job):.0f}s "
            f"(JOB_RETRY_DEADLINE is {ctx.settings.job_retry_deadline:g}s)")


def give_up(ctx: JobContext, job_id: str, exc: SemantestError, attempts: int, *,
            notify: Notify | None = None, note: str = "") -> None:
    """The retry budget is spent: fail the job, naming the breaker when it is the cause."""
    _fail(ctx, job_id, exc, attempts, note=note)
    metrics.job_given_up()
    job = ctx.store.get(job_id)
    if job is not None:
        _completed(ctx, job, notify)


def _fail(ctx: JobContext, job_id: str, exc: SemantestError, attempts: int, *, note: str,
          give_back_attempt: bool = False) -> None:
    code, reason = exc.code, exc.message
    if not isinstance(exc, CircuitOpen) and ctx.service.circuit_state() != "closed":
        code = CircuitOpen.code
        reason = f"Semantest is unavailable (circuit breaker open); last error {exc.code}: {exc.message}"
    ctx.store.fail(job_id, code, f"gave up after {attempts} attempts{note}: {reason}",
                   give_back_attempt=give_back_attempt)
