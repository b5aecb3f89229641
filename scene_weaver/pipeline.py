"""What a worker does with one job: weave, generate, store, record.

The Celery task is a thin shell around :func:`run_job`: a job the open breaker turns
away comes back to it as :class:`JobParked`, a retryable failure as the error itself,
and :func:`retry_later` says when (or whether) to run it again; Celery re-queues.
"""

from __future__ import annotations

import enum
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from . import metrics, retries
from .clock import utc_now_iso
from .errors import CircuitOpen, JobCanceled, JobParked, SemantestError
from .images import ImageStore
from .jobs import Job, JobStore
from .models import Scene
from .prompt_cache import HITS as PROMPT_HITS
from .prompt_cache import MISSES as PROMPT_MISSES
from .prompt_cache import PromptCache
from .result_cache import MISSES as RESULT_MISSES
from .result_cache import Claim, ResultCache, generation_key, scene_key
from .result_cache import entry as result_entry
from .run_steps import Begun, Prepared, RunSteps
from .runtime_config import config_from_stored
from .semantest import GeneratedImage, GenerationRequest, ServiceTerms
from .settings import Settings

__all__ = ["ImageService", "JobContext", "Notify", "Outcome", "run_job", "retry_later", "give_up"]

log = logging.getLogger(__name__)

PROGRESS_MIN_INTERVAL = 0.2
CANCEL_CHECK_INTERVAL = 0.25


class ImageService(Protocol):
    def generate(self, request: GenerationRequest, *, on_progress: Any = ...,
                 should_cancel: Any = ..., slot: str | None = ...) -> GeneratedImage: ...

    def circuit_state(self) -> str: ...

    def terms(self) -> ServiceTerms: ...


@dataclass
class JobContext:
    settings: Settings
    store: JobStore
    images: ImageStore
    prompts: PromptCache
    service: ImageService
    runner_id: str
    results: ResultCache = field(default=None)  # type: ignore[assignment]  # built from the rest when None
    steps: RunSteps = field(init=False)

    def __post_init__(self) -> None:
        self.steps = RunSteps(self.store.client)
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


def _completed(ctx: JobContext, job: Job, notify: Notify | None,
               known: dict[str, Any] | None = None) -> None:
    """Tell ``notify`` how the job ended: ``known`` when the run wrote it, else as Redis has it."""
    if notify is None:
        return
    if known is not None:
        _notifier(notify, job)("completed", known)
        return
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


@dataclass
class _Run:
    """One run of a job under its run lock: the job as the run found it, whether the lock went
    with the last step (the finish script releases it) and the ending it wrote, if it did."""

    job: Job
    lock_released: bool = False
    ending: dict[str, Any] | None = None


def run_job(ctx: JobContext, job_id: str, notify: Notify | None = None, *,
            seen: Callable[[Job], None] | None = None) -> Outcome:
    """Run one job to an outcome.

    Retryable Semantest errors propagate to the caller (see :func:`retry_later`); a job
    the open breaker turns away is parked and :class:`JobParked` says for how long.
    ``seen`` is given the job's record as the run first read it (the task asks whether it is a
    batch item without reading it again).
    """
    terms = ctx.service.terms()
    begun = ctx.steps.begin(job_id, ctx.runner_id, lock_ttl=ctx.settings.job_time_limit, cooldown=terms.cooldown,
                            recheck=terms.recheck, now_iso=utc_now_iso())
    if begun.verdict == "missing":
        log.warning("job %s does not exist; dropping the task", job_id)
        return Outcome.SKIPPED
    if seen is not None and begun.job is not None:
        seen(begun.job)
    if begun.verdict == "terminal":
        return Outcome.SKIPPED
    if begun.verdict == "busy":
        return Outcome.BUSY
    assert begun.job is not None
    run = _Run(begun.job)
    emit = _notifier(notify, run.job)
    started, ended = time.monotonic(), "retry"  # a run that raises is parked or retried
    try:
        outcome = _run_locked(ctx, run, begun, emit, terms)
        ended = outcome.value
    finally:
        if not run.lock_released:
            ctx.store.release_run_lock(job_id, ctx.runner_id)
        metrics.job_finished(ended, time.monotonic() - started)
    if outcome in (Outcome.SUCCEEDED, Outcome.FAILED, Outcome.CANCELED):
        _completed(ctx, run.job, notify, run.ending)
    return outcome


