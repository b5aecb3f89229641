"""``run_job`` and ``give_up`` against a real Redis and the real local renderer, one test per outcome.

Each test checks what a user would see: the job record (status, attempts, error, result),
its events, the stored image, and what the webhook notifier was told.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from scene_weaver.errors import SemantestError
from scene_weaver.jobs import JobStore
from scene_weaver.models import JobStatus, Scene
from scene_weaver.pipeline import JobContext, Outcome, give_up, run_job
from scene_weaver.renderer.drawing import render_png, resolve_seed
from tests.support.semantest import RendererFactory
from tests.support.waiting import wait_until

from .conftest import RUNNER, ContextFactory, Notifications

LINE = "Does the lighthouse dream?"
SCENE = Scene(speaker="Iris", dialogue=[LINE])
WIDTH, HEIGHT = 128, 96
DEADLINE = 30.0


def new_job(ctx: JobContext) -> str:
    return ctx.store.create("demo", SCENE, options={"width": WIDTH, "height": HEIGHT}).job_id


def event_types(store: JobStore, job_id: str) -> list[str]:
    return [event.type for event in store.events(job_id)]


def wait_for_event(store: JobStore, job_id: str, kind: str) -> None:
    """Block on the job's event stream until an event of ``kind`` arrives (or the deadline passes)."""
    deadline = time.monotonic() + DEADLINE
    after = "0"
    while time.monotonic() < deadline:
        for event in store.wait_events(job_id, after, block_ms=250):
            if event.type == kind:
                return
            after = event.id
    raise AssertionError(f"no {kind} event for job {job_id}: {event_types(store, job_id)}")


def test_a_job_runs_to_a_stored_image(renderer_factory: RendererFactory, context_factory: ContextFactory,
                                      notifications: Notifications) -> None:
    ctx = context_factory(renderer_factory(latency=0.5))
    job_id = new_job(ctx)

    assert run_job(ctx, job_id, notify=notifications) is Outcome.SUCCEEDED

    job = ctx.store.require(job_id)
    assert (job.status, job.attempts, job.progress, job.error) == (JobStatus.SUCCEEDED, 1, 100, None)
    assert job.result is not None and job.prompt is not None
    assert (job.result["width"], job.result["height"], job.result["mime_type"]) == (WIDTH, HEIGHT, "image/png")
    # The stored picture is the one the renderer draws for the woven prompt and the spoken line.
    prompt = job.prompt["text"]
    assert ctx.images.get(job.result["sha256"], "image/png") == render_png(
        prompt, WIDTH, HEIGHT, resolve_seed(prompt, -1), LINE)
    types = event_types(ctx.store, job_id)
    assert types[:4] == ["queued", "started", "weaving", "generating"] and types[-1] == "completed"
    assert "progress" in types
    assert notifications.events()[0] == "started" and notifications.events()[-1] == "completed"
    assert notifications.completed()["status"] == "succeeded"
    assert notifications.completed()["result"] == job.result
    # The run lock was released, and a redelivered task leaves the finished job alone.
    assert ctx.store.acquire_run_lock(job_id, "another-runner", 5)


def test_a_missing_or_finished_job_is_skipped(renderer_factory: RendererFactory, context_factory: ContextFactory,
                                             notifications: Notifications) -> None:
    renderer = renderer_factory()
    ctx = context_factory(renderer)
    assert run_job(ctx, "no-such-job", notify=notifications) is Outcome.SKIPPED
    assert ctx.store.get("no-such-job") is None

    job_id = new_job(ctx)
    ctx.store.request_cancel(job_id)  # a queued job ends at once
    before = ctx.store.events(job_id)
    assert run_job(ctx, job_id, notify=notifications) is Outcome.SKIPPED

    job = ctx.store.require(job_id)
    assert (job.status, job.attempts) == (JobStatus.CANCELED, 0)
    assert ctx.store.events(job_id) == before
    assert notifications.seen == [] and renderer.stats()["requests"] == 0


def test_a_job_another_runner_holds_is_left_busy_then_runs(
        renderer_factory: RendererFactory, context_factory: ContextFactory, notifications: Notifications) -> None:
    renderer = renderer_factory()
    ctx = context_factory(renderer)
    job_id = new_job(ctx)
    assert ctx.store.acquire_run_lock(job_id, "another-runner", 60)

    assert run_job(ctx, job_id, notify=notifications) is Outcome.BUSY
    job = ctx.store.require(job_id)
    assert (job.status, job.attempts) == (JobStatus.QUEUED, 0)
    assert event_types(ctx.store, job_id) == ["queued"]
    assert notifications.seen == [] and renderer.stats()["requests"] == 0

    # This runner's own lock release must not free another runner's lock.
    ctx.store.release_run_lock(job_id, RUNNER)
    assert run_job(ctx, job_id) is Outcome.BUSY
    ctx.store.release_run_lock(job_id, "another-runner")
    assert run_job(ctx, job_id, notify=notifications) is Outcome.SUCCEEDED
    assert ctx.store.require(job_id).attempts == 1


