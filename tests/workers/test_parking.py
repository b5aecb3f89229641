"""Jobs the open breaker turns away, and the retry budget in attempts and in time.

``run_job`` and ``retry_later`` against a real Redis, the real breaker and the real local
renderer: what a user sees is the job record (status, attempts, retries, error) and its events.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from scene_weaver.errors import GenerationFailed, JobParked
from scene_weaver.models import JobStatus, Scene
from scene_weaver.pipeline import JobContext, Outcome, retry_later, run_job
from scene_weaver.retries import seconds_since_start
from scene_weaver.semantest import (
    CircuitBreaker,
    GeneratedImage,
    GenerationRequest,
    Permit,
    ServiceTerms,
    SessionPool,
)
from tests.support.renderer import RendererProcess
from tests.support.semantest import RendererFactory
from tests.support.waiting import wait_until

from .conftest import ContextFactory, Notifications

SCENE = Scene(speaker="Iris", dialogue=["Is the lamp still turning?"])
COOLDOWN = 30.0  # the breaker stays open for the whole test once opened
JITTER = 0.5
DEADLINE = 30.0
# The breaker never opens on these tests' steady failures: their window never holds enough calls.
NEVER_BY_RATE = {"breaker_window": 1000, "breaker_min_calls": 1000}


def new_job(ctx: JobContext) -> str:
    return ctx.store.create("demo", SCENE, options={"width": 64, "height": 64}).job_id


def open_the_breaker(ctx: JobContext) -> CircuitBreaker:
    pool = ctx.service
    assert isinstance(pool, SessionPool)
    for _ in range(pool.breaker.connect_failures):
        pool.breaker.record_connect_failure(Permit())
    assert pool.circuit_state() == "open"
    return pool.breaker


def parking_context(context_factory: ContextFactory, renderer: RendererProcess, **overrides: Any) -> JobContext:
    return context_factory(renderer, breaker_cooldown=COOLDOWN, breaker_wake_jitter=JITTER, **overrides)


def test_a_job_the_open_breaker_turns_away_waits_without_spending_an_attempt(
        renderer_factory: RendererFactory, context_factory: ContextFactory, notifications: Notifications) -> None:
    renderer = renderer_factory()
    ctx = parking_context(context_factory, renderer)
    job_id = new_job(ctx)
    breaker = open_the_breaker(ctx)
    retry_after = breaker.state()["retry_after"]

    with pytest.raises(JobParked) as parked:
        run_job(ctx, job_id, notify=notifications)

    assert retry_after - 1 <= parked.value.delay <= retry_after + JITTER
    job = ctx.store.require(job_id)
    assert (job.status, job.attempts, job.retries, job.error) == (JobStatus.WAITING_FOR_SEMANTEST, 0, [], None)
    assert job.started_at is not None  # its retry deadline runs from this first pick-up
    events = ctx.store.events(job_id)
    assert [event.type for event in events] == ["queued", "waiting_for_semantest"]
    assert events[-1].status == "waiting_for_semantest"
    assert events[-1].data["retry_after"] == round(parked.value.delay, 3)
    assert notifications.events() == []  # nothing started, nothing completed
    assert renderer.stats()["connections"] == 0  # a parked job does not connect

    # The breaker closes (its probe succeeded elsewhere): the job runs through the usual states.
    breaker.reset()
    assert run_job(ctx, job_id, notify=notifications) is Outcome.SUCCEEDED
    job = ctx.store.require(job_id)
    assert (job.status, job.attempts) == (JobStatus.SUCCEEDED, 1)
    types = [event.type for event in ctx.store.events(job_id)]
    assert types[:5] == ["queued", "waiting_for_semantest", "started", "weaving", "generating"]
    assert types.count("completed") == 1


class RivalTakesTheProbe:
    """This worker's real pool; another process wins the half-open probe while this job weaves."""

    def __init__(self, pool: SessionPool, rival: CircuitBreaker) -> None:
        self.pool = pool
        self.rival = rival

    def generate(self, request: GenerationRequest, **kw: Any) -> GeneratedImage:
        assert self.rival.acquire().probe
        return self.pool.generate(request, **kw)

    def circuit_state(self) -> str:
        return self.pool.circuit_state()

    def terms(self) -> ServiceTerms:
        return self.pool.terms()


def test_turned_away_after_starting_gives_the_attempt_back(
        renderer_factory: RendererFactory, context_factory: ContextFactory) -> None:
    renderer = renderer_factory()
    pool_ctx = context_factory(renderer, breaker_cooldown=1.0, breaker_wake_jitter=0.0)
    breaker = open_the_breaker(pool_ctx)
    assert isinstance(pool_ctx.service, SessionPool)
    ctx = JobContext(settings=pool_ctx.settings, store=pool_ctx.store, images=pool_ctx.images,
                     prompts=pool_ctx.prompts, service=RivalTakesTheProbe(pool_ctx.service, breaker),
                     runner_id=pool_ctx.runner_id)
    job_id = new_job(ctx)
    wait_until(lambda: breaker.wait_time() == 0.0, DEADLINE, interval=0.02, what="the cool-down to pass (Redis clock)")

    with pytest.raises(JobParked) as parked:  # the pre-check let it start: the probe was free
        run_job(ctx, job_id)

    assert 0 < parked.value.delay <= breaker.recheck + 0.01  # the probe is out: look again soon
    job = ctx.store.require(job_id)
    assert (job.status, job.attempts) == (JobStatus.WAITING_FOR_SEMANTEST, 0)
    types = [event.type for event in ctx.store.events(job_id)]
    assert types[-4:] == ["started", "weaving", "generating", "waiting_for_semantest"]
    assert renderer.stats()["connections"] == 0