def _run_locked(  # noqa: PLR0911 - one return per way a run ends
        ctx: JobContext, run: _Run, begun: Begun, emit: Callable[[str, dict[str, Any]], None],
        terms: ServiceTerms) -> Outcome:
    store, job = ctx.store, run.job
    job_id = job.job_id
    if begun.verdict == "cancel":
        store.cancel(job_id)
        return Outcome.CANCELED
    if begun.verdict == "wait":  # a parked job wakes here: it neither starts nor connects while the breaker is open
        return _turned_away(ctx, job, CircuitOpen(
            f"Semantest circuit breaker is open; retry in {begun.wait:.1f}s", retry_after=begun.wait), started=False)
    if begun.started:
        emit("started", {"status": "started"})
    scene = Scene.model_validate(job.scene)
    config = config_from_stored(begun.config, ctx.settings)  # PUT /config applies from the next job on
    prompt_key, prompt, prompt_hit = ctx.prompts.lookup(scene, style=config.default_style,
                                                        max_length=config.prompt_max_length)
    attempt = job.attempts + 1  # begin counted it; the run lock keeps this exact
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
    force = bool(job.options.get("force"))
    token = uuid.uuid4().hex
    prepared = ctx.steps.prepare(
        job_id, prompt_key=prompt_key, woven=None if prompt_hit else prompt.model_dump_json(),
        prompt_ttl=ctx.prompts.ttl, prompt_counter=PROMPT_HITS if prompt_hit else PROMPT_MISSES,
        prompt={"text": prompt.text, "negative": prompt.negative, "style": prompt.style},
        scene_key=scene_key(job.scene, job.options, config), generation=generation, result_ttl=ctx.results.ttl,
        force=force, flight_token=token, flight_lease=ctx.results.lease, terms=terms)
    if prepared.verdict == "cancel":
        store.cancel(job_id)
        return Outcome.CANCELED
    if prepared.verdict == "ended":  # canceled (or ended otherwise) while it was weaving
        return Outcome.SKIPPED
    claim = _claim(ctx, job_id, prepared, generation=generation, force=force, token=token)
    if claim is None:
        store.cancel(job_id)
        return Outcome.CANCELED
    if claim.shared is not None:  # an identical picture was drawn (or just finished): no Semantest call
        ctx.results.count(hit=True)
        store.succeed(job_id, claim.shared)
        return Outcome.SUCCEEDED
    try:
        return _draw(ctx, run, request, claim, generation=generation, emit=emit, slot=prepared.slot)
    finally:
        if claim.flight is not None:
            claim.flight.end()


def _claim(ctx: JobContext, job_id: str, prepared: Prepared, *, generation: str, force: bool,
           token: str) -> Claim | None:
    """What the job does about its generation, from what the prepare step found (None: canceled
    while waiting for an identical picture in flight)."""
    if prepared.verdict == "flight":
        return Claim(flight=ctx.results.flight_taken(generation, token))
    if prepared.verdict == "draw":
        return Claim()
    if prepared.verdict == "cached":
        shared = ctx.results.served(generation, prepared.cached)
        if shared is not None:
            return Claim(shared=shared)
    # Another job is drawing it (or the cached picture was gone): wait for it, or take over.
    try:
        return ctx.results.claim(generation, force=force, canceled=lambda: ctx.store.cancel_requested(job_id))
    except JobCanceled:
        return None


def _draw(ctx: JobContext, run: _Run, request: GenerationRequest, claim: Claim, *, generation: str,
          emit: Callable[[str, dict[str, Any]], None], slot: str | None) -> Outcome:
    """Ask Semantest for the picture (``slot``: taken for it by the prepare step), store it and
    share it with identical generations."""
    store, job_id = ctx.store, run.job.job_id
    # The generating event says progress 0: the first progress write waits one interval.
    last_report = [time.monotonic()]

    def on_progress(progress: int, stage: str = "") -> None:
        # 100 is written by succeed() with the result; in between, at most one write per interval.
        now = time.monotonic()
        if progress >= 100 or now - last_report[0] < PROGRESS_MIN_INTERVAL:  # noqa: PLR2004 - percent
            return
        last_report[0] = now
        if store.set_progress(job_id, progress, stage):
            emit("progress", {"progress": progress, "stage": stage})

    try:
        # The prepare step has just looked at the cancel marker: the next look is one interval on.
        canceled = _throttled(lambda: store.cancel_requested(job_id), checked=True)

        def should_cancel() -> bool:  # called while the request waits: the flight's lease stays alive
            if claim.flight is not None:
                claim.flight.renew()
            return canceled()

        image = ctx.service.generate(request, on_progress=on_progress, should_cancel=should_cancel, slot=slot)
    except JobCanceled:
        store.cancel(job_id)
        return Outcome.CANCELED
    except CircuitOpen as exc:  # the breaker opened while this run was weaving: nothing was sent
        return _turned_away(ctx, run.job, exc, started=True)
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
    metrics.result_cache(hit=False)
    prompt = {"text": request.prompt, "negative": request.negative_prompt, "style": request.style}
    # One step: the cache entry (waiters find it at once), the job's success, the flight's end, the lock.
    shown = {**result, "deduplicated": False}
    succeeded = ctx.steps.finish(job_id, ctx.runner_id, generation=generation,
                                 entry=result_entry(job_id, result, prompt), result_ttl=ctx.results.ttl,
                                 result_counter=RESULT_MISSES, result=shown, finished_at=utc_now_iso(),
                                 flight_token=claim.flight.token if claim.flight is not None else "")
    run.lock_released = True
    if succeeded:
        run.ending = {"status": "succeeded", "result": shown, "error": None}
    if claim.flight is not None:
        claim.flight.held = False  # ended by the finish step
    return Outcome.SUCCEEDED


def _throttled(check: Callable[[], bool], interval: float = CANCEL_CHECK_INTERVAL, *,
               checked: bool = False) -> Callable[[], bool]:
    """Ask Redis whether the job was canceled at most once per interval, not on every frame
    (``checked``: the caller has just asked, so the first question waits one interval)."""
    last = [time.monotonic() if checked else float("-inf")]
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