def test_a_cancel_while_generating_stops_the_render(
        renderer_factory: RendererFactory, context_factory: ContextFactory, notifications: Notifications) -> None:
    renderer = renderer_factory(latency=30.0)
    ctx = context_factory(renderer)
    job_id = new_job(ctx)

    with ThreadPoolExecutor(1) as pool:
        running = pool.submit(run_job, ctx, job_id, notifications)
        wait_for_event(ctx.store, job_id, "progress")
        ctx.store.request_cancel(job_id)
        assert running.result(timeout=DEADLINE) is Outcome.CANCELED

    job = ctx.store.require(job_id)
    assert (job.status, job.attempts, job.result) == (JobStatus.CANCELED, 1, None)
    assert event_types(ctx.store, job_id)[-1] == "canceled"
    assert notifications.completed()["status"] == "canceled"
    # The renderer was told to stop drawing.
    wait_until(lambda: renderer.stats()["canceled"] == 1, DEADLINE, what="the renderer to see the cancel")
    assert renderer.stats()["generated"] == 0


def test_a_job_canceled_while_its_runner_was_gone_ends_canceled_unrendered(
        renderer_factory: RendererFactory, context_factory: ContextFactory, notifications: Notifications) -> None:
    renderer = renderer_factory()
    ctx = context_factory(renderer)
    job_id = new_job(ctx)
    ctx.store.mark_started(job_id)  # a first delivery started it, then its worker died
    ctx.store.request_cancel(job_id)  # a started job is only marked
    assert ctx.store.require(job_id).status is JobStatus.STARTED

    assert run_job(ctx, job_id, notify=notifications) is Outcome.CANCELED
    job = ctx.store.require(job_id)
    assert (job.status, job.attempts) == (JobStatus.CANCELED, 1)
    assert event_types(ctx.store, job_id) == ["queued", "started", "canceled"]
    assert notifications.events() == ["completed"] and notifications.completed()["status"] == "canceled"
    assert renderer.stats()["requests"] == 0


def test_a_refused_scene_fails_the_job_without_retry(
        renderer_factory: RendererFactory, context_factory: ContextFactory, notifications: Notifications) -> None:
    ctx = context_factory(renderer_factory("--fail-rate", "1", "--fail-code", "CONTENT_REJECTED"))
    job_id = new_job(ctx)

    assert run_job(ctx, job_id, notify=notifications) is Outcome.FAILED
    job = ctx.store.require(job_id)
    assert (job.status, job.attempts, job.result) == (JobStatus.FAILED, 1, None)
    assert job.error is not None and job.error["code"] == "CONTENT_REJECTED"
    assert event_types(ctx.store, job_id)[-1] == "failed"
    assert notifications.completed() == {"status": "failed", "result": None, "error": job.error}
    assert ctx.service.circuit_state() == "closed"  # Semantest answered: it is up


def test_a_retryable_failure_goes_back_to_the_task_then_a_later_run_succeeds(
        renderer_factory: RendererFactory, context_factory: ContextFactory, notifications: Notifications) -> None:
    overloaded = renderer_factory("--fail-rate", "1", "--fail-code", "OVERLOADED")
    ctx = context_factory(overloaded)
    job_id = new_job(ctx)

    with pytest.raises(SemantestError) as raised:
        run_job(ctx, job_id, notify=notifications)
    assert raised.value.retryable and raised.value.code == "OVERLOADED"
    job = ctx.store.require(job_id)
    assert (job.status, job.attempts, job.error, job.result) == (JobStatus.GENERATING, 1, None, None)
    assert "completed" not in notifications.events()

    # Semantest comes back on the same address; the redelivered task runs the job again.
    overloaded.stop()
    renderer_factory(port=overloaded.port)
    assert run_job(ctx, job_id, notify=notifications) is Outcome.SUCCEEDED
    job = ctx.store.require(job_id)
    assert (job.status, job.attempts) == (JobStatus.SUCCEEDED, 2)
    assert event_types(ctx.store, job_id).count("started") == 2
    assert notifications.completed()["status"] == "succeeded"


def test_give_up_fails_the_job_with_the_last_error(
        renderer_factory: RendererFactory, context_factory: ContextFactory, notifications: Notifications) -> None:
    ctx = context_factory(renderer_factory("--fail-rate", "1", "--fail-code", "OVERLOADED"))
    job_id = new_job(ctx)
    for _ in range(2):
        with pytest.raises(SemantestError) as raised:
            run_job(ctx, job_id, notify=notifications)

    give_up(ctx, job_id, raised.value, 2, notify=notifications)
    job = ctx.store.require(job_id)
    assert (job.status, job.attempts) == (JobStatus.FAILED, 2)
    assert job.error is not None and job.error["code"] == "OVERLOADED"
    assert job.error["message"].startswith("gave up after 2 attempts: ")
    assert event_types(ctx.store, job_id)[-1] == "failed"
    assert notifications.completed() == {"status": "failed", "result": None, "error": job.error}


def test_give_up_names_the_open_breaker(
        renderer_factory: RendererFactory, context_factory: ContextFactory, notifications: Notifications) -> None:
    ctx = context_factory(renderer_factory("--fail-rate", "1", "--fail-code", "OVERLOADED"),
                          breaker_min_calls=1, breaker_cooldown=60.0)
    job_id = new_job(ctx)
    with pytest.raises(SemantestError) as raised:
        run_job(ctx, job_id)
    assert ctx.service.circuit_state() == "open"

    give_up(ctx, job_id, raised.value, 1, notify=notifications)
    job = ctx.store.require(job_id)
    assert job.status is JobStatus.FAILED and job.error is not None
    assert job.error["code"] == "circuit_open"
    assert "circuit breaker open" in job.error["message"] and "last error OVERLOADED" in job.error["message"]
    assert notifications.completed()["error"] == job.error