def test_a_job_whose_request_was_the_failed_probe_waits_like_the_others(
        renderer_factory: RendererFactory, context_factory: ContextFactory) -> None:
    renderer = renderer_factory("--fail-rate", "1", "--fail-code", "OVERLOADED")
    ctx = context_factory(renderer, breaker_cooldown=1.0, breaker_wake_jitter=0.0)
    breaker = open_the_breaker(ctx)
    job_id = new_job(ctx)
    wait_until(lambda: breaker.wait_time() == 0.0, DEADLINE, interval=0.02, what="the cool-down to pass (Redis clock)")

    with pytest.raises(JobParked) as parked:
        run_job(ctx, job_id)

    assert renderer.stats()["requests"] == 1  # the probe went out with this job's request
    state = breaker.state()
    assert (state["state"], state["opens"], state["probes"]) == ("open", 2, 1)
    assert 0.2 <= parked.value.delay <= breaker.cooldown
    job = ctx.store.require(job_id)
    assert (job.status, job.attempts, job.retries) == (JobStatus.WAITING_FOR_SEMANTEST, 0, [])
    last = ctx.store.events(job_id)[-1]
    assert last.type == "waiting_for_semantest" and "probe failed (OVERLOADED" in last.data["reason"]


def test_past_the_deadline_a_turned_away_job_fails_with_circuit_open(
        renderer_factory: RendererFactory, context_factory: ContextFactory, notifications: Notifications) -> None:
    ctx = parking_context(context_factory, renderer_factory(), job_retry_deadline=0.3)
    job_id = new_job(ctx)
    open_the_breaker(ctx)
    with pytest.raises(JobParked):
        run_job(ctx, job_id, notify=notifications)  # the first pick-up starts the deadline
    started_at = ctx.store.require(job_id).started_at
    wait_until(lambda: seconds_since_start(ctx.store.require(job_id)) >= 0.3, DEADLINE, interval=0.02, what="the deadline to pass")

    assert run_job(ctx, job_id, notify=notifications) is Outcome.FAILED  # woken past its deadline
    job = ctx.store.require(job_id)
    assert job.status is JobStatus.FAILED and job.error is not None and job.attempts == 0
    assert job.error["code"] == "circuit_open"
    assert job.error["message"].startswith("gave up after 0 attempts in ")
    assert "JOB_RETRY_DEADLINE is 0.3s" in job.error["message"]
    assert job.started_at == started_at and job.finished_at is not None
    assert notifications.completed()["status"] == "failed"


def test_a_parked_job_is_canceled_at_once(renderer_factory: RendererFactory,
                                          context_factory: ContextFactory) -> None:
    ctx = parking_context(context_factory, renderer_factory())
    job_id = new_job(ctx)
    open_the_breaker(ctx)
    with pytest.raises(JobParked):
        run_job(ctx, job_id)
    assert ctx.store.request_cancel(job_id).status is JobStatus.CANCELED
    assert run_job(ctx, job_id) is Outcome.SKIPPED


def test_a_named_overloaded_delay_is_honoured(renderer_factory: RendererFactory,
                                             context_factory: ContextFactory) -> None:
    ctx = context_factory(renderer_factory("--fail-rate", "1", "--fail-code", "OVERLOADED", "--retry-after", "7.5"),
                          job_retry_backoff_max=1.0)
    job_id = new_job(ctx)
    with pytest.raises(GenerationFailed) as raised:
        run_job(ctx, job_id)
    assert raised.value.code == "OVERLOADED" and raised.value.retry_after == 7.5

    delay = retry_later(ctx, job_id, raised.value)

    assert delay is not None and 7.5 <= delay <= 7.5 * 1.1  # not the backoff's 1 s at most
    job = ctx.store.require(job_id)
    assert job.status is JobStatus.QUEUED and job.retries[-1]["delay"] == round(delay, 3)
    assert job.retries[-1]["code"] == "OVERLOADED"


def test_the_budget_in_attempts_then_gives_up_with_the_last_error(
        renderer_factory: RendererFactory, context_factory: ContextFactory, notifications: Notifications) -> None:
    ctx = context_factory(renderer_factory("--fail-rate", "1", "--fail-code", "OVERLOADED"), job_max_retries=1)
    job_id = new_job(ctx)
    delays = []
    for _ in range(2):
        with pytest.raises(GenerationFailed) as raised:
            run_job(ctx, job_id)
        delays.append(retry_later(ctx, job_id, raised.value, notify=notifications))
    assert delays[0] is not None and delays[1] is None
    job = ctx.store.require(job_id)
    assert (job.status, job.attempts, len(job.retries)) == (JobStatus.FAILED, 2, 1)
    assert job.error == {"code": "OVERLOADED", "message": "gave up after 2 attempts: injected failure (OVERLOADED)"}
    assert notifications.completed()["status"] == "failed"


def test_the_budget_in_time_ends_retries_after_the_deadline_not_before(
        renderer_factory: RendererFactory, context_factory: ContextFactory) -> None:
    ctx = context_factory(renderer_factory("--fail-rate", "1", "--fail-code", "OVERLOADED"), job_max_retries=1000,
                          job_retry_deadline=1.0, **NEVER_BY_RATE)
    job_id = new_job(ctx)
    while True:
        with pytest.raises(GenerationFailed) as raised:
            run_job(ctx, job_id)
        if retry_later(ctx, job_id, raised.value) is None:
            break
    job = ctx.store.require(job_id)
    assert job.status is JobStatus.FAILED and job.error is not None and job.error["code"] == "OVERLOADED"
    assert "JOB_RETRY_DEADLINE is 1s" in job.error["message"]
    assert job.started_at is not None and job.finished_at is not None
    spent = datetime.fromisoformat(job.finished_at) - datetime.fromisoformat(job.started_at)
    assert spent.total_seconds() >= 1.0
